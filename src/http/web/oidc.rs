//! Sign-in with the OpenID Connect provider ("Sign in with Google"): the start,
//! the provider's callback, and the two steps that may follow it (the password
//! that links an existing account, the two-factor code). The rules are in
//! `app::oidc`; these handlers move the browser and its cookies.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::public::signed_in;
use super::session::{
    Chrome, CsrfForm, Flash, WebError, WebResult, cookie, home_of, local_path, render, see_other,
    set_cookie,
};
use crate::app::{
    App, AppError, OIDC_STEP_MINUTES, OidcCallback, OidcLinkInput, OidcOutcome, OidcRefusal,
};
use crate::http::extract::ClientAddr;
use crate::store::OidcPendingKind;

pub const START_PATH: &str = "/auth/oidc/start";
const LINK_PATH: &str = "/auth/oidc/link";
const CODE_PATH: &str = "/auth/oidc/code";
/// Binds a sign-in to the browser that started it (the callback must bring it).
pub const BROWSER_COOKIE: &str = "carebook_oidc";
/// Binds the password or code step after the provider to the same browser.
pub const STEP_COOKIE: &str = "carebook_oidc_step";

pub fn routes() -> Router<App> {
    Router::new()
        .route(START_PATH, get(start))
        .route("/auth/oidc/callback", get(callback))
        .route(LINK_PATH, get(find_link).post(create_link))
        .route(CODE_PATH, get(find_code).post(create_code))
}

#[derive(Deserialize, Default)]
struct StartQuery {
    next: Option<String>,
}

/// `GET /auth/oidc/start`: records the sign-in and sends the browser to the
/// provider, with a cookie that only this browser will bring back.
async fn start(State(app): State<App>, Query(query): Query<StartQuery>) -> WebResult {
    let next = Some(local_path(query.next.as_deref(), "")).filter(|n| !n.is_empty());
    match app.start_oidc_sign_in(next).await {
        Ok(started) => {
            let mut response = see_other(&app, &started.authorization_url, None);
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &app,
                    BROWSER_COOKIE,
                    &started.browser_secret,
                    OIDC_STEP_MINUTES * 60,
                ),
            );
            Ok(response)
        }
        Err(AppError::OidcRefused(OidcRefusal::NotConfigured)) => Err(WebError::NotFound),
        Err(AppError::OidcRefused(refusal)) => Ok(back_to_login(&app, refusal.message())),
        Err(other) => Err(other.into()),
    }
}

/// The provider adds parameters of its own (`scope`, `authuser`, ...): only these
/// are read.
#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/oidc/callback`: the provider sent the browser back.
async fn callback(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> WebResult {
    let outcome = app
        .finish_oidc_sign_in(OidcCallback {
            state: query.state,
            code: query.code,
            error: query.error,
            browser_secret: cookie(&headers, BROWSER_COOKIE).map(str::to_owned),
            client,
        })
        .await;
    let mut response = answer(&app, outcome)?;
    // The sign-in is used up whatever happened.
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&app, BROWSER_COOKIE, "", 0));
    Ok(response)
}

/// Where an outcome leads: signed in, to the password or code step, or back to
/// the login page with what went wrong.
fn answer(app: &App, outcome: Result<OidcOutcome, AppError>) -> WebResult {
    match outcome {
        Ok(OidcOutcome::SignedIn { login, next }) => {
            let to = local_path(next.as_deref(), home_of(login.user.role));
            let mut response = signed_in(
                app,
                &to,
                &login.token,
                Flash::success(format!("Welcome, {}.", login.user.name)),
            );
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(app, STEP_COOKIE, "", 0));
            Ok(response)
        }
        Ok(OidcOutcome::NeedsPassword { secret }) => Ok(to_step(app, LINK_PATH, &secret)),
        Ok(OidcOutcome::NeedsCode { secret }) => Ok(to_step(app, CODE_PATH, &secret)),
        Err(AppError::OidcRefused(refusal)) => Ok(back_to_login(app, refusal.message())),
        Err(AppError::AccountInactive(detail)) => Ok(back_to_login(
            app,
            format!("you cannot sign in yet: {detail}"),
        )),
        Err(AppError::TooManyAttempts { .. }) => Ok(back_to_login(
            app,
            "too many attempts; please wait a few minutes and try again".into(),
        )),
        Err(other) => Err(other.into()),
    }
}

fn to_step(app: &App, path: &str, secret: &str) -> Response {
    let mut response = see_other(app, path, None);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, STEP_COOKIE, secret, OIDC_STEP_MINUTES * 60),
    );
    response
}

