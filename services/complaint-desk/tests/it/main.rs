//! complaint-desk through its gRPC API, with customer-registry and order-tracking beside it,
//! on PostgreSQL and on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod clock;
mod events_in;
mod knowledge;
mod lifecycle;
mod registration;
mod secrecy;
mod support;
