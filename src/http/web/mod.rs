//! The web pages: server-rendered HTML from compile-time checked templates
//! (askama, `templates/web/`), with embedded assets. Every action calls the same
//! `app` function as the JSON API; a handler here parses a form, calls it, and
//! renders or redirects.
//!
//! Pages are grouped by who uses them: [`public`] (search, doctor profiles, sign-in),
//! [`patient`] (visits and booking), [`doctor`] (the day, requests, schedule),
//! [`desk`] (the front desk) and [`admin`]; [`appointments`] holds the pages and
//! buttons of one appointment that every role shares.

pub mod account;
pub mod admin;
pub mod appointments;
pub mod assets;
pub mod charts;
pub mod chat;
pub mod desk;
pub mod doctor;
pub mod feedback;
pub mod files;
pub mod health;
pub mod oidc;
pub mod patient;
pub mod payments;
pub mod photos;
pub mod prescriptions;
pub mod public;
pub mod records;
pub mod session;
pub mod stats;
pub mod verify;
pub mod view;
pub mod visit_record;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;
use axum::extract::FromRequestParts;
use session::{
    ANON_CSRF_COOKIE, AnonCsrf, Chrome, ErrorShown, FLASH_COOKIE, WebError, cookie, set_cookie,
};

/// Pages allow scripts and styles from this server only: no inline script can run,
/// whatever a page happens to contain.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

pub fn router(app: &App) -> Router<App> {
    Router::new()
        .merge(public::routes())
        .merge(oidc::routes())
        .merge(account::routes())
        .merge(appointments::routes())
        .merge(files::routes())
        .merge(chat::routes())
        .merge(visit_record::routes())
        .merge(prescriptions::routes())
        .merge(health::routes())
        .merge(feedback::routes())
        .merge(patient::routes())
        .merge(photos::routes())
        .merge(records::routes())
        .merge(doctor::routes())
        .merge(desk::routes())
        .merge(admin::routes())
        .merge(payments::routes())
        .merge(stats::routes())
        .merge(verify::routes())
        .layer(middleware::from_fn_with_state(app.clone(), page_cookies))
        .route("/assets/{file}", get(assets::find_asset))
}

/// The 404 page for any address that is neither a page nor an API route, drawn
/// with the visitor's theme and header.
pub async fn not_found(app: &App, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let page = WebError::NotFound.into_response();
    match page.extensions().get::<ErrorShown>() {
        Some(shown) => match Chrome::from_request_parts(&mut parts, app).await {
            Ok(chrome) => shown.render(chrome),
            Err(_) => page,
        },
        None => page,
    }
}

/// Gives a visitor without one the anonymous CSRF cookie, drops the flash message
/// once a page has shown it, and sets the pages' content policy.
async fn page_cookies(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let existing = cookie(request.headers(), ANON_CSRF_COOKIE)
        .filter(|v| v.len() >= 32 && v.len() <= 64)
        .map(str::to_owned);
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(crate::app::random_token);
    request.extensions_mut().insert(AnonCsrf(token.clone()));
    let had_flash = cookie(request.headers(), FLASH_COOKIE).is_some();
    let (uri, headers) = (request.uri().clone(), request.headers().clone());

    let mut response = next.run(request).await;
    if let Some(shown) = response.extensions().get::<ErrorShown>().cloned() {
        let mut parts = Request::builder()
            .uri(uri)
            .body(())
            .expect("a request made of a valid one's parts")
            .into_parts()
            .0;
        parts.headers = headers;
        parts.extensions.insert(AnonCsrf(token.clone()));
        if let Ok(chrome) = Chrome::from_request_parts(&mut parts, &app).await {
            let cookies: Vec<_> = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .cloned()
                .collect();
            response = shown.render(chrome);
            for cookie in cookies {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
        }
    }
    let redirected = response.status().is_redirection();
    let headers = response.headers_mut();
    if fresh {
        headers.append(
            header::SET_COOKIE,
            set_cookie(&app, ANON_CSRF_COOKIE, &token, 60 * 60 * 24 * 30),
        );
    }
    if had_flash && !redirected {
        headers.append(header::SET_COOKIE, set_cookie(&app, FLASH_COOKIE, "", 0));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}
