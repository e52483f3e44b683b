//! OT-6: the signed handover, with the documents, both sides, the signer, the time and the
//! proof; it is what delivers an order, and the customer is then notified.

use chrono::{DateTime, Duration, Utc};
use kefu_platform::error::Violations;

use super::{Handover, Order, OrderState, Refusal, StateChange};

/// The handover names both sides, the signer, the time (not in the future) and the proof.
fn check(handover: Option<&Handover>, now: DateTime<Utc>) -> Result<(), Refusal> {
    let mut v = Violations::new();
    let Some(h) = handover else {
        v.add("handover", "required");
        return Ok(v.finish()?);
    };
    v.check(
        !h.document_numbers.is_empty(),
        "handover.document_numbers",
        "at least one handover document",
    );
    v.check(
        !h.handed_by.trim().is_empty(),
        "handover.handed_by",
        "required: who handed over",
    );
    v.check(
        !h.signer_name.trim().is_empty(),
        "handover.signer_name",
        "required: who signed",
    );
    v.check(
        !h.proof_uri.trim().is_empty(),
        "handover.proof_uri",
        "required: the signature or photo",
    );
    match h.signed_at {
        None => v.add("handover.sign_time", "required"),
        Some(t) if t > now + Duration::minutes(5) => v.add("handover.sign_time", "in the future"),
        Some(_) => {}
    }
    Ok(v.finish()?)
}

impl Order {
    /// OT-6: records the handover of an order OUT_FOR_DELIVERY and delivers it. The move's
    /// note says a handover was signed; the signer's name stays in the handover.
    pub fn record_handover(
        &mut self,
        handover: Option<Handover>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<StateChange, Refusal> {
        check(handover.as_ref(), now)?;
        if self.state != OrderState::OutForDelivery {
            return Err(Refusal::Precondition(format!(
                "handover happens OUT_FOR_DELIVERY; the order is {}",
                self.state
            )));
        }
        self.handover = handover;
        self.advance(OrderState::Delivered, actor, "", "signed handover", now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::verify::tests::stored_order;

    fn full() -> Handover {
        Handover {
            document_numbers: vec!["WB-1".into()],
            handed_by: "courier 7".into(),
            signer_name: "Wang".into(),
            signed_at: Some(Utc::now()),
            proof_uri: "docs://proof/1".into(),
        }
    }

    fn missing(h: Handover) -> Vec<String> {
        match check(Some(&h), Utc::now()) {
            Err(Refusal::Invalid(v)) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected violations, got {other:?}"),
        }
    }

    #[test]
    fn ot6_handover_needs_documents_both_sides_signer_time_and_proof() {
        assert!(check(Some(&full()), Utc::now()).is_ok());
        assert_eq!(
            missing(Handover {
                signer_name: " ".into(),
                ..full()
            }),
            ["handover.signer_name"]
        );
        assert_eq!(
            missing(Handover {
                proof_uri: String::new(),
                ..full()
            }),
            ["handover.proof_uri"]
        );
        assert_eq!(
            missing(Handover {
                signed_at: None,
                ..full()
            }),
            ["handover.sign_time"]
        );
        assert_eq!(
            missing(Handover {
                signed_at: Some(Utc::now() + Duration::hours(1)),
                ..full()
            }),
            ["handover.sign_time"]
        );
        assert_eq!(
            missing(Handover {
                document_numbers: vec![],
                ..full()
            }),
            ["handover.document_numbers"]
        );
        assert_eq!(
            missing(Handover {
                handed_by: String::new(),
                ..full()
            }),
            ["handover.handed_by"]
        );
        assert!(check(None, Utc::now()).is_err());
    }

    #[test]
    fn ot6_a_handover_delivers_an_order_out_for_delivery_and_names_no_one_in_the_move() {
        let mut order = stored_order();
        order.state = OrderState::Arrived;
        assert!(matches!(
            order.record_handover(Some(full()), "courier-7", Utc::now()),
            Err(Refusal::Precondition(_))
        ));
        order.state = OrderState::OutForDelivery;
        let moved = order
            .record_handover(Some(full()), "courier-7", Utc::now())
            .unwrap();
        assert_eq!(order.state, OrderState::Delivered);
        assert_eq!(
            order.handover.as_ref().map(|h| h.signer_name.as_str()),
            Some("Wang")
        );
        assert!(!moved.note.contains("Wang"), "{}", moved.note);
        assert!(order.delivered_at().is_some());
    }
}
