//! Settings: safe defaults, overridden by `carebook.toml`, overridden by `CAREBOOK_*`
//! environment variables, overridden by command-line flags.

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub database_url: String,
    /// PostgreSQL only: connections (and store threads) per instance.
    pub database_pool_size: usize,
    /// How long a doctor's availability held in memory is trusted before it is read
    /// again (changes arrive sooner: this bounds what a missed one could cost);
    /// 0 turns the in-memory availability off.
    pub availability_cache_seconds: u64,
    /// IANA zone of the clinic: the default zone of new doctors' schedules.
    pub clinic_time_zone: String,
    pub clinic_name: String,
    /// How long a login token stays valid.
    pub session_ttl_hours: i64,
    /// Failed logins for one account within the window before it is throttled.
    pub login_max_failures_per_account: i64,
    /// Failed logins from one client address within the window before it is throttled.
    pub login_max_failures_per_client: i64,
    pub login_window_minutes: i64,
    /// Self-registered patients must confirm their email address (a link by email)
    /// before they can book; they can sign in meanwhile.
    pub email_verification: bool,
    /// Doctors, receptionists and admins must turn on two-factor authentication:
    /// until they do, their sessions reach only the two-factor setup.
    pub require_staff_2fa: bool,
    /// Mark session cookies `Secure` (set when serving behind TLS).
    pub cookie_secure: bool,
    /// Send `Strict-Transport-Security` with this max-age (only behind TLS); 0 = off.
    pub hsts_max_age_seconds: u64,
    /// Proxies (addresses or CIDRs such as `10.0.0.0/8`) whose `X-Forwarded-For`
    /// names the client: the client address (for rate limits and login throttling)
    /// is taken from that header only when the TCP peer is one of these.
    pub trusted_proxies: Vec<String>,
    /// Deprecated: `true` trusts `X-Forwarded-For` from any peer (as before
    /// `trusted_proxies` existed); a warning is logged at start. Use `trusted_proxies`.
    pub trust_forwarded_for: bool,
    /// Largest JSON body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest web form body accepted, in bytes.
    pub max_form_bytes: usize,
    /// Deepest nesting of arrays and objects accepted in a JSON body.
    pub max_json_depth: usize,
    /// A client must send the whole request body within this many seconds of its
    /// headers.
    pub body_timeout_seconds: u64,
    /// API requests per minute per bearer token or session (bursts up to the same
    /// number); 0 = no limit. Per instance.
    pub rate_limit_per_token_per_minute: u32,
    /// API requests per minute per client address; 0 = no limit. Per instance.
    pub rate_limit_per_address_per_minute: u32,
    /// Requests per minute per client address to the sign-in, registration and
    /// password-reset endpoints; 0 = no limit. Per instance.
    pub rate_limit_auth_per_address_per_minute: u32,
    /// A client must send its request headers within this many seconds.
    pub header_timeout_seconds: u64,
    /// Largest request head (request line and headers), in bytes (at least 8192).
    pub max_header_bytes: usize,
    /// Where people reach this clinic's carebook: the base of links in messages.
    pub public_url: String,
    /// The meeting link of a video visit: `{room}` is replaced by the visit's
    /// unguessable room name (see docs/VIDEO.md).
    pub video_url_template: String,
    /// Chat messages a user may send per minute (REST and WebSocket together,
    /// counted in the database, so across instances); 0 = no limit.
    pub chat_messages_per_minute: u32,
    /// Origins besides `public_url` whose pages may open the live WebSocket
    /// (`https://app.clinic.example`); a request without `Origin` (a non-browser
    /// client) is always accepted.
    pub live_allowed_origins: Vec<String>,
    /// Days a live event is kept for clients to replay after a reconnect; a client
    /// further behind is told it missed some and reloads. 0 = keep them all.
    pub live_event_retention_days: u32,
    /// Seconds between the live channel's pings: a socket that missed one pong, or
    /// whose session ended (sign-out, expiry, deactivation), is closed at the next.
    pub live_ping_seconds: u64,
    /// Without SMTP, emails are written here as `.eml` files instead of sent.
    pub mail_dir: String,
    /// A folder whose files override the built-in message templates of the same name.
    pub template_dir: Option<String>,
    /// Where uploaded files' bytes go: a folder (created if missing), or
    /// `s3://bucket/prefix` for S3 or any S3-compatible service, configured by the
    /// usual `AWS_*` variables (see docs/ATTACHMENTS.md). Empty: a folder beside the
    /// SQLite database (`carebook.db` -> `carebook-files`), or `carebook-files` in
    /// the working directory with PostgreSQL ([`Settings::attachment_location`]).
    pub attachment_store: String,
    /// Largest uploaded file accepted, in bytes.
    pub attachment_max_bytes: usize,
    /// Sign-in with OpenID Connect: the provider's issuer (its discovery document is
    /// `{issuer}/.well-known/openid-configuration`). Empty: Google
    /// (`https://accounts.google.com`). Must be https, except on loopback.
    pub oidc_issuer: Option<String>,
    /// The client id this clinic registered at the provider; sign-in with the
    /// provider is off without one.
    pub oidc_client_id: Option<String>,
    /// The client secret (never logged, never shown).
    pub oidc_client_secret: Option<Secret>,
    /// Doctors, receptionists and admins may sign in with the provider too
    /// (staff with two-factor authentication still give their code).
    pub oidc_staff_allowed: bool,
    /// E-mail the account's owner when it signs in (password or provider) from a
    /// client address it had not signed in from before.
    pub new_sign_in_email: bool,
    /// Stripe's secret key (`sk_live_...`/`sk_test_...`); doctors may take fees
    /// online only with one (and the webhook secret). Never logged, never shown.
    pub stripe_secret_key: Option<Secret>,
    /// The signing secret of the clinic's Stripe webhook endpoint (`whsec_...`).
    pub stripe_webhook_secret: Option<Secret>,
    /// Stripe's API, or a stand-in for tests. https, except on loopback.
    pub stripe_api_base: String,
    /// How long a booking waits for its online payment before the slot is freed.
    pub payment_hold_minutes: i64,
    /// A patient who cancels at least this many hours before the start has a fee
    /// paid online refunded; a later cancellation keeps it. The clinic's rejections
    /// and cancellations always refund.
    pub payment_refund_window_hours: i64,
    pub smtp: SmtpSettings,
    pub twilio: TwilioSettings,
    pub webhook: WebhookSettings,
    pub sns: SnsSettings,
    pub reminders: ReminderSettings,
    pub outbox: OutboxSettings,
}

