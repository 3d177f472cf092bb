//! A small SMTP server on a loopback port for the email tests: it holds a real SMTP
//! conversation and keeps what it received.
//!
//! It speaks enough of RFC 5321 for lettre and other ordinary clients: EHLO/HELO,
//! AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS. Tests can make
//! it demand credentials, refuse mail for a while (451, transient) or for good
//! (550 at RCPT), and answer the end of DATA slowly.
//!
//! [`MimeMessage`] reads a received message (or an `.eml` file) back: headers and
//! the leaf MIME parts with their bodies decoded.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as the server accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The envelope sender (inside `MAIL FROM:<…>`).
    pub mail_from: String,
    /// The envelope recipients (inside `RCPT TO:<…>`).
    pub rcpt_to: Vec<String>,
    /// The raw message as received, dot-unstuffed, CRLF line ends.
    pub data: String,
    /// The user and password of the session's successful AUTH, if any.
    pub auth: Option<(String, String)>,
}

impl ReceivedMessage {
    /// The first header of this name (case-insensitive), unfolded and with RFC
    /// 2047 encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        MimeMessage::parse(&self.data).header(name)
    }

    /// The leaf parts of the message, depth first, bodies decoded.
    pub fn parts(&self) -> Vec<MimePart> {
        MimeMessage::parse(&self.data).parts
    }

    /// The first leaf part of this MIME type (e.g. `text/calendar`).
    pub fn part(&self, mime_type: &str) -> Option<MimePart> {
        self.parts()
            .into_iter()
            .find(|part| part.mime_type() == mime_type.to_ascii_lowercase())
    }
}

#[derive(Debug, Default)]
struct Behaviour {
    messages: Vec<ReceivedMessage>,
    required_auth: Option<(String, String)>,
    refuse_next: usize,
    refusing: bool,
    refuse_permanently_next: usize,
    delay: Duration,
}

/// The server; it stops when dropped.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Mutex<Behaviour>>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

fn lock(shared: &Mutex<Behaviour>) -> MutexGuard<'_, Behaviour> {
    // A panicking connection task must not take the test's view down with it.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SmtpServer {
    /// Listens on 127.0.0.1 on a free port; each connection gets a task of its own.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the test SMTP server");
        let port = listener.local_addr().expect("a bound address").port();
        let shared = Arc::new(Mutex::new(Behaviour::default()));
        let for_connections = Arc::clone(&shared);
        let accept_task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&for_connections);
                tokio::spawn(async move {
                    // A client that goes away mid-conversation is not the test's concern.
                    let _ = Session::new(shared).serve(stream).await;
                });
            }
        });
        SmtpServer {
            port,
            shared,
            accept_task,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, in the order the server accepted them.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared).messages.clone()
    }

    /// Waits until at least `count` messages arrived or `timeout` passed, and
    /// returns the messages there are then (check the length: fewer means the
    /// wait timed out).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || tokio::time::Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// From now on MAIL needs a successful AUTH (else 530) with exactly these
    /// credentials (else 535).
    pub fn require_auth(&self, user: &str, password: &str) {
        lock(&self.shared).required_auth = Some((user.to_owned(), password.to_owned()));
    }

    /// Answers the next `count` MAIL commands with `451 4.3.0 try again later`.
    pub fn refuse_next(&self, count: usize) {
        lock(&self.shared).refuse_next = count;
    }

    /// While on, every MAIL command gets `451 4.3.0 try again later`.
    pub fn set_refusing(&self, refusing: bool) {
        lock(&self.shared).refusing = refusing;
    }

    /// Answers the next `count` RCPT commands with `550 5.1.1 no such user`.
    pub fn refuse_permanently_next(&self, count: usize) {
        lock(&self.shared).refuse_permanently_next = count;
    }

    /// Waits this long before answering the end of DATA. The message counts as
    /// accepted (and shows in [`messages`](Self::messages)) when the wait is over,
    /// even if the client has gone by then, as a real server would deliver it.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.shared).delay = delay;
    }
}

/// The server's longest accepted line: a runaway client ends the session rather
/// than the test's memory.
const MAX_LINE: usize = 1 << 20;

struct Session {
    shared: Arc<Mutex<Behaviour>>,
    authenticated: Option<(String, String)>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

enum Next {
    Continue,
    Quit,
}

impl Session {
    fn new(shared: Arc<Mutex<Behaviour>>) -> Session {
        Session {
            shared,
            authenticated: None,
            mail_from: None,
            rcpt_to: Vec::new(),
        }
    }

