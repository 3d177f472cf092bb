//! The delivery worker: claims due outbox rows with a lease, sends each on its
//! channel, and records the outcome. It runs inside `serve` and as
//! `carebook worker`; any number may run against one database.
//!
//! At least once, never twice in effect: a worker killed between sending and
//! recording leaves a lease that runs out, and the next claim sends again with the
//! same Message-ID / event id / deduplication id, which receivers drop. In-app
//! entries are written in the transaction that records them, so exactly once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::email::{Mailer, OutgoingEmail};
use super::render::event_json;
use super::sms::TwilioSender;
use super::sns::SnsPublisher;
use super::webhook::WebhookSender;
use super::{Channel, DeliveryError, Notice, Recipient, http_client};
use crate::app::{App, AppError, Prepared, new_id, sha256_hex};
use crate::config::Settings;
use crate::store::{DeliveryRecord, UserId};

/// How many deliveries of one batch are sent at the same time.
const PARALLEL_SENDS: usize = 4;

/// One sender per configured channel.
pub struct Senders {
    mailer: Mailer,
    from: String,
    /// The right-hand side of Message-IDs.
    message_host: String,
    sms: Option<TwilioSender>,
    webhook: Option<WebhookSender>,
    sns: Option<SnsPublisher>,
}

impl Senders {
    pub fn from_settings(settings: &Settings) -> Result<Senders, String> {
        let client = http_client();
        let mailer =
            Mailer::from_settings(&settings.smtp, std::path::Path::new(&settings.mail_dir))?;
        let message_host = settings
            .public_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .filter(|host| !host.is_empty())
            .unwrap_or("carebook.invalid")
            .to_owned();
        Ok(Senders {
            mailer,
            from: settings.smtp.from.clone(),
            message_host,
            sms: TwilioSender::from_settings(&settings.twilio, client.clone()),
            webhook: WebhookSender::from_settings(&settings.webhook, client.clone()),
            sns: SnsPublisher::from_settings(&settings.sns, client),
        })
    }

    /// Says once, at start, where each channel's messages go, and which channels
    /// are off.
    pub fn log_channels(&self) {
        tracing::info!(email = %self.mailer.describe(), "notifications: email");
        if self.sms.is_none() {
            tracing::info!("notifications: SMS is not configured ([twilio]); no texts are sent");
        }
        if self.webhook.is_none() {
            tracing::info!("notifications: no webhook endpoints are configured ([webhook])");
        }
        if self.sns.is_none() {
            tracing::info!("notifications: Amazon SNS is not configured ([sns])");
        }
    }

    /// The same for every attempt of one delivery, so a receiver can drop a repeat.
    fn message_id(&self, delivery: &DeliveryRecord) -> String {
        format!(
            "{}@{}",
            &sha256_hex(&delivery.idempotency_key)[..32],
            self.message_host
        )
    }
}

pub struct Worker {
    app: App,
    senders: Arc<Senders>,
    /// This worker's name on the leases it holds.
    owner: String,
}

impl Worker {
    pub fn new(app: App, senders: Senders) -> Arc<Worker> {
        Arc::new(Worker {
            app,
            senders: Arc::new(senders),
            owner: new_id("wrk"),
        })
    }

    /// Plans the reminders that fall due soon, then claims one batch of due
    /// deliveries and sends them; the number claimed.
    pub async fn run_once(self: &Arc<Self>) -> Result<usize, AppError> {
        if let Err(error) = self.app.plan_reminders().await {
            // Planning is tried again at the next poll; what is due goes out anyway.
            tracing::warn!(error = %error, "the reminder planner could not run");
        }
        let batch = self
            .app
            .claim_deliveries(&self.owner, self.app.settings.outbox.batch_size)
            .await?;
        let claimed = batch.len();
        let mut sending = JoinSet::new();
        for delivery in batch {
            while sending.len() >= PARALLEL_SENDS {
                sending.join_next().await;
            }
            let worker = Arc::clone(self);
            sending.spawn(async move { worker.deliver(delivery).await });
        }
        while sending.join_next().await.is_some() {}
        Ok(claimed)
    }