/// `[smtp]`: how email leaves. With no host, email goes to `mail_dir`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: Option<String>,
    /// Default: 25 without TLS, 587 with STARTTLS, 465 with TLS.
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: SmtpTls,
    /// The `From:` of every email, e.g. `Clinic <no-reply@clinic.example>`.
    pub from: String,
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

impl SmtpTls {
    fn parse(value: &str) -> Option<SmtpTls> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(SmtpTls::None),
            "starttls" => Some(SmtpTls::Starttls),
            "tls" => Some(SmtpTls::Tls),
            _ => None,
        }
    }
}

impl SmtpSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: None,
            port: None,
            username: None,
            password: None,
            tls: SmtpTls::Starttls,
            from: "carebook <no-reply@carebook.invalid>".into(),
            timeout_seconds: 30,
        }
    }
}

/// `[twilio]`: text messages through Twilio's REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioSettings {
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    /// The sender: an E.164 number or a messaging service SID.
    pub from: Option<String>,
    pub base_url: String,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        TwilioSettings {
            account_sid: None,
            auth_token: None,
            from: None,
            base_url: "https://api.twilio.com".into(),
        }
    }
}

impl TwilioSettings {
    pub fn is_configured(&self) -> bool {
        self.account_sid.is_some() && self.auth_token.is_some() && self.from.is_some()
    }
}

/// `[webhook]`: the clinic's endpoints that receive every event, signed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// HTTPS URLs (plain HTTP only to loopback, for development).
    pub urls: Vec<String>,
    /// The HMAC-SHA256 key receivers verify signatures with.
    pub secret: Option<String>,
}

/// `[sns]`: every event published to an Amazon SNS topic.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnsSettings {
    pub topic_arn: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Default: `https://sns.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
}

impl SnsSettings {
    pub fn is_configured(&self) -> bool {
        self.topic_arn.is_some()
            && self.region.is_some()
            && self.access_key_id.is_some()
            && self.secret_access_key.is_some()
    }

    pub fn endpoint(&self) -> String {
        match (&self.endpoint, &self.region) {
            (Some(endpoint), _) => endpoint.trim_end_matches('/').to_owned(),
            (None, Some(region)) => format!("https://sns.{region}.amazonaws.com"),
            (None, None) => String::new(),
        }
    }
}

/// `[reminders]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReminderSettings {
    /// Reminders go this many minutes before each live appointment.
    pub offsets_minutes: Vec<i64>,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        ReminderSettings {
            offsets_minutes: vec![24 * 60, 60],
        }
    }
}

