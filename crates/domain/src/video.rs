//! Video visits: how a visit takes place, and the one rule of who sees its meeting
//! link, and when.
//!
//! The meeting link is a bearer secret: anyone holding it can join the call. So
//! it is shown only to the two people of the visit, only while the visit is on
//! (confirmed or checked in), and only around its time. Staff run the schedule and
//! never need to be in the call, so they never see it. Handlers and pages ask
//! [`video_link_access`] and nothing else.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::appointment::AppointmentStatus;
use crate::ids::UserId;
use crate::policy::Actor;
use crate::role::Role;
use crate::time::Interval;

/// How long before the start the link opens: enough to test a camera, not so
/// early that it lingers in a waiting room for hours.
pub const LINK_OPENS_BEFORE: SignedDuration = SignedDuration::from_mins(15);

/// Where a visit takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitMode {
    InPerson,
    Video,
}

impl VisitMode {
    pub const ALL: [VisitMode; 2] = [VisitMode::InPerson, VisitMode::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            VisitMode::InPerson => "in_person",
            VisitMode::Video => "video",
        }
    }

    pub fn parse(value: &str) -> Option<VisitMode> {
        VisitMode::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// What people read: "In person", "Video visit".
    pub fn label(self) -> &'static str {
        match self {
            VisitMode::InPerson => "In person",
            VisitMode::Video => "Video visit",
        }
    }
}

/// The modes a doctor offers: the given values, each known, without repeats, in a
/// fixed order, at least one. `Err` carries the field and message of the first
/// fault (`visit_modes[i]` for an unknown value).
pub fn parse_visit_modes<S: AsRef<str>>(
    values: &[S],
) -> Result<Vec<VisitMode>, (String, &'static str)> {
    let mut modes = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match VisitMode::parse(value.as_ref().trim()) {
            Some(mode) if !modes.contains(&mode) => modes.push(mode),
            Some(_) => {}
            None => {
                return Err((format!("visit_modes[{i}]"), "must be in_person or video"));
            }
        }
    }
    if modes.is_empty() {
        return Err((
            "visit_modes".to_owned(),
            "must offer at least one of in_person, video",
        ));
    }
    modes.sort();
    Ok(modes)
}

/// What [`video_link_access`] needs to know of an appointment.
#[derive(Debug, Clone, Copy)]
pub struct VideoVisit<'a> {
    pub mode: VisitMode,
    pub status: AppointmentStatus,
    pub patient_id: &'a UserId,
    pub doctor_id: &'a UserId,
    pub slot: Interval,
}

/// What a viewer may know of a visit's meeting link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoLinkAccess {
    /// Not theirs to see at all: not a video visit, not on (requested, ended,
    /// cancelled...), or the viewer is not its patient or doctor.
    None,
    /// Theirs, but not yet: it opens at this instant.
    NotYet { opens_at: Timestamp },
    /// Theirs, now.
    Open { opens_at: Timestamp },
    /// Theirs, but the visit's time is over.
    Closed { opens_at: Timestamp },
}

impl VideoLinkAccess {
    /// The instant the link opens, for those it is for.
    pub fn opens_at(self) -> Option<Timestamp> {
        match self {
            VideoLinkAccess::None => None,
            VideoLinkAccess::NotYet { opens_at }
            | VideoLinkAccess::Open { opens_at }
            | VideoLinkAccess::Closed { opens_at } => Some(opens_at),
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, VideoLinkAccess::Open { .. })
    }
}

/// The visit has a meeting: a video visit that is confirmed or checked in. A room
/// is made when a video visit first becomes confirmed.
pub fn has_meeting(mode: VisitMode, status: AppointmentStatus) -> bool {
    mode == VisitMode::Video
        && matches!(
            status,
            AppointmentStatus::Confirmed | AppointmentStatus::CheckedIn
        )
}

/// Whether `user` (with `role`) is one of the two people of the visit: its
/// patient, or its doctor while they hold the doctor role (as in the policy's
/// "the appointment's doctor").
pub fn is_participant(user: &UserId, role: Role, visit: &VideoVisit<'_>) -> bool {
    user == visit.patient_id || (role == Role::Doctor && user == visit.doctor_id)
}

