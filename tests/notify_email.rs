//! Email delivery end to end: rendered notices sent over a real SMTP conversation to
//! the test server (and written as `.eml` files), then read back header by header
//! and part by part, the calendar part through the iCalendar parser.

use std::path::Path;
use std::time::Duration;

use carebook::config::{SmtpSettings, SmtpTls};
use carebook::notify::email::{Mailer, OutgoingEmail};
use carebook::notify::ical::{self, CalendarMethod};
use carebook::notify::render::Templates;
use carebook::notify::{AppointmentFacts, ClinicFacts, Notice, NoticeKind, Recipient};
use carebook::testing::smtp::{MimeMessage, MimePart, ReceivedMessage, SmtpServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const FROM: &str = "Praxis Mitte <no-reply@clinic.example>";
const PATIENT_EMAIL: &str = "joerg@example.org";
const USER: &str = "mailer";
const PASSWORD: &str = "s3cret-pass";
const WHEN: &str = "Tuesday 3 March 2026, 09:30 (Europe/Berlin)";
const WAIT: Duration = Duration::from_secs(5);

fn notice(kind: NoticeKind, sequence: u32) -> Notice {
    Notice {
        event_id: format!("evt-{sequence}"),
        kind,
        occurred_at: "2026-03-01T08:00:00Z".parse().unwrap(),
        clinic: ClinicFacts {
            name: "Praxis Mitte".into(),
            time_zone: "Europe/Berlin".into(),
            base_url: "https://clinic.example".into(),
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
        email: PATIENT_EMAIL.into(),
        phone: None,
    }
}

fn smtp_settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        tls: SmtpTls::None,
        from: FROM.into(),
        timeout_seconds: 5,
    }
}

fn smtp_mailer(port: u16) -> Mailer {
    Mailer::from_settings(&smtp_settings(port), Path::new("unused")).unwrap()
}

fn file_mailer(dir: &Path) -> Mailer {
    let settings = SmtpSettings {
        host: None,
        ..smtp_settings(25)
    };
    Mailer::from_settings(&settings, dir).unwrap()
}

fn outgoing(notice: &Notice, message_id: &str) -> OutgoingEmail {
    let templates = Templates::load(None).unwrap();
    let to = patient();
    let rendered = templates.email(notice, &to, FROM).unwrap();
    OutgoingEmail {
        message_id: message_id.into(),
        to_name: to.name,
        to_address: to.email,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        calendar: rendered.calendar,
    }
}

fn calendar_lines(part: &MimePart) -> Vec<(String, String)> {
    ical::parse(&part.body).unwrap()
}

fn value<'a>(lines: &'a [(String, String)], name: &str) -> &'a str {
    let prefix = format!("{name};");
    &lines
        .iter()
        .find(|(n, _)| n == name || n.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
        .1
}

