//! Specialties, doctors, their schedules, time off and free slots.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use carebook_domain::Interval;
use carebook_domain::PaymentMode;
use carebook_domain::schedule::{ScheduleInput, WeeklyIntervalInput};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::utc::UtcPrinter;
use super::{PageQuery, Paged, Span, nullable};
use crate::app::{
    App, AppError, CardText, DoctorPatch, DoctorProfile, DoctorSearch, Page, TimeOffInput,
};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser, MaybeUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::{
    Fee, Schedule, Specialty, TimeOffId, TimeOffRecord, UserId, UserStatus, VisitMode,
};

#[derive(Serialize, ToSchema)]
pub struct SpecialtyResponse {
    pub id: String,
    pub name: String,
    pub slug: String,
}

impl From<Specialty> for SpecialtyResponse {
    fn from(s: Specialty) -> Self {
        SpecialtyResponse {
            id: s.id.to_string(),
            name: s.name,
            slug: s.slug,
        }
    }
}

/// All specialties, by name.
#[utoipa::path(get, path = "/specialties", tag = "doctors",
    responses((status = 200, body = Paged<SpecialtyResponse>)))]
pub async fn list_specialties(
    State(app): State<App>,
) -> Result<Json<Paged<SpecialtyResponse>>, ApiError> {
    let all = app.list_specialties().await?;
    Ok(Json(Paged::all(all.into_iter().map(Into::into).collect())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialtyRequest {
    pub name: String,
}

/// Add a specialty (admins).
#[utoipa::path(post, path = "/specialties", tag = "doctors", security(("bearer" = [])), request_body = SpecialtyRequest,
    responses((status = 201, body = SpecialtyResponse), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn create_specialty(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<SpecialtyRequest>,
) -> Result<(StatusCode, Json<SpecialtyResponse>), ApiError> {
    let specialty = app.create_specialty(&me.actor, &body.name).await?;
    Ok((StatusCode::CREATED, Json(specialty.into())))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeBody {
    /// Integer minor units (e.g. cents).
    pub amount: i64,
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
}

#[derive(Serialize, ToSchema)]
pub struct DoctorResponse {
    pub id: String,
    pub name: String,
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    pub specialties: Vec<SpecialtyResponse>,
    pub bio: Option<String>,
    pub qualifications: Option<String>,
    pub years_experience: Option<i64>,
    pub languages: Vec<String>,
    pub fee: Option<FeeBody>,
    /// IANA zone of the doctor's schedule.
    pub time_zone: String,
    pub slot_minutes: i64,
    pub auto_confirm: bool,
    pub cancel_window_hours: i64,
    /// How the doctor sees patients: `in_person`, `video`, or both.
    #[schema(value_type = Vec<String>, example = json!(["in_person", "video"]))]
    pub visit_modes: Vec<VisitMode>,
    /// How the fee is paid: `at_clinic` (at the desk) or `online` (when booking;
    /// the booking waits for the payment, see docs/PAYMENTS.md).
    #[schema(value_type = String, example = "at_clinic")]
    pub payment_mode: PaymentMode,
    pub next_free_slot: Option<Span>,
    /// Average stars and count, from completed visits' feedback.
    pub rating: super::feedback::RatingResponse,
    /// The doctor's photo (256 px; `&size=64` for the small one), when they have
    /// one; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
}

impl From<DoctorProfile> for DoctorResponse {
    fn from(p: DoctorProfile) -> Self {
        let d = std::sync::Arc::unwrap_or_clone(p.doctor);
        DoctorResponse {
            id: d.user_id.to_string(),
            name: d.name,
            status: d.status,
            specialties: p.specialties.into_iter().map(Into::into).collect(),
            bio: d.bio,
            qualifications: d.qualifications,
            years_experience: d.years_experience,
            languages: d.languages,
            fee: d.fee.map(|f| FeeBody {
                amount: f.amount,
                currency: f.currency,
            }),
            time_zone: d.schedule.time_zone.iana_name().unwrap_or("UTC").to_owned(),
            slot_minutes: d.schedule.slot_minutes,
            auto_confirm: d.schedule.rules.auto_confirm,
            cancel_window_hours: d.schedule.rules.cancel_window_hours,
            visit_modes: d.visit_modes,
            payment_mode: d.payment_mode,
            next_free_slot: p.next_free_slot.map(Into::into),
            rating: p.rating.into(),
            photo_url: p
                .photo_version
                .map(|version| crate::app::photo_url(&d.user_id, &version)),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorQuery {
    /// Matches the doctor's name.
    pub q: Option<String>,
    /// A specialty's id or slug.
    pub specialty: Option<String>,
    /// Only doctors with a free slot in this range (RFC 3339 or a date).
    pub available_from: Option<String>,
    pub available_to: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Find doctors by name, specialty and availability.
#[utoipa::path(get, path = "/doctors", tag = "doctors", security((), ("bearer" = [])), params(DoctorQuery),
    responses((status = 200, body = Paged<DoctorResponse>), (status = 422, body = Problem)))]
pub async fn list_doctors(
    State(app): State<App>,
    MaybeUser(me): MaybeUser,
    ApiQuery(query): ApiQuery<DoctorQuery>,
) -> Result<Response, ApiError> {
    let search = DoctorSearch {
        q: query.q,
        specialty: query.specialty,
        available_from: query.available_from,
        available_to: query.available_to,
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let actor = me.as_ref().map(|m| &m.actor);
    let page = app.search_doctors(actor, search, page.into()).await?;
    Ok(json_response(doctor_page_json(page)))
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A page of doctors as JSON, byte for byte what serde writes for
/// `Paged<DoctorResponse>`, each card from its held copy's memo where it has one:
/// a search page is mostly the same cards again with other free slots.
fn doctor_page_json(page: Page<DoctorProfile>) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + 1024 * page.items.len());
    body.extend_from_slice(br#"{"items":["#);
    for (i, profile) in page.items.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write_card(&mut body, profile);
    }
    body.extend_from_slice(br#"],"next_cursor":"#);
    serde_json::to_writer(&mut body, &page.next_cursor).expect("a string serialises");
    body.push(b'}');
    body
}

fn write_card(out: &mut Vec<u8>, profile: DoctorProfile) {
    let next_free_slot = profile.next_free_slot.map(Span::from);
    let mut write = |card: &CardText| {
        out.extend_from_slice(card.before_next_slot.as_bytes());
        out.extend_from_slice(br#""next_free_slot":"#);
        serde_json::to_writer(&mut *out, &next_free_slot).expect("a span serialises");
        out.extend_from_slice(card.after_next_slot.as_bytes());
    };
    match profile.card.clone() {
        Some(memo) => write(memo.get_or_init(|| card_text(profile))),
        None => write(&card_text(profile)),
    }
}

/// The card serde writes, cut around its next free slot.
fn card_text(mut profile: DoctorProfile) -> CardText {
    const SLOT: &str = r#""next_free_slot":null"#;
    profile.next_free_slot = None;
    let whole = serde_json::to_string(&DoctorResponse::from(profile)).expect("a card serialises");
    // Inside a JSON string a quote is escaped, so the bare key is found only as the key.
    let (before, after) = whole.split_once(SLOT).expect("the card has the key");
    CardText {
        before_next_slot: before.into(),
        after_next_slot: after.into(),
    }
}

/// A doctor's public profile with the next free slot.
#[utoipa::path(get, path = "/doctors/{id}", tag = "doctors", security((), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = DoctorResponse), (status = 404, body = Problem)))]
pub async fn find_doctor(
    State(app): State<App>,
    MaybeUser(me): MaybeUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let actor = me.as_ref().map(|m| &m.actor);
    let mut body = Vec::with_capacity(1024);
    write_card(&mut body, app.find_doctor(actor, UserId::new(id)).await?);
    Ok(json_response(body))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorUpdate {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub qualifications: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub years_experience: Option<Option<i64>>,
    pub languages: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub fee: Option<Option<FeeBody>>,
    /// Specialty ids or slugs; replaces the doctor's list.
    pub specialty_ids: Option<Vec<String>>,
    /// `in_person`, `video`, or both; replaces the set, which may not be empty.
    #[schema(example = json!(["in_person", "video"]))]
    pub visit_modes: Option<Vec<String>>,
    /// `at_clinic` or `online`; `online` needs Stripe configured and a fee above zero.
    #[schema(example = "online")]
    pub payment_mode: Option<String>,
}

/// Edit a doctor's profile (the doctor or an admin).
#[utoipa::path(patch, path = "/doctors/{id}", tag = "doctors", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DoctorUpdate,
    responses((status = 200, body = DoctorResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_doctor(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DoctorUpdate>,
) -> Result<Json<DoctorResponse>, ApiError> {
    let patch = DoctorPatch {
        name: body.name,
        bio: body.bio,
        qualifications: body.qualifications,
        years_experience: body.years_experience,
        languages: body.languages,
        fee: body.fee.map(|fee| {
            fee.map(|f| Fee {
                amount: f.amount,
                currency: f.currency,
            })
        }),
        specialty_ids: body.specialty_ids,
        visit_modes: body.visit_modes,
        payment_mode: body.payment_mode,
    };
    Ok(Json(
        app.update_doctor(&me.actor, UserId::new(id), patch)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    /// RFC 3339 instant, or a date meaning that day in the doctor's zone. Default: now.
    pub from: Option<String>,
    /// RFC 3339 instant, or a date (inclusive). Default: 7 days after `from`. At most
    /// 31 days after `from`.
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SlotsResponse {
    pub time_zone: String,
    pub slots: Vec<Span>,
}

/// Free slots of a doctor in a window.
#[utoipa::path(get, path = "/doctors/{id}/slots", tag = "doctors", security((), ("bearer" = [])), params(("id" = String, Path), SlotQuery),
    responses((status = 200, body = SlotsResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_slots(
    State(app): State<App>,
    MaybeUser(me): MaybeUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SlotQuery>,
) -> Result<Response, ApiError> {
    let actor = me.as_ref().map(|m| &m.actor);
    let (zone, slots) = app
        .list_slots(actor, UserId::new(id), query.from, query.to)
        .await?;
    let json = slots_json(&zone, &slots).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// The bytes serde_json writes for a [`SlotsResponse`], written directly: a week of
/// slots is a hundred timestamps, and printing them through serde was 14 % of the
/// server's time under the slots benchmark (see `utc`).
fn slots_json(zone: &str, slots: &[Interval]) -> serde_json::Result<Vec<u8>> {
    const SLOT_BYTES: usize =
        r#"{"start":"2026-12-08T07:00:00Z","end":"2026-12-08T07:20:00Z"},"#.len();
    let mut out = Vec::with_capacity(32 + zone.len() + SLOT_BYTES * slots.len());
    out.extend_from_slice(br#"{"time_zone":"#);
    serde_json::to_writer(&mut out, zone)?;
    out.extend_from_slice(br#","slots":["#);
    let mut printer = UtcPrinter::default();
    for (n, slot) in slots.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        // jiff prints timestamps with digits, `-`, `:`, `.`, `T` and `Z` only:
        // nothing JSON escapes.
        out.extend_from_slice(br#"{"start":""#);
        printer.push(&mut out, slot.start);
        out.extend_from_slice(br#"","end":""#);
        printer.push(&mut out, slot.end);
        out.extend_from_slice(br#""}"#);
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHoursBody {
    /// `monday` .. `sunday`
    pub day: String,
    /// Local `HH:MM`.
    pub start: String,
    /// Local `HH:MM` (`24:00` for midnight).
    pub end: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// IANA zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub slot_minutes: i64,
    pub weekly_hours: Vec<WeeklyHoursBody>,
    pub min_notice_minutes: i64,
    pub horizon_days: i64,
    pub auto_confirm: bool,
    pub cancel_window_hours: i64,
}

impl From<Schedule> for ScheduleBody {
    fn from(schedule: Schedule) -> Self {
        let input = schedule.to_input();
        ScheduleBody {
            time_zone: input.time_zone,
            slot_minutes: input.slot_minutes,
            weekly_hours: input
                .weekly_hours
                .into_iter()
                .map(|w| WeeklyHoursBody {
                    day: w.day,
                    start: w.start,
                    end: w.end,
                })
                .collect(),
            min_notice_minutes: input.min_notice_minutes,
            horizon_days: input.horizon_days,
            auto_confirm: input.auto_confirm,
            cancel_window_hours: input.cancel_window_hours,
        }
    }
}

impl From<ScheduleBody> for ScheduleInput {
    fn from(body: ScheduleBody) -> Self {
        ScheduleInput {
            time_zone: body.time_zone,
            slot_minutes: body.slot_minutes,
            weekly_hours: body
                .weekly_hours
                .into_iter()
                .map(|w| WeeklyIntervalInput {
                    day: w.day,
                    start: w.start,
                    end: w.end,
                })
                .collect(),
            min_notice_minutes: body.min_notice_minutes,
            horizon_days: body.horizon_days,
            auto_confirm: body.auto_confirm,
            cancel_window_hours: body.cancel_window_hours,
        }
    }
}

/// A doctor's weekly hours, slot length and booking rules.
#[utoipa::path(get, path = "/doctors/{id}/schedule", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ScheduleBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn find_schedule(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ScheduleBody>, ApiError> {
    Ok(Json(
        app.find_schedule(&me.actor, UserId::new(id)).await?.into(),
    ))
}

/// Replace a doctor's schedule (the doctor or an admin).
#[utoipa::path(put, path = "/doctors/{id}/schedule", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ScheduleBody,
    responses((status = 200, body = ScheduleBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_schedule(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<Json<ScheduleBody>, ApiError> {
    Ok(Json(
        app.update_schedule(&me.actor, UserId::new(id), body.into())
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeOffRequest {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339, after `start`.
    pub end: String,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TimeOffResponse {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub reason: Option<String>,
    /// Live appointments inside this time off, which stay booked until moved or cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlapping_appointments: Option<usize>,
}

impl From<TimeOffRecord> for TimeOffResponse {
    fn from(t: TimeOffRecord) -> Self {
        TimeOffResponse {
            id: t.id.to_string(),
            start: t.period.start,
            end: t.period.end,
            reason: t.reason,
            overlapping_appointments: None,
        }
    }
}

/// A doctor's current and future time off.
#[utoipa::path(get, path = "/doctors/{id}/time-off", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Paged<TimeOffResponse>), (status = 403, body = Problem)))]
pub async fn list_time_off(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Paged<TimeOffResponse>>, ApiError> {
    let all = app.list_time_off(&me.actor, UserId::new(id)).await?;
    Ok(Json(Paged::all(all.into_iter().map(Into::into).collect())))
}

/// Block a period (holiday, training): no slots are offered in it.
#[utoipa::path(post, path = "/doctors/{id}/time-off", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TimeOffRequest,
    responses((status = 201, body = TimeOffResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_time_off(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TimeOffRequest>,
) -> Result<(StatusCode, Json<TimeOffResponse>), ApiError> {
    let input = TimeOffInput {
        start: body.start,
        end: body.end,
        reason: body.reason,
    };
    let created = app
        .create_time_off(&me.actor, UserId::new(id), input)
        .await?;
    let response = TimeOffResponse {
        overlapping_appointments: Some(created.overlapping_appointments),
        ..created.time_off.into()
    };
    Ok((StatusCode::CREATED, Json(response)))
}

/// Remove a period of time off.
#[utoipa::path(delete, path = "/doctors/{id}/time-off/{time_off_id}", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path), ("time_off_id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_time_off(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath((id, time_off_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.delete_time_off(&me.actor, UserId::new(id), TimeOffId::new(time_off_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::RatingSummary;
    use crate::store::{DoctorRecord, RatingTotals, Role, UserRecord};
    use proptest::prelude::*;

    fn profile(
        name: &str,
        bio: Option<&str>,
        photo: Option<&str>,
        slot: Option<Interval>,
    ) -> DoctorProfile {
        let account = UserRecord {
            id: UserId::new(format!("usr_{name}")),
            email: "doc@clinic.test".into(),
            name: name.into(),
            phone: None,
            date_of_birth: None,
            role: Role::Doctor,
            status: UserStatus::Active,
            password_hash: String::new(),
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        let mut doctor =
            DoctorRecord::new_for(&account, jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        doctor.bio = bio.map(str::to_owned);
        doctor.fee = Some(Fee {
            amount: 5000,
            currency: "EUR".into(),
        });
        DoctorProfile {
            doctor: doctor.into(),
            specialties: vec![Specialty {
                id: crate::store::SpecialtyId::new("spc_1"),
                name: "Cardiology".into(),
                slug: "cardiology".into(),
            }],
            next_free_slot: slot,
            rating: RatingSummary::from(RatingTotals { count: 3, sum: 13 }),
            photo_version: photo.map(str::to_owned),
            card: Some(Default::default()),
        }
    }

    #[test]
    fn doctor_pages_are_written_as_serde_writes_them_from_memo_or_not() {
        let slot = |start: &str| {
            Some(
                Interval::starting_at(start.parse().unwrap(), jiff::SignedDuration::from_mins(20))
                    .unwrap(),
            )
        };
        // A bio that quotes the key the card is cut at, and one of each kind of card.
        let tricky = r#"He writes "next_free_slot":null and \u0000 in his bio"#;
        let mut profiles = vec![
            profile(
                "Ann",
                Some(tricky),
                Some("v7"),
                slot("2026-03-02T09:00:00Z"),
            ),
            profile("Bob", None, None, None),
            profile("Cy", Some("Plain."), None, slot("2026-03-02T09:00:00.5Z")),
        ];
        profiles[2].card = None;
        for cursor in [None, Some("Q3lcdTAwMWZ1c3JfQ3k".to_owned())] {
            for round in 0..2 {
                let mut page_items = profiles.clone();
                if round == 1 {
                    // The memo, filled in round 0, serves cards with other slots.
                    page_items[0].next_free_slot = slot("2026-03-09T10:20:00Z");
                    page_items[1].next_free_slot = slot("2026-03-03T08:00:00Z");
                }
                let by_serde = serde_json::to_string(&Paged {
                    items: page_items
                        .iter()
                        .cloned()
                        .map(DoctorResponse::from)
                        .collect(),
                    next_cursor: cursor.clone(),
                })
                .unwrap();
                let written = doctor_page_json(Page {
                    items: page_items,
                    next_cursor: cursor.clone(),
                });
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    by_serde,
                    "round {round}"
                );
            }
            for profile in &mut profiles {
                profile.card = profile.card.as_ref().map(|_| Default::default());
            }
        }
    }

    proptest! {
        #[test]
        fn slots_are_written_as_serde_writes_them(
            zone in any::<String>(),
            starts in proptest::collection::vec((1_700_000_000i64..1_900_000_000, prop_oneof![Just(0), 0..1_000_000_000i32]), 0..50),
            minutes in 1..240i64,
        ) {
            let slots: Vec<Interval> = starts
                .into_iter()
                .map(|(second, nanos)| {
                    let start = Timestamp::new(second, nanos).unwrap();
                    Interval::starting_at(start, jiff::SignedDuration::from_mins(minutes)).unwrap()
                })
                .collect();
            let by_serde = serde_json::to_vec(&SlotsResponse {
                time_zone: zone.clone(),
                slots: slots.iter().copied().map(Into::into).collect(),
            })
            .unwrap();
            let written = slots_json(&zone, &slots).unwrap();
            prop_assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(by_serde).unwrap());
        }
    }
}
