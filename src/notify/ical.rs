//! iCalendar (RFC 5545) for appointments: an invitation on confirmation and
//! reschedule, a cancellation on cancel.

use jiff::Timestamp;

use super::{Notice, NoticeKind, Recipient};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarMethod {
    Request,
    Cancel,
}

impl CalendarMethod {
    /// The `METHOD` value, also the `method=` parameter of the `text/calendar` part.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarMethod::Request => "REQUEST",
            CalendarMethod::Cancel => "CANCEL",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub method: CalendarMethod,
    /// The whole `VCALENDAR`, CRLF line ends, folded at 75 octets.
    pub ics: String,
}

/// The longest content line RFC 5545 allows, in octets, without the CRLF.
const MAX_LINE_OCTETS: usize = 75;

/// The calendar part of a notice's email, if its kind carries one.
pub fn for_notice(notice: &Notice, organizer: &str, attendee: &Recipient) -> Option<Calendar> {
    let method = match notice.kind {
        NoticeKind::AppointmentConfirmed | NoticeKind::AppointmentRescheduled => {
            CalendarMethod::Request
        }
        NoticeKind::AppointmentCancelled => CalendarMethod::Cancel,
        _ => return None,
    };
    let appointment = notice.appointment.as_ref()?;
    let for_patient = attendee.user_id == appointment.patient_id;
    let summary = if for_patient {
        format!("Appointment with Dr {}", appointment.doctor_name)
    } else {
        format!("Appointment with {}", appointment.patient_name)
    };
    let (organizer_name, organizer_address) = split_mailbox(organizer);
    let organizer_name = organizer_name.unwrap_or(&notice.clinic.name);
    let link = notice.link();

    let mut lines = Lines::default();
    lines.push("BEGIN", "VCALENDAR");
    lines.push("VERSION", "2.0");
    lines.push("PRODID", "-//carebook//carebook//EN");
    lines.push("CALSCALE", "GREGORIAN");
    lines.push("METHOD", method.as_str());
    lines.push("BEGIN", "VEVENT");
    lines.push(
        "UID",
        &escape_text(&format!(
            "{}@{}",
            appointment.id,
            host_of(&notice.clinic.base_url)
        )),
    );
    lines.push("SEQUENCE", &appointment.sequence.to_string());
    lines.push("DTSTAMP", &utc(notice.occurred_at));
    lines.push("DTSTART", &utc(appointment.start));
    lines.push("DTEND", &utc(appointment.end));
    lines.push("SUMMARY", &escape_text(&summary));
    // A video visit takes place at its meeting link: calendars offer a "join"
    // button for a URL in LOCATION, and URL is the event's one link. Only the
    // visit's own patient and doctor get an invitation carrying it (see
    // docs/VIDEO.md); a cancellation carries none.
    match appointment
        .video_url
        .as_deref()
        .filter(|_| method == CalendarMethod::Request)
    {
        Some(video_url) => {
            lines.push("LOCATION", &escape_text(video_url));
            lines.push(
                "DESCRIPTION",
                &escape_text(&format!(
                    "Video visit with {}. Join: {video_url}\nDetails and changes: {link}",
                    notice.clinic.name
                )),
            );
            lines.push("URL", video_url);
        }
        None => {
            lines.push("LOCATION", &escape_text(&notice.clinic.name));
            lines.push("DESCRIPTION", &escape_text(&link));
            lines.push("URL", &link);
        }
    }
    lines.push(
        &format!("ORGANIZER;CN={}", param_value(organizer_name)),
        &format!("mailto:{organizer_address}"),
    );
    let participation = match method {
        CalendarMethod::Request => "ACCEPTED",
        CalendarMethod::Cancel => "DECLINED",
    };
    lines.push(
        &format!(
            "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT={participation};RSVP=FALSE",
            param_value(&attendee.name)
        ),
        &format!("mailto:{}", attendee.email),
    );
    let status = match method {
        CalendarMethod::Request => "CONFIRMED",
        CalendarMethod::Cancel => "CANCELLED",
    };
    lines.push("STATUS", status);
    lines.push("TRANSP", "OPAQUE");
    lines.push("END", "VEVENT");
    lines.push("END", "VCALENDAR");
    Some(Calendar {
        method,
        ics: lines.text,
    })
}

