//! What every page shares: who is signed in (by the session cookie), the CSRF token
//! its forms carry, the flash message left by the previous redirect, the theme, and
//! the unread-notification badge. Also the form extractor that checks the token,
//! and the way a refusal becomes a page.

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use serde::de::DeserializeOwned;

use super::assets;
use super::view::FieldErrors;
use crate::app::{App, AppError, Authenticated};
use crate::http::extract::{BodyError, SESSION_COOKIE, read_body};
use crate::store::Role;

pub const FLASH_COOKIE: &str = "carebook_flash";
pub const THEME_COOKIE: &str = "carebook_theme";
/// Before sign-in, forms carry this cookie's value (double submit): a page of
/// another site cannot read it, so it cannot forge the login or register form.
pub const ANON_CSRF_COOKIE: &str = "carebook_csrf";
pub const CSRF_FIELD: &str = "_csrf";
/// The page where signed-in users manage two-factor authentication.
pub const TWO_FACTOR_PAGE: &str = "/profile/two-factor";

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for our cookies: never readable by another site's requests (Lax),
/// never by scripts (HttpOnly) unless the theme, Secure when served over TLS.
pub fn set_cookie(app: &App, name: &str, value: &str, max_age_seconds: i64) -> HeaderValue {
    let secure = if app.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let http_only = if name == THEME_COOKIE {
        ""
    } else {
        "; HttpOnly"
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_seconds}; SameSite=Lax{http_only}{secure}"
    ))
    .expect("cookie values are url-safe")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
    Info,
}

/// A one-line message shown on the page after a redirect.
#[derive(Debug, Clone)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

impl Flash {
    pub fn success(message: impl Into<String>) -> Flash {
        Flash {
            kind: FlashKind::Success,
            message: message.into(),
        }
    }

    pub fn error(message: impl Into<String>) -> Flash {
        Flash {
            kind: FlashKind::Error,
            message: message.into(),
        }
    }

    pub fn info(message: impl Into<String>) -> Flash {
        Flash {
            kind: FlashKind::Info,
            message: message.into(),
        }
    }

    pub fn class(&self) -> &'static str {
        match self.kind {
            FlashKind::Success => "flash-success",
            FlashKind::Error => "flash-error",
            FlashKind::Info => "flash-info",
        }
    }

    /// `status` for good news, `alert` for errors: screen readers announce both.
    pub fn role(&self) -> &'static str {
        match self.kind {
            FlashKind::Error => "alert",
            _ => "status",
        }
    }

    fn encode(&self) -> String {
        let kind = match self.kind {
            FlashKind::Success => 's',
            FlashKind::Error => 'e',
            FlashKind::Info => 'i',
        };
        let message: String = self.message.chars().take(400).collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}{message}"))
    }

    fn decode(value: &str) -> Option<Flash> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut chars = text.chars();
        let kind = match chars.next()? {
            's' => FlashKind::Success,
            'e' => FlashKind::Error,
            'i' => FlashKind::Info,
            _ => return None,
        };
        Some(Flash {
            kind,
            message: chars.collect(),
        })
    }
}

/// A link in the top navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
    /// Carries the unread-messages badge.
    pub messages: bool,
}

/// What the layout of every page needs.
#[derive(Clone)]
pub struct Chrome {
    pub clinic_name: String,
    pub user: Option<Authenticated>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// `light`, `dark` or `system`.
    pub theme: String,
    pub unread: u64,
    /// Unread chat messages over all conversations (patients and doctors).
    pub unread_messages: u64,
    /// The path and query of this page, for "back here" links and `next=`.
    pub here: String,
    pub nav: Vec<NavLink>,
    pub css_url: String,
    pub js_url: String,
    pub icon_url: String,
}

impl Chrome {
    /// The signed-in user, or a redirect to the login page that comes back here.
    /// Staff who must turn on two-factor authentication first are sent to its page
    /// from every other one.
    pub fn require(&self) -> Result<&Authenticated, WebError> {
        let user = self.user.as_ref().ok_or_else(|| WebError::Login {
            next: self.here.clone(),
        })?;
        if user.two_factor_pending && !self.here.starts_with(TWO_FACTOR_PAGE) {
            return Err(WebError::TwoFactorSetup);
        }
        Ok(user)
    }