    async fn serve(mut self, stream: TcpStream) -> std::io::Result<()> {
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        writer
            .write_all(b"220 carebook-test ESMTP ready\r\n")
            .await?;
        while let Some(line) = read_line(&mut reader).await? {
            match self.command(&line, &mut reader, &mut writer).await? {
                Next::Continue => {}
                Next::Quit => break,
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    async fn command(
        &mut self,
        line: &str,
        reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        writer: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> std::io::Result<Next> {
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        let reply: String = match verb.as_str() {
            "EHLO" => {
                self.reset();
                "250-carebook-test\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n\
                 250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES"
                    .into()
            }
            "HELO" => {
                self.reset();
                "250 carebook-test".into()
            }
            "AUTH" => self.auth(argument, reader, writer).await?,
            "MAIL" => self.mail(argument),
            "RCPT" => self.rcpt(argument),
            "DATA" => {
                if self.rcpt_to.is_empty() {
                    "503 5.5.1 RCPT first".into()
                } else {
                    writer
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    self.data(reader).await?
                }
            }
            "RSET" => {
                self.reset();
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(Next::Quit);
            }
            _ => "502 5.5.2 Command not implemented".into(),
        };
        writer.write_all(format!("{reply}\r\n").as_bytes()).await?;
        Ok(Next::Continue)
    }

    async fn auth(
        &mut self,
        argument: &str,
        reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        writer: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> std::io::Result<String> {
        let (mechanism, initial) = match argument.split_once(' ') {
            Some((mechanism, initial)) => (mechanism.to_ascii_uppercase(), Some(initial.trim())),
            None => (argument.to_ascii_uppercase(), None),
        };
        let credentials = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(initial) => initial.to_owned(),
                    None => match challenge(reader, writer, "").await? {
                        Some(response) => response,
                        None => return Ok("501 5.7.0 Authentication cancelled".into()),
                    },
                };
                decode_base64(&response).and_then(|plain| {
                    let mut fields = plain.split('\0');
                    let _authorization_id = fields.next()?;
                    let user = fields.next()?.to_owned();
                    let password = fields.next()?.to_owned();
                    Some((user, password))
                })
            }
            "LOGIN" => {
                let user = match initial {
                    Some(initial) => Some(initial.to_owned()),
                    None => challenge(reader, writer, "VXNlcm5hbWU6").await?,
                };
                let Some(user) = user else {
                    return Ok("501 5.7.0 Authentication cancelled".into());
                };
                let Some(password) = challenge(reader, writer, "UGFzc3dvcmQ6").await? else {
                    return Ok("501 5.7.0 Authentication cancelled".into());
                };
                decode_base64(&user).zip(decode_base64(&password))
            }
            _ => return Ok("504 5.5.4 Unrecognized authentication type".into()),
        };
        let Some(credentials) = credentials else {
            return Ok("501 5.5.2 Cannot decode the response".into());
        };
        let required = lock(&self.shared).required_auth.clone();
        if required.is_some_and(|required| required != credentials) {
            return Ok("535 5.7.8 Authentication credentials invalid".into());
        }
        self.authenticated = Some(credentials);
        Ok("235 2.7.0 Authentication successful".into())
    }

    fn mail(&mut self, argument: &str) -> String {
        let Some(from) = path_argument(argument, "FROM:") else {
            return "501 5.5.4 Syntax: MAIL FROM:<address>".into();
        };
        let mut behaviour = lock(&self.shared);
        if behaviour.required_auth.is_some() && self.authenticated.is_none() {
            return "530 5.7.0 Authentication required".into();
        }
        if behaviour.refusing {
            return "451 4.3.0 try again later".into();
        }
        if behaviour.refuse_next > 0 {
            behaviour.refuse_next -= 1;
            return "451 4.3.0 try again later".into();
        }
        drop(behaviour);
        self.reset();
        self.mail_from = Some(from);
        "250 2.1.0 Ok".into()
    }

    fn rcpt(&mut self, argument: &str) -> String {
        if self.mail_from.is_none() {
            return "503 5.5.1 MAIL first".into();
        }
        let Some(to) = path_argument(argument, "TO:") else {
            return "501 5.5.4 Syntax: RCPT TO:<address>".into();
        };
        let mut behaviour = lock(&self.shared);
        if behaviour.refuse_permanently_next > 0 {
            behaviour.refuse_permanently_next -= 1;
            return "550 5.1.1 no such user".into();
        }
        drop(behaviour);
        self.rcpt_to.push(to);
        "250 2.1.5 Ok".into()
    }

    async fn data(
        &mut self,
        reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> std::io::Result<String> {
        let mut data = String::new();
        loop {
            let Some(line) = read_line(reader).await? else {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            };
            if line == "." {
                break;
            }
            // Dot-unstuffing (RFC 5321 4.5.2).
            data.push_str(line.strip_prefix('.').unwrap_or(&line));
            data.push_str("\r\n");
        }
        let delay = lock(&self.shared).delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let message = ReceivedMessage {
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            data,
            auth: self.authenticated.clone(),
        };
        lock(&self.shared).messages.push(message);
        Ok("250 2.0.0 Ok: queued".into())
    }
}

/// One line without its line end; `None` at the end of the stream.
async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let read = (&mut *reader)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut bytes)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    if !bytes.ends_with(b"\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long or cut off",
        ));
    }
    bytes.pop();
    if bytes.ends_with(b"\r") {
        bytes.pop();
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Sends a `334` challenge and reads the answer; `None` when the client cancels.
async fn challenge(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    prompt: &str,
) -> std::io::Result<Option<String>> {
    writer
        .write_all(format!("334 {prompt}\r\n").as_bytes())
        .await?;
    let answer = read_line(reader).await?;
    Ok(answer.filter(|answer| answer.trim() != "*"))
}

fn decode_base64(text: &str) -> Option<String> {
    let bytes = BASE64.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// The address in `FROM:<a@b> SIZE=…` or `TO:<a@b>`.
fn path_argument(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// A message read back: its headers and its leaf parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeMessage {
    /// Unfolded, in order; names as written.
    pub headers: Vec<(String, String)>,
    /// The leaf parts, depth first; a message that is not multipart is one part.
    pub parts: Vec<MimePart>,
}

/// One leaf part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimePart {
    /// The whole `Content-Type` value, e.g. `text/plain; charset=utf-8`.
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    /// Decoded from quoted-printable or base64 and read as UTF-8.
    pub body: String,
}

impl MimePart {
    /// The type without parameters, lower case, e.g. `text/calendar`.
    pub fn mime_type(&self) -> String {
        mime_type(&self.content_type)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        find_header(&self.headers, name)
    }

    /// A parameter of `Content-Type`, e.g. `method` of `text/calendar`.
    pub fn content_type_param(&self, name: &str) -> Option<String> {
        header_param(&self.content_type, name)
    }
}

impl MimeMessage {
    /// Reads a raw message (CRLF or LF line ends). Lenient: what it cannot make
    /// sense of is left out rather than an error, and the test's assertions say
    /// what was missing.
    pub fn parse(raw: &str) -> MimeMessage {
        let raw = raw.replace("\r\n", "\n");
        let (headers, body) = split_headers(&raw);
        let mut parts = Vec::new();
        collect_parts(&headers, body, &mut parts);
        MimeMessage { headers, parts }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        find_header(&self.headers, name)
    }

    /// The first leaf part of this MIME type.
    pub fn part(&self, mime_type: &str) -> Option<&MimePart> {
        let wanted = mime_type.to_ascii_lowercase();
        self.parts.iter().find(|part| part.mime_type() == wanted)
    }
}

fn find_header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| decode_encoded_words(value))
}

