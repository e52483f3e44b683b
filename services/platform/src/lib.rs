//! Kefu's shared runtime: every service is built from these handles and served by this bootstrap.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod hot;
pub mod idempotency;
pub mod paging;
pub mod pii;
pub mod redis;
pub mod server;
pub mod telemetry;
pub mod testing;
