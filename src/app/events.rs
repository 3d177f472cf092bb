//! Live events: what changed, for whom. Published after the change committed, so a
//! subscriber never hears of something that was rolled back.
//!
//! On SQLite (one instance) the bus is an in-process broadcast. On PostgreSQL every
//! instance publishes through `NOTIFY` and hears every instance's events through
//! `LISTEN`, so a subscriber on instance B sees a change made on instance A.

use carebook_domain::{AppointmentStatus, Role};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::store::{AppointmentView, Store, UserId};

/// The NOTIFY channel all instances share.
pub const CHANNEL: &str = "carebook_events";
const BUFFER: usize = 1024;

/// Forwards every event any instance publishes on PostgreSQL (including this one's,
/// which come back through `LISTEN`) to this instance's subscribers.
pub(crate) fn hear_other_instances(store: &Store, bus: &EventBus) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: live events from other instances are off");
        return;
    };
    let mut payloads = match store.listen(CHANNEL) {
        Ok(payloads) => payloads,
        Err(error) => {
            tracing::error!(error = %error, "cannot listen for events from other instances");
            return;
        }
    };
    let bus = bus.clone();
    runtime.spawn(async move {
        while let Some(payload) = payloads.recv().await {
            if payload == crate::store::postgres::LISTEN_GAP {
                continue;
            }
            match serde_json::from_str::<Event>(&payload) {
                Ok(event) => bus.deliver(event),
                Err(_) => tracing::warn!("ignored an event this version does not understand"),
            }
        }
    });
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An appointment was booked or moved in its lifecycle.
    Appointment {
        appointment_id: String,
        /// `book` or the move's name.
        action: String,
        status: AppointmentStatus,
        doctor_id: String,
        patient_id: String,
        start: Timestamp,
        /// The ids this change took in the live streams of the patient and the
        /// doctor (see docs/LIVE.md); empty from older instances.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        live: Vec<LiveId>,
    },
    /// A durable chat event (`message`, `receipt`) appended to its recipients'
    /// live streams.
    Chat {
        kind: String,
        live: Vec<LiveId>,
        /// The event's data; left out when too large for a NOTIFY payload (the
        /// receivers then read it from the stream in the database).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    /// Someone is typing in a conversation: ephemeral, for one user, never stored.
    Typing {
        conversation_id: String,
        user_id: String,
        to: String,
    },
}

/// An event's place in one user's live stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveId {
    pub user_id: String,
    pub id: i64,
}

impl LiveId {
    pub fn of(ids: Vec<(UserId, i64)>) -> Vec<LiveId> {
        ids.into_iter()
            .map(|(user, id)| LiveId {
                user_id: user.to_string(),
                id,
            })
            .collect()
    }
}

/// An `appointment` event's data. Written on the writer thread at every booking:
/// serialised from this struct rather than through a `serde_json::Value` (a map
/// built and walked, 1.5 % of the writer's instructions). Fields in the order a
/// `Value`'s map printed them.
#[derive(Serialize)]
struct AppointmentData<'a> {
    action: &'a str,
    appointment_id: &'a str,
    doctor_id: &'a str,
    patient_id: &'a str,
    start: Timestamp,
    status: AppointmentStatus,
}

impl Event {
    pub fn appointment(action: &str, view: &AppointmentView) -> Event {
        Event::appointment_in_streams(action, view, Vec::new())
    }

    pub fn appointment_in_streams(
        action: &str,
        view: &AppointmentView,
        live: Vec<LiveId>,
    ) -> Event {
        let a = &view.record;
        Event::Appointment {
            appointment_id: a.id.to_string(),
            action: action.to_owned(),
            status: a.status,
            doctor_id: a.doctor_id.to_string(),
            patient_id: a.patient_id.to_string(),
            start: a.slot.start,
            live,
        }
    }

    /// The `data` of an `appointment` event in the live stream, as stored.
    pub fn appointment_data(action: &str, view: &AppointmentView) -> String {
        let a = &view.record;
        let data = AppointmentData {
            action,
            appointment_id: a.id.as_str(),
            doctor_id: a.doctor_id.as_str(),
            patient_id: a.patient_id.as_str(),
            start: a.slot.start,
            status: a.status,
        };
        serde_json::to_string(&data).expect("an appointment's live data is plain JSON")
    }

