//! What order-tracking tells the others: its facts as the contract's event messages, which
//! carry ids, codes and amounts and never free text or personal data (notes, locations,
//! descriptions and the signer's name stay on the order, readable through the API).

use chrono::{DateTime, Utc};
use kefu_platform::time::to_timestamp;
use kefu_proto::common as pc;
use kefu_proto::order as pb;

use crate::domain::{Money, Order, OrderException, PaymentStatus, ReturnReason, StateChange};

/// What a change did to an order, as its rule reports it; the event is made from it once the
/// order has its new version.
#[derive(Debug)]
pub(crate) enum Happened {
    Moved(StateChange),
    Payment(PaymentStatus, Option<Money>),
    /// A pick was recorded or resolved; this many short picks are open.
    Picked(usize),
    Packed,
    HandedOver(Option<DateTime<Utc>>),
    ExceptionRaised(OrderException),
}

impl Happened {
    /// Its event, of `order` as changed.
    pub(crate) fn event(&self, order: &Order) -> OrderEvent {
        match self {
            Happened::Moved(change) => moved(order, change),
            Happened::Payment(status, amount) => payment(order, *status, amount.as_ref()),
            Happened::Picked(short) => picked(order, *short),
            Happened::Packed => packed(order),
            Happened::HandedOver(signed_at) => handed_over(order, *signed_at),
            Happened::ExceptionRaised(exception) => exception_raised(order, exception),
        }
    }
}

/// The subject of an order's events.
pub(crate) fn subject(order_id: &str) -> String {
    format!("orders/{order_id}")
}

/// One event of an order, in the order it is written.
#[derive(Debug)]
pub(crate) enum OrderEvent {
    Created(pb::OrderCreated),
    Moved(pb::OrderMoved),
    Payment(pb::PaymentStatusChanged),
    Pick(pb::PickRecorded),
    Packing(pb::PackingRecorded),
    Handover(pb::HandoverSigned),
    Exception(pb::ExceptionRaised),
    Return(pb::ReturnCreated),
}

impl OrderEvent {
    /// Appends it to the outbox in the caller's transaction.
    pub(crate) async fn append<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        order_id: &str,
    ) -> Result<(), sea_orm::DbErr> {
        use kefu_platform::events::append;
        let subject = subject(order_id);
        match self {
            OrderEvent::Created(e) => append(txn, &subject, e).await?,
            OrderEvent::Moved(e) => append(txn, &subject, e).await?,
            OrderEvent::Payment(e) => append(txn, &subject, e).await?,
            OrderEvent::Pick(e) => append(txn, &subject, e).await?,
            OrderEvent::Packing(e) => append(txn, &subject, e).await?,
            OrderEvent::Handover(e) => append(txn, &subject, e).await?,
            OrderEvent::Exception(e) => append(txn, &subject, e).await?,
            OrderEvent::Return(e) => append(txn, &subject, e).await?,
        };
        Ok(())
    }
}

pub(crate) fn created(order: &Order) -> OrderEvent {
    OrderEvent::Created(pb::OrderCreated {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        channel: order.channel.into(),
        total: Some(pc::Money::from(&order.price.total)),
        promised_delivery_time: Some(to_timestamp(order.promised_at)),
        original_order_id: order.original_order_id.clone(),
        customer_tier: kefu_directory::tier_from_code(&order.tier).into(),
    })
}

/// OT-4: a move, without its location and note.
fn moved(order: &Order, change: &StateChange) -> OrderEvent {
    OrderEvent::Moved(pb::OrderMoved {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        version: order.version,
        from_state: change.from.map_or(0, i32::from),
        to_state: change.to.into(),
        actor_id: change.actor_id.clone(),
        change_time: Some(to_timestamp(change.at)),
    })
}

fn payment(order: &Order, status: PaymentStatus, amount: Option<&Money>) -> OrderEvent {
    OrderEvent::Payment(pb::PaymentStatusChanged {
        order_id: order.id.clone(),
        payment_status: status.into(),
        amount: amount.map(pc::Money::from),
    })
}

fn picked(order: &Order, short_lines: usize) -> OrderEvent {
    OrderEvent::Pick(pb::PickRecorded {
        order_id: order.id.clone(),
        short_lines: i32::try_from(short_lines).unwrap_or(i32::MAX),
    })
}

fn packed(order: &Order) -> OrderEvent {
    OrderEvent::Packing(pb::PackingRecorded {
        order_id: order.id.clone(),
        package_count: i32::try_from(order.packages.len()).unwrap_or(i32::MAX),
    })
}

/// OT-6: tells the notification systems to notify the customer; names no signer.
fn handed_over(order: &Order, signed_at: Option<DateTime<Utc>>) -> OrderEvent {
    OrderEvent::Handover(pb::HandoverSigned {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        sign_time: signed_at.map(to_timestamp),
    })
}

/// OT-7: complaint-desk opens a case from this; the description stays on the order.
fn exception_raised(order: &Order, exception: &OrderException) -> OrderEvent {
    OrderEvent::Exception(pb::ExceptionRaised {
        customer_id: order.customer_id.clone(),
        exception_id: exception.id.clone(),
        order_id: exception.order_id.clone(),
        kind: exception.kind.into(),
        reporter_id: exception.reporter_id.clone(),
        raise_time: Some(to_timestamp(exception.raised_at)),
    })
}

pub(crate) fn return_created(returned: &Order, reason: ReturnReason) -> OrderEvent {
    OrderEvent::Return(pb::ReturnCreated {
        return_order_id: returned.id.clone(),
        original_order_id: returned.original_order_id.clone(),
        reason: reason.into(),
    })
}
