//! The in-app list, preferences, the delivery log, manual reminders, and the steps
//! the delivery worker takes through the store.

use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::validation::parse_phone;
use carebook_domain::{AppointmentStatus, UserStatus, ValidationErrors};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::appointments::{visible_appointment, zone_name};
use super::notices::{PLAN_AGAIN_WITHIN, insert_in_app, preferences_of};
use super::{App, AppError, ConflictKind, Page, PageParams, audit, paginate, random_bytes};
use crate::config::OutboxSettings;
use crate::notify::{Channel, DeliveryError, Notice, NoticeKind, Recipient};
use crate::store::{
    AppointmentId, Cursor, DeliveryFilter, DeliveryOutcome, DeliveryRecord, DeliveryStatus,
    NotificationPreferences, NotificationRecord, Tx, UserId, UserRecord,
};

/// A page of the in-app list, with the count of unread entries (all of them, not
/// only this page's).
#[derive(Debug, Clone)]
pub struct NotificationPage {
    pub page: Page<NotificationRecord>,
    pub unread_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub email_enabled: bool,
    pub sms_enabled: bool,
    pub phone: Option<String>,
    /// Whether the clinic sends texts at all.
    pub sms_available: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PreferencesPatch {
    pub email_enabled: Option<bool>,
    pub sms_enabled: Option<bool>,
    /// `Some(None)` (or an empty string) removes the number.
    pub phone: Option<Option<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    pub channel: Option<String>,
    pub appointment_id: Option<String>,
    pub user_id: Option<String>,
}

/// What the worker is to do with a claimed delivery.
#[derive(Debug, Clone)]
pub enum Prepared {
    Send {
        notice: Box<Notice>,
        /// For email, texts and in-app: the person, as they are now.
        recipient: Option<Recipient>,
    },
    /// Not to be sent, on purpose; the reason goes to the delivery log.
    Skip(String),
}

/// The wait before attempt `attempts + 1`: the first retry within
/// `retry_first_seconds`, each next one twice as long, capped at
/// `retry_max_seconds`; a random half of it (at most) is taken off, so deliveries
/// that failed together do not retry together.
pub fn retry_delay(settings: &OutboxSettings, attempts: i64, jitter: f64) -> SignedDuration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = settings
        .retry_first_seconds
        .saturating_mul(1u64 << exponent)
        .min(settings.retry_max_seconds);
    let jitter = jitter.clamp(0.0, 1.0);
    let millis = (full as f64 * 1000.0 * (1.0 - jitter / 2.0)).round() as i64;
    SignedDuration::from_millis(millis.max(1))
}