    /// The signed-in user if they hold one of `roles`; others get the "not allowed" page.
    pub fn require_role(&self, roles: &[Role]) -> Result<&Authenticated, WebError> {
        let user = self.require()?;
        if roles.contains(&user.actor.role) {
            Ok(user)
        } else {
            Err(WebError::Forbidden)
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.user.as_ref().map(|u| u.actor.role)
    }

    pub fn user_name(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.user.name.as_str())
    }

    pub fn signed_in(&self) -> bool {
        self.user.is_some()
    }

    pub fn next_theme(&self) -> &'static str {
        match self.theme.as_str() {
            "dark" => "light",
            "light" => "system",
            _ => "dark",
        }
    }

    /// A chrome for pages rendered without a request at hand (error pages).
    pub fn anonymous(clinic_name: &str) -> Chrome {
        Chrome {
            clinic_name: clinic_name.to_owned(),
            user: None,
            csrf: String::new(),
            flash: None,
            theme: "system".into(),
            unread: 0,
            unread_messages: 0,
            here: "/".into(),
            nav: nav_for(None, "/"),
            css_url: assets::url("app.css"),
            js_url: assets::url("app.js"),
            icon_url: assets::url("icon.svg"),
        }
    }
}

/// Where each role lands after signing in.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Patient => "/visits",
        Role::Doctor => "/doctor/today",
        Role::Receptionist => "/desk",
        Role::Admin => "/admin/users",
    }
}

fn nav_for(role: Option<Role>, path: &str) -> Vec<NavLink> {
    let links: &[(&'static str, &'static str)] = match role {
        None => &[("/", "Find a doctor")],
        Some(Role::Patient) => &[
            ("/", "Find a doctor"),
            ("/visits", "My visits"),
            ("/records", "My records"),
            ("/messages", "Messages"),
            ("/prescriptions", "Prescriptions"),
            ("/profile", "Profile"),
        ],
        Some(Role::Doctor) => &[
            ("/doctor/today", "Today"),
            ("/doctor/requests", "Requests"),
            ("/doctor/week", "Week"),
            ("/doctor/schedule", "Schedule"),
            ("/messages", "Messages"),
            ("/doctor/profile", "Profile"),
        ],
        Some(Role::Receptionist) => &[
            ("/desk", "Front desk"),
            ("/desk/patients", "Patients"),
            ("/", "Doctors"),
        ],
        Some(Role::Admin) => &[
            ("/admin/users", "Users"),
            ("/admin/stats", "Statistics"),
            ("/admin/payments", "Payments"),
            ("/admin/audit", "Audit log"),
            ("/desk", "Front desk"),
            ("/", "Doctors"),
        ],
    };
    links
        .iter()
        .map(|(href, label)| NavLink {
            href,
            label,
            current: if *href == "/" {
                path == "/"
            } else {
                path == *href || path.starts_with(&format!("{href}/"))
            },
            messages: *href == "/messages",
        })
        .collect()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Put in the request by the cookie middleware: the anonymous CSRF token.
#[derive(Clone)]
pub struct AnonCsrf(pub String);

async fn signed_in(parts: &Parts, app: &App) -> Option<Authenticated> {
    let token = cookie(&parts.headers, SESSION_COOKIE)?;
    if token.is_empty() || token.len() > 256 {
        return None;
    }
    // An expired or revoked session is simply "signed out" on the pages.
    app.authenticate(token).await.ok()
}

impl FromRequestParts<App> for Chrome {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let user = signed_in(parts, app).await;
        let csrf = match &user {
            Some(user) => user.session.csrf_token.clone().unwrap_or_default(),
            None => parts
                .extensions
                .get::<AnonCsrf>()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
        };
        let (unread, unread_messages) = match &user {
            Some(user) => app
                .unread_counts(&user.actor.user_id)
                .await
                .map(|(notifications, messages)| (count(notifications), count(messages)))
                .unwrap_or((0, 0)),
            None => (0, 0),
        };
        let theme = match cookie(&parts.headers, THEME_COOKIE) {
            Some("dark") => "dark",
            Some("light") => "light",
            _ => "system",
        };
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let here = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
        Ok(Chrome {
            clinic_name: app.settings.clinic_name.clone(),
            nav: nav_for(user.as_ref().map(|u| u.actor.role), uri.path()),
            user,
            csrf,
            flash: cookie(&parts.headers, FLASH_COOKIE).and_then(Flash::decode),
            theme: theme.into(),
            unread,
            unread_messages,
            here,
            css_url: assets::url("app.css"),
            js_url: assets::url("app.js"),
            icon_url: assets::url("icon.svg"),
        })
    }
}

