//! The front desk: the day's arrivals across all doctors with check-in, patient
//! search, a patient's visits, and registering a patient at the counter. For the
//! receptionist; admins may open these pages too. Every action is an `app` call;
//! the lifecycle buttons post to the shared `/appointments/{id}/{action}`.

use super::session::unprocessable;
use super::view::{clinic_zone, day_bounds, optional, short_date};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use carebook_domain::policy::Actor;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::session::{
    Chrome, CsrfForm, Flash, WebError, WebResult, form_urlencoded_component, render, see_other,
};
use super::view::{self, FieldErrors};
use crate::app::{App, AppError, AppointmentQuery, PageParams, RegisterInput, UserSearch};
use crate::store::{AppointmentStatus, AppointmentView, Role, UserId, UserRecord, UserStatus};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/desk", get(list_arrivals))
        .route("/desk/patients", get(list_patients).post(create_patient))
        .route("/desk/patients/new", get(find_new_patient))
        .route("/desk/patients/{id}", get(find_patient))
}

/// Who may use the front desk.
const DESK: &[Role] = &[Role::Receptionist, Role::Admin];

/// The statuses of a day's arrivals: everything but what will not happen.
const ARRIVAL_STATUSES: &str = "requested,confirmed,checked_in,completed,no_show";

/// At most this many pages of 100 are read for one day's desk.
const MAX_DAY_PAGES: usize = 10;

#[derive(Deserialize, Default)]
struct DeskQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    q: String,
}

/// One arrival on the desk's list, ready to print.
struct Arrival {
    id: String,
    time: String,
    patient: String,
    patient_id: String,
    doctor: String,
    status_label: &'static str,
    status_class: String,
    can_confirm: bool,
    can_check_in: bool,
    can_no_show: bool,
    /// A video visit: the patient will not come to the desk.
    video: bool,
}

#[derive(Default)]
struct Counts {
    expected: usize,
    requested: usize,
    checked_in: usize,
    completed: usize,
    no_show: usize,
}

#[derive(askama::Template)]
#[template(path = "web/desk/day.html")]
struct DayPage {
    chrome: Chrome,
    date: String,
    day_label: String,
    zone: String,
    is_today: bool,
    prev: String,
    next: String,
    today: String,
    q: String,
    date_error: Option<String>,
    arrivals: Vec<Arrival>,
    counts: Counts,
    truncated: bool,
}

fn arrival(view_: &AppointmentView, zone: &TimeZone, now: Timestamp) -> Arrival {
    let record = &view_.record;
    let status = record.status;
    Arrival {
        id: record.id.to_string(),
        time: view::clock_time(record.slot.start, zone),
        patient: view_.patient_name.clone(),
        patient_id: record.patient_id.to_string(),
        doctor: view_.doctor_name.clone(),
        status_label: view::status_label(status),
        status_class: view::status_class(status),
        can_confirm: status == AppointmentStatus::Requested,
        can_check_in: status == AppointmentStatus::Confirmed,
        can_no_show: matches!(
            status,
            AppointmentStatus::Requested | AppointmentStatus::Confirmed
        ) && record.slot.start <= now,
        video: record.mode == crate::store::VisitMode::Video,
    }
}

/// Every appointment of the day matching `q`, in time order (at most
/// `MAX_DAY_PAGES` pages; the flag says whether more were left).
async fn day_appointments(
    app: &App,
    actor: &Actor,
    bounds: (Timestamp, Timestamp),
    q: Option<String>,
) -> Result<(Vec<AppointmentView>, bool), AppError> {
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_DAY_PAGES {
        let query = AppointmentQuery {
            status: Some(ARRIVAL_STATUSES.into()),
            from: Some(bounds.0.to_string()),
            to: Some(bounds.1.to_string()),
            q: q.clone(),
            sort: Some("start".into()),
            ..AppointmentQuery::default()
        };
        let page = app
            .list_appointments(
                actor,
                query,
                PageParams {
                    limit: Some(100),
                    cursor,
                },
            )
            .await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((all, false)),
        }
    }
    Ok((all, true))
}

