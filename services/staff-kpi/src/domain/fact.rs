//! SK-2: the facts KPIs are computed from, one per event: what other services told (a first
//! response, a resolution, a follow-up, a day-report, a survey answer, a complaint and its
//! reclassifications, a delivery) and what staff-kpi recorded itself (a conduct breach, a
//! training attendance). A fact keeps its event's id, so every figure can name its events.

use chrono::{DateTime, Utc};
use kefu_platform::coded;

coded! {
    /// What a fact says, and what its fields mean.
    pub enum FactKind {
        /// `staff_id` answered case `subject_id` first; `flag`: within the deadline.
        FirstResponse = "first_response",
        /// Case `subject_id` was resolved while `staff_id` owned it; `amount`: business
        /// seconds; `flag`: at the first contact, never reopened.
        Resolution = "resolution",
        /// `staff_id` followed case `subject_id` up; `flag`: the customer was reached.
        FollowUp = "follow_up",
        /// `staff_id` visited (day-report `subject_id`); `flag`: by its due date.
        Visit = "visit",
        /// A survey answer (`subject_id`) about case `ref_id` that `staff_id` handled;
        /// `amount`: the CSAT answer, 1 to 5.
        Answer = "answer",
        /// Case `subject_id` was registered or reclassified; `staff_id`: the person it names
        /// (may be none); `ref_id`: its order; `code`: its category; `flag`: a complaint
        /// (not a request); `seq`: its order among the case's events.
        Complaint = "complaint",
        /// `staff_id` delivered order `subject_id`.
        Delivery = "delivery",
        /// SK-5: breach `subject_id` of `staff_id`; `code`: its kind.
        Breach = "breach",
        /// SK-6: `staff_id` at session `subject_id`; `code`: the attendance; `amount`: the
        /// evaluation score, 0 to 100.
        Training = "training",
    }
}

/// One event's fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    pub event_id: String,
    /// The producing service.
    pub source: String,
    pub event_type: String,
    pub kind: FactKind,
    pub staff_id: String,
    pub subject_id: String,
    pub ref_id: String,
    /// When it happened, which decides its period.
    pub at: DateTime<Utc>,
    pub amount: i64,
    pub flag: bool,
    pub code: String,
    pub seq: i64,
    /// The customer the event was about, if any: how an erasure finds what was said of them.
    pub customer_id: String,
}

/// Categories of complaint that are about the delivery of an order.
pub const DELIVERY_CATEGORIES: [&str; 4] = ["damage", "loss", "delay", "handover_dispute"];

#[cfg(test)]
pub(crate) mod sample {
    //! Facts for the rules' tests.

    use super::*;

    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    pub(crate) fn fact(event_id: &str, kind: FactKind, staff: &str, when: &str) -> Fact {
        Fact {
            event_id: event_id.into(),
            source: "test".into(),
            event_type: format!("test.{kind}"),
            kind,
            staff_id: staff.into(),
            subject_id: String::new(),
            ref_id: String::new(),
            at: at(when),
            amount: 0,
            flag: false,
            code: String::new(),
            seq: 0,
            customer_id: String::new(),
        }
    }
}
