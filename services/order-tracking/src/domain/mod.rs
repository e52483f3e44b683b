//! order-tracking's rules and its own types, free of gRPC, SQL and the generated contract
//! types: the order (OT-1), verification (OT-2), pricing (OT-3), the lifecycle (OT-4),
//! picking and packing (OT-5), handover (OT-6), exceptions and automatic delays (OT-7, OT-8),
//! returns (OT-9) and cycle-time statistics (OT-10).

pub mod cycle_time;
pub mod exceptions;
pub mod handover;
pub mod lifecycle;
pub mod order;
pub mod picking;
pub mod pricing;
pub mod returns;
pub mod verify;

pub use lifecycle::OrderState;
pub use order::*;

use kefu_platform::error::FieldViolation;

/// Why a rule refused a change; nothing was changed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Bad input, every bad field named.
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// Not in the order's present state.
    #[error("{0}")]
    Precondition(String),
    /// The order is not at the version the caller saw.
    #[error("{0}")]
    Stale(String),
}

impl From<Vec<FieldViolation>> for Refusal {
    fn from(violations: Vec<FieldViolation>) -> Self {
        Refusal::Invalid(violations)
    }
}

impl From<lifecycle::IllegalMove> for Refusal {
    fn from(m: lifecycle::IllegalMove) -> Self {
        Refusal::Precondition(m.to_string())
    }
}

/// One bad field.
pub(crate) fn invalid(field: &str, description: impl Into<String>) -> Refusal {
    Refusal::Invalid(vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }])
}
