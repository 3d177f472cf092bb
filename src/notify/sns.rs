//! Amazon SNS: each event published to a topic, with a SigV4-signed request.
//!
//! The Query API (`Action=Publish`, form-encoded) is used rather than an SDK: it is
//! one signed POST, and AWS Signature Version 4 is a few HMACs ([`sign_v4`]).

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::DeliveryError;
use super::http_call::{ERROR_BODY_LIMIT, describe_send_error, hex, read_body_capped};
use crate::config::SnsSettings;

/// The form's content type, signed as sent.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// Every message of a FIFO topic goes to one group, so subscribers see them in
/// the order carebook published them.
pub const FIFO_MESSAGE_GROUP: &str = "carebook";
/// SNS: subjects are under 100 characters.
const SUBJECT_MAX: usize = 99;
/// SNS: deduplication ids are at most 128 characters.
const DEDUP_ID_MAX: usize = 128;

pub struct SnsPublisher {
    client: reqwest::Client,
    url: reqwest::Url,
    host: String,
    topic_arn: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl SnsPublisher {
    /// `None` when SNS is not configured (or its endpoint is not a URL).
    pub fn from_settings(settings: &SnsSettings, client: reqwest::Client) -> Option<SnsPublisher> {
        if !settings.is_configured() {
            return None;
        }
        let url = reqwest::Url::parse(&format!("{}/", settings.endpoint())).ok()?;
        let host = host_header(&url)?;
        Some(SnsPublisher {
            client,
            url,
            host,
            topic_arn: settings.topic_arn.clone()?,
            region: settings.region.clone()?,
            access_key_id: settings.access_key_id.clone()?,
            secret_access_key: settings.secret_access_key.clone()?,
            session_token: settings.session_token.clone(),
        })
    }

    /// FIFO topics (`….fifo`) need a group and a deduplication id.
    pub fn is_fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }

    /// The form fields of one Publish, in the order sent.
    pub fn publish_form(
        &self,
        subject: &str,
        message: &str,
        event_type: &str,
        dedup_id: &str,
    ) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("Action", "Publish".to_owned()),
            ("Version", "2010-03-31".to_owned()),
            ("TopicArn", self.topic_arn.clone()),
            ("Message", message.to_owned()),
        ];
        if let Some(subject) = sns_subject(subject) {
            form.push(("Subject", subject));
        }
        form.extend([
            ("MessageAttributes.entry.1.Name", "event_type".to_owned()),
            (
                "MessageAttributes.entry.1.Value.DataType",
                "String".to_owned(),
            ),
            (
                "MessageAttributes.entry.1.Value.StringValue",
                event_type.to_owned(),
            ),
        ]);
        if self.is_fifo() {
            form.push(("MessageGroupId", FIFO_MESSAGE_GROUP.to_owned()));
            form.push(("MessageDeduplicationId", sns_dedup_id(dedup_id)));
        }
        form
    }

    /// `dedup_id` is stable per delivery: FIFO topics drop a repeat of it.
    pub async fn publish(
        &self,
        subject: &str,
        message: &str,
        event_type: &str,
        dedup_id: &str,
        now: Timestamp,
    ) -> Result<(), DeliveryError> {
        let body = encode_form(&self.publish_form(subject, message, event_type, dedup_id));
        let mut headers = vec![
            ("content-type", FORM_CONTENT_TYPE),
            ("host", self.host.as_str()),
        ];
        if let Some(token) = &self.session_token {
            headers.push(("x-amz-security-token", token.as_str()));
        }
        let signed = sign_v4(
            &SigV4Credentials {
                access_key_id: &self.access_key_id,
                secret_access_key: &self.secret_access_key,
            },
            &self.region,
            "sns",
            &SigV4Request {
                method: "POST",
                path: self.url.path(),
                query: &[],
                headers: &headers,
                body: body.as_bytes(),
            },
            now,
        );
        let mut request = self
            .client
            .post(self.url.clone())
            .header("x-amz-date", &signed.amz_date)
            .header(reqwest::header::AUTHORIZATION, &signed.authorization)
            .body(body);
        // The same host, content type and token the signature covers.
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|error| {
            DeliveryError::retryable(format!("sns: {}", describe_send_error(&error)))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = read_body_capped(response, ERROR_BODY_LIMIT).await;
        let code = error_code(&answer);
        let throttled = code.as_deref().is_some_and(is_throttling);
        let shown = match &code {
            Some(code) => format!("{} {code}", status.as_u16()),
            None => status.as_u16().to_string(),
        };
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS || throttled
        {
            Err(DeliveryError::retryable(format!("sns answered {shown}")))
        } else {
            // Bad credentials, a missing topic, a denied policy: repeating the
            // same request will not change the answer.
            Err(DeliveryError::permanent(match code {
                Some(code) => format!("sns refused the message: {code}"),
                None => format!("sns refused the message: HTTP {}", status.as_u16()),
            }))
        }
    }
}

