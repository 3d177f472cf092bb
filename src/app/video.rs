//! Video visits: the meeting room of a confirmed video visit, and its link as each
//! viewer may see it. Who sees the link, and when, is the domain's
//! (`carebook_domain::video::video_link_access`); this module only applies it.

use carebook_domain::policy::Actor;
use carebook_domain::video::{self, VideoLinkAccess, VideoVisit};
use jiff::Timestamp;

use super::{App, hex, random_bytes};
use crate::store::AppointmentRecord;

/// Random bytes in a room name: 160 bits, well past the 128 that make a name
/// unguessable, since the name alone lets anyone into the call.
const ROOM_BYTES: usize = 20;

/// A new room name: `carebook-` and 40 lower-case hex digits.
pub(crate) fn new_room() -> String {
    format!("carebook-{}", hex(&random_bytes::<ROOM_BYTES>()))
}

/// Gives a video visit its room the first time it is confirmed (booked with
/// auto-confirm, or confirmed later); a room once made is kept, across
/// reschedules too, so a link already sent keeps working.
pub(crate) fn ensure_room(record: &mut AppointmentRecord) {
    if record.video_room.is_none() && video::has_meeting(record.mode, record.status) {
        record.video_room = Some(new_room());
    }
}

/// The meeting link of a room: the template with `{room}` replaced.
pub fn video_url(template: &str, room: &str) -> String {
    template.replace("{room}", room)
}

/// What a viewer may know of an appointment's meeting link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoLink {
    pub access: VideoLinkAccess,
    /// Only while the link is open to this viewer.
    pub url: Option<String>,
}

impl VideoLink {
    pub fn opens_at(&self) -> Option<Timestamp> {
        self.access.opens_at()
    }
}

pub(crate) fn visit_of(record: &AppointmentRecord) -> VideoVisit<'_> {
    VideoVisit {
        mode: record.mode,
        status: record.status,
        patient_id: &record.patient_id,
        doctor_id: &record.doctor_id,
        slot: record.slot,
    }
}

impl App {
    /// The appointment's meeting link as `actor` may see it now.
    pub fn video_link(&self, actor: &Actor, record: &AppointmentRecord) -> VideoLink {
        let access = video::video_link_access(actor, &visit_of(record), self.now());
        let url = match (&record.video_room, access.is_open()) {
            (Some(room), true) => Some(video_url(&self.settings.video_url_template, room)),
            _ => None,
        };
        VideoLink { access, url }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_long_random_and_url_safe() {
        let (a, b) = (new_room(), new_room());
        assert_ne!(a, b);
        let digits = a.strip_prefix("carebook-").unwrap();
        assert_eq!(digits.len(), 2 * ROOM_BYTES);
        assert!(
            digits
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(
            video_url("https://meet.jit.si/{room}", &a),
            format!("https://meet.jit.si/{a}")
        );
    }
}
