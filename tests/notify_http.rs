//! The HTTP channels against a recording peer: the exact requests Twilio,
//! webhook receivers and SNS get, and how their answers are judged.

use std::time::Duration;

use base64::Engine as _;
use carebook::config::{SnsSettings, TwilioSettings, WebhookSettings};
use carebook::notify::http_client;
use carebook::notify::sms::TwilioSender;
use carebook::notify::sns::{SigV4Credentials, SigV4Request, SnsPublisher, sign_v4};
use carebook::notify::webhook::{VerifyError, WebhookSender, verify};
use carebook::testing::http_peer::{HttpPeer, RecordedRequest};
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(5);

fn now() -> Timestamp {
    "2026-03-01T09:00:00Z".parse().unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A loopback URL nothing listens on.
async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

// ---- Twilio ---------------------------------------------------------------

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-secret";

fn twilio(base_url: String, from: &str) -> TwilioSender {
    let settings = TwilioSettings {
        account_sid: Some(SID.into()),
        auth_token: Some(TOKEN.into()),
        from: Some(from.into()),
        base_url,
    };
    TwilioSender::from_settings(&settings, http_client()).expect("configured")
}

fn assert_no_secrets(message: &str) {
    for secret in [
        TOKEN,
        "+15005550009",
        "Your appointment",
        SNS_SECRET,
        SNS_TOKEN,
    ] {
        assert!(!message.contains(secret), "{message:?} shows {secret:?}");
    }
}

#[tokio::test]
async fn twilio_posts_the_message_form_with_basic_auth() {
    let peer = HttpPeer::start().await;
    peer.respond_with(201, r#"{"sid": "SM1", "status": "queued"}"#);
    // A trailing slash on the base URL must not double the slash.
    let sender = twilio(format!("{}/", peer.url()), "+15005550006");

    sender
        .send("+15005550009", "Your appointment is confirmed", now())
        .await
        .expect("201 is a success");

    let requests = peer.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    let authorization = request.header("authorization").expect("basic auth");
    let encoded = authorization.strip_prefix("Basic ").expect("basic scheme");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("{SID}:{TOKEN}")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.form(),
        pairs(&[
            ("To", "+15005550009"),
            ("From", "+15005550006"),
            ("Body", "Your appointment is confirmed"),
        ])
    );
}

#[tokio::test]
async fn twilio_messaging_service_goes_in_its_own_field() {
    let peer = HttpPeer::start().await;
    peer.respond_with(201, "{}");
    let sender = twilio(peer.url(), "MG0123456789abcdef0123456789abcdef");
    sender.send("+15005550009", "Hi", now()).await.unwrap();
    assert_eq!(
        peer.requests()[0].form(),
        pairs(&[
            ("To", "+15005550009"),
            ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
            ("Body", "Hi"),
        ])
    );
}

#[tokio::test]
async fn twilio_refusal_is_permanent_with_the_code_only() {
    let peer = HttpPeer::start().await;
    peer.respond_with(
        400,
        r#"{"code": 21211, "message": "The 'To' number +15005550009 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
    );
    let error = twilio(peer.url(), "+15005550006")
        .send("+15005550009", "Your appointment is confirmed", now())
        .await
        .unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.message, "twilio refused the message: error 21211");
    assert_no_secrets(&error.message);
}

#[tokio::test]
async fn twilio_outages_throttling_and_unreachable_are_retryable() {
    let peer = HttpPeer::start().await;
    peer.queue_responses(vec![(503, "busy".into()), (429, "{}".into())]);
    peer.respond_with(201, "{}");
    let sender = twilio(peer.url(), "+15005550006");

    let first = sender.send("+15005550009", "x", now()).await.unwrap_err();
    assert!(first.retryable);
    assert_eq!(first.message, "twilio answered 503");
    let second = sender.send("+15005550009", "x", now()).await.unwrap_err();
    assert!(second.retryable);
    assert_eq!(second.message, "twilio answered 429");
    sender.send("+15005550009", "x", now()).await.unwrap();
    assert_eq!(peer.wait_for(3, WAIT).await.len(), 3);

    let error = twilio(closed_url().await, "+15005550006")
        .send("+15005550009", "Your appointment", now())
        .await
        .unwrap_err();
    assert!(error.retryable, "{error}");
    assert!(error.message.starts_with("twilio: "), "{error}");
    assert!(!error.message.contains(SID), "{error}");
    assert_no_secrets(&error.message);
}

