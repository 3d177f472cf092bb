//! iCalendar (RFC 5545) for appointments: an invitation on confirmation and
//! reschedule, a cancellation on cancel.

use super::{Notice, Recipient};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarMethod {
    Request,
    Cancel,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub method: CalendarMethod,
    /// The whole `VCALENDAR`, CRLF line ends, folded at 75 octets.
    pub ics: String,
}

/// The calendar part of a notice's email, if its kind carries one.
pub fn for_notice(notice: &Notice, organizer: &str, attendee: &Recipient) -> Option<Calendar> {
    let _ = (notice, organizer, attendee);
    todo!()
}
