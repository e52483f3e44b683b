//! The `kefu` binary as operators and other systems meet it: started as a process, called by
//! clients we did not write, stopped with SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod call;
mod complaints;
mod delays;
mod journey;
mod lifecycle;
mod logs;
mod metrics;
mod operator;
mod process;
mod reflection;
mod report;
mod soak;
mod staff;
mod suite;
mod surveys;
mod telemetry;
mod tiers;
