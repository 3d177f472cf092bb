//! Feedback on a visit: the patient's rating (1-5 stars) and optional comment, the
//! doctor's one reply, an admin's hiding of an abusive comment.
//!
//! - Only a completed visit may be rated, once, by its patient.
//! - The patient may edit the rating and comment for 14 days after first rating.
//! - The doctor may reply once.
//! - An admin may hide the comment (with a reason): it is kept but no longer shown
//!   publicly; the rating still counts toward the doctor's average, since the visit
//!   happened and the stars are not abusive.

use jiff::{SignedDuration, Timestamp};

use crate::appointment::AppointmentStatus;
use crate::ids::opaque_id;
use crate::validation::{ValidationErrors, parse_bounded_text as parse_text};

pub const MAX_COMMENT_CHARS: usize = 2000;
pub const MAX_REPLY_CHARS: usize = 2000;
pub const MAX_HIDE_REASON_CHARS: usize = 1000;
pub const EDIT_WINDOW_DAYS: i64 = 14;

opaque_id!(
    /// `fbk_…`
    FeedbackId
);

/// A rating: whole stars from 1 to 5.
pub fn parse_rating(value: i64) -> Result<i64, ValidationErrors> {
    if (1..=5).contains(&value) {
        Ok(value)
    } else {
        Err(ValidationErrors::single(
            "rating",
            "must be a whole number of stars from 1 to 5",
        ))
    }
}

pub fn parse_comment(value: Option<&str>) -> Result<Option<String>, ValidationErrors> {
    parse_text("comment", value, MAX_COMMENT_CHARS)
}

pub fn parse_reply(value: Option<&str>) -> Result<String, ValidationErrors> {
    parse_text("reply", value, MAX_REPLY_CHARS)?
        .ok_or_else(|| ValidationErrors::single("reply", "is required"))
}

pub fn parse_hide_reason(value: Option<&str>) -> Result<String, ValidationErrors> {
    parse_text("reason", value, MAX_HIDE_REASON_CHARS)?
        .ok_or_else(|| ValidationErrors::single("reason", "is required"))
}

/// Only a completed visit may be rated.
pub fn may_rate(status: AppointmentStatus) -> bool {
    status == AppointmentStatus::Completed
}

/// Whether feedback first given at `created_at` may still be edited at `now`: for
/// 14 days (of 24 hours), the last instant excluded.
pub fn may_edit(created_at: Timestamp, now: Timestamp) -> bool {
    now < created_at + SignedDuration::from_hours(EDIT_WINDOW_DAYS * 24)
}

/// The average of `count` ratings summing to `sum`, to two decimals; `None` without
/// ratings.
pub fn average(count: i64, sum: i64) -> Option<f64> {
    (count > 0).then(|| (sum as f64 / count as f64 * 100.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_one_to_five_stars() {
        for bad in [-1, 0, 6, 100] {
            assert!(parse_rating(bad).is_err(), "{bad}");
        }
        for good in 1..=5 {
            assert_eq!(parse_rating(good).unwrap(), good);
        }
    }

    #[test]
    fn texts_are_bounded() {
        assert_eq!(parse_comment(Some("  ")).unwrap(), None);
        assert!(parse_comment(Some(&"c".repeat(MAX_COMMENT_CHARS))).is_ok());
        assert!(parse_comment(Some(&"c".repeat(MAX_COMMENT_CHARS + 1))).is_err());
        // The bound is on the text as sent (the API's maxLength), spaces included.
        let padded = format!(" {} ", "c".repeat(MAX_COMMENT_CHARS - 1));
        assert!(parse_comment(Some(&padded)).is_err());
        assert!(parse_reply(None).is_err());
        assert!(parse_reply(Some(&"r".repeat(MAX_REPLY_CHARS + 1))).is_err());
        assert_eq!(parse_reply(Some(" thanks ")).unwrap(), "thanks");
        assert!(parse_hide_reason(Some("")).is_err());
        assert!(parse_hide_reason(Some("abusive")).is_ok());
    }

    #[test]
    fn only_completed_visits_are_rated() {
        for status in AppointmentStatus::ALL {
            assert_eq!(
                may_rate(status),
                status == AppointmentStatus::Completed,
                "{status:?}"
            );
        }
    }

    #[test]
    fn edits_close_after_fourteen_days() {
        let rated: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let closes: Timestamp = "2026-03-16T09:00:00Z".parse().unwrap();
        assert!(may_edit(rated, rated));
        assert!(may_edit(rated, closes - SignedDuration::from_millis(1)));
        assert!(!may_edit(rated, closes));
    }

    #[test]
    fn averages_have_two_decimals() {
        assert_eq!(average(0, 0), None);
        assert_eq!(average(3, 14), Some(4.67));
        assert_eq!(average(2, 10), Some(5.0));
    }
}