/// A submitted form whose CSRF token checked out, with the page chrome of the
/// submitter (so a handler can re-render the form with its errors).
pub struct CsrfForm<T> {
    pub chrome: Chrome,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<App> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        if !same_origin(&parts.headers, &app.settings.public_url) {
            return Err(WebError::Csrf);
        }
        let chrome = Chrome::from_request_parts(&mut parts, app).await?;
        let bytes = read_body(
            &parts.headers,
            body,
            app.settings.max_form_bytes,
            app.settings.body_timeout(),
        )
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => WebError::Problem {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                title: "Too much data",
                detail: "The form sent more data than this server accepts.".into(),
            },
            BodyError::TimedOut => WebError::Problem {
                status: StatusCode::REQUEST_TIMEOUT,
                title: "The form did not arrive in time",
                detail: "Please check your connection and send the form again.".into(),
            },
            BodyError::Unreadable => WebError::BadForm,
        })?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::BadForm)?;
        let sent = pairs
            .iter()
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, v)| v.as_str());
        if chrome.csrf.is_empty() || sent != Some(chrome.csrf.as_str()) {
            return Err(WebError::Csrf);
        }
        if pairs.iter().any(|(_, v)| v.contains('\0')) {
            return Err(WebError::BadForm);
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::BadForm)?;
        Ok(CsrfForm { chrome, form })
    }
}

/// A submitted `multipart/form-data` form with one file (field `file`) whose CSRF
/// token checked out. A file over `attachment_max_bytes` is judged by the app (the
/// page says so); a body far over it is refused here.
pub struct CsrfUpload {
    pub chrome: Chrome,
    pub upload: crate::http::extract::FileUpload,
}

impl FromRequest<App> for CsrfUpload {
    type Rejection = WebError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        use crate::http::extract::{FileUpload, UploadError};
        let (mut parts, body) = request.into_parts();
        if !same_origin(&parts.headers, &app.settings.public_url) {
            return Err(WebError::Csrf);
        }
        let chrome = Chrome::from_request_parts(&mut parts, app).await?;
        let upload = FileUpload::read(&parts.headers, body, &app.settings)
            .await
            .map_err(|error| match error {
                UploadError::TooLarge => WebError::Problem {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    title: "The file is too large",
                    detail: format!(
                        "Files of at most {} MB can be uploaded.",
                        app.settings.attachment_max_bytes / (1024 * 1024)
                    ),
                },
                UploadError::Body(BodyError::TimedOut) => WebError::Problem {
                    status: StatusCode::REQUEST_TIMEOUT,
                    title: "The file did not arrive in time",
                    detail: "Please check your connection and send it again.".into(),
                },
                _ => WebError::BadForm,
            })?;
        if chrome.csrf.is_empty() || upload.field(CSRF_FIELD) != Some(chrome.csrf.as_str()) {
            return Err(WebError::Csrf);
        }
        Ok(CsrfUpload { chrome, upload })
    }
}

/// A browser names the page a form came from in `Origin`; it must be this server:
/// the host the request was sent to, or the configured `public_url` (a proxy in
/// front may rewrite `Host`).
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin.trim_end_matches('/') == public_url.trim_end_matches('/') {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    origin_host.is_some() && origin_host == host
}

/// A local path to return to after a form, never another site (`//evil`, `https:`).
pub fn local_path(next: Option<&str>, fallback: &str) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

