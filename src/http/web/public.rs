//! Pages anyone can open: doctor search, doctor profiles, registration, sign-in and
//! sign-out, and the theme switch.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::civil::Date;
use serde::Deserialize;

use super::session::{
    Chrome, CsrfForm, Flash, THEME_COOKIE, WebResult, home_of, local_path, render, see_other,
    set_cookie,
};
use super::view::{self, FieldErrors};
use crate::app::{
    App, AppError, DoctorProfile, DoctorSearch, LoginInput, PageParams, RegisterInput,
};
use crate::http::extract::{ClientAddr, SESSION_COOKIE};
use crate::store::{Role, Specialty, UserId};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(list_doctors))
        .route("/doctors/{id}", get(find_doctor))
        .route("/login", get(find_login).post(create_session))
        .route("/logout", post(delete_session))
        .route(
            "/register",
            get(find_registration).post(create_registration),
        )
        .route("/theme", post(update_theme))
}

/// A doctor in a list or on their profile, ready to print.
pub struct DoctorCard {
    pub id: String,
    pub name: String,
    pub specialties: String,
    pub fee: Option<String>,
    pub languages: String,
    /// "In person, Video visits".
    pub visit_modes: String,
    pub bio: Option<String>,
    pub qualifications: Option<String>,
    pub years_experience: Option<i64>,
    pub next_free: Option<String>,
    pub time_zone: String,
    /// "4.5 of 5 (12 ratings)", once there are ratings.
    pub rating: Option<String>,
    /// The doctor's photo (256 px; append `&size=64` for the small one).
    pub photo_url: Option<String>,
}

