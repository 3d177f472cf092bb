//! Email: over SMTP when configured, else written as `.eml` files to a folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};

use super::DeliveryError;
use super::ical::Calendar;
use crate::config::{SmtpSettings, SmtpTls};

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEmail {
    /// Without angle brackets; the same for every attempt of one delivery, so a
    /// receiver can drop a duplicate.
    pub message_id: String,
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub calendar: Option<Calendar>,
}

pub enum Mailer {
    Smtp(SmtpMailer),
    Files(FileMailer),
}

/// Sends through one SMTP server, one connection per message.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    description: String,
    /// For the whole conversation of one message.
    timeout: Duration,
}

/// Writes each message to `<dir>/<hash of its Message-ID>.eml`.
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl Mailer {
    /// SMTP when `smtp.host` is set, else the `.eml` folder.
    ///
    /// lettre's SMTP transport spawns Tokio tasks when it is built and when it is
    /// dropped: create the mailer, and drop it, inside the Tokio runtime.
    pub fn from_settings(smtp: &SmtpSettings, mail_dir: &Path) -> Result<Mailer, String> {
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|error| format!("smtp.from is not a valid address: {error}"))?;
        let Some(host) = smtp.host.as_deref().filter(|host| !host.trim().is_empty()) else {
            return Ok(Mailer::Files(FileMailer {
                dir: mail_dir.to_owned(),
                from,
            }));
        };
        let port = smtp.port();
        let tls_parameters = || {
            TlsParameters::new(host.to_owned())
                .map_err(|error| format!("smtp TLS settings for {host}: {error}"))
        };
        let (builder, tls_name) = match smtp.tls {
            SmtpTls::None => (
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).tls(Tls::None),
                "no TLS",
            ),
            SmtpTls::Starttls => (
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .tls(Tls::Required(tls_parameters()?)),
                "STARTTLS",
            ),
            SmtpTls::Tls => (
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .tls(Tls::Wrapper(tls_parameters()?)),
                "TLS",
            ),
        };
        let timeout = Duration::from_secs(smtp.timeout_seconds.max(1));
        // lettre's timeout bounds only the connect, so `send` bounds the whole
        // conversation itself. A conversation cut short that way must never be
        // parked for reuse (its replies would answer the next message's commands),
        // and the pool cannot be told so: it keeps no idle connections at all, and
        // every message gets a connection of its own.
        let mut builder = builder
            .port(port)
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(0));
        let mut description = format!("SMTP {host}:{port} ({tls_name}");
        if let Some(username) = &smtp.username {
            let password = smtp.password.clone().unwrap_or_default();
            // lettre sends credentials on a plain connection as well (a local relay
            // without TLS is a legitimate set-up); PLAIN first, LOGIN for servers
            // that offer only that.
            builder = builder
                .credentials(Credentials::new(username.clone(), password))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            description.push_str(", with credentials");
        }
        description.push(')');
        Ok(Mailer::Smtp(SmtpMailer {
            transport: builder.build(),
            from,
            description,
            timeout,
        }))
    }

    /// For the start-up log: where mail goes, without credentials.
    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(smtp) => smtp.description.clone(),
            Mailer::Files(files) => format!("files in {}", files.dir.display()),
        }
    }

    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        match self {
            Mailer::Smtp(smtp) => {
                let message = build_message(&smtp.from, email)?;
                match tokio::time::timeout(smtp.timeout, smtp.transport.send(message)).await {
                    Ok(sent) => sent.map(|_| ()).map_err(|error| classify(&error)),
                    Err(_) => Err(DeliveryError::retryable("SMTP server timed out")),
                }
            }
            Mailer::Files(files) => {
                let message = build_message(&files.from, email)?;
                let dir = files.dir.clone();
                let message_id = email.message_id.clone();
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || write_eml(&dir, &message_id, &bytes))
                    .await
                    .map_err(|_| DeliveryError::retryable("the mail folder writer stopped"))?
                    .map_err(|error| {
                        DeliveryError::retryable(format!(
                            "could not write to the mail folder: {}",
                            error.kind()
                        ))
                    })
            }
        }
    }
}

