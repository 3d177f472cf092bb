//! Pages of the patient area: the visits dashboard, booking (a patient for themself,
//! or the front desk for a patient given as `?for=`), the profile with password and
//! notification preferences, and the in-app notifications.
//!
//! The month calendar with its free times ([`SlotPicker`]) is shared with the
//! reschedule page in [`super::appointments`].

use super::view::optional;
use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use carebook_domain::policy::{Action, Subject, authorize};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Deserialize;

use super::public::DoctorCard;
use super::session::{
    Chrome, CsrfForm, Flash, WebError, WebResult, form_urlencoded_component, local_path, render,
    see_other,
};
use super::view::{self, FieldErrors};
use crate::app::{
    App, AppError, AppointmentQuery, Authenticated, BookInput, DoctorProfile, PageParams,
    PreferencesPatch, SecurityStatus, UserPatch,
};
use crate::store::{AppointmentStatus, AppointmentView, Role, UserId, UserRecord, VisitMode};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/visits", get(list_visits))
        .route("/book/{doctor_id}", get(find_booking).post(create_booking))
        .route("/book/{doctor_id}/confirm", get(find_booking_confirmation))
        .route("/profile", get(find_profile).post(update_profile))
        .route("/profile/password", post(update_password))
        .route("/profile/notifications", post(update_preferences))
        .route("/notifications", get(list_notifications))
        .route("/notifications/read-all", post(update_all_notifications))
        .route("/notifications/{id}/read", post(update_notification))
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!(
            "?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

fn zone_name(zone: &TimeZone) -> String {
    zone.iana_name().unwrap_or("UTC").to_owned()
}

// ---------------------------------------------------------------------------
// The month calendar and the free times of one day
// ---------------------------------------------------------------------------

/// `?month=YYYY-MM&day=YYYY-MM-DD` of a calendar page.
#[derive(Deserialize, Default, Clone)]
pub struct PickerQuery {
    pub month: Option<String>,
    pub day: Option<String>,
}

/// One cell of the month grid; `number == 0` is a cell outside the month.
pub struct CalendarDay {
    pub number: i8,
    /// Long date, e.g. `Tuesday 3 March 2026`.
    pub label: String,
    /// Set when the day has free times.
    pub href: Option<String>,
    pub free: usize,
    pub selected: bool,
    pub today: bool,
    pub past: bool,
}

pub struct SlotChoice {
    pub time: String,
    pub href: String,
    pub chosen: bool,
}

pub struct MonthLink {
    pub href: String,
    /// `April 2026`.
    pub label: String,
}

/// A month of a doctor's free times, and the times of one chosen day.
pub struct SlotPicker {
    /// `March 2026`.
    pub caption: String,
    pub prev: Option<MonthLink>,
    pub next: Option<MonthLink>,
    pub weeks: Vec<Vec<CalendarDay>>,
    pub zone: String,
    /// The chosen day's long date, if a day is chosen.
    pub day_label: Option<String>,
    pub slots: Vec<SlotChoice>,
    /// Free days in this month.
    pub free_days: usize,
}

/// How a picker's links are made: the page's own path and the query it carries
/// (e.g. `for=`), and where a free time leads.
pub struct PickerLinks<'a> {
    pub base: &'a str,
    pub carry: Vec<(&'a str, String)>,
    /// The href of a free time, given its start and its day.
    pub slot: &'a (dyn Fn(Timestamp, Date) -> String + Send + Sync),
    /// The start already chosen on this page, marked in the list.
    pub chosen: Option<Timestamp>,
}

impl PickerLinks<'_> {
    fn page(&self, month: Date, day: Option<Date>) -> String {
        let mut pairs = vec![("month", month.strftime("%Y-%m").to_string())];
        if let Some(day) = day {
            pairs.push(("day", day.to_string()));
        }
        pairs.extend(self.carry.iter().cloned());
        format!("{}{}", self.base, query_string(&pairs))
    }
}

