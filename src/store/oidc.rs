//! What sign-in with OpenID Connect keeps: the identities linked to accounts, the
//! sign-ins sent to the provider, and the steps waiting for a password or a code.
//! Browser secrets are stored only as SHA-256 hashes.

use jiff::Timestamp;

use super::{StoreResult, UserId};

/// A person at a provider (`issuer`, `subject`), linked to one account.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
}

/// A sign-in sent to the provider: what the callback needs to finish it.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcLogin {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: String,
    /// SHA-256 of the cookie given to the browser that started it.
    pub browser_hash: String,
    pub nonce: String,
    /// The PKCE verifier; only its SHA-256 went to the provider.
    pub code_verifier: String,
    /// Where to go once signed in (a local path).
    pub next_path: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a provider's sign-in waits for before it becomes a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcPendingKind {
    /// The account's password, once, before the identity is linked to it.
    Link,
    /// The authenticator code (or a recovery code) of an account with 2FA on.
    SecondFactor,
}

impl OidcPendingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OidcPendingKind::Link => "link",
            OidcPendingKind::SecondFactor => "second_factor",
        }
    }

    pub fn parse(value: &str) -> Option<OidcPendingKind> {
        match value {
            "link" => Some(OidcPendingKind::Link),
            "second_factor" => Some(OidcPendingKind::SecondFactor),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OidcPending {
    /// SHA-256 of the cookie that ties the step to the browser.
    pub token_hash: String,
    pub kind: OidcPendingKind,
    pub user_id: UserId,
    pub issuer: String,
    pub subject: String,
    pub next_path: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub trait OidcTx {
    fn find_oidc_identity(
        &mut self,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<OidcIdentity>>;
    /// A second link of the same identity is a no-op (the first one stands).
    fn insert_oidc_identity(&mut self, identity: &OidcIdentity) -> StoreResult<()>;
    fn list_oidc_identities_of(&mut self, user: &UserId) -> StoreResult<Vec<OidcIdentity>>;

    /// Also deletes sign-ins that expired before `login.created_at`.
    fn insert_oidc_login(&mut self, login: &OidcLogin) -> StoreResult<()>;
    /// Deletes the sign-in and returns it, if it existed: of two callbacks with the
    /// same state only one gets it.
    fn take_oidc_login(&mut self, state_hash: &str) -> StoreResult<Option<OidcLogin>>;

    /// Also deletes steps that expired before `pending.created_at`.
    fn insert_oidc_pending(&mut self, pending: &OidcPending) -> StoreResult<()>;
    fn find_oidc_pending(&mut self, token_hash: &str) -> StoreResult<Option<OidcPending>>;
    /// Deletes the step and returns it, if it existed (once, across instances).
    fn take_oidc_pending(&mut self, token_hash: &str) -> StoreResult<Option<OidcPending>>;
}
