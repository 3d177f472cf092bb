//! Extractors that turn requests into checked inputs, refusing with problem+json.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use serde::de::DeserializeOwned;

use super::limits::{ClientIp, ProxyTrust};
use super::problem::ApiError;
use crate::app::{App, AppError, Authenticated};

/// A JSON object body; shape errors are 400/422, never a panic. The body is bounded
/// in size (`max_body_bytes`, 413), in time (`body_timeout_seconds`, 408) and in
/// nesting (`max_json_depth`, 400). Text may not carry NUL characters: no store
/// keeps them faithfully (PostgreSQL refuses them), so they are refused at the door.
/// Every request body of the API is an object, so any other JSON value (an array,
/// which serde would otherwise read as a struct's fields in order, a string, a
/// number, `null`) is a 422.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(request, app).await?;
        Ok(ApiJson(parse_object(&bytes)?))
    }
}

/// The raw body of a JSON request: the content type says JSON, the size, the time
/// it took and the nesting are within bounds, and no NUL character is escaped
/// into it.
async fn json_bytes(request: Request, app: &App) -> Result<axum::body::Bytes, ApiError> {
    let json_content = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if !json_content {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as application/json",
        ));
    }
    let settings = &app.settings;
    let (parts, body) = request.into_parts();
    let bytes = read_body(
        &parts.headers,
        body,
        settings.max_body_bytes,
        settings.body_timeout(),
    )
    .await
    .map_err(|error| match error {
        BodyError::TooLarge => ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the body is larger than {} bytes", settings.max_body_bytes),
        ),
        BodyError::TimedOut => ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "the body did not arrive in time",
        ),
        BodyError::Unreadable => ApiError::bad_request("the body could not be read"),
    })?;
    if json_depth_exceeds(&bytes, settings.max_json_depth) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "json-too-deep",
            format!(
                "the body nests arrays and objects more than {} levels deep",
                settings.max_json_depth
            ),
        ));
    }
    if contains_nul_escape(&bytes) {
        return Err(ApiError::bad_request(
            "text must not contain NUL characters",
        ));
    }
    Ok(bytes)
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (by `Content-Length`, or while reading).
    TooLarge,
    /// Not all there before the deadline (a slow or stalled client).
    TimedOut,
    /// The client went away or sent a broken body.
    Unreadable,
}

/// Reads a whole request body, at most `limit` bytes, within `timeout`.
pub async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<axum::body::Bytes, BodyError> {
    use http_body_util::BodyExt;

    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(BodyError::TooLarge)
        }
        Ok(Err(_)) => Err(BodyError::Unreadable),
    }
}

/// Whether arrays and objects nest deeper than `max` (strings are skipped, so
/// brackets inside text do not count). serde_json would stop at 128 levels by
/// itself; this refuses earlier, with its own problem type, before parsing.
pub fn json_depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The first byte after leading JSON whitespace.
fn first_token(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let axum::Json(value) = axum::Json::<T>::from_bytes(bytes)?;
    if first_token(bytes) != Some(b'{') {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "the body does not have the expected shape: it must be a JSON object",
        ));
    }
    Ok(value)
}

/// JSON can carry a NUL character only as the escape `\u0000`.
fn contains_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == b"\\u0000")
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// A JSON body that may be left out entirely (e.g. `POST /appointments/{id}/confirm`);
/// a body of JSON `null` counts as left out, as the document's nullable body says.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<App> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &App) -> Result<Self, Self::Rejection> {
        let has_body = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v != "0")
            && request.headers().contains_key(header::CONTENT_TYPE);
        if !has_body {
            return Ok(OptionalJson(None));
        }
        let bytes = json_bytes(request, state).await?;
        if bytes.trim_ascii() == b"null" {
            return Ok(OptionalJson(None));
        }
        Ok(OptionalJson(Some(parse_object(&bytes)?)))
    }
}

pub const SESSION_COOKIE: &str = "carebook_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

enum Credential {
    Bearer(String),
    Cookie(String),
}

fn credential(parts: &Parts) -> Option<Credential> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(Credential::Bearer(token.trim().to_owned()));
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| Credential::Cookie(value.to_owned()))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The authenticated caller; 401 without a valid token. A cookie session must also
/// echo its CSRF token on unsafe requests. Staff who must still turn on two-factor
/// authentication (`require_staff_2fa`) get 403 `two-factor-required`: only the
/// routes that take a [`SetupUser`] serve them.
pub struct CurrentUser(pub Authenticated);

impl FromRequestParts<App> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let SetupUser(authenticated) = SetupUser::from_request_parts(parts, app).await?;
        if authenticated.two_factor_pending {
            return Err(AppError::TwoFactorSetupRequired.into());
        }
        Ok(CurrentUser(authenticated))
    }
}

/// The authenticated caller, even one who must still turn on two-factor
/// authentication: for the few routes such staff may use (their account, sign-out,
/// the two-factor setup).
pub struct SetupUser(pub Authenticated);