#[test]
fn unconfigured_channels_are_none() {
    let client = http_client();
    assert!(TwilioSender::from_settings(&TwilioSettings::default(), client.clone()).is_none());
    let partial = TwilioSettings {
        account_sid: Some(SID.into()),
        auth_token: Some(TOKEN.into()),
        ..TwilioSettings::default()
    };
    assert!(TwilioSender::from_settings(&partial, client.clone()).is_none());
    assert!(WebhookSender::from_settings(&WebhookSettings::default(), client.clone()).is_none());
    let no_urls = WebhookSettings {
        urls: vec![],
        secret: Some("s".into()),
    };
    assert!(WebhookSender::from_settings(&no_urls, client.clone()).is_none());
    assert!(SnsPublisher::from_settings(&SnsSettings::default(), client.clone()).is_none());
    let no_keys = SnsSettings {
        topic_arn: Some("arn:aws:sns:eu-west-1:123456789012:carebook".into()),
        region: Some("eu-west-1".into()),
        ..SnsSettings::default()
    };
    assert!(SnsPublisher::from_settings(&no_keys, client).is_none());
}

// ---- Webhooks -------------------------------------------------------------

const WEBHOOK_SECRET: &str = "whsec_clinic_shared";

fn webhook(secret: Option<&str>, url: &str) -> WebhookSender {
    let settings = WebhookSettings {
        urls: vec![url.to_owned()],
        secret: secret.map(str::to_owned),
    };
    WebhookSender::from_settings(&settings, http_client()).expect("configured")
}

#[tokio::test]
async fn webhooks_are_signed_so_receivers_can_check_them() {
    let peer = HttpPeer::start().await;
    peer.respond_with(204, "");
    let url = format!("{}/hooks/carebook?token=abc", peer.url());
    let body = br#"{"id":"evt_1","type":"appointment.confirmed"}"#;

    webhook(Some(WEBHOOK_SECRET), &url)
        .send(&url, "evt_1", body, now())
        .await
        .expect("204 is a success");

    let request = &peer.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/carebook?token=abc");
    assert_eq!(request.body, body);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("carebook-event-id"), Some("evt_1"));
    let header = request.header("carebook-signature").expect("signed");

    // Recomputed here, apart from the sender's code.
    let t = now().as_second();
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(header, format!("t={t},v1={expected}"));

    let tolerance = SignedDuration::from_mins(5);
    let later = now() + SignedDuration::from_secs(30);
    assert_eq!(
        verify(WEBHOOK_SECRET, header, body, later, tolerance),
        Ok(())
    );
    let tampered = br#"{"id":"evt_1","type":"appointment.cancelled"}"#;
    assert_eq!(
        verify(WEBHOOK_SECRET, header, tampered, later, tolerance),
        Err(VerifyError::Mismatch)
    );
    let replayed = now() + SignedDuration::from_mins(6);
    assert_eq!(
        verify(WEBHOOK_SECRET, header, body, replayed, tolerance),
        Err(VerifyError::Expired)
    );
}

#[tokio::test]
async fn webhooks_without_a_secret_are_not_signed() {
    let peer = HttpPeer::start().await;
    let url = peer.url();
    webhook(None, &url)
        .send(&url, "evt_2", b"{}", now())
        .await
        .unwrap();
    let request = &peer.requests()[0];
    assert_eq!(request.header("carebook-event-id"), Some("evt_2"));
    assert_eq!(request.header("carebook-signature"), None);
}