/// The `Host` header for `url`: the port only when it is not the scheme's default,
/// as HTTP clients send it.
fn host_header(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling" | "ThrottlingException" | "ThrottledException" | "KMSThrottling"
    )
}

/// The `<Code>` of an AWS XML error answer, kept to the characters codes are made
/// of (the answer's `<Message>` may echo the request and is never shown).
fn error_code(answer: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(answer);
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    let code: String = text[start..end]
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
        .take(64)
        .collect();
    (!code.is_empty()).then_some(code)
}

/// A subject SNS accepts: printable ASCII on one line, under 100 characters, not
/// starting with a space. Letters with accents lose them; other characters become
/// `?`. `None` when nothing is left (the subject is optional).
pub fn sns_subject(subject: &str) -> Option<String> {
    let mut out = String::new();
    for c in subject.chars() {
        let c = if c.is_ascii_graphic() {
            c
        } else if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            fold_accent(c).unwrap_or('?')
        };
        // One space between words, none at the start.
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    let out: String = out.chars().take(SUBJECT_MAX).collect();
    let out = out.trim_end();
    (!out.is_empty()).then(|| out.to_owned())
}

/// The base letter of common Latin letters with a diacritic.
fn fold_accent(c: char) -> Option<char> {
    const TABLE: [(&str, char); 14] = [
        ("àáâãäåā", 'a'),
        ("ÀÁÂÃÄÅĀ", 'A'),
        ("çćč", 'c'),
        ("ÇĆČ", 'C'),
        ("èéêëēę", 'e'),
        ("ÈÉÊËĒĘ", 'E'),
        ("ìíîïī", 'i'),
        ("ÌÍÎÏĪ", 'I'),
        ("ñń", 'n'),
        ("ÑŃ", 'N'),
        ("òóôõöøō", 'o'),
        ("ÒÓÔÕÖØŌ", 'O'),
        ("ùúûüū", 'u'),
        ("ÙÚÛÜŪ", 'U'),
    ];
    TABLE
        .iter()
        .find(|(letters, _)| letters.contains(c))
        .map(|&(_, base)| base)
}

/// A deduplication id SNS accepts (1 to 128 printable ASCII characters): `id`
/// itself when it is one, else the hex SHA-256 of it, which stays just as stable.
pub fn sns_dedup_id(id: &str) -> String {
    if !id.is_empty() && id.len() <= DEDUP_ID_MAX && id.chars().all(|c| c.is_ascii_graphic()) {
        id.to_owned()
    } else {
        hex(&Sha256::digest(id.as_bytes()))
    }
}

/// `key=value&…` with [`uri_encode`], the form encoding AWS documents.
pub fn encode_form(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", uri_encode(key), uri_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS's URI encoding: RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) as
/// they are, every other byte of the UTF-8 as `%XX` with uppercase hex.
pub fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The key SigV4 signs with.
pub struct SigV4Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

/// The parts of a request SigV4 covers.
pub struct SigV4Request<'a> {
    pub method: &'a str,
    /// The path as sent (already percent-encoded once), e.g. `/`.
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers to sign, names in any case; `host` must be among them. An
    /// `x-amz-date` among them is ignored: the one of `now` is signed instead.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// A SigV4 signature and the headers that carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4 {
    /// The `x-amz-date` header to send, e.g. `20150830T123600Z`.
    pub amz_date: String,
    /// `yyyymmdd/region/service/aws4_request`.
    pub credential_scope: String,
    /// Lowercase names joined by `;`, e.g. `host;x-amz-date`.
    pub signed_headers: String,
    /// Lowercase hex.
    pub signature: String,
    /// The whole `Authorization` header value.
    pub authorization: String,
}

