//! Clinical content: what a visit record and a health summary may hold, and what
//! valid values are (vitals ranges, the shape of an ICD-10 code, bounded text).
//!
//! Who may read or write them is the policy's ([`crate::policy`]); this module only
//! validates values.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::validation::{ValidationErrors, parse_text};

/// Free-text clinical fields (symptoms, diagnosis, notes, advice).
pub const MAX_CLINICAL_TEXT_CHARS: usize = 4000;
/// One entry of a health summary list (an allergy, a condition, a medication).
pub const MAX_SUMMARY_ITEM_CHARS: usize = 200;
/// Entries per health summary list.
pub const MAX_SUMMARY_ITEMS: usize = 50;
/// Why an amendment was made, why a break-glass read was needed.
pub const MAX_CLINICAL_REASON_CHARS: usize = 500;

/// A vital sign's accepted range, inclusive, in its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalRange {
    pub field: &'static str,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
}

/// The accepted ranges: outside them a value is refused (422), not stored.
pub const VITAL_RANGES: [VitalRange; 6] = [
    VitalRange {
        field: "systolic_mmhg",
        min: 50.0,
        max: 260.0,
        unit: "mmHg",
    },
    VitalRange {
        field: "diastolic_mmhg",
        min: 30.0,
        max: 160.0,
        unit: "mmHg",
    },
    VitalRange {
        field: "pulse_per_min",
        min: 20.0,
        max: 250.0,
        unit: "/min",
    },
    VitalRange {
        field: "temperature_c",
        min: 30.0,
        max: 45.0,
        unit: "°C",
    },
    VitalRange {
        field: "weight_kg",
        min: 0.2,
        max: 400.0,
        unit: "kg",
    },
    VitalRange {
        field: "height_cm",
        min: 20.0,
        max: 250.0,
        unit: "cm",
    },
];

/// Vital signs measured at the visit; every one optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vitals {
    pub systolic_mmhg: Option<i64>,
    pub diastolic_mmhg: Option<i64>,
    pub pulse_per_min: Option<i64>,
    pub temperature_c: Option<f64>,
    pub weight_kg: Option<f64>,
    pub height_cm: Option<f64>,
}

impl Vitals {
    fn values(&self) -> [Option<f64>; 6] {
        [
            self.systolic_mmhg.map(|v| v as f64),
            self.diastolic_mmhg.map(|v| v as f64),
            self.pulse_per_min.map(|v| v as f64),
            self.temperature_c,
            self.weight_kg,
            self.height_cm,
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.values().iter().all(Option::is_none)
    }

    /// Each present value inside its range; systolic above diastolic when both are given.
    pub fn validate(&self, errors: &mut ValidationErrors) {
        for (range, value) in VITAL_RANGES.iter().zip(self.values()) {
            let Some(value) = value else { continue };
            if !value.is_finite() || value < range.min || value > range.max {
                errors.add(
                    format!("vitals.{}", range.field),
                    format!(
                        "must be between {} and {} {}",
                        range.min, range.max, range.unit
                    ),
                );
            }
        }
        if let (Some(sys), Some(dia)) = (self.systolic_mmhg, self.diastolic_mmhg)
            && sys <= dia
        {
            errors.add(
                "vitals.systolic_mmhg",
                "must be above the diastolic pressure",
            );
        }
    }
}

/// One version of a visit record's clinical content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordContent {
    pub symptoms: Option<String>,
    /// Free text.
    pub diagnosis: Option<String>,
    /// An ICD-10 code, upper case (`J06.9`).
    pub icd10_code: Option<String>,
    pub notes: Option<String>,
    #[serde(default)]
    pub vitals: Vitals,
    pub follow_up_advice: Option<String>,
    pub follow_up_date: Option<Date>,
}

