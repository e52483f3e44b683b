//! OT-9: a return order (误差, 损坏, 缺漏) linked to a delivered original, whose history stays
//! as it was; the goods go back where they came from.

use chrono::{DateTime, Utc};
use kefu_platform::error::Violations;

use super::lifecycle::MAX_NOTE;
use super::{
    CargoLine, Order, OrderState, PaymentStatus, Price, Refusal, ReturnReason, ServiceLevel,
    StateChange,
};

/// What a return asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRequest {
    pub original_order_id: String,
    /// `None` when the caller named none.
    pub reason: Option<ReturnReason>,
    pub lines: Vec<CargoLine>,
    pub note: String,
}

impl ReturnRequest {
    /// The request's own fields, before the original is looked at.
    pub fn check(&self) -> Result<(), Refusal> {
        let mut v = Violations::new();
        v.check(
            !self.original_order_id.is_empty(),
            "original_order_id",
            "required",
        );
        v.check(
            self.reason.is_some(),
            "reason",
            "required: discrepancy, damage or shortage",
        );
        v.check(self.note.chars().count() <= MAX_NOTE, "note", "too long");
        Ok(v.finish()?)
    }
}

/// What a return order is made of besides the request: decided by the use case.
#[derive(Clone, Debug)]
pub struct ReturnTerms {
    pub id: String,
    pub price: Price,
    pub promised_at: DateTime<Utc>,
    pub actor: String,
    pub now: DateTime<Utc>,
}

impl Order {
    /// Only delivered goods come back.
    pub fn ensure_returnable(&self) -> Result<(), Refusal> {
        if matches!(self.state, OrderState::Delivered | OrderState::Completed) {
            Ok(())
        } else {
            Err(Refusal::Precondition(format!(
                "only delivered orders can be returned; this one is {}",
                self.state
            )))
        }
    }

    /// OT-9: the return order of `request` against this original, under `terms`.
    pub fn new_return(&self, request: ReturnRequest, terms: ReturnTerms) -> Result<Order, Refusal> {
        self.ensure_returnable()?;
        let reason = request
            .reason
            .ok_or_else(|| super::invalid("reason", "required"))?;
        Ok(Order {
            id: terms.id,
            customer_id: self.customer_id.clone(),
            channel: self.channel,
            state: OrderState::Received,
            lines: request.lines,
            // The goods go back where they came from.
            origin: self.destination.clone(),
            destination: self.origin.clone(),
            distance_km: self.distance_km,
            service_level: ServiceLevel::Standard,
            price: terms.price,
            payment_status: PaymentStatus::Unpaid,
            promised_at: terms.promised_at,
            pick_lines: vec![],
            packages: vec![],
            handover: None,
            exceptions: vec![],
            history: vec![StateChange {
                from: None,
                to: OrderState::Received,
                actor_id: terms.actor,
                location: String::new(),
                note: format!("return of {}: {}", self.id, request.note.trim()),
                at: terms.now,
            }],
            original_order_id: self.id.clone(),
            return_reason: Some(reason),
            created_at: terms.now,
            updated_at: terms.now,
            version: 1,
            tier: self.tier.clone(),
            delay_raised: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::verify::tests::stored_order;

    fn request() -> ReturnRequest {
        ReturnRequest {
            original_order_id: "o1".into(),
            reason: Some(ReturnReason::Damage),
            lines: stored_order().lines,
            note: "box crushed".into(),
        }
    }

    fn terms() -> ReturnTerms {
        let now = Utc::now();
        ReturnTerms {
            id: "r1".into(),
            price: stored_order().price,
            promised_at: now,
            actor: "agent-2".into(),
            now,
        }
    }

    #[test]
    fn ot9_a_return_is_linked_to_its_delivered_original_and_goes_back() {
        let mut original = stored_order();
        assert!(matches!(
            original.new_return(request(), terms()),
            Err(Refusal::Precondition(_))
        ));
        original.state = OrderState::Delivered;
        let back = original.new_return(request(), terms()).unwrap();
        assert_eq!(back.original_order_id, "o1");
        assert_eq!(back.return_reason, Some(ReturnReason::Damage));
        assert_eq!(
            (back.origin.city.as_str(), back.destination.city.as_str()),
            ("Xiamen", "Fuzhou")
        );
        assert_eq!(back.state, OrderState::Received);
        assert_eq!(
            original.history.len(),
            1,
            "the original's history stays intact"
        );
    }

    #[test]
    fn ot9_a_return_names_its_original_and_its_reason() {
        let bad = ReturnRequest {
            original_order_id: String::new(),
            reason: None,
            note: "x".repeat(1001),
            ..request()
        };
        match bad.check() {
            Err(Refusal::Invalid(v)) => {
                let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["original_order_id", "reason", "note"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(request().check().is_ok());
    }
}
