//! Account security pages: "forgot password" and the reset link's page, the email
//! verification link's page, and the two-factor settings. Each calls the same `app`
//! function as the JSON API (see `docs/SECURITY.md`).

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{
    Chrome, CsrfForm, Flash, TWO_FACTOR_PAGE, WebResult, home_of, render, see_other, unprocessable,
};
use super::view::FieldErrors;
use crate::app::{App, AppError, SecurityStatus, TwoFactorSetup};
use crate::http::extract::ClientAddr;

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/password-reset",
            get(find_password_reset).post(create_password_reset),
        )
        .route("/password-reset/confirm", post(confirm_password_reset))
        .route(
            "/verify-email",
            get(find_verification).post(confirm_verification),
        )
        .route("/profile/email-verification", post(resend_verification))
        .route(TWO_FACTOR_PAGE, get(find_two_factor))
        .route("/profile/two-factor/setup", post(create_two_factor))
        .route("/profile/two-factor/confirm", post(confirm_two_factor))
        .route("/profile/two-factor/disable", post(delete_two_factor))
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/account/password_reset.html")]
struct ResetPage {
    chrome: Chrome,
    /// With a token: the form for the new password; without: the form that asks
    /// for the link.
    token: Option<String>,
    email: String,
    errors: FieldErrors,
}

/// `GET /password-reset`: asks for the address; with `?token=` (the emailed link),
/// asks for the new password.
async fn find_password_reset(chrome: Chrome, Query(query): Query<TokenQuery>) -> Response {
    render(&ResetPage {
        chrome,
        token: query.token.filter(|t| !t.is_empty()),
        email: String::new(),
        errors: FieldErrors::new(),
    })
}

#[derive(Deserialize, Default)]
struct ResetRequestForm {
    #[serde(default)]
    email: String,
}

