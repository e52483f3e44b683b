//! order-tracking's rules, free of gRPC and SQL: the lifecycle (OT-4), verification (OT-2),
//! pricing (OT-3), picking and packing (OT-5), handover (OT-6), returns (OT-9), promised
//! delivery times (OT-8) and cycle-time statistics (OT-10). The order document itself is the
//! contract's `Order` message; the rules here read and check it.

pub mod cycle_time;
pub mod lifecycle;
pub mod pricing;
pub mod verify;

pub use lifecycle::{IllegalMove, OrderState};