/// The structure and content every confirmed-appointment email must have, sent or
/// written to a file.
fn assert_confirmation(message: &MimeMessage, message_id: &str, subject: &str) {
    let from = message.header("From").unwrap();
    assert!(from.contains("<no-reply@clinic.example>"), "{from}");
    let to = message.header("To").unwrap();
    assert!(
        to.contains("Jörg Müller") && to.contains(&format!("<{PATIENT_EMAIL}>")),
        "{to}"
    );
    assert_eq!(message.header("Subject").unwrap(), subject);
    assert_eq!(
        message.header("Message-ID").unwrap(),
        format!("<{message_id}>")
    );
    assert!(message.header("Date").is_some());
    assert_eq!(message.header("MIME-Version").unwrap(), "1.0");
    assert!(
        message
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/mixed"),
    );

    let types: Vec<String> = message.parts.iter().map(MimePart::mime_type).collect();
    assert_eq!(
        types,
        [
            "text/plain",
            "text/html",
            "text/calendar",
            "application/ics"
        ]
    );
    let text = message.part("text/plain").unwrap();
    assert!(text.body.contains("Dr Anna Weber"), "{}", text.body);
    assert!(text.body.contains(WHEN), "{}", text.body);
    assert!(
        text.body
            .contains("https://clinic.example/appointments/apt-42")
    );
    let html = message.part("text/html").unwrap();
    assert!(html.body.contains("Dr Anna Weber"));
    assert!(html.body.contains("Tuesday 3 March 2026, 09:30"));
    assert!(html.body.contains("Jörg Müller"), "{}", html.body);

    let calendar = message.part("text/calendar").unwrap();
    assert_eq!(calendar.content_type_param("method").unwrap(), "REQUEST");
    let lines = calendar_lines(calendar);
    assert_eq!(value(&lines, "METHOD"), "REQUEST");
    assert_eq!(value(&lines, "UID"), "apt-42@clinic.example");
    assert_eq!(value(&lines, "SEQUENCE"), "1");
    assert_eq!(value(&lines, "DTSTART"), "20260303T083000Z");
    assert_eq!(value(&lines, "DTEND"), "20260303T090000Z");
    assert_eq!(value(&lines, "SUMMARY"), "Appointment with Dr Anna Weber");
    assert_eq!(value(&lines, "ATTENDEE"), format!("mailto:{PATIENT_EMAIL}"));

    let attachment = message.part("application/ics").unwrap();
    let disposition = attachment.header("Content-Disposition").unwrap();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("invite.ics"),
        "{disposition}"
    );
    assert_eq!(attachment.body, calendar.body);
}

#[tokio::test]
async fn a_confirmation_goes_over_smtp_with_credentials_and_an_invitation() {
    let server = SmtpServer::start().await;
    server.require_auth(USER, PASSWORD);
    let mailer = smtp_mailer(server.port());
    let email = outgoing(&notice(NoticeKind::AppointmentConfirmed, 1), "d-1@carebook");
    mailer.send(&email).await.unwrap();

    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert_eq!(message.auth, Some((USER.to_owned(), PASSWORD.to_owned())));
    assert_eq!(message.mail_from, "no-reply@clinic.example");
    assert_eq!(message.rcpt_to, [PATIENT_EMAIL]);
    assert_eq!(
        message.header("message-id").unwrap(),
        "<d-1@carebook>",
        "case-insensitive lookup"
    );
    assert_confirmation(
        &MimeMessage::parse(&message.data),
        "d-1@carebook",
        &email.subject,
    );
    assert!(email.subject.contains(WHEN));
}

#[tokio::test]
async fn a_cancellation_cancels_the_same_event_with_a_higher_sequence() {
    let server = SmtpServer::start().await;
    let mailer = smtp_mailer(server.port());
    let confirmed = outgoing(&notice(NoticeKind::AppointmentConfirmed, 1), "d-1@carebook");
    let cancelled = outgoing(&notice(NoticeKind::AppointmentCancelled, 2), "d-2@carebook");
    assert_eq!(
        cancelled.calendar.as_ref().unwrap().method,
        CalendarMethod::Cancel
    );
    mailer.send(&confirmed).await.unwrap();
    mailer.send(&cancelled).await.unwrap();

    let received = server.wait_for(2, WAIT).await;
    assert_eq!(received.len(), 2);
    let calendars: Vec<Vec<(String, String)>> = received
        .iter()
        .map(|message| calendar_lines(&message.part("text/calendar").unwrap()))
        .collect();
    assert_eq!(value(&calendars[1], "METHOD"), "CANCEL");
    assert_eq!(value(&calendars[1], "STATUS"), "CANCELLED");
    assert_eq!(value(&calendars[0], "UID"), value(&calendars[1], "UID"));
    let sequence = |lines: &[(String, String)]| value(lines, "SEQUENCE").parse::<u32>().unwrap();
    assert!(sequence(&calendars[1]) > sequence(&calendars[0]));
    let part = received[1].part("text/calendar").unwrap();
    assert_eq!(part.content_type_param("method").unwrap(), "CANCEL");
    assert_eq!(
        received[1].header("Subject").unwrap(),
        format!("Your appointment with Dr Anna Weber on {WHEN} was cancelled")
    );
    let text = received[1].part("text/plain").unwrap();
    assert!(
        text.body.contains("was cancelled by the doctor"),
        "{}",
        text.body
    );
}

