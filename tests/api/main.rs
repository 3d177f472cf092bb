//! carebook's HTTP integration tests: one binary, a real server per test.
//!
//! Each test starts its own server on a random port over a fresh SQLite database
//! with a manual clock (see `support`), and drives it through HTTP like a client.

mod support;

mod access;
mod accounts;
mod booking;
mod concurrency;
mod doctors;
mod events;
mod lifecycle;
mod lists;
mod openapi;
mod snapshots;
