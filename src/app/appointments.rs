//! Booking and the appointment lifecycle.

use std::sync::Arc;

use carebook_domain::appointment::{AppointmentFacts, moves_as_patient, plan_transition};
use carebook_domain::payment::{booking_status, waits_for_payment};
use carebook_domain::policy::{Action, Actor, Subject, appointment_scope, authorize};
use carebook_domain::validation::{MAX_REASON_CHARS, parse_text};
use carebook_domain::{
    AppointmentStatus, Role, SlotRefusal, Transition, UserStatus, ValidationErrors, VisitMode,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::accounts::Authenticated;
use super::availability::DoctorAvailability;
use super::chat::append_appointment_event;
use super::doctors::{busy_intervals, parse_instant};
use super::notices::{AppointmentChange, KnownPeople, RenderedAhead};
use super::payments::{hold_payment, settle_on_end};
use super::security::unverified;
use super::video::ensure_room;
use super::{App, AppError, AvailabilityCache, Event, Page, PageParams, audit, new_id, paginate};
use crate::store::{
    AppointmentEvent, AppointmentFilter, AppointmentId, AppointmentRecord, AppointmentView, Cursor,
    DoctorRecord, Interval, Tx, UserId,
};

#[derive(Debug, Clone)]
pub struct BookInput {
    pub doctor_id: String,
    pub start: String,
    /// Required when staff book; a patient books for themself.
    pub patient_id: Option<String>,
    pub reason: Option<String>,
    /// `in_person` (the default) or `video`; the doctor must offer it.
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AppointmentQuery {
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
    pub q: Option<String>,
    /// `start` (default, soonest first) or `-start` (latest first).
    pub sort: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AppointmentDetail {
    pub appointment: AppointmentView,
    pub history: Vec<AppointmentEvent>,
}

/// How far around a booking's start busy time is read to check it.
const CHECK_MARGIN_HOURS: i64 = 24;

fn around(start: Timestamp) -> Interval {
    let margin = SignedDuration::from_hours(CHECK_MARGIN_HOURS);
    Interval::new(start - margin, start + margin).expect("a non-empty margin")
}

/// A doctor and their busy time around a slot, and the held copy they came from,
/// if they did.
struct DoctorAround {
    doctor: Arc<DoctorRecord>,
    busy: Vec<Interval>,
    copy: Option<Arc<DoctorAvailability>>,
}

impl DoctorAround {
    /// Whether a slot starting at `start` can be booked against `busy`: on the held
    /// copy's slot grid when there is one, which spares working the grid out from
    /// the weekly hours in the writer (callgrind: 3 % of a booking's instructions).
    fn check_bookable(&self, start: Timestamp, now: Timestamp) -> Result<Interval, SlotRefusal> {
        match &self.copy {
            Some(copy) => copy.check_bookable(start, &self.busy, now),
            None => self.doctor.schedule.check_bookable(start, &self.busy, now),
        }
    }
}

/// The doctor and their busy time around `start`, as committed, once this
/// transaction holds the doctor's availability (so that nothing changes it before
/// the commit): from memory when the copy held is of exactly the version the
/// transaction builds on, otherwise from the database. `None`: no such doctor.
fn doctor_around(
    tx: &mut dyn Tx,
    held: &AvailabilityCache,
    doctor_id: &UserId,
    start: Timestamp,
) -> Result<Option<DoctorAround>, AppError> {
    let Some(version) = tx.begin_availability_change(doctor_id)? else {
        return Ok(None);
    };
    let window = around(start);
    if let Some(copy) = held.at_version(doctor_id, version)
        && copy.covers(window)
    {
        return Ok(Some(DoctorAround {
            doctor: copy.doctor.clone(),
            busy: copy.busy_in(window),
            copy: Some(copy),
        }));
    }
    let Some(doctor) = tx.find_doctor(doctor_id)? else {
        return Ok(None);
    };
    let busy = busy_intervals(tx, doctor_id, window)?;
    Ok(Some(DoctorAround {
        doctor: Arc::new(doctor),
        busy,
        copy: None,
    }))
}

/// Loads an appointment the actor may see; one they may not see is "not found".
pub(crate) fn visible_appointment(
    tx: &mut dyn Tx,
    actor: &Actor,
    id: &AppointmentId,
) -> Result<AppointmentView, AppError> {
    let view = tx
        .find_appointment(id)?
        .ok_or(AppError::NotFound("appointment"))?;
    let subject = Subject::Appointment {
        patient: &view.record.patient_id,
        doctor: &view.record.doctor_id,
    };
    authorize(actor, Action::ViewAppointment, subject)
        .map_err(|_| AppError::NotFound("appointment"))?;
    Ok(view)
}

fn facts_of<'a>(
    appointment: &'a AppointmentRecord,
    doctor: &'a DoctorRecord,
) -> AppointmentFacts<'a> {
    AppointmentFacts {
        status: appointment.status,
        patient_id: &appointment.patient_id,
        doctor_id: &appointment.doctor_id,
        slot: appointment.slot,
        time_zone: &doctor.schedule.time_zone,
        cancel_window_hours: doctor.schedule.rules.cancel_window_hours,
        auto_confirm: doctor.schedule.rules.auto_confirm,
    }
}

pub(crate) fn zone_name(schedule: &carebook_domain::Schedule) -> &str {
    schedule.time_zone.iana_name().unwrap_or("UTC")
}

/// A booking as asked for and checked, before its write.
struct BookingRequest {
    id: AppointmentId,
    doctor_id: UserId,
    patient_id: UserId,
    start: Timestamp,
    reason: Option<String>,
    mode: VisitMode,
    actor: Actor,
    now: Timestamp,
    online_payments: bool,
}

impl BookingRequest {
    /// The appointment this booking makes with `doctor` in `slot`, and whether it
    /// holds the slot until the patient pays.
    fn appointment(&self, doctor: &DoctorRecord, slot: Interval) -> (AppointmentRecord, bool) {
        // A patient booking themself with a doctor who takes the fee online holds
        // the slot until they pay; the desk's bookings never wait.
        let by_patient = self.patient_id == self.actor.user_id && self.actor.role == Role::Patient;
        let waits = self.online_payments
            && waits_for_payment(doctor.payment_mode, by_patient, doctor.fee.is_some());
        let mut record = AppointmentRecord {
            id: self.id.clone(),
            doctor_id: self.doctor_id.clone(),
            patient_id: self.patient_id.clone(),
            slot,
            status: booking_status(waits, doctor.schedule.rules.auto_confirm),
            reason: self.reason.clone(),
            status_reason: None,
            created_by: self.actor.user_id.clone(),
            created_at: self.now,
            updated_at: self.now,
            mode: self.mode,
            video_room: None,
        };
        ensure_room(&mut record);
        (record, waits)
    }

    /// The booking as the notifier hears of it. Its history holds only the booking
    /// itself: sequence 0.
    fn change<'a>(
        &'a self,
        view: &'a AppointmentView,
        schedule: &'a carebook_domain::Schedule,
    ) -> AppointmentChange<'a> {
        AppointmentChange {
            action: "book",
            actor: &self.actor,
            view,
            before: None,
            time_zone: zone_name(schedule),
            now: self.now,
            sequence: Some(0),
            known: KnownPeople::default(),
        }
    }
}

