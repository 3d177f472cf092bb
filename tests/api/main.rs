//! carebook's HTTP integration tests: one binary, a real server per test.
//!
//! Each test starts its own server on a random port over a fresh database with a
//! manual clock (see `support`), and drives it through HTTP like a client. Every test
//! body runs on SQLite and on PostgreSQL (`dual!`).

/// Expands one test body into two tests, `NAME::sqlite` and `NAME::postgres`.
macro_rules! dual {
    (#[$test:meta] async fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[$test]
            async fn sqlite() {
                crate::support::on_backend(carebook::testing::Backend::Sqlite, async move $body).await
            }

            #[$test]
            async fn postgres() {
                crate::support::on_backend(carebook::testing::Backend::Postgres, async move $body).await
            }
        }
    };
}

mod support;

mod access;
mod accounts;
mod attachments;
mod booking;
mod chat;
mod concurrency;
mod doctors;
mod events;
mod export;
mod feedback;
mod lifecycle;
mod limits;
mod lists;
mod matrix;
mod notifications;
mod oidc;
mod openapi;
mod pages;
mod payments;
mod photos;
mod prescriptions;
mod records;
mod security;
mod snapshots;
mod stats;
mod video;
mod web;
mod web_admin;
mod web_chat;
mod web_clinical;
mod web_desk;
mod web_doctor;
mod web_patient;
mod web_records;
mod web_security;
mod web_stats;
mod ws_client;