/// 303 to `to` (post/redirect/get), carrying `flash` to the next page.
pub fn see_other(app: &App, to: &str, flash: Option<Flash>) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Some(flash) = flash {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(app, FLASH_COOKIE, &flash.encode(), 60),
        );
    }
    response
}

/// A form shown again with its errors answers 422.
pub fn unprocessable(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

/// Renders a template as a page; a template that fails to render is a 500 page.
pub fn render<T: askama::Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "a page failed to render");
            WebError::Internal.into_response()
        }
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in: to the login page, then back to `next`.
    Login {
        next: String,
    },
    NotFound,
    Forbidden,
    /// Staff who must turn on two-factor authentication first: to its page.
    TwoFactorSetup,
    /// The form's CSRF token was missing or stale (e.g. signed out in another tab).
    Csrf,
    BadForm,
    Problem {
        status: StatusCode,
        title: &'static str,
        detail: String,
    },
    Internal,
}

pub type WebResult<T = Response> = Result<T, WebError>;

impl From<AppError> for WebError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Unauthenticated => WebError::Login { next: "/".into() },
            AppError::NotFound(_) => WebError::NotFound,
            AppError::Forbidden => WebError::Forbidden,
            AppError::Invalid(errors) => WebError::Problem {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                title: "Please check what you sent",
                detail: FieldErrors::from(errors).summary(),
            },
            AppError::Conflict { detail, .. } => WebError::Problem {
                status: StatusCode::CONFLICT,
                title: "That could not be done",
                detail,
            },
            AppError::RateLimited { .. } => WebError::Problem {
                status: StatusCode::TOO_MANY_REQUESTS,
                title: "Too many messages",
                detail: "Please wait a minute and try again.".into(),
            },
            AppError::TooManyAttempts { .. } => WebError::Problem {
                status: StatusCode::TOO_MANY_REQUESTS,
                title: "Too many attempts",
                detail: "Please wait a few minutes and try again.".into(),
            },
            AppError::AccountInactive(detail) => WebError::Problem {
                status: StatusCode::FORBIDDEN,
                title: "This account cannot sign in",
                detail: detail.into(),
            },
            AppError::TooLarge { max_bytes } => WebError::Problem {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                title: "The file is too large",
                detail: format!(
                    "Files of at most {} MB can be uploaded.",
                    max_bytes / (1024 * 1024)
                ),
            },
            AppError::UnsupportedFileType => WebError::Problem {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                title: "This kind of file is not accepted",
                detail: "Please upload a PDF, PNG or JPEG file.".into(),
            },
            AppError::UnsupportedPhotoType => WebError::Problem {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                title: "This kind of file is not accepted",
                detail: "Please upload a PNG or JPEG photo.".into(),
            },
            AppError::FileStoreUnavailable(message) => {
                tracing::error!(error = %message, "file store unavailable on a page");
                WebError::Problem {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    title: "We are busy",
                    detail: "Files cannot be stored right now. Please try again in a moment."
                        .into(),
                }
            }
            AppError::Unavailable(_) | AppError::Busy => WebError::Problem {
                status: StatusCode::SERVICE_UNAVAILABLE,
                title: "We are busy",
                detail: "The clinic's system is briefly unavailable. Please try again in a moment."
                    .into(),
            },
            AppError::PaymentProviderUnavailable(message) => {
                tracing::error!(error = %message, "payment provider unavailable on a page");
                WebError::Problem {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    title: "Payment is unavailable",
                    detail: "The payment provider cannot be reached right now, so the visit was not booked. Please try again in a moment."
                        .into(),
                }
            }
            AppError::PaymentsNotConfigured | AppError::InvalidSignature(_) => WebError::NotFound,
            AppError::OtpRequired | AppError::InvalidOtp => WebError::Problem {
                status: StatusCode::UNAUTHORIZED,
                title: "Two-factor code needed",
                detail: "Please enter the current code from your authenticator app.".into(),
            },
            AppError::TwoFactorSetupRequired => WebError::TwoFactorSetup,
            AppError::OidcRefused(refusal) => WebError::Problem {
                status: StatusCode::UNAUTHORIZED,
                title: "Sign-in did not work",
                detail: refusal.message(),
            },
            AppError::EmailUnverified => WebError::Problem {
                status: StatusCode::FORBIDDEN,
                title: "Please confirm your email address",
                detail: "Open the link we emailed you to confirm your address; then you can book. \
                    You can ask for a new link on your profile page."
                    .into(),
            },
            AppError::InvalidCredentials => WebError::Problem {
                status: StatusCode::UNAUTHORIZED,
                title: "Wrong email or password",
                detail: "Please try again.".into(),
            },
            AppError::Internal(message) => {
                tracing::error!(error = %message, "internal error on a page");
                WebError::Internal
            }
        }
    }
}

