//! The value parsers of `validation.rs` (emails, passwords, names, free text,
//! phones): never a panic; what they accept is within bounds, free of control
//! characters, and a fixed point (parsing the result again gives the same result).
#![no_main]

use carebook_domain::validation::{
    Email, MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_PASSWORD_CHARS, MAX_REASON_CHARS,
    MIN_PASSWORD_CHARS, Password, parse_name, parse_phone, parse_text,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let chars = |s: &str| s.chars().count();

    let email = Email::parse("email", text);
    if let Ok(email) = &email {
        let value = email.as_str();
        assert!(chars(value) <= MAX_EMAIL_CHARS, "{value:?}");
        assert!(value.contains('@'));
        assert!(!value.chars().any(|c| c.is_whitespace() || c.is_control()));
        assert_eq!(
            Email::parse("email", value).as_ref(),
            Ok(email),
            "an accepted email is a fixed point: {text:?}"
        );
    }

    match Password::parse("password", text, email.as_ref().ok()) {
        Ok(password) => {
            assert_eq!(password.expose(), text);
            assert!((MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars(text)));
        }
        Err(errors) => assert_eq!(errors.errors[0].field, "password"),
    }

    if let Ok(name) = parse_name("name", text) {
        assert!(!name.is_empty() && chars(&name) <= MAX_NAME_CHARS);
        assert!(!name.chars().any(char::is_control));
        assert_eq!(name.trim(), name);
        assert_eq!(parse_name("name", &name).as_deref(), Ok(name.as_str()));
    }

    if let Ok(Some(reason)) = parse_text("reason", Some(text), MAX_REASON_CHARS) {
        assert!(!reason.is_empty() && chars(&reason) <= MAX_REASON_CHARS);
        assert!(
            !reason
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        );
        assert_eq!(
            parse_text("reason", Some(&reason), MAX_REASON_CHARS),
            Ok(Some(reason.clone()))
        );
    }

    if let Ok(phone) = parse_phone("phone", text) {
        let digits = phone.strip_prefix('+').expect("starts with +");
        assert!((8..=15).contains(&digits.len()), "{phone:?}");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(parse_phone("phone", &phone).as_deref(), Ok(phone.as_str()));
    }
});