/// `POST /password-reset`: the same answer whether or not the address is known.
async fn create_password_reset(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    CsrfForm { chrome, form }: CsrfForm<ResetRequestForm>,
) -> WebResult {
    match app.request_password_reset(&form.email, &client).await {
        Ok(()) => Ok(see_other(
            &app,
            "/login",
            Some(Flash::info(
                "If an account uses this address, we have emailed it a link to choose a new password. The link works once, for one hour.",
            )),
        )),
        Err(AppError::Invalid(errors)) => Ok(unprocessable(render(&ResetPage {
            chrome,
            token: None,
            email: form.email,
            errors: errors.into(),
        }))),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize, Default)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /password-reset/confirm`: the new password; every session ends, so the way
/// on is the sign-in page.
async fn confirm_password_reset(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<ResetForm>,
) -> WebResult {
    match app
        .confirm_password_reset(&form.token, &form.new_password)
        .await
    {
        Ok(()) => Ok(see_other(
            &app,
            "/login",
            Some(Flash::success(
                "Your password is changed and you were signed out everywhere. Sign in with the new password.",
            )),
        )),
        Err(AppError::Invalid(errors)) => Ok(unprocessable(render(&ResetPage {
            chrome,
            token: Some(form.token),
            email: String::new(),
            errors: errors.into(),
        }))),
        Err(other) => Err(other.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "web/account/verify_email.html")]
struct VerifyPage {
    chrome: Chrome,
    token: String,
    error: Option<String>,
}

/// `GET /verify-email?token=`: a button, not the confirmation itself, so that mail
/// scanners that open links do not use the token up.
async fn find_verification(chrome: Chrome, Query(query): Query<TokenQuery>) -> Response {
    render(&VerifyPage {
        chrome,
        token: query.token.unwrap_or_default(),
        error: None,
    })
}

#[derive(Deserialize, Default)]
struct VerifyForm {
    #[serde(default)]
    token: String,
}

/// `POST /verify-email`.
async fn confirm_verification(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<VerifyForm>,
) -> WebResult {
    match app.verify_email(&form.token).await {
        Ok(()) => {
            let to = chrome.user.as_ref().map_or("/login", |u| home_of(u.actor.role));
            Ok(see_other(
                &app,
                to,
                Some(Flash::success("Thank you: your email address is confirmed.")),
            ))
        }
        Err(AppError::Invalid(_)) => Ok(unprocessable(render(&VerifyPage {
            chrome,
            token: form.token,
            error: Some(
                "This link is not valid: it may have expired or been used already. Sign in and ask for a new one on your profile page."
                    .into(),
            ),
        }))),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct EmptyForm {}

/// `POST /profile/email-verification`: a new link.
async fn resend_verification(
    State(app): State<App>,
    CsrfForm { chrome, .. }: CsrfForm<EmptyForm>,
) -> WebResult {
    let user = chrome.require()?;
    app.resend_email_verification(user).await?;
    Ok(see_other(
        &app,
        "/profile",
        Some(Flash::info(
            "We have emailed you a new link; the one before no longer works.",
        )),
    ))
}

#[derive(askama::Template)]
#[template(path = "web/account/two_factor.html")]
struct TwoFactorPage {
    chrome: Chrome,
    status: SecurityStatus,
    /// A setup waiting for its first code.
    pending: Option<TwoFactorSetup>,
    /// Just turned on: the recovery codes, shown this once.
    recovery_codes: Vec<String>,
    errors: FieldErrors,
}

impl TwoFactorPage {
    async fn load(app: &App, chrome: &Chrome) -> WebResult<TwoFactorPage> {
        let user = chrome.require()?;
        Ok(TwoFactorPage {
            chrome: chrome.clone(),
            status: app.security_status(user).await?,
            pending: app.pending_two_factor(user).await?,
            recovery_codes: Vec::new(),
            errors: FieldErrors::new(),
        })
    }
}

/// `GET /profile/two-factor`.
async fn find_two_factor(State(app): State<App>, chrome: Chrome) -> WebResult {
    Ok(render(&TwoFactorPage::load(&app, &chrome).await?))
}

/// `POST /profile/two-factor/setup`: a new secret, shown on the page until confirmed.
async fn create_two_factor(
    State(app): State<App>,
    CsrfForm { chrome, .. }: CsrfForm<EmptyForm>,
) -> WebResult {
    let user = chrome.require()?;
    app.setup_two_factor(user).await?;
    Ok(see_other(&app, TWO_FACTOR_PAGE, None))
}

#[derive(Deserialize, Default)]
struct OtpForm {
    #[serde(default)]
    otp: String,
    #[serde(default)]
    password: String,
}

/// `POST /profile/two-factor/confirm`: on, and the recovery codes shown once (this
/// page is the answer itself, not a redirect, so they are never stored to show).
async fn confirm_two_factor(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<OtpForm>,
) -> WebResult {
    let user = chrome.require()?;
    match app.confirm_two_factor(user, &form.otp).await {
        Ok(codes) => {
            let mut page = TwoFactorPage::load(&app, &chrome).await?;
            page.status.two_factor_enabled = true;
            page.chrome.flash = Some(Flash::success(
                "Two-factor authentication is on. Keep your recovery codes somewhere safe.",
            ));
            page.recovery_codes = codes;
            let mut response = render(&page);
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(AppError::Invalid(errors)) => {
            let mut page = TwoFactorPage::load(&app, &chrome).await?;
            page.errors = errors.into();
            Ok(unprocessable(render(&page)))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /profile/two-factor/disable`: needs the password and a current code.
async fn delete_two_factor(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<OtpForm>,
) -> WebResult {
    let user = chrome.require()?;
    match app
        .disable_two_factor(user, &form.password, &form.otp)
        .await
    {
        Ok(()) => Ok(see_other(
            &app,
            TWO_FACTOR_PAGE,
            Some(Flash::info("Two-factor authentication is off.")),
        )),
        Err(AppError::Invalid(errors)) => {
            let mut page = TwoFactorPage::load(&app, &chrome).await?;
            page.errors = errors.into();
            Ok(unprocessable(render(&page)))
        }
        Err(other) => Err(other.into()),
    }
}
