//! A small SMTP server on a loopback port for the email tests: it holds a real SMTP
//! conversation and keeps what it received.
