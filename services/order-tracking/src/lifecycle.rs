//! The lifecycle's use cases: moves (OT-4), payment (OT-3), picking and packing (OT-5) and
//! the signed handover (OT-6), each through the one write path with its events.

use crate::domain::lifecycle::MAX_NOTE;
use crate::domain::{Handover, Money, Order, OrderState, Package, PaymentStatus, PickLine};
use crate::error::{Result, invalid};
use crate::events::Happened;
use crate::orders::{Orders, Requester, Retry};

/// What a move asks for.
#[derive(Debug)]
pub(crate) struct Move {
    pub(crate) to: Option<OrderState>,
    /// 0: any version.
    pub(crate) expected_version: i64,
    pub(crate) location: String,
    pub(crate) note: String,
}

impl Orders {
    /// OT-4: one lifecycle move, with its gates (OT-5, OT-6).
    pub(crate) async fn move_order(
        &self,
        who: &Requester,
        order_id: &str,
        request: Move,
        retry: &Retry,
    ) -> Result<Order> {
        let mut v = kefu_platform::error::Violations::new();
        v.check(
            request.to.is_some(),
            "to_state",
            "required: the state to move to",
        );
        v.check(
            request.location.chars().count() <= MAX_NOTE,
            "location",
            "too long",
        );
        v.check(request.note.chars().count() <= MAX_NOTE, "note", "too long");
        v.finish()?;
        let Some(to) = request.to else {
            return Err(invalid("to_state", "required"));
        };
        self.change(who, retry, order_id, |order, now| {
            order.check_version(request.expected_version)?;
            let change =
                order.request_move(to, &who.subject, &request.location, &request.note, now)?;
            Ok(vec![Happened::Moved(change)])
        })
        .await
    }

    /// OT-3: records a payment or a change of payment status.
    pub(crate) async fn update_payment(
        &self,
        who: &Requester,
        order_id: &str,
        status: Option<PaymentStatus>,
        amount: Option<Money>,
        retry: &Retry,
    ) -> Result<Order> {
        let currency = &self.rules.pricing.currency;
        let Some(status) = status else {
            return Err(invalid(
                "payment_status",
                "required: unpaid, paid, on_account or refunded",
            ));
        };
        if let Some(amount) = &amount
            && (amount.minor_units < 0 || amount.currency != *currency)
        {
            return Err(invalid(
                "amount",
                format!("a non-negative amount in {currency}"),
            ));
        }
        self.change(who, retry, order_id, |order, _| {
            order.set_payment_status(status)?;
            Ok(vec![Happened::Payment(status, amount)])
        })
        .await
    }

    /// OT-5: what was picked against the pick list.
    pub(crate) async fn record_pick(
        &self,
        who: &Requester,
        order_id: &str,
        reported: Vec<PickLine>,
        retry: &Retry,
    ) -> Result<Order> {
        self.change(who, retry, order_id, |order, _| {
            let short = order.record_pick(&reported)?;
            Ok(vec![Happened::Picked(short)])
        })
        .await
    }

    /// OT-5: settles a short pick.
    pub(crate) async fn resolve_short_pick(
        &self,
        who: &Requester,
        order_id: &str,
        line_number: i32,
        resolution: &str,
        retry: &Retry,
    ) -> Result<Order> {
        self.change(who, retry, order_id, |order, _| {
            let short = order.resolve_short_pick(line_number, resolution)?;
            Ok(vec![Happened::Picked(short)])
        })
        .await
    }

    /// OT-5: the packing list.
    pub(crate) async fn record_packing(
        &self,
        who: &Requester,
        order_id: &str,
        packages: Vec<Package>,
        retry: &Retry,
    ) -> Result<Order> {
        self.change(who, retry, order_id, |order, _| {
            order.record_packing(packages)?;
            Ok(vec![Happened::Packed])
        })
        .await
    }

    /// OT-6: the signed handover delivers the order; the notification systems tell the
    /// customer from its event.
    pub(crate) async fn record_handover(
        &self,
        who: &Requester,
        order_id: &str,
        handover: Option<Handover>,
        retry: &Retry,
    ) -> Result<Order> {
        self.change(who, retry, order_id, |order, now| {
            let signed_at = handover.as_ref().and_then(|h| h.signed_at);
            let change = order.record_handover(handover, &who.subject, now)?;
            Ok(vec![
                Happened::Moved(change),
                Happened::HandedOver(signed_at),
            ])
        })
        .await
    }
}
