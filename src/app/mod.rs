//! The use cases. Each one authorises with the domain policy, runs the domain rules
//! inside one store transaction, and writes the audit row in that same transaction.
//! Nothing here knows HTTP or a wire format: the JSON API and the web pages call the
//! same functions.

mod accounts;
mod appointments;
mod attachments;
mod availability;
mod chat;
pub mod clinical;
mod doctors;
mod error;
mod events;
mod export;
mod feedback;
mod hashing;
mod notices;
mod notifications;
mod oidc;
mod payments;
mod photos;
mod prescriptions;
mod records;
mod security;
mod statistics;
pub mod totp;
mod video;

use std::sync::{Arc, Mutex};

pub use accounts::*;
pub use appointments::*;
pub use attachments::*;
pub use availability::{AvailabilityCache, DoctorAvailability};
pub use chat::*;
pub use doctors::*;
pub use error::{AppError, ConflictKind};
pub use events::{Delivery, Event, EventBus, LiveId, Subscription};
pub use export::*;
pub use feedback::*;
pub use notices::Notifier;
pub use notifications::*;
pub use oidc::*;
pub use payments::{
    DayMoney, DeskPaymentInput, MoneyTotals, PAYMENT_CSV_HEADER, PaymentQuery, PaymentSummary,
    WebhookOutcome,
};
pub use photos::*;
pub use prescriptions::*;
pub use records::*;
pub use security::*;
pub use statistics::*;
pub(crate) use video::ensure_room;
pub use video::{VideoLink, video_url};

use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use sha2::Digest;

use crate::config::Settings;
use crate::notify::render::Templates;
use crate::store::{Cursor, NewAuditEntry, PageRequest, Store, StoreResult, Tx, UserId};

/// The source of "now", replaceable in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until moved: tests use it to reach time windows.
#[derive(Default)]
pub struct ManualClock(Mutex<Option<Timestamp>>);

impl ManualClock {
    pub fn set(&self, now: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = Some(now.unwrap_or_else(Timestamp::now) + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(Timestamp::now)
    }
}

/// Everything a use case needs, cheap to clone: one shared reference. axum clones
/// its state for every request, and a struct of a dozen `Arc`s cost a dozen atomic
/// counts on cache lines both cores share, each way (a tenth of the server's time
/// in the slots benchmark).
#[derive(Clone)]
pub struct App(Arc<AppParts>);

impl std::ops::Deref for App {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub events: EventBus,
    /// Doctors' availability held in memory (see [`availability`]).
    pub availability: Arc<AvailabilityCache>,
    specialties: Arc<doctors::HeldSpecialties>,
    clock: Arc<dyn Clock>,
    notifier: Arc<Notifier>,
    /// Rung after a commit that wrote to the outbox, so this instance's worker
    /// delivers at once instead of at its next poll.
    outbox_bell: Arc<tokio::sync::Notify>,
    /// Opened on first use (see [`App::files`]).
    files: Arc<std::sync::OnceLock<Result<crate::store::FileStore, String>>>,
    /// The OpenID Connect provider, when sign-in with one is configured; its
    /// discovery document and keys are cached in it.
    oidc: Option<Arc<crate::oidc::Provider>>,
    /// Stripe, when online payment is configured.
    stripe: Option<Arc<crate::stripe::StripeClient>>,
}

impl App {
    /// `serve` checks `template_dir` before this (`Templates::load`), so a broken
    /// override stops the start; here one falls back to the built-in templates.
    pub fn new(store: Store, settings: Settings, clock: Arc<dyn Clock>) -> App {
        let events = EventBus::new();
        if store.backend() == "postgres" {
            events::hear_other_instances(&store, &events);
        }
        let overrides = settings.template_dir.as_deref().map(std::path::Path::new);
        let templates = Templates::load(overrides).unwrap_or_else(|error| {
            tracing::error!(error = %error, "template overrides ignored");
            Templates::load(None).expect("the built-in templates compile")
        });
        let notifier = Arc::new(Notifier::new(&settings, Arc::new(templates)));
        let availability = Arc::new(AvailabilityCache::new(std::time::Duration::from_secs(
            settings.availability_cache_seconds,
        )));
        availability::follow_commits(&store, &availability);
        let oidc = crate::oidc::Provider::from_settings(&settings).map(Arc::new);
        let stripe = settings
            .stripe_secret_key
            .as_ref()
            .filter(|_| settings.online_payments_enabled())
            .and_then(|key| {
                crate::stripe::StripeClient::new(&settings.stripe_api_base, key.expose())
                    .inspect_err(|error| {
                        tracing::error!(error = %error, "online payment is off: the Stripe settings do not work");
                    })
                    .ok()
            })
            .map(Arc::new);
        // Held no longer than availability is: the same bound on staleness.
        let specialties = Arc::new(doctors::HeldSpecialties::new(
            std::time::Duration::from_secs(settings.availability_cache_seconds),
        ));
        App(Arc::new(AppParts {
            store,
            settings: Arc::new(settings),
            events,
            availability,
            specialties,
            clock,
            notifier,
            outbox_bell: Arc::new(tokio::sync::Notify::new()),
            files: Arc::default(),
            oidc,
            stripe,
        }))
    }

    pub(crate) fn notifier(&self) -> Arc<Notifier> {
        self.notifier.clone()
    }

