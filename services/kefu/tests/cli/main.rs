//! The `kefu` binary as operators and other systems meet it: started as a process, called by

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! clients we did not write, stopped with SIGTERM.

mod call;
mod complaints;
mod delays;
mod journey;
mod lifecycle;
mod operator;
mod process;
mod reflection;
mod surveys;
mod telemetry;
mod tiers;
