//! Prescriptions: what a valid one holds, when one may be issued, what status it is
//! in, and the shape of its verification code.
//!
//! A prescription is a list of 1 to 20 medication lines and optional notes, issued by
//! an appointment's doctor once the patient is checked in (or after the visit). Its
//! status is derived, never stored: `revoked` once revoked (revoking keeps it), else
//! `completed` once the longest line's duration has elapsed since it was issued, else
//! `active`.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::appointment::AppointmentStatus;
use crate::ids::opaque_id;
use crate::validation::{ValidationErrors, parse_bounded_text as parse_text};

pub const MAX_LINES: usize = 20;
pub const MAX_MEDICATION_NAME_CHARS: usize = 200;
/// Strength, dose, frequency and quantity.
pub const MAX_SHORT_TEXT_CHARS: usize = 100;
pub const MAX_ROUTE_CHARS: usize = 50;
pub const MAX_INSTRUCTIONS_CHARS: usize = 1000;
pub const MAX_NOTES_CHARS: usize = 2000;
pub const MAX_REVOKE_REASON_CHARS: usize = 1000;
pub const MAX_DURATION_DAYS: i64 = 365;

opaque_id!(
    /// `rx_…`
    PrescriptionId
);

/// One medication line as a client sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MedicationLineInput {
    pub name: String,
    pub strength: Option<String>,
    pub dose: String,
    pub route: Option<String>,
    pub frequency: String,
    pub duration_days: i64,
    pub quantity: Option<String>,
    pub instructions: Option<String>,
}

/// One validated medication line: "Amoxicillin 500 mg, 1 capsule by mouth three
/// times a day for 7 days, 21 capsules, after meals".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicationLine {
    pub name: String,
    pub strength: Option<String>,
    pub dose: String,
    pub route: Option<String>,
    pub frequency: String,
    pub duration_days: i64,
    pub quantity: Option<String>,
    pub instructions: Option<String>,
}

/// The content of a prescription, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescriptionContent {
    pub lines: Vec<MedicationLine>,
    pub notes: Option<String>,
}

fn required(
    errors: &mut ValidationErrors,
    field: &str,
    value: &str,
    max_chars: usize,
) -> Option<String> {
    match errors.take(parse_text(field, Some(value), max_chars)) {
        Some(Some(value)) => Some(value),
        Some(None) => {
            errors.add(field, "is required");
            None
        }
        None => None,
    }
}

fn optional(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Option<String> {
    errors.take(parse_text(field, value, max_chars)).flatten()
}

/// Validates the lines and notes of a new prescription; every field at fault is
/// named (`lines[2].dose`).
pub fn parse_prescription(
    lines: &[MedicationLineInput],
    notes: Option<&str>,
) -> Result<PrescriptionContent, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if lines.is_empty() {
        errors.add("lines", "must hold at least one medication line");
    }
    if lines.len() > MAX_LINES {
        errors.add("lines", format!("must hold at most {MAX_LINES} lines"));
        return Err(errors);
    }
    let mut parsed = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let f = |name: &str| format!("lines[{i}].{name}");
        let name = required(
            &mut errors,
            &f("name"),
            &line.name,
            MAX_MEDICATION_NAME_CHARS,
        );
        let strength = optional(
            &mut errors,
            &f("strength"),
            line.strength.as_deref(),
            MAX_SHORT_TEXT_CHARS,
        );
        let dose = required(&mut errors, &f("dose"), &line.dose, MAX_SHORT_TEXT_CHARS);
        let route = optional(
            &mut errors,
            &f("route"),
            line.route.as_deref(),
            MAX_ROUTE_CHARS,
        );
        let frequency = required(
            &mut errors,
            &f("frequency"),
            &line.frequency,
            MAX_SHORT_TEXT_CHARS,
        );
        if !(1..=MAX_DURATION_DAYS).contains(&line.duration_days) {
            errors.add(
                f("duration_days"),
                format!("must be between 1 and {MAX_DURATION_DAYS} days"),
            );
        }
        let quantity = optional(
            &mut errors,
            &f("quantity"),
            line.quantity.as_deref(),
            MAX_SHORT_TEXT_CHARS,
        );
        let instructions = optional(
            &mut errors,
            &f("instructions"),
            line.instructions.as_deref(),
            MAX_INSTRUCTIONS_CHARS,
        );
        if let (Some(name), Some(dose), Some(frequency)) = (name, dose, frequency) {
            parsed.push(MedicationLine {
                name,
                strength,
                dose,
                route,
                frequency,
                duration_days: line.duration_days,
                quantity,
                instructions,
            });
        }
    }
    let notes = optional(&mut errors, "notes", notes, MAX_NOTES_CHARS);
    errors.into_result(|| PrescriptionContent {
        lines: parsed,
        notes,
    })
}

