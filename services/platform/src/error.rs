//! Building blocks for each service's one error-to-status mapping: field violations as
//! `google.rpc.BadRequest`, and internal faults as an opaque message with the trace id.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// One bad field of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. "customer.contacts[0].phone".
    pub field: String,
    pub description: String,
}

/// Collects every bad field of a request, so the caller hears of all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Adds the violation when `ok` is false.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, description: impl Into<String>) {
        if !ok {
            self.add(field, description);
        }
    }

    /// Takes the violations of another check; its value when it had none.
    pub fn absorb<T>(&mut self, checked: Result<T, Vec<FieldViolation>>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(violations) => {
                self.0.extend(violations);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    /// `Ok` when nothing was wrong.
    pub fn finish(self) -> Result<(), Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// INVALID_ARGUMENT naming every bad field, in the message and as `google.rpc.BadRequest`.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let summary = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    let details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {summary}"),
        details,
    )
}

/// INTERNAL with nothing of the fault but the trace id; the fault itself goes to the log.
pub fn internal(fault: &dyn fmt::Display) -> Status {
    let trace_id = crate::telemetry::current_trace_id();
    tracing::error!(%trace_id, error = %fault, "internal error");
    Status::internal(format!("internal error; trace id {trace_id}"))
}

/// UNAVAILABLE for a dependency that did not answer; safe to retry.
pub fn unavailable(what: &str, fault: &dyn fmt::Display) -> Status {
    let trace_id = crate::telemetry::current_trace_id();
    tracing::warn!(%trace_id, dependency = what, error = %fault, "dependency unavailable");
    Status::unavailable(format!(
        "{what} unavailable; retry later (trace id {trace_id})"
    ))
}

/// Whether `e` says the database is out of reach (refused, reset, shutting down or starting
/// up, no connection in time) rather than that a statement failed: a call meeting it may
/// succeed when retried, here or on another replica.
pub fn database_unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // SQLSTATE class 08 (connection exception) and 57P01-57P03 (the server is
                // shutting down, restarting or not yet accepting connections).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether PostgreSQL refused a value the request carried: text it cannot hold (a NUL
/// character), a number or time beyond its types. SQLSTATEs of class 22 the caller's input
/// can cause; the others of the class (division by zero, ...) are the server's faults.
pub fn value_unstorable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    const CALLERS: [&str; 6] = ["22021", "22P05", "22003", "22008", "22007", "22001"];
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), sqlx::Error::Database(db)
                if db.code().is_some_and(|code| CALLERS.contains(&code.as_ref())))
        }
        _ => false,
    }
}

/// A database fault as callers hear it: UNAVAILABLE (retry) when the database is out of reach,
/// INVALID_ARGUMENT when it refused a value of the request, INTERNAL otherwise.
pub fn database(e: &sea_orm::DbErr) -> Status {
    if database_unreachable(e) {
        unavailable("database", e)
    } else if value_unstorable(e) {
        tracing::debug!(error = %e, "a value of the request cannot be stored");
        Status::invalid_argument(
            "the request holds a value that cannot be stored (a NUL character, or a number or \
             time out of range)",
        )
    } else {
        internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_out_of_reach_is_unavailable_and_a_failed_statement_internal() {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, sqlx};
        use std::sync::Arc;
        let io = |kind| {
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(
                std::io::Error::from(kind),
            ))))
        };
        for gone in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::PoolTimedOut))),
        ] {
            assert_eq!(database(&gone).code(), Code::Unavailable, "{gone}");
        }
        for fault in [
            DbErr::Custom("order 7 was not at version 3".into()),
            DbErr::RecordNotFound("idempotency record".into()),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::RowNotFound))),
        ] {
            assert_eq!(database(&fault).code(), Code::Internal, "{fault}");
        }
    }

    #[test]
    fn invalid_argument_carries_every_violation_as_bad_request() {
        let mut v = Violations::new();
        v.add("customer.phone", "not a phone number");
        v.check(false, "customer.email", "not an e-mail address");
        v.check(true, "customer.kind", "never added");
        let status = invalid_argument(&v.finish().unwrap_err());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("customer.phone"));
        let bad = status
            .get_details_bad_request()
            .expect("BadRequest details");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["customer.phone", "customer.email"]);
    }

    #[test]
    fn internal_hides_the_fault() {
        let status = internal(&"connection to 10.0.0.5 refused: password authentication failed");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("password"));
        assert!(status.message().starts_with("internal error; trace id"));
    }
}
