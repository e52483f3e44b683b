//! Kefu's shared runtime: what a service is (`service`), the handles every service is built
//! from, and the bootstrap that serves any set of them in one process (`suite`).

#![forbid(unsafe_code)]

pub mod access;
pub mod auth;
pub mod client;
pub mod coded;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod hot;
pub mod housekeeping;
pub mod idempotency;
mod jwks;
pub mod metrics;
pub mod paging;
pub mod pii;
pub mod redis;
pub mod report;
pub mod reseal;
pub mod rows;
pub mod server;
pub mod service;
pub mod suite;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod watch;
