//! Message text from templates kept as files (`templates/notify/`), built into the
//! binary and overridable per file from `template_dir`.

use std::path::Path;

use super::ical::Calendar;
use super::{Notice, Recipient};

/// The templates, loaded once at start.
pub struct Templates {}

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct RenderError {
    pub name: String,
    pub message: String,
}

/// An email's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// An invitation (confirmed, rescheduled) or a cancellation.
    pub calendar: Option<Calendar>,
}

/// A notification in the app's own list.
#[derive(Debug, Clone, PartialEq)]
pub struct InApp {
    pub title: String,
    pub body: String,
    pub link: String,
}

impl Templates {
    /// The built-in templates, each replaced by a file of the same name in
    /// `overrides` when there is one. Every template is compiled here, so a broken
    /// override stops the start instead of a delivery.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, RenderError> {
        let _ = overrides;
        todo!()
    }

    /// `organizer` is the clinic's From address, for the calendar's ORGANIZER.
    pub fn email(
        &self,
        notice: &Notice,
        to: &Recipient,
        organizer: &str,
    ) -> Result<RenderedEmail, RenderError> {
        let _ = (notice, to, organizer);
        todo!()
    }

    pub fn sms(&self, notice: &Notice, to: &Recipient) -> Result<String, RenderError> {
        let _ = (notice, to);
        todo!()
    }

    /// `to_user_id` decides the point of view (the patient's or the doctor's).
    pub fn in_app(&self, notice: &Notice, to_user_id: &str) -> Result<InApp, RenderError> {
        let _ = (notice, to_user_id);
        todo!()
    }
}

/// The JSON body webhooks receive and SNS messages carry.
pub fn event_json(notice: &Notice) -> serde_json::Value {
    let _ = notice;
    todo!()
}
