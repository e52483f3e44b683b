//! customer-registry's rules and its own types, free of gRPC, SQL and the generated contract
//! types: the record (CR-1), who may see and change it and who serves it (CR-4), tiers
//! (CR-2), grades (CR-3), visits and their reports (CR-5 to CR-8), key rotations (CR-9),
//! archiving and erasure (CR-11), plans (CR-12) and the service record (CR-13).

pub mod access;
mod customer;
pub mod formats;
pub mod grade;
pub mod plans;
pub mod record;
pub mod rotation;
pub mod secrecy;
pub mod stewardship;
pub mod tier;
pub mod visits;

pub use customer::*;

use kefu_platform::error::FieldViolation;

/// Why a rule refused a request; nothing was changed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Bad input, every bad field named.
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// The caller may not do this to this customer.
    #[error("{0}")]
    NotAllowed(String),
    /// Not in the customer's present state.
    #[error("{0}")]
    Precondition(String),
}

impl From<Vec<FieldViolation>> for Refusal {
    fn from(violations: Vec<FieldViolation>) -> Self {
        Refusal::Invalid(violations)
    }
}

/// One bad field.
pub(crate) fn invalid(field: &str, description: impl Into<String>) -> Refusal {
    Refusal::Invalid(vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }])
}