/// Signs `request` with AWS Signature Version 4 at time `now` (the request must
/// also send [`SigV4::amz_date`] as `x-amz-date`). The payload hash is of the body;
/// the canonical URI encodes each segment of the already-encoded path once more,
/// as every service but S3 expects.
pub fn sign_v4(
    credentials: &SigV4Credentials<'_>,
    region: &str,
    service: &str,
    request: &SigV4Request<'_>,
    now: Timestamp,
) -> SigV4 {
    let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let credential_scope = format!("{date}/{region}/{service}/aws4_request");

    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), canonical_header_value(value)))
        .filter(|(name, _)| name != "x-amz-date")
        .collect();
    headers.push(("x-amz-date".to_owned(), amz_date.clone()));
    // Stable: repeated headers keep their order when their values are joined.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    let mut names: Vec<&str> = Vec::new();
    for (name, value) in &headers {
        if names.last() == Some(&name.as_str()) {
            canonical_headers.pop();
            let _ = writeln!(canonical_headers, ",{value}");
        } else {
            let _ = writeln!(canonical_headers, "{name}:{value}");
            names.push(name);
        }
    }
    let signed_headers = names.join(";");

    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(key, value)| (uri_encode(key), uri_encode(value)))
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&");

    let canonical_request = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        canonical_uri(request.path),
        hex(&Sha256::digest(request.body)),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{credential_scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );

    let secret = format!("AWS4{}", credentials.secret_access_key);
    let key = hmac_sha256(secret.as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, region.as_bytes());
    let key = hmac_sha256(&key, service.as_bytes());
    let key = hmac_sha256(&key, b"aws4_request");
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));

    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    SigV4 {
        amz_date,
        credential_scope,
        signed_headers,
        signature,
        authorization,
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Trimmed, with runs of spaces as one (SigV4's header canonicalization).
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SigV4Credentials<'static> = SigV4Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    };

    fn example_time() -> Timestamp {
        "2015-08-30T12:36:00Z".parse().unwrap()
    }

    /// AWS's documented example: IAM `ListUsers` (signature
    /// 5d672d79…, canonical request hash f536975d…).
    #[test]
    fn aws_documented_iam_list_users_example() {
        let signed = sign_v4(
            &KEY,
            "us-east-1",
            "iam",
            &SigV4Request {
                method: "GET",
                path: "/",
                query: &[("Version", "2010-05-08"), ("Action", "ListUsers")],
                headers: &[
                    ("Host", "iam.amazonaws.com"),
                    (
                        "Content-Type",
                        "application/x-www-form-urlencoded; charset=utf-8",
                    ),
                ],
                body: b"",
            },
            example_time(),
        );
        assert_eq!(signed.amz_date, "20150830T123600Z");
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// aws-sig-v4-test-suite `get-vanilla`.
    #[test]
    fn test_suite_get_vanilla() {
        let signed = sign_v4(
            &KEY,
            "us-east-1",
            "service",
            &SigV4Request {
                method: "GET",
                path: "/",
                query: &[],
                headers: &[
                    ("Host", "example.amazonaws.com"),
                    ("X-Amz-Date", "20150830T123600Z"),
                ],
                body: b"",
            },
            example_time(),
        );
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// aws-sig-v4-test-suite `post-x-www-form-urlencoded`: the body is hashed.
    #[test]
    fn test_suite_post_x_www_form_urlencoded() {
        let signed = sign_v4(
            &KEY,
            "us-east-1",
            "service",
            &SigV4Request {
                method: "POST",
                path: "/",
                query: &[],
                headers: &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Host", "example.amazonaws.com"),
                ],
                body: b"Param1=value1",
            },
            example_time(),
        );
        assert_eq!(signed.signed_headers, "content-type;host;x-amz-date");
        assert_eq!(
            signed.signature,
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn uri_encoding_keeps_only_unreserved() {
        assert_eq!(uri_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(uri_encode("a b+c/d=é*"), "a%20b%2Bc%2Fd%3D%C3%A9%2A");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a%20b/c"), "/a%2520b/c");
    }

    #[test]
    fn subjects_are_made_acceptable() {
        assert_eq!(
            sns_subject("Appointment confirmed").as_deref(),
            Some("Appointment confirmed")
        );
        assert_eq!(
            sns_subject("  Clínica Müller:\nneuer Termin\t ✓ ").as_deref(),
            Some("Clinica Muller: neuer Termin ?")
        );
        assert_eq!(sns_subject(" \n "), None);
        let long = sns_subject(&"x".repeat(300)).unwrap();
        assert_eq!(long.len(), 99);
    }

    #[test]
    fn dedup_ids_fit() {
        assert_eq!(sns_dedup_id("evt_1:sns"), "evt_1:sns");
        let long = "x".repeat(129);
        let hashed = sns_dedup_id(&long);
        assert_eq!(hashed.len(), 64);
        assert_eq!(hashed, sns_dedup_id(&long));
        assert_eq!(sns_dedup_id("with space").len(), 64);
        assert_eq!(sns_dedup_id(&"y".repeat(128)), "y".repeat(128));
    }

    #[test]
    fn error_codes_are_read_from_xml() {
        let answer = b"<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
            <Error><Type>Sender</Type><Code>AuthorizationError</Code>\
            <Message>User: arn:aws:iam::1:user/x is not authorized</Message></Error>\
            <RequestId>abc</RequestId></ErrorResponse>";
        assert_eq!(error_code(answer).as_deref(), Some("AuthorizationError"));
        assert_eq!(
            error_code(b"<Code><script></Code>").as_deref(),
            Some("script")
        );
        assert_eq!(error_code(b"oops"), None);
        assert!(is_throttling("Throttling"));
        assert!(!is_throttling("NotFound"));
    }
}