#[tokio::test]
async fn webhook_answers_are_judged_and_shown_without_the_query() {
    let peer = HttpPeer::start().await;
    peer.queue_responses(vec![
        (500, "oops".into()),
        (408, String::new()),
        (429, String::new()),
        (410, "gone".into()),
        (404, String::new()),
        (301, String::new()),
    ]);
    let url = format!("{}/in?token=s3cret-token", peer.url());
    let sender = webhook(Some(WEBHOOK_SECRET), &url);
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let error = sender.send(&url, "evt", b"{}", now()).await.unwrap_err();
        assert!(!error.message.contains("s3cret-token"), "{error}");
        assert!(!error.message.contains("/in"), "{error}");
        outcomes.push((error.retryable, error.message));
    }
    let shown = peer.url();
    assert_eq!(
        outcomes,
        vec![
            (true, format!("webhook {shown} answered 500")),
            (true, format!("webhook {shown} answered 408")),
            (true, format!("webhook {shown} answered 429")),
            (false, format!("webhook {shown} answered 410")),
            (false, format!("webhook {shown} answered 404")),
            (false, format!("webhook {shown} answered 301")),
        ]
    );

    let cleartext = "http://hooks.example.org/in?token=s3cret-token";
    let error = sender
        .send(cleartext, "evt", b"{}", now())
        .await
        .unwrap_err();
    assert!(!error.retryable, "{error}");
    assert!(!error.message.contains("s3cret-token"), "{error}");

    let closed = format!("{}/in?token=s3cret-token", closed_url().await);
    let error = sender.send(&closed, "evt", b"{}", now()).await.unwrap_err();
    assert!(error.retryable, "{error}");
    assert!(!error.message.contains("s3cret-token"), "{error}");
}

// ---- SNS ------------------------------------------------------------------

const SNS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SNS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SNS_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessiontoken//+=";
const TOPIC: &str = "arn:aws:sns:eu-central-1:123456789012:carebook-events";

fn sns(endpoint: String, topic: &str, session_token: Option<&str>) -> SnsPublisher {
    let settings = SnsSettings {
        topic_arn: Some(topic.into()),
        region: Some("eu-central-1".into()),
        access_key_id: Some(SNS_KEY.into()),
        secret_access_key: Some(SNS_SECRET.into()),
        session_token: session_token.map(str::to_owned),
        endpoint: Some(endpoint),
    };
    SnsPublisher::from_settings(&settings, http_client()).expect("configured")
}

/// Checks the Authorization header of `request` against what `sign_v4`
/// computes for the request as received.
fn assert_signed(request: &RecordedRequest, expected_signed_headers: &str) {
    assert_eq!(request.header("x-amz-date"), Some("20260301T090000Z"));
    let authorization = request.header("authorization").expect("signed");
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .expect("SigV4");
    let fields: Vec<(&str, &str)> = rest
        .split(", ")
        .map(|field| field.split_once('=').expect("name=value"))
        .collect();
    assert_eq!(
        fields[0],
        (
            "Credential",
            &*format!("{SNS_KEY}/20260301/eu-central-1/sns/aws4_request")
        )
    );
    assert_eq!(fields[1], ("SignedHeaders", expected_signed_headers));
    assert_eq!(fields[2].0, "Signature");

    let signed_names: Vec<&str> = expected_signed_headers.split(';').collect();
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .filter(|(name, _)| signed_names.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        headers.len(),
        signed_names.len(),
        "every signed header was sent"
    );
    let recomputed = sign_v4(
        &SigV4Credentials {
            access_key_id: SNS_KEY,
            secret_access_key: SNS_SECRET,
        },
        "eu-central-1",
        "sns",
        &SigV4Request {
            method: &request.method,
            path: &request.path,
            query: &[],
            headers: &headers,
            body: &request.body,
        },
        now(),
    );
    assert_eq!(fields[2].1, recomputed.signature);
    assert_eq!(authorization, recomputed.authorization);
}

#[tokio::test]
async fn sns_publishes_a_signed_query_api_request() {
    let peer = HttpPeer::start().await;
    peer.respond_with(200, "<PublishResponse><PublishResult><MessageId>m1</MessageId></PublishResult></PublishResponse>");
    let publisher = sns(peer.url(), TOPIC, None);

    publisher
        .publish(
            "Appointment confirmed: Clínica Sol\n2026-03-02 10:00",
            r#"{"id":"evt_1","type":"appointment.confirmed","text":"a+b=c & 100%"}"#,
            "appointment.confirmed",
            "evt_1:sns",
            now(),
        )
        .await
        .expect("200 is a success");

    let request = &peer.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded; charset=utf-8")
    );
    let host = peer.url().trim_start_matches("http://").to_owned();
    assert_eq!(request.header("host"), Some(host.as_str()));
    assert_eq!(
        request.form(),
        pairs(&[
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("TopicArn", TOPIC),
            (
                "Message",
                r#"{"id":"evt_1","type":"appointment.confirmed","text":"a+b=c & 100%"}"#
            ),
            (
                "Subject",
                "Appointment confirmed: Clinica Sol 2026-03-02 10:00"
            ),
            ("MessageAttributes.entry.1.Name", "event_type"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            (
                "MessageAttributes.entry.1.Value.StringValue",
                "appointment.confirmed"
            ),
        ])
    );
    // Spaces as %20 (never `+`), as AWS encodes.
    assert!(!request.body_text().contains('+'));
    assert_eq!(request.header("x-amz-security-token"), None);
    assert_signed(request, "content-type;host;x-amz-date");
}

