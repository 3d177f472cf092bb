//! Specialties, doctors' profiles and schedules, time off, free slots and search.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::schedule::ScheduleInput;
use carebook_domain::validation::{MAX_TEXT_CHARS, parse_name, parse_text};
use carebook_domain::{Interval, Schedule, UserStatus, ValidationErrors};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde_json::json;

use super::availability::DoctorAvailability;
use super::{App, AppError, Page, PageParams, RatingSummary, audit, new_id, paginate};
use crate::store::{
    Cursor, DoctorFilter, DoctorRecord, Fee, Specialty, SpecialtyId, StoreResult, TimeOffId,
    TimeOffRecord, Tx, UserId,
};

/// A doctor as clients see them: profile, specialties and the next free slot.
#[derive(Debug, Clone)]
pub struct DoctorProfile {
    pub doctor: Arc<DoctorRecord>,
    pub specialties: Vec<Specialty>,
    pub next_free_slot: Option<Interval>,
    /// From completed visits' feedback (`doctor_ratings`, one row per doctor).
    pub rating: RatingSummary,
    /// The version of the doctor's photo, when they have one.
    pub photo_version: Option<String>,
    /// Where the profile came from a held copy: that copy's rendered card.
    pub card: Option<CardMemo>,
}

/// A doctor's card as the API sends it, split where the next free slot goes: the
/// only part of it a booking changes. Rendered on first use and shared by the
/// versions of one held copy (a change to anything else on the card drops the copy).
#[derive(Debug)]
pub struct CardText {
    pub before_next_slot: Box<str>,
    pub after_next_slot: Box<str>,
}

pub type CardMemo = Arc<OnceLock<CardText>>;

