//! Amazon SNS: each event published to a topic, with a SigV4-signed request.

use jiff::Timestamp;

use super::DeliveryError;
use crate::config::SnsSettings;

pub struct SnsPublisher {}

impl SnsPublisher {
    /// `None` when SNS is not configured.
    pub fn from_settings(settings: &SnsSettings, client: reqwest::Client) -> Option<SnsPublisher> {
        let _ = (settings, client);
        todo!()
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
        let _ = (subject, message, event_type, dedup_id, now);
        todo!()
    }
}
