//! staff-kpi's rules and its own types, free of gRPC, SQL and the generated contract: the
//! organisation (`org`), periods (`period`), the facts read from events (`fact`), KPI
//! formulas and figures (`kpi`), assessments with scores and grades (`assessment`), reward
//! and penalty rules (`rules`), conduct and training (`conduct`), disputes (`dispute`) and
//! who sees whom (`access`).

pub mod access;
pub mod assessment;
pub mod conduct;
pub mod dispute;
pub mod fact;
pub mod kpi;
pub mod org;
pub mod period;
pub mod rules;

use kefu_platform::coded;
use kefu_platform::error::FieldViolation;

/// Who did something when no person did: the close pass, a consumer.
pub const SYSTEM: &str = "system";

/// Why a rule said no.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Invalid(Vec<FieldViolation>),
    Precondition(String),
    Stale(String),
}

impl From<Vec<FieldViolation>> for Refusal {
    fn from(violations: Vec<FieldViolation>) -> Self {
        Refusal::Invalid(violations)
    }
}

pub(crate) fn invalid(field: &str, description: impl Into<String>) -> Refusal {
    Refusal::Invalid(vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }])
}

/// A change names the version it read.
pub(crate) fn check_version(what: &str, have: i64, expected: i64) -> Result<(), Refusal> {
    if expected <= 0 {
        return Err(invalid(
            "expected_version",
            format!("required: the version of the {what} you read"),
        ));
    }
    if expected != have {
        return Err(Refusal::Stale(format!(
            "the {what} is at version {have}, not {expected}: read it again"
        )));
    }
    Ok(())
}

/// `numerator / denominator` rounded half away from zero; `None` for no denominator.
pub fn div_round(numerator: i64, denominator: i64) -> Option<i64> {
    if denominator <= 0 {
        return None;
    }
    let magnitude =
        (numerator.unsigned_abs() as i128 * 2 + denominator as i128) / (2 * denominator as i128);
    i64::try_from(magnitude)
        .ok()
        .map(|m| m * numerator.signum())
}

/// `numerator / denominator` in tenths of a percent, rounded half away from zero.
pub fn tenths_of_percent(numerator: i64, denominator: i64) -> Option<i64> {
    div_round(numerator.saturating_mul(1000), denominator)
}

coded! {
    /// SK-1: a person's role in the department.
    pub enum StaffRole {
        Agent = "agent",
        Supervisor = "supervisor",
        Manager = "manager",
        Salesperson = "salesperson",
    }
}

coded! {
    pub enum StaffState {
        Active = "active",
        Left = "left",
    }
}

coded! {
    /// SK-3.
    pub enum PeriodKind {
        Monthly = "monthly",
        Quarterly = "quarterly",
    }
}

coded! {
    /// SK-3.
    pub enum PeriodState {
        Open = "open",
        Closing = "closing",
        Closed = "closed",
    }
}

coded! {
    /// SK-3: A is best.
    pub enum Grade {
        A = "A",
        B = "B",
        C = "C",
        D = "D",
    }
}

coded! {
    /// SK-3: why a revision was written.
    pub enum Cause {
        Provisional = "provisional",
        Final = "final",
        DisputeUpheld = "dispute_upheld",
        /// Computed again after the close and found different; the rules keep this from
        /// happening, and the revision keeps it from going unseen if it does.
        Recomputed = "recomputed",
    }
}

coded! {
    /// SK-3.
    pub enum DisputeState {
        Open = "open",
        Upheld = "upheld",
        Rejected = "rejected",
    }
}

coded! {
    /// SK-4.
    pub enum OutcomeKind {
        Reward = "reward",
        Penalty = "penalty",
    }
}

coded! {
    /// SK-4.
    pub enum OutcomeState {
        Decided = "decided",
        Withdrawn = "withdrawn",
    }
}

coded! {
    /// SK-5.
    pub enum BreachKind {
        GiftAccepted = "gift_accepted",
        Privacy = "privacy",
        Other = "other",
    }
}

coded! {
    /// SK-6.
    pub enum Attendance {
        Attended = "attended",
        Absent = "absent",
        Excused = "excused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(div_round(5, 2), Some(3));
        assert_eq!(div_round(-5, 2), Some(-3));
        assert_eq!(div_round(4, 3), Some(1));
        assert_eq!(div_round(1, 0), None);
        assert_eq!(tenths_of_percent(2, 3), Some(667));
        assert_eq!(tenths_of_percent(19, 20), Some(950));
        assert_eq!(tenths_of_percent(0, 7), Some(0));
    }
}