#[derive(Default)]
struct Lines {
    text: String,
}

impl Lines {
    fn push(&mut self, name: &str, value: &str) {
        fold_into(&mut self.text, &format!("{name}:{value}"));
    }
}

/// Appends `line` folded so that no physical line exceeds 75 octets, never inside
/// a UTF-8 sequence (a client would otherwise show broken characters).
fn fold_into(out: &mut String, line: &str) {
    let mut room = MAX_LINE_OCTETS;
    let mut used = 0;
    for c in line.chars() {
        if used + c.len_utf8() > room {
            out.push_str("\r\n ");
            // The leading space of a continuation line counts toward its 75.
            room = MAX_LINE_OCTETS - 1;
            used = 0;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// A TEXT value (RFC 5545 3.3.11).
fn escape_text(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ';' => escaped.push_str("\\;"),
            ',' => escaped.push_str("\\,"),
            '\n' => escaped.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// A parameter value, always quoted: a name may hold `:`, `;` or `,`, and a
/// quoted value cannot hold a double quote or a control character at all.
fn param_value(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    format!("\"{cleaned}\"")
}

fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `Name <address>` or a bare address.
fn split_mailbox(mailbox: &str) -> (Option<&str>, &str) {
    let mailbox = mailbox.trim();
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let name = mailbox[..open].trim().trim_matches('"').trim();
            let address = mailbox[open + 1..close].trim();
            ((!name.is_empty()).then_some(name), address)
        }
        _ => (None, mailbox),
    }
}

/// The host of a URL such as `https://clinic.example:8443/carebook`, which makes
/// the UID unique across clinics.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or(bracketed);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

/// Reads an iCalendar text back: unfolds it and returns each content line as
/// (name with its parameters, unescaped value). For tests; it is not a general
/// iCalendar parser (values of every type are unescaped as TEXT).
#[doc(hidden)]
pub fn parse(ics: &str) -> Result<Vec<(String, String)>, String> {
    let mut unfolded: Vec<String> = Vec::new();
    for physical in ics.split('\n') {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        if let Some(continuation) = physical
            .strip_prefix(' ')
            .or_else(|| physical.strip_prefix('\t'))
        {
            let last = unfolded
                .last_mut()
                .ok_or("a continuation line before any content line")?;
            last.push_str(continuation);
        } else if !physical.is_empty() {
            unfolded.push(physical.to_owned());
        }
    }
    unfolded
        .into_iter()
        .map(|line| {
            let colon = value_colon(&line).ok_or_else(|| format!("no value in line {line:?}"))?;
            Ok((line[..colon].to_owned(), unescape_text(&line[colon + 1..])?))
        })
        .collect()
}

/// The colon between name and value: the first one outside a quoted parameter.
fn value_colon(line: &str) -> Option<usize> {
    let mut quoted = false;
    for (index, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some(index),
            _ => {}
        }
    }
    None
}

fn unescape_text(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some(';') => out.push(';'),
            Some(',') => out.push(','),
            Some('n' | 'N') => out.push('\n'),
            other => return Err(format!("bad escape \\{other:?} in {value:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{AppointmentFacts, ClinicFacts};

    fn notice(kind: NoticeKind, sequence: u32) -> Notice {
        Notice {
            event_id: "evt-1".into(),
            kind,
            occurred_at: "2026-03-01T08:00:00Z".parse().unwrap(),
            clinic: ClinicFacts {
                name: "Praxis Mitte, Berlin; 2nd floor".into(),
                time_zone: "Europe/Berlin".into(),
                base_url: "https://clinic.example:8443".into(),
            },
            user: None,
            appointment: Some(AppointmentFacts {
                id: "apt-42".into(),
                doctor_id: "doc-1".into(),
                doctor_name: "Anna Weber".into(),
                patient_id: "pat-1".into(),
                patient_name: "Jörg Müller".into(),
                start: "2026-03-03T08:30:00Z".parse().unwrap(),
                end: "2026-03-03T09:00:00Z".parse().unwrap(),
                previous_start: None,
                time_zone: "Europe/Berlin".into(),
                status: "confirmed".into(),
                sequence,
                video_url: None,
            }),
            changed_by: Some("doctor".into()),
            action_link: None,
            payment: None,
        }
    }

    fn patient() -> Recipient {
        Recipient {
            user_id: "pat-1".into(),
            name: "Jörg Müller".into(),
            email: "joerg@example.org".into(),
            phone: None,
        }
    }

    fn value<'a>(lines: &'a [(String, String)], name: &str) -> &'a str {
        let found = lines
            .iter()
            .find(|(n, _)| n == name || n.starts_with(&format!("{name};")));
        &found.unwrap_or_else(|| panic!("no {name}")).1
    }

    #[test]
    fn confirmation_is_a_request_with_stable_uid_and_sequence() {
        let calendar = for_notice(
            &notice(NoticeKind::AppointmentConfirmed, 3),
            "Clinic <no-reply@clinic.example>",
            &patient(),
        )
        .unwrap();
        assert_eq!(calendar.method, CalendarMethod::Request);
        let lines = parse(&calendar.ics).unwrap();
        assert_eq!(value(&lines, "METHOD"), "REQUEST");
        assert_eq!(value(&lines, "STATUS"), "CONFIRMED");
        assert_eq!(value(&lines, "UID"), "apt-42@clinic.example");
        assert_eq!(value(&lines, "SEQUENCE"), "3");
        assert_eq!(value(&lines, "DTSTAMP"), "20260301T080000Z");
        assert_eq!(value(&lines, "DTSTART"), "20260303T083000Z");
        assert_eq!(value(&lines, "DTEND"), "20260303T090000Z");
        assert_eq!(value(&lines, "SUMMARY"), "Appointment with Dr Anna Weber");
        assert_eq!(value(&lines, "PRODID"), "-//carebook//carebook//EN");
        assert_eq!(value(&lines, "VERSION"), "2.0");
        assert_eq!(value(&lines, "ORGANIZER"), "mailto:no-reply@clinic.example");
        assert_eq!(value(&lines, "ATTENDEE"), "mailto:joerg@example.org");
        assert!(calendar.ics.ends_with("END:VCALENDAR\r\n"));
        assert!(!calendar.ics.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn a_video_visit_is_located_at_its_meeting_link() {
        let mut confirmed = notice(NoticeKind::AppointmentConfirmed, 1);
        let url = "https://meet.jit.si/carebook-0123456789abcdef0123456789abcdef01234567";
        confirmed.appointment.as_mut().unwrap().video_url = Some(url.into());
        let calendar = for_notice(&confirmed, "Clinic <c@clinic.example>", &patient()).unwrap();
        let lines = parse(&calendar.ics).unwrap();
        assert_eq!(value(&lines, "LOCATION"), url);
        assert_eq!(value(&lines, "URL"), url);
        assert!(value(&lines, "DESCRIPTION").contains(url));

        let mut cancelled = confirmed.clone();
        cancelled.kind = NoticeKind::AppointmentCancelled;
        let calendar = for_notice(&cancelled, "Clinic <c@clinic.example>", &patient()).unwrap();
        assert!(!calendar.ics.contains("carebook-0123"), "{}", calendar.ics);
    }

    #[test]
    fn cancellation_keeps_the_uid_and_says_cancel() {
        let confirmed = for_notice(
            &notice(NoticeKind::AppointmentConfirmed, 1),
            "no-reply@clinic.example",
            &patient(),
        )
        .unwrap();
        let cancelled = for_notice(
            &notice(NoticeKind::AppointmentCancelled, 2),
            "no-reply@clinic.example",
            &patient(),
        )
        .unwrap();
        assert_eq!(cancelled.method, CalendarMethod::Cancel);
        let before = parse(&confirmed.ics).unwrap();
        let after = parse(&cancelled.ics).unwrap();
        assert_eq!(value(&after, "METHOD"), "CANCEL");
        assert_eq!(value(&after, "STATUS"), "CANCELLED");
        assert_eq!(value(&before, "UID"), value(&after, "UID"));
        assert_eq!(value(&after, "SEQUENCE"), "2");
    }

    #[test]
    fn other_kinds_carry_no_calendar() {
        for kind in NoticeKind::ALL {
            let calendar = for_notice(&notice(kind, 0), "a@b.example", &patient());
            let expected = matches!(
                kind,
                NoticeKind::AppointmentConfirmed
                    | NoticeKind::AppointmentRescheduled
                    | NoticeKind::AppointmentCancelled
            );
            assert_eq!(calendar.is_some(), expected, "{kind:?}");
        }
    }

    #[test]
    fn the_doctor_sees_the_patient_in_the_summary() {
        let doctor = Recipient {
            user_id: "doc-1".into(),
            name: "Anna Weber".into(),
            email: "anna@clinic.example".into(),
            phone: None,
        };
        let calendar = for_notice(
            &notice(NoticeKind::AppointmentRescheduled, 4),
            "a@b.example",
            &doctor,
        )
        .unwrap();
        let lines = parse(&calendar.ics).unwrap();
        assert_eq!(value(&lines, "SUMMARY"), "Appointment with Jörg Müller");
    }

    #[test]
    fn text_escaping_round_trips() {
        let tricky = "a\\b;c,d\ne: \"quoted\"";
        let ics = {
            let mut out = String::new();
            fold_into(&mut out, &format!("SUMMARY:{}", escape_text(tricky)));
            out
        };
        assert_eq!(ics, "SUMMARY:a\\\\b\\;c\\,d\\ne: \"quoted\"\r\n");
        assert_eq!(
            parse(&ics).unwrap(),
            vec![("SUMMARY".to_owned(), tricky.to_owned())]
        );
    }

    #[test]
    fn long_utf8_lines_fold_at_75_octets_without_splitting_characters() {
        let summary = "Termin bei Dr Ärztin Übermäßig-Größenwahn 🩺 ".repeat(8);
        let mut ics = String::new();
        fold_into(&mut ics, &format!("SUMMARY:{}", escape_text(&summary)));
        let physical: Vec<&str> = ics.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(physical.len() > 4);
        for line in &physical {
            assert!(line.len() <= MAX_LINE_OCTETS, "{} octets", line.len());
        }
        for line in &physical[1..] {
            assert!(line.starts_with(' '));
        }
        assert_eq!(parse(&ics).unwrap(), vec![("SUMMARY".to_owned(), summary)]);
    }

    #[test]
    fn parameters_are_quoted_and_the_value_colon_is_found_after_them() {
        let calendar = for_notice(
            &notice(NoticeKind::AppointmentConfirmed, 1),
            "\"Praxis: Mitte; Berlin\" <no-reply@clinic.example>",
            &patient(),
        )
        .unwrap();
        let lines = parse(&calendar.ics).unwrap();
        let organizer = lines
            .iter()
            .find(|(n, _)| n.starts_with("ORGANIZER"))
            .unwrap();
        assert_eq!(organizer.0, "ORGANIZER;CN=\"Praxis: Mitte; Berlin\"");
        assert_eq!(organizer.1, "mailto:no-reply@clinic.example");
    }

    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(host_of("https://clinic.example"), "clinic.example");
        assert_eq!(
            host_of("http://u:p@clinic.example:8080/x?y"),
            "clinic.example"
        );
        assert_eq!(host_of("http://[::1]:8080"), "::1");
    }
}