/// A revocation's reason: required, at most 1,000 characters.
pub fn parse_revoke_reason(value: Option<&str>) -> Result<String, ValidationErrors> {
    parse_text("reason", value, MAX_REVOKE_REASON_CHARS)?
        .ok_or_else(|| ValidationErrors::single("reason", "is required"))
}

/// Whether a prescription may be issued for an appointment in this status: the
/// patient is checked in, or the visit is completed.
pub fn may_issue_for(status: AppointmentStatus) -> bool {
    matches!(
        status,
        AppointmentStatus::CheckedIn | AppointmentStatus::Completed
    )
}

/// When a prescription issued at `issued_at` becomes `completed`: once its longest
/// line's duration (in days of 24 hours) has elapsed.
pub fn completes_at(issued_at: Timestamp, lines: &[MedicationLine]) -> Timestamp {
    let days = lines.iter().map(|l| l.duration_days).max().unwrap_or(0);
    issued_at + SignedDuration::from_hours(days.clamp(0, MAX_DURATION_DAYS) * 24)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrescriptionStatus {
    Active,
    Completed,
    Revoked,
}

impl PrescriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PrescriptionStatus::Active => "active",
            PrescriptionStatus::Completed => "completed",
            PrescriptionStatus::Revoked => "revoked",
        }
    }

    /// The status at `now`: revocation wins; otherwise the duration decides.
    pub fn at(revoked: bool, completes_at: Timestamp, now: Timestamp) -> PrescriptionStatus {
        if revoked {
            PrescriptionStatus::Revoked
        } else if now >= completes_at {
            PrescriptionStatus::Completed
        } else {
            PrescriptionStatus::Active
        }
    }
}

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or typed from
/// paper is hard to get wrong.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of a code (5 bits each: 100 random bits).
pub const CODE_CHARS: usize = 20;
/// Random bytes the app draws for a code (104 bits; the first 100 are used).
pub const CODE_RANDOM_BYTES: usize = 13;

/// Formats random bytes as a verification code: 20 Crockford base32 characters in
/// four groups of five, `7K3QX-M2R9T-...`.
pub fn format_verification_code(random: &[u8; CODE_RANDOM_BYTES]) -> String {
    let mut out = String::with_capacity(CODE_CHARS + 3);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    let mut written = 0;
    for &byte in random {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 && written < CODE_CHARS {
            bits -= 5;
            let index = ((buffer >> bits) & 31) as usize;
            if written > 0 && written % 5 == 0 {
                out.push('-');
            }
            out.push(CROCKFORD[index] as char);
            written += 1;
        }
        buffer &= (1 << bits) - 1;
    }
    out
}

