//! carebook: a clinic appointment and patient management server.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod copy;
pub mod demo;
pub mod http;
pub mod notify;
pub mod oidc;
pub mod pdf;
pub mod store;
pub mod stripe;
#[doc(hidden)]
pub mod testing;
