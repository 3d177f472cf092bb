//! Account security: password reset by email, email verification, and two-factor
//! authentication (TOTP with recovery codes). See `docs/SECURITY.md`.
//!
//! Tokens and recovery codes are random and stored only as SHA-256 hashes; a TOTP
//! secret must be readable to check codes, so it is stored as it is. Nothing here
//! logs a token, a code, a secret or a password, and audit rows carry none.

use carebook_domain::UserStatus;
use carebook_domain::validation::{Email, MAX_PASSWORD_CHARS, Password};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::accounts::{hash_password, is_staff, verify_password};
use super::totp;
use super::{App, AppError, Authenticated, ConflictKind, audit, random_token, sha256_hex};
use crate::notify::NoticeKind;
use crate::store::{
    EmailVerification, LoginKey, PasswordReset, ResetRequest, TotpCredential, Tx, UserId,
    UserRecord,
};

/// A reset link works this long.
pub const RESET_TOKEN_TTL: SignedDuration = SignedDuration::from_hours(1);
/// A verification link works this long; a new one can be asked for at any time.
pub const VERIFICATION_TOKEN_TTL: SignedDuration = SignedDuration::from_hours(48);
/// Recovery codes made when two-factor authentication is turned on.
pub const RECOVERY_CODES: usize = 10;

/// What the caller's account has turned on, and what the clinic asks of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityStatus {
    /// `false` only for an account that must still confirm its address.
    pub email_verified: bool,
    pub two_factor_enabled: bool,
    /// A secret was issued and waits for its first code.
    pub two_factor_pending_confirmation: bool,
    /// The clinic requires two-factor authentication of this account.
    pub two_factor_required: bool,
    pub recovery_codes_left: i64,
}

/// A new TOTP secret, for the authenticator app.
#[derive(Debug, Clone)]
pub struct TwoFactorSetup {
    /// Base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/...`, for a QR code or a tap on a phone.
    pub otpauth_uri: String,
}

/// A recovery code as shown: four groups of four base32 characters.
fn new_recovery_code() -> String {
    let text = totp::base32_encode(&super::random_bytes::<10>()).to_lowercase();
    text.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

/// The hash a recovery code is stored as: case, spaces and dashes do not matter.
fn recovery_code_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    sha256_hex(&format!("recovery:{normal}"))
}

/// Checks a second factor inside the caller's transaction and uses it up: a TOTP
/// code of a step not used before (the step is recorded), or an unused recovery
/// code (marked used). `Some("totp")` or `Some("recovery_code")` when accepted.
pub(crate) fn check_second_factor(
    tx: &mut dyn Tx,
    credential: &TotpCredential,
    code: &str,
    now: Timestamp,
) -> Result<Option<&'static str>, AppError> {
    let code = code.trim();
    if code.len() == totp::DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit()) {
        let Some(step) = totp::matching_step(&credential.secret, code, now) else {
            return Ok(None);
        };
        return Ok(tx
            .advance_totp_step(&credential.user_id, step)?
            .then_some("totp"));
    }
    if code.len() > 64 {
        return Ok(None);
    }
    Ok(tx
        .use_recovery_code(&credential.user_id, &recovery_code_hash(code), now)?
        .then_some("recovery_code"))
}

/// Whether the address of `user` waits for confirmation (only self-registered
/// patients' ever do, and only while `email_verification` is on: the caller checks
/// the setting).
/// `new_sign_in_email`: called in a successful sign-in's transaction before the
/// sign-in is recorded. An account that signed in before, but never from
/// `client`, is told by e-mail (with the password-reset page, should it not have
/// been them). The very first sign-in of an account tells nobody. `true` when an
/// e-mail was queued (ring the outbox after the commit).
pub(crate) fn tell_of_new_sign_in(
    tx: &mut dyn Tx,
    notifier: &super::Notifier,
    user: &crate::store::UserRecord,
    client: &str,
    now: Timestamp,
) -> Result<bool, AppError> {
    let (ever, from_here) = tx.has_signed_in_from(&user.email, client)?;
    if !ever || from_here {
        return Ok(false);
    }
    let link = format!("{}/password-reset", notifier.base_url());
    notifier.security_email(tx, NoticeKind::NewSignIn, user, link, now)?;
    Ok(true)
}

pub(crate) fn unverified(tx: &mut dyn Tx, user: &UserId) -> Result<bool, AppError> {
    Ok(tx
        .find_email_verification(user)?
        .is_some_and(|v| v.verified_at.is_none()))
}