/// Whether `user` may be sent the link (in the confirmation email and calendar
/// invitation), whatever the time: a participant of a visit with a meeting.
pub fn may_receive_link(user: &UserId, role: Role, visit: &VideoVisit<'_>) -> bool {
    has_meeting(visit.mode, visit.status) && is_participant(user, role, visit)
}

/// The one rule of who sees a visit's meeting link on a page or in the API, and
/// when: its patient or doctor, for a confirmed or checked-in video visit, from
/// [`LINK_OPENS_BEFORE`] the start until the end (both included).
pub fn video_link_access(actor: &Actor, visit: &VideoVisit<'_>, now: Timestamp) -> VideoLinkAccess {
    if !may_receive_link(&actor.user_id, actor.role, visit) {
        return VideoLinkAccess::None;
    }
    let opens_at = visit.slot.start - LINK_OPENS_BEFORE;
    if now < opens_at {
        VideoLinkAccess::NotYet { opens_at }
    } else if now > visit.slot.end {
        VideoLinkAccess::Closed { opens_at }
    } else {
        VideoLinkAccess::Open { opens_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn modes_parse_sort_and_refuse_unknown_or_none() {
        assert_eq!(
            parse_visit_modes(&["video", "in_person", "video"]).unwrap(),
            vec![VisitMode::InPerson, VisitMode::Video]
        );
        assert_eq!(parse_visit_modes::<&str>(&[]).unwrap_err().0, "visit_modes");
        assert_eq!(
            parse_visit_modes(&["in_person", "phone"]).unwrap_err().0,
            "visit_modes[1]"
        );
    }

    /// Every status × viewer × instant: only the patient and the doctor of a
    /// confirmed or checked-in video visit, only from 15 minutes before the start
    /// to the end.
    #[test]
    fn only_the_two_people_of_an_on_video_visit_see_the_link_in_its_window() {
        let (pat, doc, other) = (UserId::new("pat"), UserId::new("doc"), UserId::new("x"));
        let slot = Interval::new(at("2026-03-03T09:00:00Z"), at("2026-03-03T09:30:00Z")).unwrap();
        let viewers = [
            (&pat, Role::Patient, true),
            (&doc, Role::Doctor, true),
            // A former doctor (role changed) is no longer the appointment's doctor.
            (&doc, Role::Admin, false),
            (&other, Role::Patient, false),
            (&other, Role::Doctor, false),
            (&other, Role::Receptionist, false),
            (&other, Role::Admin, false),
        ];
        let instants = [
            ("2026-03-03T08:44:59Z", "before"),
            ("2026-03-03T08:45:00Z", "open"),
            ("2026-03-03T09:10:00Z", "open"),
            ("2026-03-03T09:30:00Z", "open"),
            ("2026-03-03T09:30:01Z", "after"),
        ];
        for mode in VisitMode::ALL {
            for status in AppointmentStatus::ALL {
                let visit = VideoVisit {
                    mode,
                    status,
                    patient_id: &pat,
                    doctor_id: &doc,
                    slot,
                };
                for (user, role, participant) in viewers {
                    let actor = Actor {
                        user_id: user.clone(),
                        role,
                    };
                    for (now, when) in instants {
                        let access = video_link_access(&actor, &visit, at(now));
                        let on = mode == VisitMode::Video
                            && matches!(
                                status,
                                AppointmentStatus::Confirmed | AppointmentStatus::CheckedIn
                            );
                        let expected = match (on && participant, when) {
                            (false, _) => VideoLinkAccess::None,
                            (true, "before") => VideoLinkAccess::NotYet {
                                opens_at: at("2026-03-03T08:45:00Z"),
                            },
                            (true, "open") => VideoLinkAccess::Open {
                                opens_at: at("2026-03-03T08:45:00Z"),
                            },
                            (true, _) => VideoLinkAccess::Closed {
                                opens_at: at("2026-03-03T08:45:00Z"),
                            },
                        };
                        assert_eq!(
                            access, expected,
                            "{mode:?} {status:?} {user} {role:?} {now}"
                        );
                    }
                }
            }
        }
    }
}
