//! complaint-desk's one error type and its one mapping to gRPC status.

use kefu_platform::error::{self, FieldViolation};
use kefu_platform::idempotency::IdempotencyError;
use tonic::Status;

use crate::domain::Refusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// What was asked for does not exist, e.g. "case TS-2026-000042".
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// The case changed since the caller read it.
    #[error("{0}")]
    Aborted(String),
    /// Another service did not answer in time; nothing was written.
    #[error("{service} unavailable: {why}")]
    Unavailable { service: &'static str, why: String },
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stream of events ended early (the server stopping, or the log unreadable).
    #[error(transparent)]
    Stream(#[from] kefu_platform::events::StreamError),
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
            Refusal::Precondition(why) => Error::FailedPrecondition(why),
            Refusal::Stale(why) => Error::Aborted(why),
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
            Error::Unavailable { service, why } => error::unavailable(service, &why),
            Error::Idempotency(IdempotencyError::Mismatch) => {
                error::invalid_argument(&[FieldViolation {
                    field: "request_id".into(),
                    description: "already used for a different request".into(),
                }])
            }
            Error::Idempotency(IdempotencyError::Database(e)) => error::database(&e),
            Error::Store(StoreError::Database(e)) => error::database(&e),
            Error::Store(e @ StoreError::Corrupt { .. }) => error::internal(&e),
            Error::Stream(e) => Status::from(e),
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
            (Error::NotFound("case k".into()), Code::NotFound),
            (
                Error::PermissionDenied("team".into()),
                Code::PermissionDenied,
            ),
            (
                Error::FailedPrecondition("closed".into()),
                Code::FailedPrecondition,
            ),
            (Error::Aborted("version".into()), Code::Aborted),
            (
                Error::Unavailable {
                    service: "customer-registry",
                    why: "connection refused".into(),
                },
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
            (
                Error::Store(StoreError::Corrupt {
                    id: "k".into(),
                    what: "secret".into(),
                }),
                Code::Internal,
            ),
            (
                Error::Stream(kefu_platform::events::StreamError::ShuttingDown),
                Code::Unavailable,
            ),
        ];
        for (error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("secret"));
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
        for (refusal, code) in [
            (Refusal::Invalid(vec![]), Code::InvalidArgument),
            (
                Refusal::Precondition("closed".into()),
                Code::FailedPrecondition,
            ),
            (Refusal::Stale("version 3".into()), Code::Aborted),
        ] {
            assert_eq!(Status::from(Error::from(refusal)).code(), code);
        }
    }
}
