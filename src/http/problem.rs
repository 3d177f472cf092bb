//! One error type for the HTTP face: every refusal becomes an RFC 9457
//! `application/problem+json` body with a stable `type`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carebook_domain::{FieldError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppError;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A stable URI reference naming the kind of problem, e.g. `/problems/slot-taken`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: every field at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<ProblemField>)]
    pub errors: Vec<FieldError>,
}

#[derive(Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_seconds: Option<i64>,
}

impl ApiError {
    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.slug),
            title: title(self.status).to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }

    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            slug,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_seconds: None,
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "there is nothing at this address",
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed-request", detail)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Invalid(errors) => invalid(errors),
            AppError::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "log in first: send a valid bearer token (or the session cookie)",
            ),
            AppError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "wrong email or password",
            ),
            AppError::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "you are not allowed to do this",
            ),
            AppError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{what} not found"),
            ),
            AppError::Conflict { kind, detail } => {
                ApiError::new(StatusCode::CONFLICT, kind.slug(), detail)
            }
            AppError::RateLimited {
                retry_after_seconds,
            } => ApiError {
                retry_after_seconds: Some(retry_after_seconds),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "too many messages; try again later",
                )
            },
            AppError::TooManyAttempts {
                retry_after_seconds,
            } => ApiError {
                retry_after_seconds: Some(retry_after_seconds),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-attempts",
                    "too many failed attempts; try again later",
                )
            },
            AppError::Unavailable(message) => {
                tracing::error!(error = %message, "database unavailable");
                ApiError {
                    retry_after_seconds: Some(5),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "the service cannot use its database right now; nothing was saved; please try again shortly",
                    )
                }
            }
            AppError::TooLarge { max_bytes } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("the file is larger than {max_bytes} bytes; nothing was stored"),
            ),
            AppError::UnsupportedFileType => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-file-type",
                "only PDF, PNG and JPEG files are accepted (judged by the file's content, not its name)",
            ),
            AppError::UnsupportedPhotoType => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-file-type",
                "a photo must be a PNG or JPEG image (judged by the file's content, not its name)",
            ),
            AppError::FileStoreUnavailable(message) => {
                tracing::error!(error = %message, "file store unavailable");
                ApiError {
                    retry_after_seconds: Some(5),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "the service cannot use its file store right now; nothing was saved; please try again shortly",
                    )
                }
            }
            AppError::PaymentProviderUnavailable(message) => {
                tracing::error!(error = %message, "payment provider unavailable");
                ApiError {
                    retry_after_seconds: Some(5),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "payment-provider-unavailable",
                        "the payment provider cannot be reached right now; the visit was not booked; please try again shortly",
                    )
                }
            }
            AppError::PaymentsNotConfigured => ApiError::new(
                StatusCode::NOT_FOUND,
                "payments-not-configured",
                "online payment is not configured for this clinic",
            ),
            AppError::InvalidSignature(why) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-signature",
                format!("the Stripe-Signature header is not valid: {why}"),
            ),
            AppError::Busy => ApiError {
                retry_after_seconds: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "a concurrent change got in the way and nothing was saved; please try again",
                )
            },
            AppError::OtpRequired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "otp-required",
                "this account has two-factor authentication: send the code from the authenticator app (or a recovery code) as otp",
            ),
            AppError::InvalidOtp => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid-otp",
                "the two-factor code is wrong, was used before, or has expired",
            ),
            AppError::TwoFactorSetupRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "two-factor-required",
                "the clinic requires two-factor authentication for staff: set it up first (POST /api/v1/me/2fa/setup)",
            ),
            AppError::EmailUnverified => ApiError::new(
                StatusCode::FORBIDDEN,
                "email-unverified",
                "confirm your email address first: open the link we emailed you (or ask for a new one)",
            ),
            AppError::AccountInactive(detail) => {
                ApiError::new(StatusCode::FORBIDDEN, "account-inactive", detail)
            }
            AppError::OidcRefused(refusal) => {
                let status = match refusal {
                    crate::app::OidcRefusal::NotConfigured => StatusCode::NOT_FOUND,
                    crate::app::OidcRefusal::ProviderUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    crate::app::OidcRefusal::StaffNotAllowed => StatusCode::FORBIDDEN,
                    _ => StatusCode::UNAUTHORIZED,
                };
                ApiError::new(status, refusal.slug(), refusal.message())
            }
            AppError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side; it has been logged",
                )
            }
        }
    }
}

fn invalid(errors: ValidationErrors) -> ApiError {
    ApiError {
        errors: errors.errors,
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "some values are not valid; see errors",
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                format!(
                    "the body does not have the expected shape: {}",
                    e.body_text()
                ),
            ),
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("the body is not valid JSON")
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as application/json",
            ),
            JsonRejection::BytesRejection(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the body is too large",
            ),
            other => ApiError::bad_request(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(format!(
            "the query string is not valid: {}",
            rejection.body_text()
        ))
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::not_found()
    }
}

fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}
