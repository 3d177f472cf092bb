//! What account security keeps: password reset tokens, email verification, TOTP
//! secrets and recovery codes. Tokens and codes are stored only as SHA-256 hashes.

use jiff::Timestamp;

use super::{LoginKey, StoreResult, UserId};

#[derive(Debug, Clone, PartialEq)]
pub struct PasswordReset {
    /// SHA-256 of the emailed token; the token itself is never stored here.
    pub token_hash: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// One request for a reset email, counted for throttling whether or not the address
/// belongs to an account.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetRequest {
    pub email: String,
    pub client: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailVerification {
    pub user_id: UserId,
    /// SHA-256 of the emailed token; `None` once used.
    pub token_hash: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub verified_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TotpCredential {
    pub user_id: UserId,
    /// Base32 (RFC 4648, no padding).
    pub secret: String,
    pub created_at: Timestamp,
    /// Two-factor authentication is on once the first code confirmed the secret.
    pub confirmed_at: Option<Timestamp>,
    /// The time step of the last code accepted.
    pub last_step: Option<i64>,
}

pub trait SecurityTx {
    /// Replaces every reset token of the account with this one.
    fn replace_password_reset(&mut self, reset: &PasswordReset) -> StoreResult<()>;
    fn find_password_reset(&mut self, token_hash: &str) -> StoreResult<Option<PasswordReset>>;
    /// Deletes the token and returns it, if it existed: of two concurrent takers of
    /// the same token only one gets it.
    fn take_password_reset(&mut self, token_hash: &str) -> StoreResult<Option<PasswordReset>>;
    fn delete_password_resets_of(&mut self, user: &UserId) -> StoreResult<()>;
    fn record_reset_request(&mut self, request: &ResetRequest) -> StoreResult<()>;
    fn count_reset_requests(&mut self, key: LoginKey<'_>, since: Timestamp) -> StoreResult<i64>;

    fn upsert_email_verification(&mut self, verification: &EmailVerification) -> StoreResult<()>;
    fn find_email_verification(&mut self, user: &UserId) -> StoreResult<Option<EmailVerification>>;
    /// Marks the verification whose token this is as done (clearing the token) if it
    /// is still open and not expired at `at`; the account, when it was.
    fn use_email_verification(
        &mut self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<UserId>>;
    /// Marks the account's verification as done, if one is open (a password reset
    /// proves the address too).
    fn complete_email_verification(&mut self, user: &UserId, at: Timestamp) -> StoreResult<()>;

    fn find_totp(&mut self, user: &UserId) -> StoreResult<Option<TotpCredential>>;
    fn upsert_totp(&mut self, credential: &TotpCredential) -> StoreResult<()>;
    /// Deletes the credential and the recovery codes.
    fn delete_totp(&mut self, user: &UserId) -> StoreResult<()>;
    /// Records `step` as the last accepted one unless it is not newer than the last:
    /// `false` then (a replayed code), and nothing written.
    fn advance_totp_step(&mut self, user: &UserId, step: i64) -> StoreResult<bool>;
    /// Replaces the account's recovery codes with these (hashes).
    fn replace_recovery_codes(
        &mut self,
        user: &UserId,
        code_hashes: &[String],
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Marks an unused code as used: `false` if there is no such unused code.
    fn use_recovery_code(
        &mut self,
        user: &UserId,
        code_hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    fn count_recovery_codes_left(&mut self, user: &UserId) -> StoreResult<i64>;

    /// Overwrites an outbox row's payload (to drop a security link once its
    /// delivery is over).
    fn replace_delivery_payload(&mut self, id: &str, payload: &str) -> StoreResult<()>;

    /// Whether the account (by login e-mail) has a successful sign-in recorded at
    /// all, and one from `client`.
    fn has_signed_in_from(&mut self, email: &str, client: &str) -> StoreResult<(bool, bool)>;

    /// Ends every session of the account but the one with this token hash.
    fn delete_other_sessions(&mut self, user: &UserId, keep_token_hash: &str) -> StoreResult<()>;
}