#[tokio::test]
async fn a_reminder_has_no_calendar() {
    let server = SmtpServer::start().await;
    let mailer = smtp_mailer(server.port());
    let email = outgoing(&notice(NoticeKind::Reminder, 1), "r-1@carebook");
    mailer.send(&email).await.unwrap();
    let received = server.wait_for(1, WAIT).await;
    let message = MimeMessage::parse(&received[0].data);
    assert!(
        message
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    let types: Vec<String> = message.parts.iter().map(MimePart::mime_type).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
}

fn assert_no_secrets(message: &str) {
    for secret in [PATIENT_EMAIL, PASSWORD, "Jörg", "Anna Weber"] {
        assert!(!message.contains(secret), "{message:?} contains {secret:?}");
    }
}

#[tokio::test]
async fn a_deferring_server_is_retried_and_a_rejecting_one_is_not() {
    let server = SmtpServer::start().await;
    let mailer = smtp_mailer(server.port());
    let email = outgoing(&notice(NoticeKind::AppointmentConfirmed, 1), "d-1@carebook");

    server.refuse_next(1);
    let deferred = mailer.send(&email).await.unwrap_err();
    assert!(deferred.retryable, "{deferred:?}");
    assert!(deferred.message.contains("451"), "{deferred:?}");
    assert_no_secrets(&deferred.message);

    server.refuse_permanently_next(1);
    let rejected = mailer.send(&email).await.unwrap_err();
    assert!(!rejected.retryable, "{rejected:?}");
    assert!(rejected.message.contains("550"), "{rejected:?}");
    assert_no_secrets(&rejected.message);

    server.set_refusing(true);
    assert!(mailer.send(&email).await.unwrap_err().retryable);
    server.set_refusing(false);
    mailer.send(&email).await.unwrap();
    assert_eq!(server.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn refused_credentials_and_an_absent_server_are_retried() {
    let server = SmtpServer::start().await;
    server.require_auth(USER, "another password");
    let email = outgoing(&notice(NoticeKind::AppointmentConfirmed, 1), "d-1@carebook");
    let error = smtp_mailer(server.port()).send(&email).await.unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert!(error.message.contains("535"), "{error:?}");
    assert_no_secrets(&error.message);
    assert!(server.messages().is_empty());

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = smtp_mailer(closed_port).send(&email).await.unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert_no_secrets(&error.message);
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_retried() {
    let server = SmtpServer::start().await;
    server.set_delay(Duration::from_secs(3));
    let settings = SmtpSettings {
        timeout_seconds: 1,
        ..smtp_settings(server.port())
    };
    let mailer = Mailer::from_settings(&settings, Path::new("unused")).unwrap();
    let email = outgoing(&notice(NoticeKind::Reminder, 1), "r-1@carebook");
    let error = mailer.send(&email).await.unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert_no_secrets(&error.message);
    // The server still accepts it once its delay is over, as a real one would:
    // the receiver sees a duplicate with the same Message-ID on the retry.
    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received[0].header("Message-ID").unwrap(), "<r-1@carebook>");

    // The cut-off conversation is not reused for the next message.
    server.set_delay(Duration::ZERO);
    let next = outgoing(&notice(NoticeKind::Reminder, 2), "r-2@carebook");
    mailer.send(&next).await.unwrap();
    let received = server.wait_for(2, WAIT).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].header("Message-ID").unwrap(), "<r-2@carebook>");
}

#[tokio::test]
async fn the_file_mailer_writes_one_eml_per_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let mailer = file_mailer(&mail_dir);
    assert!(mailer.describe().contains("mail"));
    let email = outgoing(&notice(NoticeKind::AppointmentConfirmed, 1), "d-1@carebook");
    mailer.send(&email).await.unwrap();

    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&mail_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let written = files();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].ends_with(".eml"), "{written:?}");
    let raw = std::fs::read_to_string(mail_dir.join(&written[0])).unwrap();
    assert_confirmation(&MimeMessage::parse(&raw), "d-1@carebook", &email.subject);

    mailer.send(&email).await.unwrap();
    assert_eq!(files(), written, "the same Message-ID overwrites its file");

    let other = outgoing(&notice(NoticeKind::AppointmentCancelled, 2), "d-2@carebook");
    mailer.send(&other).await.unwrap();
    let now = files();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.iter().all(|name| name.ends_with(".eml")), "{now:?}");
}