impl From<&DoctorProfile> for DoctorCard {
    fn from(profile: &DoctorProfile) -> Self {
        let doctor = &profile.doctor;
        let zone = &doctor.schedule.time_zone;
        DoctorCard {
            id: doctor.user_id.to_string(),
            name: doctor.name.clone(),
            specialties: profile
                .specialties
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            fee: doctor.fee.as_ref().map(view::money),
            languages: doctor.languages.join(", "),
            visit_modes: doctor
                .visit_modes
                .iter()
                .map(|mode| view::offer_label(*mode))
                .collect::<Vec<_>>()
                .join(", "),
            bio: doctor.bio.clone(),
            qualifications: doctor.qualifications.clone(),
            years_experience: doctor.years_experience,
            next_free: profile
                .next_free_slot
                .map(|slot| view::date_time(slot.start, zone)),
            time_zone: zone.iana_name().unwrap_or("UTC").to_owned(),
            rating: profile.rating.average.map(|average| {
                let count = profile.rating.count;
                let noun = if count == 1 { "rating" } else { "ratings" };
                format!("{average:.1} of 5 ({count} {noun})")
            }),
            photo_url: profile
                .photo_version
                .as_ref()
                .map(|version| crate::app::photo_url(&doctor.user_id, version)),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SearchForm {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub specialty: String,
    #[serde(default)]
    pub date: String,
    pub cursor: Option<String>,
    /// A receptionist booking on a patient's behalf carries the patient along.
    #[serde(rename = "for")]
    pub for_patient: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/home.html")]
struct HomePage {
    chrome: Chrome,
    search: SearchForm,
    specialties: Vec<Specialty>,
    doctors: Vec<DoctorCard>,
    next_page: Option<String>,
    errors: FieldErrors,
    searched: bool,
    /// `?for=usr_…` to append to booking links, or empty.
    for_query: String,
}

/// `GET /`: find a doctor by name, specialty and a day they have free time.
async fn list_doctors(
    State(app): State<App>,
    chrome: Chrome,
    Query(search): Query<SearchForm>,
) -> WebResult {
    let actor = chrome.user.as_ref().map(|u| u.actor.clone());
    let specialties = app.list_specialties().await?;
    let date = Some(search.date.trim().to_owned()).filter(|d| !d.is_empty());
    let query = DoctorSearch {
        q: Some(search.q.trim().to_owned()).filter(|q| !q.is_empty()),
        specialty: Some(search.specialty.clone()).filter(|s| !s.is_empty()),
        available_from: date.clone(),
        available_to: date,
    };
    let searched = query.q.is_some() || query.specialty.is_some() || query.available_from.is_some();
    let page = PageParams {
        limit: Some(20),
        cursor: search.cursor.clone(),
    };
    let (doctors, next_cursor, errors) = match app.search_doctors(actor.as_ref(), query, page).await
    {
        Ok(page) => (page.items, page.next_cursor, FieldErrors::new()),
        Err(AppError::Invalid(errors)) => (Vec::new(), None, errors.into()),
        Err(other) => return Err(other.into()),
    };
    let for_query = search
        .for_patient
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| format!("?for={}", super::session::form_urlencoded_component(p)))
        .unwrap_or_default();
    let next_page = next_cursor.map(|cursor| {
        let mut pairs = vec![
            ("q", search.q.clone()),
            ("specialty", search.specialty.clone()),
            ("date", search.date.clone()),
            ("cursor", cursor),
        ];
        if let Some(patient) = &search.for_patient {
            pairs.push(("for", patient.clone()));
        }
        format!(
            "/?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    Ok(render(&HomePage {
        chrome,
        specialties,
        doctors: doctors.iter().map(DoctorCard::from).collect(),
        next_page,
        errors,
        searched,
        for_query,
        search,
    }))
}

/// One day of a doctor's free slots, for the profile's "next free times".
pub struct SlotDay {
    pub label: String,
    pub slots: Vec<SlotLink>,
}

pub struct SlotLink {
    pub time: String,
    /// RFC 3339, for `/book/{doctor}/confirm?start=`.
    pub start: String,
}

#[derive(askama::Template)]
#[template(path = "web/doctor.html")]
struct DoctorPage {
    chrome: Chrome,
    doctor: DoctorCard,
    days: Vec<SlotDay>,
    can_book: bool,
    /// The latest reviews: stars, comment (unless hidden), the doctor's reply.
    reviews: Vec<ReviewCard>,
}

/// One review on a doctor's profile.
struct ReviewCard {
    stars: String,
    rating: i64,
    date: String,
    comment: Option<String>,
    hidden: bool,
    reply: Option<String>,
}

/// How many reviews a profile shows.
const PROFILE_REVIEWS: u32 = 5;

/// How many days of free slots a profile shows.
const PROFILE_DAYS: usize = 3;

/// `GET /doctors/{id}`: the profile, fee, languages and the next free slots.
async fn find_doctor(State(app): State<App>, chrome: Chrome, Path(id): Path<String>) -> WebResult {
    let actor = chrome.user.as_ref().map(|u| u.actor.clone());
    let id = UserId::new(id);
    let profile = app.find_doctor(actor.as_ref(), id.clone()).await?;
    let zone = profile.doctor.schedule.time_zone.clone();
    let today = app.now().to_zoned_datetime(zone.clone()).date();
    let to = today
        .checked_add(jiff::Span::new().days(13))
        .unwrap_or(today);
    let (_, slots) = app
        .list_slots(
            actor.as_ref(),
            id,
            Some(today.to_string()),
            Some(to.to_string()),
        )
        .await?;
    let mut days: Vec<(Date, SlotDay)> = Vec::new();
    for slot in slots {
        let date = slot.start.to_zoned_datetime(zone.clone()).date();
        if days.last().is_none_or(|(d, _)| *d != date) {
            if days.len() == PROFILE_DAYS {
                break;
            }
            days.push((
                date,
                SlotDay {
                    label: view::long_date(date),
                    slots: Vec::new(),
                },
            ));
        }
        if let Some((_, day)) = days.last_mut() {
            day.slots.push(SlotLink {
                time: view::clock_time(slot.start, &zone),
                start: slot.start.to_string(),
            });
        }
    }
    let can_book = !matches!(chrome.role(), Some(Role::Doctor));
    let (_, latest) = app
        .list_reviews(
            actor.as_ref(),
            profile.doctor.user_id.clone(),
            PageParams {
                limit: Some(PROFILE_REVIEWS),
                cursor: None,
            },
        )
        .await?;
    let reviews = latest
        .items
        .into_iter()
        .map(|f| ReviewCard {
            stars: "★".repeat(f.rating.clamp(0, 5) as usize)
                + &"☆".repeat((5 - f.rating).clamp(0, 5) as usize),
            rating: f.rating,
            date: view::long_date(f.created_at.to_zoned_datetime(zone.clone()).date()),
            hidden: f.hidden_at.is_some(),
            comment: if f.hidden_at.is_some() {
                None
            } else {
                f.comment
            },
            reply: f.reply,
        })
        .collect();
    Ok(render(&DoctorPage {
        reviews,
        doctor: DoctorCard::from(&profile),
        days: days.into_iter().map(|(_, day)| day).collect(),
        can_book,
        chrome,
    }))
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    /// The authenticator code (or a recovery code), once the page asked for it.
    otp: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
    /// The account has two-factor authentication on: show the code field.
    ask_otp: bool,
    /// "Google" (or the provider's host) when sign-in with a provider is on.
    provider: Option<String>,
    /// `/auth/oidc/start`, with `next` when there is one.
    provider_start: String,
}

/// The provider's button: its name and where it starts, coming back to `next`.
fn provider_button(app: &App, next: &str) -> (Option<String>, String) {
    let start = if next.is_empty() {
        super::oidc::START_PATH.to_owned()
    } else {
        format!(
            "{}?next={}",
            super::oidc::START_PATH,
            super::session::form_urlencoded_component(next)
        )
    };
    (app.oidc_provider_name(), start)
}

async fn find_login(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<LoginQuery>,
) -> Response {
    if let Some(user) = &chrome.user {
        let to = local_path(query.next.as_deref(), home_of(user.actor.role));
        return axum::response::Redirect::to(&to).into_response();
    }
    let next = local_path(query.next.as_deref(), "");
    let (provider, provider_start) = provider_button(&app, &next);
    render(&LoginPage {
        chrome,
        email: String::new(),
        next,
        error: None,
        ask_otp: false,
        provider,
        provider_start,
    })
}

/// `POST /login`: starts a cookie session and goes where the visitor was headed.
async fn create_session(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    CsrfForm { chrome, form }: CsrfForm<LoginForm>,
) -> WebResult {
    let input = LoginInput {
        email: form.email.clone(),
        password: form.password,
        client,
        cookie: true,
        otp: form.otp.clone(),
    };
    let outcome = match app.login(input).await {
        Ok(outcome) => outcome,
        Err(error) => {
            let ask_otp = matches!(error, AppError::OtpRequired | AppError::InvalidOtp);
            let message = match error {
                AppError::OtpRequired => {
                    "Your account has two-factor authentication: enter your password again with the 6-digit code from your authenticator app (or a recovery code).".to_owned()
                }
                AppError::InvalidOtp => {
                    "That code is not valid (it may have been used already). Enter your password and the current code again.".to_owned()
                }
                AppError::InvalidCredentials => "Wrong email or password.".to_owned(),
                AppError::TooManyAttempts { .. } => {
                    "Too many attempts. Please wait a few minutes and try again.".to_owned()
                }
                AppError::AccountInactive(detail) => format!("You cannot sign in yet: {detail}."),
                other => return Err(other.into()),
            };
            let next = local_path(form.next.as_deref(), "");
            let (provider, provider_start) = provider_button(&app, &next);
            let mut response = render(&LoginPage {
                chrome,
                email: form.email,
                next,
                error: Some(message),
                ask_otp,
                provider,
                provider_start,
            });
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(response);
        }
    };
    let to = local_path(form.next.as_deref(), home_of(outcome.user.role));
    Ok(signed_in(
        &app,
        &to,
        &outcome.token,
        Flash::success(format!("Welcome, {}.", outcome.user.name)),
    ))
}

pub(super) fn signed_in(app: &App, to: &str, token: &str, flash: Flash) -> Response {
    let mut response = see_other(app, to, Some(flash));
    let max_age = app.settings.session_ttl_hours * 3600;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, SESSION_COOKIE, token, max_age),
    );
    response
}

#[derive(Deserialize)]
struct EmptyForm {}

/// `POST /logout`: ends this session.
async fn delete_session(
    State(app): State<App>,
    CsrfForm { chrome, .. }: CsrfForm<EmptyForm>,
) -> WebResult {
    if let Some(user) = &chrome.user {
        app.logout(user).await?;
    }
    let mut response = see_other(&app, "/", Some(Flash::info("You have signed out.")));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, "", 0));
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct RegistrationForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub date_of_birth: String,
    /// `patient` or `doctor`.
    #[serde(default)]
    pub role: String,
}

