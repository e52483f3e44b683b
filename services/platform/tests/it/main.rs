//! The platform's tests against real PostgreSQL (127.0.0.1:5432) and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod event_log;
mod hot;
mod housekeeping;
mod idempotency;
