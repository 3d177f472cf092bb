//! Who is told what: the one place that decides it.
//!
//! Called inside the transaction of the change, so a committed change always has its
//! notifications in the outbox (and in the in-app list) and a rolled-back one has
//! none. Delivery is the worker's (`notify`); it checks again, when sending, that the
//! recipient still wants the channel and that a reminder's appointment is still
//! ahead.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use carebook_domain::policy::{Actor, AppointmentScope};
use carebook_domain::{AppointmentStatus, Role};
use jiff::{SignedDuration, Timestamp};

use super::appointments::zone_name;
use super::{AppError, new_id, sha256_hex};
use crate::config::Settings;
use crate::notify::render::{InApp, Templates};
use crate::notify::{
    AppointmentFacts, Channel, ClinicFacts, Notice, NoticeKind, PaymentFacts, UserFacts,
};
use crate::store::{
    AppointmentFilter, AppointmentId, AppointmentRecord, AppointmentView, Cursor, DeliveryRecord,
    DeliveryStatus, NotificationPreferences, NotificationRecord, PageRequest, PaymentRecord, Tx,
    UserId, UserRecord,
};

/// What the notifier knows of the clinic's set-up.
pub struct Notifier {
    clinic: ClinicFacts,
    templates: Arc<Templates>,
    sms: bool,
    webhook_urls: Vec<String>,
    sns: bool,
    reminder_offsets: Vec<SignedDuration>,
}

/// An appointment was booked or moved.
pub(crate) struct AppointmentChange<'a> {
    /// `book` or the transition's name.
    pub action: &'a str,
    pub actor: &'a Actor,
    pub view: &'a AppointmentView,
    pub before: Option<&'a AppointmentRecord>,
    /// The doctor's zone: messages show times in it.
    pub time_zone: &'a str,
    pub now: Timestamp,
    /// The appointment's iCalendar sequence when the caller knows it (a booking
    /// just made: 0); else it is counted from the appointment's history.
    pub sequence: Option<u32>,
    /// Who among the audience the caller read in this transaction already.
    pub known: KnownPeople<'a>,
}

/// The people of an appointment its change already read, in the same transaction:
/// the notifier tells them without reading them again. A booking reads its patient
/// and finds its doctor active; those two lookups were 4 % of the writer's
/// instructions per booking (docs/BENCHMARKS.md, session 27).
#[derive(Clone, Copy, Default)]
pub(crate) struct KnownPeople<'a> {
    pub patient: Option<&'a UserRecord>,
    /// The appointment's doctor is a doctor's account, read in this transaction.
    pub doctor: bool,
}

/// What telling someone needs to know of them.
struct Recipient<'a> {
    id: &'a UserId,
    role: Role,
    phone: Option<&'a str>,
}

impl<'a> From<&'a UserRecord> for Recipient<'a> {
    fn from(user: &'a UserRecord) -> Self {
        Recipient {
            id: &user.id,
            role: user.role,
            phone: user.phone.as_deref(),
        }
    }
}