fn record_event(
    tx: &mut dyn Tx,
    actor: &Actor,
    action: &str,
    before: Option<&AppointmentRecord>,
    after: &AppointmentRecord,
    reason: Option<&str>,
) -> Result<(), AppError> {
    let event = AppointmentEvent {
        appointment_id: after.id.clone(),
        seq: 0,
        at: after.updated_at,
        actor_id: Some(actor.user_id.clone()),
        action: action.to_owned(),
        from_status: before.map(|b| b.status),
        to_status: after.status,
        from_start: before.map(|b| b.slot.start),
        to_start: Some(after.slot.start),
        reason: reason.map(str::to_owned),
    };
    tx.append_appointment_event(&event)?;
    audit(
        tx,
        after.updated_at,
        Some(&actor.user_id),
        &format!("appointment.{action}"),
        ("appointment", Some(after.id.as_str())),
        json!({
            "from": before.map(|b| b.status.as_str()),
            "to": after.status.as_str(),
            "from_start": before.map(|b| b.slot.start.to_string()),
            "to_start": after.slot.start.to_string(),
            "reason": reason,
        }),
    )?;
    Ok(())
}

impl App {
    /// Books a free slot: a patient for themself, or staff for a patient.
    pub async fn book(
        &self,
        caller: &Authenticated,
        input: BookInput,
    ) -> Result<AppointmentView, AppError> {
        let actor = &caller.actor;
        let mut errors = ValidationErrors::new();
        let start = errors.take(parse_instant("start", &input.start));
        let reason = errors.take(parse_text(
            "reason",
            input.reason.as_deref(),
            MAX_REASON_CHARS,
        ));
        if input.doctor_id.trim().is_empty() {
            errors.add("doctor_id", "is required");
        }
        let mode = match input.mode.as_deref().map(str::trim) {
            None | Some("") => VisitMode::InPerson,
            Some(value) => VisitMode::parse(value).unwrap_or_else(|| {
                errors.add("mode", "must be in_person or video");
                VisitMode::InPerson
            }),
        };
        let patient_id = match (input.patient_id.as_deref().map(str::trim), actor.role) {
            (Some(id), _) if !id.is_empty() => Some(UserId::new(id)),
            (_, Role::Patient) => Some(actor.user_id.clone()),
            _ => {
                errors.add("patient_id", "is required when booking for a patient");
                None
            }
        };
        let (Some(start), Some(reason), Some(patient_id)) = (start, reason, patient_id) else {
            return Err(errors.into());
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        authorize(
            actor,
            Action::BookAppointment,
            Subject::Patient(&patient_id),
        )?;
        let request = BookingRequest {
            id: AppointmentId::new(new_id("apt")),
            doctor_id: UserId::new(input.doctor_id.trim()),
            patient_id,
            start,
            reason,
            mode,
            actor: actor.clone(),
            now: self.now(),
            online_payments: self.settings.online_payments_enabled(),
        };
        let ahead = self.render_booking_ahead(&request, &caller.user.name);
        let notifier = self.notifier.clone();
        let held = self.availability.clone();
        let email_verification_on = self.settings.email_verification;
        let hold = SignedDuration::from_mins(self.settings.payment_hold_minutes);
        let changed = self
            .store
            .write_repeatable(move |tx| {
                let request = &request;
                let (actor, now) = (&request.actor, request.now);
                let patient = tx
                    .find_user(&request.patient_id)?
                    .filter(|p| p.role == Role::Patient && p.status == UserStatus::Active)
                    .ok_or_else(|| AppError::invalid("patient_id", "is not an active patient"))?;
                if patient.id == actor.user_id
                    && email_verification_on
                    && unverified(tx, &patient.id)?
                {
                    return Err(AppError::EmailUnverified);
                }
                let around = doctor_around(tx, &held, &request.doctor_id, request.start)?
                    .filter(|around| around.doctor.status == UserStatus::Active)
                    .ok_or_else(|| {
                        AppError::invalid("doctor_id", "is not a doctor who takes bookings")
                    })?;
                let doctor = &around.doctor;
                if !doctor.visit_modes.contains(&request.mode) {
                    return Err(AppError::invalid(
                        "mode",
                        match request.mode {
                            VisitMode::Video => "this doctor does not offer video visits",
                            VisitMode::InPerson => "this doctor sees patients by video only",
                        },
                    ));
                }
                let slot = around.check_bookable(request.start, now)?;
                let (record, waits) = request.appointment(doctor, slot);
                // The database's guard refuses a double booking here, whatever the
                // check above saw.
                tx.insert_appointment(&record)?;
                record_event(tx, actor, "book", None, &record, None)?;
                let payment = match (&doctor.fee, waits) {
                    (Some(fee), true) => Some(hold_payment(tx, &record, fee, now + hold, now)?),
                    _ => None,
                };
                let view = AppointmentView {
                    record,
                    doctor_name: doctor.name.clone(),
                    patient_name: patient.name.clone(),
                    payment,
                };
                // Nobody hears of an unpaid hold: the payment makes it a booking.
                if !waits {
                    let mut change = request.change(&view, &doctor.schedule);
                    change.known = KnownPeople {
                        patient: Some(&patient),
                        doctor: true,
                    };
                    notifier.appointment_changed(tx, change, ahead.as_ref())?;
                }
                let live = append_appointment_event(tx, "book", &view, now)?;
                let zone = zone_name(&doctor.schedule).to_owned();
                Ok::<_, AppError>((view, live, zone))
            })
            .await?;
        let (changed, live, zone) = changed;
        self.ring_outbox();
        self.publish(Event::appointment_in_streams("book", &changed, live))
            .await;
        if changed.record.status == AppointmentStatus::AwaitingPayment {
            return self.open_checkout(changed, &zone).await;
        }
        Ok(changed)
    }

    /// The notice `request` will make, rendered before its write from the copy of
    /// the doctor's availability held in memory ([`RenderedAhead`]). `None` when no
    /// copy is held, when staff book (the patient's name is not at hand), or when
    /// the slot looks taken or the booking will wait for payment (nobody is told).
    fn render_booking_ahead(
        &self,
        request: &BookingRequest,
        caller_name: &str,
    ) -> Option<RenderedAhead> {
        if request.actor.user_id != request.patient_id {
            return None;
        }
        let copy = self.availability.get(&request.doctor_id)?;
        let doctor = &copy.doctor;
        let busy = copy.busy_in(around(request.start));
        let slot = copy
            .check_bookable(request.start, &busy, request.now)
            .ok()?;
        let (record, waits) = request.appointment(doctor, slot);
        if waits {
            return None;
        }
        let view = AppointmentView {
            record,
            doctor_name: doctor.name.clone(),
            patient_name: caller_name.to_owned(),
            payment: None,
        };
        self.notifier
            .render_ahead(&request.change(&view, &doctor.schedule))
    }

    /// Confirm, reject, cancel, check in, complete or record a no-show.
    pub async fn move_appointment(
        &self,
        actor: &Actor,
        id: AppointmentId,
        transition: Transition,
        reason: Option<String>,
    ) -> Result<AppointmentView, AppError> {
        debug_assert!(
            transition != Transition::Reschedule,
            "reschedule has its own use case"
        );
        let reason = parse_text("reason", reason.as_deref(), MAX_REASON_CHARS)?;
        let actor = actor.clone();
        let now = self.now();
        let notifier = self.notifier.clone();
        let refund_window_hours = self.settings.payment_refund_window_hours;
        let changed = self
            .store
            .write(move |tx| {
                let mut view = visible_appointment(tx, &actor, &id)?;
                let before = view.record.clone();
                let doctor = tx
                    .find_doctor(&before.doctor_id)?
                    .ok_or(AppError::NotFound("doctor"))?;
                let facts = facts_of(&before, &doctor);
                let status = plan_transition(&actor, transition, &facts, now)?;
                let by_patient = moves_as_patient(&actor, &facts);
                view.record.status = status;
                view.record.updated_at = now;
                if matches!(transition, Transition::Reject | Transition::Cancel) {
                    view.record.status_reason = reason.clone();
                }
                ensure_room(&mut view.record);
                tx.update_appointment(&view.record)?;
                record_event(
                    tx,
                    &actor,
                    transition.as_str(),
                    Some(&before),
                    &view.record,
                    reason.as_deref(),
                )?;
                if matches!(transition, Transition::Cancel | Transition::Reject) {
                    view.payment = settle_on_end(
                        tx,
                        &view.record,
                        transition,
                        by_patient,
                        refund_window_hours,
                        now,
                    )?
                    .or(view.payment.take());
                }
                notifier.appointment_changed(
                    tx,
                    AppointmentChange {
                        action: transition.as_str(),
                        actor: &actor,
                        view: &view,
                        before: Some(&before),
                        time_zone: zone_name(&doctor.schedule),
                        now,
                        sequence: None,
                        known: KnownPeople::default(),
                    },
                    None,
                )?;
                let live = append_appointment_event(tx, transition.as_str(), &view, now)?;
                Ok::<_, AppError>((view, live))
            })
            .await?;
        let (changed, live) = changed;
        self.ring_outbox();
        self.publish(Event::appointment_in_streams(
            transition.as_str(),
            &changed,
            live,
        ))
        .await;
        self.after_appointment_ended(&changed).await;
        Ok(changed)
    }

    /// Moves a live appointment to another free slot of the same doctor, keeping its
    /// id and history. The old claims are released and the new ones taken in one
    /// transaction, so either the move happens whole or not at all.
    pub async fn reschedule(
        &self,
        actor: &Actor,
        id: AppointmentId,
        start: &str,
        reason: Option<String>,
    ) -> Result<AppointmentView, AppError> {
        let mut errors = ValidationErrors::new();
        let start = errors.take(parse_instant("start", start));
        let reason = errors.take(parse_text("reason", reason.as_deref(), MAX_REASON_CHARS));
        let (Some(start), Some(reason)) = (start, reason) else {
            return Err(errors.into());
        };
        let actor = actor.clone();
        let now = self.now();
        let notifier = self.notifier.clone();
        let held = self.availability.clone();
        let changed = self
            .store
            .write(move |tx| {
                let mut view = visible_appointment(tx, &actor, &id)?;
                let before = view.record.clone();
                let mut around = doctor_around(tx, &held, &before.doctor_id, start)?
                    .ok_or(AppError::NotFound("doctor"))?;
                let doctor = around.doctor.clone();
                let facts = facts_of(&before, &doctor);
                let status = plan_transition(&actor, Transition::Reschedule, &facts, now)?;
                // The appointment's own slot does not block its move.
                if let Some(own) = around.busy.iter().position(|b| *b == before.slot) {
                    around.busy.swap_remove(own);
                }
                let slot = around.check_bookable(start, now)?;
                view.record.slot = slot;
                view.record.status = status;
                view.record.updated_at = now;
                // The mode and any room stay: a moved video visit keeps its link.
                ensure_room(&mut view.record);
                tx.update_appointment(&view.record)?;
                record_event(
                    tx,
                    &actor,
                    "reschedule",
                    Some(&before),
                    &view.record,
                    reason.as_deref(),
                )?;
                notifier.appointment_changed(
                    tx,
                    AppointmentChange {
                        action: "reschedule",
                        actor: &actor,
                        view: &view,
                        before: Some(&before),
                        time_zone: zone_name(&doctor.schedule),
                        now,
                        sequence: None,
                        known: KnownPeople::default(),
                    },
                    None,
                )?;
                let live = append_appointment_event(tx, "reschedule", &view, now)?;
                Ok::<_, AppError>((view, live))
            })
            .await?;
        let (changed, live) = changed;
        self.ring_outbox();
        self.publish(Event::appointment_in_streams("reschedule", &changed, live))
            .await;
        Ok(changed)
    }

    pub async fn find_appointment(
        &self,
        actor: &Actor,
        id: AppointmentId,
    ) -> Result<AppointmentDetail, AppError> {
        let actor = actor.clone();
        self.store
            .read(move |tx| {
                let appointment = visible_appointment(tx, &actor, &id)?;
                let history = tx.appointment_events(&id)?;
                Ok(AppointmentDetail {
                    appointment,
                    history,
                })
            })
            .await
    }

    pub async fn list_appointments(
        &self,
        actor: &Actor,
        query: AppointmentQuery,
        page: PageParams,
    ) -> Result<Page<AppointmentView>, AppError> {
        let mut errors = ValidationErrors::new();
        let mut statuses = Vec::new();
        for value in query
            .status
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match AppointmentStatus::parse(value) {
                Some(status) => statuses.push(status),
                None => errors.add("status", format!("{value:?} is not an appointment status")),
            }
        }
        let from = query.from.as_deref().map(|v| parse_instant("from", v));
        let from = from.and_then(|r| errors.take(r));
        let to = query.to.as_deref().map(|v| parse_instant("to", v));
        let to = to.and_then(|r| errors.take(r));
        let newest_first = match query.sort.as_deref() {
            None | Some("start") => false,
            Some("-start") => true,
            Some(_) => {
                errors.add("sort", "must be start or -start");
                false
            }
        };
        let q = errors
            .take(parse_text("q", query.q.as_deref(), 200))
            .flatten();
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let request = page.to_request()?;
        let filter = AppointmentFilter {
            scope: appointment_scope(actor),
            statuses,
            from,
            to,
            doctor_id: query.doctor_id.map(UserId::new),
            patient_id: query.patient_id.map(UserId::new),
            q,
            newest_first,
        };
        let rows = {
            let request = request.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.list_appointments(&filter, &request)?))
                .await?
        };
        Ok(paginate(rows, &request, |a| Cursor {
            key: a.record.slot.start.as_millisecond().to_string(),
            id: a.record.id.to_string(),
        }))
    }
}