    /// Sends everything that is due, batch after batch, until nothing is.
    pub async fn drain(self: &Arc<Self>) -> Result<usize, AppError> {
        let mut total = 0;
        loop {
            let claimed = self.run_once().await?;
            total += claimed;
            if claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs until `stop` turns true, then finishes the batch in hand.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.app.settings.outbox.poll_interval_ms);
        let full_batch = self.app.settings.outbox.batch_size as usize;
        loop {
            if *stop.borrow() {
                return;
            }
            let claimed = match self.run_once().await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(error = %error, "the delivery worker could not claim work");
                    0
                }
            };
            if claimed >= full_batch {
                continue;
            }
            tokio::select! {
                _ = self.app.outbox_rang() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn deliver(&self, delivery: DeliveryRecord) {
        let outcome = self.attempt(&delivery).await;
        if let Err(error) = outcome {
            // The lease runs out and another attempt follows.
            tracing::warn!(
                delivery = %delivery.id,
                error = %error,
                "a delivery could not be recorded"
            );
        }
    }

    async fn attempt(&self, delivery: &DeliveryRecord) -> Result<(), AppError> {
        let max_attempts = i64::from(self.app.settings.outbox.max_attempts);
        if delivery.attempts > max_attempts {
            // Claimed again and again without an outcome: each attempt was cut off
            // (a crash while sending it, say). Stop before it cuts off more.
            let error = DeliveryError::retryable("every attempt was interrupted");
            self.app
                .finish_delivery(delivery, &self.owner, Err(error))
                .await?;
            return Ok(());
        }
        let (notice, recipient) = match self.app.prepare_delivery(delivery).await? {
            Prepared::Skip(why) => {
                self.app.skip_delivery(delivery, &self.owner, why).await?;
                return Ok(());
            }
            Prepared::Send { notice, recipient } => (*notice, recipient),
        };
        let channel = Channel::parse(&delivery.channel);
        if channel == Some(Channel::InApp) {
            let Some(recipient) = recipient else {
                let why = "an in-app delivery without a recipient".to_owned();
                self.app.skip_delivery(delivery, &self.owner, why).await?;
                return Ok(());
            };
            let user = UserId::new(recipient.user_id);
            self.app
                .deliver_in_app(delivery, &self.owner, notice, user)
                .await?;
            return Ok(());
        }
        let result = self
            .send(channel, delivery, &notice, recipient.as_ref())
            .await;
        match &result {
            Ok(()) => tracing::info!(
                delivery = %delivery.id,
                channel = %delivery.channel,
                kind = %delivery.kind,
                "delivered"
            ),
            Err(error) => tracing::warn!(
                delivery = %delivery.id,
                channel = %delivery.channel,
                attempt = delivery.attempts,
                error = %error,
                "delivery attempt failed"
            ),
        }
        self.app
            .finish_delivery(delivery, &self.owner, result)
            .await?;
        Ok(())
    }

    async fn send(
        &self,
        channel: Option<Channel>,
        delivery: &DeliveryRecord,
        notice: &Notice,
        recipient: Option<&Recipient>,
    ) -> Result<(), DeliveryError> {
        let senders = &self.senders;
        let templates = self.app.templates();
        let now = self.app.now();
        let rendering = |e: super::render::RenderError| {
            DeliveryError::permanent(format!("the message did not render: {}", e.name))
        };
        let no_recipient = || DeliveryError::permanent("no recipient");
        match channel {
            Some(Channel::Email) => {
                let to = recipient.ok_or_else(no_recipient)?;
                let email = templates
                    .email(notice, to, &senders.from)
                    .map_err(rendering)?;
                let outgoing = OutgoingEmail {
                    message_id: senders.message_id(delivery),
                    to_name: to.name.clone(),
                    to_address: to.email.clone(),
                    subject: email.subject,
                    text: email.text,
                    html: email.html,
                    calendar: email.calendar,
                };
                senders.mailer.send(&outgoing).await
            }
            Some(Channel::Sms) => {
                let to = recipient.ok_or_else(no_recipient)?;
                let phone = to
                    .phone
                    .as_deref()
                    .ok_or_else(|| DeliveryError::permanent("no phone number"))?;
                let sms = senders
                    .sms
                    .as_ref()
                    .ok_or_else(|| DeliveryError::retryable("SMS is not configured"))?;
                let body = templates.sms(notice, to).map_err(rendering)?;
                sms.send(phone, &body, now).await
            }
            Some(Channel::Webhook) => {
                let webhook = senders
                    .webhook
                    .as_ref()
                    .ok_or_else(|| DeliveryError::retryable("webhooks are not configured"))?;
                let url = delivery
                    .target
                    .as_deref()
                    .ok_or_else(|| DeliveryError::permanent("no webhook URL"))?;
                let body = serde_json::to_vec(&event_json(notice))
                    .map_err(|_| DeliveryError::permanent("the event did not serialize"))?;
                webhook.send(url, &notice.event_id, &body, now).await
            }
            Some(Channel::Sns) => {
                let sns = senders
                    .sns
                    .as_ref()
                    .ok_or_else(|| DeliveryError::retryable("SNS is not configured"))?;
                let message = event_json(notice).to_string();
                let subject = format!("{}: {}", notice.clinic.name, notice.kind.event_type());
                sns.publish(
                    &subject,
                    &message,
                    notice.kind.event_type(),
                    &delivery.idempotency_key,
                    now,
                )
                .await
            }
            Some(Channel::InApp) | None => Err(DeliveryError::permanent("unknown channel")),
        }
    }
}