/// `[outbox]`: how the delivery worker claims and retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxSettings {
    /// Run the delivery worker inside `serve` (turn off when `carebook worker` runs
    /// as a process of its own).
    pub worker: bool,
    /// The first retry comes within this many seconds; each next one waits twice as
    /// long, with jitter, up to `retry_max_seconds`.
    pub retry_first_seconds: u64,
    pub retry_max_seconds: u64,
    /// Attempts before a delivery is marked dead.
    pub max_attempts: u32,
    /// A claimed delivery not finished within this many seconds is claimed again.
    pub lease_seconds: u64,
    pub poll_interval_ms: u64,
    pub batch_size: u32,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            worker: true,
            retry_first_seconds: 30,
            retry_max_seconds: 3600,
            max_attempts: 10,
            lease_seconds: 120,
            poll_interval_ms: 1000,
            batch_size: 20,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://carebook.db".into(),
            database_pool_size: 8,
            availability_cache_seconds: 60,
            clinic_time_zone: "Europe/Berlin".into(),
            clinic_name: "carebook clinic".into(),
            session_ttl_hours: 24,
            login_max_failures_per_account: 5,
            login_max_failures_per_client: 20,
            login_window_minutes: 15,
            email_verification: false,
            require_staff_2fa: false,
            cookie_secure: false,
            hsts_max_age_seconds: 0,
            trusted_proxies: Vec::new(),
            trust_forwarded_for: false,
            max_body_bytes: 1024 * 1024,
            max_form_bytes: 128 * 1024,
            max_json_depth: 32,
            body_timeout_seconds: 30,
            rate_limit_per_token_per_minute: 600,
            rate_limit_per_address_per_minute: 1200,
            rate_limit_auth_per_address_per_minute: 60,
            header_timeout_seconds: 10,
            max_header_bytes: 16 * 1024,
            public_url: "http://127.0.0.1:8080".into(),
            video_url_template: "https://meet.jit.si/{room}".into(),
            chat_messages_per_minute: 30,
            live_allowed_origins: Vec::new(),
            live_event_retention_days: 30,
            live_ping_seconds: 30,
            mail_dir: "mail".into(),
            template_dir: None,
            attachment_store: String::new(),
            attachment_max_bytes: 10 * 1024 * 1024,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_staff_allowed: false,
            new_sign_in_email: false,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: "https://api.stripe.com".into(),
            payment_hold_minutes: carebook_domain::payment::DEFAULT_HOLD_MINUTES,
            payment_refund_window_hours: carebook_domain::payment::DEFAULT_REFUND_WINDOW_HOURS,
            smtp: SmtpSettings::default(),
            twilio: TwilioSettings::default(),
            webhook: WebhookSettings::default(),
            sns: SnsSettings::default(),
            reminders: ReminderSettings::default(),
            outbox: OutboxSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: String, message: String },
}

