//! Email: over SMTP when configured, else written as `.eml` files to a folder.

use std::path::Path;

use super::DeliveryError;
use super::ical::Calendar;
use crate::config::SmtpSettings;

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

pub enum Mailer {}

impl Mailer {
    /// SMTP when `smtp.host` is set, else the `.eml` folder.
    pub fn from_settings(smtp: &SmtpSettings, mail_dir: &Path) -> Result<Mailer, String> {
        let _ = (smtp, mail_dir);
        todo!()
    }

    /// For the start-up log: where mail goes, without credentials.
    pub fn describe(&self) -> String {
        todo!()
    }

    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        let _ = email;
        todo!()
    }
}
