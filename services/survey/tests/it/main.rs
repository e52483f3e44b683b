//! survey through its gRPC API, with customer-registry, order-tracking and complaint-desk
//! beside it, on PostgreSQL and on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod answers;
mod reports;
mod support;
mod when;
