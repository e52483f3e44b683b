//! SK-5, SK-6: conduct breaches recorded against a person (the description and the evidence
//! stay here; the event carries the kind), training sessions planned, and each person's
//! attendance with its evaluation.

use chrono::{DateTime, Duration, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use serde::{Deserialize, Serialize};

use super::{Attendance, BreachKind};

const MAX_DESCRIPTION: usize = 2000;
const MAX_REFERENCE: usize = 200;
const MAX_TITLE: usize = 200;
/// Clocks disagree a little: a time this far ahead is still "now".
const SKEW: Duration = Duration::minutes(5);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub id: String,
    pub staff_id: String,
    pub kind: BreachKind,
    pub description: String,
    pub evidence_reference: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    /// The event that records it; figures and disputes name it.
    pub event_id: String,
    /// Set when an upheld dispute took it out of the figures.
    #[serde(default)]
    pub upheld_dispute_id: String,
}

/// A breach as a request states it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BreachDraft {
    pub staff_id: String,
    pub kind: Option<BreachKind>,
    pub description: String,
    pub evidence_reference: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

impl BreachDraft {
    pub fn checked(&self, now: DateTime<Utc>) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.check(!self.staff_id.is_empty(), "breach.staff_id", "required");
        v.check(self.kind.is_some(), "breach.kind", "required");
        let description = self.description.trim();
        v.check(
            !description.is_empty() && description.chars().count() <= MAX_DESCRIPTION,
            "breach.description",
            format!("required: at most {MAX_DESCRIPTION} characters"),
        );
        let reference = self.evidence_reference.trim();
        v.check(
            !reference.is_empty() && reference.chars().count() <= MAX_REFERENCE,
            "breach.evidence_reference",
            format!("required: where the evidence is kept, at most {MAX_REFERENCE} characters"),
        );
        match self.occurred_at {
            None => v.add("breach.occur_time", "required"),
            Some(t) => v.check(t <= now + SKEW, "breach.occur_time", "not in the future"),
        }
        v.finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingPlan {
    pub id: String,
    pub title: String,
    pub session_time: DateTime<Utc>,
    pub team_id: String,
    pub planned_by: String,
    pub created_at: DateTime<Utc>,
}

impl TrainingPlan {
    pub fn checked(
        title: &str,
        session_time: Option<DateTime<Utc>>,
    ) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        let title = title.trim();
        v.check(
            !title.is_empty() && title.chars().count() <= MAX_TITLE,
            "plan.title",
            format!("required: at most {MAX_TITLE} characters"),
        );
        v.check(session_time.is_some(), "plan.session_time", "required");
        v.finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub id: String,
    pub plan_id: String,
    pub staff_id: String,
    pub attendance: Attendance,
    /// 0 to 100; 0 unless attended.
    pub evaluation_score: i32,
    pub session_time: DateTime<Utc>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    pub event_id: String,
}

/// SK-6: an attended session has an evaluation from 0 to 100; a missed one has none.
pub fn check_attendance(
    attendance: Option<Attendance>,
    score: i32,
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    match attendance {
        None => v.add("record.attendance", "required"),
        Some(Attendance::Attended) => v.check(
            (0..=100).contains(&score),
            "record.evaluation_score",
            "from 0 to 100",
        ),
        Some(_) => v.check(
            score == 0,
            "record.evaluation_score",
            "only an attended session is evaluated",
        ),
    }
    v.finish()
}

/// Can the session be attended yet?
pub fn held(session_time: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    session_time <= now + SKEW
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fact::sample::at;

    #[test]
    fn sk5_a_breach_says_what_happened_where_the_evidence_is_and_when() {
        let now = at("2026-11-10T00:00:00Z");
        let good = BreachDraft {
            staff_id: "ann".into(),
            kind: Some(BreachKind::GiftAccepted),
            description: "accepted a hamper from a customer".into(),
            evidence_reference: "HR-2026-118".into(),
            occurred_at: Some(at("2026-11-09T00:00:00Z")),
        };
        assert!(good.checked(now).is_ok());
        let fields: Vec<_> = BreachDraft {
            occurred_at: Some(at("2026-11-11T00:00:00Z")),
            ..Default::default()
        }
        .checked(now)
        .unwrap_err()
        .into_iter()
        .map(|v| v.field)
        .collect();
        assert_eq!(
            fields,
            [
                "breach.staff_id",
                "breach.kind",
                "breach.description",
                "breach.evidence_reference",
                "breach.occur_time"
            ]
        );
    }

    #[test]
    fn sk6_only_attended_sessions_are_evaluated() {
        assert!(check_attendance(Some(Attendance::Attended), 100).is_ok());
        assert!(check_attendance(Some(Attendance::Attended), 101).is_err());
        assert!(check_attendance(Some(Attendance::Absent), 0).is_ok());
        assert!(check_attendance(Some(Attendance::Excused), 70).is_err());
        assert!(check_attendance(None, 0).is_err());
        assert!(TrainingPlan::checked("", None).is_err());
        let now = at("2026-11-10T00:00:00Z");
        assert!(held(now, now));
        assert!(!held(at("2026-11-11T00:00:00Z"), now));
    }
}