/// The longest one-time code accepted: a 6-digit code or a recovery code is far
/// shorter.
pub(crate) const MAX_OTP_CHARS: usize = 64;
/// The longest link token accepted (ours are 43 characters).
const MAX_TOKEN_CHARS: usize = 128;

/// `value`, unless it is longer than `max` characters (a 422 naming `field`).
fn bounded<'v>(field: &str, value: &'v str, max: usize) -> Result<&'v str, AppError> {
    if value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            &format!("must be at most {max} characters long"),
        ));
    }
    Ok(value)
}

fn invalid_token(field: &str) -> AppError {
    AppError::invalid(
        field,
        "this link is not valid: it may have expired or been used already; ask for a new one",
    )
}

impl App {
    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.notifier().base_url())
    }

    /// `POST /auth/password-reset`: emails a reset link if the address belongs to an
    /// active account. The answer is the same either way, and requests are counted
    /// per address and per client like failed logins (429 past the limit).
    pub async fn request_password_reset(&self, email: &str, client: &str) -> Result<(), AppError> {
        let email = Email::parse("email", email)?.as_str().to_owned();
        let now = self.now();
        let window_start = now - SignedDuration::from_mins(self.settings.login_window_minutes);
        let (by_email, by_client) = {
            let (email, client) = (email.clone(), client.to_owned());
            self.store
                .read(move |tx| {
                    Ok::<_, AppError>((
                        tx.count_reset_requests(LoginKey::Email(&email), window_start)?,
                        tx.count_reset_requests(LoginKey::Client(&client), window_start)?,
                    ))
                })
                .await?
        };
        if by_email >= self.settings.login_max_failures_per_account
            || by_client >= self.settings.login_max_failures_per_client
        {
            return Err(AppError::TooManyAttempts {
                retry_after_seconds: self.settings.login_window_minutes * 60,
            });
        }
        // Made whether or not the address is known, so both answers cost the same.
        let token = random_token();
        let reset = PasswordReset {
            token_hash: sha256_hex(&token),
            user_id: UserId::new(""),
            created_at: now,
            expires_at: now + RESET_TOKEN_TTL,
        };
        let link = self.link("/password-reset", &token);
        let request = ResetRequest {
            email: email.clone(),
            client: client.to_owned(),
            at: now,
        };
        let notifier = self.notifier();
        let sent = self
            .store
            .write(move |tx| {
                tx.record_reset_request(&request)?;
                let user = tx
                    .find_user_by_email(&request.email)?
                    .filter(|u| u.status == UserStatus::Active);
                let Some(user) = user else {
                    return Ok::<_, AppError>(false);
                };
                tx.replace_password_reset(&PasswordReset {
                    user_id: user.id.clone(),
                    ..reset
                })?;
                notifier.security_email(tx, NoticeKind::PasswordReset, &user, link, now)?;
                audit(
                    tx,
                    now,
                    None,
                    "user.password_reset_requested",
                    ("user", Some(user.id.as_str())),
                    json!({}),
                )?;
                Ok(true)
            })
            .await?;
        if sent {
            self.ring_outbox();
        }
        Ok(())
    }

    /// `POST /auth/password-reset/confirm`: sets the new password if the token is
    /// one we sent, unused, not superseded and under an hour old; then every session
    /// of the account ends.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), AppError> {
        let token = bounded("token", token, MAX_TOKEN_CHARS)?;
        bounded("new_password", new_password, MAX_PASSWORD_CHARS)?;
        let now = self.now();
        let hash = sha256_hex(token.trim());
        let user = {
            let hash = hash.clone();
            self.store
                .read(move |tx| {
                    let Some(reset) = tx.find_password_reset(&hash)? else {
                        return Ok::<_, AppError>(None);
                    };
                    Ok(tx
                        .find_user(&reset.user_id)?
                        .filter(|u| reset.expires_at > now && u.status == UserStatus::Active))
                })
                .await?
                .ok_or_else(|| invalid_token("token"))?
        };
        let email = Email::parse("email", &user.email)?;
        let password = Password::parse("new_password", new_password, Some(&email))?;
        let password_hash = hash_password(password).await?;
        self.store
            .write(move |tx| {
                // Taken (deleted) here: of two uses racing, one wins.
                let reset = tx
                    .take_password_reset(&hash)?
                    .filter(|r| r.expires_at > now && r.user_id == user.id)
                    .ok_or_else(|| invalid_token("token"))?;
                let mut user = tx
                    .find_user(&reset.user_id)?
                    .ok_or_else(|| invalid_token("token"))?;
                user.password_hash = password_hash;
                user.updated_at = now;
                tx.update_user(&user)?;
                tx.delete_sessions_of(&user.id)?;
                tx.delete_password_resets_of(&user.id)?;
                // The link reached the address: that confirms it as well.
                tx.complete_email_verification(&user.id, now)?;
                audit(
                    tx,
                    now,
                    Some(&user.id),
                    "user.password_reset",
                    ("user", Some(user.id.as_str())),
                    json!({}),
                )?;
                Ok(())
            })
            .await
    }

    /// Issues a verification token for `user` and emails the link (registration,
    /// or a new link asked for).
    pub(crate) async fn start_email_verification(&self, user: &UserRecord) -> Result<(), AppError> {
        let now = self.now();
        let token = random_token();
        let verification = EmailVerification {
            user_id: user.id.clone(),
            token_hash: Some(sha256_hex(&token)),
            created_at: now,
            expires_at: now + VERIFICATION_TOKEN_TTL,
            verified_at: None,
        };
        let link = self.link("/verify-email", &token);
        let notifier = self.notifier();
        let user = user.clone();
        self.store
            .write(move |tx| {
                tx.upsert_email_verification(&verification)?;
                notifier.security_email(tx, NoticeKind::EmailVerification, &user, link, now)?;
                audit(
                    tx,
                    now,
                    Some(&user.id),
                    "user.email_verification_sent",
                    ("user", Some(user.id.as_str())),
                    json!({}),
                )?;
                Ok::<_, AppError>(())
            })
            .await?;
        self.ring_outbox();
        Ok(())
    }

    /// `POST /me/email-verification`: a new link for the caller, whose address still
    /// waits for confirmation (the old link stops working).
    pub async fn resend_email_verification(&self, me: &Authenticated) -> Result<(), AppError> {
        let user_id = me.user.id.clone();
        let open = self
            .store
            .read(move |tx| Ok::<_, AppError>(tx.find_email_verification(&user_id)?))
            .await?
            .is_some_and(|v| v.verified_at.is_none());
        if !open {
            return Err(AppError::conflict(
                ConflictKind::NothingToVerify,
                "this email address needs no confirmation",
            ));
        }
        self.start_email_verification(&me.user).await
    }

    /// `POST /auth/email-verification/confirm`: the link from the email, once.
    pub async fn verify_email(&self, token: &str) -> Result<(), AppError> {
        let token = bounded("token", token, MAX_TOKEN_CHARS)?;
        let now = self.now();
        let hash = sha256_hex(token.trim());
        self.store
            .write(move |tx| {
                let user = tx
                    .use_email_verification(&hash, now)?
                    .ok_or_else(|| invalid_token("token"))?;
                audit(
                    tx,
                    now,
                    Some(&user),
                    "user.email_verified",
                    ("user", Some(user.as_str())),
                    json!({}),
                )?;
                Ok(())
            })
            .await
    }

    /// `GET /me/security`.
    pub async fn security_status(&self, me: &Authenticated) -> Result<SecurityStatus, AppError> {
        let user_id = me.user.id.clone();
        let verification_on = self.settings.email_verification;
        let required = self.settings.require_staff_2fa && is_staff(me.user.role);
        self.store
            .read(move |tx| {
                let verification = tx.find_email_verification(&user_id)?;
                let credential = tx.find_totp(&user_id)?;
                let enabled = credential
                    .as_ref()
                    .is_some_and(|c| c.confirmed_at.is_some());
                Ok::<_, AppError>(SecurityStatus {
                    email_verified: !(verification_on
                        && verification.is_some_and(|v| v.verified_at.is_none())),
                    two_factor_enabled: enabled,
                    two_factor_pending_confirmation: credential.is_some() && !enabled,
                    two_factor_required: required,
                    recovery_codes_left: if enabled {
                        tx.count_recovery_codes_left(&user_id)?
                    } else {
                        0
                    },
                })
            })
            .await
    }

    /// `POST /me/2fa/setup`: a fresh secret (replacing one not yet confirmed). Two-factor
    /// authentication is on only once a code from it is confirmed.
    pub async fn setup_two_factor(&self, me: &Authenticated) -> Result<TwoFactorSetup, AppError> {
        let now = self.now();
        let secret = totp::new_secret();
        let credential = TotpCredential {
            user_id: me.user.id.clone(),
            secret: secret.clone(),
            created_at: now,
            confirmed_at: None,
            last_step: None,
        };
        self.store
            .write(move |tx| {
                if tx
                    .find_totp(&credential.user_id)?
                    .is_some_and(|c| c.confirmed_at.is_some())
                {
                    return Err(AppError::conflict(
                        ConflictKind::TwoFactorEnabled,
                        "two-factor authentication is already on; turn it off first to change the device",
                    ));
                }
                tx.upsert_totp(&credential)?;
                audit(
                    tx,
                    now,
                    Some(&credential.user_id),
                    "user.two_factor_setup_started",
                    ("user", Some(credential.user_id.as_str())),
                    json!({}),
                )?;
                Ok(())
            })
            .await?;
        Ok(TwoFactorSetup {
            otpauth_uri: totp::otpauth_uri(&self.settings.clinic_name, &me.user.email, &secret),
            secret,
        })
    }

    /// The secret of a setup that waits for its first code, to show it again.
    pub async fn pending_two_factor(
        &self,
        me: &Authenticated,
    ) -> Result<Option<TwoFactorSetup>, AppError> {
        let user_id = me.user.id.clone();
        let pending = self
            .store
            .read(move |tx| Ok::<_, AppError>(tx.find_totp(&user_id)?))
            .await?
            .filter(|c| c.confirmed_at.is_none());
        Ok(pending.map(|c| TwoFactorSetup {
            otpauth_uri: totp::otpauth_uri(&self.settings.clinic_name, &me.user.email, &c.secret),
            secret: c.secret,
        }))
    }

    /// `POST /me/2fa/confirm`: the first code from the app turns two-factor
    /// authentication on; the answer is the ten recovery codes, shown this once.
    pub async fn confirm_two_factor(
        &self,
        me: &Authenticated,
        otp: &str,
    ) -> Result<Vec<String>, AppError> {
        bounded("otp", otp, MAX_OTP_CHARS)?;
        let now = self.now();
        let user_id = me.user.id.clone();
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_code_hash(c)).collect();
        let otp = otp.trim().to_owned();
        self.store
            .write(move |tx| {
                let mut credential = tx
                    .find_totp(&user_id)?
                    .filter(|c| c.confirmed_at.is_none())
                    .ok_or_else(|| {
                        AppError::conflict(
                            ConflictKind::TwoFactorNotEnabled,
                            "there is no two-factor setup waiting for a code; start one first",
                        )
                    })?;
                let not_current = || {
                    AppError::invalid("otp", "is not the current code of your authenticator app")
                };
                let step =
                    totp::matching_step(&credential.secret, &otp, now).ok_or_else(not_current)?;
                if !tx.advance_totp_step(&user_id, step)? {
                    return Err(not_current());
                }
                credential.confirmed_at = Some(now);
                credential.last_step = Some(step);
                tx.upsert_totp(&credential)?;
                tx.replace_recovery_codes(&user_id, &hashes, now)?;
                audit(
                    tx,
                    now,
                    Some(&user_id),
                    "user.two_factor_enabled",
                    ("user", Some(user_id.as_str())),
                    json!({ "recovery_codes": hashes.len() }),
                )?;
                Ok(())
            })
            .await?;
        Ok(codes)
    }

    /// `POST /me/2fa/disable`: needs the password and a current code (or a recovery
    /// code); the secret and the recovery codes are deleted.
    pub async fn disable_two_factor(
        &self,
        me: &Authenticated,
        password: &str,
        otp: &str,
    ) -> Result<(), AppError> {
        bounded("password", password, MAX_PASSWORD_CHARS)?;
        bounded("otp", otp, MAX_OTP_CHARS)?;
        let now = self.now();
        let user_id = me.user.id.clone();
        let credential = {
            let user_id = user_id.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.find_totp(&user_id)?))
                .await?
                .filter(|c| c.confirmed_at.is_some())
                .ok_or_else(|| {
                    AppError::conflict(
                        ConflictKind::TwoFactorNotEnabled,
                        "two-factor authentication is not on",
                    )
                })?
        };
        if !verify_password(password.to_owned(), me.user.password_hash.clone()).await {
            return Err(AppError::invalid(
                "password",
                "is not your current password",
            ));
        }
        let otp = otp.to_owned();
        self.store
            .write(move |tx| {
                if check_second_factor(tx, &credential, &otp, now)?.is_none() {
                    return Err(AppError::invalid(
                        "otp",
                        "is not a current code of your authenticator app or an unused recovery code",
                    ));
                }
                tx.delete_totp(&user_id)?;
                audit(
                    tx,
                    now,
                    Some(&user_id),
                    "user.two_factor_disabled",
                    ("user", Some(user_id.as_str())),
                    json!({}),
                )?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_look_alike_and_hash_the_same_however_typed() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3, "{code}");
        let typed = code.to_uppercase().replace('-', " ");
        assert_eq!(recovery_code_hash(&code), recovery_code_hash(&typed));
        assert_ne!(
            recovery_code_hash(&code),
            recovery_code_hash(&new_recovery_code())
        );
    }
}