impl RecordContent {
    /// Trims and bounds the texts, normalises the ICD-10 code, checks the vitals.
    /// A record must say something: at least one field must be present.
    pub fn validate(self) -> Result<RecordContent, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut text = |field: &str, value: Option<String>| {
            errors
                .take(parse_text(field, value.as_deref(), MAX_CLINICAL_TEXT_CHARS))
                .flatten()
        };
        let symptoms = text("symptoms", self.symptoms);
        let diagnosis = text("diagnosis", self.diagnosis);
        let notes = text("notes", self.notes);
        let follow_up_advice = text("follow_up_advice", self.follow_up_advice);
        let icd10_code = match self.icd10_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) => errors.take(parse_icd10("icd10_code", code)),
        };
        self.vitals.validate(&mut errors);
        let content = RecordContent {
            symptoms,
            diagnosis,
            icd10_code,
            notes,
            vitals: self.vitals,
            follow_up_advice,
            follow_up_date: self.follow_up_date,
        };
        if errors.is_empty() && content.is_empty() {
            errors.add("diagnosis", "a record needs at least one field");
        }
        errors.into_result(|| content)
    }

    pub fn is_empty(&self) -> bool {
        self.symptoms.is_none()
            && self.diagnosis.is_none()
            && self.icd10_code.is_none()
            && self.notes.is_none()
            && self.vitals.is_empty()
            && self.follow_up_advice.is_none()
            && self.follow_up_date.is_none()
    }
}

/// The shape of an ICD-10 code: a letter, two digits (`A00`–`Z99`), and optionally
/// a dot and one to four more letters or digits (`J06.9`, `S52.52XA`). Case is
/// normalised to upper. Whether the code exists in a given edition is not checked.
pub fn parse_icd10(field: &str, value: &str) -> Result<String, ValidationErrors> {
    let code = value.trim().to_ascii_uppercase();
    let bytes = code.as_bytes();
    let head_ok = bytes.len() >= 3
        && bytes[0].is_ascii_uppercase()
        && bytes[1].is_ascii_digit()
        && bytes[2].is_ascii_digit();
    let tail_ok = match &bytes[3.min(bytes.len())..] {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=4).contains(&rest.len()) && rest.iter().all(|b| b.is_ascii_alphanumeric())
        }
        _ => false,
    };
    if head_ok && tail_ok {
        Ok(code)
    } else {
        Err(ValidationErrors::single(
            field,
            "must be an ICD-10 code: a letter, two digits, and optionally a dot and 1 to 4 letters or digits (e.g. J06.9)",
        ))
    }
}

/// ABO and Rh(D) blood groups.
pub const BLOOD_GROUPS: [&str; 8] = ["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"];

/// A patient's health summary, as stated or confirmed at one point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthSummary {
    #[serde(default)]
    pub allergies: Vec<String>,
    #[serde(default)]
    pub chronic_conditions: Vec<String>,
    #[serde(default)]
    pub current_medications: Vec<String>,
    /// One of [`BLOOD_GROUPS`].
    pub blood_group: Option<String>,
}

impl HealthSummary {
    /// Trims entries, drops empty ones, bounds lists and entries, checks the blood group.
    pub fn validate(self) -> Result<HealthSummary, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut list = |field: &str, items: Vec<String>| {
            if items.len() > MAX_SUMMARY_ITEMS {
                errors.add(field, format!("has more than {MAX_SUMMARY_ITEMS} entries"));
                return Vec::new();
            }
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    errors
                        .take(parse_text(
                            &format!("{field}[{i}]"),
                            Some(item),
                            MAX_SUMMARY_ITEM_CHARS,
                        ))
                        .flatten()
                })
                .collect()
        };
        let allergies = list("allergies", self.allergies);
        let chronic_conditions = list("chronic_conditions", self.chronic_conditions);
        let current_medications = list("current_medications", self.current_medications);
        let blood_group = match self.blood_group.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(group) => {
                let upper = group.to_ascii_uppercase();
                if BLOOD_GROUPS.contains(&upper.as_str()) {
                    Some(upper)
                } else {
                    errors.add(
                        "blood_group",
                        "must be one of A+, A-, B+, B-, AB+, AB-, O+, O-",
                    );
                    None
                }
            }
        };
        errors.into_result(|| HealthSummary {
            allergies,
            chronic_conditions,
            current_medications,
            blood_group,
        })
    }
}