    pub fn templates(&self) -> &Templates {
        self.notifier.templates()
    }

    /// Wakes this instance's delivery worker; call after a commit that wrote to
    /// the outbox.
    pub(crate) fn ring_outbox(&self) {
        self.outbox_bell.notify_one();
    }

    /// Resolves when [`App::ring_outbox`] rang since the last wait.
    pub async fn outbox_rang(&self) {
        self.outbox_bell.notified().await;
    }

    /// Tells every instance's subscribers; call only after the change committed.
    pub(crate) async fn publish(&self, event: Event) {
        if self.store.backend() != "postgres" {
            self.events.deliver(event);
            return;
        }
        let payload = serde_json::to_string(&event).unwrap_or_default();
        if let Err(error) = self.store.notify(events::CHANNEL, &payload).await {
            // Other instances miss this one; this instance's subscribers still hear it.
            tracing::warn!(error = %error, "could not publish an event to other instances");
            self.events.deliver(event);
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub async fn is_ready(&self) -> bool {
        self.store
            .read(|tx| tx.schema_is_current())
            .await
            .unwrap_or(false)
    }
}

/// An opaque id with a readable prefix, e.g. `apt_019ae4c1f2a07c3e9b5d1f08`: the
/// creation time in milliseconds (12 hex digits), then 48 random bits. Ids that
/// follow each other in time sort together, so a group commit's new rows share the
/// index pages of their primary keys instead of each dirtying a random page of a
/// large index: that is most of what a booking writes to the WAL (docs/ARCHITECTURE.md,
/// "Time-ordered ids"). No id is a secret: access is always checked.
pub fn new_id(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    let mut bytes = [0u8; 12];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&id_random_bits().to_be_bytes()[2..]);
    format!("{prefix}_{}", hex(&bytes))
}

/// Random bits for ids, which are never secrets: a generator seeded once per thread
/// from the operating system, not a `getrandom` system call per id (four per
/// booking on the writer thread). Tokens, codes and secrets use [`random_bytes`].
pub(crate) fn id_random_bits() -> u64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> =
            std::cell::Cell::new(u64::from_le_bytes(random_bytes::<8>()));
    }
    STATE.with(|state| {
        // SplitMix64: a thread's sequence does not repeat within 2^64 draws.
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

pub fn sha256_hex(value: &str) -> String {
    sha256_hex_bytes(value.as_bytes())
}

pub fn sha256_hex_bytes(value: &[u8]) -> String {
    hex(&sha2::Sha256::digest(value))
}

pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A page of results and the cursor of the next page, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// What a client asks of a list: `?limit=&cursor=`.
#[derive(Debug, Clone, Default)]
pub struct PageParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageParams {
    /// Asks the store for one row more than the page holds, to learn whether a next
    /// page exists without counting.
    pub(crate) fn to_request(&self) -> Result<PageRequest, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(AppError::invalid("limit", "must be between 1 and 100"));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest {
            limit: limit + 1,
            after,
        })
    }
}

fn decode_cursor(value: &str) -> Result<Cursor, AppError> {
    let invalid = || AppError::invalid("cursor", "is not a cursor this server issued");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    if text.chars().any(|c| c.is_control() && c != '\u{1f}') {
        return Err(invalid());
    }
    let (key, id) = text.split_once('\u{1f}').ok_or_else(invalid)?;
    Ok(Cursor {
        key: key.to_owned(),
        id: id.to_owned(),
    })
}

fn encode_cursor(cursor: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}\u{1f}{}", cursor.key, cursor.id))
}

/// Cuts the extra row off and turns the last row's position into the next cursor.
pub(crate) fn paginate<T>(
    mut rows: Vec<T>,
    request: &PageRequest,
    position: impl Fn(&T) -> Cursor,
) -> Page<T> {
    let limit = request.limit as usize - 1;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|row| encode_cursor(&position(row)))
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

/// Appends an audit row inside the caller's transaction.
pub(crate) fn audit(
    tx: &mut dyn Tx,
    at: Timestamp,
    actor: Option<&UserId>,
    action: &str,
    subject: (&str, Option<&str>),
    detail: serde_json::Value,
) -> StoreResult<()> {
    tx.append_audit(&NewAuditEntry {
        at,
        actor_id: actor.cloned(),
        action: action.to_owned(),
        subject_type: subject.0.to_owned(),
        subject_id: subject.1.map(str::to_owned),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_later_sort_after_earlier_ones() {
        let first = new_id("apt");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id("apt");
        assert!(first < second, "{first} then {second}");
        assert_eq!(first.len(), "apt_".len() + 24);
        assert!(first["apt_".len()..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn ids_made_in_the_same_millisecond_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id("dlv")).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn ids_made_on_different_threads_differ() {
        // Each thread seeds its own generator: no two threads share a sequence.
        let made: Vec<Vec<String>> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| new_id("ntf")).collect()))
            .map(|thread| thread.join().unwrap())
            .collect();
        let ids: std::collections::HashSet<&String> = made.iter().flatten().collect();
        assert_eq!(ids.len(), 4000);
        let random_parts: std::collections::HashSet<&str> = made
            .iter()
            .map(|ids| &ids[0]["ntf_".len() + 12..])
            .collect();
        assert_eq!(random_parts.len(), 4, "{made:?}");
    }

    #[test]
    fn hex_writes_two_lowercase_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
