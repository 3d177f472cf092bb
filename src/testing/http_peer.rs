//! A small HTTP server on a loopback port for the Twilio, webhook and SNS tests:
//! it records each request exactly and answers with scripted statuses.
