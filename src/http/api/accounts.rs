//! Registration, login, the caller's account, user management and the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{Paged, nullable};
use crate::app::{App, AuditSearch, LoginInput, PageParams, RegisterInput, UserPatch, UserSearch};
use crate::http::extract::{
    ApiJson, ApiPath, ApiQuery, ClientAddr, CurrentUser, SESSION_COOKIE, SetupUser,
};
use crate::http::problem::{ApiError, Problem};
use crate::store::{AuditEntry, Role, UserId, UserRecord, UserStatus};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub name: String,
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// `patient` (default) or `doctor` (waits for an admin's approval). When an admin
    /// creates a user: any role.
    pub role: Option<String>,
}

impl From<RegisterRequest> for RegisterInput {
    fn from(r: RegisterRequest) -> Self {
        RegisterInput {
            email: r.email,
            password: r.password,
            name: r.name,
            phone: r.phone,
            date_of_birth: r.date_of_birth,
            role: r.role,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub name: String,
    #[schema(value_type = String, example = "patient")]
    pub role: Role,
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    pub phone: Option<String>,
    pub date_of_birth: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<UserRecord> for UserResponse {
    fn from(user: UserRecord) -> Self {
        UserResponse {
            id: user.id.to_string(),
            email: user.email,
            name: user.name,
            role: user.role,
            status: user.status,
            phone: user.phone,
            date_of_birth: user.date_of_birth.map(|d| d.to_string()),
            created_at: user.created_at,
        }
    }
}

/// Register an account: a patient (active at once) or a doctor (pending approval).
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = UserResponse), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_registration(
    State(app): State<App>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let user = app.register(body.into()).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Also set an HttpOnly session cookie (for the web pages); the response then
    /// carries the `csrf_token` that unsafe cookie-authenticated requests must send
    /// in `X-CSRF-Token`.
    #[serde(default)]
    pub cookie: bool,
    /// Needed when the account has two-factor authentication on: the current code of
    /// the authenticator app, or one of the recovery codes. Without it such a login
    /// answers 401 `otp-required`; a wrong one 401 `invalid-otp`.
    pub otp: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub csrf_token: Option<String>,
    pub user: UserResponse,
}

/// Log in with email and password (and the two-factor code, when the account has it on).
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem)))]
pub async fn create_session(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let cookie = body.cookie;
    let outcome = app
        .login(LoginInput {
            email: body.email,
            password: body.password,
            client,
            cookie,
            otp: body.otp,
        })
        .await?;
    let mut headers = HeaderMap::new();
    if cookie {
        let max_age = outcome
            .expires_at
            .duration_since(app.now())
            .as_secs()
            .max(0);
        let secure = if app.settings.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        let value = format!(
            "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}",
            outcome.token
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header::SET_COOKIE, value);
        }
    }
    let response = LoginResponse {
        token: outcome.token,
        expires_at: outcome.expires_at,
        csrf_token: outcome.csrf_token,
        user: outcome.user.into(),
    };
    Ok((headers, Json(response)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcLinkRequest {
    /// The password of the carebook account whose e-mail address the provider
    /// vouched for.
    pub password: String,
    /// Needed when the account has two-factor authentication on (as at login).
    pub otp: Option<String>,
}

/// Finish a sign-in with the OpenID Connect provider that found an existing
/// account with the same verified e-mail address: the account's password (once)
/// links the provider's identity to it and signs in. Works only in the browser
/// that came back from the provider (it carries the step's cookie). A wrong
/// password is 401 `invalid-credentials`, counts as a failed login and links
/// nothing; an unknown or expired step is 401 `oidc-step-expired`.
#[utoipa::path(post, path = "/auth/oidc/link", tag = "accounts", request_body = OidcLinkRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 429, body = Problem)))]
pub async fn create_oidc_link(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    request_headers: HeaderMap,
    ApiJson(body): ApiJson<OidcLinkRequest>,
) -> Result<impl IntoResponse, ApiError> {
    use crate::http::web::oidc::STEP_COOKIE;
    let secret =
        crate::http::web::session::cookie(&request_headers, STEP_COOKIE).map(str::to_owned);
    let outcome = app
        .link_oidc_identity(crate::app::OidcLinkInput {
            secret,
            password: body.password,
            otp: body.otp,
            client,
        })
        .await?;
    let crate::app::OidcOutcome::SignedIn { login, .. } = outcome else {
        return Err(ApiError::from(crate::app::AppError::Internal(
            "linking answered another step".into(),
        )));
    };
    let mut headers = HeaderMap::new();
    let max_age = login.expires_at.duration_since(app.now()).as_secs().max(0);
    let secure = if app.settings.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    for value in [
        format!(
            "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}",
            login.token
        ),
        format!("{STEP_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}"),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    let response = LoginResponse {
        token: login.token,
        expires_at: login.expires_at,
        csrf_token: login.csrf_token,
        user: login.user.into(),
    };
    Ok((headers, Json(response)))
}

/// Log out: the token (and cookie) stop working at once.
#[utoipa::path(post, path = "/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn delete_session(
    State(app): State<App>,
    SetupUser(me): SetupUser,
) -> Result<impl IntoResponse, ApiError> {
    app.logout(&me).await?;
    let clear =
        HeaderValue::from_static("carebook_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]))
}

/// The caller's own account.
#[utoipa::path(get, path = "/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, body = Problem)))]
pub async fn find_me(SetupUser(me): SetupUser) -> Json<UserResponse> {
    Json(me.user.into())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change the caller's password; every other session of theirs ends (this one stays).
#[utoipa::path(post, path = "/me/password", tag = "accounts", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn update_my_password(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    app.change_password(&me, body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub detail: String,
}

/// Ask for a password reset link by email. The answer is the same whether or not an
/// account uses the address; requests are throttled like failed logins.
#[utoipa::path(post, path = "/auth/password-reset", tag = "accounts", request_body = PasswordResetRequest,
    responses((status = 202, body = Accepted), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn create_password_reset(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    app.request_password_reset(&body.email, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            detail: "if an account uses this address, a link to reset its password is on its way; it works once, for one hour".into(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the emailed link.
    pub token: String,
    pub new_password: String,
}

/// Set a new password with the emailed token; every session of the account ends.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "accounts", request_body = PasswordResetConfirm,
    responses((status = 204), (status = 422, body = Problem)))]
pub async fn confirm_password_reset(
    State(app): State<App>,
    ApiJson(body): ApiJson<PasswordResetConfirm>,
) -> Result<StatusCode, ApiError> {
    app.confirm_password_reset(&body.token, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailVerificationConfirm {
    /// The token from the emailed link.
    pub token: String,
}

/// Confirm an email address with the emailed token (works once).
#[utoipa::path(post, path = "/auth/email-verification/confirm", tag = "accounts", request_body = EmailVerificationConfirm,
    responses((status = 204), (status = 422, body = Problem)))]
pub async fn confirm_email_verification(
    State(app): State<App>,
    ApiJson(body): ApiJson<EmailVerificationConfirm>,
) -> Result<StatusCode, ApiError> {
    app.verify_email(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send the caller a new link to confirm their email address (the old one stops working).
#[utoipa::path(post, path = "/me/email-verification", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, body = Accepted), (status = 401, body = Problem), (status = 409, body = Problem)))]
pub async fn create_email_verification(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    app.resend_email_verification(&me).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            detail: "a new link is on its way to your email address".into(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SecurityResponse {
    /// `false` only while a self-registered patient's address waits for confirmation
    /// (and the clinic requires it): booking is refused meanwhile.
    pub email_verified: bool,
    pub two_factor_enabled: bool,
    /// A secret was set up and waits for its first code (`/me/2fa/confirm`).
    pub two_factor_pending_confirmation: bool,
    /// The clinic requires two-factor authentication of this account (staff, when
    /// `require_staff_2fa` is on).
    pub two_factor_required: bool,
    pub recovery_codes_left: i64,
}

/// The caller's email verification and two-factor status.
#[utoipa::path(get, path = "/me/security", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = SecurityResponse), (status = 401, body = Problem)))]
pub async fn find_my_security(
    State(app): State<App>,
    SetupUser(me): SetupUser,
) -> Result<Json<SecurityResponse>, ApiError> {
    let status = app.security_status(&me).await?;
    Ok(Json(SecurityResponse {
        email_verified: status.email_verified,
        two_factor_enabled: status.two_factor_enabled,
        two_factor_pending_confirmation: status.two_factor_pending_confirmation,
        two_factor_required: status.two_factor_required,
        recovery_codes_left: status.recovery_codes_left,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TwoFactorSetupResponse {
    /// Base32, for typing into the authenticator app by hand.
    pub secret: String,
    /// `otpauth://totp/…` (SHA-1, 6 digits, 30 s), for a QR code.
    pub otpauth_uri: String,
}

/// Start turning on two-factor authentication: a new TOTP secret. It is on once
/// `/me/2fa/confirm` gets a code from it.
#[utoipa::path(post, path = "/me/2fa/setup", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = TwoFactorSetupResponse), (status = 401, body = Problem), (status = 409, body = Problem)))]
pub async fn create_two_factor_setup(
    State(app): State<App>,
    SetupUser(me): SetupUser,
) -> Result<Json<TwoFactorSetupResponse>, ApiError> {
    let setup = app.setup_two_factor(&me).await?;
    Ok(Json(TwoFactorSetupResponse {
        secret: setup.secret,
        otpauth_uri: setup.otpauth_uri,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorConfirm {
    /// The current six-digit code of the authenticator app.
    pub otp: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Ten single-use codes that stand in for the app when it is lost. Shown once.
    pub recovery_codes: Vec<String>,
}

/// Turn two-factor authentication on with the first code from the app; answers the
/// recovery codes, once.
#[utoipa::path(post, path = "/me/2fa/confirm", tag = "accounts", security(("bearer" = [])), request_body = TwoFactorConfirm,
    responses((status = 200, body = RecoveryCodesResponse), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn confirm_two_factor(
    State(app): State<App>,
    SetupUser(me): SetupUser,
    ApiJson(body): ApiJson<TwoFactorConfirm>,
) -> Result<Json<RecoveryCodesResponse>, ApiError> {
    let recovery_codes = app.confirm_two_factor(&me, &body.otp).await?;
    Ok(Json(RecoveryCodesResponse { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorDisable {
    pub password: String,
    /// A current code of the authenticator app, or an unused recovery code.
    pub otp: String,
}

/// Turn two-factor authentication off (password and a current code needed).
#[utoipa::path(post, path = "/me/2fa/disable", tag = "accounts", security(("bearer" = [])), request_body = TwoFactorDisable,
    responses((status = 204), (status = 401, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn delete_two_factor(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<TwoFactorDisable>,
) -> Result<StatusCode, ApiError> {
    app.disable_two_factor(&me, &body.password, &body.otp)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Matches name or email.
    pub q: Option<String>,
    pub role: Option<String>,
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// List and search accounts (admins; receptionists see patients only).
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = Paged<UserResponse>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_users(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<Json<Paged<UserResponse>>, ApiError> {
    let search = UserSearch {
        q: query.q,
        role: query.role,
        status: query.status,
    };
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = app.list_users(&me.actor, search, page).await?;
    Ok(Json(Paged::from_page(page, UserResponse::from)))
}

/// Create an account for someone: staff of any role (admins), or patients (front desk).
#[utoipa::path(post, path = "/users", tag = "users", security(("bearer" = [])), request_body = RegisterRequest,
    responses((status = 201, body = UserResponse), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_user(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let user = app.create_user(&me.actor, body.into()).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// One account, if the caller may see it.
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 404, body = Problem)))]
pub async fn find_user(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(
        app.find_user(&me.actor, UserId::new(id)).await?.into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub date_of_birth: Option<Option<String>>,
    /// Admins only.
    pub role: Option<String>,
    /// Admins only: `false` deactivates (the user's tokens stop working at once).
    pub active: Option<bool>,
}

/// Change an account: profile fields, role, active.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = UserUpdate,
    responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_user(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UserUpdate>,
) -> Result<Json<UserResponse>, ApiError> {
    let patch = UserPatch {
        name: body.name,
        phone: body.phone,
        date_of_birth: body.date_of_birth,
        role: body.role,
        active: body.active,
    };
    Ok(Json(
        app.update_user(&me.actor, UserId::new(id), patch)
            .await?
            .into(),
    ))
}

/// Approve a doctor who registered themself.
#[utoipa::path(post, path = "/users/{id}/approve", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn approve_user(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(
        app.approve_doctor(&me.actor, UserId::new(id)).await?.into(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    /// e.g. `appointment.cancel`, `login.failed`, `user.role_changed`.
    pub action: Option<String>,
    /// RFC 3339; entries at or after.
    pub from: Option<String>,
    /// RFC 3339; entries before.
    pub to: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditResponse {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor_id: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<AuditEntry> for AuditResponse {
    fn from(e: AuditEntry) -> Self {
        AuditResponse {
            id: e.id,
            at: e.entry.at,
            actor_id: e.entry.actor_id.map(|a| a.to_string()),
            action: e.entry.action,
            subject_type: e.entry.subject_type,
            subject_id: e.entry.subject_id,
            detail: e.entry.detail,
        }
    }
}

/// The audit trail, newest first (admins).
#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Paged<AuditResponse>), (status = 403, body = Problem)))]
pub async fn list_audit(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Paged<AuditResponse>>, ApiError> {
    let search = AuditSearch {
        actor_id: query.actor_id,
        subject_id: query.subject_id,
        action: query.action,
        from: query.from,
        to: query.to,
    };
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = app.list_audit(&me.actor, search, page).await?;
    Ok(Json(Paged::from_page(page, AuditResponse::from)))
}