fn random_unit() -> f64 {
    let bytes = random_bytes::<4>();
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

impl App {
    pub async fn list_notifications(
        &self,
        actor: &Actor,
        page: PageParams,
    ) -> Result<NotificationPage, AppError> {
        let request = page.to_request()?;
        let user = actor.user_id.clone();
        let (rows, unread_count) = {
            let request = request.clone();
            self.store
                .read(move |tx| {
                    let rows = tx.list_notifications(&user, &request)?;
                    let unread = tx.count_unread_notifications(&user)?;
                    Ok::<_, AppError>((rows, unread))
                })
                .await?
        };
        Ok(NotificationPage {
            page: paginate(rows, &request, |n| Cursor {
                key: n.created_at.as_millisecond().to_string(),
                id: n.id.clone(),
            }),
            unread_count,
        })
    }

    /// Someone else's notification is "not found", like one that does not exist.
    pub async fn mark_notification_read(&self, actor: &Actor, id: String) -> Result<(), AppError> {
        let user = actor.user_id.clone();
        let now = self.now();
        let found = self
            .store
            .write(move |tx| Ok::<_, AppError>(tx.mark_notification_read(&user, &id, now)?))
            .await?;
        if found {
            Ok(())
        } else {
            Err(AppError::NotFound("notification"))
        }
    }

    pub async fn mark_all_notifications_read(&self, actor: &Actor) -> Result<u64, AppError> {
        let user = actor.user_id.clone();
        let now = self.now();
        self.store
            .write(move |tx| Ok::<_, AppError>(tx.mark_all_notifications_read(&user, now)?))
            .await
    }

    pub async fn notification_preferences(&self, actor: &Actor) -> Result<Preferences, AppError> {
        let user = actor.user_id.clone();
        let sms_available = self.settings.twilio.is_configured();
        self.store
            .read(move |tx| {
                let account = tx.find_user(&user)?.ok_or(AppError::NotFound("user"))?;
                let preferences = preferences_of(tx, &user)?;
                Ok(Preferences {
                    email_enabled: preferences.email_enabled,
                    sms_enabled: preferences.sms_enabled,
                    phone: account.phone,
                    sms_available,
                })
            })
            .await
    }

    pub async fn update_notification_preferences(
        &self,
        actor: &Actor,
        patch: PreferencesPatch,
    ) -> Result<Preferences, AppError> {
        let mut errors = ValidationErrors::new();
        let phone = match &patch.phone {
            Some(Some(p)) if !p.trim().is_empty() => errors.take(parse_phone("phone", p)).map(Some),
            Some(_) => Some(None),
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let user = actor.user_id.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let mut account = tx.find_user(&user)?.ok_or(AppError::NotFound("user"))?;
                let before = preferences_of(tx, &user)?;
                let preferences = NotificationPreferences {
                    user_id: user.clone(),
                    email_enabled: patch.email_enabled.unwrap_or(before.email_enabled),
                    sms_enabled: patch.sms_enabled.unwrap_or(before.sms_enabled),
                    updated_at: now,
                };
                tx.upsert_notification_preferences(&preferences)?;
                if let Some(phone) = phone.filter(|p| *p != account.phone) {
                    account.phone = phone;
                    account.updated_at = now;
                    tx.update_user(&account)?;
                }
                audit(
                    tx,
                    now,
                    Some(&user),
                    "notification_preferences.updated",
                    ("user", Some(user.as_str())),
                    json!({
                        "email_enabled": preferences.email_enabled,
                        "sms_enabled": preferences.sms_enabled,
                        "phone_set": account.phone.is_some(),
                    }),
                )?;
                Ok::<_, AppError>(())
            })
            .await?;
        self.notification_preferences(actor).await
    }

    pub async fn list_deliveries(
        &self,
        actor: &Actor,
        query: DeliveryQuery,
        page: PageParams,
    ) -> Result<Page<DeliveryRecord>, AppError> {
        authorize(actor, Action::ManageDeliveries, Subject::Clinic)?;
        let mut errors = ValidationErrors::new();
        let mut statuses = Vec::new();
        for value in query
            .status
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match DeliveryStatus::parse(value) {
                Some(status) => statuses.push(status),
                None => errors.add("status", format!("{value:?} is not a delivery status")),
            }
        }
        let channel = match query.channel.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(value) => match Channel::parse(value) {
                Some(channel) => Some(channel.as_str().to_owned()),
                None => {
                    errors.add("channel", "must be email, sms, webhook, sns or in_app");
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let request = page.to_request()?;
        let filter = DeliveryFilter {
            statuses,
            channel,
            appointment_id: query.appointment_id.map(AppointmentId::new),
            user_id: query.user_id.map(UserId::new),
        };
        let rows = {
            let request = request.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.list_deliveries(&filter, &request)?))
                .await?
        };
        Ok(paginate(rows, &request, |d| Cursor {
            key: d.created_at.as_millisecond().to_string(),
            id: d.id.clone(),
        }))
    }

    /// Makes a failed or dead delivery due now, with a fresh count of attempts.
    pub async fn retry_delivery(
        &self,
        actor: &Actor,
        id: String,
    ) -> Result<DeliveryRecord, AppError> {
        authorize(actor, Action::ManageDeliveries, Subject::Clinic)?;
        let actor = actor.clone();
        let now = self.now();
        let delivery = self
            .store
            .write(move |tx| {
                let delivery = tx
                    .find_delivery(&id)?
                    .ok_or(AppError::NotFound("delivery"))?;
                if !tx.requeue_delivery(&id, now)? {
                    return Err(AppError::conflict(
                        ConflictKind::NotRetryable,
                        format!(
                            "only a failed or dead delivery can be retried; this one is {}",
                            delivery.status.as_str()
                        ),
                    ));
                }
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "delivery.retried",
                    ("delivery", Some(id.as_str())),
                    json!({ "channel": delivery.channel, "was": delivery.status.as_str() }),
                )?;
                tx.find_delivery(&id)?.ok_or(AppError::NotFound("delivery"))
            })
            .await?;
        self.ring_outbox();
        Ok(delivery)
    }

    /// `POST /appointments/{id}/remind`: a reminder to the patient now, on every
    /// channel they take. Refused for an appointment that is not live and ahead,
    /// and within ten minutes of the last one asked for.
    pub async fn remind(&self, actor: &Actor, id: AppointmentId) -> Result<(), AppError> {
        let actor = actor.clone();
        let now = self.now();
        let notifier = self.notifier.clone();
        self.store
            .write(move |tx| {
                let view = visible_appointment(tx, &actor, &id)?;
                let subject = Subject::Appointment {
                    patient: &view.record.patient_id,
                    doctor: &view.record.doctor_id,
                };
                authorize(&actor, Action::SendReminder, subject)?;
                let live = matches!(
                    view.record.status,
                    AppointmentStatus::Requested | AppointmentStatus::Confirmed
                );
                if !live || view.record.slot.start <= now {
                    return Err(AppError::conflict(
                        ConflictKind::NotRemindable,
                        "only an appointment that is requested or confirmed and still ahead can be reminded of",
                    ));
                }
                let doctor = tx
                    .find_doctor(&view.record.doctor_id)?
                    .ok_or(AppError::NotFound("doctor"))?;
                if !notifier.remind_now(tx, &view, zone_name(&doctor.schedule), now)? {
                    return Err(AppError::conflict(
                        ConflictKind::ReminderRecentlySent,
                        "a reminder for this appointment was sent in the last ten minutes",
                    ));
                }
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "appointment.reminded",
                    ("appointment", Some(view.record.id.as_str())),
                    json!({}),
                )?;
                Ok::<_, AppError>(())
            })
            .await?;
        self.ring_outbox();
        Ok(())
    }

    // The worker's steps. Each is one short transaction; sending happens between
    // them, outside any transaction.

    /// Writes the reminders that fall due soon, when the plan reaches less than
    /// [`PLAN_AGAIN_WITHIN`] ahead (a read otherwise); the number written.
    pub async fn plan_reminders(&self) -> Result<usize, AppError> {
        let now = self.now();
        let planned = self
            .store
            .read(|tx| Ok::<_, AppError>(tx.reminders_planned_through()?))
            .await?;
        if planned.is_some_and(|through| through >= now + PLAN_AGAIN_WITHIN) {
            return Ok(0);
        }
        let notifier = self.notifier.clone();
        self.store
            .write(move |tx| notifier.plan_reminders(tx, now))
            .await
    }

    /// Claims up to `limit` due deliveries for `owner`, leased for `lease_seconds`.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, AppError> {
        let owner = owner.to_owned();
        let now = self.now();
        let lease = SignedDuration::from_secs(
            i64::try_from(self.settings.outbox.lease_seconds).unwrap_or(3600),
        );
        self.store
            .write(move |tx| {
                Ok::<_, AppError>(tx.claim_deliveries(&owner, now, now + lease, limit)?)
            })
            .await
    }

    /// For `/metrics`: deliveries per status, every status listed.
    pub async fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, i64)>, AppError> {
        let found = self
            .store
            .read(|tx| Ok::<_, AppError>(tx.count_deliveries_by_status()?))
            .await?;
        Ok(DeliveryStatus::ALL
            .into_iter()
            .map(|status| {
                let count = found
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                (status, count)
            })
            .collect())
    }

    pub async fn next_delivery_due(&self) -> Result<Option<Timestamp>, AppError> {
        self.store
            .read(|tx| Ok::<_, AppError>(tx.next_delivery_due()?))
            .await
    }

    /// Reads what a claimed delivery needs, as things are now: the recipient's
    /// current address and preferences, and for a reminder whether its appointment
    /// is still live, unmoved and ahead (a reminder that fell due while carebook was
    /// down is sent late only then).
    pub async fn prepare_delivery(&self, delivery: &DeliveryRecord) -> Result<Prepared, AppError> {
        let notice: Notice = match serde_json::from_str(&delivery.payload) {
            Ok(notice) => notice,
            Err(_) => return Ok(Prepared::Skip("the stored notice is unreadable".into())),
        };
        let Some(channel) = Channel::parse(&delivery.channel) else {
            return Ok(Prepared::Skip("unknown channel".into()));
        };
        if notice.kind.is_security() && notice.action_link.is_none() {
            return Ok(Prepared::Skip(
                "the link of this message was removed after its first delivery ended".into(),
            ));
        }
        let user = delivery.user_id.clone();
        let now = self.now();
        let offsets = self.settings.reminders.offsets_minutes.clone();
        let video_url_template = self.settings.video_url_template.clone();
        self.store
            .read(move |tx| {
                if notice.kind == NoticeKind::Reminder
                    && let Some(facts) = &notice.appointment
                {
                    let current = tx.find_appointment(&AppointmentId::new(&facts.id))?;
                    let Some(current) = current else {
                        return Ok(Prepared::Skip("the appointment is gone".into()));
                    };
                    let record = &current.record;
                    if !matches!(
                        record.status,
                        AppointmentStatus::Requested | AppointmentStatus::Confirmed
                    ) {
                        return Ok(Prepared::Skip(format!(
                            "the appointment is {}",
                            record.status.as_str()
                        )));
                    }
                    if record.slot.start != facts.start {
                        return Ok(Prepared::Skip("the appointment moved".into()));
                    }
                    if record.slot.start <= now {
                        return Ok(Prepared::Skip("the appointment has begun".into()));
                    }
                    // After downtime several reminders may be overdue at once: the
                    // one closest to the start says it all.
                    let superseded = offsets.iter().any(|minutes| {
                        let due = facts.start - SignedDuration::from_mins(*minutes);
                        due > notice.occurred_at && due <= now
                    });
                    if superseded {
                        return Ok(Prepared::Skip("a later reminder replaces it".into()));
                    }
                }
                let Some(user_id) = user else {
                    return Ok(Prepared::Send {
                        notice: Box::new(notice),
                        recipient: None,
                    });
                };
                let Some(account) = tx.find_user(&user_id)? else {
                    return Ok(Prepared::Skip("the account is gone".into()));
                };
                if account.status != UserStatus::Active {
                    return Ok(Prepared::Skip("the account is not active".into()));
                }
                let preferences = preferences_of(tx, &user_id)?;
                match channel {
                    // Account security mail goes whatever the preferences say.
                    Channel::Email if !preferences.email_enabled && !notice.kind.is_security() => {
                        return Ok(Prepared::Skip("the recipient turned email off".into()));
                    }
                    Channel::Sms if !preferences.sms_enabled => {
                        return Ok(Prepared::Skip("the recipient turned texts off".into()));
                    }
                    Channel::Sms if account.phone.is_none() => {
                        return Ok(Prepared::Skip("the recipient has no phone number".into()));
                    }
                    _ => {}
                }
                let mut notice = notice;
                if channel == Channel::Email {
                    add_video_link(tx, &mut notice, &account, &video_url_template)?;
                }
                Ok::<_, AppError>(Prepared::Send {
                    notice: Box::new(notice),
                    recipient: Some(Recipient {
                        user_id: account.id.to_string(),
                        name: account.name,
                        email: account.email,
                        phone: account.phone,
                    }),
                })
            })
            .await
    }

    /// An in-app delivery: the entry and the mark in one transaction, so it is
    /// written exactly once.
    pub async fn deliver_in_app(
        &self,
        delivery: &DeliveryRecord,
        owner: &str,
        notice: Notice,
        user: UserId,
    ) -> Result<bool, AppError> {
        let id = delivery.id.clone();
        let owner = owner.to_owned();
        let now = self.now();
        let notifier = self.notifier.clone();
        self.store
            .write(move |tx| {
                let outcome = DeliveryOutcome {
                    status: DeliveryStatus::Sent,
                    due_at: None,
                    last_error: None,
                    at: now,
                };
                if !tx.finish_delivery(&id, &owner, &outcome)? {
                    return Ok(false);
                }
                insert_in_app(tx, notifier.templates(), &notice, &user, now)?;
                Ok::<_, AppError>(true)
            })
            .await
    }

    /// Records how an attempt ended: sent; failed for good; or, for a failure worth
    /// retrying, retrying after a backoff until the attempts run out, then dead.
    /// `false` when the lease was lost (another worker took the delivery over).
    pub async fn finish_delivery(
        &self,
        delivery: &DeliveryRecord,
        owner: &str,
        result: Result<(), DeliveryError>,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let outcome = match result {
            Ok(()) => DeliveryOutcome {
                status: DeliveryStatus::Sent,
                due_at: None,
                last_error: None,
                at: now,
            },
            Err(error) if !error.retryable => DeliveryOutcome {
                status: DeliveryStatus::Failed,
                due_at: None,
                last_error: Some(error.message),
                at: now,
            },
            Err(error) if delivery.attempts >= i64::from(self.settings.outbox.max_attempts) => {
                DeliveryOutcome {
                    status: DeliveryStatus::Dead,
                    due_at: None,
                    last_error: Some(error.message),
                    at: now,
                }
            }
            Err(error) => DeliveryOutcome {
                status: DeliveryStatus::Retrying,
                due_at: Some(
                    now + retry_delay(&self.settings.outbox, delivery.attempts, random_unit()),
                ),
                last_error: Some(error.message),
                at: now,
            },
        };
        self.record_outcome(delivery, owner, outcome).await
    }

    pub async fn skip_delivery(
        &self,
        delivery: &DeliveryRecord,
        owner: &str,
        why: String,
    ) -> Result<bool, AppError> {
        let outcome = DeliveryOutcome {
            status: DeliveryStatus::Skipped,
            due_at: None,
            last_error: Some(why),
            at: self.now(),
        };
        self.record_outcome(delivery, owner, outcome).await
    }

    async fn record_outcome(
        &self,
        delivery: &DeliveryRecord,
        owner: &str,
        outcome: DeliveryOutcome,
    ) -> Result<bool, AppError> {
        let id = delivery.id.clone();
        let owner = owner.to_owned();
        // A security email's link carries a live token: once the delivery is over
        // (sent, failed, dead or skipped), the stored copy loses the link.
        let scrubbed = (outcome.status != DeliveryStatus::Retrying)
            .then(|| without_action_link(&delivery.payload))
            .flatten();
        self.store
            .write(move |tx| {
                let recorded = tx.finish_delivery(&id, &owner, &outcome)?;
                if recorded && let Some(payload) = &scrubbed {
                    tx.replace_delivery_payload(&id, payload)?;
                }
                Ok::<_, AppError>(recorded)
            })
            .await
    }
}