    /// This user's id for the event in their live stream, if it has one.
    pub fn live_id_for(&self, user: &UserId) -> Option<i64> {
        let live = match self {
            Event::Appointment { live, .. } | Event::Chat { live, .. } => live,
            Event::Typing { .. } => return None,
        };
        live.iter()
            .find(|l| l.user_id == user.as_str())
            .map(|l| l.id)
    }

    /// Whether `user` (with `role`) should hear of this event: the people involved,
    /// and the front desk.
    pub fn is_for(&self, user: &UserId, role: Role) -> bool {
        match self {
            Event::Appointment {
                doctor_id,
                patient_id,
                ..
            } => role.is_staff() || user.as_str() == doctor_id || user.as_str() == patient_id,
            Event::Chat { live, .. } => live.iter().any(|l| l.user_id == user.as_str()),
            Event::Typing { to, .. } => to == user.as_str(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Event::Appointment { .. } => "appointment",
            Event::Chat { .. } => "chat",
            Event::Typing { .. } => "typing",
        }
    }
}

/// Fans events out to this instance's subscribers.
#[derive(Clone)]
pub struct EventBus {
    local: broadcast::Sender<Event>,
    /// Set when the server begins to shut down: open streams end so that the
    /// requests holding them can finish.
    closing: watch::Sender<bool>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (local, _) = broadcast::channel(BUFFER);
        let (closing, _) = watch::channel(false);
        EventBus { local, closing }
    }

    /// Ends every subscription (at shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Delivers to this instance's subscribers.
    pub(crate) fn deliver(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.local.send(event);
    }

    /// Every event from now on that `user` should hear of.
    pub fn subscribe(&self, user: UserId, role: Role) -> Subscription {
        Subscription {
            events: self.local.subscribe(),
            closing: self.closing.subscribe(),
            user,
            role,
        }
    }
}

/// One listener's view of the bus.
pub struct Subscription {
    events: broadcast::Receiver<Event>,
    closing: watch::Receiver<bool>,
    user: UserId,
    role: Role,
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Event(Event),
    /// The subscriber fell behind and this many events were dropped: a client should
    /// reload what it shows.
    Skipped(u64),
}

impl Subscription {
    /// The next event for this subscriber; `None` once the bus closes.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let received = tokio::select! {
                received = self.events.recv() => received,
                _ = self.closing.changed() => return None,
            };
            match received {
                Ok(event) if event.is_for(&self.user, self.role) => {
                    return Some(Delivery::Event(event));
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(Delivery::Skipped(missed));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AppointmentId, AppointmentRecord};
    use carebook_domain::{Interval, VisitMode};

    #[test]
    fn an_appointments_live_data_is_what_its_json_value_printed() {
        let start: Timestamp = "2026-03-03T08:00:00Z".parse().unwrap();
        let at: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let record = AppointmentRecord {
            id: AppointmentId::new("apt_1"),
            doctor_id: UserId::new("usr_d"),
            patient_id: UserId::new("usr_p"),
            slot: Interval::new(start, "2026-03-03T08:30:00Z".parse().unwrap()).unwrap(),
            status: AppointmentStatus::Requested,
            reason: Some("a \"quoted\" reason".into()),
            status_reason: None,
            created_by: UserId::new("usr_p"),
            created_at: at,
            updated_at: at,
            mode: VisitMode::InPerson,
            video_room: None,
        };
        let view = AppointmentView {
            record,
            doctor_name: "Dr D".into(),
            patient_name: "P".into(),
            payment: None,
        };
        let as_value = serde_json::json!({
            "appointment_id": "apt_1",
            "action": "book",
            "status": AppointmentStatus::Requested,
            "doctor_id": "usr_d",
            "patient_id": "usr_p",
            "start": start,
        });
        assert_eq!(Event::appointment_data("book", &view), as_value.to_string());
    }
}
