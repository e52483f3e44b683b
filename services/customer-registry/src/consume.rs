//! The events customer-registry reads: every order-tracking event goes on its customer's
//! service record (CR-13), and OrderCreated is the fact CR-2's tiers are computed from;
//! staff-kpi's staff events say where each person sells, which CR-4 checks visitors against.
//! Each event's effect and the consumer's cursor commit together.

use chrono::{DateTime, Utc};
use kefu_platform::events::EventHandler;
use kefu_platform::time::from_timestamp;
use kefu_proto::common::Event;
use kefu_proto::order as order_pb;
use prost::Message as _;
use sea_orm::DatabaseTransaction;

use crate::domain::record::{RecordEntry, words};
use crate::domain::tier::yuan;
use crate::registry::Registry;
use crate::store;
use crate::tiers::{Retiered, conflict};

/// The consumer's name, which keys its cursor and its lease.
pub const ORDER_FACTS: &str = "customer-registry.order-facts";
/// The producer whose events are read.
pub(crate) const ORDER_TRACKING: &str = "order-tracking";
pub(crate) const ORDER_TRACKING_GRPC: &str = "kefu.order.v1.OrderTrackingService";

/// The consumer of staff-kpi's staff events.
pub const STAFF_PROFILES: &str = "customer-registry.staff-profiles";
pub(crate) const STAFF_KPI: &str = "staff-kpi";
pub(crate) const STAFF_KPI_GRPC: &str = "kefu.staff.v1.StaffKpiService";
/// The only events it needs.
pub(crate) const STAFF_TYPES: [&str; 3] = [
    "kefu.staff.v1.StaffJoined",
    "kefu.staff.v1.StaffUpdated",
    "kefu.staff.v1.StaffLeft",
];

/// CR-4: keeps the latest of what staff-kpi says of each person.
#[derive(Debug)]
pub(crate) struct StaffProfiles;

#[async_trait::async_trait]
impl EventHandler for StaffProfiles {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        use kefu_proto::staff as pb;
        let payload = event
            .payload
            .as_ref()
            .map_or(&[][..], |p| p.value.as_slice());
        let profile = match event.r#type.as_str() {
            "kefu.staff.v1.StaffJoined" => pb::StaffJoined::decode(payload)?.profile,
            "kefu.staff.v1.StaffUpdated" => pb::StaffUpdated::decode(payload)?.profile,
            "kefu.staff.v1.StaffLeft" => pb::StaffLeft::decode(payload)?.profile,
            _ => None,
        };
        if let Some(p) = profile {
            let active = p.state() == pb::StaffState::Active;
            store::staff::keep(txn, &p.staff_id, &p.sales_region, active, p.version).await?;
        }
        Ok(())
    }
}

/// Keeps order events on their customers' records and moves tiers with new orders.
#[derive(Debug)]
pub(crate) struct OrderFacts {
    pub(crate) registry: Registry,
}

#[async_trait::async_trait]
impl EventHandler for OrderFacts {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        let Some(entry) = order_entry(event)? else {
            return Ok(());
        };
        let customer_id = match &entry.customer_id {
            Some(id) => id.clone(),
            None => match store::record::customer_of_order(txn, &entry.order_id).await? {
                Some(id) => id,
                // An order this registry never saw created names no customer it knows.
                None => return Ok(()),
            },
        };
        if entry.introduces_order {
            store::record::remember_order(txn, &entry.order_id, &customer_id).await?;
        }
        let at = occurred_at(event);
        store::record::keep(
            txn,
            &customer_id,
            &RecordEntry {
                occurred_at: at,
                source: if event.source.is_empty() {
                    ORDER_TRACKING.to_owned()
                } else {
                    event.source.clone()
                },
                event_type: event.r#type.clone(),
                subject: format!("orders/{}", entry.order_id),
                summary: entry.summary,
                event_id: event.id.clone(),
            },
        )
        .await?;
        let Some(spend_fen) = entry.new_order_spend else {
            return Ok(());
        };
        // CR-2: an order is one use in its local month and its total is spend.
        let registry = &self.registry;
        let month = at
            .with_timezone(&registry.rules.month_offset)
            .format("%Y-%m")
            .to_string();
        store::tiers::add_use(txn, &customer_id, &month).await?;
        store::tiers::add_spend(txn, &entry.order_id, &customer_id, spend_fen, at).await?;
        let facts = registry.usage_facts(txn, &customer_id, at).await?;
        match registry.retier(txn, &customer_id, facts, at).await? {
            Retiered::Conflict => Err(conflict(&customer_id).into()),
            Retiered::Unchanged | Retiered::Changed => Ok(()),
        }
    }
}

