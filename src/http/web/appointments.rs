//! Pages of one appointment, shared by every role, and the lifecycle buttons that
//! every screen uses: `POST /appointments/{id}/{action}` with `action` one of
//! `confirm`, `reject`, `cancel`, `check-in`, `complete`, `no-show`; form fields
//! `_csrf`, optional `reason`, optional `back` (a local path to return to, else the
//! appointment's page). The outcome is a flash message on the page returned to.
//!
//! `GET /appointments/{id}` is the appointment's page for everyone who may see it,
//! with the buttons its viewer may use; `/appointments/{id}/reschedule` picks a new
//! time with the booking calendar ([`super::patient::slot_picker`]).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use carebook_domain::appointment::{
    AppointmentFacts, moves_as_patient, next_status, plan_transition,
};
use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::video::VideoLinkAccess;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::feedback::FeedbackSection;
use super::files::FileRow;
use super::patient::{PickerLinks, PickerQuery, SlotPicker, slot_picker};
use super::prescriptions::{PrescriptionForm, PrescriptionRow};
use super::public::DoctorCard;
use super::records::{VersionView, version_view};
use super::session::{Chrome, CsrfForm, Flash, WebError, WebResult, local_path, render, see_other};
use super::view::{self, FieldErrors};
use super::visit_record::RecordFields;
use crate::app::clinical::BreakGlass;
use crate::app::{App, AppError, AppointmentDetail, AttachmentTarget, DoctorProfile};
use crate::store::{AppointmentEvent, AppointmentId, AppointmentStatus, AppointmentView, UserId};
use carebook_domain::Transition;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/appointments/{id}", get(find_appointment))
        .route(
            "/appointments/{id}/reschedule",
            get(find_reschedule).post(update_reschedule),
        )
        .route(
            "/appointments/{id}/{action}",
            post(update_appointment_status),
        )
}

#[derive(Deserialize, Default)]
pub struct TransitionForm {
    pub reason: Option<String>,
    pub back: Option<String>,
}

fn transition_of(action: &str) -> Option<Transition> {
    Some(match action {
        "confirm" => Transition::Confirm,
        "reject" => Transition::Reject,
        "cancel" => Transition::Cancel,
        "check-in" => Transition::CheckIn,
        "complete" => Transition::Complete,
        "no-show" => Transition::NoShow,
        _ => return None,
    })
}

fn done_message(transition: Transition) -> &'static str {
    match transition {
        Transition::Confirm => "The appointment is confirmed.",
        Transition::Reject => "The request was rejected.",
        Transition::Cancel => "The appointment is cancelled.",
        Transition::CheckIn => "The patient is checked in.",
        Transition::Complete => "The visit is completed.",
        Transition::NoShow => "Recorded as a no-show.",
        Transition::Reschedule => "The appointment was moved.",
    }
}

