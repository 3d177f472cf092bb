//! Time-based one-time passwords (RFC 6238): HMAC-SHA-1, six digits, 30-second
//! steps, one step of tolerance either way. Secrets are 20 random bytes, written in
//! base32 (RFC 4648, no padding) for authenticator apps. Pure functions: whether a
//! code was used before is the store's (`advance_totp_step`).

use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Codes of this many steps before or after now are accepted (clock drift).
pub const TOLERANCE_STEPS: i64 = 1;
pub const SECRET_BYTES: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Reads base32 as people type it: any case, spaces and padding ignored. `None` for
/// any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars() {
        if c == ' ' || c == '=' || c == '-' {
            continue;
        }
        let upper = c.to_ascii_uppercase() as u8;
        let value = BASE32.iter().position(|&b| b == upper)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// A fresh secret, base32.
pub fn new_secret() -> String {
    base32_encode(&super::random_bytes::<SECRET_BYTES>())
}

/// The time step of an instant: whole 30-second periods since the Unix epoch.
pub fn step_of(at: Timestamp) -> i64 {
    at.as_second().div_euclid(STEP_SECONDS)
}

/// HOTP (RFC 4226) of `counter` with `digits` digits, HMAC-SHA-1.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let binary = (u32::from(hash[offset]) & 0x7f) << 24
        | u32::from(hash[offset + 1]) << 16
        | u32::from(hash[offset + 2]) << 8
        | u32::from(hash[offset + 3]);
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The six-digit code of a base32 secret at `step`.
pub fn code_at_step(secret: &str, step: i64) -> Option<String> {
    let key = base32_decode(secret)?;
    Some(hotp(&key, u64::try_from(step).ok()?, DIGITS))
}

/// The six-digit code of a base32 secret at an instant.
pub fn code_at(secret: &str, at: Timestamp) -> Option<String> {
    code_at_step(secret, step_of(at))
}

/// The step whose code `code` is, within the tolerance around `now`; `None` when it
/// matches none (or is not six digits). Compares without an early exit.
pub fn matching_step(secret: &str, code: &str, now: Timestamp) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now_step = step_of(now);
    let mut found = None;
    for step in (now_step - TOLERANCE_STEPS)..=(now_step + TOLERANCE_STEPS) {
        if let Some(expected) = code_at_step(secret, step)
            && constant_time_eq(expected.as_bytes(), code.as_bytes())
            && found.is_none()
        {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `otpauth://` URI authenticator apps read (from a QR code or typed in).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &str) -> String {
    let issuer_enc = uri_component(issuer);
    format!(
        "otpauth://totp/{issuer_enc}:{}?secret={secret}&issuer={issuer_enc}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        uri_component(account)
    )
}

fn uri_component(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 key is the ASCII "12345678901234567890" and
    /// the codes have eight digits.
    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let key = b"12345678901234567890";
        for (time, expected) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let at = Timestamp::from_second(time).unwrap();
            let step = u64::try_from(step_of(at)).unwrap();
            assert_eq!(hotp(key, step, 8), expected, "T = {time}");
        }
        // The same key through base32, six digits: the last six of the vectors.
        let secret = base32_encode(key);
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let at = Timestamp::from_second(59).unwrap();
        assert_eq!(code_at(&secret, at).unwrap(), "287082");
        let at = Timestamp::from_second(1_111_111_109).unwrap();
        assert_eq!(code_at(&secret, at).unwrap(), "081804");
    }

    /// RFC 4226 appendix D: HOTP values of the same key, counters 0 to 9.
    #[test]
    fn rfc_4226_hotp_test_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn base32_round_trips_and_reads_what_people_type() {
        for len in 0..=21 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base32_encode(&bytes);
            assert_eq!(base32_decode(&text).unwrap(), bytes);
            assert_eq!(base32_decode(&text.to_lowercase()).unwrap(), bytes);
        }
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW 6YTB OI======").unwrap(), b"foobar");
        assert!(base32_decode("MZXW1").is_none(), "1 is not base32");
        assert_eq!(new_secret().len(), 32, "20 bytes are 32 characters");
    }

    #[test]
    fn one_step_either_way_is_accepted_and_no_further() {
        let secret = new_secret();
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let step = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at_step(&secret, step + offset).unwrap();
            let found = matching_step(&secret, &code, now);
            if accepted {
                // A code may by chance also be another step's; the step found is one
                // whose code it is.
                assert!(found.is_some(), "offset {offset}");
            } else if let Some(found) = found {
                assert_ne!(found, step + offset, "offset {offset} is out of tolerance");
            }
        }
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "12345a", now), None);
        assert_eq!(matching_step(&secret, "", now), None);
    }

    #[test]
    fn the_uri_names_the_clinic_the_account_and_the_parameters() {
        let uri = otpauth_uri("Sunny Clinic", "ada@example.com", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/Sunny%20Clinic:ada%40example.com?secret=ABC&issuer=Sunny%20Clinic&algorithm=SHA1&digits=6&period=30"
        );
    }
}
