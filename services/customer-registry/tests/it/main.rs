//! customer-registry through real gRPC on real sockets, on PostgreSQL and on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod customers;
mod secrecy;
mod stewardship;
mod support;
mod tiers;
mod visits;