impl<'a> KnownPeople<'a> {
    fn recipient(&self, user: &'a UserId, record: &AppointmentRecord) -> Option<Recipient<'a>> {
        if let Some(patient) = self.patient.filter(|patient| patient.id == *user) {
            return Some(Recipient::from(patient));
        }
        (self.doctor && record.doctor_id == *user).then_some(Recipient {
            id: user,
            role: Role::Doctor,
            // Texts go to patients only.
            phone: None,
        })
    }
}

/// A change's notice rendered before its write transaction: the in-app texts of
/// its audience and the outbox's payload. The writer is one thread that every
/// write waits for in turn, and rendering was a twentieth of its time per booking;
/// here it is done on the caller's thread instead. The write uses these texts
/// only when the notice it builds is exactly the one they were rendered from
/// (rendering is a function of the notice and the recipient), so a guess made
/// from a stale copy costs a render, never a wrong message.
pub(crate) struct RenderedAhead {
    notice: Notice,
    payload: String,
    in_app: Vec<(UserId, InApp)>,
}

impl RenderedAhead {
    fn in_app_for(&self, user: &UserId) -> Option<&InApp> {
        self.in_app
            .iter()
            .find_map(|(to, text)| (to == user).then_some(text))
    }
}

/// A user's preferences, or the defaults of someone who never set them: email on,
/// texts on (sent only once they give a phone number and the clinic has SMS).
pub(crate) fn preferences_of(
    tx: &mut dyn Tx,
    user: &UserId,
) -> Result<NotificationPreferences, AppError> {
    Ok(tx
        .find_notification_preferences(user)?
        .unwrap_or(NotificationPreferences {
            user_id: user.clone(),
            email_enabled: true,
            sms_enabled: true,
            updated_at: Timestamp::UNIX_EPOCH,
        }))
}

/// Whether the notice is worth a text message: only what a patient must act on or
/// turn up for. Everything else goes by email and in-app.
fn texts(kind: NoticeKind) -> bool {
    matches!(
        kind,
        NoticeKind::AppointmentConfirmed
            | NoticeKind::AppointmentRejected
            | NoticeKind::AppointmentCancelled
            | NoticeKind::AppointmentRescheduled
            | NoticeKind::Reminder
    )
}

/// The notice an appointment's change makes, if any.
fn kind_of(action: &str, status: AppointmentStatus) -> Option<NoticeKind> {
    Some(match action {
        "book" if status == AppointmentStatus::Confirmed => NoticeKind::AppointmentConfirmed,
        "book" => NoticeKind::AppointmentRequested,
        "confirm" => NoticeKind::AppointmentConfirmed,
        "reject" => NoticeKind::AppointmentRejected,
        "cancel" => NoticeKind::AppointmentCancelled,
        "reschedule" => NoticeKind::AppointmentRescheduled,
        "check_in" => NoticeKind::PatientCheckedIn,
        _ => return None,
    })
}

/// Who hears of an appointment's change: the doctor of requests and check-ins; the
/// patient of every decision about their visit, and the doctor too when someone
/// else made it; a patient booked for by the front desk hears of it as well.
fn audience(kind: NoticeKind, actor: &Actor, appointment: &AppointmentRecord) -> Vec<UserId> {
    let patient = &appointment.patient_id;
    let doctor = &appointment.doctor_id;
    let mut told = Vec::new();
    match kind {
        NoticeKind::AppointmentRequested => {
            told.push(doctor.clone());
            if actor.user_id != *patient {
                told.push(patient.clone());
            }
        }
        NoticeKind::AppointmentConfirmed
        | NoticeKind::AppointmentRejected
        | NoticeKind::AppointmentCancelled
        | NoticeKind::AppointmentRescheduled => {
            told.push(patient.clone());
            if actor.user_id != *doctor {
                told.push(doctor.clone());
            }
        }
        NoticeKind::PatientCheckedIn => told.push(doctor.clone()),
        NoticeKind::Welcome
        | NoticeKind::DoctorApproved
        | NoticeKind::Reminder
        | NoticeKind::PasswordReset
        | NoticeKind::EmailVerification
        | NoticeKind::NewSignIn
        | NoticeKind::PrescriptionIssued
        | NoticeKind::PaymentReceived
        | NoticeKind::PaymentRefunded => {}
    }
    told
}

fn is_live(status: AppointmentStatus) -> bool {
    matches!(
        status,
        AppointmentStatus::Requested | AppointmentStatus::Confirmed
    )
}

impl Notifier {
    pub fn new(settings: &Settings, templates: Arc<Templates>) -> Notifier {
        Notifier {
            clinic: ClinicFacts {
                name: settings.clinic_name.clone(),
                time_zone: settings.clinic_time_zone.clone(),
                base_url: settings.public_url.trim_end_matches('/').to_owned(),
            },
            templates,
            sms: settings.twilio.is_configured(),
            webhook_urls: settings.webhook.urls.clone(),
            sns: settings.sns.is_configured(),
            reminder_offsets: settings
                .reminders
                .offsets_minutes
                .iter()
                .map(|m| SignedDuration::from_mins(*m))
                .collect(),
        }
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Reminders go on every channel the clinic has; whether the patient takes
    /// one is checked when it is due.
    fn reminder_channels(&self) -> Vec<Channel> {
        let mut channels = vec![Channel::Email, Channel::InApp];
        if self.sms {
            channels.push(Channel::Sms);
        }
        channels
    }

    fn notice(&self, kind: NoticeKind, now: Timestamp) -> Notice {
        Notice {
            event_id: new_id("evt"),
            kind,
            occurred_at: now,
            clinic: self.clinic.clone(),
            user: None,
            appointment: None,
            changed_by: None,
            action_link: None,
            payment: None,
        }
    }

    /// A new account: welcome its owner.
    pub(crate) fn account_created(
        &self,
        tx: &mut dyn Tx,
        user: &UserRecord,
        now: Timestamp,
    ) -> Result<(), AppError> {
        self.account_notice(tx, NoticeKind::Welcome, user, now)
    }

    pub(crate) fn doctor_approved(
        &self,
        tx: &mut dyn Tx,
        user: &UserRecord,
        now: Timestamp,
    ) -> Result<(), AppError> {
        self.account_notice(tx, NoticeKind::DoctorApproved, user, now)
    }

    /// A security message with a single-use link (password reset, email
    /// verification): one email to the account's owner and nothing else, so the
    /// link reaches no webhook, no SNS topic and no in-app list.
    pub(crate) fn security_email(
        &self,
        tx: &mut dyn Tx,
        kind: NoticeKind,
        user: &UserRecord,
        link: String,
        now: Timestamp,
    ) -> Result<(), AppError> {
        debug_assert!(kind.is_security());
        let mut notice = self.notice(kind, now);
        notice.user = Some(UserFacts {
            id: user.id.to_string(),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
        });
        notice.action_link = Some(link);
        enqueue_for(
            tx,
            Channel::Email,
            &notice,
            &payload_of(&notice)?,
            &user.id,
            now,
        )?;
        Ok(())
    }

    /// Where links in messages point: `public_url` without a trailing slash.
    pub(crate) fn base_url(&self) -> &str {
        &self.clinic.base_url
    }

    fn account_notice(
        &self,
        tx: &mut dyn Tx,
        kind: NoticeKind,
        user: &UserRecord,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let mut notice = self.notice(kind, now);
        notice.user = Some(UserFacts {
            id: user.id.to_string(),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
        });
        let payload = payload_of(&notice)?;
        self.tell(tx, &notice, &payload, &Recipient::from(user), now, None)?;
        self.broadcast(tx, &notice, &payload, now)
    }

    pub(crate) fn appointment_changed(
        &self,
        tx: &mut dyn Tx,
        change: AppointmentChange<'_>,
        ahead: Option<&RenderedAhead>,
    ) -> Result<(), AppError> {
        let record = &change.view.record;
        let moved = change.before.is_some_and(|b| b.slot != record.slot);
        if !is_live(record.status) || moved {
            let why = if moved {
                "the appointment moved"
            } else {
                "the appointment is no longer live"
            };
            tx.cancel_pending_deliveries(
                &record.id,
                NoticeKind::Reminder.as_str(),
                change.now,
                why,
            )?;
        }
        let Some(kind) = kind_of(change.action, record.status) else {
            return Ok(());
        };
        let sequence = match change.sequence {
            Some(known) => known,
            None => history_sequence(tx, &record.id)?,
        };
        let mut notice = self.change_notice(kind, &change, sequence);
        // The event id is drawn at random: the one field the two notices can only
        // share by taking it from the early one.
        if let Some(ahead) = ahead {
            notice.event_id.clone_from(&ahead.notice.event_id);
        }
        let ahead = ahead.filter(|ahead| ahead.notice == notice);
        let payload = match ahead {
            Some(ahead) => Cow::Borrowed(ahead.payload.as_str()),
            None => Cow::Owned(payload_of(&notice)?),
        };
        for user_id in &audience(kind, change.actor, record) {
            let read;
            let user = match change.known.recipient(user_id, record) {
                Some(known) => known,
                None => {
                    read = tx.find_user(user_id)?;
                    match &read {
                        Some(user) => Recipient::from(user),
                        None => continue,
                    }
                }
            };
            let in_app = ahead.and_then(|ahead| ahead.in_app_for(user.id));
            self.tell(tx, &notice, &payload, &user, change.now, in_app)?;
        }
        self.broadcast(tx, &notice, &payload, change.now)?;
        if is_live(record.status) && (change.action == "book" || moved) {
            self.schedule_reminders(tx, &notice, change.now)?;
        }
        Ok(())
    }

    /// Renders, outside any transaction, the notice `change` will make, for
    /// [`Notifier::appointment_changed`] to use if the change turns out as predicted.
    /// `None`: the change makes no notice, or its sequence is not known beforehand.
    pub(crate) fn render_ahead(&self, change: &AppointmentChange<'_>) -> Option<RenderedAhead> {
        let record = &change.view.record;
        let kind = kind_of(change.action, record.status)?;
        let notice = self.change_notice(kind, change, change.sequence?);
        let in_app = audience(kind, change.actor, record)
            .into_iter()
            .filter_map(|user| {
                let text = self.templates.in_app(&notice, user.as_str()).ok()?;
                Some((user, text))
            })
            .collect();
        let payload = payload_of(&notice).ok()?;
        Some(RenderedAhead {
            notice,
            payload,
            in_app,
        })
    }

    fn change_notice(
        &self,
        kind: NoticeKind,
        change: &AppointmentChange<'_>,
        sequence: u32,
    ) -> Notice {
        let mut notice = self.notice(kind, change.now);
        notice.changed_by = Some(change.actor.role.as_str().to_owned());
        notice.appointment = Some(appointment_facts(
            change.view,
            change.before,
            change.time_zone,
            sequence,
        ));
        notice
    }

    /// A prescription was issued: the patient is told in-app and by email (by
    /// their preferences), never by text and never to the clinic's integrations,
    /// and the message names no medicine: it says who issued one and where to
    /// read it after signing in.
    pub(crate) fn prescription_issued(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        view: &AppointmentView,
        time_zone: &str,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let mut notice = self.notice(NoticeKind::PrescriptionIssued, now);
        notice.changed_by = Some(actor.role.as_str().to_owned());
        notice.appointment = Some(appointment_facts(
            view,
            None,
            time_zone,
            history_sequence(tx, &view.record.id)?,
        ));
        if let Some(patient) = tx.find_user(&view.record.patient_id)? {
            self.tell(
                tx,
                &notice,
                &payload_of(&notice)?,
                &Recipient::from(&patient),
                now,
                None,
            )?;
        }
        Ok(())
    }

    /// A receipt ([`NoticeKind::PaymentReceived`]) or a refund
    /// ([`NoticeKind::PaymentRefunded`]): to the patient, in-app and by email, never
    /// by text or to the clinic's integrations. One per payment and kind, however
    /// often it is asked for.
    pub(crate) fn payment_notice(
        &self,
        tx: &mut dyn Tx,
        kind: NoticeKind,
        view: &AppointmentView,
        payment: &PaymentRecord,
        time_zone: &str,
        now: Timestamp,
    ) -> Result<(), AppError> {
        debug_assert!(matches!(
            kind,
            NoticeKind::PaymentReceived | NoticeKind::PaymentRefunded
        ));
        let mut notice = self.notice(kind, now);
        notice.event_id = format!("{}_{}", kind.as_str(), payment.id);
        notice.appointment = Some(appointment_facts(
            view,
            None,
            time_zone,
            history_sequence(tx, &view.record.id)?,
        ));
        notice.payment = Some(PaymentFacts {
            id: payment.id.to_string(),
            amount_minor: payment.amount_minor,
            currency: payment.currency.clone(),
            method: payment.method.as_str().to_owned(),
            refund_reason: payment
                .refund_reason
                .clone()
                .filter(|_| kind == NoticeKind::PaymentRefunded),
        });
        if let Some(patient) = tx.find_user(&view.record.patient_id)? {
            insert_in_app(tx, &self.templates, &notice, &patient.id, now)?;
            if preferences_of(tx, &patient.id)?.email_enabled {
                let payload = payload_of(&notice)?;
                enqueue_for(tx, Channel::Email, &notice, &payload, &patient.id, now)?;
            }
        }
        Ok(())
    }

    /// The in-app entry now, and an email (and a text, for what a patient must act
    /// on) through the outbox, by the recipient's preferences.
    ///
    /// `payload` is the notice as the outbox keeps it; `in_app`, its in-app text
    /// for this user if rendered already.
    fn tell(
        &self,
        tx: &mut dyn Tx,
        notice: &Notice,
        payload: &str,
        user: &Recipient<'_>,
        now: Timestamp,
        in_app: Option<&InApp>,
    ) -> Result<(), AppError> {
        match in_app {
            Some(text) => insert_rendered(tx, notice, user.id, text.clone(), now)?,
            None => insert_in_app(tx, &self.templates, notice, user.id, now)?,
        }
        let preferences = preferences_of(tx, user.id)?;
        if preferences.email_enabled {
            enqueue_for(tx, Channel::Email, notice, payload, user.id, now)?;
        }
        let is_patient = user.role == Role::Patient;
        if self.sms
            && texts(notice.kind)
            && is_patient
            && preferences.sms_enabled
            && user.phone.is_some()
        {
            enqueue_for(tx, Channel::Sms, notice, payload, user.id, now)?;
        }
        Ok(())
    }

    /// The clinic's integrations hear of every event once: each webhook endpoint, and
    /// the SNS topic.
    fn broadcast(
        &self,
        tx: &mut dyn Tx,
        notice: &Notice,
        payload: &str,
        now: Timestamp,
    ) -> Result<(), AppError> {
        for url in &self.webhook_urls {
            let key = format!("{}:webhook:{}", notice.event_id, &sha256_hex(url)[..16]);
            let to = Some(url.as_str());
            enqueue(
                tx,
                Channel::Webhook,
                notice,
                payload,
                None,
                to,
                now,
                key,
                now,
            )?;
        }
        if self.sns {
            let key = format!("{}:sns", notice.event_id);
            enqueue(tx, Channel::Sns, notice, payload, None, None, now, key, now)?;
        }
        Ok(())
    }

    /// The reminders a booking or a move writes itself: those that fall due before
    /// the planner's next pass could write them ([`Notifier::plan_reminders`] writes
    /// the rest shortly before they are due). Those whose time has already passed
    /// are not written (the confirmation just sent says the same).
    fn schedule_reminders(
        &self,
        tx: &mut dyn Tx,
        about: &Notice,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let Some(appointment) = &about.appointment else {
            return Ok(());
        };
        let planned = tx.reminders_planned_through()?.unwrap_or(now);
        let reach = planned.max(now + PLAN_AHEAD) + PLAN_MARGIN;
        for offset in &self.reminder_offsets {
            let due = appointment.start - *offset;
            if due > now && due < reach {
                self.write_reminder(tx, about, *offset, now)?;
            }
        }
        Ok(())
    }

    /// One reminder on every channel the clinic has, `offset` before the start.
    /// The key names the start, so a move writes new reminders and a repeated write
    /// of the same ones changes nothing.
    fn write_reminder(
        &self,
        tx: &mut dyn Tx,
        about: &Notice,
        offset: SignedDuration,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let Some(appointment) = &about.appointment else {
            return Ok(());
        };
        let patient = UserId::new(&appointment.patient_id);
        let due = appointment.start - offset;
        let start_ms = appointment.start.as_millisecond();
        let minutes = offset.as_mins();
        let mut notice = about.clone();
        notice.kind = NoticeKind::Reminder;
        notice.event_id = format!("rem_{}_{start_ms}_{minutes}", appointment.id);
        notice.occurred_at = due;
        notice.changed_by = None;
        let payload = payload_of(&notice)?;
        for channel in self.reminder_channels() {
            let key = format!(
                "reminder:{}:{start_ms}:{minutes}:{}",
                appointment.id,
                channel.as_str()
            );
            let to = Some(&patient);
            enqueue(tx, channel, &notice, &payload, to, None, due, key, now)?;
        }
        Ok(())
    }

    /// The planner's pass: writes the reminders that fall due from where the last
    /// pass stopped until [`PLAN_AHEAD`] from now, for every appointment that is
    /// requested or confirmed and still ahead. After downtime an overdue reminder is
    /// written only when it fell due after the appointment was last changed and no
    /// later reminder of it is overdue too (the one closest to the start says it
    /// all). Returns the reminders written (one per offset, whatever the channels).
    pub(crate) fn plan_reminders(
        &self,
        tx: &mut dyn Tx,
        now: Timestamp,
    ) -> Result<usize, AppError> {
        let from = tx.begin_reminder_plan()?.unwrap_or(now);
        let through = now + PLAN_AHEAD;
        if from >= through {
            return Ok(0);
        }
        let mut zones: HashMap<UserId, String> = HashMap::new();
        let mut written = 0;
        for offset in &self.reminder_offsets {
            let starts = (from + *offset).max(now)..through + *offset;
            for view in live_appointments_starting(tx, starts)? {
                let start = view.record.slot.start;
                let due = start - *offset;
                if start <= now {
                    continue;
                }
                if due <= now {
                    let changed_since = view.record.updated_at >= due;
                    let superseded = self
                        .reminder_offsets
                        .iter()
                        .any(|other| other < offset && start - *other <= now);
                    if changed_since || superseded {
                        continue;
                    }
                }
                let zone = match zones.get(&view.record.doctor_id) {
                    Some(zone) => zone.clone(),
                    None => {
                        let zone = tx
                            .find_doctor(&view.record.doctor_id)?
                            .map(|doctor| zone_name(&doctor.schedule).to_owned())
                            .unwrap_or_else(|| self.clinic.time_zone.clone());
                        zones.insert(view.record.doctor_id.clone(), zone.clone());
                        zone
                    }
                };
                let mut about = self.notice(NoticeKind::Reminder, now);
                about.appointment = Some(appointment_facts(
                    &view,
                    None,
                    &zone,
                    history_sequence(tx, &view.record.id)?,
                ));
                self.write_reminder(tx, &about, *offset, now)?;
                written += 1;
            }
        }
        tx.set_reminders_planned_through(through)?;
        Ok(written)
    }

    /// The reminders of a live appointment that was written without them (the demo
    /// clinic is loaded straight into the store): those the planner will not reach.
    pub(crate) fn schedule_reminders_for(
        &self,
        tx: &mut dyn Tx,
        view: &AppointmentView,
        time_zone: &str,
        now: Timestamp,
    ) -> Result<(), AppError> {
        if !is_live(view.record.status) || view.record.slot.start <= now {
            return Ok(());
        }
        let mut notice = self.notice(NoticeKind::Reminder, now);
        notice.appointment = Some(appointment_facts(
            view,
            None,
            time_zone,
            history_sequence(tx, &view.record.id)?,
        ));
        self.schedule_reminders(tx, &notice, now)
    }

    /// A reminder asked for by staff, due now on every channel the patient takes.
    /// `false` when one was already asked for within the last ten minutes.
    pub(crate) fn remind_now(
        &self,
        tx: &mut dyn Tx,
        view: &AppointmentView,
        time_zone: &str,
        now: Timestamp,
    ) -> Result<bool, AppError> {
        let mut notice = self.notice(NoticeKind::Reminder, now);
        notice.appointment = Some(appointment_facts(
            view,
            None,
            time_zone,
            history_sequence(tx, &view.record.id)?,
        ));
        let bucket = now.as_second().div_euclid(600);
        let channels = self.reminder_channels();
        let payload = payload_of(&notice)?;
        let mut written = false;
        for channel in channels {
            let key = format!("remind:{}:{bucket}:{}", view.record.id, channel.as_str());
            written |= enqueue(
                tx,
                channel,
                &notice,
                &payload,
                Some(&view.record.patient_id),
                None,
                now,
                key,
                now,
            )?;
        }
        Ok(written)
    }
}

/// How far ahead of now a planning pass writes reminders.
pub(crate) const PLAN_AHEAD: SignedDuration = SignedDuration::from_mins(15);
/// A pass runs once the plan reaches less than this far ahead.
pub(crate) const PLAN_AGAIN_WITHIN: SignedDuration = SignedDuration::from_mins(10);
/// A booking writes its own reminders this far beyond the plan, so that one that
/// commits while a pass runs (on PostgreSQL the pass may not see it), or an
/// instance whose clock runs a little behind, loses none.
const PLAN_MARGIN: SignedDuration = SignedDuration::from_mins(5);
/// Appointments read per query of a planning pass.
const PLAN_PAGE: u32 = 500;

/// Requested and confirmed appointments whose start lies in `starts`, soonest
/// first.
fn live_appointments_starting(
    tx: &mut dyn Tx,
    starts: std::ops::Range<Timestamp>,
) -> Result<Vec<AppointmentView>, AppError> {
    let filter = AppointmentFilter {
        scope: AppointmentScope::All,
        statuses: vec![AppointmentStatus::Requested, AppointmentStatus::Confirmed],
        from: Some(starts.start),
        to: Some(starts.end),
        doctor_id: None,
        patient_id: None,
        q: None,
        newest_first: false,
    };
    let mut found = Vec::new();
    let mut page = PageRequest {
        limit: PLAN_PAGE,
        after: None,
    };
    loop {
        let rows = tx.list_appointments(&filter, &page)?;
        let full = rows.len() == PLAN_PAGE as usize;
        page.after = rows.last().map(|last| Cursor {
            key: last.record.slot.start.as_millisecond().to_string(),
            id: last.record.id.to_string(),
        });
        found.extend(rows);
        if !full {
            return Ok(found);
        }
    }
}

/// The iCalendar sequence of an appointment: every change appends one history row,
/// so their count only grows, as a SEQUENCE must.
fn history_sequence(tx: &mut dyn Tx, appointment: &AppointmentId) -> Result<u32, AppError> {
    let changes = tx.appointment_events(appointment)?.len().saturating_sub(1);
    Ok(u32::try_from(changes).unwrap_or(u32::MAX))
}

fn appointment_facts(
    view: &AppointmentView,
    before: Option<&AppointmentRecord>,
    time_zone: &str,
    sequence: u32,
) -> AppointmentFacts {
    let record = &view.record;
    AppointmentFacts {
        id: record.id.to_string(),
        doctor_id: record.doctor_id.to_string(),
        doctor_name: view.doctor_name.clone(),
        patient_id: record.patient_id.to_string(),
        patient_name: view.patient_name.clone(),
        start: record.slot.start,
        end: record.slot.end,
        previous_start: before
            .map(|b| b.slot.start)
            .filter(|s| *s != record.slot.start),
        time_zone: time_zone.to_owned(),
        status: record.status.as_str().to_owned(),
        sequence,
        video_url: None,
    }
}

/// Writes the in-app entry. A template that fails to render (only a broken
/// override can) must not undo the change that caused the notice: the entry then
/// says plainly what happened.
pub(crate) fn insert_in_app(
    tx: &mut dyn Tx,
    templates: &Templates,
    notice: &Notice,
    user: &UserId,
    now: Timestamp,
) -> Result<(), AppError> {
    let text = templates
        .in_app(notice, user.as_str())
        .unwrap_or_else(|error| {
            tracing::error!(error = %error, "an in-app notice did not render");
            let what = notice.kind.event_type().to_owned();
            InApp {
                title: what.clone(),
                body: what,
                link: notice.link(),
            }
        });
    insert_rendered(tx, notice, user, text, now)
}

/// Writes the in-app entry of `notice` with its text already rendered.
fn insert_rendered(
    tx: &mut dyn Tx,
    notice: &Notice,
    user: &UserId,
    InApp { title, body, link }: InApp,
    now: Timestamp,
) -> Result<(), AppError> {
    tx.insert_notification(&NotificationRecord {
        id: notification_id(now),
        user_id: user.clone(),
        kind: notice.kind.as_str().to_owned(),
        title,
        body,
        link,
        appointment_id: notice
            .appointment
            .as_ref()
            .map(|a| AppointmentId::new(&a.id)),
        created_at: now,
        read_at: None,
    })?;
    Ok(())
}

/// Ids that sort by creation within one instance: the list's order ("newest
/// first") is `created_at`, then the id, and several entries share a millisecond.
fn notification_id(now: Timestamp) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = u64::try_from(now.as_millisecond()).unwrap_or(0);
    let random = super::id_random_bits() as u32;
    format!("ntf_{millis:012x}{count:08x}{random:08x}")
}

/// The outbox row of one event for one person on one channel, due now.
fn enqueue_for(
    tx: &mut dyn Tx,
    channel: Channel,
    notice: &Notice,
    payload: &str,
    user: &UserId,
    now: Timestamp,
) -> Result<bool, AppError> {
    let key = format!("{}:{}:{user}", notice.event_id, channel.as_str());
    enqueue(
        tx,
        channel,
        notice,
        payload,
        Some(user),
        None,
        now,
        key,
        now,
    )
}

/// A notice as the outbox keeps it (the worker renders it when it sends).
fn payload_of(notice: &Notice) -> Result<String, AppError> {
    serde_json::to_string(notice).map_err(|e| AppError::Internal(format!("notice as JSON: {e}")))
}

/// Writes one outbox row; `false` when its key was written before.
#[allow(clippy::too_many_arguments)]
fn enqueue(
    tx: &mut dyn Tx,
    channel: Channel,
    notice: &Notice,
    payload: &str,
    user: Option<&UserId>,
    target: Option<&str>,
    due_at: Timestamp,
    idempotency_key: String,
    now: Timestamp,
) -> Result<bool, AppError> {
    Ok(tx.insert_delivery(&DeliveryRecord {
        id: new_id("dlv"),
        idempotency_key,
        channel: channel.as_str().to_owned(),
        kind: notice.kind.as_str().to_owned(),
        user_id: user.cloned(),
        appointment_id: notice
            .appointment
            .as_ref()
            .map(|a| AppointmentId::new(&a.id)),
        target: target.map(str::to_owned),
        payload: payload.to_owned(),
        status: DeliveryStatus::Scheduled,
        due_at,
        attempts: 0,
        lease_owner: None,
        lease_until: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
    })?)
}