#[derive(Debug, Clone, Default)]
pub struct DoctorSearch {
    pub q: Option<String>,
    /// A specialty's id or slug.
    pub specialty: Option<String>,
    pub available_from: Option<String>,
    pub available_to: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DoctorPatch {
    pub name: Option<String>,
    pub bio: Option<Option<String>>,
    pub qualifications: Option<Option<String>>,
    pub years_experience: Option<Option<i64>>,
    pub languages: Option<Vec<String>>,
    pub fee: Option<Option<Fee>>,
    pub specialty_ids: Option<Vec<String>>,
    /// `in_person`, `video`: replaces the set; at least one.
    pub visit_modes: Option<Vec<String>>,
    /// `at_clinic` or `online` (only where Stripe is configured, and with a fee).
    pub payment_mode: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TimeOffInput {
    pub start: String,
    pub end: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TimeOffCreated {
    pub time_off: TimeOffRecord,
    /// Live appointments inside the new time off: they stay booked until someone
    /// cancels or moves them, so the doctor is told.
    pub overlapping_appointments: usize,
}

pub const MAX_TIME_OFF_DAYS: i64 = 366;
const MAX_LANGUAGES: usize = 20;
const MAX_SPECIALTIES: usize = 20;

pub use carebook_domain::time::parse_instant;
use carebook_domain::time::parse_window;

fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Time off and live appointments that overlap `window`: what free slots avoid.
pub(crate) fn busy_intervals(
    tx: &mut dyn Tx,
    doctor: &UserId,
    window: Interval,
) -> StoreResult<Vec<Interval>> {
    let mut busy: Vec<Interval> = tx
        .list_time_off(doctor, window)?
        .into_iter()
        .map(|t| t.period)
        .collect();
    busy.extend(tx.busy_slots(doctor, window)?.into_iter().map(|b| b.slot));
    Ok(busy)
}

fn is_visible(doctor: &DoctorRecord, actor: Option<&Actor>) -> bool {
    doctor.status == UserStatus::Active
        || actor.is_some_and(|a| a.role.is_staff() || a.user_id == doctor.user_id)
}

/// The clinic's specialties held in memory for searches and profiles, which name a
/// doctor's specialties and look up the one searched for.
///
/// Specialties are only ever added (there is no rename or removal), so a held list
/// can only lack some, and a caller that needs one it lacks (a searched slug, a
/// doctor's specialty id) reads the list again: what these callers show is never
/// stale. A list older than `max_age` is read again anyway, so that a name changed
/// by hand in the database shows within that time. Adding a specialty here drops
/// the list.
pub struct HeldSpecialties {
    held: RwLock<Option<(Arc<SpecialtyList>, Instant)>>,
    max_age: Duration,
}

impl HeldSpecialties {
    pub fn new(max_age: Duration) -> HeldSpecialties {
        HeldSpecialties {
            held: RwLock::new(None),
            max_age,
        }
    }

    fn fresh(&self) -> Option<Arc<SpecialtyList>> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        held.as_ref()
            .filter(|(_, loaded_at)| loaded_at.elapsed() < self.max_age)
            .map(|(list, _)| list.clone())
    }

    fn keep(&self, list: Arc<SpecialtyList>) {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        // Of two reads racing, the longer list is the newer one.
        if held
            .as_ref()
            .is_none_or(|(kept, _)| kept.len() <= list.len())
        {
            *held = Some((list, Instant::now()));
        }
    }

    fn forget(&self) {
        *self.held.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The profile a held copy shows; its specialties are named by the caller.
fn profile_of(held: &DoctorAvailability, next_free_slot: Option<Interval>) -> DoctorProfile {
    DoctorProfile {
        doctor: held.doctor.clone(),
        specialties: Vec::new(),
        next_free_slot,
        rating: held.rating.map(RatingSummary::from).unwrap_or_default(),
        photo_version: held.photo_version.clone(),
        card: Some(held.card.clone()),
    }
}

fn specialty_named<'a>(all: &'a [Specialty], id_or_slug: &str) -> Option<&'a Specialty> {
    all.iter()
        .find(|s| s.id.as_str() == id_or_slug || s.slug == id_or_slug)
}

/// The clinic's specialties in the store's order, each also found by id (a search
/// page names the specialties of up to a hundred doctors).
struct SpecialtyList {
    all: Vec<Specialty>,
    by_id: HashMap<SpecialtyId, usize>,
}

impl SpecialtyList {
    fn new(all: Vec<Specialty>) -> SpecialtyList {
        let by_id = all
            .iter()
            .enumerate()
            .map(|(at, s)| (s.id.clone(), at))
            .collect();
        SpecialtyList { all, by_id }
    }
}

impl std::ops::Deref for SpecialtyList {
    type Target = [Specialty];

    fn deref(&self) -> &[Specialty] {
        &self.all
    }
}

fn knows_specialties_of(list: &SpecialtyList, doctor: &DoctorRecord) -> bool {
    doctor
        .specialty_ids
        .iter()
        .all(|id| list.by_id.contains_key(id))
}

/// `doctor`'s specialties, in the list's order.
fn specialties_of(list: &SpecialtyList, doctor: &DoctorRecord) -> Vec<Specialty> {
    let mut positions: Vec<usize> = doctor
        .specialty_ids
        .iter()
        .filter_map(|id| list.by_id.get(id).copied())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    positions
        .into_iter()
        .map(|at| list.all[at].clone())
        .collect()
}

impl App {
    /// Read from the database, not the held list: a list someone reads to choose from
    /// must show a specialty another instance has just added.
    pub async fn list_specialties(&self) -> Result<Vec<Specialty>, AppError> {
        Ok(self.read_specialties().await?.to_vec())
    }

    /// The held specialties, read again first when they are old or `covers` says
    /// they lack something the caller needs.
    async fn specialties_covering(
        &self,
        covers: impl Fn(&SpecialtyList) -> bool,
    ) -> Result<Arc<SpecialtyList>, AppError> {
        match self.specialties.fresh().filter(|held| covers(held)) {
            Some(held) => Ok(held),
            None => self.read_specialties().await,
        }
    }

    async fn read_specialties(&self) -> Result<Arc<SpecialtyList>, AppError> {
        let list = Arc::new(SpecialtyList::new(
            self.store
                .read(|tx| Ok::<_, AppError>(tx.list_specialties()?))
                .await?,
        ));
        self.specialties.keep(list.clone());
        Ok(list)
    }

    pub async fn create_specialty(&self, actor: &Actor, name: &str) -> Result<Specialty, AppError> {
        authorize(actor, Action::ManageSpecialties, Subject::Clinic)?;
        let name = parse_name("name", name)?;
        let slug = slugify(&name);
        if slug.is_empty() {
            return Err(AppError::invalid("name", "must contain a letter or digit"));
        }
        let specialty = Specialty {
            id: SpecialtyId::new(new_id("spc")),
            name,
            slug,
        };
        let (actor_id, now, created) = (actor.user_id.clone(), self.now(), specialty.clone());
        self.store
            .write(move |tx| {
                tx.insert_specialty(&specialty)?;
                audit(
                    tx,
                    now,
                    Some(&actor_id),
                    "specialty.created",
                    ("specialty", Some(specialty.id.as_str())),
                    json!({ "name": specialty.name }),
                )?;
                Ok::<_, AppError>(())
            })
            .await?;
        self.specialties.forget();
        Ok(created)
    }

    pub async fn search_doctors(
        &self,
        actor: Option<&Actor>,
        search: DoctorSearch,
        page: PageParams,
    ) -> Result<Page<DoctorProfile>, AppError> {
        let request = page.to_request()?;
        let now = self.now();
        let clinic_zone = TimeZone::get(&self.settings.clinic_time_zone).unwrap_or(TimeZone::UTC);
        let availability = if search.available_from.is_some() || search.available_to.is_some() {
            Some(parse_window(
                search.available_from.as_deref(),
                search.available_to.as_deref(),
                &clinic_zone,
                now,
                7,
            )?)
        } else {
            None
        };
        let q = parse_text("q", search.q.as_deref(), 200)?;
        let staff = actor.is_some_and(|a| a.role.is_staff());
        let batch_limit = request.limit.max(50);
        let wanted = search.specialty.as_deref().map(str::trim);
        let all_specialties = self
            .specialties_covering(|all| wanted.is_none_or(|w| specialty_named(all, w).is_some()))
            .await?;
        let specialty_id = match wanted {
            Some(wanted) => Some(
                specialty_named(&all_specialties, wanted)
                    .map(|s| s.id.clone())
                    .ok_or_else(|| {
                        AppError::invalid("specialty", "is not a known specialty id or slug")
                    })?,
            ),
            None => None,
        };
        let filter = DoctorFilter {
            q,
            specialty_id,
            only_active: !staff,
        };
        let wanted = request.limit as usize;
        let mut rows = Vec::new();
        let directory = match filter.q {
            None => self.doctor_directory().await?,
            // Text matches as each store's LIKE does: the database answers.
            Some(_) => None,
        };
        if let Some(directory) = directory {
            let candidates = directory.candidates(
                filter.specialty_id.as_ref(),
                filter.only_active,
                request.after.as_ref(),
            );
            for listed in candidates {
                if let Some(profile) = self.search_result(&listed.id, availability, now).await? {
                    rows.push(profile);
                    if rows.len() == wanted {
                        break;
                    }
                }
            }
        } else {
            let mut cursor = request.after.clone();
            // With an availability filter a page of doctors may hold few matches; keep
            // reading pages until this page is full or doctors run out.
            'pages: loop {
                let batch_request = crate::store::PageRequest {
                    limit: batch_limit,
                    after: cursor.clone(),
                };
                let batch = {
                    let (filter, batch_request) = (filter.clone(), batch_request.clone());
                    self.store
                        .read(move |tx| {
                            Ok::<_, AppError>(tx.list_doctor_names(&filter, &batch_request)?)
                        })
                        .await?
                };
                let exhausted = batch.len() < batch_request.limit as usize;
                for (id, name) in batch {
                    let found = self.search_result(&id, availability, now).await?;
                    cursor = Some(Cursor {
                        key: name,
                        id: id.to_string(),
                    });
                    if let Some(profile) = found {
                        rows.push(profile);
                        if rows.len() == wanted {
                            break 'pages;
                        }
                    }
                }
                if exhausted {
                    break;
                }
            }
        }
        // A doctor may hold a specialty added on another instance since the list
        // was read: then it is read again.
        let all_specialties = self
            .specialties_covering(|all| rows.iter().all(|p| knows_specialties_of(all, &p.doctor)))
            .await?;
        for profile in &mut rows {
            profile.specialties = specialties_of(&all_specialties, &profile.doctor);
        }
        Ok(paginate(rows, &request, |p| Cursor {
            key: p.doctor.name.clone(),
            id: p.doctor.user_id.to_string(),
        }))
    }

    /// `doctor` as a search result, from their held copy: with the first free slot
    /// in `availability`, `None` when there is none (or no such doctor); without
    /// it, with the next free slot of an active doctor.
    async fn search_result(
        &self,
        doctor: &UserId,
        availability: Option<Interval>,
        now: jiff::Timestamp,
    ) -> Result<Option<DoctorProfile>, AppError> {
        let Some(held) = self.doctor_availability(doctor, availability).await? else {
            return Ok(None);
        };
        let next = match availability {
            Some(window) => match held.next_free_slot(window.start, Some(window.end), now) {
                Some(slot) => Some(slot),
                None => return Ok(None),
            },
            None if held.doctor.status == UserStatus::Active => held.next_free_slot(now, None, now),
            None => None,
        };
        Ok(Some(profile_of(&held, next)))
    }

    pub async fn find_doctor(
        &self,
        actor: Option<&Actor>,
        id: UserId,
    ) -> Result<DoctorProfile, AppError> {
        let now = self.now();
        let held = self
            .doctor_availability(&id, None)
            .await?
            .filter(|held| is_visible(&held.doctor, actor))
            .ok_or(AppError::NotFound("doctor"))?;
        let next = if held.doctor.status == UserStatus::Active {
            held.next_free_slot(now, None, now)
        } else {
            None
        };
        let all_specialties = self
            .specialties_covering(|all| knows_specialties_of(all, &held.doctor))
            .await?;
        let mut profile = profile_of(&held, next);
        profile.specialties = specialties_of(&all_specialties, &held.doctor);
        Ok(profile)
    }

    pub async fn update_doctor(
        &self,
        actor: &Actor,
        id: UserId,
        patch: DoctorPatch,
    ) -> Result<DoctorProfile, AppError> {
        authorize(actor, Action::EditDoctorProfile, Subject::Doctor(&id))?;
        let mut errors = ValidationErrors::new();
        let name = patch
            .name
            .as_deref()
            .map(|n| parse_name("name", n))
            .transpose();
        let name = errors.take(name).flatten();
        let bio = match &patch.bio {
            Some(bio) => errors
                .take(parse_text("bio", bio.as_deref(), MAX_TEXT_CHARS))
                .flatten(),
            None => None,
        };
        let qualifications = match &patch.qualifications {
            Some(q) => errors
                .take(parse_text("qualifications", q.as_deref(), 1000))
                .flatten(),
            None => None,
        };
        if let Some(Some(years)) = patch.years_experience
            && !(0..=80).contains(&years)
        {
            errors.add("years_experience", "must be between 0 and 80");
        }
        if let Some(languages) = &patch.languages {
            if languages.len() > MAX_LANGUAGES {
                errors.add("languages", "may list at most 20 languages");
            }
            for (i, language) in languages.iter().enumerate() {
                if language.trim().is_empty() || language.chars().count() > 50 {
                    errors.add(format!("languages[{i}]"), "must be 1 to 50 characters");
                }
            }
        }
        if patch
            .specialty_ids
            .as_ref()
            .is_some_and(|ids| ids.len() > MAX_SPECIALTIES)
        {
            errors.add(
                "specialty_ids",
                format!("may list at most {MAX_SPECIALTIES} specialties"),
            );
        }
        let visit_modes = match &patch.visit_modes {
            Some(values) => match carebook_domain::video::parse_visit_modes(values) {
                Ok(modes) => Some(modes),
                Err((field, message)) => {
                    errors.add(field, message);
                    None
                }
            },
            None => None,
        };
        let payment_mode = match patch.payment_mode.as_deref().map(str::trim) {
            None => None,
            Some(value) => match carebook_domain::PaymentMode::parse(value) {
                Some(carebook_domain::PaymentMode::Online)
                    if !self.settings.online_payments_enabled() =>
                {
                    errors.add(
                        "payment_mode",
                        "online payment is not configured for this clinic (see docs/PAYMENTS.md)",
                    );
                    None
                }
                Some(mode) => Some(mode),
                None => {
                    errors.add("payment_mode", "must be at_clinic or online");
                    None
                }
            },
        };
        if let Some(Some(fee)) = &patch.fee {
            if !(0..=100_000_000).contains(&fee.amount) {
                errors.add("fee.amount", "must be between 0 and 100000000 minor units");
            }
            if fee.currency.len() != 3 || !fee.currency.chars().all(|c| c.is_ascii_alphabetic()) {
                errors.add("fee.currency", "must be an ISO 4217 code such as EUR");
            }
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let (actor_id, now) = (actor.user_id.clone(), self.now());
        self.store
            .write(move |tx| {
                let mut doctor = tx.find_doctor(&id)?.ok_or(AppError::NotFound("doctor"))?;
                if let Some(ids) = &patch.specialty_ids {
                    let mut resolved = Vec::new();
                    for (i, value) in ids.iter().enumerate() {
                        match tx.find_specialty(value)? {
                            Some(s) if !resolved.contains(&s.id) => resolved.push(s.id),
                            Some(_) => {}
                            None => {
                                return Err(AppError::invalid(
                                    &format!("specialty_ids[{i}]"),
                                    "is not a known specialty",
                                ));
                            }
                        }
                    }
                    doctor.specialty_ids = resolved;
                }
                if patch.bio.is_some() {
                    doctor.bio = bio;
                }
                if patch.qualifications.is_some() {
                    doctor.qualifications = qualifications;
                }
                if let Some(years) = patch.years_experience {
                    doctor.years_experience = years;
                }
                if let Some(languages) = patch.languages {
                    doctor.languages = languages.into_iter().map(|l| l.trim().to_owned()).collect();
                }
                if let Some(modes) = visit_modes {
                    doctor.visit_modes = modes;
                }
                if let Some(fee) = patch.fee {
                    doctor.fee = fee.map(|f| Fee {
                        amount: f.amount,
                        currency: f.currency.to_uppercase(),
                    });
                }
                if let Some(mode) = payment_mode {
                    doctor.payment_mode = mode;
                }
                if doctor.payment_mode == carebook_domain::PaymentMode::Online
                    && doctor.fee.as_ref().is_none_or(|fee| fee.amount <= 0)
                {
                    return Err(AppError::invalid(
                        "payment_mode",
                        "a doctor who takes the fee online needs a fee above zero",
                    ));
                }
                tx.upsert_doctor(&doctor)?;
                if let Some(name) = name {
                    let mut user = tx.find_user(&id)?.ok_or(AppError::NotFound("doctor"))?;
                    user.name = name.clone();
                    user.updated_at = now;
                    tx.update_user(&user)?;
                    doctor.name = name;
                }
                audit(
                    tx,
                    now,
                    Some(&actor_id),
                    "doctor.profile_updated",
                    ("user", Some(id.as_str())),
                    json!({}),
                )?;
                let rating = tx
                    .rating_totals(std::slice::from_ref(&id))?
                    .first()
                    .map(|(_, totals)| RatingSummary::from(*totals))
                    .unwrap_or_default();
                let photo_version = tx
                    .photo_versions(std::slice::from_ref(&id))?
                    .into_iter()
                    .next()
                    .map(|(_, version)| version);
                Ok(DoctorProfile {
                    specialties: specialties_of(
                        &SpecialtyList::new(tx.list_specialties()?),
                        &doctor,
                    ),
                    doctor: Arc::new(doctor),
                    next_free_slot: None,
                    rating,
                    photo_version,
                    card: None,
                })
            })
            .await
    }

    pub async fn find_schedule(&self, actor: &Actor, id: UserId) -> Result<Schedule, AppError> {
        authorize(actor, Action::ViewSchedule, Subject::Doctor(&id))?;
        self.store
            .read(move |tx| {
                Ok(tx
                    .find_doctor(&id)?
                    .ok_or(AppError::NotFound("doctor"))?
                    .schedule)
            })
            .await
    }

    /// Replaces the weekly hours, slot length, zone and rules. Booked appointments
    /// stay as they are, even where they no longer fit the new grid.
    pub async fn update_schedule(
        &self,
        actor: &Actor,
        id: UserId,
        input: ScheduleInput,
    ) -> Result<Schedule, AppError> {
        authorize(actor, Action::EditSchedule, Subject::Doctor(&id))?;
        let schedule = Schedule::parse(&input)?;
        let (actor_id, now) = (actor.user_id.clone(), self.now());
        self.store
            .write(move |tx| {
                let mut doctor = tx.find_doctor(&id)?.ok_or(AppError::NotFound("doctor"))?;
                doctor.schedule = schedule.clone();
                tx.upsert_doctor(&doctor)?;
                audit(
                    tx,
                    now,
                    Some(&actor_id),
                    "doctor.schedule_updated",
                    ("user", Some(id.as_str())),
                    json!({}),
                )?;
                Ok(schedule)
            })
            .await
    }

    pub async fn list_time_off(
        &self,
        actor: &Actor,
        id: UserId,
    ) -> Result<Vec<TimeOffRecord>, AppError> {
        authorize(actor, Action::ViewSchedule, Subject::Doctor(&id))?;
        let now = self.now();
        self.store
            .read(move |tx| {
                tx.find_doctor(&id)?.ok_or(AppError::NotFound("doctor"))?;
                let ahead = Interval::new(now, now + SignedDuration::from_hours(24 * 400))
                    .expect("non-empty");
                Ok(tx.list_time_off(&id, ahead)?)
            })
            .await
    }

    pub async fn create_time_off(
        &self,
        actor: &Actor,
        id: UserId,
        input: TimeOffInput,
    ) -> Result<TimeOffCreated, AppError> {
        authorize(actor, Action::EditSchedule, Subject::Doctor(&id))?;
        let mut errors = ValidationErrors::new();
        let start = errors.take(parse_instant("start", &input.start));
        let end = errors.take(parse_instant("end", &input.end));
        let reason = errors.take(parse_text("reason", input.reason.as_deref(), 500));
        let (Some(start), Some(end), Some(reason)) = (start, end, reason) else {
            return Err(errors.into());
        };
        let Some(period) = Interval::new(start, end) else {
            return Err(AppError::invalid("end", "must be after start"));
        };
        if period.duration() > SignedDuration::from_hours(24 * MAX_TIME_OFF_DAYS) {
            return Err(AppError::invalid(
                "end",
                "time off may span at most 366 days",
            ));
        }
        let now = self.now();
        let time_off = TimeOffRecord {
            id: TimeOffId::new(new_id("off")),
            doctor_id: id.clone(),
            period,
            reason,
            created_at: now,
        };
        let actor_id = actor.user_id.clone();
        self.store
            .write(move |tx| {
                tx.find_doctor(&id)?.ok_or(AppError::NotFound("doctor"))?;
                tx.insert_time_off(&time_off)?;
                let overlapping = tx.busy_slots(&id, period)?.len();
                audit(
                    tx,
                    now,
                    Some(&actor_id),
                    "doctor.time_off_added",
                    ("user", Some(id.as_str())),
                    json!({ "time_off_id": time_off.id.as_str() }),
                )?;
                Ok(TimeOffCreated {
                    time_off,
                    overlapping_appointments: overlapping,
                })
            })
            .await
    }

    pub async fn delete_time_off(
        &self,
        actor: &Actor,
        id: UserId,
        time_off: TimeOffId,
    ) -> Result<(), AppError> {
        authorize(actor, Action::EditSchedule, Subject::Doctor(&id))?;
        let (actor_id, now) = (actor.user_id.clone(), self.now());
        self.store
            .write(move |tx| {
                if !tx.delete_time_off(&id, &time_off)? {
                    return Err(AppError::NotFound("time off"));
                }
                audit(
                    tx,
                    now,
                    Some(&actor_id),
                    "doctor.time_off_removed",
                    ("user", Some(id.as_str())),
                    json!({ "time_off_id": time_off.as_str() }),
                )?;
                Ok(())
            })
            .await
    }

    /// Free slots of an active doctor: public.
    pub async fn list_slots(
        &self,
        actor: Option<&Actor>,
        id: UserId,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<(String, Vec<Interval>), AppError> {
        let now = self.now();
        let not_found = || AppError::NotFound("doctor");
        let held = self
            .doctor_availability(&id, None)
            .await?
            .filter(|held| is_visible(&held.doctor, actor))
            .ok_or_else(not_found)?;
        let schedule = &held.doctor.schedule;
        let zone = schedule.time_zone.iana_name().unwrap_or("UTC").to_owned();
        let window = parse_window(from.as_deref(), to.as_deref(), &schedule.time_zone, now, 7)?;
        if held.doctor.status != UserStatus::Active {
            return Ok((zone, Vec::new()));
        }
        let held = if held.covers(window) {
            held
        } else {
            self.doctor_availability(&id, Some(window))
                .await?
                .ok_or_else(not_found)?
        };
        Ok((zone, held.free_slots(window, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slugify("Ear, Nose & Throat"), "ear-nose-throat");
        assert_eq!(slugify("  Cardiology "), "cardiology");
    }
}
