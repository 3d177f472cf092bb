//! Accounts: registration, login and sessions, and admin user management.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::validation::{
    Email, MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, Password, parse_name, parse_phone, parse_text,
};
use carebook_domain::{Role, UserStatus, ValidationErrors};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::doctors::parse_instant;
use super::hashing::on_hashing_thread;
use super::security::{MAX_OTP_CHARS, check_second_factor, tell_of_new_sign_in};
use super::{
    App, AppError, ConflictKind, Page, PageParams, audit, new_id, paginate, random_token,
    sha256_hex,
};
use crate::store::{
    AuditEntry, AuditFilter, Cursor, DoctorRecord, LoginAttempt, LoginKey, SessionRecord, Tx,
    UserFilter, UserId, UserRecord,
};

#[derive(Debug, Clone, Default)]
pub struct RegisterInput {
    pub email: String,
    pub password: String,
    pub name: String,
    pub phone: Option<String>,
    pub date_of_birth: Option<String>,
    /// `patient` (default) or `doctor` (pending until approved); on staff creation
    /// any role.
    pub role: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
    /// The client's address, for throttling.
    pub client: String,
    /// Also start a cookie session (for the web pages), which needs a CSRF token.
    pub cookie: bool,
    /// The current code of the authenticator app, or a recovery code: needed when
    /// the account has two-factor authentication on.
    pub otp: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub token: String,
    pub expires_at: Timestamp,
    pub csrf_token: Option<String>,
    pub user: UserRecord,
}

/// The caller of a request, once their token checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub actor: Actor,
    pub user: UserRecord,
    pub session: SessionRecord,
    /// Staff who must turn on two-factor authentication (`require_staff_2fa`) and
    /// have not: they may only set it up, see their account and sign out.
    pub two_factor_pending: bool,
}

/// `GET /users` filters, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct UserSearch {
    pub q: Option<String>,
    pub role: Option<String>,
    pub status: Option<String>,
}

/// `GET /audit` filters, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub date_of_birth: Option<Option<String>>,
    pub role: Option<String>,
    pub active: Option<bool>,
}

/// Checked registration fields.
struct NewAccount {
    email: Email,
    password: Password,
    name: String,
    phone: Option<String>,
    date_of_birth: Option<Date>,
    role: Role,
}

fn parse_date_of_birth(value: &str, today: Date) -> Result<Date, ValidationErrors> {
    let date: Date = value.parse().map_err(|_| {
        ValidationErrors::single("date_of_birth", "must be a date such as 1990-04-23")
    })?;
    if date > today || date.year() < 1900 {
        return Err(ValidationErrors::single(
            "date_of_birth",
            "must be a past date after 1900",
        ));
    }
    Ok(date)
}

fn parse_role(value: Option<&str>, default: Role) -> Result<Role, ValidationErrors> {
    match value {
        None => Ok(default),
        Some(value) => Role::parse(value).ok_or_else(|| {
            ValidationErrors::single(
                "role",
                "must be one of patient, doctor, receptionist, admin",
            )
        }),
    }
}

fn parse_account(input: &RegisterInput, today: Date) -> Result<NewAccount, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let email = errors.take(Email::parse("email", &input.email));
    let password = errors.take(Password::parse("password", &input.password, email.as_ref()));
    let name = errors.take(parse_name("name", &input.name));
    let phone = match input
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(phone) => errors.take(parse_phone("phone", phone)).map(Some),
        None => Some(None),
    };
    let date_of_birth = match input.date_of_birth.as_deref().filter(|d| !d.is_empty()) {
        Some(date) => errors.take(parse_date_of_birth(date, today)).map(Some),
        None => Some(None),
    };
    let role = errors.take(parse_role(input.role.as_deref(), Role::Patient));
    match (email, password, name, phone, date_of_birth, role) {
        (Some(email), Some(password), Some(name), Some(phone), Some(date_of_birth), Some(role))
            if errors.is_empty() =>
        {
            Ok(NewAccount {
                email,
                password,
                name,
                phone,
                date_of_birth,
                role,
            })
        }
        _ => Err(errors),
    }
}

