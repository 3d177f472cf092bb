//! Text messages through Twilio's REST API.

use jiff::Timestamp;

use super::DeliveryError;
use crate::config::TwilioSettings;

pub struct TwilioSender {}

impl TwilioSender {
    /// `None` when Twilio is not configured.
    pub fn from_settings(
        settings: &TwilioSettings,
        client: reqwest::Client,
    ) -> Option<TwilioSender> {
        let _ = (settings, client);
        todo!()
    }

    /// `to` is E.164.
    pub async fn send(&self, to: &str, body: &str, now: Timestamp) -> Result<(), DeliveryError> {
        let _ = (to, body, now);
        todo!()
    }
}
