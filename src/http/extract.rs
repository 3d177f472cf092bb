//! Extractors that turn requests into checked inputs, refusing with problem+json.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use crate::app::{App, AppError, Authenticated};

/// A JSON object body; shape errors are 400/422, never a panic. Text may not carry
/// NUL characters: no store keeps them faithfully (PostgreSQL refuses them), so they
/// are refused at the door. Every request body of the API is an object, so any other
/// JSON value (an array, which serde would otherwise read as a struct's fields in
/// order, a string, a number, `null`) is a 422.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(request, state).await?;
        Ok(ApiJson(parse_object(&bytes)?))
    }
}

/// The raw body of a JSON request: the content type says JSON, the size is within
/// bounds, and no NUL character is escaped into it.
async fn json_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
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
    let bytes = axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the body is too large",
            )
        })?;
    if contains_nul_escape(&bytes) {
        return Err(ApiError::bad_request(
            "text must not contain NUL characters",
        ));
    }
    Ok(bytes)
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

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
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
/// echo its CSRF token on unsafe requests.
pub struct CurrentUser(pub Authenticated);

impl FromRequestParts<App> for CurrentUser {
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
        Ok(CurrentUser(authenticated))
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

/// The client's address, for login throttling.
pub struct ClientAddr(pub String);

impl FromRequestParts<App> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if app.settings.trust_forwarded_for
            && let Some(forwarded) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            && let Some(first) = forwarded
                .split(',')
                .next()
                .map(str::trim)
                .filter(|s| !s.is_empty())
        {
            return Ok(ClientAddr(first.to_owned()));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "unknown".to_owned(),
                |ConnectInfo(addr)| addr.ip().to_string(),
            );
        Ok(ClientAddr(peer))
    }
}
