//! order-tracking: orders from intake to signed handover (DOMAIN.md OT-1 to OT-12).

#![forbid(unsafe_code)]

pub mod domain;
pub mod hot;
pub mod store;
