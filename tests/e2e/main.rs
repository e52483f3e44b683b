//! Journeys across services, through the public gRPC APIs of a suite started in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod faults;
mod fuzz;
mod outside_consumer;
mod service_record;
mod tls;
