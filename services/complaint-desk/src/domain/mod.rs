//! complaint-desk's rules and its own types, free of gRPC, SQL and the generated contract:
//! the case and its life (`case`), business time (`calendar`, `clock`), the deadline and
//! escalation policy (`policy`), who sees which case (`access`), analysis (`analysis`),
//! recurring causes (`recurring`) and the knowledge base (`knowledge`, `search`).

pub mod access;
pub mod analysis;
pub mod calendar;
pub mod case;
pub mod clock;
pub mod knowledge;
pub mod policy;
pub mod recurring;
pub mod search;

use kefu_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

pub use case::{Case, Fact};

/// Who did something when no person did: the clock pass, a consumer.
pub const SYSTEM: &str = "system";

/// Why a rule said no.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Bad fields, each named.
    Invalid(Vec<FieldViolation>),
    /// The case is not in a state that allows it.
    Precondition(String),
    /// The caller's view of the case is out of date.
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

use kefu_platform::coded;

coded! {
    /// CD-1: requests are cases too.
    pub enum CaseType {
        Complaint = "complaint",
        Inquiry = "inquiry",
        HelpRequest = "help_request",
    }
}

coded! {
    /// CD-1: where a case came from.
    pub enum Origin {
        Hotline = "hotline",
        Email = "email",
        Web = "web",
        Visit = "visit",
        OrderException = "order_exception",
        SurveyAnswer = "survey_answer",
    }
}

impl Origin {
    /// Opened by the service from another's event, never by a person.
    pub fn is_automatic(self) -> bool {
        matches!(self, Origin::OrderException | Origin::SurveyAnswer)
    }
}

coded! {
    /// How the customer is reached.
    pub enum ContactChannel {
        Phone = "phone",
        Email = "email",
        Sms = "sms",
        Web = "web",
        InPerson = "in_person",
    }
}

coded! {
    /// CD-2.
    pub enum Category {
        Damage = "damage",
        Loss = "loss",
        Delay = "delay",
        HandoverDispute = "handover_dispute",
        StaffAttitude = "staff_attitude",
        Billing = "billing",
        Other = "other",
    }
}

impl Category {
    /// Categories that are about one order, which the case must name.
    pub fn needs_order(self) -> bool {
        matches!(
            self,
            Category::Damage | Category::Loss | Category::Delay | Category::HandoverDispute
        )
    }
}

coded! {
    /// CD-2.
    pub enum Severity {
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
}

coded! {
    pub enum State {
        Registered = "registered",
        InProgress = "in_progress",
        WaitingOnCustomer = "waiting_on_customer",
        Resolved = "resolved",
        Closed = "closed",
    }
}

impl State {
    /// States in which the case is still being worked.
    pub const OPEN: &[State] = &[
        State::Registered,
        State::InProgress,
        State::WaitingOnCustomer,
    ];
}

coded! {
    /// CD-3.
    pub enum DeadlineKind {
        FirstResponse = "first_response",
        Resolution = "resolution",
    }
}

coded! {
    /// CD-3.
    pub enum PauseReason {
        AwaitingInformation = "awaiting_information",
        AwaitingAvailability = "awaiting_availability",
        AwaitingDecision = "awaiting_decision",
        Other = "other",
    }
}

coded! {
    /// CD-4: causes as codes, so they can be counted.
    pub enum RootCause {
        Packaging = "packaging",
        Handling = "handling",
        Sorting = "sorting",
        Routing = "routing",
        VehicleOrCarrier = "vehicle_or_carrier",
        WeatherOrForceMajeure = "weather_or_force_majeure",
        AddressOrDocuments = "address_or_documents",
        StaffConduct = "staff_conduct",
        BillingError = "billing_error",
        SystemError = "system_error",
        CustomerSide = "customer_side",
        Other = "other",
    }
}

coded! {
    /// CD-6.
    pub enum FollowUpOutcome {
        Satisfied = "satisfied",
        NotSatisfied = "not_satisfied",
        NoContact = "no_contact",
    }
}

coded! {
    /// CD-8.
    pub enum EscalationTarget {
        Supervisor = "supervisor",
        Manager = "manager",
    }
}

coded! {
    /// CD-6.
    pub enum CloseReason {
        Confirmed = "confirmed",
        FollowUpExhausted = "follow_up_exhausted",
    }
}

/// Where an automatic case came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    OrderException(String),
    SurveyResponse(String),
}

impl Source {
    /// One key per source, unique among cases: the same source never opens two.
    pub fn key(&self) -> String {
        match self {
            Source::OrderException(id) => format!("order_exception:{id}"),
            Source::SurveyResponse(id) => format!("survey_response:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_what_documents_hold() {
        for cause in RootCause::ALL {
            assert_eq!(RootCause::from_code(cause.code()), Some(*cause));
            assert_eq!(
                serde_json::to_string(cause).unwrap(),
                format!("\"{}\"", cause.code())
            );
        }
        assert_eq!(Category::from_code("weather"), None);
        assert!(Category::Loss.needs_order() && !Category::Billing.needs_order());
    }
}