#[derive(askama::Template)]
#[template(path = "web/error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub title: String,
    pub detail: String,
}

impl ErrorPage {
    pub fn new(status: StatusCode, title: &str, detail: &str) -> ErrorPage {
        ErrorPage {
            chrome: Chrome::anonymous("carebook"),
            status: status.as_u16(),
            title: title.into(),
            detail: detail.into(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self {
            WebError::Login { next } => {
                let to = format!(
                    "/login?next={}",
                    form_urlencoded_component(&local_path(Some(&next), "/"))
                );
                return Redirect::to(&to).into_response();
            }
            WebError::TwoFactorSetup => {
                return Redirect::to(TWO_FACTOR_PAGE).into_response();
            }
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "We could not find that page. It may have moved, or the link may be mistyped."
                    .to_owned(),
            ),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your account cannot open this page.".to_owned(),
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Please go back, reload the page and send the form again.".to_owned(),
            ),
            WebError::BadForm => (
                StatusCode::BAD_REQUEST,
                "We could not read that form",
                "Please go back and try again.".to_owned(),
            ),
            WebError::Problem {
                status,
                title,
                detail,
            } => (status, title, detail),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Sorry, something went wrong on our side. Nothing was changed; please try again."
                    .to_owned(),
            ),
        };
        let mut response = render(&ErrorPage::new(status, title, &detail));
        *response.status_mut() = status;
        // The page middleware draws it again with the visitor's theme and header.
        response.extensions_mut().insert(ErrorShown {
            status,
            title,
            detail,
        });
        response
    }
}

/// Marks a response as an error page, so that it can be drawn again with the
/// visitor's chrome (theme, who is signed in) where the request is at hand.
#[derive(Debug, Clone)]
pub struct ErrorShown {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

impl ErrorShown {
    pub fn render(&self, chrome: Chrome) -> Response {
        let mut response = render(&ErrorPage {
            chrome,
            status: self.status.as_u16(),
            title: self.title.into(),
            detail: self.detail.clone(),
        });
        *response.status_mut() = self.status;
        response
    }
}

pub fn form_urlencoded_component(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_messages_survive_the_cookie_and_forged_ones_are_dropped() {
        let flash = Flash::error("Could not book: the slot is taken; sorry");
        let back = Flash::decode(&flash.encode()).unwrap();
        assert_eq!(back.kind, FlashKind::Error);
        assert_eq!(back.message, flash.message);
        assert!(Flash::decode("not base64!").is_none());
        assert!(Flash::decode("eA").is_none(), "an unknown kind is dropped");
    }

    #[test]
    fn only_local_paths_are_followed_after_a_form() {
        assert_eq!(local_path(Some("/visits?x=1"), "/"), "/visits?x=1");
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "visits",
        ] {
            assert_eq!(local_path(Some(hostile), "/home"), "/home", "{hostile}");
        }
        assert_eq!(local_path(None, "/home"), "/home");
    }

    #[test]
    fn a_form_from_another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("clinic.example"));
        let public = "https://book.clinic.example";
        assert!(
            same_origin(&headers, public),
            "no Origin: a same-origin navigation"
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://clinic.example"),
        );
        assert!(same_origin(&headers, public));
        headers.insert(header::ORIGIN, HeaderValue::from_static(public));
        assert!(
            same_origin(&headers, public),
            "the public address behind a proxy"
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers, public));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(
            !same_origin(&headers, public),
            "an opaque origin is not ours"
        );
    }
}