/// A refusal the user can act on becomes a flash message on the page they came
/// from; anything else is an error page.
pub fn refusal_flash(error: AppError) -> Result<Flash, WebError> {
    match error {
        AppError::Conflict { detail, .. } => Ok(Flash::error(capitalized(&detail))),
        AppError::Invalid(errors) => Ok(Flash::error(
            super::view::FieldErrors::from(errors).summary(),
        )),
        other => Err(other.into()),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.extend(chars);
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// `POST /appointments/{id}/{action}`.
async fn update_appointment_status(
    State(app): State<App>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm { chrome, form }: CsrfForm<TransitionForm>,
) -> WebResult {
    let user = chrome.require()?;
    let transition = transition_of(&action).ok_or(WebError::NotFound)?;
    let here = format!("/appointments/{id}");
    let back = local_path(form.back.as_deref(), &here);
    let reason = form.reason.filter(|r| !r.trim().is_empty());
    let flash = match app
        .move_appointment(&user.actor, AppointmentId::new(id), transition, reason)
        .await
    {
        Ok(_) => Flash::success(done_message(transition)),
        Err(error) => refusal_flash(error)?,
    };
    Ok(see_other(&app, &back, Some(flash)))
}

// ---------------------------------------------------------------------------
// The appointment's page
// ---------------------------------------------------------------------------

/// What the viewer may do now, as the domain decides: who may make a move and from
/// which status. Cancel and reschedule are offered whatever the time, so a patient
/// inside the cancellation window reads the server's refusal; the other moves are
/// offered only when the whole plan (time included) allows them.
#[derive(Default)]
pub struct Buttons {
    pub confirm: bool,
    pub reject: bool,
    pub cancel: bool,
    pub reschedule: bool,
    pub check_in: bool,
    pub complete: bool,
    pub no_show: bool,
}

impl Buttons {
    pub fn any(&self) -> bool {
        self.confirm
            || self.reject
            || self.cancel
            || self.reschedule
            || self.check_in
            || self.complete
            || self.no_show
    }
}

fn may_attempt(actor: &Actor, transition: Transition, facts: &AppointmentFacts<'_>) -> bool {
    let subject = Subject::Appointment {
        patient: facts.patient_id,
        doctor: facts.doctor_id,
    };
    authorize(actor, Action::Move(transition), subject).is_ok()
        && next_status(
            facts.status,
            transition,
            moves_as_patient(actor, facts),
            facts.auto_confirm,
        )
        .is_some()
}

fn buttons_for(actor: &Actor, facts: &AppointmentFacts<'_>, now: Timestamp) -> Buttons {
    let planned = |t| plan_transition(actor, t, facts, now).is_ok();
    Buttons {
        confirm: planned(Transition::Confirm),
        reject: planned(Transition::Reject),
        cancel: may_attempt(actor, Transition::Cancel, facts),
        reschedule: may_attempt(actor, Transition::Reschedule, facts),
        check_in: planned(Transition::CheckIn),
        complete: planned(Transition::Complete),
        no_show: planned(Transition::NoShow),
    }
}

/// An appointment with its doctor's schedule facts (zone, cancellation window):
/// the doctor's record when the viewer may see it, the clinic's zone otherwise.
struct Loaded {
    detail: AppointmentDetail,
    profile: Option<DoctorProfile>,
    zone: TimeZone,
}

impl Loaded {
    async fn load(app: &App, actor: &Actor, id: &str) -> WebResult<Loaded> {
        let detail = app.find_appointment(actor, AppointmentId::new(id)).await?;
        let profile = app
            .find_doctor(Some(actor), detail.appointment.record.doctor_id.clone())
            .await
            .ok();
        let zone = profile.as_ref().map_or_else(
            || view::zone(&app.settings.clinic_time_zone),
            |p| p.doctor.schedule.time_zone.clone(),
        );
        Ok(Loaded {
            detail,
            profile,
            zone,
        })
    }

    fn view(&self) -> &AppointmentView {
        &self.detail.appointment
    }

    fn facts(&self) -> AppointmentFacts<'_> {
        let record = &self.view().record;
        let rules = self.profile.as_ref().map(|p| &p.doctor.schedule.rules);
        AppointmentFacts {
            status: record.status,
            patient_id: &record.patient_id,
            doctor_id: &record.doctor_id,
            slot: record.slot,
            time_zone: &self.zone,
            cancel_window_hours: rules.map_or(0, |r| r.cancel_window_hours),
            auto_confirm: rules.is_some_and(|r| r.auto_confirm),
        }
    }

    fn zone_name(&self) -> String {
        self.zone.iana_name().unwrap_or("UTC").to_owned()
    }
}

pub struct HistoryRow {
    pub when: String,
    pub who: String,
    pub what: String,
    pub change: Option<String>,
    pub moved: Option<String>,
    pub reason: Option<String>,
}

fn action_label(action: &str) -> String {
    match action {
        "book" => "Booked".into(),
        "confirm" => "Confirmed".into(),
        "reject" => "Rejected".into(),
        "cancel" => "Cancelled".into(),
        "reschedule" => "Moved to another time".into(),
        "check_in" => "Checked in".into(),
        "complete" => "Completed".into(),
        "no_show" => "Recorded as a no-show".into(),
        other => view::humanize(other),
    }
}

fn history_row(
    event: &AppointmentEvent,
    viewer: &UserId,
    view: &AppointmentView,
    zone: &TimeZone,
) -> HistoryRow {
    let who = match &event.actor_id {
        None => "The clinic's system".to_owned(),
        Some(id) if id == viewer => "You".to_owned(),
        Some(id) if *id == view.record.patient_id => view.patient_name.clone(),
        Some(id) if *id == view.record.doctor_id => view.doctor_name.clone(),
        Some(_) => "Clinic staff".to_owned(),
    };
    let change = match event.from_status {
        Some(from) if from != event.to_status => Some(format!(
            "from {} to {}",
            view::status_label(from),
            view::status_label(event.to_status)
        )),
        Some(_) => None,
        None => Some(format!("as {}", view::status_label(event.to_status))),
    };
    let moved = match (event.from_start, event.to_start) {
        (Some(from), Some(to)) if from != to => Some(format!(
            "from {} to {}",
            view::date_time(from, zone),
            view::date_time(to, zone)
        )),
        _ => None,
    };
    HistoryRow {
        when: view::date_time(event.at, zone),
        who,
        what: action_label(&event.action),
        change,
        moved,
        reason: event.reason.clone(),
    }
}

/// The cancellation window as the patient reads it.
pub struct CancelWindow {
    pub hours: i64,
    /// When cancelling online stops, in the doctor's zone.
    pub until: String,
    pub closed: bool,
    /// The viewer is the patient, bound by the window (staff and the doctor are not).
    pub binds_viewer: bool,
}

#[derive(askama::Template)]
#[template(path = "web/appointment/show.html")]
struct AppointmentPage {
    chrome: Chrome,
    id: String,
    doctor_id: String,
    doctor_name: String,
    patient_name: String,
    is_patient: bool,
    when: String,
    ends: String,
    zone: String,
    status: String,
    status_class: String,
    reason: Option<String>,
    status_reason_label: String,
    status_reason: Option<String>,
    booked: String,
    history: Vec<HistoryRow>,
    buttons: Buttons,
    cancel_window: Option<CancelWindow>,
    /// The visit's files, for its patient and its doctor; `None` for the others.
    files: Option<Vec<FileRow>>,
    max_upload_mb: usize,
    /// The "Message" button for the visit's patient and doctor: the form field that
    /// names the other person, and their id. Whether they may is the app's call.
    message: Option<(&'static str, String)>,
    record: RecordSection,
    /// The visit's prescriptions, for its doctor.
    prescriptions: Option<PrescriptionSection>,
    /// The patient's health summary: for the visit's doctor while they care for
    /// the patient, and for the patient.
    health_summary: Option<String>,
    /// The visit's rating, for its patient and its doctor once it is completed.
    feedback: Option<FeedbackSection>,
    /// "In person" or "Video visit".
    mode_label: &'static str,
    /// The meeting link box, for those the video rule lets see it.
    video: Option<VideoSection>,
    /// The fee box, once the fee was asked for online or taken at the desk.
    payment: Option<super::payments::PaymentSection>,
    /// The desk's "Record payment" form, with the doctor's fee as its amount.
    desk_payment: Option<String>,
}

/// The "Join video visit" box: the link inside its window, else when it opens.
pub struct VideoSection {
    pub url: Option<String>,
    /// When the link opens, in the doctor's zone.
    pub opens: String,
    /// The visit's time is over: the link has closed.
    pub over: bool,
}

impl VideoSection {
    fn new(link: crate::app::VideoLink, zone: &TimeZone) -> Option<VideoSection> {
        let opens_at = link.opens_at()?;
        Some(VideoSection {
            over: matches!(link.access, VideoLinkAccess::Closed { .. }),
            url: link.url,
            opens: view::date_time(opens_at, zone),
        })
    }
}

/// What the visit's doctor sees of its prescriptions: those issued for it, and the
/// form to issue one once the visit has started.
pub struct PrescriptionSection {
    pub items: Vec<PrescriptionRow>,
    pub may_issue: bool,
    pub form: PrescriptionForm,
}

/// The visit's prescriptions for its doctor (reading the patient's list is an
/// audited clinical read); `None` for everyone else (the patient has
/// `/prescriptions`).
async fn prescription_section(
    app: &App,
    actor: &Actor,
    view: &AppointmentView,
    zone: &TimeZone,
    form: Option<PrescriptionForm>,
) -> WebResult<Option<PrescriptionSection>> {
    let record = &view.record;
    if actor.role != carebook_domain::Role::Doctor || actor.user_id != record.doctor_id {
        return Ok(None);
    }
    let may_issue = matches!(
        record.status,
        AppointmentStatus::CheckedIn | AppointmentStatus::Completed
    );
    // Prescriptions exist only for visits that started, and reading the list is
    // a clinical read in the patient's access history: before the visit there is
    // nothing to read, so nothing is read.
    if !may_issue {
        return Ok(None);
    }
    let mut items = Vec::new();
    let mut cursor = None;
    // A visit has a handful of prescriptions; the patient's list is read until
    // this visit's are all found (pages are newest first).
    loop {
        let page = match app
            .list_prescriptions(
                actor,
                record.patient_id.clone(),
                BreakGlass::default(),
                crate::app::PageParams {
                    limit: Some(100),
                    cursor,
                },
            )
            .await
        {
            Ok(page) => page,
            // A doctor without a care relationship (all visits cancelled) reads none.
            Err(AppError::Forbidden | AppError::NotFound(_)) => break,
            Err(other) => return Err(other.into()),
        };
        items.extend(
            page.items
                .into_iter()
                .filter(|p| p.view.record.appointment_id == record.id)
                .map(|p| PrescriptionRow::new(p, &actor.user_id, zone)),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(Some(PrescriptionSection {
        items,
        may_issue,
        form: form.unwrap_or_default(),
    }))
}

/// Forms of the appointment's page sent back after a refusal, to show again with
/// their values and errors.
#[derive(Default)]
pub struct SentBack {
    pub record: Option<RecordForm>,
    pub prescription: Option<PrescriptionForm>,
    /// `done` or `cancelled`: how the patient came back from the payment page.
    pub payment: Option<String>,
}

/// The record's form as sent back after a refusal: the values, the field errors,
/// and a message for the form as a whole (a stale version).
pub struct RecordForm {
    pub fields: RecordFields,
    pub errors: FieldErrors,
    pub problem: Option<String>,
}

/// What the appointment's page shows of the visit record.
#[derive(Default)]
pub struct RecordSection {
    /// The viewer is the visit's doctor and the visit has started: they write (or
    /// amend) the record here.
    pub writer: bool,
    /// The record's page, for its patient (read-only) and for its writer.
    pub link: Option<String>,
    /// Every version, the current one first (for the writer).
    pub versions: Vec<VersionView>,
    /// The write or amendment form's values.
    pub fields: RecordFields,
    pub errors: FieldErrors,
    pub problem: Option<String>,
}

impl RecordSection {
    fn amending(&self) -> bool {
        !self.versions.is_empty()
    }
}

/// The record part of the page for `user`: the writer's form and versions (an
/// audited clinical read), the patient's link (not a read: no clinical field).
async fn record_section(
    app: &App,
    actor: &Actor,
    view: &AppointmentView,
    zone: &TimeZone,
    form: Option<RecordForm>,
) -> WebResult<RecordSection> {
    let record = &view.record;
    let started = matches!(
        record.status,
        AppointmentStatus::CheckedIn | AppointmentStatus::Completed
    );
    let doctor = actor.role == carebook_domain::Role::Doctor && actor.user_id == record.doctor_id;
    let sent_back = form.is_some();
    let (fields, errors, problem) = match form {
        Some(form) => (form.fields, form.errors, form.problem),
        None => (RecordFields::default(), FieldErrors::new(), None),
    };
    if doctor && started {
        let mut section = RecordSection {
            writer: true,
            errors,
            fields,
            ..RecordSection::default()
        };
        match app
            .record_history_of_appointment(actor, record.id.clone())
            .await
        {
            Ok(history) => {
                let latest = history.record.version;
                if !sent_back && let Some((_, current)) = history.versions.last() {
                    section.fields = RecordFields::from_content(current, latest);
                } else if problem.is_some() {
                    // A stale version: the doctor's values stay, now over the version
                    // the page shows, so sending them again is a decision they made
                    // having seen it.
                    section.fields.base_version = latest.to_string();
                }
                section.link = Some(format!("/records/{}", history.record.id));
                section.versions = history
                    .versions
                    .into_iter()
                    .rev()
                    .map(|(v, c)| version_view(v, c, zone))
                    .collect();
            }
            Err(AppError::NotFound("record")) => {}
            Err(other) => return Err(other.into()),
        }
        section.problem = problem;
        return Ok(section);
    }
    let link = app
        .find_record_entry_of_appointment(actor, record.id.clone())
        .await?
        .filter(|_| actor.user_id == record.patient_id)
        .map(|r| format!("/records/{}", r.id));
    Ok(RecordSection {
        link,
        ..RecordSection::default()
    })
}

#[derive(Deserialize, Default)]
struct AppointmentQuery {
    /// Where Stripe's checkout sends the patient back: `done` or `cancelled`.
    payment: Option<String>,
}

/// `GET /appointments/{id}`: everyone who may see it; anyone else gets 404.
async fn find_appointment(
    State(app): State<App>,
    chrome: Chrome,
    Path(id): Path<String>,
    Query(query): Query<AppointmentQuery>,
) -> WebResult {
    let sent_back = SentBack {
        payment: query.payment,
        ..SentBack::default()
    };
    appointment_page(&app, &chrome, &id, sent_back).await
}

/// The appointment's page, with any form sent back after a refusal.
pub async fn appointment_page(
    app: &App,
    chrome: &Chrome,
    id: &str,
    sent_back: SentBack,
) -> WebResult {
    let user = chrome.require()?;
    let loaded = Loaded::load(app, &user.actor, id).await?;
    let now = app.now();
    let view = loaded.view();
    let record = &view.record;
    let facts = loaded.facts();
    let buttons = buttons_for(&user.actor, &facts, now);
    let by_patient = moves_as_patient(&user.actor, &facts);
    let offered = buttons.cancel || buttons.reschedule;
    let cancel_window = (loaded.profile.is_some() && offered).then(|| {
        let hours = facts.cancel_window_hours.max(0);
        let deadline = record
            .slot
            .start
            .checked_sub(SignedDuration::from_hours(hours))
            .unwrap_or(record.slot.start);
        CancelWindow {
            hours,
            until: view::date_time(deadline, &loaded.zone),
            closed: now > deadline,
            binds_viewer: by_patient,
        }
    });
    let files = if user.actor.user_id == record.patient_id || user.actor.user_id == record.doctor_id
    {
        let target = AttachmentTarget::Appointment(record.id.clone());
        app.list_attachments(&user.actor, target, BreakGlass::default())
            .await
            .ok()
            .map(|files| {
                files
                    .iter()
                    .map(|file| FileRow::new(file, &user.actor.user_id, &loaded.zone))
                    .collect()
            })
    } else {
        None
    };
    let message = if user.actor.user_id == record.patient_id {
        Some(("doctor_id", record.doctor_id.to_string()))
    } else if user.actor.user_id == record.doctor_id {
        Some(("patient_id", record.patient_id.to_string()))
    } else {
        None
    };
    let record_section =
        record_section(app, &user.actor, view, &loaded.zone, sent_back.record).await?;
    let prescriptions =
        prescription_section(app, &user.actor, view, &loaded.zone, sent_back.prescription).await?;
    let completed = record.status == AppointmentStatus::Completed;
    let feedback = if completed
        && (user.actor.user_id == record.patient_id || user.actor.user_id == record.doctor_id)
    {
        let found = app
            .find_feedback_of_visit(&user.actor, record.id.clone())
            .await?;
        FeedbackSection::new(
            found,
            &user.actor.user_id,
            &record.patient_id,
            completed,
            now,
            &loaded.zone,
        )
    } else {
        None
    };
    let status_reason_label = match record.status {
        AppointmentStatus::Rejected => "Why it was rejected",
        AppointmentStatus::Cancelled => "Why it was cancelled",
        _ => "Note",
    };
    let page = AppointmentPage {
        id: record.id.to_string(),
        doctor_id: record.doctor_id.to_string(),
        doctor_name: view.doctor_name.clone(),
        patient_name: view.patient_name.clone(),
        is_patient: record.patient_id == user.actor.user_id,
        when: view::date_time(record.slot.start, &loaded.zone),
        ends: view::clock_time(record.slot.end, &loaded.zone),
        zone: loaded.zone_name(),
        status: view::status_label(record.status).to_owned(),
        status_class: view::status_class(record.status),
        reason: record.reason.clone(),
        status_reason_label: status_reason_label.to_owned(),
        status_reason: record.status_reason.clone(),
        booked: view::date_time(record.created_at, &loaded.zone),
        history: loaded
            .detail
            .history
            .iter()
            .map(|e| history_row(e, &user.actor.user_id, view, &loaded.zone))
            .collect(),
        buttons,
        message,
        cancel_window,
        files,
        max_upload_mb: app.settings.attachment_max_bytes / (1024 * 1024),
        record: record_section,
        prescriptions,
        feedback,
        mode_label: record.mode.label(),
        video: VideoSection::new(app.video_link(&user.actor, record), &loaded.zone),
        payment: super::payments::PaymentSection::new(
            &user.actor,
            view,
            &loaded.zone,
            sent_back.payment.as_deref(),
        ),
        desk_payment: super::payments::desk_payment(
            &user.actor,
            view,
            loaded.profile.as_ref().and_then(|p| p.doctor.fee.as_ref()),
        ),
        health_summary: if record.patient_id == user.actor.user_id {
            Some("/health-summary".to_owned())
        } else if record.doctor_id == user.actor.user_id
            && user.actor.role == carebook_domain::Role::Doctor
            && record.status.makes_care_relationship()
        {
            Some(format!("/patients/{}/health-summary", record.patient_id))
        } else {
            None
        },
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

// ---------------------------------------------------------------------------
// Rescheduling
// ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct RescheduleQuery {
    month: Option<String>,
    day: Option<String>,
    start: Option<String>,
}

#[derive(Deserialize, Default)]
struct RescheduleForm {
    #[serde(default)]
    start: String,
    #[serde(default)]
    reason: String,
}

#[derive(askama::Template)]
#[template(path = "web/appointment/reschedule.html")]
struct ReschedulePage {
    chrome: Chrome,
    id: String,
    doctor: DoctorCard,
    current: String,
    picker: SlotPicker,
    /// The new time chosen, ready to confirm.
    chosen: Option<String>,
    start: String,
    reason: String,
    errors: FieldErrors,
    needs_confirmation: bool,
}

fn reschedule_day(id: &str, start: Timestamp, zone: &TimeZone) -> String {
    let date = start.to_zoned_datetime(zone.clone()).date();
    format!(
        "/appointments/{id}/reschedule?month={}&day={date}",
        date.strftime("%Y-%m")
    )
}

async fn reschedule_page(
    app: &App,
    chrome: &Chrome,
    id: &str,
    query: RescheduleQuery,
    reason: String,
    errors: FieldErrors,
) -> WebResult {
    let user = chrome.require()?;
    let loaded = Loaded::load(app, &user.actor, id).await?;
    let here = format!("/appointments/{id}");
    let facts = loaded.facts();
    let (Some(profile), true) = (
        loaded.profile.as_ref(),
        may_attempt(&user.actor, Transition::Reschedule, &facts),
    ) else {
        return Ok(see_other(
            app,
            &here,
            Some(Flash::info(
                "This appointment cannot be moved to another time.",
            )),
        ));
    };
    let chosen = query
        .start
        .as_deref()
        .and_then(|s| s.trim().parse::<Timestamp>().ok());
    let base = format!("/appointments/{id}/reschedule");
    let slot_base = base.clone();
    let slot_href = move |start: Timestamp, day: Date| {
        format!(
            "{slot_base}?month={}&day={day}&start={}#confirm",
            day.strftime("%Y-%m"),
            super::session::form_urlencoded_component(&start.to_string())
        )
    };
    let links = PickerLinks {
        base: &base,
        carry: Vec::new(),
        slot: &slot_href,
        chosen,
    };
    let picker_query = PickerQuery {
        month: query.month.clone(),
        day: query.day.clone().or_else(|| {
            chosen.map(|c| c.to_zoned_datetime(loaded.zone.clone()).date().to_string())
        }),
    };
    let picker = slot_picker(app, user, profile, &picker_query, &links).await?;
    let record = &loaded.view().record;
    let needs_confirmation = record.status == AppointmentStatus::Confirmed
        && next_status(
            record.status,
            Transition::Reschedule,
            moves_as_patient(&user.actor, &facts),
            facts.auto_confirm,
        ) == Some(AppointmentStatus::Requested);
    let invalid = !errors.is_empty();
    let page = ReschedulePage {
        id: id.to_owned(),
        doctor: DoctorCard::from(profile),
        current: view::date_time(record.slot.start, &loaded.zone),
        picker,
        chosen: chosen.map(|c| view::date_time(c, &loaded.zone)),
        start: chosen.map(|c| c.to_string()).unwrap_or_default(),
        reason,
        errors,
        needs_confirmation,
        chrome: chrome.clone(),
    };
    let mut response = render(&page);
    if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// `GET /appointments/{id}/reschedule`: the calendar of the doctor's free times,
/// and with `start` the form that moves the appointment there.
async fn find_reschedule(
    State(app): State<App>,
    chrome: Chrome,
    Path(id): Path<String>,
    Query(query): Query<RescheduleQuery>,
) -> WebResult {
    reschedule_page(&app, &chrome, &id, query, String::new(), FieldErrors::new()).await
}

/// `POST /appointments/{id}/reschedule`: `app.reschedule`; a refusal goes back to
/// the calendar with the explanation.
async fn update_reschedule(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<RescheduleForm>,
) -> WebResult {
    let user = chrome.require()?;
    let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
    match app
        .reschedule(&user.actor, AppointmentId::new(&id), &form.start, reason)
        .await
    {
        Ok(moved) => {
            let loaded = Loaded::load(&app, &user.actor, &id).await?;
            let mut message = format!(
                "The appointment was moved to {} ({}).",
                view::date_time(moved.record.slot.start, &loaded.zone),
                loaded.zone_name()
            );
            if moved.record.status == AppointmentStatus::Requested {
                message.push_str(" It awaits the doctor's confirmation.");
            }
            Ok(see_other(
                &app,
                &format!("/appointments/{id}"),
                Some(Flash::success(message)),
            ))
        }
        Err(conflict @ AppError::Conflict { .. }) => {
            let loaded = Loaded::load(&app, &user.actor, &id).await?;
            let back = match form.start.trim().parse::<Timestamp>() {
                Ok(start) => reschedule_day(&id, start, &loaded.zone),
                Err(_) => format!("/appointments/{id}/reschedule"),
            };
            Ok(see_other(&app, &back, Some(refusal_flash(conflict)?)))
        }
        Err(AppError::Invalid(errors)) => {
            let query = RescheduleQuery {
                start: Some(form.start.clone()),
                ..RescheduleQuery::default()
            };
            reschedule_page(&app, &chrome, &id, query, form.reason, errors.into()).await
        }
        Err(other) => Err(other.into()),
    }
}