#[tokio::test]
async fn sns_signs_the_session_token_and_fifo_fields() {
    let peer = HttpPeer::start().await;
    let publisher = sns(
        peer.url(),
        "arn:aws:sns:eu-central-1:123456789012:carebook.fifo",
        Some(SNS_TOKEN),
    );
    let long_id = format!("evt_{}", "9".repeat(200));
    publisher
        .publish("Reminder", "{}", "appointment.reminder", "evt_7:sns", now())
        .await
        .unwrap();
    publisher
        .publish("Reminder", "{}", "appointment.reminder", &long_id, now())
        .await
        .unwrap();

    let requests = peer.wait_for(2, WAIT).await;
    let first = &requests[0];
    assert_eq!(first.header("x-amz-security-token"), Some(SNS_TOKEN));
    assert_signed(first, "content-type;host;x-amz-date;x-amz-security-token");
    assert_eq!(
        first.form_field("MessageGroupId").as_deref(),
        Some("carebook")
    );
    assert_eq!(
        first.form_field("MessageDeduplicationId").as_deref(),
        Some("evt_7:sns")
    );
    let hashed = requests[1].form_field("MessageDeduplicationId").unwrap();
    assert_eq!(hashed.len(), 64, "too long an id is hashed");
    assert!(hashed.chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn sns_standard_topics_carry_no_fifo_fields() {
    let peer = HttpPeer::start().await;
    sns(peer.url(), TOPIC, None)
        .publish("S", "{}", "user.registered", "evt_8:sns", now())
        .await
        .unwrap();
    let request = &peer.requests()[0];
    assert_eq!(request.form_field("MessageGroupId"), None);
    assert_eq!(request.form_field("MessageDeduplicationId"), None);
}

#[tokio::test]
async fn sns_errors_are_judged_by_status_and_code() {
    let peer = HttpPeer::start().await;
    let error_body = |kind: &str, code: &str| {
        format!(
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
             <Type>{kind}</Type><Code>{code}</Code>\
             <Message>User: arn:aws:iam::123456789012:user/carebook is not authorized to perform: SNS:Publish</Message>\
             </Error><RequestId>r1</RequestId></ErrorResponse>"
        )
    };
    peer.queue_responses(vec![
        (403, error_body("Sender", "AuthorizationError")),
        (500, error_body("Receiver", "InternalError")),
        (400, error_body("Sender", "Throttling")),
        (404, error_body("Sender", "NotFound")),
        (502, "<html>bad gateway</html>".into()),
    ]);
    let publisher = sns(peer.url(), TOPIC, Some(SNS_TOKEN));
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let error = publisher
            .publish("S", "Your appointment", "t", "d", now())
            .await
            .unwrap_err();
        assert_no_secrets(&error.message);
        assert!(!error.message.contains("arn:aws"), "{error}");
        outcomes.push((error.retryable, error.message));
    }
    assert_eq!(
        outcomes,
        vec![
            (
                false,
                "sns refused the message: AuthorizationError".to_owned()
            ),
            (true, "sns answered 500 InternalError".to_owned()),
            (true, "sns answered 400 Throttling".to_owned()),
            (false, "sns refused the message: NotFound".to_owned()),
            (true, "sns answered 502".to_owned()),
        ]
    );

    let error = sns(closed_url().await, TOPIC, None)
        .publish("S", "m", "t", "d", now())
        .await
        .unwrap_err();
    assert!(error.retryable, "{error}");
}