impl RegistrationForm {
    pub fn to_input(&self) -> RegisterInput {
        RegisterInput {
            email: self.email.clone(),
            password: self.password.clone(),
            name: self.name.clone(),
            phone: view::optional(&self.phone),
            date_of_birth: view::optional(&self.date_of_birth),
            role: view::optional(&self.role),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "web/register.html")]
struct RegisterPage {
    chrome: Chrome,
    form: RegistrationForm,
    errors: FieldErrors,
}

async fn find_registration(chrome: Chrome) -> Response {
    render(&RegisterPage {
        chrome,
        form: RegistrationForm {
            role: "patient".into(),
            ..RegistrationForm::default()
        },
        errors: FieldErrors::new(),
    })
}

/// `POST /register`: a patient is signed in at once; a doctor waits for approval.
async fn create_registration(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    CsrfForm { chrome, form }: CsrfForm<RegistrationForm>,
) -> WebResult {
    let user = match app.register(form.to_input()).await {
        Ok(user) => user,
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
            let mut response = render(&RegisterPage {
                chrome,
                form: RegistrationForm {
                    password: String::new(),
                    ..form
                },
                errors,
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
    };
    if user.role != Role::Patient {
        return Ok(see_other(
            &app,
            "/login",
            Some(Flash::info(
                "Thank you. An administrator will approve your doctor account; we will email you when you can sign in.",
            )),
        ));
    }
    let outcome = app
        .login(LoginInput {
            email: form.email,
            password: form.password,
            client,
            cookie: true,
            otp: None,
        })
        .await?;
    Ok(signed_in(
        &app,
        "/visits",
        &outcome.token,
        Flash::success("Your account is ready. Find a doctor to book your first visit."),
    ))
}

#[derive(Deserialize)]
struct ThemeForm {
    theme: String,
    back: Option<String>,
}

/// `POST /theme`: remembers light, dark or the system's choice.
async fn update_theme(
    State(app): State<App>,
    CsrfForm { form, .. }: CsrfForm<ThemeForm>,
) -> Response {
    let theme = match form.theme.as_str() {
        "light" | "dark" => form.theme.as_str(),
        _ => "system",
    };
    let mut response = see_other(&app, &local_path(form.back.as_deref(), "/"), None);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&app, THEME_COOKIE, theme, 60 * 60 * 24 * 365),
    );
    response
}
