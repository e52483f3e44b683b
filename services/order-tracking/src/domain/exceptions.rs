//! OT-7 and OT-8: exceptions (damage, loss, delay, handover dispute) recorded on an order, and
//! the delay an order gets by itself when its promised time passes undelivered, once.

use chrono::{DateTime, Utc};
use kefu_platform::error::Violations;

use super::lifecycle::MAX_NOTE;
use super::{ExceptionKind, Order, OrderException, OrderState, Refusal};

/// Who raises the automatic delay.
pub const SYSTEM: &str = "system";

/// What the automatic delay says (OT-8).
pub const DELAY_DESCRIPTION: &str = "promised delivery time passed before delivery (OT-8)";

/// An exception as a caller reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// `None` when the caller named none.
    pub kind: Option<ExceptionKind>,
    pub description: String,
    pub reporter_id: String,
}

impl Report {
    /// The automatic delay of OT-8.
    pub fn delay() -> Self {
        Self {
            kind: Some(ExceptionKind::Delay),
            description: DELAY_DESCRIPTION.to_owned(),
            reporter_id: SYSTEM.to_owned(),
        }
    }
}

impl Order {
    /// OT-7: records an exception on the order and returns it. A delay of any origin marks
    /// the order so the automatic one is not raised again.
    pub fn raise_exception(
        &mut self,
        report: &Report,
        id: String,
        now: DateTime<Utc>,
    ) -> Result<OrderException, Refusal> {
        let mut v = Violations::new();
        v.check(
            report.kind.is_some(),
            "kind",
            "required: damage, loss, delay or handover_dispute",
        );
        let description = report.description.trim();
        v.check(!description.is_empty(), "description", "required");
        v.check(
            description.chars().count() <= MAX_NOTE,
            "description",
            "too long",
        );
        v.finish()?;
        let Some(kind) = report.kind else {
            return Err(super::invalid("kind", "required"));
        };
        if self.state == OrderState::Cancelled {
            return Err(Refusal::Precondition(
                "a cancelled order has no exceptions".into(),
            ));
        }
        if kind == ExceptionKind::Delay {
            self.delay_raised = true;
        }
        let exception = OrderException {
            id,
            order_id: self.id.clone(),
            kind,
            description: description.to_owned(),
            reporter_id: report.reporter_id.clone(),
            raised_at: now,
        };
        self.exceptions.push(exception.clone());
        Ok(exception)
    }

    /// OT-8: the promise has passed, the goods are not delivered, and no delay was raised.
    pub fn owes_a_delay(&self, now: DateTime<Utc>) -> bool {
        !self.delay_raised && self.promised_at < now && self.state.awaits_delivery()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::verify::tests::stored_order;

    #[test]
    fn ot7_an_exception_needs_a_kind_and_a_description_and_not_a_cancelled_order() {
        let mut order = stored_order();
        let now = Utc::now();
        let report = |kind, description: &str| Report {
            kind,
            description: description.into(),
            reporter_id: "agent-3".into(),
        };
        let refused = order
            .raise_exception(&report(None, " "), "e0".into(), now)
            .unwrap_err();
        assert!(
            matches!(&refused, Refusal::Invalid(v) if v.len() == 2),
            "{refused:?}"
        );
        let raised = order
            .raise_exception(
                &report(Some(ExceptionKind::Damage), " box dented "),
                "e1".into(),
                now,
            )
            .unwrap();
        assert_eq!(raised.description, "box dented");
        assert_eq!(order.exceptions, [raised]);
        order.state = OrderState::Cancelled;
        assert!(matches!(
            order.raise_exception(&report(Some(ExceptionKind::Loss), "gone"), "e2".into(), now),
            Err(Refusal::Precondition(_))
        ));
    }

    #[test]
    fn ot8_a_late_undelivered_order_owes_one_delay() {
        let mut order = stored_order();
        let now = Utc::now();
        order.promised_at = now + Duration::minutes(1);
        assert!(!order.owes_a_delay(now), "not late yet");
        order.promised_at = now - Duration::minutes(1);
        assert!(order.owes_a_delay(now));
        order
            .raise_exception(&Report::delay(), "e1".into(), now)
            .unwrap();
        assert!(!order.owes_a_delay(now), "raised once");
        let mut delivered = stored_order();
        delivered.promised_at = now - Duration::minutes(1);
        delivered.state = OrderState::Delivered;
        assert!(
            !delivered.owes_a_delay(now),
            "delivered late is no longer awaited"
        );
        let mut by_hand = stored_order();
        by_hand.promised_at = now - Duration::minutes(1);
        by_hand
            .raise_exception(
                &Report {
                    kind: Some(ExceptionKind::Delay),
                    description: "stuck at customs".into(),
                    reporter_id: "a".into(),
                },
                "e2".into(),
                now,
            )
            .unwrap();
        assert!(!by_hand.owes_a_delay(now), "a delay raised by hand counts");
    }
}
