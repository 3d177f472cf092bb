//! Sign-in with an OpenID Connect provider (Google, or any other): the use cases.
//!
//! The protocol (discovery, PKCE, the code exchange, the ID token's signature and
//! claims) is `crate::oidc`'s; here is what a verified identity means for carebook:
//!
//! - an identity (issuer, subject) already linked to an account signs that account in;
//! - otherwise a **verified** e-mail address of an existing account links to it only
//!   after the account's password is given once (a provider account with the same
//!   address is not proof enough that it is the same person);
//! - otherwise a verified address makes a new patient account;
//! - an unverified address neither links nor creates;
//! - staff (doctor, receptionist, admin) only when `oidc_staff_allowed`, and
//!   whoever has two-factor authentication on still gives their code.
//!
//! The sign-in under way and the steps waiting for a password or a code live in the
//! database (any instance may finish them) and are bound to the browser by a cookie
//! whose SHA-256 they store; each is used once.

use carebook_domain::validation::{Email, Password, parse_name};
use carebook_domain::{Role, UserStatus, ValidationErrors};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::accounts::{is_staff, refuse_overlong_secrets, verify_password};
use super::security::{MAX_OTP_CHARS, check_second_factor, tell_of_new_sign_in};
use super::{
    App, AppError, LoginOutcome, Notifier, audit, hash_password, new_id, random_token, sha256_hex,
};
use crate::oidc::{IdentityClaims, OidcError, Provider};
use crate::store::{
    EmailVerification, LoginAttempt, LoginKey, OidcIdentity, OidcLogin, OidcPending,
    OidcPendingKind, SessionRecord, TotpCredential, Tx, UserId, UserRecord,
};

/// How long the provider's round trip, and each step after it, may take.
pub const OIDC_STEP_MINUTES: i64 = 10;

/// Why a sign-in with the provider did not work. Each says what happened in words
/// for the person signing in; none reveals whether an account exists beyond what
/// the flow itself shows its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcRefusal {
    /// Sign-in with a provider is not configured here.
    NotConfigured,
    /// The provider (or the person, at the provider) said no.
    ProviderRefused,
    /// The provider cannot be reached or answered nonsense.
    ProviderUnavailable,
    /// The sign-in is unknown, was used already, or was started in another browser.
    StateInvalid,
    /// The round trip took longer than [`OIDC_STEP_MINUTES`].
    StateExpired,
    /// The code was refused or the ID token failed a check.
    TokenInvalid,
    /// No linked account, and the provider did not vouch for the e-mail address.
    EmailUnverified,
    /// A staff account, and `oidc_staff_allowed` is off.
    StaffNotAllowed,
    /// The password or code step is unknown, used or expired.
    StepExpired,
}

impl OidcRefusal {
    pub fn slug(self) -> &'static str {
        match self {
            OidcRefusal::NotConfigured => "not-found",
            OidcRefusal::StaffNotAllowed => "oidc-staff-not-allowed",
            OidcRefusal::StepExpired => "oidc-step-expired",
            OidcRefusal::ProviderUnavailable => "oidc-provider-unavailable",
            _ => "oidc-refused",
        }
    }

    pub fn message(self) -> String {
        match self {
            OidcRefusal::NotConfigured => "signing in with another provider is not set up here",
            OidcRefusal::ProviderRefused => {
                "the sign-in was cancelled or refused at the provider; nothing was changed"
            }
            OidcRefusal::ProviderUnavailable => {
                "the sign-in provider cannot be reached right now; please try again shortly"
            }
            OidcRefusal::StateInvalid => {
                "this sign-in is not valid here (it was used already, or started in another browser); please start again"
            }
            OidcRefusal::StateExpired => "this sign-in took too long and expired; please start again",
            OidcRefusal::TokenInvalid => {
                "the provider's answer could not be verified, so nobody was signed in; please try again"
            }
            OidcRefusal::EmailUnverified => {
                "the provider has not verified your e-mail address, so it cannot be used to sign in here; verify it with the provider, or sign in with your password"
            }
            OidcRefusal::StaffNotAllowed => {
                "staff accounts sign in with their password here; the clinic has not allowed signing in with a provider for staff"
            }
            OidcRefusal::StepExpired => {
                "this sign-in step expired or was finished already; please start the sign-in again"
            }
        }
        .to_owned()
    }
}