/// A reason that must be given (an amendment's, a break-glass read's): trimmed, not
/// empty, bounded.
pub fn parse_required_reason(field: &str, value: &str) -> Result<String, ValidationErrors> {
    parse_text(field, Some(value), MAX_CLINICAL_REASON_CHARS)?
        .ok_or_else(|| ValidationErrors::single(field, "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<RecordContent, ValidationErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.errors.into_iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn vitals_at_the_bounds_pass_and_beyond_them_fail() {
        let at = |vitals: Vitals| {
            fields(
                RecordContent {
                    vitals,
                    ..RecordContent::default()
                }
                .validate(),
            )
        };
        let low = Vitals {
            systolic_mmhg: Some(50),
            diastolic_mmhg: Some(30),
            pulse_per_min: Some(20),
            temperature_c: Some(30.0),
            weight_kg: Some(0.2),
            height_cm: Some(20.0),
        };
        let high = Vitals {
            systolic_mmhg: Some(260),
            diastolic_mmhg: Some(160),
            pulse_per_min: Some(250),
            temperature_c: Some(45.0),
            weight_kg: Some(400.0),
            height_cm: Some(250.0),
        };
        assert!(at(low).is_empty());
        assert!(at(high).is_empty());
        let below = Vitals {
            systolic_mmhg: Some(49),
            diastolic_mmhg: Some(29),
            pulse_per_min: Some(19),
            temperature_c: Some(29.9),
            weight_kg: Some(0.19),
            height_cm: Some(19.9),
        };
        let above = Vitals {
            systolic_mmhg: Some(261),
            diastolic_mmhg: Some(161),
            pulse_per_min: Some(251),
            temperature_c: Some(45.1),
            weight_kg: Some(400.5),
            height_cm: Some(250.1),
        };
        let all: Vec<String> = VITAL_RANGES
            .iter()
            .map(|r| format!("vitals.{}", r.field))
            .collect();
        assert_eq!(at(below), all);
        assert_eq!(at(above), all);
        let nan = Vitals {
            temperature_c: Some(f64::NAN),
            ..Vitals::default()
        };
        assert_eq!(at(nan), ["vitals.temperature_c"]);
        let inverted = Vitals {
            systolic_mmhg: Some(80),
            diastolic_mmhg: Some(90),
            ..Vitals::default()
        };
        assert_eq!(at(inverted), ["vitals.systolic_mmhg"]);
    }

    #[test]
    fn icd10_codes_have_their_shape() {
        for ok in ["A00", "Z99", "j06.9", "S52.52XA", "E11.65", " I10 "] {
            assert!(parse_icd10("c", ok).is_ok(), "{ok}");
        }
        assert_eq!(parse_icd10("c", "j06.9").unwrap(), "J06.9");
        for bad in [
            "",
            "A0",
            "AA0",
            "100",
            "A00.",
            "A00.12345",
            "A00-1",
            "A000",
            "Ä00",
            "A0 0",
        ] {
            assert!(parse_icd10("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_record_says_something_and_texts_are_bounded() {
        assert_eq!(fields(RecordContent::default().validate()), ["diagnosis"]);
        let long = RecordContent {
            notes: Some("x".repeat(MAX_CLINICAL_TEXT_CHARS + 1)),
            ..RecordContent::default()
        };
        assert_eq!(fields(long.validate()), ["notes"]);
        let trimmed = RecordContent {
            diagnosis: Some("  Common cold ".into()),
            symptoms: Some("   ".into()),
            ..RecordContent::default()
        }
        .validate()
        .unwrap();
        assert_eq!(trimmed.diagnosis.as_deref(), Some("Common cold"));
        assert_eq!(trimmed.symptoms, None);
    }

    #[test]
    fn health_summaries_are_bounded_and_blood_groups_known() {
        let summary = HealthSummary {
            allergies: vec![" penicillin ".into(), "".into()],
            blood_group: Some("ab-".into()),
            ..HealthSummary::default()
        }
        .validate()
        .unwrap();
        assert_eq!(summary.allergies, ["penicillin"]);
        assert_eq!(summary.blood_group.as_deref(), Some("AB-"));
        let bad = HealthSummary {
            blood_group: Some("C+".into()),
            current_medications: vec!["x".repeat(MAX_SUMMARY_ITEM_CHARS + 1)],
            chronic_conditions: vec!["a".into(); MAX_SUMMARY_ITEMS + 1],
            ..HealthSummary::default()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = bad.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "chronic_conditions",
                "current_medications[0]",
                "blood_group"
            ]
        );
    }

    #[test]
    fn reasons_are_required_and_bounded() {
        assert!(parse_required_reason("reason", "  ").is_err());
        assert!(parse_required_reason("reason", &"x".repeat(501)).is_err());
        assert_eq!(parse_required_reason("reason", " typo ").unwrap(), "typo");
    }
}