/// Puts a video visit's meeting link into an email about it (confirmation,
/// reschedule, reminder), read from the appointment as it is now, when the
/// recipient is the visit's patient or doctor (`carebook_domain::video`). Only in
/// memory, for this one email: the stored notice never holds the link, so no
/// webhook, text, in-app entry, delivery log or server log can show it.
fn add_video_link(
    tx: &mut dyn Tx,
    notice: &mut Notice,
    recipient: &UserRecord,
    template: &str,
) -> Result<(), AppError> {
    if !matches!(
        notice.kind,
        NoticeKind::AppointmentConfirmed
            | NoticeKind::AppointmentRescheduled
            | NoticeKind::Reminder
    ) {
        return Ok(());
    }
    let Some(facts) = notice.appointment.as_mut() else {
        return Ok(());
    };
    let Some(current) = tx.find_appointment(&AppointmentId::new(&facts.id))? else {
        return Ok(());
    };
    let record = &current.record;
    let visit = super::video::visit_of(record);
    if let Some(room) = &record.video_room
        && carebook_domain::video::may_receive_link(&recipient.id, recipient.role, &visit)
    {
        facts.video_url = Some(super::video_url(template, room));
    }
    Ok(())
}

/// The payload of a notice with an action link, without it; `None` for any other.
fn without_action_link(payload: &str) -> Option<String> {
    let mut notice: Notice = serde_json::from_str(payload).ok()?;
    notice.action_link.take()?;
    serde_json::to_string(&notice).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_cap() {
        let settings = OutboxSettings::default();
        let secs = |attempts, jitter| retry_delay(&settings, attempts, jitter).as_secs_f64();
        assert_eq!(secs(1, 0.0), 30.0);
        assert_eq!(secs(2, 0.0), 60.0);
        assert_eq!(secs(3, 0.0), 120.0);
        assert_eq!(secs(1, 1.0), 15.0, "jitter takes at most half off");
        assert_eq!(secs(20, 0.0), 3600.0, "capped");
        assert_eq!(secs(1000, 0.0), 3600.0, "no overflow");
        assert!(secs(0, 0.5) > 0.0);
    }
}