/// Google, the provider when only a client id is configured.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// A setting that must never be printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Settings {
    /// Doctors may take fees online once Stripe's keys are configured.
    pub fn online_payments_enabled(&self) -> bool {
        self.stripe_secret_key.is_some() && self.stripe_webhook_secret.is_some()
    }

    /// Sign-in with OpenID Connect is on once a client id is configured.
    pub fn oidc_enabled(&self) -> bool {
        self.oidc_client_id.is_some()
    }

    /// The configured issuer, or Google's.
    pub fn oidc_issuer(&self) -> &str {
        self.oidc_issuer.as_deref().unwrap_or(GOOGLE_ISSUER)
    }

    /// Where the provider sends the browser back: `{public_url}/auth/oidc/callback`.
    pub fn oidc_redirect_uri(&self) -> String {
        format!(
            "{}/auth/oidc/callback",
            self.public_url.trim_end_matches('/')
        )
    }

    /// Where attachments go: `attachment_store`, or by default a folder beside the
    /// SQLite database, so that the database and its files live (and are backed up)
    /// together.
    pub fn attachment_location(&self) -> String {
        let configured = self.attachment_store.trim();
        if !configured.is_empty() {
            return configured.to_owned();
        }
        let url = self.database_url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return "carebook-files".to_owned();
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = std::path::Path::new(path);
        let stem = path
            .file_stem()
            .map_or("carebook".into(), |stem| stem.to_string_lossy());
        path.with_file_name(format!("{stem}-files"))
            .display()
            .to_string()
    }

    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_timeout_seconds)
    }

    /// Defaults, then the file (if it exists), then the environment.
    pub fn load(
        file: &Path,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let mut settings = match std::fs::read_to_string(file) {
            Ok(text) => toml::from_str(&text).map_err(|e| SettingsError::Read {
                path: file.display().to_string(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => {
                return Err(SettingsError::Read {
                    path: file.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        for (name, value) in env {
            if let Some(key) = name.strip_prefix("CAREBOOK_") {
                settings.apply(&key.to_lowercase(), &value, &name)?;
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    fn apply(&mut self, key: &str, value: &str, name: &str) -> Result<(), SettingsError> {
        fn some(value: &str) -> Option<String> {
            Some(value.trim().to_owned()).filter(|v| !v.is_empty())
        }
        fn list(value: &str) -> Vec<String> {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        }
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, SettingsError> {
            value.trim().parse().map_err(|_| SettingsError::Invalid {
                name: name.to_owned(),
                message: format!("cannot parse {value:?}"),
            })
        }
        match key {
            "listen" => self.listen = value.to_owned(),
            "database_url" => self.database_url = value.to_owned(),
            "database_pool_size" => self.database_pool_size = parse(name, value)?,
            "clinic_time_zone" => self.clinic_time_zone = value.to_owned(),
            "clinic_name" => self.clinic_name = value.to_owned(),
            "session_ttl_hours" => self.session_ttl_hours = parse(name, value)?,
            "login_max_failures_per_account" => {
                self.login_max_failures_per_account = parse(name, value)?
            }
            "login_max_failures_per_client" => {
                self.login_max_failures_per_client = parse(name, value)?
            }
            "login_window_minutes" => self.login_window_minutes = parse(name, value)?,
            "availability_cache_seconds" => self.availability_cache_seconds = parse(name, value)?,
            "email_verification" => self.email_verification = parse(name, value)?,
            "require_staff_2fa" => self.require_staff_2fa = parse(name, value)?,
            "cookie_secure" => self.cookie_secure = parse(name, value)?,
            "hsts_max_age_seconds" => self.hsts_max_age_seconds = parse(name, value)?,
            "trust_forwarded_for" => self.trust_forwarded_for = parse(name, value)?,
            "trusted_proxies" => self.trusted_proxies = list(value),
            "max_body_bytes" => self.max_body_bytes = parse(name, value)?,
            "max_form_bytes" => self.max_form_bytes = parse(name, value)?,
            "max_json_depth" => self.max_json_depth = parse(name, value)?,
            "body_timeout_seconds" => self.body_timeout_seconds = parse(name, value)?,
            "rate_limit_per_token_per_minute" => {
                self.rate_limit_per_token_per_minute = parse(name, value)?
            }
            "rate_limit_per_address_per_minute" => {
                self.rate_limit_per_address_per_minute = parse(name, value)?
            }
            "rate_limit_auth_per_address_per_minute" => {
                self.rate_limit_auth_per_address_per_minute = parse(name, value)?
            }
            "header_timeout_seconds" => self.header_timeout_seconds = parse(name, value)?,
            "max_header_bytes" => self.max_header_bytes = parse(name, value)?,
            "public_url" => self.public_url = value.to_owned(),
            "video_url_template" => self.video_url_template = value.trim().to_owned(),
            "chat_messages_per_minute" => self.chat_messages_per_minute = parse(name, value)?,
            "live_allowed_origins" => self.live_allowed_origins = list(value),
            "live_event_retention_days" => self.live_event_retention_days = parse(name, value)?,
            "live_ping_seconds" => self.live_ping_seconds = parse(name, value)?,
            "mail_dir" => self.mail_dir = value.to_owned(),
            "template_dir" => self.template_dir = some(value),
            "attachment_store" => self.attachment_store = value.to_owned(),
            "attachment_max_bytes" => self.attachment_max_bytes = parse(name, value)?,
            "oidc_issuer" => self.oidc_issuer = some(value),
            "oidc_client_id" => self.oidc_client_id = some(value),
            "oidc_client_secret" => self.oidc_client_secret = some(value).map(Secret),
            "oidc_staff_allowed" => self.oidc_staff_allowed = parse(name, value)?,
            "new_sign_in_email" => self.new_sign_in_email = parse(name, value)?,
            "stripe_secret_key" => self.stripe_secret_key = some(value).map(Secret),
            "stripe_webhook_secret" => self.stripe_webhook_secret = some(value).map(Secret),
            "stripe_api_base" => self.stripe_api_base = value.trim().to_owned(),
            "payment_hold_minutes" => self.payment_hold_minutes = parse(name, value)?,
            "payment_refund_window_hours" => self.payment_refund_window_hours = parse(name, value)?,
            "smtp_host" => self.smtp.host = some(value),
            "smtp_port" => self.smtp.port = Some(parse(name, value)?),
            "smtp_username" => self.smtp.username = some(value),
            "smtp_password" => self.smtp.password = some(value),
            "smtp_tls" => {
                self.smtp.tls = SmtpTls::parse(value).ok_or_else(|| SettingsError::Invalid {
                    name: name.to_owned(),
                    message: "must be none, starttls or tls".into(),
                })?
            }
            "smtp_from" => self.smtp.from = value.to_owned(),
            "smtp_timeout_seconds" => self.smtp.timeout_seconds = parse(name, value)?,
            "twilio_account_sid" => self.twilio.account_sid = some(value),
            "twilio_auth_token" => self.twilio.auth_token = some(value),
            "twilio_from" => self.twilio.from = some(value),
            "twilio_base_url" => self.twilio.base_url = value.to_owned(),
            "webhook_urls" => self.webhook.urls = list(value),
            "webhook_secret" => self.webhook.secret = some(value),
            "sns_topic_arn" => self.sns.topic_arn = some(value),
            "sns_region" => self.sns.region = some(value),
            "sns_access_key_id" => self.sns.access_key_id = some(value),
            "sns_secret_access_key" => self.sns.secret_access_key = some(value),
            "sns_session_token" => self.sns.session_token = some(value),
            "sns_endpoint" => self.sns.endpoint = some(value),
            "reminders_offsets_minutes" => {
                self.reminders.offsets_minutes = list(value)
                    .iter()
                    .map(|v| parse(name, v))
                    .collect::<Result<_, _>>()?
            }
            "outbox_worker" => self.outbox.worker = parse(name, value)?,
            "outbox_retry_first_seconds" => self.outbox.retry_first_seconds = parse(name, value)?,
            "outbox_retry_max_seconds" => self.outbox.retry_max_seconds = parse(name, value)?,
            "outbox_max_attempts" => self.outbox.max_attempts = parse(name, value)?,
            "outbox_lease_seconds" => self.outbox.lease_seconds = parse(name, value)?,
            "outbox_poll_interval_ms" => self.outbox.poll_interval_ms = parse(name, value)?,
            "outbox_batch_size" => self.outbox.batch_size = parse(name, value)?,
            // Other CAREBOOK_* variables belong to other tools (e.g. CAREBOOK_CONFIG).
            _ => {}
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |name: &str, message: &str| {
            Err(SettingsError::Invalid {
                name: name.to_owned(),
                message: message.to_owned(),
            })
        };
        if jiff::tz::TimeZone::get(&self.clinic_time_zone).is_err() {
            return invalid("clinic_time_zone", "is not an IANA time zone");
        }
        if !(1..=24 * 90).contains(&self.session_ttl_hours) {
            return invalid("session_ttl_hours", "must be between 1 and 2160");
        }
        if self.login_max_failures_per_account < 1 || self.login_max_failures_per_client < 1 {
            return invalid("login_max_failures_*", "must be at least 1");
        }
        if !(1..=24 * 60).contains(&self.login_window_minutes) {
            return invalid("login_window_minutes", "must be between 1 and 1440");
        }
        if !(1..=256).contains(&self.database_pool_size) {
            return invalid("database_pool_size", "must be between 1 and 256");
        }
        if self.availability_cache_seconds > 24 * 3600 {
            return invalid("availability_cache_seconds", "must be at most 86400");
        }
        if !(1..=300).contains(&self.live_ping_seconds) {
            return invalid("live_ping_seconds", "must be between 1 and 300");
        }
        if !(1..=300).contains(&self.header_timeout_seconds) {
            return invalid("header_timeout_seconds", "must be between 1 and 300");
        }
        if !(8192..=1024 * 1024).contains(&self.max_header_bytes) {
            return invalid("max_header_bytes", "must be between 8192 and 1048576");
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes", "must be at least 1024");
        }
        if self.max_form_bytes < 1024 {
            return invalid("max_form_bytes", "must be at least 1024");
        }
        if !(4..=1000).contains(&self.max_json_depth) {
            return invalid("max_json_depth", "must be between 4 and 1000");
        }
        if !(1..=1024 * 1024 * 1024).contains(&self.attachment_max_bytes) {
            return invalid("attachment_max_bytes", "must be between 1 and 1073741824");
        }
        if !(1..=3600).contains(&self.body_timeout_seconds) {
            return invalid("body_timeout_seconds", "must be between 1 and 3600");
        }
        for proxy in &self.trusted_proxies {
            if proxy.parse::<crate::http::limits::Cidr>().is_err() {
                return invalid(
                    "trusted_proxies",
                    "each must be an IP address or a CIDR such as 10.0.0.0/8 or fd00::/8",
                );
            }
        }
        if self.trust_forwarded_for && !self.trusted_proxies.is_empty() {
            return invalid(
                "trust_forwarded_for",
                "is replaced by trusted_proxies: set only trusted_proxies",
            );
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return invalid("public_url", "must start with http:// or https://");
        }
        if self.oidc_client_secret.is_some() && self.oidc_client_id.is_none() {
            return invalid("oidc_client_secret", "needs oidc_client_id");
        }
        if self.oidc_client_id.is_some() && !is_issuer_url(self.oidc_issuer()) {
            return invalid(
                "oidc_issuer",
                "must be an https:// URL without query or fragment (http:// only to localhost, 127.0.0.1 or [::1])",
            );
        }
        if self.oidc_client_id.is_some()
            && self.public_url.trim_end_matches('/').contains(['?', '#'])
        {
            return invalid("public_url", "must not carry a query or fragment");
        }

        if self.stripe_secret_key.is_some() != self.stripe_webhook_secret.is_some() {
            return invalid(
                "stripe_webhook_secret",
                "stripe_secret_key and stripe_webhook_secret go together",
            );
        }
        if !is_issuer_url(&self.stripe_api_base) {
            return invalid(
                "stripe_api_base",
                "must be an https:// URL without query or fragment (http:// only to localhost, 127.0.0.1 or [::1])",
            );
        }
        if !(5..=24 * 60).contains(&self.payment_hold_minutes) {
            return invalid("payment_hold_minutes", "must be between 5 and 1440");
        }
        if !(0..=24 * 30).contains(&self.payment_refund_window_hours) {
            return invalid("payment_refund_window_hours", "must be between 0 and 720");
        }
        if let Err(message) = check_video_url_template(&self.video_url_template) {
            return invalid("video_url_template", message);
        }
        if self.smtp.host.is_some() && self.smtp.username.is_some() != self.smtp.password.is_some()
        {
            return invalid("smtp", "username and password go together");
        }
        if self.smtp.from.trim().is_empty() {
            return invalid("smtp_from", "is required");
        }
        if !(1..=600).contains(&self.smtp.timeout_seconds) {
            return invalid("smtp_timeout_seconds", "must be between 1 and 600");
        }
        for url in &self.webhook.urls {
            if !is_webhook_url(url) {
                return invalid(
                    "webhook_urls",
                    "must be https:// URLs (http:// only to localhost or 127.0.0.1)",
                );
            }
        }
        if !self.webhook.urls.is_empty() && self.webhook.secret.is_none() {
            return invalid("webhook_secret", "is required when webhook_urls are set");
        }
        if self
            .reminders
            .offsets_minutes
            .iter()
            .any(|m| !(1..=60 * 24 * 30).contains(m))
        {
            return invalid("reminders_offsets_minutes", "each must be 1 to 43200");
        }
        let outbox = &self.outbox;
        if outbox.retry_first_seconds < 1 || outbox.retry_max_seconds < outbox.retry_first_seconds {
            return invalid(
                "outbox_retry_*",
                "retry_first_seconds must be at least 1 and at most retry_max_seconds",
            );
        }
        if !(1..=100).contains(&outbox.max_attempts) {
            return invalid("outbox_max_attempts", "must be between 1 and 100");
        }
        if !(1..=3600).contains(&outbox.lease_seconds) {
            return invalid("outbox_lease_seconds", "must be between 1 and 3600");
        }
        if !(10..=60_000).contains(&outbox.poll_interval_ms) {
            return invalid("outbox_poll_interval_ms", "must be between 10 and 60000");
        }
        if !(1..=1000).contains(&outbox.batch_size) {
            return invalid("outbox_batch_size", "must be between 1 and 1000");
        }
        Ok(())
    }
}

/// An issuer: https, or http to a loopback host (tests and development); no
/// query or fragment, since the discovery path is appended to it.
fn is_issuer_url(url: &str) -> bool {
    !url.contains(['?', '#', ' ']) && is_webhook_url(url)
}

/// https, or http to a loopback host: what carebook calls out to (webhooks, an
/// OpenID provider's endpoints).
pub(crate) fn is_secure_url(url: &str) -> bool {
    is_webhook_url(url)
}

/// A video link template is an http(s) URL with a host, no spaces, and `{room}`
/// after the host: without it every visit would share one room.
fn check_video_url_template(template: &str) -> Result<(), &'static str> {
    let rest = template
        .strip_prefix("https://")
        .or_else(|| template.strip_prefix("http://"))
        .ok_or("must be an http:// or https:// URL")?;
    if template.chars().any(char::is_whitespace) {
        return Err("must not contain spaces");
    }
    let (host, after_host) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if host.is_empty() || host.contains(['{', '}']) {
        return Err("must name the video service's host");
    }
    if !after_host.contains("{room}") {
        return Err("must contain {room} (after the host), e.g. https://meet.jit.si/{room}");
    }
    Ok(())
}

fn is_webhook_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    match scheme {
        "https" => !host.is_empty(),
        "http" => matches!(host, "localhost" | "127.0.0.1" | "::1"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_live_beside_the_sqlite_database_unless_told_otherwise() {
        let at = |database_url: &str, attachment_store: &str| {
            Settings {
                database_url: database_url.into(),
                attachment_store: attachment_store.into(),
                ..Settings::default()
            }
            .attachment_location()
        };
        assert_eq!(at("sqlite://carebook.db", ""), "carebook-files");
        assert_eq!(
            at("sqlite:///var/lib/carebook/clinic.db", ""),
            "/var/lib/carebook/clinic-files"
        );
        assert_eq!(at("/data/x.sqlite", " "), "/data/x-files");
        assert_eq!(at("postgres://db/carebook", ""), "carebook-files");
        assert_eq!(
            at("postgres://db/carebook", "s3://bucket/clinic"),
            "s3://bucket/clinic"
        );
        assert_eq!(at("sqlite://carebook.db", "/srv/files"), "/srv/files");
    }

    #[test]
    fn environment_overrides_defaults_and_bad_values_are_named() {
        let env = vec![
            ("CAREBOOK_LISTEN".to_owned(), "0.0.0.0:9000".to_owned()),
            ("CAREBOOK_LOGIN_WINDOW_MINUTES".to_owned(), "30".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let settings =
            Settings::load(Path::new("/nonexistent/carebook.toml"), env.into_iter()).unwrap();
        assert_eq!(settings.listen, "0.0.0.0:9000");
        assert_eq!(settings.login_window_minutes, 30);
        assert_eq!(settings.session_ttl_hours, 24);

        let bad = vec![("CAREBOOK_SESSION_TTL_HOURS".to_owned(), "soon".to_owned())];
        let error = Settings::load(Path::new("/nonexistent"), bad.into_iter()).unwrap_err();
        assert!(error.to_string().contains("CAREBOOK_SESSION_TTL_HOURS"));
    }

    #[test]
    fn limits_and_trusted_proxies_are_read_and_checked() {
        let load = |pairs: &[(&str, &str)]| {
            let env: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Settings::load(Path::new("/nonexistent"), env.into_iter())
        };
        let settings = load(&[
            ("CAREBOOK_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,fd00::/8"),
            ("CAREBOOK_RATE_LIMIT_PER_TOKEN_PER_MINUTE", "0"),
            ("CAREBOOK_MAX_JSON_DEPTH", "16"),
        ])
        .unwrap();
        assert_eq!(
            settings.trusted_proxies,
            ["10.0.0.0/8", "127.0.0.1", "fd00::/8"]
        );
        assert_eq!(settings.rate_limit_per_token_per_minute, 0);
        assert_eq!(settings.rate_limit_per_address_per_minute, 1200);
        assert_eq!(settings.max_json_depth, 16);
        let refused = |pairs: &[(&str, &str)]| load(pairs).unwrap_err().to_string();
        assert!(
            refused(&[("CAREBOOK_TRUSTED_PROXIES", "proxy.internal")]).contains("trusted_proxies")
        );
        assert!(
            refused(&[("CAREBOOK_TRUSTED_PROXIES", "10.0.0.0/40")]).contains("trusted_proxies")
        );
        assert!(
            refused(&[
                ("CAREBOOK_TRUSTED_PROXIES", "10.0.0.1"),
                ("CAREBOOK_TRUST_FORWARDED_FOR", "true"),
            ])
            .contains("trust_forwarded_for")
        );
        assert!(refused(&[("CAREBOOK_MAX_JSON_DEPTH", "2")]).contains("max_json_depth"));
        assert!(refused(&[("CAREBOOK_LIVE_PING_SECONDS", "0")]).contains("live_ping_seconds"));
        assert!(refused(&[("CAREBOOK_BODY_TIMEOUT_SECONDS", "0")]).contains("body_timeout"));
        // The old switch alone still works, meaning "trust every peer".
        let old = load(&[("CAREBOOK_TRUST_FORWARDED_FOR", "true")]).unwrap();
        let trust = crate::http::limits::ProxyTrust::from_settings(&old);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.4".parse().unwrap());
        assert_eq!(
            trust.client_ip("203.0.113.1".parse().unwrap(), &headers),
            "198.51.100.4".parse::<std::net::IpAddr>().unwrap()
        );
    }

    #[test]
    fn oidc_settings_are_read_checked_and_the_secret_is_never_printed() {
        let load = |pairs: &[(&str, &str)]| {
            let env: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Settings::load(Path::new("/nonexistent"), env.into_iter())
        };
        let off = load(&[]).unwrap();
        assert!(!off.oidc_enabled());
        assert!(!off.oidc_staff_allowed);
        assert!(!off.new_sign_in_email);
        assert!(
            load(&[("CAREBOOK_NEW_SIGN_IN_EMAIL", "true")])
                .unwrap()
                .new_sign_in_email
        );
        let google = load(&[
            ("CAREBOOK_OIDC_CLIENT_ID", "123.apps.googleusercontent.com"),
            ("CAREBOOK_OIDC_CLIENT_SECRET", "very-secret-value"),
            ("CAREBOOK_PUBLIC_URL", "https://book.clinic.example/"),
        ])
        .unwrap();
        assert!(google.oidc_enabled());
        assert_eq!(google.oidc_issuer(), "https://accounts.google.com");
        assert_eq!(
            google.oidc_redirect_uri(),
            "https://book.clinic.example/auth/oidc/callback"
        );
        assert!(!format!("{google:?}").contains("very-secret-value"));
        let local = load(&[
            ("CAREBOOK_OIDC_CLIENT_ID", "carebook"),
            ("CAREBOOK_OIDC_ISSUER", "http://127.0.0.1:5556/dex"),
            ("CAREBOOK_OIDC_STAFF_ALLOWED", "true"),
        ])
        .unwrap();
        assert_eq!(local.oidc_issuer(), "http://127.0.0.1:5556/dex");
        assert!(local.oidc_staff_allowed);
        let refused = |pairs: &[(&str, &str)]| load(pairs).unwrap_err().to_string();
        for issuer in [
            "http://idp.example",
            "ftp://idp.example",
            "https://idp.example?x=1",
            "idp.example",
        ] {
            assert!(
                refused(&[
                    ("CAREBOOK_OIDC_CLIENT_ID", "c"),
                    ("CAREBOOK_OIDC_ISSUER", issuer)
                ])
                .contains("oidc_issuer"),
                "{issuer}"
            );
        }
        assert!(refused(&[("CAREBOOK_OIDC_CLIENT_SECRET", "s")]).contains("oidc_client_secret"));
        assert!(
            refused(&[
                ("CAREBOOK_OIDC_CLIENT_ID", "c"),
                ("CAREBOOK_OIDC_STAFF_ALLOWED", "maybe")
            ])
            .contains("CAREBOOK_OIDC_STAFF_ALLOWED")
        );
    }

    #[test]
    fn notification_settings_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carebook.toml");
        std::fs::write(
            &file,
            r#"
[smtp]
host = "smtp.clinic.example"
tls = "tls"
username = "mailer"
password = "from-file"
from = "Clinic <clinic@clinic.example>"

[reminders]
offsets_minutes = [2880, 120]
"#,
        )
        .unwrap();
        let env = vec![
            ("CAREBOOK_SMTP_PASSWORD".to_owned(), "from-env".to_owned()),
            ("CAREBOOK_TWILIO_ACCOUNT_SID".to_owned(), "AC1".to_owned()),
            ("CAREBOOK_TWILIO_AUTH_TOKEN".to_owned(), "t".to_owned()),
            ("CAREBOOK_TWILIO_FROM".to_owned(), "+15550001111".to_owned()),
            (
                "CAREBOOK_WEBHOOK_URLS".to_owned(),
                "https://a.example/h, http://127.0.0.1:9000/h".to_owned(),
            ),
            ("CAREBOOK_WEBHOOK_SECRET".to_owned(), "s".to_owned()),
            ("CAREBOOK_OUTBOX_MAX_ATTEMPTS".to_owned(), "3".to_owned()),
        ];
        let settings = Settings::load(&file, env.into_iter()).unwrap();
        assert_eq!(settings.smtp.host.as_deref(), Some("smtp.clinic.example"));
        assert_eq!(settings.smtp.tls, SmtpTls::Tls);
        assert_eq!(settings.smtp.port(), 465);
        assert_eq!(settings.smtp.password.as_deref(), Some("from-env"));
        assert!(settings.twilio.is_configured());
        assert_eq!(settings.webhook.urls.len(), 2);
        assert_eq!(settings.reminders.offsets_minutes, [2880, 120]);
        assert_eq!(settings.outbox.max_attempts, 3);

        let refused = |name: &str, value: &str| {
            let env = vec![(name.to_owned(), value.to_owned())];
            Settings::load(Path::new("/nonexistent"), env.into_iter()).unwrap_err()
        };
        assert!(
            refused("CAREBOOK_SMTP_TLS", "ssl")
                .to_string()
                .contains("CAREBOOK_SMTP_TLS")
        );
        assert!(
            refused("CAREBOOK_WEBHOOK_URLS", "http://hooks.example/h")
                .to_string()
                .contains("webhook_urls")
        );
        assert!(
            refused("CAREBOOK_REMINDERS_OFFSETS_MINUTES", "60,0")
                .to_string()
                .contains("reminders")
        );
        assert!(
            refused("CAREBOOK_PUBLIC_URL", "clinic.example")
                .to_string()
                .contains("public_url")
        );
    }

    #[test]
    fn the_video_link_template_must_be_a_web_address_with_a_room() {
        let load = |value: Option<&str>| {
            let env = value.map(|v| ("CAREBOOK_VIDEO_URL_TEMPLATE".to_owned(), v.to_owned()));
            Settings::load(Path::new("/nonexistent"), env.into_iter())
        };
        assert_eq!(
            load(None).unwrap().video_url_template,
            "https://meet.jit.si/{room}"
        );
        for good in [
            "https://video.clinic.example/{room}",
            "https://clinic.whereby.com/{room}?embed",
            "http://127.0.0.1:8443/rooms/{room}",
        ] {
            assert_eq!(load(Some(good)).unwrap().video_url_template, good);
        }
        for bad in [
            "https://meet.jit.si/carebook",
            "meet.jit.si/{room}",
            "ftp://meet.example/{room}",
            "https://{room}.meet.example/",
            "https:///{room}",
            "https://meet.example/{room} x",
        ] {
            let error = load(Some(bad)).unwrap_err().to_string();
            assert!(error.contains("video_url_template"), "{bad}: {error}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carebook.toml");
        std::fs::write(
            &file,
            "video_url_template = \"https://meet.example/x/{room}\"\n",
        )
        .unwrap();
        let settings = Settings::load(&file, std::iter::empty()).unwrap();
        assert_eq!(settings.video_url_template, "https://meet.example/x/{room}");
    }
}
