//! Validated values and the per-field error list that every refusal carries.

use serde::Serialize;

/// One field at fault: `field` is a JSON pointer-ish path such as `weekly_hours[2].end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid input: {}", .errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Records the error of `result` under its own field names and returns the value.
    pub fn take<T>(&mut self, result: Result<T, ValidationErrors>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(other) => {
                self.errors.extend(other.errors);
                None
            }
        }
    }

    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_REASON_CHARS: usize = 1000;
pub const MAX_TEXT_CHARS: usize = 4000;

fn char_count(value: &str) -> usize {
    value.chars().count()
}

/// A case-insensitive email address, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, value: &str) -> Result<Email, ValidationErrors> {
        let value = value.trim().to_lowercase();
        let fail = |message: &str| Err(ValidationErrors::single(field, message));
        if value.is_empty() {
            return fail("is required");
        }
        if char_count(&value) > MAX_EMAIL_CHARS {
            return fail("is longer than 254 characters");
        }
        let Some((local, domain)) = value.split_once('@') else {
            return fail("is not an email address");
        };
        let plausible = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plausible {
            return fail("is not an email address");
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the clinic's rules. It never appears in `Debug` output.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn parse(
        field: &str,
        value: &str,
        email: Option<&Email>,
    ) -> Result<Password, ValidationErrors> {
        let fail = |message: &str| Err(ValidationErrors::single(field, message));
        let chars = char_count(value);
        if chars < MIN_PASSWORD_CHARS {
            return fail("must be at least 10 characters long");
        }
        if chars > MAX_PASSWORD_CHARS {
            return fail("must be at most 256 characters long");
        }
        if email.is_some_and(|email| value.trim().to_lowercase() == email.as_str()) {
            return fail("must not be the email address");
        }
        Ok(Password(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A person's display name: trimmed, not empty, bounded, no control characters.
pub fn parse_name(field: &str, value: &str) -> Result<String, ValidationErrors> {
    let value = value.trim();
    let fail = |message: &str| Err(ValidationErrors::single(field, message));
    if value.is_empty() {
        return fail("is required");
    }
    if char_count(value) > MAX_NAME_CHARS {
        return fail("is longer than 200 characters");
    }
    if value.chars().any(char::is_control) {
        return fail("must not contain control characters");
    }
    Ok(value.to_owned())
}

/// Optional free text (a reason, a bio): trimmed, empty becomes `None`, bounded.
pub fn parse_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, ValidationErrors> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if char_count(value) > max_chars {
        return Err(ValidationErrors::single(
            field,
            format!("is longer than {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ValidationErrors::single(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// As [`parse_text`], but the bound holds for the text as sent, before trimming, so
/// that what an API schema calls too long (`maxLength`) is always refused.
pub fn parse_bounded_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, ValidationErrors> {
    if value.is_some_and(|v| char_count(v) > max_chars) {
        return Err(ValidationErrors::single(
            field,
            format!("is longer than {max_chars} characters"),
        ));
    }
    parse_text(field, value, max_chars)
}

/// The longest chat message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// The longest client-supplied message id (it makes resending idempotent).
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// A chat message's text: not blank, at most [`MAX_MESSAGE_CHARS`], no control
/// characters but line breaks and tabs. Kept as written (only trailing and leading
/// whitespace is dropped).
pub fn parse_message_text(field: &str, value: &str) -> Result<String, ValidationErrors> {
    match parse_text(field, Some(value), MAX_MESSAGE_CHARS)? {
        Some(text) => Ok(text),
        None => Err(ValidationErrors::single(field, "is required")),
    }
}

/// A client-supplied message id: 1 to [`MAX_CLIENT_ID_CHARS`] characters of
/// `A-Z a-z 0-9 - _ . :` (a UUID fits).
pub fn parse_client_id(field: &str, value: &str) -> Result<String, ValidationErrors> {
    let fail = |message: &str| Err(ValidationErrors::single(field, message));
    if value.is_empty() {
        return fail("is required");
    }
    if value.len() > MAX_CLIENT_ID_CHARS {
        return fail("is longer than 64 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return fail("may contain only letters, digits and - _ . :");
    }
    Ok(value.to_owned())
}

/// A phone number in E.164 form (`+` then 8 to 15 digits); spaces, dashes, dots and
/// parentheses are accepted on input and dropped.
pub fn parse_phone(field: &str, value: &str) -> Result<String, ValidationErrors> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    let valid = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(compact)
    } else {
        Err(ValidationErrors::single(
            field,
            "must be an international number such as +4915112345678",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse("email", " Ana@Clinic.Example ")
                .unwrap()
                .as_str(),
            "ana@clinic.example"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@clinic.example",
            "ana@clinic",
            "a b@c.de",
            "a@b@c.de",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_need_ten_chars_and_differ_from_the_email() {
        let email = Email::parse("email", "ana.lopez@x.io").unwrap();
        assert!(Password::parse("password", "short", Some(&email)).is_err());
        assert!(Password::parse("password", "ANA.LOPEZ@x.io", Some(&email)).is_err());
        assert!(Password::parse("password", "correct horse", Some(&email)).is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("p", "correct horse", None).unwrap()),
            "Password(..)"
        );
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(
            parse_phone("phone", "+49 151 1234-5678").unwrap(),
            "+4915112345678"
        );
        for bad in ["015112345678", "+12", "+49abc12345678", "+0123456789"] {
            assert!(parse_phone("phone", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(parse_text("reason", Some("  "), 10).unwrap(), None);
        assert_eq!(
            parse_text("reason", Some(" cough "), 10)
                .unwrap()
                .as_deref(),
            Some("cough")
        );
        assert!(parse_text("reason", Some("x".repeat(11).as_str()), 10).is_err());
        assert!(parse_name("name", "").is_err());
        assert!(parse_name("name", "a\u{0}b").is_err());
    }

    #[test]
    fn messages_are_not_blank_and_bounded() {
        assert_eq!(
            parse_message_text("text", " hi\nthere ").unwrap(),
            "hi\nthere"
        );
        assert!(parse_message_text("text", "   ").is_err());
        assert!(parse_message_text("text", "").is_err());
        assert!(parse_message_text("text", &"é".repeat(4000)).is_ok());
        assert!(parse_message_text("text", &"é".repeat(4001)).is_err());
        assert!(parse_message_text("text", "a\u{7}b").is_err());
        assert_eq!(parse_client_id("client_id", "a1-B_.:").unwrap(), "a1-B_.:");
        assert!(parse_client_id("client_id", "").is_err());
        assert!(parse_client_id("client_id", &"x".repeat(65)).is_err());
        assert!(parse_client_id("client_id", &"x".repeat(64)).is_ok());
        assert!(parse_client_id("client_id", "a b").is_err());
        assert!(parse_client_id("client_id", "ü").is_err());
    }
}
