//! Text messages through Twilio's REST API.

use jiff::Timestamp;

use super::DeliveryError;
use super::http_call::{ERROR_BODY_LIMIT, describe_send_error, read_body_capped};
use crate::config::TwilioSettings;

pub struct TwilioSender {
    client: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl TwilioSender {
    /// `None` when Twilio is not configured.
    pub fn from_settings(
        settings: &TwilioSettings,
        client: reqwest::Client,
    ) -> Option<TwilioSender> {
        if !settings.is_configured() {
            return None;
        }
        let account_sid = settings.account_sid.clone()?;
        let messages_url = format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            settings.base_url.trim_end_matches('/')
        );
        Some(TwilioSender {
            client,
            messages_url,
            account_sid,
            auth_token: settings.auth_token.clone()?,
            from: settings.from.clone()?,
        })
    }

    /// `to` is E.164. `now` is unused: Twilio stamps the message itself.
    pub async fn send(&self, to: &str, body: &str, now: Timestamp) -> Result<(), DeliveryError> {
        let _ = now;
        // A messaging service picks the sending number itself, and Twilio wants
        // its SID in a field of its own.
        let sender_field = if self.from.starts_with("MG") {
            "MessagingServiceSid"
        } else {
            "From"
        };
        let form = [("To", to), (sender_field, &self.from), ("Body", body)];
        let response = self
            .client
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|error| {
                DeliveryError::retryable(format!("twilio: {}", describe_send_error(&error)))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = read_body_capped(response, ERROR_BODY_LIMIT).await;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(DeliveryError::retryable(format!(
                "twilio answered {}",
                status.as_u16()
            )));
        }
        // Twilio's `message` repeats the number, so only its numeric code is kept.
        Err(DeliveryError::permanent(match error_code(&answer) {
            Some(code) => format!("twilio refused the message: error {code}"),
            None => format!("twilio refused the message: HTTP {}", status.as_u16()),
        }))
    }
}

/// The numeric `code` of a Twilio error answer.
fn error_code(answer: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(answer).ok()?;
    let code = value.get("code")?;
    // A number in the documented answers; a string is tolerated but only digits
    // are let through, since the message is shown to admins.
    code.as_u64()
        .or_else(|| code.as_str().and_then(|text| text.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_twilio_errors() {
        let answer = br#"{"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
        assert_eq!(error_code(answer), Some(21211));
        assert_eq!(error_code(br#"{"code": "20003"}"#), Some(20003));
        assert_eq!(error_code(br#"{"code": "x+1555"}"#), None);
        assert_eq!(error_code(b"<html>bad gateway</html>"), None);
    }

    #[test]
    fn unconfigured_or_configured() {
        let client = crate::notify::http_client();
        assert!(TwilioSender::from_settings(&TwilioSettings::default(), client.clone()).is_none());
        let settings = TwilioSettings {
            account_sid: Some("AC123".into()),
            auth_token: Some("token".into()),
            from: Some("+15005550006".into()),
            base_url: "https://api.twilio.com/".into(),
        };
        let sender = TwilioSender::from_settings(&settings, client).unwrap();
        assert_eq!(
            sender.messages_url,
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
    }
}