/// `GET /desk?date=&q=`: the day's arrivals across all doctors.
async fn list_arrivals(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<DeskQuery>,
) -> WebResult {
    let actor = chrome.require_role(DESK)?.actor.clone();
    let zone = clinic_zone(&app);
    let now = app.now();
    let today = now.to_zoned_datetime(zone.clone()).date();
    let (date, date_error) = match query.date.trim() {
        "" => (today, None),
        text => match text.parse::<Date>() {
            Ok(date) => (date, None),
            Err(_) => (
                today,
                Some("Please give a date such as 2026-03-02; showing today instead.".to_owned()),
            ),
        },
    };
    let bounds = day_bounds(date, &zone);
    let q = optional(&query.q);
    let (everyone, mut truncated) = day_appointments(&app, &actor, bounds, None).await?;
    let mut counts = Counts::default();
    for appointment in &everyone {
        match appointment.record.status {
            AppointmentStatus::Confirmed => counts.expected += 1,
            AppointmentStatus::Requested => counts.requested += 1,
            AppointmentStatus::CheckedIn => counts.checked_in += 1,
            AppointmentStatus::Completed => counts.completed += 1,
            AppointmentStatus::NoShow => counts.no_show += 1,
            _ => {}
        }
    }
    let shown = match &q {
        Some(_) => {
            let (found, more) = day_appointments(&app, &actor, bounds, q.clone()).await?;
            truncated = more;
            found
        }
        None => everyone,
    };
    let day_link = |d: Option<Date>| {
        let d = d.unwrap_or(date);
        format!("/desk?date={d}")
    };
    Ok(render(&DayPage {
        date: date.to_string(),
        day_label: view::long_date(date),
        zone: app.settings.clinic_time_zone.clone(),
        is_today: date == today,
        prev: day_link(date.yesterday().ok()),
        next: day_link(date.tomorrow().ok()),
        today: today.to_string(),
        q: query.q.trim().to_owned(),
        date_error,
        arrivals: shown.iter().map(|a| arrival(a, &zone, now)).collect(),
        counts,
        truncated,
        chrome,
    }))
}

#[derive(Deserialize, Default)]
struct PatientQuery {
    #[serde(default)]
    q: String,
    cursor: Option<String>,
}

/// A patient in a list or on their page, ready to print.
struct PatientRow {
    id: String,
    name: String,
    email: String,
    phone: String,
    date_of_birth: String,
    status: &'static str,
    active: bool,
    created: String,
}

fn patient_row(user: &UserRecord, zone: &TimeZone) -> PatientRow {
    PatientRow {
        id: user.id.to_string(),
        name: user.name.clone(),
        email: user.email.clone(),
        phone: user.phone.clone().unwrap_or_default(),
        date_of_birth: user
            .date_of_birth
            .map(|d| d.strftime("%-d %b %Y").to_string())
            .unwrap_or_default(),
        status: match user.status {
            UserStatus::Pending => "Waiting for approval",
            UserStatus::Active => "Active",
            UserStatus::Deactivated => "Deactivated",
        },
        active: user.status == UserStatus::Active,
        created: short_date(user.created_at, zone),
    }
}

#[derive(askama::Template)]
#[template(path = "web/desk/patients.html")]
struct PatientsPage {
    chrome: Chrome,
    q: String,
    patients: Vec<PatientRow>,
    next_page: Option<String>,
    first_page: bool,
    error: Option<String>,
}

/// `GET /desk/patients?q=`: find a patient by name or email.
async fn list_patients(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<PatientQuery>,
) -> WebResult {
    let user = chrome.require_role(DESK)?;
    let zone = clinic_zone(&app);
    let search = UserSearch {
        q: optional(&query.q),
        role: Some(Role::Patient.as_str().into()),
        status: None,
    };
    let page = PageParams {
        limit: Some(25),
        cursor: query.cursor.clone(),
    };
    let (patients, next_cursor, error) = match app.list_users(&user.actor, search, page).await {
        Ok(page) => (page.items, page.next_cursor, None),
        Err(AppError::Invalid(errors)) => {
            (Vec::new(), None, Some(FieldErrors::from(errors).summary()))
        }
        Err(other) => return Err(other.into()),
    };
    let next_page = next_cursor.map(|cursor| {
        format!(
            "/desk/patients?q={}&cursor={}",
            form_urlencoded_component(query.q.trim()),
            form_urlencoded_component(&cursor)
        )
    });
    Ok(render(&PatientsPage {
        q: query.q.trim().to_owned(),
        patients: patients.iter().map(|p| patient_row(p, &zone)).collect(),
        next_page,
        first_page: query.cursor.is_none(),
        error,
        chrome,
    }))
}