/// Headers (unfolded) and the body after the blank line; `raw` has LF line ends.
fn split_headers(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = if let Some(rest) = raw.strip_prefix('\n') {
        ("", rest)
    } else {
        raw.split_once("\n\n").unwrap_or((raw, ""))
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                // Unfolding removes only the line break (RFC 5322 2.2.3).
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    for (_, value) in &mut headers {
        *value = value.trim().to_owned();
    }
    (headers, body)
}

fn collect_parts(headers: &[(String, String)], body: &str, parts: &mut Vec<MimePart>) {
    let content_type = find_header(headers, "Content-Type").unwrap_or_else(|| "text/plain".into());
    if mime_type(&content_type).starts_with("multipart/") {
        let Some(boundary) = header_param(&content_type, "boundary") else {
            return;
        };
        for section in multipart_sections(body, &boundary) {
            let (headers, body) = split_headers(section);
            collect_parts(&headers, body, parts);
        }
        return;
    }
    let encoding = find_header(headers, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            BASE64.decode(compact).unwrap_or_default()
        }
        "quoted-printable" => decode_quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    // Line ends as on the wire, so calendar text reads back as it was sent.
    let body = String::from_utf8_lossy(&bytes)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    parts.push(MimePart {
        content_type,
        headers: headers.to_vec(),
        body,
    });
}

/// The sections between `--boundary` lines, up to `--boundary--`; `body` has LF
/// line ends, and the line end before each delimiter belongs to the delimiter.
fn multipart_sections<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut sections = Vec::new();
    let mut current: Option<usize> = None;
    let mut offset: usize = 0;
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']).trim_end();
        if let Some(after) = bare.strip_prefix(&delimiter) {
            if let Some(start) = current {
                let end = offset.saturating_sub(1).max(start);
                sections.push(&body[start..end]);
            }
            if after.starts_with("--") {
                return sections;
            }
            current = Some(offset + line.len());
        }
        offset += line.len();
    }
    if let Some(start) = current {
        sections.push(&body[start..]);
    }
    sections
}

