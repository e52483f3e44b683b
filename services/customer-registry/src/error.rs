//! customer-registry's one error type and its one mapping to gRPC status.

use kefu_platform::error::{self, FieldViolation};
use kefu_platform::idempotency::IdempotencyError;
use tonic::Status;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("customer {0} not found")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another change won the race for the same record.
    #[error("{0}")]
    Aborted(String),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Store(StoreError::Database(e))
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        // No catch-all: a new variant must choose its code here.
        match e {
            Error::Invalid(violations) => error::invalid_argument(&violations),
            Error::NotFound(id) => Status::not_found(format!("customer {id} not found")),
            Error::PermissionDenied(why) => Status::permission_denied(why),
            Error::FailedPrecondition(why) => Status::failed_precondition(why),
            Error::Aborted(why) => Status::aborted(why),
            Error::Idempotency(IdempotencyError::Mismatch) => {
                error::invalid_argument(&[FieldViolation {
                    field: "request_id".into(),
                    description: "already used for a different request".into(),
                }])
            }
            Error::Idempotency(IdempotencyError::Database(e)) => error::internal(&e),
            Error::Store(
                e @ (StoreError::Database(_) | StoreError::Pii(_) | StoreError::Corrupt { .. }),
            ) => error::internal(&e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_error_maps_to_its_code_and_internal_faults_say_nothing() {
        let cases = [
            (Error::Invalid(vec![]), Code::InvalidArgument),
            (Error::NotFound("x".into()), Code::NotFound),
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
        ];
        for (error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("hunter2"));
        }
    }
}
