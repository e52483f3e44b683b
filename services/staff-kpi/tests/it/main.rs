//! staff-kpi through its gRPC API, with the services whose events it reads beside it, on
//! PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod disputes;
mod month;
mod org;
mod periods;
mod support;