fn mime_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A parameter of a structured header value such as `Content-Type`.
fn header_param(value: &str, name: &str) -> Option<String> {
    let mut rest = value.split_once(';')?.1;
    loop {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (param, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (
                &quoted[..end],
                quoted[end + 1..].split_once(';').map_or("", |(_, r)| r),
            )
        } else {
            match after.split_once(';') {
                Some((param, remainder)) => (param, remainder),
                None => (after, ""),
            }
        };
        if key.trim().eq_ignore_ascii_case(name) {
            return Some(param.trim().to_owned());
        }
        if remainder.is_empty() {
            return None;
        }
        rest = remainder;
    }
}

fn decode_quoted_printable(body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut lines = body.split('\n').peekable();
    while let Some(line) = lines.next() {
        // Trailing white space on an encoded line is padding (RFC 2045 6.7).
        let line = line.trim_end_matches([' ', '\t', '\r']);
        let (line, soft_break) = match line.strip_suffix('=') {
            Some(line) => (line, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'=')
                .then(|| line.get(i + 1..i + 3))
                .flatten()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match escaped {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        if !soft_break && lines.peek().is_some() {
            out.push(b'\n');
        }
    }
    out
}

/// Decodes RFC 2047 `=?charset?B|Q?…?=` words (UTF-8 or ASCII only), dropping the
/// white space between adjacent encoded words as the RFC says.
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_encoded = false;
    while let Some(start) = rest.find("=?") {
        let Some(word) = encoded_word(&rest[start..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            last_was_encoded = false;
            continue;
        };
        let between = &rest[..start];
        if !(last_was_encoded && between.trim().is_empty()) {
            out.push_str(between);
        }
        out.push_str(&word.0);
        rest = &rest[start + word.1..];
        last_was_encoded = true;
    }
    out.push_str(rest);
    out
}

/// The decoded text of the encoded word at the start of `text`, and its length.
fn encoded_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let encoded = &inner[..end];
    let length = text.len() - inner.len() + end + 2;
    let bytes = match encoding {
        "B" | "b" => BASE64.decode(encoded).ok()?,
        "Q" | "q" => decode_quoted_printable(&encoded.replace('_', " ")),
        _ => return None,
    };
    Some((String::from_utf8_lossy(&bytes).into_owned(), length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_messages_come_apart() {
        let raw = "Subject: =?utf-8?b?SsO2cmc=?= =?utf-8?q?_M=C3=BCller?=\r\n\
                   Content-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n\
                   \r\n\
                   preamble\r\n\
                   --outer\r\n\
                   Content-Type: multipart/alternative; boundary=inner\r\n\
                   \r\n\
                   --inner\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\
                   \r\n\
                   Gr=C3=BC=C3=9Fe, a long line that was=\r\n\
                   \x20soft broken\r\n\
                   --inner\r\n\
                   Content-Type: text/calendar; method=CANCEL; charset=UTF-8\r\n\
                   Content-Transfer-Encoding: base64\r\n\
                   \r\n\
                   QkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n\
                   --inner--\r\n\
                   --outer\r\n\
                   Content-Type: application/ics; name=\"invite.ics\"\r\n\
                   \r\n\
                   x\r\n\
                   --outer--\r\n";
        let message = MimeMessage::parse(raw);
        assert_eq!(message.header("subject").unwrap(), "Jörg Müller");
        assert_eq!(message.parts.len(), 3);
        assert_eq!(
            message.parts[0].body,
            "Grüße, a long line that was soft broken"
        );
        let calendar = message.part("text/calendar").unwrap();
        assert_eq!(calendar.content_type_param("method").unwrap(), "CANCEL");
        assert_eq!(calendar.body, "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
        assert_eq!(message.parts[2].body, "x");
        assert_eq!(
            message.parts[2].content_type_param("name").unwrap(),
            "invite.ics"
        );
    }

    #[test]
    fn paths_are_read_from_mail_and_rcpt() {
        assert_eq!(
            path_argument("FROM:<a@b.example> SIZE=10", "FROM:").unwrap(),
            "a@b.example"
        );
        assert_eq!(path_argument("to: <c@d>", "TO:").unwrap(), "c@d");
        assert!(path_argument("TO c@d", "TO:").is_none());
    }
}
