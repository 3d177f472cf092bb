//! Turning app data into what a page shows: field errors next to their inputs,
//! times in the right zone, money, statuses. Templates receive plain strings.

use carebook_domain::ValidationErrors;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::store::{AppointmentStatus, Fee, VisitMode};

/// Validation messages by field, for showing next to each input.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn new() -> FieldErrors {
        FieldErrors::default()
    }

    /// The message for `field`, if it has one (`if let Some(e) = errors.get("email")`).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, field: &str, message: &str) {
        self.0.push((field.to_owned(), message.to_owned()));
    }

    /// Messages of fields the form does not show (e.g. `start` on a form that only
    /// shows a reason), for a message at the top of the form.
    pub fn others<const N: usize>(&self, shown: &[&str; N]) -> Vec<String> {
        self.0
            .iter()
            .filter(|(f, _)| !shown.contains(&f.as_str()))
            .map(|(f, m)| format!("{}: {m}", humanize(f)))
            .collect()
    }

    pub fn summary(&self) -> String {
        self.others(&[]).join("; ")
    }
}

impl From<ValidationErrors> for FieldErrors {
    fn from(errors: ValidationErrors) -> Self {
        FieldErrors(
            errors
                .errors
                .into_iter()
                .map(|e| (e.field, e.message))
                .collect(),
        )
    }
}

/// `date_of_birth` -> `Date of birth`.
pub fn humanize(field: &str) -> String {
    let text = field.replace(['_', '.'], " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `Tue 3 Mar 2026, 09:00` in `zone`.
pub fn date_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%a %-d %b %Y, %H:%M")
        .to_string()
}

/// `09:00` in `zone`.
pub fn clock_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%H:%M")
        .to_string()
}

/// `Tuesday 3 March 2026`.
pub fn long_date(date: jiff::civil::Date) -> String {
    date.strftime("%A %-d %B %Y").to_string()
}

/// The clinic's zone, in which the desk's and the statistics' days begin and end.
pub fn clinic_zone(app: &crate::app::App) -> TimeZone {
    zone(&app.settings.clinic_time_zone)
}

/// `[first instant of date, first instant of the next date)` in `zone` (a day may
/// be 23 or 25 hours long).
pub fn day_bounds(date: jiff::civil::Date, zone: &TimeZone) -> (Timestamp, Timestamp) {
    let start = date
        .to_zoned_datetime(zone.clone())
        .map_or(Timestamp::UNIX_EPOCH, |z| z.timestamp());
    let end = date
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(zone.clone()).ok())
        .map_or(start, |z| z.timestamp());
    (start, end)
}

/// `Mon 2 Mar 2026` in `zone`.
pub fn short_date(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%a %-d %b %Y")
        .to_string()
}

/// A form field left blank is `None`; others are trimmed.
pub fn optional(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An IANA zone by name, UTC when unknown.
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// `EUR 60.00`; currencies without minor units print whole amounts.
pub fn money(fee: &Fee) -> String {
    crate::notify::money_text(fee.amount, &fee.currency)
}

/// `Checked in`.
/// How a doctor's offer reads: "In person", "Video visits".
pub fn offer_label(mode: VisitMode) -> &'static str {
    match mode {
        VisitMode::InPerson => "In person",
        VisitMode::Video => "Video visits",
    }
}

pub fn status_label(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::AwaitingPayment => "Awaiting payment",
        AppointmentStatus::Requested => "Requested",
        AppointmentStatus::Confirmed => "Confirmed",
        AppointmentStatus::CheckedIn => "Checked in",
        AppointmentStatus::Completed => "Completed",
        AppointmentStatus::Rejected => "Rejected",
        AppointmentStatus::Cancelled => "Cancelled",
        AppointmentStatus::NoShow => "No-show",
    }
}

/// The badge class of a status (`status-confirmed`); colour is never the only cue,
/// the label is always printed.
pub fn status_class(status: AppointmentStatus) -> String {
    format!("status-{}", status.as_str().replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_prints_minor_units_by_currency() {
        let fee = |amount, currency: &str| Fee {
            amount,
            currency: currency.into(),
        };
        assert_eq!(money(&fee(6000, "EUR")), "EUR 60.00");
        assert_eq!(money(&fee(1205, "USD")), "USD 12.05");
        assert_eq!(money(&fee(5000, "JPY")), "JPY 5000");
        assert_eq!(money(&fee(12345, "KWD")), "KWD 12.345");
    }

    #[test]
    fn times_print_in_the_zone_asked_for() {
        let at: Timestamp = "2026-03-03T08:00:00Z".parse().unwrap();
        assert_eq!(
            date_time(at, &zone("Europe/Berlin")),
            "Tue 3 Mar 2026, 09:00"
        );
        assert_eq!(clock_time(at, &zone("America/New_York")), "03:00");
        assert_eq!(clock_time(at, &zone("Not/AZone")), "08:00");
    }

    #[test]
    fn field_errors_are_found_by_field_and_the_rest_summarised() {
        let mut errors = FieldErrors::new();
        errors.add("email", "is taken");
        errors.add("date_of_birth", "must be a past date");
        assert_eq!(errors.get("email"), Some("is taken"));
        assert_eq!(
            errors.others(&["email"]),
            vec!["Date of birth: must be a past date"]
        );
    }
}
