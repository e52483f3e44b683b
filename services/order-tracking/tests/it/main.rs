//! order-tracking through real gRPC on real sockets, with customer-registry beside it, on
//! PostgreSQL (and SQLite), with and without Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod hot_state;
mod intake;
mod lifecycle;
mod secrecy;
mod streams;
mod support;
mod tiers;
