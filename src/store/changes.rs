//! Change capture for availability: what a committed transaction changed about
//! doctors' bookable time, so that in-memory copies (the app's availability cache,
//! here and in other instances) can follow the database without re-reading it.
//!
//! Every write that touches a doctor's schedule, time off, profile, account, rating,
//! photo or live appointments bumps that doctor's `availability_version` once per transaction
//! (which, on PostgreSQL, also locks the doctor's row until commit) and notes what
//! changed. After the commit the store hands the notes to its observers, in commit
//! order on SQLite; on PostgreSQL the same notes also travel to other instances with
//! `NOTIFY` inside the transaction, so they arrive only if it commits, in commit
//! order. A reader that knows version `v` of a doctor may apply the change numbered
//! `v + 1`; any gap means it must reload.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::{AppointmentId, AppointmentRecord, Interval, StoreResult, UserId};

/// The PostgreSQL channel the notes of committed transactions travel on.
pub const AVAILABILITY_CHANNEL: &str = "carebook_availability";

/// What one committed transaction changed about one doctor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityChange {
    pub doctor_id: UserId,
    /// The doctor's availability version after this transaction.
    pub version: i64,
    /// The appointments whose claim on the doctor's time changed, in order; `None`
    /// when something else changed (hours, time off, profile, status, rating,
    /// photo): reload.
    pub appointments: Option<Vec<BusyChange>>,
}

/// An appointment's claim on its doctor's time, as committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusyChange {
    pub appointment_id: AppointmentId,
    /// The slot it holds, or `None` when it holds none any more (not live).
    pub slot: Option<Interval>,
}

/// The notes of one or more committed transactions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommittedChanges {
    /// Rows were imported or deleted in bulk: forget everything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub everything: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doctors: Vec<AvailabilityChange>,
}

impl CommittedChanges {
    pub fn is_empty(&self) -> bool {
        !self.everything && self.doctors.is_empty()
    }

    pub fn extend(&mut self, other: CommittedChanges) {
        self.everything |= other.everything;
        self.doctors.extend(other.doctors);
    }

    /// JSON payloads of at most `limit` bytes each (PostgreSQL's NOTIFY allows
    /// 8000), together carrying every change.
    pub fn payloads(&self, limit: usize) -> Vec<String> {
        let whole = serde_json::to_string(self).unwrap_or_default();
        if whole.len() <= limit {
            return vec![whole];
        }
        if self.everything {
            return vec![r#"{"everything":true}"#.to_owned()];
        }
        let mut payloads = Vec::new();
        for change in &self.doctors {
            let one = CommittedChanges {
                everything: false,
                doctors: vec![change.clone()],
            };
            let text = serde_json::to_string(&one).unwrap_or_default();
            payloads.push(if text.len() <= limit {
                text
            } else {
                // Too many appointments of one doctor in one transaction: a reload.
                serde_json::to_string(&CommittedChanges {
                    everything: false,
                    doctors: vec![AvailabilityChange {
                        appointments: None,
                        ..change.clone()
                    }],
                })
                .unwrap_or_default()
            });
        }
        payloads
    }
}

/// What one transaction has changed so far (kept by each backend's `Tx`).
#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    changes: CommittedChanges,
}

impl ChangeLog {
    /// Whether `doctor` was already touched (so its version was bumped) in this
    /// transaction.
    pub(crate) fn touched(&self, doctor: &UserId) -> Option<i64> {
        self.changes
            .doctors
            .iter()
            .find(|c| &c.doctor_id == doctor)
            .map(|c| c.version)
    }

    /// Records the first change of `doctor`, at the `version` just bumped to.
    pub(crate) fn start(&mut self, doctor: &UserId, version: i64) {
        self.changes.doctors.push(AvailabilityChange {
            doctor_id: doctor.clone(),
            version,
            appointments: Some(Vec::new()),
        });
    }

    fn entry(&mut self, doctor: &UserId) -> Option<&mut AvailabilityChange> {
        self.changes
            .doctors
            .iter_mut()
            .find(|c| &c.doctor_id == doctor)
    }

    /// `appointment` now holds its slot if it is live, nothing otherwise.
    pub(crate) fn appointment(&mut self, appointment: &AppointmentRecord) {
        if let Some(entry) = self.entry(&appointment.doctor_id)
            && let Some(list) = &mut entry.appointments
        {
            list.push(BusyChange {
                appointment_id: appointment.id.clone(),
                slot: appointment.status.is_live().then_some(appointment.slot),
            });
        }
    }

    /// Something other than an appointment changed for `doctor`.
    pub(crate) fn reload(&mut self, doctor: &UserId) {
        if let Some(entry) = self.entry(doctor) {
            entry.appointments = None;
        }
    }

    pub(crate) fn everything(&mut self) {
        self.changes.everything = true;
    }

    pub(crate) fn take(&mut self) -> CommittedChanges {
        std::mem::take(&mut self.changes)
    }
}

/// Called with the changes of every committed write transaction.
pub type CommitObserver = Arc<dyn Fn(&CommittedChanges) + Send + Sync>;

/// The observers of one store.
#[derive(Default)]
pub(crate) struct Observers(RwLock<Vec<CommitObserver>>);

impl Observers {
    pub(crate) fn add(&self, observer: CommitObserver) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(observer);
    }

    pub(crate) fn committed(&self, changes: &CommittedChanges) {
        if changes.is_empty() {
            return;
        }
        for observer in self.0.read().unwrap_or_else(|e| e.into_inner()).iter() {
            observer(changes);
        }
    }
}

/// Bumps `doctor`'s version once per transaction (through `bump`, the backend's SQL)
/// and returns the version the transaction started from; `None` when the doctor
/// does not exist.
pub(crate) fn begin_change(
    log: &mut ChangeLog,
    doctor: &UserId,
    bump: impl FnOnce() -> StoreResult<Option<i64>>,
) -> StoreResult<Option<i64>> {
    if let Some(version) = log.touched(doctor) {
        return Ok(Some(version - 1));
    }
    match bump()? {
        Some(version) => {
            log.start(doctor, version);
            Ok(Some(version - 1))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(doctor: &str, version: i64, appointments: usize) -> AvailabilityChange {
        let at: jiff::Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
        AvailabilityChange {
            doctor_id: UserId::new(doctor),
            version,
            appointments: Some(
                (0..appointments)
                    .map(|i| BusyChange {
                        appointment_id: AppointmentId::new(format!("apt_{i:024}")),
                        slot: Interval::new(at, at + jiff::SignedDuration::from_mins(30)),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn payloads_fit_the_limit_and_carry_every_doctor() {
        let changes = CommittedChanges {
            everything: false,
            doctors: vec![change("usr_a", 2, 1), change("usr_b", 7, 200)],
        };
        let payloads = changes.payloads(8000);
        assert_eq!(payloads.len(), 2);
        assert!(payloads.iter().all(|p| p.len() <= 8000));
        let back: Vec<CommittedChanges> = payloads
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect();
        assert_eq!(back[0].doctors, vec![change("usr_a", 2, 1)]);
        // Too large for one payload: the doctor is reloaded instead.
        assert_eq!(back[1].doctors[0].version, 7);
        assert_eq!(back[1].doctors[0].appointments, None);
    }

    #[test]
    fn small_changes_travel_whole() {
        let changes = CommittedChanges {
            everything: false,
            doctors: vec![change("usr_a", 2, 3)],
        };
        let payloads = changes.payloads(8000);
        assert_eq!(payloads.len(), 1);
        let back: CommittedChanges = serde_json::from_str(&payloads[0]).unwrap();
        assert_eq!(back, changes);
    }
}
