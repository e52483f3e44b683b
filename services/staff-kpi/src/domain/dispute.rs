//! SK-3: a person disputes one event counted in one of their figures, with a reason; someone
//! who supervises them decides. Upheld, the event leaves that KPI's figures of that person;
//! rejected, nothing changes. Both answers are final.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::kpi::Kpi;
use super::{DisputeState, Refusal, check_version, invalid};

const MAX_TEXT: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub staff_id: String,
    pub period_id: String,
    pub kpi: Kpi,
    pub event_id: String,
    pub reason: String,
    pub state: DisputeState,
    pub decided_by: String,
    pub decision_note: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub version: i64,
}

fn text(field: &str, text: &str) -> Result<String, Refusal> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        return Err(invalid(
            field,
            format!("required: at most {MAX_TEXT} characters"),
        ));
    }
    Ok(text.to_owned())
}

impl Dispute {
    pub fn open(
        id: String,
        staff_id: &str,
        period_id: &str,
        kpi: Kpi,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Dispute, Refusal> {
        Ok(Dispute {
            id,
            staff_id: staff_id.to_owned(),
            period_id: period_id.to_owned(),
            kpi,
            event_id: event_id.to_owned(),
            reason: text("dispute.reason", reason)?,
            state: DisputeState::Open,
            decided_by: String::new(),
            decision_note: String::new(),
            created_at: now,
            decided_at: None,
            version: 1,
        })
    }

    /// SK-3: `decider` upholds or rejects; never the disputing person.
    pub fn decide(
        &mut self,
        expected_version: i64,
        decision: Option<DisputeState>,
        note: &str,
        decider: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        check_version("dispute", self.version, expected_version)?;
        if self.state != DisputeState::Open {
            return Err(Refusal::Precondition(format!(
                "dispute {} was already decided: {}",
                self.id, self.state
            )));
        }
        if decider == self.staff_id {
            return Err(Refusal::Precondition(
                "nobody decides their own dispute".into(),
            ));
        }
        let state = match decision {
            Some(s @ (DisputeState::Upheld | DisputeState::Rejected)) => s,
            _ => return Err(invalid("decision", "required: UPHELD or REJECTED")),
        };
        self.decision_note = text("decision_note", note)?;
        self.state = state;
        self.decided_by = decider.to_owned();
        self.decided_at = Some(now);
        self.version += 1;
        Ok(())
    }
}

impl Dispute {
    /// CR-11: empties what people wrote (the reason, the decision note), which may speak of
    /// the customer; the dispute, its state and its effect on the figures stay. Whether there
    /// was anything to empty.
    pub fn erase(&mut self) -> bool {
        if self.reason.is_empty() && self.decision_note.is_empty() {
            return false;
        }
        self.reason.clear();
        self.decision_note.clear();
        self.version += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fact::sample::at;

    #[test]
    fn sk3_a_dispute_is_decided_once_by_someone_else_with_a_note() {
        let now = at("2026-12-02T00:00:00Z");
        let mut d = Dispute::open(
            "d1".into(),
            "ann",
            "2026-11",
            Kpi::ComplaintsAgainst,
            "e1",
            "the customer complained about the courier, not me",
            now,
        )
        .unwrap();
        assert!(matches!(
            d.decide(1, Some(DisputeState::Upheld), "ok", "ann", now),
            Err(Refusal::Precondition(_))
        ));
        assert!(matches!(
            d.decide(1, Some(DisputeState::Open), "ok", "sue", now),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            d.decide(1, Some(DisputeState::Upheld), " ", "sue", now),
            Err(Refusal::Invalid(_))
        ));
        d.decide(
            1,
            Some(DisputeState::Upheld),
            "call recording confirms it",
            "sue",
            now,
        )
        .unwrap();
        assert_eq!((d.state, d.version), (DisputeState::Upheld, 2));
        assert!(matches!(
            d.decide(2, Some(DisputeState::Rejected), "no", "max", now),
            Err(Refusal::Precondition(_))
        ));
        assert!(Dispute::open("d2".into(), "ann", "2026-11", Kpi::Csat, "e", "", now).is_err());
    }

    #[test]
    fn cr11_an_erased_dispute_keeps_its_decision_but_no_words() {
        let now = at("2026-12-02T00:00:00Z");
        let mut d = Dispute::open(
            "d1".into(),
            "ann",
            "2026-12",
            Kpi::Csat,
            "e1",
            "Mr Chen said so",
            now,
        )
        .unwrap();
        d.decide(
            1,
            Some(DisputeState::Upheld),
            "agreed with Mr Chen",
            "sue",
            now,
        )
        .unwrap();
        assert!(d.erase());
        assert_eq!((d.reason.as_str(), d.decision_note.as_str()), ("", ""));
        assert_eq!(d.state, DisputeState::Upheld);
        assert_eq!(d.version, 3);
        assert!(!d.erase(), "nothing left to empty");
        assert_eq!(d.version, 3);
    }
}