type Reader = BufReader<tokio::net::tcp::OwnedReadHalf>;
type Writer = tokio::net::tcp::OwnedWriteHalf;

/// A whole (possibly multi-line) reply.
async fn reply(reader: &mut Reader) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

async fn say(writer: &mut Writer, line: &str) {
    writer
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .unwrap();
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The test server's own conversation, as another client would hold it: AUTH
/// LOGIN, dot-stuffing, unknown commands, RSET.
#[tokio::test]
async fn the_test_server_speaks_auth_login_and_unstuffs_dots() {
    let server = SmtpServer::start().await;
    server.require_auth("user", "pass");
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    assert!(reply(&mut reader).await.starts_with("220"));
    say(&mut writer, "EHLO client.example").await;
    let ehlo = reply(&mut reader).await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && ehlo.contains("8BITMIME") && ehlo.contains("SMTPUTF8")
    );
    say(&mut writer, "MAIL FROM:<a@b.example>").await;
    assert!(reply(&mut reader).await.starts_with("530"));
    say(&mut writer, "AUTH LOGIN").await;
    assert!(reply(&mut reader).await.starts_with("334"));
    say(&mut writer, &b64("user")).await;
    assert!(reply(&mut reader).await.starts_with("334"));
    say(&mut writer, &b64("wrong")).await;
    assert!(reply(&mut reader).await.starts_with("535"));
    say(&mut writer, "AUTH PLAIN").await;
    assert!(reply(&mut reader).await.starts_with("334"));
    say(&mut writer, &b64("\0user\0pass")).await;
    assert!(reply(&mut reader).await.starts_with("235"));
    say(&mut writer, "FROB").await;
    assert!(reply(&mut reader).await.starts_with("502"));
    say(&mut writer, "MAIL FROM:<a@b.example>").await;
    assert!(reply(&mut reader).await.starts_with("250"));
    say(&mut writer, "RSET").await;
    assert!(reply(&mut reader).await.starts_with("250"));
    say(&mut writer, "RCPT TO:<c@d.example>").await;
    assert!(
        reply(&mut reader).await.starts_with("503"),
        "RSET forgot MAIL"
    );
    say(&mut writer, "MAIL FROM:<a@b.example>").await;
    assert!(reply(&mut reader).await.starts_with("250"));
    say(&mut writer, "RCPT TO:<c@d.example>").await;
    assert!(reply(&mut reader).await.starts_with("250"));
    say(&mut writer, "DATA").await;
    assert!(reply(&mut reader).await.starts_with("354"));
    say(
        &mut writer,
        "Subject: dots\r\n\r\n..leading dot\r\nplain\r\n.",
    )
    .await;
    assert!(reply(&mut reader).await.starts_with("250"));
    say(&mut writer, "QUIT").await;
    assert!(reply(&mut reader).await.starts_with("221"));

    let received: Vec<ReceivedMessage> = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "a@b.example");
    assert_eq!(received[0].rcpt_to, ["c@d.example"]);
    assert_eq!(received[0].auth, Some(("user".into(), "pass".into())));
    assert_eq!(
        received[0].data,
        "Subject: dots\r\n\r\n.leading dot\r\nplain\r\n"
    );
    assert_eq!(received[0].parts()[0].body, ".leading dot\r\nplain\r\n");
}