fn parse_month(value: &str) -> Option<Date> {
    let (year, month) = value.trim().split_once('-')?;
    let year: i16 = year.parse().ok()?;
    let month: i8 = month.parse().ok()?;
    if !(2000..=2200).contains(&year) {
        return None;
    }
    Date::new(year, month, 1).ok()
}

fn parse_day(value: &str) -> Option<Date> {
    value
        .trim()
        .parse::<Date>()
        .ok()
        .filter(|d| (2000..=2200).contains(&d.year()))
}

/// Builds the calendar of `doctor`'s free times for the month asked for (by `day`,
/// else `month`, else the month of their next free time), with `app.list_slots`.
pub async fn slot_picker(
    app: &App,
    user: &Authenticated,
    doctor: &DoctorProfile,
    query: &PickerQuery,
    links: &PickerLinks<'_>,
) -> WebResult<SlotPicker> {
    let zone = doctor.doctor.schedule.time_zone.clone();
    let today = app.now().to_zoned_datetime(zone.clone()).date();
    let this_month = today.first_of_month();
    let asked_day = query.day.as_deref().and_then(parse_day);
    let month = asked_day
        .map(|d| d.first_of_month())
        .or_else(|| query.month.as_deref().and_then(parse_month))
        .or_else(|| {
            doctor
                .next_free_slot
                .map(|slot| slot.start.to_zoned_datetime(zone.clone()).date())
                .map(|d| d.first_of_month())
        })
        .unwrap_or(this_month);
    let last = month.last_of_month();

    // Two half-month windows: a whole month can exceed the 31-day limit by the hour
    // a clock change adds.
    let middle = month.checked_add(Span::new().days(15)).unwrap_or(last);
    let mut by_day: BTreeMap<Date, Vec<Timestamp>> = BTreeMap::new();
    for (from, to) in [(month, middle.yesterday().unwrap_or(month)), (middle, last)] {
        if to < today {
            continue;
        }
        let (_, slots) = app
            .list_slots(
                Some(&user.actor),
                doctor.doctor.user_id.clone(),
                Some(from.to_string()),
                Some(to.to_string()),
            )
            .await?;
        for slot in slots {
            let date = slot.start.to_zoned_datetime(zone.clone()).date();
            if date.first_of_month() == month {
                by_day.entry(date).or_default().push(slot.start);
            }
        }
    }
    let day = asked_day
        .filter(|d| d.first_of_month() == month)
        .or_else(|| by_day.keys().next().copied());

    let mut weeks: Vec<Vec<CalendarDay>> = Vec::new();
    let mut week: Vec<CalendarDay> = Vec::new();
    let blank = || CalendarDay {
        number: 0,
        label: String::new(),
        href: None,
        free: 0,
        selected: false,
        today: false,
        past: false,
    };
    for _ in 0..month.weekday().to_monday_zero_offset() {
        week.push(blank());
    }
    let mut date = month;
    loop {
        let free = by_day.get(&date).map_or(0, Vec::len);
        week.push(CalendarDay {
            number: date.day(),
            label: view::long_date(date),
            href: (free > 0).then(|| links.page(month, Some(date))),
            free,
            selected: day == Some(date),
            today: date == today,
            past: date < today,
        });
        if week.len() == 7 {
            weeks.push(std::mem::take(&mut week));
        }
        match date.tomorrow() {
            Ok(next) if next <= last => date = next,
            _ => break,
        }
    }
    if !week.is_empty() {
        while week.len() < 7 {
            week.push(blank());
        }
        weeks.push(week);
    }

    let month_label = |d: Date| d.strftime("%B %Y").to_string();
    let prev = month
        .checked_sub(Span::new().months(1))
        .ok()
        .filter(|p| *p >= this_month)
        .map(|p| MonthLink {
            href: links.page(p, None),
            label: month_label(p),
        });
    let horizon = today
        .checked_add(Span::new().days(doctor.doctor.schedule.rules.horizon_days.clamp(0, 3660)))
        .unwrap_or(today);
    let next = month
        .checked_add(Span::new().months(1))
        .ok()
        .filter(|n| *n <= horizon)
        .map(|n| MonthLink {
            href: links.page(n, None),
            label: month_label(n),
        });

    let slots = day
        .and_then(|d| by_day.get(&d).map(|starts| (d, starts)))
        .map(|(d, starts)| {
            starts
                .iter()
                .map(|start| SlotChoice {
                    time: view::clock_time(*start, &zone),
                    href: (links.slot)(*start, d),
                    chosen: links.chosen == Some(*start),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SlotPicker {
        caption: month_label(month),
        prev,
        next,
        weeks,
        zone: zone_name(&zone),
        day_label: day.map(view::long_date),
        slots,
        free_days: by_day.len(),
    })
}

// ---------------------------------------------------------------------------
// The visits dashboard
// ---------------------------------------------------------------------------

pub struct VisitRow {
    pub id: String,
    pub when: String,
    pub zone: String,
    pub doctor_id: String,
    pub doctor: String,
    pub status: String,
    pub status_class: String,
    pub reason: Option<String>,
    /// A video visit (its link is on the visit's page).
    pub video: bool,
}

/// Each doctor's zone, looked up once per doctor; the clinic's when the doctor
/// cannot be seen any more.
struct Zones<'a> {
    app: &'a App,
    user: &'a Authenticated,
    known: HashMap<UserId, TimeZone>,
}

impl<'a> Zones<'a> {
    fn new(app: &'a App, user: &'a Authenticated) -> Zones<'a> {
        Zones {
            app,
            user,
            known: HashMap::new(),
        }
    }

    async fn of(&mut self, doctor: &UserId) -> TimeZone {
        if let Some(zone) = self.known.get(doctor) {
            return zone.clone();
        }
        let zone = match self
            .app
            .find_doctor(Some(&self.user.actor), doctor.clone())
            .await
        {
            Ok(profile) => profile.doctor.schedule.time_zone.clone(),
            Err(_) => view::zone(&self.app.settings.clinic_time_zone),
        };
        self.known.insert(doctor.clone(), zone.clone());
        zone
    }

    async fn row(&mut self, view: &AppointmentView) -> VisitRow {
        let record = &view.record;
        let zone = self.of(&record.doctor_id).await;
        VisitRow {
            id: record.id.to_string(),
            when: view::date_time(record.slot.start, &zone),
            zone: zone_name(&zone),
            doctor_id: record.doctor_id.to_string(),
            doctor: view.doctor_name.clone(),
            status: view::status_label(record.status).to_owned(),
            status_class: view::status_class(record.status),
            reason: record.reason.clone(),
            video: record.mode == VisitMode::Video,
        }
    }
}

#[derive(Deserialize, Default)]
struct VisitsQuery {
    /// Cursor of the page of past visits.
    past: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/patient/visits.html")]
struct VisitsPage {
    chrome: Chrome,
    upcoming: Vec<VisitRow>,
    more_upcoming: bool,
    past: Vec<VisitRow>,
    older: Option<String>,
    paging_past: bool,
}

const LIVE: &str = "requested,confirmed,checked_in";
const OVER: &str = "completed,cancelled,rejected,no_show";

/// `GET /visits`: the patient's upcoming visits (soonest first) and past ones.
async fn list_visits(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<VisitsQuery>,
) -> WebResult {
    let user = chrome.require_role(&[Role::Patient])?;
    let upcoming = app
        .list_appointments(
            &user.actor,
            AppointmentQuery {
                status: Some(LIVE.into()),
                sort: Some("start".into()),
                ..AppointmentQuery::default()
            },
            PageParams {
                limit: Some(50),
                cursor: None,
            },
        )
        .await?;
    let past = match app
        .list_appointments(
            &user.actor,
            AppointmentQuery {
                status: Some(OVER.into()),
                sort: Some("-start".into()),
                ..AppointmentQuery::default()
            },
            PageParams {
                limit: Some(20),
                cursor: query.past.clone(),
            },
        )
        .await
    {
        Ok(page) => page,
        // A stale or hand-made cursor: start from the newest again.
        Err(AppError::Invalid(_)) => return Ok(see_other(&app, "/visits", None)),
        Err(other) => return Err(other.into()),
    };
    let mut zones = Zones::new(&app, user);
    let mut upcoming_rows = Vec::new();
    for view in &upcoming.items {
        upcoming_rows.push(zones.row(view).await);
    }
    let mut past_rows = Vec::new();
    for view in &past.items {
        past_rows.push(zones.row(view).await);
    }
    let page = VisitsPage {
        upcoming: upcoming_rows,
        more_upcoming: upcoming.next_cursor.is_some(),
        past: past_rows,
        older: past
            .next_cursor
            .map(|c| format!("/visits?past={}", form_urlencoded_component(&c))),
        paging_past: query.past.is_some(),
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

// ---------------------------------------------------------------------------
// Booking
// ---------------------------------------------------------------------------

/// The patient a booking is for, as the page shows them.
pub struct PatientRef {
    pub id: String,
    pub name: String,
}

/// Who a booking is for: the patient themself, or the patient named by `?for=`
/// (staff). The policy decides who may book for whom (a doctor may not book).
async fn booking_patient(
    app: &App,
    user: &Authenticated,
    for_patient: Option<&str>,
) -> WebResult<Option<PatientRef>> {
    let for_patient = for_patient.map(str::trim).filter(|p| !p.is_empty());
    let patient_id = for_patient.map_or_else(|| user.actor.user_id.clone(), UserId::new);
    authorize(
        &user.actor,
        Action::BookAppointment,
        Subject::Patient(&patient_id),
    )
    .map_err(|_| WebError::Forbidden)?;
    if for_patient.is_none() && user.actor.role != Role::Patient {
        return Ok(None);
    }
    let patient: UserRecord = if patient_id == user.actor.user_id {
        user.user.clone()
    } else {
        app.find_user(&user.actor, patient_id).await?
    };
    Ok(Some(PatientRef {
        id: patient.id.to_string(),
        name: patient.name,
    }))
}

#[derive(Deserialize, Default)]
struct BookQuery {
    month: Option<String>,
    day: Option<String>,
    #[serde(rename = "for")]
    for_patient: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/patient/book.html")]
struct BookPage {
    chrome: Chrome,
    doctor: DoctorCard,
    /// Booking on someone's behalf: who.
    patient: Option<PatientRef>,
    on_behalf: bool,
    picker: SlotPicker,
}

fn carry_for(patient: Option<&str>) -> Vec<(&'static str, String)> {
    patient
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| vec![("for", p.to_owned())])
        .unwrap_or_default()
}

/// `GET /book/{doctor_id}`: a month of the doctor's free days and one day's times.
async fn find_booking(
    State(app): State<App>,
    chrome: Chrome,
    Path(doctor_id): Path<String>,
    Query(query): Query<BookQuery>,
) -> WebResult {
    let user = chrome.require()?;
    let patient = booking_patient(&app, user, query.for_patient.as_deref()).await?;
    let profile = app
        .find_doctor(Some(&user.actor), UserId::new(&doctor_id))
        .await?;
    let base = format!("/book/{doctor_id}");
    let carry = carry_for(query.for_patient.as_deref());
    let confirm_base = format!("/book/{doctor_id}/confirm");
    let carry_slot = carry.clone();
    let slot_href = move |start: Timestamp, _day: Date| {
        let mut pairs = vec![("start", start.to_string())];
        pairs.extend(carry_slot.iter().cloned());
        format!("{confirm_base}{}", query_string(&pairs))
    };
    let links = PickerLinks {
        base: &base,
        carry,
        slot: &slot_href,
        chosen: None,
    };
    let picker_query = PickerQuery {
        month: query.month.clone(),
        day: query.day.clone(),
    };
    let picker = slot_picker(&app, user, &profile, &picker_query, &links).await?;
    let on_behalf = user.actor.role != Role::Patient;
    Ok(render(&BookPage {
        doctor: DoctorCard::from(&profile),
        patient,
        on_behalf,
        picker,
        chrome: chrome.clone(),
    }))
}

#[derive(Deserialize, Default)]
struct ConfirmQuery {
    #[serde(default)]
    start: String,
    #[serde(rename = "for")]
    for_patient: Option<String>,
}

#[derive(Deserialize, Default)]
struct BookForm {
    #[serde(default)]
    start: String,
    #[serde(default)]
    reason: String,
    #[serde(rename = "for")]
    for_patient: Option<String>,
    /// `in_person` or `video`; absent when the doctor offers one mode only.
    mode: Option<String>,
}

/// The visit modes a booking may choose from, as the confirm page offers them.
struct ModeChoice {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

/// Radio choices when the doctor offers more than one mode (the chosen one, else
/// the first, checked); none when there is nothing to choose.
fn mode_choices(modes: &[VisitMode], chosen: Option<&str>) -> Vec<ModeChoice> {
    if modes.len() < 2 {
        return Vec::new();
    }
    let chosen = chosen
        .and_then(VisitMode::parse)
        .filter(|m| modes.contains(m))
        .unwrap_or(modes[0]);
    modes
        .iter()
        .map(|mode| ModeChoice {
            value: mode.as_str(),
            label: mode.label(),
            checked: *mode == chosen,
        })
        .collect()
}

/// The mode of a doctor who sees patients by video only, shown as a fact
/// (`Video visit`) and sent as a hidden field; in person is the default and goes
/// without saying.
fn only_mode(modes: &[VisitMode]) -> Option<VisitMode> {
    match modes {
        [VisitMode::Video] => Some(VisitMode::Video),
        _ => None,
    }
}

#[derive(askama::Template)]
#[template(path = "web/patient/confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    doctor: DoctorCard,
    patient: Option<PatientRef>,
    on_behalf: bool,
    when: String,
    start: String,
    reason: String,
    /// Back to the day's times.
    back: String,
    errors: FieldErrors,
    auto_confirm: bool,
    cancel_window_hours: i64,
    /// Radio choices, when the doctor offers both modes.
    modes: Vec<ModeChoice>,
    /// The doctor's one mode, when there is no choice.
    only_mode: Option<VisitMode>,
}

/// The day page of the calendar a start belongs to.
fn day_link(
    doctor_id: &str,
    start: Timestamp,
    zone: &TimeZone,
    for_patient: Option<&str>,
) -> String {
    let date = start.to_zoned_datetime(zone.clone()).date();
    let mut pairs = vec![
        ("month", date.strftime("%Y-%m").to_string()),
        ("day", date.to_string()),
    ];
    pairs.extend(carry_for(for_patient));
    format!("/book/{doctor_id}{}", query_string(&pairs))
}

/// `GET /book/{doctor_id}/confirm?start=`: what is being booked, and the reason.
async fn find_booking_confirmation(
    State(app): State<App>,
    chrome: Chrome,
    Path(doctor_id): Path<String>,
    Query(query): Query<ConfirmQuery>,
) -> WebResult {
    let user = chrome.require()?;
    let patient = booking_patient(&app, user, query.for_patient.as_deref()).await?;
    let profile = app
        .find_doctor(Some(&user.actor), UserId::new(&doctor_id))
        .await?;
    let calendar = format!(
        "/book/{doctor_id}{}",
        query_string(&carry_for(query.for_patient.as_deref()))
    );
    let Ok(start) = query.start.trim().parse::<Timestamp>() else {
        return Ok(see_other(
            &app,
            &calendar,
            Some(Flash::info("Please choose a time first.")),
        ));
    };
    let zone = profile.doctor.schedule.time_zone.clone();
    let page = ConfirmPage {
        doctor: DoctorCard::from(&profile),
        on_behalf: user.actor.role != Role::Patient,
        patient,
        when: view::date_time(start, &zone),
        start: start.to_string(),
        reason: String::new(),
        back: day_link(&doctor_id, start, &zone, query.for_patient.as_deref()),
        errors: FieldErrors::new(),
        auto_confirm: profile.doctor.schedule.rules.auto_confirm,
        cancel_window_hours: profile.doctor.schedule.rules.cancel_window_hours,
        modes: mode_choices(&profile.doctor.visit_modes, None),
        only_mode: only_mode(&profile.doctor.visit_modes),
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

/// `POST /book/{doctor_id}`: books with `app.book`; a taken time goes back to the
/// day's times with the explanation.
async fn create_booking(
    State(app): State<App>,
    Path(doctor_id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<BookForm>,
) -> WebResult {
    let user = chrome.require()?;
    let for_patient = form.for_patient.as_deref().and_then(optional);
    let input = BookInput {
        doctor_id: doctor_id.clone(),
        start: form.start.clone(),
        patient_id: for_patient.clone(),
        reason: optional(&form.reason),
        mode: form.mode.clone(),
    };
    let profile = app
        .find_doctor(Some(&user.actor), UserId::new(&doctor_id))
        .await?;
    let zone = profile.doctor.schedule.time_zone.clone();
    match app.book(user, input).await {
        // The slot is held: the appointment's page has the "Pay" button. (Not a
        // redirect to the provider straight from this form: `form-action 'self'`
        // rightly stops a form's redirect to another site.)
        Ok(booked) if booked.record.status == AppointmentStatus::AwaitingPayment => {
            let until = booked
                .payment
                .as_ref()
                .and_then(|p| p.hold_until)
                .map(|at| {
                    format!(
                        " until {} ({})",
                        view::date_time(at, &zone),
                        zone_name(&zone)
                    )
                })
                .unwrap_or_default();
            Ok(see_other(
                &app,
                &format!("/appointments/{}", booked.record.id),
                Some(Flash::info(format!(
                    "This time with {} is held for you{until}. Pay the fee online to book it.",
                    booked.doctor_name
                ))),
            ))
        }
        Ok(booked) => {
            let when = view::date_time(booked.record.slot.start, &zone);
            let whom = if booked.record.patient_id == user.actor.user_id {
                String::new()
            } else {
                format!(" for {}", booked.patient_name)
            };
            let message = if booked.record.status == AppointmentStatus::Confirmed {
                format!(
                    "Booked{whom}: {when} ({}) with {} is confirmed.",
                    zone_name(&zone),
                    booked.doctor_name
                )
            } else {
                format!(
                    "Requested{whom}: {when} ({}) with {}. It is awaiting the doctor's confirmation; a notification follows when the doctor answers.",
                    zone_name(&zone),
                    booked.doctor_name
                )
            };
            Ok(see_other(
                &app,
                &format!("/appointments/{}", booked.record.id),
                Some(Flash::success(message)),
            ))
        }
        Err(conflict @ AppError::Conflict { .. }) => {
            let back = match form.start.trim().parse::<Timestamp>() {
                Ok(start) => day_link(&doctor_id, start, &zone, for_patient.as_deref()),
                Err(_) => format!(
                    "/book/{doctor_id}{}",
                    query_string(&carry_for(for_patient.as_deref()))
                ),
            };
            let flash = super::appointments::refusal_flash(conflict)?;
            Ok(see_other(&app, &back, Some(flash)))
        }
        Err(AppError::Invalid(errors)) => {
            let patient = booking_patient(&app, user, for_patient.as_deref()).await?;
            let start = form.start.trim().parse::<Timestamp>().ok();
            let page = ConfirmPage {
                doctor: DoctorCard::from(&profile),
                on_behalf: user.actor.role != Role::Patient,
                patient,
                when: start.map_or_else(
                    || "No time chosen".to_owned(),
                    |s| view::date_time(s, &zone),
                ),
                start: form.start.clone(),
                reason: form.reason.clone(),
                back: match start {
                    Some(s) => day_link(&doctor_id, s, &zone, for_patient.as_deref()),
                    None => format!(
                        "/book/{doctor_id}{}",
                        query_string(&carry_for(for_patient.as_deref()))
                    ),
                },
                errors: errors.into(),
                auto_confirm: profile.doctor.schedule.rules.auto_confirm,
                cancel_window_hours: profile.doctor.schedule.rules.cancel_window_hours,
                modes: mode_choices(&profile.doctor.visit_modes, form.mode.as_deref()),
                only_mode: only_mode(&profile.doctor.visit_modes),
                chrome: chrome.clone(),
            };
            let mut response = render(&page);
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------
// Profile, password and notification preferences
// ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    date_of_birth: String,
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Deserialize, Default)]
struct PreferencesForm {
    email: Option<String>,
    sms: Option<String>,
    #[serde(default)]
    sms_phone: String,
}

struct PreferencesView {
    email_enabled: bool,
    sms_enabled: bool,
    sms_phone: String,
    sms_available: bool,
}

#[derive(askama::Template)]
#[template(path = "web/patient/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    email: String,
    role: String,
    profile: ProfileForm,
    profile_errors: FieldErrors,
    password_errors: FieldErrors,
    preferences: PreferencesView,
    preferences_errors: FieldErrors,
    security: SecurityStatus,
    /// The caller's own photo, when they have one.
    photo_url: Option<String>,
    photo_max_mb: usize,
}

impl ProfilePage {
    async fn load(app: &App, chrome: &Chrome) -> WebResult<ProfilePage> {
        let user = chrome.require()?;
        let preferences = app.notification_preferences(&user.actor).await?;
        let security = app.security_status(user).await?;
        let account = &user.user;
        let photo_url = app
            .photo_versions(vec![account.id.clone()])
            .await?
            .first()
            .map(|(id, version)| crate::app::photo_url(id, version));
        Ok(ProfilePage {
            chrome: chrome.clone(),
            email: account.email.clone(),
            role: account.role.as_str().to_owned(),
            profile: ProfileForm {
                name: account.name.clone(),
                phone: account.phone.clone().unwrap_or_default(),
                date_of_birth: account
                    .date_of_birth
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            },
            profile_errors: FieldErrors::new(),
            password_errors: FieldErrors::new(),
            preferences: PreferencesView {
                email_enabled: preferences.email_enabled,
                sms_enabled: preferences.sms_enabled,
                sms_phone: preferences.phone.unwrap_or_default(),
                sms_available: preferences.sms_available,
            },
            preferences_errors: FieldErrors::new(),
            security,
            photo_url,
            photo_max_mb: crate::app::PHOTO_MAX_BYTES / (1024 * 1024),
        })
    }
}

fn unprocessable(page: &ProfilePage) -> Response {
    super::session::unprocessable(render(page))
}

/// `GET /profile`: the caller's own details, password and notification choices.
async fn find_profile(State(app): State<App>, chrome: Chrome) -> WebResult {
    Ok(render(&ProfilePage::load(&app, &chrome).await?))
}

/// `POST /profile`: name, phone and date of birth, with `app.update_user` on self.
async fn update_profile(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<ProfileForm>,
) -> WebResult {
    let user = chrome.require()?;
    let patch = UserPatch {
        name: Some(form.name.clone()),
        phone: Some(optional(&form.phone)),
        date_of_birth: Some(optional(&form.date_of_birth)),
        ..UserPatch::default()
    };
    match app
        .update_user(&user.actor, user.user.id.clone(), patch)
        .await
    {
        Ok(_) => Ok(see_other(
            &app,
            "/profile",
            Some(Flash::success("Your details are saved.")),
        )),
        Err(AppError::Invalid(errors)) => {
            let mut page = ProfilePage::load(&app, &chrome).await?;
            page.profile = form;
            page.profile_errors = errors.into();
            Ok(unprocessable(&page))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /profile/password`: every other session ends; this one stays.
async fn update_password(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<PasswordForm>,
) -> WebResult {
    let user = chrome.require()?;
    match app
        .change_password(user, form.current_password, form.new_password)
        .await
    {
        Ok(()) => Ok(see_other(
            &app,
            "/profile",
            Some(Flash::success(
                "Your password is changed. Every other device was signed out; this one stays signed in.",
            )),
        )),
        Err(AppError::Invalid(errors)) => {
            let mut page = ProfilePage::load(&app, &chrome).await?;
            page.password_errors = errors.into();
            Ok(unprocessable(&page))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /profile/notifications`: email and text messages on or off, and the
/// number texts go to.
async fn update_preferences(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<PreferencesForm>,
) -> WebResult {
    let user = chrome.require()?;
    let patch = PreferencesPatch {
        email_enabled: Some(form.email.is_some()),
        sms_enabled: Some(form.sms.is_some()),
        phone: Some(optional(&form.sms_phone)),
    };
    match app
        .update_notification_preferences(&user.actor, patch)
        .await
    {
        Ok(_) => Ok(see_other(
            &app,
            "/profile#notifications",
            Some(Flash::success("Your notification choices are saved.")),
        )),
        Err(AppError::Invalid(errors)) => {
            let mut page = ProfilePage::load(&app, &chrome).await?;
            let mut shown = FieldErrors::new();
            for error in errors.errors {
                let field = if error.field == "phone" {
                    "sms_phone"
                } else {
                    error.field.as_str()
                };
                shown.add(field, &error.message);
            }
            page.preferences = PreferencesView {
                email_enabled: form.email.is_some(),
                sms_enabled: form.sms.is_some(),
                sms_phone: form.sms_phone,
                sms_available: page.preferences.sms_available,
            };
            page.preferences_errors = shown;
            Ok(unprocessable(&page))
        }
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------

pub struct NotificationRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub when: String,
    pub unread: bool,
    pub appointment: Option<String>,
}

#[derive(Deserialize, Default)]
struct NotificationsQuery {
    cursor: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/patient/notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    items: Vec<NotificationRow>,
    unread_count: i64,
    older: Option<String>,
    paging: bool,
    zone: String,
}

/// `GET /notifications`: the caller's in-app notifications, newest first.
async fn list_notifications(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<NotificationsQuery>,
) -> WebResult {
    let user = chrome.require()?;
    let list = match app
        .list_notifications(
            &user.actor,
            PageParams {
                limit: Some(20),
                cursor: query.cursor.clone(),
            },
        )
        .await
    {
        Ok(list) => list,
        Err(AppError::Invalid(_)) => return Ok(see_other(&app, "/notifications", None)),
        Err(other) => return Err(other.into()),
    };
    let zone = view::zone(&app.settings.clinic_time_zone);
    let items = list
        .page
        .items
        .into_iter()
        .map(|n| NotificationRow {
            id: n.id,
            title: n.title,
            body: n.body,
            when: view::date_time(n.created_at, &zone),
            unread: n.read_at.is_none(),
            appointment: n.appointment_id.map(|a| a.to_string()),
        })
        .collect();
    let page = NotificationsPage {
        items,
        unread_count: list.unread_count,
        older: list
            .page
            .next_cursor
            .map(|c| format!("/notifications?cursor={}", form_urlencoded_component(&c))),
        paging: query.cursor.is_some(),
        zone: zone_name(&zone),
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

#[derive(Deserialize, Default)]
struct BackForm {
    back: Option<String>,
}

/// `POST /notifications/{id}/read`.
async fn update_notification(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<BackForm>,
) -> WebResult {
    let user = chrome.require()?;
    app.mark_notification_read(&user.actor, id).await?;
    let back = local_path(form.back.as_deref(), "/notifications");
    Ok(see_other(
        &app,
        &back,
        Some(Flash::success("Marked as read.")),
    ))
}

/// `POST /notifications/read-all`.
async fn update_all_notifications(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<BackForm>,
) -> WebResult {
    let user = chrome.require()?;
    let count = app.mark_all_notifications_read(&user.actor).await?;
    let back = local_path(form.back.as_deref(), "/notifications");
    let message = match count {
        0 => "Nothing was unread.".to_owned(),
        1 => "1 notification marked as read.".to_owned(),
        n => format!("{n} notifications marked as read."),
    };
    Ok(see_other(&app, &back, Some(Flash::success(message))))
}