impl From<OidcRefusal> for AppError {
    fn from(refusal: OidcRefusal) -> Self {
        AppError::OidcRefused(refusal)
    }
}

/// Where to send the browser, and the cookie that binds the sign-in to it.
#[derive(Debug, Clone)]
pub struct OidcStart {
    pub authorization_url: String,
    /// Set as a short-lived cookie; the callback must bring it back.
    pub browser_secret: String,
}

/// What came back to `/auth/oidc/callback`.
#[derive(Debug, Clone, Default)]
pub struct OidcCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's `error` (e.g. `access_denied`).
    pub error: Option<String>,
    /// The cookie set at the start.
    pub browser_secret: Option<String>,
    /// The client's address, for login throttling.
    pub client: String,
}

/// How a provider's sign-in went on.
#[derive(Debug, Clone)]
pub enum OidcOutcome {
    /// A session (a cookie session: it has a CSRF token).
    SignedIn {
        login: Box<LoginOutcome>,
        next: Option<String>,
    },
    /// An account with the verified address exists: its password links it. The
    /// secret goes into a cookie; the step expires after [`OIDC_STEP_MINUTES`].
    NeedsPassword { secret: String },
    /// The account has two-factor authentication on: the code finishes it.
    NeedsCode { secret: String },
}

/// `POST /api/v1/auth/oidc/link` and its form.
#[derive(Debug, Clone)]
pub struct OidcLinkInput {
    /// The pending step's cookie.
    pub secret: Option<String>,
    pub password: String,
    /// The authenticator code, for an account with two-factor authentication on.
    pub otp: Option<String>,
    pub client: String,
}

/// What the link and code pages learn about the step waiting in this browser:
/// only its kind (whether the account has two-factor on is shown only once the
/// password was right, as on the login page).
#[derive(Debug, Clone)]
pub struct OidcPendingView {
    pub kind: OidcPendingKind,
}

fn is_plausible_secret(value: &str) -> bool {
    !value.is_empty() && value.len() <= 256
}

impl App {
    /// The provider's name for the sign-in button ("Google", or the issuer's host),
    /// when sign-in with a provider is configured.
    pub fn oidc_provider_name(&self) -> Option<String> {
        self.oidc.as_ref().map(|p| p.display_name())
    }

    fn oidc_provider(&self) -> Result<&Provider, AppError> {
        self.oidc
            .as_deref()
            .ok_or(AppError::OidcRefused(OidcRefusal::NotConfigured))
    }

    /// Starts a sign-in: records it (state, nonce, PKCE verifier, where to go next)
    /// and answers where to send the browser. `next` must already be a local path.
    pub async fn start_oidc_sign_in(&self, next: Option<String>) -> Result<OidcStart, AppError> {
        let provider = self.oidc_provider()?;
        let state = random_token();
        let nonce = random_token();
        let code_verifier = random_token();
        let browser_secret = random_token();
        let authorization_url = provider
            .authorization_url(&state, &nonce, &code_verifier)
            .await
            .map_err(|error| provider_failure(&error))?;
        let now = self.now();
        let login = OidcLogin {
            state_hash: sha256_hex(&state),
            browser_hash: sha256_hex(&browser_secret),
            nonce,
            code_verifier,
            next_path: next,
            created_at: now,
            expires_at: now + SignedDuration::from_mins(OIDC_STEP_MINUTES),
        };
        self.store
            .write(move |tx| Ok::<_, AppError>(tx.insert_oidc_login(&login)?))
            .await?;
        Ok(OidcStart {
            authorization_url,
            browser_secret,
        })
    }