/// A visit on a patient's page.
struct Visit {
    id: String,
    when: String,
    doctor: String,
    status_label: &'static str,
    status_class: String,
}

fn visit(view_: &AppointmentView, zone: &TimeZone) -> Visit {
    Visit {
        id: view_.record.id.to_string(),
        when: view::date_time(view_.record.slot.start, zone),
        doctor: view_.doctor_name.clone(),
        status_label: view::status_label(view_.record.status),
        status_class: view::status_class(view_.record.status),
    }
}

#[derive(askama::Template)]
#[template(path = "web/desk/patient.html")]
struct PatientPage {
    chrome: Chrome,
    patient: PatientRow,
    zone: String,
    upcoming: Vec<Visit>,
    more_upcoming: bool,
    past: Vec<Visit>,
    more_past: bool,
    is_admin: bool,
}

/// `GET /desk/patients/{id}`: a patient's details and their visits.
async fn find_patient(State(app): State<App>, chrome: Chrome, Path(id): Path<String>) -> WebResult {
    let user = chrome.require_role(DESK)?;
    let patient = app.find_user(&user.actor, UserId::new(id)).await?;
    if patient.role != Role::Patient {
        return Err(WebError::NotFound);
    }
    let zone = clinic_zone(&app);
    let now = app.now().to_string();
    let visits = |from: Option<String>, to: Option<String>, sort: &str| AppointmentQuery {
        from,
        to,
        patient_id: Some(patient.id.to_string()),
        sort: Some(sort.into()),
        ..AppointmentQuery::default()
    };
    let page = PageParams {
        limit: Some(20),
        cursor: None,
    };
    let upcoming = app
        .list_appointments(
            &user.actor,
            visits(Some(now.clone()), None, "start"),
            page.clone(),
        )
        .await?;
    let past = app
        .list_appointments(&user.actor, visits(None, Some(now), "-start"), page)
        .await?;
    Ok(render(&PatientPage {
        patient: patient_row(&patient, &zone),
        zone: app.settings.clinic_time_zone.clone(),
        upcoming: upcoming.items.iter().map(|a| visit(a, &zone)).collect(),
        more_upcoming: upcoming.next_cursor.is_some(),
        past: past.items.iter().map(|a| visit(a, &zone)).collect(),
        more_past: past.next_cursor.is_some(),
        is_admin: user.actor.role == Role::Admin,
        chrome,
    }))
}

#[derive(Deserialize, Default)]
struct PatientForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    password: String,
}

#[derive(askama::Template)]
#[template(path = "web/desk/new_patient.html")]
struct NewPatientPage {
    chrome: Chrome,
    form: PatientForm,
    errors: FieldErrors,
}

/// `GET /desk/patients/new`: the registration form.
async fn find_new_patient(chrome: Chrome) -> WebResult {
    chrome.require_role(DESK)?;
    Ok(render(&NewPatientPage {
        chrome,
        form: PatientForm::default(),
        errors: FieldErrors::new(),
    }))
}

/// `POST /desk/patients`: registers a patient at the counter, active at once.
async fn create_patient(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<PatientForm>,
) -> WebResult {
    let user = chrome.require_role(DESK)?;
    let input = RegisterInput {
        email: form.email.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
        phone: optional(&form.phone),
        date_of_birth: optional(&form.date_of_birth),
        role: Some(Role::Patient.as_str().into()),
    };
    match app.create_user(&user.actor, input).await {
        Ok(patient) => Ok(see_other(
            &app,
            &format!("/desk/patients/{}", patient.id),
            Some(Flash::success(format!(
                "{} is registered and can sign in with the password you set. \
                 Ask them to change it after their first sign-in.",
                patient.name
            ))),
        )),
        Err(error) => {
            let errors: FieldErrors = match error {
                AppError::Invalid(errors) => errors.into(),
                AppError::Conflict { detail, .. } => {
                    let mut errors = FieldErrors::new();
                    errors.add("email", &detail);
                    errors
                }
                other => return Err(other.into()),
            };
            Ok(unprocessable(render(&NewPatientPage {
                chrome,
                form: PatientForm {
                    password: String::new(),
                    ..form
                },
                errors,
            })))
        }
    }
}