/// To the login page, saying why; the session cookie is left as it was.
fn back_to_login(app: &App, message: String) -> Response {
    let mut text = message;
    if let Some(first) = text.get(..1) {
        text = format!("{}{}.", first.to_uppercase(), &text[1..]);
    }
    let mut response = see_other(app, "/login", Some(Flash::error(text)));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(app, STEP_COOKIE, "", 0));
    response
}

#[derive(askama::Template)]
#[template(path = "web/account/oidc_step.html")]
struct StepPage {
    chrome: Chrome,
    heading: String,
    provider: String,
    /// The password step (else the code step).
    link: bool,
    ask_otp: bool,
    action: &'static str,
    error: Option<String>,
}

impl StepPage {
    fn new(app: &App, chrome: Chrome, kind: OidcPendingKind, ask_otp: bool) -> StepPage {
        let provider = app.oidc_provider_name().unwrap_or_default();
        let link = kind == OidcPendingKind::Link;
        StepPage {
            chrome,
            heading: if link {
                format!("Connect {provider} to your account")
            } else {
                "Enter your authentication code".to_owned()
            },
            provider,
            link,
            ask_otp,
            action: if link { LINK_PATH } else { CODE_PATH },
            error: None,
        }
    }
}

async fn find_step(
    app: &App,
    chrome: Chrome,
    headers: &HeaderMap,
    kind: OidcPendingKind,
) -> WebResult {
    let pending = app
        .find_oidc_pending(cookie(headers, STEP_COOKIE))
        .await?
        .filter(|p| p.kind == kind);
    if pending.is_none() {
        return Ok(back_to_login(app, OidcRefusal::StepExpired.message()));
    }
    // The code field shows on the password page only once the password was right
    // (as on the login page), so the page tells nobody whether 2FA is on.
    let ask_otp = kind == OidcPendingKind::SecondFactor;
    Ok(render(&StepPage::new(app, chrome, kind, ask_otp)))
}

/// `GET /auth/oidc/link`: the password step.
async fn find_link(State(app): State<App>, chrome: Chrome, headers: HeaderMap) -> WebResult {
    find_step(&app, chrome, &headers, OidcPendingKind::Link).await
}

/// `GET /auth/oidc/code`: the two-factor step.
async fn find_code(State(app): State<App>, chrome: Chrome, headers: HeaderMap) -> WebResult {
    find_step(&app, chrome, &headers, OidcPendingKind::SecondFactor).await
}

#[derive(Deserialize, Default)]
struct StepForm {
    #[serde(default)]
    password: String,
    otp: Option<String>,
}

/// `POST /auth/oidc/link`: the password (and code) that link the identity.
async fn create_link(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    CsrfForm { chrome, form }: CsrfForm<StepForm>,
) -> WebResult {
    let outcome = app
        .link_oidc_identity(OidcLinkInput {
            secret: cookie(&headers, STEP_COOKIE).map(str::to_owned),
            password: form.password,
            otp: form.otp,
            client,
        })
        .await;
    step_answer(&app, chrome, OidcPendingKind::Link, outcome)
}

/// `POST /auth/oidc/code`: the two-factor code that finishes the sign-in.
async fn create_code(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    CsrfForm { chrome, form }: CsrfForm<StepForm>,
) -> WebResult {
    let outcome = app
        .finish_oidc_second_factor(
            cookie(&headers, STEP_COOKIE).map(str::to_owned),
            form.otp,
            client,
        )
        .await;
    step_answer(&app, chrome, OidcPendingKind::SecondFactor, outcome)
}

/// A step's answer: signed in, or the same page again with what was wrong.
fn step_answer(
    app: &App,
    chrome: Chrome,
    kind: OidcPendingKind,
    outcome: Result<OidcOutcome, AppError>,
) -> WebResult {
    let (status, message, ask_otp) = match outcome {
        Err(AppError::InvalidCredentials) => (
            StatusCode::UNAUTHORIZED,
            "That password is not right. Nothing was connected; try again.",
            false,
        ),
        Err(AppError::OtpRequired) => (
            StatusCode::UNAUTHORIZED,
            "Your account has two-factor authentication: enter your password again with the 6-digit code from your authenticator app (or a recovery code).",
            true,
        ),
        Err(AppError::InvalidOtp) => (
            StatusCode::UNAUTHORIZED,
            "That code is not valid (it may have been used already). Try again with the current code.",
            true,
        ),
        Err(AppError::TooManyAttempts { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts. Please wait a few minutes and try again.",
            kind == OidcPendingKind::SecondFactor,
        ),
        other => return answer(app, other),
    };
    let mut page = StepPage::new(
        app,
        chrome,
        kind,
        ask_otp || kind == OidcPendingKind::SecondFactor,
    );
    page.error = Some(message.to_owned());
    let mut response = render(&page);
    *response.status_mut() = status;
    Ok(response)
}
