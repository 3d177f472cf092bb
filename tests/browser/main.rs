//! carebook's browser tests: the web pages in a real, headless Chromium driven over
//! WebDriver (`carebook::testing::webdriver`), against a real server per test.
//!
//! What the `api` binary's form-level page tests cannot show is tested here: the
//! script (theme switch), the keyboard (skip link), accessibility (axe-core in the
//! page), layout at phone width, and screenshots of the main screens.
//!
//! Without Chromium each test prints a loud "BROWSER TESTS SKIPPED" banner and passes,
//! except under `CI=true`, where it fails (`scripts/ensure-chromium.sh` installs it;
//! `scripts/ensure-node-packages.sh` installs axe-core; `.ci/run` runs both).
//!
//! The storage is SQLite only: the stores and every page's server-side behaviour are
//! covered on both backends by the `api` binary; here the browser is what is tested,
//! and one backend keeps this binary quick.

// The API tests' harness (a server on a random port, a manual clock, users made
// through the API). The browser tests use only part of it.
#[path = "../api/support.rs"]
#[allow(dead_code)]
mod support;

mod harness;

mod accessibility;
mod chat;
mod checks;
mod journeys;
mod no_script;
mod oidc;
mod payments;
mod public;
mod screens;
mod screenshots;