impl FromRequestParts<App> for SetupUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let credential = credential(parts).ok_or(AppError::Unauthenticated)?;
        let (token, by_cookie) = match credential {
            Credential::Bearer(token) => (token, false),
            Credential::Cookie(token) => (token, true),
        };
        if token.is_empty() || token.len() > 256 {
            return Err(AppError::Unauthenticated.into());
        }
        let authenticated = app.authenticate(&token).await?;
        if by_cookie && !is_safe(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let expected = authenticated.session.csrf_token.as_deref();
            if sent.is_none() || sent != expected {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    "this request needs the X-CSRF-Token header of your session",
                ));
            }
        }
        Ok(SetupUser(authenticated))
    }
}

/// The caller if they sent credentials, for public pages that show more to staff.
/// Bad credentials are still a 401: a client should learn its token has expired.
pub struct MaybeUser(pub Option<Authenticated>);

impl FromRequestParts<App> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if credential(parts).is_none() {
            return Ok(MaybeUser(None));
        }
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, app).await?;
        Ok(MaybeUser(Some(user)))
    }
}

/// The client's address, for login throttling: the TCP peer, or the client a
/// trusted proxy names (see `limits::ProxyTrust`).
pub struct ClientAddr(pub String);

impl FromRequestParts<App> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(ClientIp(ip)) = parts.extensions.get::<ClientIp>() {
            return Ok(ClientAddr(ip.to_string()));
        }
        // Without the limits layer (a router driven in-process): resolve it here.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientAddr(peer.map_or_else(
            || "unknown".to_owned(),
            |peer| {
                ProxyTrust::from_settings(&app.settings)
                    .client_ip(peer, &parts.headers)
                    .to_string()
            },
        )))
    }
}

/// One file from a `multipart/form-data` body, in the field `file`, and the body's
/// short text fields (a web form's CSRF token). The body may be
/// `attachment_max_bytes` plus room for the multipart framing; the app judges the
/// file itself (size, type).
pub struct FileUpload {
    /// As the client named it; the app cleans it.
    pub file_name: String,
    pub bytes: axum::body::Bytes,
    /// The other fields that are text, in order.
    pub fields: Vec<(String, String)>,
}

/// Room for the boundaries, part headers and small fields around the file.
const MULTIPART_FRAMING_BYTES: usize = 64 * 1024;

/// Why an upload could not be read.
#[derive(Debug)]
pub enum UploadError {
    NotMultipart,
    Body(BodyError),
    /// Over `attachment_max_bytes` already by its framing.
    TooLarge,
    Malformed,
    NoFile,
}

impl FileUpload {
    /// Reads a whole multipart body, within the size and time limits.
    pub async fn read(
        headers: &axum::http::HeaderMap,
        body: axum::body::Body,
        settings: &crate::config::Settings,
    ) -> Result<FileUpload, UploadError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let boundary =
            multer::parse_boundary(content_type).map_err(|_| UploadError::NotMultipart)?;
        let limit = settings.attachment_max_bytes + MULTIPART_FRAMING_BYTES;
        let bytes = read_body(headers, body, limit, settings.body_timeout())
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => UploadError::TooLarge,
                other => UploadError::Body(other),
            })?;
        let stream =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut file = None;
        let mut fields = Vec::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|_| UploadError::Malformed)?
        {
            let name = field.name().unwrap_or("").to_owned();
            if name == "file" && file.is_none() {
                let file_name = field.file_name().unwrap_or("").to_owned();
                let bytes = field.bytes().await.map_err(|_| UploadError::Malformed)?;
                file = Some((file_name, bytes));
            } else if field.file_name().is_none() {
                let text = field.text().await.map_err(|_| UploadError::Malformed)?;
                fields.push((name, text));
            }
        }
        let (file_name, bytes) = file.ok_or(UploadError::NoFile)?;
        Ok(FileUpload {
            file_name,
            bytes,
            fields,
        })
    }

    /// A text field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl FromRequest<App> for FileUpload {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        FileUpload::read(&parts.headers, body, &app.settings)
            .await
            .map_err(|error| match error {
                UploadError::NotMultipart => ApiError::new(
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "send the file as multipart/form-data in the field `file`",
                ),
                UploadError::TooLarge => AppError::TooLarge {
                    max_bytes: app.settings.attachment_max_bytes,
                }
                .into(),
                UploadError::Body(BodyError::TimedOut) => ApiError::new(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    "request-timeout",
                    "the body did not arrive in time",
                ),
                UploadError::Body(_) => ApiError::bad_request("the body could not be read"),
                UploadError::Malformed => ApiError::bad_request("the multipart body is malformed"),
                UploadError::NoFile => {
                    AppError::Invalid(carebook_domain::ValidationErrors::single(
                        "file",
                        "send the file in the multipart field `file`",
                    ))
                    .into()
                }
            })
    }
}