/// The canonical form of a code as someone typed it: case, spaces and dashes do not
/// matter, and `O` reads as `0`, `I` and `L` as `1`. `None` when it cannot be a code.
pub fn normalize_verification_code(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let mut out = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> MedicationLineInput {
        MedicationLineInput {
            name: "Amoxicillin".into(),
            strength: Some("500 mg".into()),
            dose: "1 capsule".into(),
            route: Some("oral".into()),
            frequency: "3 times a day".into(),
            duration_days: 7,
            quantity: Some("21 capsules".into()),
            instructions: None,
        }
    }

    fn fields(result: Result<PrescriptionContent, ValidationErrors>) -> Vec<String> {
        result
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_valid_prescription_is_trimmed_and_kept() {
        let mut input = line();
        input.name = "  Amoxicillin ".into();
        input.instructions = Some("   ".into());
        let parsed = parse_prescription(&[input], Some(" take with food ")).unwrap();
        assert_eq!(parsed.lines[0].name, "Amoxicillin");
        assert_eq!(parsed.lines[0].instructions, None);
        assert_eq!(parsed.notes.as_deref(), Some("take with food"));
    }

    #[test]
    fn every_field_at_fault_is_named() {
        assert_eq!(fields(parse_prescription(&[], None)), ["lines"]);
        let too_many = vec![line(); MAX_LINES + 1];
        assert_eq!(fields(parse_prescription(&too_many, None)), ["lines"]);
        assert!(parse_prescription(&vec![line(); MAX_LINES], None).is_ok());
        let mut bad = line();
        bad.name = " ".into();
        bad.dose = "x".repeat(MAX_SHORT_TEXT_CHARS + 1);
        bad.duration_days = 0;
        bad.route = Some("\u{7}".into());
        let mut late = line();
        late.duration_days = MAX_DURATION_DAYS + 1;
        assert_eq!(
            fields(parse_prescription(
                &[line(), bad, late],
                Some(&"n".repeat(MAX_NOTES_CHARS + 1))
            )),
            [
                "lines[1].name",
                "lines[1].dose",
                "lines[1].route",
                "lines[1].duration_days",
                "lines[2].duration_days",
                "notes"
            ]
        );
    }

    #[test]
    fn a_revoke_needs_a_reason() {
        assert!(parse_revoke_reason(None).is_err());
        assert!(parse_revoke_reason(Some("  ")).is_err());
        assert!(parse_revoke_reason(Some(&"r".repeat(1001))).is_err());
        assert_eq!(
            parse_revoke_reason(Some(" wrong dose ")).unwrap(),
            "wrong dose"
        );
    }

    #[test]
    fn only_checked_in_or_completed_visits_get_prescriptions() {
        for status in AppointmentStatus::ALL {
            assert_eq!(
                may_issue_for(status),
                matches!(
                    status,
                    AppointmentStatus::CheckedIn | AppointmentStatus::Completed
                ),
                "{status:?}"
            );
        }
    }

    #[test]
    fn the_status_follows_the_longest_line_and_revocation() {
        let issued: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let mut short = parse_prescription(&[line()], None).unwrap().lines;
        let mut long = short[0].clone();
        long.duration_days = 30;
        short.push(long);
        let ends = completes_at(issued, &short);
        assert_eq!(ends, "2026-04-01T09:00:00Z".parse().unwrap());
        let before = ends - SignedDuration::from_millis(1);
        assert_eq!(
            PrescriptionStatus::at(false, ends, before),
            PrescriptionStatus::Active
        );
        assert_eq!(
            PrescriptionStatus::at(false, ends, ends),
            PrescriptionStatus::Completed
        );
        assert_eq!(
            PrescriptionStatus::at(true, ends, before),
            PrescriptionStatus::Revoked
        );
        assert_eq!(
            PrescriptionStatus::at(true, ends, ends),
            PrescriptionStatus::Revoked
        );
    }

    #[test]
    fn codes_are_grouped_crockford_and_read_back_forgivingly() {
        let code = format_verification_code(&[0u8; CODE_RANDOM_BYTES]);
        assert_eq!(code, "00000-00000-00000-00000");
        let code = format_verification_code(&[0xff; CODE_RANDOM_BYTES]);
        assert_eq!(code, "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ");
        let bytes: [u8; CODE_RANDOM_BYTES] = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0xed, 0xcb, 0xa9, 0x87,
        ];
        let code = format_verification_code(&bytes);
        assert_eq!(code.len(), CODE_CHARS + 3);
        let canonical = code.replace('-', "");
        assert_eq!(normalize_verification_code(&code), Some(canonical.clone()));
        assert_eq!(
            normalize_verification_code(&code.to_lowercase().replace('-', " ")),
            Some(canonical)
        );
        assert_eq!(
            normalize_verification_code("oooooiiiiilllll00000"),
            Some("00000111111111100000".into())
        );
        assert_eq!(normalize_verification_code("UUUUU-00000-00000-00000"), None);
        assert_eq!(normalize_verification_code("00000-00000-00000-0000"), None);
        assert_eq!(
            normalize_verification_code("00000-00000-00000-00000-0"),
            None
        );
        assert_eq!(normalize_verification_code("é0000-00000-00000-0000"), None);
        assert_eq!(normalize_verification_code(&"0".repeat(100)), None);
    }
}