    /// Finishes a sign-in at the callback: uses up the recorded sign-in (once, in
    /// this browser, in time), trades the code for the ID token, verifies it, and
    /// signs in, asks for the password (to link) or the code (two-factor), or
    /// creates a patient account.
    pub async fn finish_oidc_sign_in(
        &self,
        callback: OidcCallback,
    ) -> Result<OidcOutcome, AppError> {
        let provider = self.oidc_provider()?;
        let state = callback
            .state
            .filter(|s| is_plausible_secret(s))
            .ok_or(OidcRefusal::StateInvalid)?;
        let state_hash = sha256_hex(&state);
        let login = self
            .store
            .write(move |tx| Ok::<_, AppError>(tx.take_oidc_login(&state_hash)?))
            .await?
            .ok_or(OidcRefusal::StateInvalid)?;
        let same_browser = callback
            .browser_secret
            .as_deref()
            .filter(|s| is_plausible_secret(s))
            .is_some_and(|secret| sha256_hex(secret) == login.browser_hash);
        if !same_browser {
            tracing::warn!("oidc sign-in refused: finished in another browser than it started");
            return Err(OidcRefusal::StateInvalid.into());
        }
        let now = self.now();
        if login.expires_at <= now {
            return Err(OidcRefusal::StateExpired.into());
        }
        if let Some(error) = callback.error {
            let error: String = error
                .chars()
                .filter(char::is_ascii_graphic)
                .take(64)
                .collect();
            tracing::info!(error = %error, "oidc sign-in refused by the provider");
            return Err(OidcRefusal::ProviderRefused.into());
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or(OidcRefusal::TokenInvalid)?;
        let id_token = provider
            .exchange_code(&code, &login.code_verifier)
            .await
            .map_err(|error| provider_failure(&error))?;
        let claims = provider
            .verify_id_token(&id_token, &login.nonce, now)
            .await
            .map_err(|error| provider_failure(&error))?;
        self.resolve_identity(claims, login.next_path, callback.client)
            .await
    }

    /// A verified identity: its account, a link to wait for, or a new account.
    async fn resolve_identity(
        &self,
        claims: IdentityClaims,
        next: Option<String>,
        client: String,
    ) -> Result<OidcOutcome, AppError> {
        let email = claims
            .email
            .as_deref()
            .filter(|_| claims.email_verified)
            .and_then(|e| Email::parse("email", e).ok());
        let (issuer, subject) = (claims.issuer.clone(), claims.subject.clone());
        let lookup_email = email.as_ref().map(|e| e.as_str().to_owned());
        let (linked, by_email) = self
            .store
            .read(move |tx| {
                let linked = match tx.find_oidc_identity(&issuer, &subject)? {
                    Some(identity) => tx.find_user(&identity.user_id)?,
                    None => None,
                };
                let by_email = match (&linked, lookup_email) {
                    (None, Some(email)) => tx.find_user_by_email(&email)?,
                    _ => None,
                };
                Ok::<_, AppError>((linked, by_email))
            })
            .await?;
        if let Some(user) = linked {
            return self.oidc_session_or_code(user, &claims, next, client).await;
        }
        let Some(email) = email else {
            return Err(OidcRefusal::EmailUnverified.into());
        };
        if let Some(user) = by_email {
            self.ensure_may_use_oidc(&user)?;
            let secret = random_token();
            self.insert_pending(OidcPendingKind::Link, &user.id, &claims, next, &secret)
                .await?;
            return Ok(OidcOutcome::NeedsPassword { secret });
        }
        let user = self.create_oidc_patient(&claims, email).await?;
        self.oidc_session_or_code(user, &claims, next, client).await
    }

    fn ensure_may_use_oidc(&self, user: &UserRecord) -> Result<(), AppError> {
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
        if is_staff(user.role) && !self.settings.oidc_staff_allowed {
            return Err(OidcRefusal::StaffNotAllowed.into());
        }
        Ok(())
    }

    async fn insert_pending(
        &self,
        kind: OidcPendingKind,
        user: &UserId,
        claims: &IdentityClaims,
        next: Option<String>,
        secret: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let pending = OidcPending {
            token_hash: sha256_hex(secret),
            kind,
            user_id: user.clone(),
            issuer: claims.issuer.clone(),
            subject: claims.subject.clone(),
            next_path: next,
            created_at: now,
            expires_at: now + SignedDuration::from_mins(OIDC_STEP_MINUTES),
        };
        self.store
            .write(move |tx| Ok::<_, AppError>(tx.insert_oidc_pending(&pending)?))
            .await
    }

    /// A new patient from the provider's claims: the verified address (marked
    /// verified), the name, and a password nobody knows (an Argon2 hash of random
    /// bytes), so password sign-in stays impossible until a reset.
    async fn create_oidc_patient(
        &self,
        claims: &IdentityClaims,
        email: Email,
    ) -> Result<UserRecord, AppError> {
        let local_part = email.as_str().split('@').next().unwrap_or("").to_owned();
        let name = claims
            .name
            .as_deref()
            .and_then(|n| parse_name("name", n).ok())
            .or_else(|| parse_name("name", &local_part).ok())
            .unwrap_or_else(|| "Patient".to_owned());
        let unusable = Password::parse("password", &random_token(), None)
            .map_err(|_| AppError::Internal("a random password was refused".into()))?;
        let now = self.now();
        let user = UserRecord {
            id: UserId::new(new_id("usr")),
            email: email.as_str().to_owned(),
            name,
            phone: None,
            date_of_birth: None,
            role: Role::Patient,
            status: UserStatus::Active,
            password_hash: hash_password(unusable).await?,
            created_at: now,
            updated_at: now,
        };
        let identity = OidcIdentity {
            issuer: claims.issuer.clone(),
            subject: claims.subject.clone(),
            user_id: user.id.clone(),
            created_at: now,
        };
        let notifier = self.notifier();
        let created = user.clone();
        self.store
            .write(move |tx| {
                tx.insert_user(&user)?;
                // The provider vouched for the address: nothing waits for a link.
                tx.upsert_email_verification(&EmailVerification {
                    user_id: user.id.clone(),
                    token_hash: None,
                    created_at: now,
                    expires_at: now,
                    verified_at: Some(now),
                })?;
                tx.insert_oidc_identity(&identity)?;
                notifier.account_created(tx, &user, now)?;
                audit(
                    tx,
                    now,
                    Some(&user.id),
                    "user.registered",
                    ("user", Some(user.id.as_str())),
                    json!({
                        "role": user.role.as_str(),
                        "status": user.status.as_str(),
                        "method": "oidc",
                        "issuer": identity.issuer,
                    }),
                )?;
                Ok::<_, AppError>(())
            })
            .await?;
        self.ring_outbox();
        Ok(created)
    }

    /// An account the identity belongs to: a session, or the two-factor step first.
    async fn oidc_session_or_code(
        &self,
        user: UserRecord,
        claims: &IdentityClaims,
        next: Option<String>,
        client: String,
    ) -> Result<OidcOutcome, AppError> {
        self.ensure_may_use_oidc(&user)?;
        if self.confirmed_totp(&user.id).await?.is_some() {
            let secret = random_token();
            self.insert_pending(
                OidcPendingKind::SecondFactor,
                &user.id,
                claims,
                next,
                &secret,
            )
            .await?;
            return Ok(OidcOutcome::NeedsCode { secret });
        }
        let now = self.now();
        let session = new_session(&user.id, now, self.settings.session_ttl_hours);
        let record = session.record.clone();
        let attempt = LoginAttempt {
            email: user.email.clone(),
            client,
            at: now,
            succeeded: true,
        };
        let (signed, issuer) = (user.clone(), claims.issuer.clone());
        let notifier = self.new_sign_in_notifier();
        self.store
            .write(move |tx| {
                start_session(
                    tx,
                    &record,
                    &attempt,
                    &signed,
                    notifier.as_deref(),
                    json!({ "method": "oidc", "issuer": issuer }),
                )
            })
            .await?;
        self.ring_outbox_if_told();
        Ok(OidcOutcome::SignedIn {
            login: Box::new(session.outcome(user)),
            next,
        })
    }

    async fn confirmed_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, AppError> {
        let user = user.clone();
        Ok(self
            .store
            .read(move |tx| Ok::<_, AppError>(tx.find_totp(&user)?))
            .await?
            .filter(|t| t.confirmed_at.is_some()))
    }

    /// The step waiting in this browser, if any and still in time.
    pub async fn find_oidc_pending(
        &self,
        secret: Option<&str>,
    ) -> Result<Option<OidcPendingView>, AppError> {
        let Some(secret) = secret.filter(|s| is_plausible_secret(s)) else {
            return Ok(None);
        };
        Ok(self
            .pending_step(secret)
            .await?
            .map(|(pending, _)| OidcPendingView { kind: pending.kind }))
    }

    async fn pending_step(
        &self,
        secret: &str,
    ) -> Result<Option<(OidcPending, UserRecord)>, AppError> {
        let hash = sha256_hex(secret);
        let now = self.now();
        self.store
            .read(move |tx| {
                let Some(pending) = tx.find_oidc_pending(&hash)? else {
                    return Ok::<_, AppError>(None);
                };
                if pending.expires_at <= now {
                    return Ok(None);
                }
                Ok(tx.find_user(&pending.user_id)?.map(|user| (pending, user)))
            })
            .await
    }

    /// Refuses with 429 when the account or the client address failed too often,
    /// exactly as a password login would.
    async fn ensure_not_throttled(&self, email: &str, client: &str) -> Result<(), AppError> {
        let now = self.now();
        let window_start = now - SignedDuration::from_mins(self.settings.login_window_minutes);
        let (email, client) = (email.to_owned(), client.to_owned());
        let (account, address) = self
            .store
            .read(move |tx| {
                let since_success = tx
                    .last_login_success(&email)?
                    .map_or(window_start, |t| t.max(window_start));
                Ok::<_, AppError>((
                    tx.count_failed_logins(LoginKey::Email(&email), since_success)?,
                    tx.count_failed_logins(LoginKey::Client(&client), window_start)?,
                ))
            })
            .await?;
        if account >= self.settings.login_max_failures_per_account
            || address >= self.settings.login_max_failures_per_client
        {
            return Err(AppError::TooManyAttempts {
                retry_after_seconds: self.settings.login_window_minutes * 60,
            });
        }
        Ok(())
    }

    /// The password step: the account's password (and code, when it has two-factor
    /// authentication on) links the provider's identity to it and signs in. A wrong
    /// password is a failed login (throttled like one) and links nothing.
    pub async fn link_oidc_identity(&self, input: OidcLinkInput) -> Result<OidcOutcome, AppError> {
        // As at login: no account has a longer password or code, so these can only
        // be wrong, and they are refused before anything is read or counted.
        let mut errors = ValidationErrors::new();
        refuse_overlong_secrets(&mut errors, &input.password, input.otp.as_deref());
        if !errors.is_empty() {
            return Err(errors.into());
        }
        self.oidc_provider()?;
        let secret = input
            .secret
            .filter(|s| is_plausible_secret(s))
            .ok_or(OidcRefusal::StepExpired)?;
        let (pending, user) = self
            .pending_step(&secret)
            .await?
            .filter(|(p, _)| p.kind == OidcPendingKind::Link)
            .ok_or(OidcRefusal::StepExpired)?;
        self.ensure_not_throttled(&user.email, &input.client)
            .await?;
        let now = self.now();
        let attempt = LoginAttempt {
            email: user.email.clone(),
            client: input.client.clone(),
            at: now,
            succeeded: false,
        };
        let right = verify_password(input.password, user.password_hash.clone()).await;
        if !right {
            let user_id = user.id.clone();
            self.store
                .write(move |tx| {
                    tx.record_login_attempt(&attempt)?;
                    audit(
                        tx,
                        now,
                        None,
                        "login.failed",
                        ("user", Some(user_id.as_str())),
                        json!({ "method": "oidc_link" }),
                    )?;
                    Ok::<_, AppError>(())
                })
                .await?;
            return Err(AppError::InvalidCredentials);
        }
        self.ensure_may_use_oidc(&user)?;
        let second_factor = self.second_factor_input(&user, input.otp, &attempt).await?;
        let session = new_session(&user.id, now, self.settings.session_ttl_hours);
        let record = session.record.clone();
        let (user_id, hash) = (user.id.clone(), pending.token_hash.clone());
        let (signed, notifier) = (user.clone(), self.new_sign_in_notifier());
        let identity = OidcIdentity {
            issuer: pending.issuer.clone(),
            subject: pending.subject.clone(),
            user_id: user.id.clone(),
            created_at: now,
        };
        let success = LoginAttempt {
            succeeded: true,
            ..attempt.clone()
        };
        let done = self
            .store
            .write(move |tx| {
                let mut detail = json!({ "method": "oidc", "issuer": identity.issuer });
                if let Some((credential, code)) = &second_factor {
                    match check_second_factor(tx, credential, code, now)? {
                        Some(kind) => detail["second_factor"] = json!(kind),
                        None => return Ok::<_, AppError>(Some(false)),
                    }
                }
                if tx.take_oidc_pending(&hash)?.is_none() {
                    return Ok(None);
                }
                tx.insert_oidc_identity(&identity)?;
                // The provider vouched for the address and the password for the
                // account: an open e-mail verification is done.
                tx.complete_email_verification(&user_id, now)?;
                audit(
                    tx,
                    now,
                    Some(&user_id),
                    "user.oidc_linked",
                    ("user", Some(user_id.as_str())),
                    json!({ "issuer": identity.issuer }),
                )?;
                start_session(tx, &record, &success, &signed, notifier.as_deref(), detail)?;
                Ok(Some(true))
            })
            .await?;
        self.finish_step(done, session, user, pending.next_path, attempt)
            .await
    }

    /// The two-factor step after the provider: the code (or a recovery code) of an
    /// account with two-factor authentication on. Missing and wrong codes are
    /// failed logins.
    pub async fn finish_oidc_second_factor(
        &self,
        secret: Option<String>,
        otp: Option<String>,
        client: String,
    ) -> Result<OidcOutcome, AppError> {
        self.oidc_provider()?;
        let secret = secret
            .filter(|s| is_plausible_secret(s))
            .ok_or(OidcRefusal::StepExpired)?;
        let (pending, user) = self
            .pending_step(&secret)
            .await?
            .filter(|(p, _)| p.kind == OidcPendingKind::SecondFactor)
            .ok_or(OidcRefusal::StepExpired)?;
        self.ensure_not_throttled(&user.email, &client).await?;
        self.ensure_may_use_oidc(&user)?;
        let now = self.now();
        let attempt = LoginAttempt {
            email: user.email.clone(),
            client,
            at: now,
            succeeded: false,
        };
        let Some(second_factor) = self.second_factor_input(&user, otp, &attempt).await? else {
            // Two-factor was turned off meanwhile: the provider's word is enough.
            let hash = pending.token_hash.clone();
            self.store
                .write(move |tx| Ok::<_, AppError>(tx.take_oidc_pending(&hash)?))
                .await?
                .ok_or(OidcRefusal::StepExpired)?;
            let claims = IdentityClaims {
                issuer: pending.issuer,
                subject: pending.subject,
                email: None,
                email_verified: false,
                name: None,
            };
            return self
                .oidc_session_or_code(user, &claims, pending.next_path, attempt.client)
                .await;
        };
        let session = new_session(&user.id, now, self.settings.session_ttl_hours);
        let record = session.record.clone();
        let (hash, issuer) = (pending.token_hash.clone(), pending.issuer.clone());
        let (signed, notifier) = (user.clone(), self.new_sign_in_notifier());
        let success = LoginAttempt {
            succeeded: true,
            ..attempt.clone()
        };
        let done = self
            .store
            .write(move |tx| {
                let (credential, code) = &second_factor;
                let Some(kind) = check_second_factor(tx, credential, code, now)? else {
                    return Ok::<_, AppError>(Some(false));
                };
                if tx.take_oidc_pending(&hash)?.is_none() {
                    return Ok(None);
                }
                let detail = json!({ "method": "oidc", "issuer": issuer, "second_factor": kind });
                start_session(tx, &record, &success, &signed, notifier.as_deref(), detail)?;
                Ok(Some(true))
            })
            .await?;
        self.finish_step(done, session, user, pending.next_path, attempt)
            .await
    }

    /// The credential and code to check, when the account has two-factor on; a
    /// missing or overlong code is a failed login already.
    async fn second_factor_input(
        &self,
        user: &UserRecord,
        otp: Option<String>,
        attempt: &LoginAttempt,
    ) -> Result<Option<(TotpCredential, String)>, AppError> {
        let Some(credential) = self.confirmed_totp(&user.id).await? else {
            return Ok(None);
        };
        let otp = otp.map(|o| o.trim().to_owned()).filter(|o| !o.is_empty());
        match otp {
            None => {
                self.record_second_factor_failure(attempt.clone(), &user.id, "otp_required")
                    .await?;
                Err(AppError::OtpRequired)
            }
            Some(code) if code.chars().count() > MAX_OTP_CHARS => {
                self.record_second_factor_failure(attempt.clone(), &user.id, "invalid_otp")
                    .await?;
                Err(AppError::InvalidOtp)
            }
            Some(code) => Ok(Some((credential, code))),
        }
    }

    /// The notifier, when `new_sign_in_email` asks for sign-ins to be told.
    fn new_sign_in_notifier(&self) -> Option<std::sync::Arc<Notifier>> {
        self.settings.new_sign_in_email.then(|| self.notifier())
    }

    /// After a sign-in committed: its e-mail, if any, goes out now.
    fn ring_outbox_if_told(&self) {
        if self.settings.new_sign_in_email {
            self.ring_outbox();
        }
    }

    /// The identities linked to an account (issuer and subject only).
    pub async fn oidc_identities_of(&self, user: &UserId) -> Result<Vec<OidcIdentity>, AppError> {
        let user = user.clone();
        self.store
            .read(move |tx| Ok::<_, AppError>(tx.list_oidc_identities_of(&user)?))
            .await
    }
}

/// A session about to be made: the token (returned once) and its row.
struct NewSession {
    token: String,
    csrf_token: String,
    record: SessionRecord,
}

impl NewSession {
    fn outcome(self, user: UserRecord) -> LoginOutcome {
        LoginOutcome {
            token: self.token,
            expires_at: self.record.expires_at,
            csrf_token: Some(self.csrf_token),
            user,
        }
    }
}

impl App {
    /// The answer to a pending step's write: `Some(true)` signed in, `Some(false)` a
    /// wrong code (counted like a login's), `None` the step was already used or gone.
    async fn finish_step(
        &self,
        done: Option<bool>,
        session: NewSession,
        user: UserRecord,
        next: Option<String>,
        attempt: LoginAttempt,
    ) -> Result<OidcOutcome, AppError> {
        match done {
            Some(true) => {
                self.ring_outbox_if_told();
                Ok(OidcOutcome::SignedIn {
                    login: Box::new(session.outcome(user)),
                    next,
                })
            }
            Some(false) => {
                self.record_second_factor_failure(attempt, &user.id, "invalid_otp")
                    .await?;
                Err(AppError::InvalidOtp)
            }
            None => Err(OidcRefusal::StepExpired.into()),
        }
    }
}

/// Sign-in with a provider happens in a browser, so its session is a cookie
/// session with a CSRF token.
fn new_session(user: &UserId, now: Timestamp, ttl_hours: i64) -> NewSession {
    let token = random_token();
    let csrf_token = random_token();
    NewSession {
        record: SessionRecord {
            token_hash: sha256_hex(&token),
            user_id: user.clone(),
            csrf_token: Some(csrf_token.clone()),
            created_at: now,
            expires_at: now + SignedDuration::from_hours(ttl_hours),
        },
        token,
        csrf_token,
    }
}

/// Records the successful login, the session and its audit row; with
/// `new_sign_in` (the setting is on), first e-mails the owner about a sign-in from
/// a new address.
fn start_session(
    tx: &mut dyn Tx,
    record: &SessionRecord,
    attempt: &LoginAttempt,
    signed: &UserRecord,
    new_sign_in: Option<&Notifier>,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    if let Some(notifier) = new_sign_in {
        tell_of_new_sign_in(tx, notifier, signed, &attempt.client, attempt.at)?;
    }
    let user = &signed.id;
    tx.record_login_attempt(attempt)?;
    tx.insert_session(record)?;
    tx.delete_expired_sessions(attempt.at)?;
    audit(
        tx,
        attempt.at,
        Some(user),
        "login.succeeded",
        ("user", Some(user.as_str())),
        detail,
    )?;
    Ok(())
}

/// Logs what went wrong with the provider (the operator's business) and answers
/// what the person signing in is told.
fn provider_failure(error: &OidcError) -> AppError {
    tracing::warn!(error = %error, "oidc sign-in failed");
    match error {
        OidcError::Unavailable(_) => OidcRefusal::ProviderUnavailable,
        OidcError::Refused(_) | OidcError::InvalidToken(_) => OidcRefusal::TokenInvalid,
    }
    .into()
}