/// `multipart/mixed[multipart/alternative[text, html, calendar], invite.ics]` with
/// a calendar, else just the alternative: the shape mail clients show as an
/// invitation with accept buttons and a file to import.
fn build_message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, DeliveryError> {
    let address: Address = email
        .to_address
        .parse()
        .map_err(|_| DeliveryError::permanent("the recipient's email address is not valid"))?;
    let to = Mailbox::new(Some(email.to_name.clone()), address);
    let mut alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(email.text.clone()))
        .singlepart(SinglePart::html(email.html.clone()));
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)));
    let built = match &email.calendar {
        None => builder.multipart(alternative),
        Some(calendar) => {
            let method = calendar.method.as_str();
            let calendar_type =
                ContentType::parse(&format!("text/calendar; method={method}; charset=UTF-8"))
                    .expect("a valid content type");
            alternative = alternative.singlepart(
                SinglePart::builder()
                    .header(calendar_type)
                    .body(calendar.ics.clone()),
            );
            let attachment = Attachment::new("invite.ics".to_owned()).body(
                calendar.ics.clone(),
                ContentType::parse("application/ics").expect("a valid content type"),
            );
            builder.multipart(
                MultiPart::mixed()
                    .multipart(alternative)
                    .singlepart(attachment),
            )
        }
    };
    // Only the headers set above can fail here, and none of them carries the body.
    built.map_err(|error| DeliveryError::permanent(format!("the email cannot be built: {error}")))
}

/// Maps an SMTP failure to a delivery error that names the reply code but never
/// the server's text, which may quote the address.
fn classify(error: &lettre::transport::smtp::Error) -> DeliveryError {
    let code = error.status().map(|code| code.to_string());
    if error.is_transient() {
        return DeliveryError::retryable(format!(
            "SMTP server deferred the message ({})",
            code.as_deref().unwrap_or("4xx")
        ));
    }
    if error.is_permanent() {
        let code = code.unwrap_or_else(|| "5xx".into());
        // Refused credentials are the settings' fault, not the message's: once the
        // settings are fixed, the waiting mail should still go.
        if ["530", "534", "535", "538"].contains(&code.as_str()) {
            return DeliveryError::retryable(format!("SMTP authentication failed ({code})"));
        }
        return DeliveryError::permanent(format!("SMTP server rejected the message ({code})"));
    }
    if error.is_timeout() {
        return DeliveryError::retryable("SMTP server timed out");
    }
    if error.is_tls() {
        return DeliveryError::retryable("TLS with the SMTP server failed");
    }
    if error.is_client() {
        return DeliveryError::retryable("SMTP conversation failed (client error)");
    }
    if error.is_response() {
        return DeliveryError::retryable("SMTP server sent an unreadable reply");
    }
    DeliveryError::retryable("could not reach the SMTP server")
}

/// The file name's stable part: the same message (every attempt of one delivery)
/// lands in the same file.
fn message_id_hash(message_id: &str) -> String {
    Sha256::digest(message_id.as_bytes())
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Named by the Message-ID alone, so a repeat of the same message replaces its
/// file instead of adding one, without looking through the folder (`ls -t` orders
/// by arrival).
fn write_eml(dir: &Path, message_id: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let hash = message_id_hash(message_id);
    let final_path = dir.join(format!("{hash}.eml"));
    // A reader (or a person watching the folder) never sees half a message: the
    // hidden temporary file becomes the `.eml` in one rename.
    let temporary = dir.join(format!(".{hash}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, &final_path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: Some("smtp.example".into()),
            port: None,
            username: Some("mailer".into()),
            password: Some("hunter2".into()),
            tls: SmtpTls::Starttls,
            from: "Clinic <no-reply@clinic.example>".into(),
            timeout_seconds: 5,
        }
    }

    #[tokio::test]
    async fn describe_names_the_server_but_not_the_credentials() {
        let mailer = Mailer::from_settings(&settings(), Path::new("mail")).unwrap();
        let description = mailer.describe();
        assert_eq!(
            description,
            "SMTP smtp.example:587 (STARTTLS, with credentials)"
        );
        assert!(!description.contains("hunter2") && !description.contains("mailer"));

        let files = SmtpSettings {
            host: None,
            ..settings()
        };
        let mailer = Mailer::from_settings(&files, Path::new("/var/mail/carebook")).unwrap();
        assert_eq!(mailer.describe(), "files in /var/mail/carebook");
    }

    #[test]
    fn a_bad_from_address_is_a_settings_error() {
        let bad = SmtpSettings {
            from: "not an address".into(),
            ..settings()
        };
        assert!(Mailer::from_settings(&bad, Path::new("mail")).is_err());
    }

    #[test]
    fn an_invalid_recipient_is_permanent_and_not_quoted() {
        let from: Mailbox = "a@b.example".parse().unwrap();
        let email = OutgoingEmail {
            message_id: "m1@carebook".into(),
            to_name: "X".into(),
            to_address: "not-an-address".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            calendar: None,
        };
        let error = build_message(&from, &email).unwrap_err();
        assert!(!error.retryable);
        assert!(!error.message.contains("not-an-address"));
    }
}
