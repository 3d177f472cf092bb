//! The JSON API under `/api/v1`, grouped by resource. Every handler parses, calls one
//! `app` function, and shapes the answer.

pub mod accounts;
pub mod appointments;
pub mod attachments;
pub mod chat;
pub mod doctors;
pub mod document;
pub mod events;
pub mod export;
pub mod feedback;
pub mod live;
pub mod notifications;
pub mod payments;
pub mod photos;
pub mod prescriptions;
pub mod records;
pub mod stats;
mod utc;

use carebook_domain::Interval;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, Page, PageParams};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(accounts::create_registration))
        .routes(routes!(accounts::create_session))
        .routes(routes!(accounts::delete_session))
        .routes(routes!(accounts::create_oidc_link))
        .routes(routes!(accounts::find_me))
        .routes(routes!(accounts::update_my_password))
        .routes(routes!(accounts::create_password_reset))
        .routes(routes!(accounts::confirm_password_reset))
        .routes(routes!(accounts::confirm_email_verification))
        .routes(routes!(accounts::create_email_verification))
        .routes(routes!(accounts::find_my_security))
        .routes(routes!(accounts::create_two_factor_setup))
        .routes(routes!(accounts::confirm_two_factor))
        .routes(routes!(accounts::delete_two_factor))
        .routes(routes!(accounts::list_users, accounts::create_user))
        .routes(routes!(accounts::find_user, accounts::update_user))
        .routes(routes!(accounts::approve_user))
        .routes(routes!(accounts::list_audit))
        .routes(routes!(
            doctors::list_specialties,
            doctors::create_specialty
        ))
        .routes(routes!(doctors::list_doctors))
        .routes(routes!(doctors::find_doctor, doctors::update_doctor))
        .routes(routes!(doctors::list_slots))
        .routes(routes!(doctors::find_schedule, doctors::update_schedule))
        .routes(routes!(doctors::list_time_off, doctors::create_time_off))
        .routes(routes!(doctors::delete_time_off))
        .routes(routes!(
            appointments::list_appointments,
            appointments::create_appointment
        ))
        .routes(routes!(appointments::find_appointment))
        .routes(routes!(appointments::confirm_appointment))
        .routes(routes!(appointments::reject_appointment))
        .routes(routes!(appointments::cancel_appointment))
        .routes(routes!(appointments::reschedule_appointment))
        .routes(routes!(appointments::check_in_appointment))
        .routes(routes!(appointments::complete_appointment))
        .routes(routes!(appointments::no_show_appointment))
        .routes(routes!(notifications::remind_appointment))
        .routes(routes!(events::list_events))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(notifications::read_notification))
        .routes(routes!(notifications::read_all_notifications))
        .routes(routes!(
            notifications::find_my_notification_preferences,
            notifications::update_my_notification_preferences
        ))
        .routes(routes!(notifications::list_deliveries))
        .routes(routes!(notifications::retry_delivery))
        .routes(routes!(stats::find_stats))
        .routes(routes!(prescriptions::create_prescription))
        .routes(routes!(prescriptions::list_prescriptions))
        .routes(routes!(prescriptions::find_prescription))
        .routes(routes!(prescriptions::find_prescription_pdf))
        .routes(routes!(prescriptions::revoke_prescription))
        .routes(routes!(
            feedback::create_feedback,
            feedback::update_feedback
        ))
        .routes(routes!(feedback::reply_to_feedback))
        .routes(routes!(feedback::hide_feedback))
        .routes(routes!(feedback::list_reviews))
        .routes(routes!(records::find_record, records::create_record))
        .routes(routes!(records::create_amendment))
        .routes(routes!(records::list_record_versions))
        .routes(routes!(records::list_patient_records))
        .routes(routes!(records::find_summary, records::update_summary))
        .routes(routes!(records::list_access_log))
        .routes(routes!(export::find_my_export))
        .routes(routes!(chat::list_conversations, chat::create_conversation))
        .routes(routes!(chat::close_conversation))
        .routes(routes!(chat::list_messages, chat::create_message))
        .routes(routes!(chat::read_conversation))
        .routes(routes!(live::open_live))
        .routes(routes!(
            attachments::list_appointment_attachments,
            attachments::create_appointment_attachment
        ))
        .routes(routes!(
            attachments::list_patient_attachments,
            attachments::create_patient_attachment
        ))
        .routes(routes!(
            attachments::find_attachment,
            attachments::delete_attachment
        ))
        .routes(routes!(photos::update_my_photo, photos::delete_my_photo))
        .routes(routes!(photos::find_user_photo))
        .routes(routes!(payments::create_stripe_event))
        .routes(routes!(payments::create_desk_payment))
        .routes(routes!(payments::list_payments))
        .routes(routes!(payments::find_payments_csv))
        .routes(routes!(payments::find_payment_summary))
}

/// Every list: a page of items and the cursor of the next page (null on the last).
#[derive(Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Paged<T> {
    pub fn from_page<S>(page: Page<S>, shape: impl Fn(S) -> T) -> Paged<T> {
        Paged {
            items: page.items.into_iter().map(shape).collect(),
            next_cursor: page.next_cursor,
        }
    }

    pub fn all(items: Vec<T>) -> Paged<T> {
        Paged {
            items,
            next_cursor: None,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl From<PageQuery> for PageParams {
    fn from(query: PageQuery) -> Self {
        PageParams {
            limit: query.limit,
            cursor: query.cursor,
        }
    }
}

/// A span of time: `[start, end)`, RFC 3339.
#[derive(Serialize, ToSchema)]
pub struct Span {
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "utc_text")]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "utc_text")]
    pub end: Timestamp,
}

/// `timestamp` as jiff prints it, in one piece (see [`utc::UtcPrinter`]).
fn utc_text<S: serde::Serializer>(timestamp: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    match utc::UtcPrinter::default().text(*timestamp) {
        Some(text) => serializer.serialize_str(utc::as_str(&text)),
        None => serializer.collect_str(timestamp),
    }
}

impl From<Interval> for Span {
    fn from(interval: Interval) -> Self {
        Span {
            start: interval.start,
            end: interval.end,
        }
    }
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
