//! survey's rules and its own types, free of gRPC, SQL and the generated contract:
//! questionnaires and answers (`questionnaire`), the scores (`scores`), who may be asked when
//! (`eligibility`), online response tokens (`token`), campaigns and triggers (`campaign`),
//! follow-up tasks (`task`), the quality report (`quality`) and who sees what (`access`).

pub mod access;
pub mod campaign;
pub mod eligibility;
pub mod invitation;
pub mod quality;
pub mod questionnaire;
pub mod scores;
pub mod task;
pub mod token;

use kefu_platform::coded;
use kefu_platform::error::FieldViolation;

/// Who did something when no person did: a trigger, a campaign, a consumer.
pub const SYSTEM: &str = "system";
/// Who recorded an answer given online.
pub const ONLINE: &str = "online";

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

coded! {
    /// SV-1.
    pub enum Method {
        Phone = "phone",
        Online = "online",
        Questionnaire = "questionnaire",
        Visit = "visit",
    }
}

coded! {
    /// SV-2.
    pub enum QuestionKind {
        Csat = "csat",
        Nps = "nps",
        Effort = "effort",
        SingleChoice = "single_choice",
        MultipleChoice = "multiple_choice",
        Text = "text",
        Problem = "problem",
    }
}

coded! {
    pub enum InvitationState {
        Sent = "sent",
        Answered = "answered",
        Expired = "expired",
    }
}

coded! {
    /// SV-3.
    pub enum SkipReason {
        QuietPeriod = "quiet_period",
        OptedOut = "opted_out",
    }
}

coded! {
    /// SV-3.
    pub enum TriggerKind {
        AfterDelivery = "after_delivery",
        AfterComplaintClosed = "after_complaint_closed",
    }
}

coded! {
    pub enum CampaignState {
        Scheduled = "scheduled",
        Running = "running",
        Finished = "finished",
        Cancelled = "cancelled",
    }
}

coded! {
    /// SV-5.
    pub enum TaskState {
        Open = "open",
        Done = "done",
    }
}

coded! {
    /// SV-5.
    pub enum TaskOutcome {
        Settled = "settled",
        Escalated = "escalated",
        Unreachable = "unreachable",
    }
}

coded! {
    /// SV-5: the problem an answer names, as complaint-desk's categories.
    pub enum Problem {
        Damage = "damage",
        Loss = "loss",
        Delay = "delay",
        HandoverDispute = "handover_dispute",
        StaffAttitude = "staff_attitude",
        Billing = "billing",
        Other = "other",
    }
}
