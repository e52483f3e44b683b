//! order-tracking's one error type and its one mapping to gRPC status.

use kefu_platform::error::{self, FieldViolation};
use kefu_platform::idempotency::IdempotencyError;
use tonic::Status;

use crate::domain::IllegalMove;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("order {0} not found")]
    NotFound(String),
    #[error(transparent)]
    IllegalMove(#[from] IllegalMove),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    /// customer-registry did not answer in time; nothing was written.
    #[error("customer-registry unavailable: {0}")]
    CustomersUnavailable(String),
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
            Error::NotFound(id) => Status::not_found(format!("order {id} not found")),
            Error::IllegalMove(m) => Status::failed_precondition(m.to_string()),
            Error::FailedPrecondition(why) => Status::failed_precondition(why),
            Error::Aborted(why) => Status::aborted(why),
            Error::CustomersUnavailable(why) => error::unavailable("customer-registry", &why),
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
    use crate::domain::OrderState;
    use tonic::Code;

    #[test]
    fn every_error_maps_to_its_code() {
        let cases = [
            (Error::Invalid(vec![]), Code::InvalidArgument),
            (Error::NotFound("o".into()), Code::NotFound),
            (
                Error::IllegalMove(IllegalMove {
                    from: OrderState::Completed,
                    to: OrderState::Received,
                }),
                Code::FailedPrecondition,
            ),
            (
                Error::FailedPrecondition("short pick".into()),
                Code::FailedPrecondition,
            ),
            (Error::Aborted("version".into()), Code::Aborted),
            (
                Error::CustomersUnavailable("connection refused".into()),
                Code::Unavailable,
            ),
            (
                Error::Idempotency(IdempotencyError::Mismatch),
                Code::InvalidArgument,
            ),
            (
                Error::Store(StoreError::Database(sea_orm::DbErr::Custom(
                    "secret".into(),
                ))),
                Code::Internal,
            ),
        ];
        for (error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("secret"));
        }
    }
}