fn occurred_at(event: &Event) -> DateTime<Utc> {
    event
        .occurred_at
        .as_ref()
        .and_then(from_timestamp)
        .unwrap_or_else(Utc::now)
}

/// What an order event says about whose order it is and what happened.
#[derive(Debug, PartialEq)]
struct OrderEntry {
    order_id: String,
    /// `None` when the event names only the order.
    customer_id: Option<String>,
    summary: String,
    /// The event introduces the order, so later events can be traced to the customer.
    introduces_order: bool,
    /// A new order (not a return): its total, fen, counts as spend and the order as a use.
    new_order_spend: Option<i64>,
}

impl OrderEntry {
    fn new(order_id: String, customer_id: Option<String>, summary: String) -> Self {
        Self {
            order_id,
            customer_id,
            summary,
            introduces_order: false,
            new_order_spend: None,
        }
    }
}

fn order_entry(event: &Event) -> Result<Option<OrderEntry>, prost::DecodeError> {
    let payload = event
        .payload
        .as_ref()
        .map_or(&[][..], |p| p.value.as_slice());
    let named = |id: String| (!id.is_empty()).then_some(id);
    let entry = match event.r#type.as_str() {
        "kefu.order.v1.OrderCreated" => {
            let e = order_pb::OrderCreated::decode(payload)?;
            let total = e.total.as_ref().map(|m| m.minor_units);
            let is_return = !e.original_order_id.is_empty();
            let summary = if is_return {
                format!("return order opened for orders/{}", e.original_order_id)
            } else {
                format!(
                    "order placed by {}{}",
                    words(e.channel().as_str_name(), "CHANNEL_"),
                    total
                        .map(|fen| format!(", {}", yuan(fen)))
                        .unwrap_or_default()
                )
            };
            OrderEntry {
                introduces_order: true,
                // A return brings goods back; it is neither a use nor spend.
                new_order_spend: (!is_return).then(|| total.unwrap_or(0)),
                ..OrderEntry::new(e.order_id, named(e.customer_id), summary)
            }
        }
        "kefu.order.v1.OrderMoved" => {
            let e = order_pb::OrderMoved::decode(payload)?;
            let summary = format!(
                "order moved from {} to {}",
                words(e.from_state().as_str_name(), "ORDER_STATE_"),
                words(e.to_state().as_str_name(), "ORDER_STATE_")
            );
            OrderEntry::new(e.order_id, named(e.customer_id), summary)
        }
        "kefu.order.v1.PaymentStatusChanged" => {
            let e = order_pb::PaymentStatusChanged::decode(payload)?;
            let summary = format!(
                "payment {}",
                words(e.payment_status().as_str_name(), "PAYMENT_STATUS_")
            );
            OrderEntry::new(e.order_id, None, summary)
        }
        "kefu.order.v1.PickRecorded" => {
            let e = order_pb::PickRecorded::decode(payload)?;
            let summary = match e.short_lines {
                0 => "goods picked".to_owned(),
                n => format!("goods picked, {n} lines short"),
            };
            OrderEntry::new(e.order_id, None, summary)
        }
        "kefu.order.v1.PackingRecorded" => {
            let e = order_pb::PackingRecorded::decode(payload)?;
            let summary = format!("packed in {} packages", e.package_count);
            OrderEntry::new(e.order_id, None, summary)
        }
        "kefu.order.v1.HandoverSigned" => {
            let e = order_pb::HandoverSigned::decode(payload)?;
            OrderEntry::new(
                e.order_id,
                named(e.customer_id),
                "delivered and signed for".to_owned(),
            )
        }
        "kefu.order.v1.ExceptionRaised" => {
            let e = order_pb::ExceptionRaised::decode(payload)?;
            let summary = format!(
                "{} exception raised",
                words(e.kind().as_str_name(), "EXCEPTION_KIND_")
            );
            OrderEntry::new(e.order_id, named(e.customer_id), summary)
        }
        "kefu.order.v1.ReturnCreated" => {
            let e = order_pb::ReturnCreated::decode(payload)?;
            let summary = format!(
                "return requested ({}): orders/{}",
                words(e.reason().as_str_name(), "RETURN_REASON_"),
                e.return_order_id
            );
            OrderEntry::new(e.original_order_id, None, summary)
        }
        _ => return Ok(None),
    };
    Ok((!entry.order_id.is_empty()).then_some(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<M: prost::Message + prost::Name>(message: &M) -> Event {
        Event {
            id: "0190-a".into(),
            r#type: M::full_name(),
            payload: Some(prost_types::Any {
                type_url: M::type_url(),
                value: message.encode_to_vec(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cr13_order_events_name_the_order_and_say_what_happened() {
        let created = order_entry(&event(&order_pb::OrderCreated {
            order_id: "o1".into(),
            customer_id: "c1".into(),
            channel: order_pb::Channel::Web as i32,
            total: Some(kefu_proto::common::Money {
                currency_code: "CNY".into(),
                minor_units: 12_050,
            }),
            ..Default::default()
        }))
        .unwrap()
        .unwrap();
        assert_eq!(created.customer_id.as_deref(), Some("c1"));
        assert!(created.introduces_order);
        assert_eq!(created.summary, "order placed by web, 120.50 CNY");
        assert_eq!(
            created.new_order_spend,
            Some(12_050),
            "CR-2: a use and its spend"
        );

        let packed = order_entry(&event(&order_pb::PackingRecorded {
            order_id: "o1".into(),
            package_count: 2,
        }))
        .unwrap()
        .unwrap();
        assert_eq!(packed.customer_id, None, "traced through order_customers");
        assert_eq!(packed.summary, "packed in 2 packages");

        let moved = order_entry(&event(&order_pb::OrderMoved {
            order_id: "o1".into(),
            from_state: order_pb::OrderState::Arrived as i32,
            to_state: order_pb::OrderState::OutForDelivery as i32,
            ..Default::default()
        }))
        .unwrap()
        .unwrap();
        assert_eq!(
            moved.summary,
            "order moved from arrived to out for delivery"
        );

        let returned = order_entry(&event(&order_pb::ReturnCreated {
            return_order_id: "o2".into(),
            original_order_id: "o1".into(),
            reason: order_pb::ReturnReason::Damage as i32,
        }))
        .unwrap()
        .unwrap();
        assert_eq!(returned.order_id, "o1");
        assert_eq!(returned.summary, "return requested (damage): orders/o2");
    }

    #[test]
    fn cr2_a_return_order_is_neither_a_use_nor_spend() {
        let created = order_entry(&event(&order_pb::OrderCreated {
            order_id: "o2".into(),
            customer_id: "c1".into(),
            original_order_id: "o1".into(),
            ..Default::default()
        }))
        .unwrap()
        .unwrap();
        assert_eq!(created.new_order_spend, None);
        assert!(
            created.introduces_order,
            "its later events still find the customer"
        );
    }

    #[test]
    fn events_of_no_interest_are_skipped() {
        let other = Event {
            r#type: "kefu.order.v1.SomethingNew".into(),
            ..Default::default()
        };
        assert_eq!(order_entry(&other).unwrap(), None);
    }
}
