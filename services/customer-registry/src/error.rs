//! customer-registry's one error type and its one mapping to gRPC status.

use kefu_platform::error::{self, FieldViolation};
use kefu_platform::idempotency::IdempotencyError;
use tonic::Status;

use crate::domain::Refusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// What was asked for does not exist, e.g. "customer 42" or "monthly report 7".
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another change won the race for the same record, or another replica does the work.
    #[error("{0}")]
    Aborted(String),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of ours that no request can cause (a row vanished under a lock).
    #[error("{0}")]
    Internal(String),
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Store(StoreError::Database(e))
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(violations) => Error::Invalid(violations),
            Refusal::NotAllowed(why) => Error::PermissionDenied(why),
            Refusal::Precondition(why) => Error::FailedPrecondition(why),
        }
    }
}

impl From<Vec<FieldViolation>> for Error {
    fn from(violations: Vec<FieldViolation>) -> Self {
        Error::Invalid(violations)
    }
}

/// One bad field.
pub fn invalid(field: &str, description: impl Into<String>) -> Error {
    Error::Invalid(vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }])
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        // No catch-all: a new variant must choose its code here.
        match e {
            Error::Invalid(violations) => error::invalid_argument(&violations),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::PermissionDenied(why) => Status::permission_denied(why),
            Error::FailedPrecondition(why) => Status::failed_precondition(why),
            Error::Aborted(why) => Status::aborted(why),
            Error::Idempotency(IdempotencyError::Mismatch) => {
                error::invalid_argument(&[FieldViolation {
                    field: "request_id".into(),
                    description: "already used for a different request".into(),
                }])
            }
            Error::Idempotency(IdempotencyError::Database(e)) => error::database(&e),
            Error::Store(StoreError::Database(e)) => error::database(&e),
            Error::Store(e @ (StoreError::Pii(_) | StoreError::Corrupt { .. })) => {
                error::internal(&e)
            }
            Error::Internal(fault) => error::internal(&fault),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_error_maps_to_its_code_and_internal_faults_say_only_the_trace_id() {
        let cases = [
            (Error::Invalid(vec![]), Code::InvalidArgument),
            (Error::NotFound("customer x".into()), Code::NotFound),
            (Error::PermissionDenied("no".into()), Code::PermissionDenied),
            (
                Error::FailedPrecondition("archived".into()),
                Code::FailedPrecondition,
            ),
            (Error::Aborted("race".into()), Code::Aborted),
            (
                Error::Idempotency(IdempotencyError::Mismatch),
                Code::InvalidArgument,
            ),
            (
                Error::Store(StoreError::Database(sea_orm::DbErr::Custom(
                    "pg: password=hunter2".into(),
                ))),
                Code::Internal,
            ),
            (
                Error::Store(StoreError::Pii(kefu_platform::pii::PiiError::Tampered)),
                Code::Internal,
            ),
            (Error::Internal("hunter2 vanished".into()), Code::Internal),
        ];
        for (error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("hunter2"));
            if code == Code::Internal {
                assert!(
                    status.message().contains("trace id"),
                    "{}",
                    status.message()
                );
            }
        }
    }

    #[test]
    fn refusals_keep_their_meaning() {
        let cases = [
            (Refusal::Invalid(vec![]), Code::InvalidArgument),
            (Refusal::NotAllowed("team".into()), Code::PermissionDenied),
            (
                Refusal::Precondition("erased".into()),
                Code::FailedPrecondition,
            ),
        ];
        for (refusal, code) in cases {
            assert_eq!(Status::from(Error::from(refusal)).code(), code);
        }
    }
}
