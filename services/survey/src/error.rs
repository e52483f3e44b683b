//! survey's one error type and its one mapping to gRPC status.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kefu_platform::error::{self, FieldViolation};
use kefu_platform::idempotency::IdempotencyError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::{Refusal, SkipReason};
use crate::store::StoreError;

/// The ErrorInfo domain of survey's refusals.
pub const ERROR_DOMAIN: &str = "kefu.survey.v1";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// A token that opens nothing: unknown, used, expired or for another invitation.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    /// SV-3: the customer may not be surveyed now; the skip was recorded.
    #[error("survey skipped: {reason}")]
    Skipped {
        reason: SkipReason,
        skipped_id: String,
        quiet_until: Option<DateTime<Utc>>,
    },
    /// Another service did not answer in time; nothing was written.
    #[error("{service} unavailable: {why}")]
    Unavailable { service: &'static str, why: String },
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Store(#[from] StoreError),
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

fn skipped(reason: SkipReason, skipped_id: String, quiet_until: Option<DateTime<Utc>>) -> Status {
    let (code, why) = match reason {
        SkipReason::QuietPeriod => (
            "QUIET_PERIOD",
            format!(
                "the customer was surveyed recently; they may be asked again from {}",
                quiet_until.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
        ),
        SkipReason::OptedOut => ("OPTED_OUT", "the customer opted out of surveys".to_owned()),
    };
    let mut metadata = HashMap::from([("skipped_survey_id".to_owned(), skipped_id)]);
    if let Some(until) = quiet_until {
        metadata.insert("quiet_until".to_owned(), until.to_rfc3339());
    }
    Status::with_error_details(
        Code::FailedPrecondition,
        format!("not surveyed ({code}): {why}; the skip is recorded"),
        ErrorDetails::with_error_info(code, ERROR_DOMAIN, metadata),
    )
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        // No catch-all: a new variant must choose its code here.
        match e {
            Error::Invalid(violations) => error::invalid_argument(&violations),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::PermissionDenied(why) => Status::permission_denied(why),
            Error::Unauthenticated(why) => Status::unauthenticated(why),
            Error::FailedPrecondition(why) => Status::failed_precondition(why),
            Error::Aborted(why) => Status::aborted(why),
            Error::Skipped {
                reason,
                skipped_id,
                quiet_until,
            } => skipped(reason, skipped_id, quiet_until),
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

    #[test]
    fn every_error_maps_to_its_code_and_internal_faults_say_only_the_trace_id() {
        let cases = [
            (Error::Invalid(vec![]), Code::InvalidArgument),
            (Error::NotFound("invitation i".into()), Code::NotFound),
            (
                Error::PermissionDenied("team".into()),
                Code::PermissionDenied,
            ),
            (
                Error::Unauthenticated("token".into()),
                Code::Unauthenticated,
            ),
            (
                Error::FailedPrecondition("answered".into()),
                Code::FailedPrecondition,
            ),
            (Error::Aborted("version".into()), Code::Aborted),
            (
                Error::Unavailable {
                    service: "customer-registry",
                    why: "refused".into(),
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
                Error::Stream(kefu_platform::events::StreamError::ShuttingDown),
                Code::Unavailable,
            ),
        ];
        for (error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("secret"));
        }
    }

    #[test]
    fn sv3_a_skip_says_why_in_error_info() {
        let status = Status::from(Error::Skipped {
            reason: SkipReason::QuietPeriod,
            skipped_id: "s1".into(),
            quiet_until: Some(Utc::now()),
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "QUIET_PERIOD");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata["skipped_survey_id"], "s1");
    }
}