/// No account has a longer password or code than these limits, so one that is can
/// only be wrong: sign-in paths refuse it by name before anything is read or
/// counted, keeping unbounded text out of `login_attempts`.
pub(super) fn refuse_overlong_secrets(
    errors: &mut ValidationErrors,
    password: &str,
    otp: Option<&str>,
) {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        errors.add(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters long"),
        );
    }
    if otp.is_some_and(|otp| otp.chars().count() > MAX_OTP_CHARS) {
        errors.add(
            "otp",
            format!("must be at most {MAX_OTP_CHARS} characters long"),
        );
    }
}

/// Argon2id with the crate's recommended parameters, off the async workers (on the
/// hashing threads, see [`super::hashing`]).
pub async fn hash_password(password: Password) -> Result<String, AppError> {
    on_hashing_thread(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .unwrap_or_else(|| Err(AppError::Internal("password hashing is unavailable".into())))
}

pub(super) async fn verify_password(password: String, hash: String) -> bool {
    on_hashing_thread(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Verified against when the email is unknown, so that a wrong email costs as much
/// time as a wrong password and the timing tells nothing.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$kFJjPKsL3bcIbxNfzPDvVjs3pKV7Y1Xbf7BaIQ96PWY";

/// Doctors, receptionists and admins: whom `require_staff_2fa` binds.
pub fn is_staff(role: Role) -> bool {
    role != Role::Patient
}

impl App {
    /// Records a login whose password was right but whose second factor was
    /// missing or wrong: it counts toward throttling like a wrong password.
    pub(super) async fn record_second_factor_failure(
        &self,
        mut attempt: LoginAttempt,
        user: &UserId,
        reason: &'static str,
    ) -> Result<(), AppError> {
        attempt.succeeded = false;
        let user = user.clone();
        let now = attempt.at;
        self.store
            .write(move |tx| {
                tx.record_login_attempt(&attempt)?;
                audit(
                    tx,
                    now,
                    None,
                    "login.failed",
                    ("user", Some(user.as_str())),
                    json!({ "reason": reason }),
                )?;
                Ok::<_, AppError>(())
            })
            .await
    }

    fn today(&self) -> Date {
        self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
    }

    pub(crate) fn clinic_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.settings.clinic_time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// Self-registration: patients are active at once, doctors wait for an admin.
    pub async fn register(&self, input: RegisterInput) -> Result<UserRecord, AppError> {
        let account = parse_account(&input, self.today())?;
        if !matches!(account.role, Role::Patient | Role::Doctor) {
            return Err(AppError::invalid("role", "must be patient or doctor"));
        }
        let status = if account.role == Role::Doctor {
            UserStatus::Pending
        } else {
            UserStatus::Active
        };
        let verify = self.settings.email_verification && account.role == Role::Patient;
        let user = self.create_account(None, account, status, true).await?;
        if verify {
            self.start_email_verification(&user).await?;
        }
        Ok(user)
    }

    /// Staff create accounts: active at once, of any role the policy lets them create.
    pub async fn create_user(
        &self,
        actor: &Actor,
        input: RegisterInput,
    ) -> Result<UserRecord, AppError> {
        let account = parse_account(&input, self.today())?;
        authorize(actor, Action::CreateUser(account.role), Subject::Clinic)?;
        self.create_account(Some(actor), account, UserStatus::Active, true)
            .await
    }

    /// An account made by the operator at the command line (the first admin): no
    /// actor, any role, active at once.
    pub async fn bootstrap_user(&self, input: RegisterInput) -> Result<UserRecord, AppError> {
        let account = parse_account(&input, self.today())?;
        self.create_account(None, account, UserStatus::Active, false)
            .await
    }

    async fn create_account(
        &self,
        actor: Option<&Actor>,
        account: NewAccount,
        status: UserStatus,
        welcome: bool,
    ) -> Result<UserRecord, AppError> {
        let now = self.now();
        let user = UserRecord {
            id: UserId::new(new_id("usr")),
            email: account.email.as_str().to_owned(),
            name: account.name,
            phone: account.phone,
            date_of_birth: account.date_of_birth,
            role: account.role,
            status,
            password_hash: hash_password(account.password).await?,
            created_at: now,
            updated_at: now,
        };
        let zone = self.clinic_zone();
        let actor_id = actor.map(|a| a.user_id.clone());
        let created = user.clone();
        let notifier = self.notifier.clone();
        self.store
            .write(move |tx| {
                tx.insert_user(&user)?;
                if welcome {
                    notifier.account_created(tx, &user, now)?;
                }
                if user.role == Role::Doctor {
                    tx.upsert_doctor(&DoctorRecord::new_for(&user, zone))?;
                }
                let action = if actor_id.is_some() {
                    "user.created"
                } else {
                    "user.registered"
                };
                audit(
                    tx,
                    now,
                    actor_id.as_ref().or(Some(&user.id)),
                    action,
                    ("user", Some(user.id.as_str())),
                    json!({ "role": user.role.as_str(), "status": user.status.as_str() }),
                )?;
                Ok::<_, AppError>(())
            })
            .await?;
        if welcome {
            self.ring_outbox();
        }
        Ok(created)
    }

    pub async fn login(&self, input: LoginInput) -> Result<LoginOutcome, AppError> {
        // No account has a longer email or password, so these can only be wrong;
        // refusing them first keeps unbounded text out of `login_attempts`.
        let mut errors = ValidationErrors::new();
        if input.email.chars().count() > MAX_EMAIL_CHARS {
            errors.add(
                "email",
                format!("is longer than {MAX_EMAIL_CHARS} characters"),
            );
        }
        refuse_overlong_secrets(&mut errors, &input.password, input.otp.as_deref());
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let now = self.now();
        let email = input.email.trim().to_lowercase();
        let window_start = now - SignedDuration::from_mins(self.settings.login_window_minutes);
        let (account_failures, client_failures, user) = {
            let (email, client) = (email.clone(), input.client.clone());
            self.store
                .read(move |tx| {
                    let since_success = tx
                        .last_login_success(&email)?
                        .map_or(window_start, |t| t.max(window_start));
                    Ok::<_, AppError>((
                        tx.count_failed_logins(LoginKey::Email(&email), since_success)?,
                        tx.count_failed_logins(LoginKey::Client(&client), window_start)?,
                        tx.find_user_by_email(&email)?,
                    ))
                })
                .await?
        };
        if account_failures >= self.settings.login_max_failures_per_account
            || client_failures >= self.settings.login_max_failures_per_client
        {
            return Err(AppError::TooManyAttempts {
                retry_after_seconds: self.settings.login_window_minutes * 60,
            });
        }
        let hash = user
            .as_ref()
            .map_or(DECOY_HASH.to_owned(), |u| u.password_hash.clone());
        let verified = verify_password(input.password.clone(), hash).await && user.is_some();

        let attempt = LoginAttempt {
            email: email.clone(),
            client: input.client.clone(),
            at: now,
            succeeded: verified,
        };
        let Some(user) = user.filter(|_| verified) else {
            self.store
                .write(move |tx| {
                    tx.record_login_attempt(&attempt)?;
                    let known = tx.find_user_by_email(&attempt.email)?;
                    audit(
                        tx,
                        now,
                        None,
                        "login.failed",
                        ("user", known.as_ref().map(|u| u.id.as_str())),
                        json!({}),
                    )?;
                    Ok::<_, AppError>(())
                })
                .await?;
            return Err(AppError::InvalidCredentials);
        };
        match user.status {
            UserStatus::Active => {}
            UserStatus::Pending => {
                return Err(AppError::AccountInactive(
                    "this account is waiting for an administrator's approval",
                ));
            }
            UserStatus::Deactivated => {
                return Err(AppError::AccountInactive(
                    "this account has been deactivated",
                ));
            }
        }
        let second_factor = {
            let user_id = user.id.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.find_totp(&user_id)?))
                .await?
                .filter(|t| t.confirmed_at.is_some())
        };
        let otp = input
            .otp
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned);
        if second_factor.is_some() && otp.is_none() {
            self.record_second_factor_failure(attempt, &user.id, "otp_required")
                .await?;
            return Err(AppError::OtpRequired);
        }
        let token = random_token();
        let csrf_token = input.cookie.then(random_token);
        let session = SessionRecord {
            token_hash: sha256_hex(&token),
            user_id: user.id.clone(),
            csrf_token: csrf_token.clone(),
            created_at: now,
            expires_at: now + SignedDuration::from_hours(self.settings.session_ttl_hours),
        };
        let expires_at = session.expires_at;
        let user_id = user.id.clone();
        let second_factor = second_factor.map(|credential| (credential, otp.unwrap_or_default()));
        let failed_attempt = attempt.clone();
        let new_sign_in = self
            .settings
            .new_sign_in_email
            .then(|| (self.notifier.clone(), user.clone()));
        let used = self
            .store
            .write(move |tx| {
                let mut detail = json!({});
                if let Some((credential, code)) = &second_factor {
                    match check_second_factor(tx, credential, code, now)? {
                        Some(kind) => detail = json!({ "second_factor": kind }),
                        None => return Ok::<_, AppError>(false),
                    }
                }
                if let Some((notifier, user)) = &new_sign_in {
                    tell_of_new_sign_in(tx, notifier, user, &attempt.client, now)?;
                }
                tx.record_login_attempt(&attempt)?;
                tx.insert_session(&session)?;
                tx.delete_expired_sessions(now)?;
                audit(
                    tx,
                    now,
                    Some(&user_id),
                    "login.succeeded",
                    ("user", Some(user_id.as_str())),
                    detail,
                )?;
                Ok(true)
            })
            .await?;
        if !used {
            self.record_second_factor_failure(failed_attempt, &user.id, "invalid_otp")
                .await?;
            return Err(AppError::InvalidOtp);
        }
        if self.settings.new_sign_in_email {
            self.ring_outbox();
        }
        Ok(LoginOutcome {
            token,
            expires_at,
            csrf_token,
            user,
        })
    }

    /// Resolves a bearer token (or session cookie) to an active user.
    pub async fn authenticate(&self, token: &str) -> Result<Authenticated, AppError> {
        let hash = sha256_hex(token);
        let now = self.now();
        let require_staff_2fa = self.settings.require_staff_2fa;
        let found = self
            .store
            .read(move |tx| {
                let Some(session) = tx.find_session(&hash)? else {
                    return Ok::<_, AppError>(None);
                };
                let Some(user) = tx.find_user(&session.user_id)? else {
                    return Ok(None);
                };
                let pending = require_staff_2fa
                    && is_staff(user.role)
                    && tx
                        .find_totp(&user.id)?
                        .is_none_or(|t| t.confirmed_at.is_none());
                Ok(Some((session, user, pending)))
            })
            .await?;
        match found {
            Some((session, user, two_factor_pending))
                if session.expires_at > now && user.status == UserStatus::Active =>
            {
                Ok(Authenticated {
                    actor: Actor {
                        user_id: user.id.clone(),
                        role: user.role,
                    },
                    user,
                    session,
                    two_factor_pending,
                })
            }
            _ => Err(AppError::Unauthenticated),
        }
    }

    pub async fn logout(&self, session: &Authenticated) -> Result<(), AppError> {
        let hash = session.session.token_hash.clone();
        let user_id = session.user.id.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                tx.delete_session(&hash)?;
                audit(
                    tx,
                    now,
                    Some(&user_id),
                    "logout",
                    ("user", Some(user_id.as_str())),
                    json!({}),
                )?;
                Ok::<_, AppError>(())
            })
            .await
    }

    /// Changes the caller's password and ends every other session of theirs (and
    /// any reset link still waiting); the session that asked stays signed in.
    pub async fn change_password(
        &self,
        session: &Authenticated,
        current_password: String,
        new_password: String,
    ) -> Result<(), AppError> {
        let email = Email::parse("email", &session.user.email)?;
        let password = Password::parse("new_password", &new_password, Some(&email))?;
        if current_password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(AppError::invalid(
                "current_password",
                "is not your current password",
            ));
        }
        if !verify_password(current_password, session.user.password_hash.clone()).await {
            return Err(AppError::invalid(
                "current_password",
                "is not your current password",
            ));
        }
        let hash = hash_password(password).await?;
        let user_id = session.user.id.clone();
        let keep = session.session.token_hash.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let mut user = tx.find_user(&user_id)?.ok_or(AppError::NotFound("user"))?;
                user.password_hash = hash;
                user.updated_at = now;
                tx.update_user(&user)?;
                tx.delete_other_sessions(&user_id, &keep)?;
                tx.delete_password_resets_of(&user_id)?;
                audit(
                    tx,
                    now,
                    Some(&user_id),
                    "user.password_changed",
                    ("user", Some(user_id.as_str())),
                    json!({}),
                )?;
                Ok(())
            })
            .await
    }

    pub async fn list_users(
        &self,
        actor: &Actor,
        search: UserSearch,
        page: PageParams,
    ) -> Result<Page<UserRecord>, AppError> {
        authorize(actor, Action::ListUsers, Subject::Clinic)?;
        let mut errors = ValidationErrors::new();
        let role = search
            .role
            .as_deref()
            .map(|r| parse_role(Some(r), Role::Patient));
        let role = role.and_then(|r| errors.take(r));
        let status = search.status.as_deref().and_then(|s| {
            UserStatus::parse(s).or_else(|| {
                errors.add("status", "must be one of pending, active, deactivated");
                None
            })
        });
        let q = errors
            .take(parse_text("q", search.q.as_deref(), 200))
            .flatten();
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let mut filter = UserFilter { q, role, status };
        if actor.role == Role::Receptionist {
            filter.role = Some(Role::Patient);
        }
        let request = page.to_request()?;
        let rows = {
            let request = request.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.list_users(&filter, &request)?))
                .await?
        };
        Ok(paginate(rows, &request, |u| Cursor {
            key: u.name.clone(),
            id: u.id.to_string(),
        }))
    }

    pub async fn find_user(&self, actor: &Actor, id: UserId) -> Result<UserRecord, AppError> {
        let actor = actor.clone();
        self.store
            .read(move |tx| {
                let user = tx.find_user(&id)?.ok_or(AppError::NotFound("user"))?;
                ensure_may_view_user(tx, &actor, &user)?;
                Ok(user)
            })
            .await
    }

    /// `PATCH /users/{id}`: profile fields, role, active. Each part is authorised on
    /// its own; all of it lands or none.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: UserId,
        patch: UserPatch,
    ) -> Result<UserRecord, AppError> {
        let mut errors = ValidationErrors::new();
        let name = patch
            .name
            .as_deref()
            .map(|n| parse_name("name", n))
            .transpose();
        let name = errors.take(name).flatten();
        let phone = match &patch.phone {
            Some(Some(p)) if !p.trim().is_empty() => errors.take(parse_phone("phone", p)).map(Some),
            Some(_) => Some(None),
            None => None,
        };
        let date_of_birth = match &patch.date_of_birth {
            Some(Some(d)) if !d.is_empty() => {
                errors.take(parse_date_of_birth(d, self.today())).map(Some)
            }
            Some(_) => Some(None),
            None => None,
        };
        let role = match patch.role.as_deref() {
            Some(r) => errors.take(parse_role(Some(r), Role::Patient)),
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let actor = actor.clone();
        let now = self.now();
        let zone = self.clinic_zone();
        self.store
            .write(move |tx| {
                let before = tx.find_user(&id)?.ok_or(AppError::NotFound("user"))?;
                ensure_may_view_user(tx, &actor, &before)?;
                let subject = Subject::User {
                    id: &before.id,
                    role: before.role,
                    treated_by_actor: false,
                };
                let mut user = before.clone();
                if name.is_some() || phone.is_some() || date_of_birth.is_some() {
                    authorize(&actor, Action::UpdateUserProfile, subject)?;
                    user.name = name.unwrap_or(user.name);
                    user.phone = phone.unwrap_or(user.phone);
                    user.date_of_birth = date_of_birth.unwrap_or(user.date_of_birth);
                }
                if let Some(role) = role.filter(|r| *r != before.role) {
                    authorize(&actor, Action::ChangeRole, subject)?;
                    user.role = role;
                    if role == Role::Doctor && tx.find_doctor(&user.id)?.is_none() {
                        tx.upsert_doctor(&DoctorRecord::new_for(&user, zone.clone()))?;
                    }
                    audit(
                        tx,
                        now,
                        Some(&actor.user_id),
                        "user.role_changed",
                        ("user", Some(user.id.as_str())),
                        json!({ "from": before.role.as_str(), "to": role.as_str() }),
                    )?;
                }
                if let Some(active) = patch.active {
                    let status = match (active, before.status) {
                        (false, _) => UserStatus::Deactivated,
                        (true, UserStatus::Pending) => UserStatus::Pending,
                        (true, _) => UserStatus::Active,
                    };
                    if status != before.status {
                        authorize(&actor, Action::SetUserActive, subject)?;
                        user.status = status;
                        if status == UserStatus::Deactivated {
                            tx.delete_sessions_of(&user.id)?;
                        }
                        let action = if active {
                            "user.reactivated"
                        } else {
                            "user.deactivated"
                        };
                        audit(
                            tx,
                            now,
                            Some(&actor.user_id),
                            action,
                            ("user", Some(user.id.as_str())),
                            json!({}),
                        )?;
                    }
                }
                if user != before {
                    user.updated_at = now;
                    tx.update_user(&user)?;
                }
                Ok(user)
            })
            .await
    }

    pub async fn approve_doctor(&self, actor: &Actor, id: UserId) -> Result<UserRecord, AppError> {
        // Before the lookup: refusing a non-admin only for accounts that exist would
        // tell anyone which ids exist, which `find_user` hides behind a 404.
        authorize(actor, Action::ApproveDoctor, Subject::Doctor(&id))?;
        let actor = actor.clone();
        let now = self.now();
        let notifier = self.notifier.clone();
        let approved = self
            .store
            .write(move |tx| {
                let mut user = tx.find_user(&id)?.ok_or(AppError::NotFound("user"))?;
                // Any account may be named; only a pending doctor can be approved (409 otherwise).
                if user.role != Role::Doctor || user.status != UserStatus::Pending {
                    return Err(AppError::conflict(
                        ConflictKind::NotPending,
                        "only a pending doctor can be approved",
                    ));
                }
                user.status = UserStatus::Active;
                user.updated_at = now;
                tx.update_user(&user)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "doctor.approved",
                    ("user", Some(user.id.as_str())),
                    json!({}),
                )?;
                notifier.doctor_approved(tx, &user, now)?;
                Ok::<_, AppError>(user)
            })
            .await?;
        self.ring_outbox();
        Ok(approved)
    }

    pub async fn list_audit(
        &self,
        actor: &Actor,
        search: AuditSearch,
        page: PageParams,
    ) -> Result<Page<AuditEntry>, AppError> {
        authorize(actor, Action::ReadAudit, Subject::Clinic)?;
        let mut errors = ValidationErrors::new();
        let from = search
            .from
            .as_deref()
            .and_then(|v| errors.take(parse_instant("from", v)));
        let to = search
            .to
            .as_deref()
            .and_then(|v| errors.take(parse_instant("to", v)));
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let filter = AuditFilter {
            actor_id: search.actor_id.map(UserId::new),
            subject_id: search.subject_id,
            action: search.action,
            from,
            to,
        };
        let request = page.to_request()?;
        let rows = {
            let request = request.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.list_audit(&filter, &request)?))
                .await?
        };
        Ok(paginate(rows, &request, |e| Cursor {
            key: String::new(),
            id: e.id.to_string(),
        }))
    }
}

/// Hides accounts the actor may not see behind a 404, so their existence leaks not.
fn ensure_may_view_user(tx: &mut dyn Tx, actor: &Actor, user: &UserRecord) -> Result<(), AppError> {
    let treated_by_actor = actor.role == Role::Doctor
        && user.role == Role::Patient
        && tx.have_met(&actor.user_id, &user.id)?;
    let subject = Subject::User {
        id: &user.id,
        role: user.role,
        treated_by_actor,
    };
    authorize(actor, Action::ViewUser, subject).map_err(|_| AppError::NotFound("user"))
}
