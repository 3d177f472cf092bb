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
    /// Mark session cookies `Secure` (set when serving behind TLS).
    pub cookie_secure: bool,
    /// Send `Strict-Transport-Security` with this max-age (only behind TLS); 0 = off.
    pub hsts_max_age_seconds: u64,
    /// Take the client address for login throttling from `X-Forwarded-For` (only
    /// behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Largest JSON body accepted, in bytes.
    pub max_body_bytes: usize,
    /// A client must send its request headers within this many seconds.
    pub header_timeout_seconds: u64,
    /// Largest request head (request line and headers), in bytes (at least 8192).
    pub max_header_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://carebook.db".into(),
            database_pool_size: 8,
            clinic_time_zone: "Europe/Berlin".into(),
            clinic_name: "carebook clinic".into(),
            session_ttl_hours: 24,
            login_max_failures_per_account: 5,
            login_max_failures_per_client: 20,
            login_window_minutes: 15,
            cookie_secure: false,
            hsts_max_age_seconds: 0,
            trust_forwarded_for: false,
            max_body_bytes: 1024 * 1024,
            header_timeout_seconds: 10,
            max_header_bytes: 16 * 1024,
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

impl Settings {
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
            "cookie_secure" => self.cookie_secure = parse(name, value)?,
            "hsts_max_age_seconds" => self.hsts_max_age_seconds = parse(name, value)?,
            "trust_forwarded_for" => self.trust_forwarded_for = parse(name, value)?,
            "max_body_bytes" => self.max_body_bytes = parse(name, value)?,
            "header_timeout_seconds" => self.header_timeout_seconds = parse(name, value)?,
            "max_header_bytes" => self.max_header_bytes = parse(name, value)?,
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
        if !(1..=300).contains(&self.header_timeout_seconds) {
            return invalid("header_timeout_seconds", "must be between 1 and 300");
        }
        if !(8192..=1024 * 1024).contains(&self.max_header_bytes) {
            return invalid("max_header_bytes", "must be between 8192 and 1048576");
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes", "must be at least 1024");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
