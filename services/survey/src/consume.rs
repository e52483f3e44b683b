//! The events survey reads, each effect committed with the consumer's cursor. From
//! customer-registry: who each customer is (tier, team, active) and erasures (CR-11). From
//! order-tracking: orders created and delivered (SV-4's figures; the after-delivery trigger).
//! From complaint-desk: cases registered, resolved and closed (SV-4's figures; the
//! after-complaint trigger).

use chrono::{DateTime, Utc};
use kefu_platform::events::EventHandler;
use kefu_platform::time::from_timestamp;
use kefu_proto::common::Event;
use kefu_proto::complaint as dpb;
use kefu_proto::customer as cpb;
use kefu_proto::order as opb;
use prost::Message as _;
use sea_orm::DatabaseTransaction;

use crate::domain::TriggerKind;
use crate::store::{Scheduled, customers, facts};
use crate::surveys::Surveys;

/// The consumers' names, which key their cursors and leases.
pub const CUSTOMER_EVENTS: &str = "survey.customer-events";
pub const ORDER_EVENTS: &str = "survey.order-events";
pub const COMPLAINT_EVENTS: &str = "survey.complaint-events";
/// The producers whose events are read.
pub(crate) const CUSTOMER_REGISTRY: &str = "customer-registry";
pub(crate) const CUSTOMER_REGISTRY_GRPC: &str = "kefu.customer.v1.CustomerRegistryService";
pub(crate) const ORDER_TRACKING: &str = "order-tracking";
pub(crate) const ORDER_TRACKING_GRPC: &str = "kefu.order.v1.OrderTrackingService";
pub(crate) const COMPLAINT_DESK: &str = "complaint-desk";
pub(crate) const COMPLAINT_DESK_GRPC: &str = "kefu.complaint.v1.ComplaintDeskService";
/// The only events each consumer needs; the producers filter the rest out.
pub(crate) const CUSTOMER_TYPES: [&str; 5] = [
    "kefu.customer.v1.CustomerCreated",
    "kefu.customer.v1.CustomerUpdated",
    "kefu.customer.v1.TierChanged",
    "kefu.customer.v1.CustomerArchived",
    "kefu.customer.v1.CustomerErased",
];
pub(crate) const ORDER_TYPES: [&str; 2] =
    ["kefu.order.v1.OrderCreated", "kefu.order.v1.OrderMoved"];
pub(crate) const COMPLAINT_TYPES: [&str; 3] = [
    "kefu.complaint.v1.ComplaintRegistered",
    "kefu.complaint.v1.ComplaintResolved",
    "kefu.complaint.v1.ComplaintClosed",
];

fn payload(event: &Event) -> &[u8] {
    event
        .payload
        .as_ref()
        .map_or(&[][..], |p| p.value.as_slice())
}

fn occurred(event: &Event) -> DateTime<Utc> {
    event
        .occurred_at
        .as_ref()
        .and_then(from_timestamp)
        .unwrap_or_else(Utc::now)
}

fn tier_code(tier: i32) -> String {
    kefu_directory::tier_code(cpb::Tier::try_from(tier).unwrap_or_default())
}

/// Keeps who each customer is.
#[derive(Debug)]
pub(crate) struct CustomerEvents(pub(crate) Surveys);

#[async_trait::async_trait]
impl EventHandler for CustomerEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        let body = payload(event);
        match event.r#type.as_str() {
            "kefu.customer.v1.CustomerCreated" => {
                let e = cpb::CustomerCreated::decode(body)?;
                customers::describe(txn, &e.customer_id, &tier_code(e.tier), &e.team_id, true)
                    .await?;
            }
            "kefu.customer.v1.CustomerUpdated" => {
                let e = cpb::CustomerUpdated::decode(body)?;
                customers::set_team(txn, &e.customer_id, &e.team_id, e.version).await?;
            }
            "kefu.customer.v1.TierChanged" => {
                let e = cpb::TierChanged::decode(body)?;
                customers::set_tier(txn, &e.customer_id, &tier_code(e.new_tier)).await?;
            }
            "kefu.customer.v1.CustomerArchived" => {
                let e = cpb::CustomerArchived::decode(body)?;
                customers::deactivate(txn, &e.customer_id).await?;
            }
            "kefu.customer.v1.CustomerErased" => {
                let e = cpb::CustomerErased::decode(body)?;
                customers::deactivate(txn, &e.customer_id).await?;
                self.0.erase_customer(txn, &e.customer_id).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Counts orders and deliveries, and schedules the after-delivery triggers.
#[derive(Debug)]
pub(crate) struct OrderEvents(pub(crate) Surveys);

#[async_trait::async_trait]
impl EventHandler for OrderEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        let body = payload(event);
        match event.r#type.as_str() {
            "kefu.order.v1.OrderCreated" => {
                let e = opb::OrderCreated::decode(body)?;
                // Events from before orders carried the tier fall back to what is known here.
                let tier = if e.customer_tier() == cpb::Tier::Unspecified {
                    customers::get(txn, &e.customer_id, false)
                        .await?
                        .map(|c| c.tier)
                        .unwrap_or_default()
                } else {
                    tier_code(e.customer_tier)
                };
                facts::order_created(txn, &e.order_id, &e.customer_id, &tier, occurred(event))
                    .await?;
            }
            "kefu.order.v1.OrderMoved" => {
                let e = opb::OrderMoved::decode(body)?;
                if e.to_state != opb::OrderState::Delivered as i32 {
                    return Ok(());
                }
                let at = e
                    .change_time
                    .as_ref()
                    .and_then(from_timestamp)
                    .unwrap_or_else(|| occurred(event));
                facts::order_delivered(txn, &e.order_id, at, &e.actor_id).await?;
                let delivered = Scheduled {
                    trigger_id: String::new(),
                    source_key: format!("order:{}", e.order_id),
                    customer_id: e.customer_id,
                    order_id: e.order_id,
                    complaint_id: String::new(),
                    agent_id: e.actor_id,
                    due_at: at,
                    traceparent: kefu_platform::telemetry::current_traceparent(),
                };
                self.0
                    .schedule_triggers(txn, TriggerKind::AfterDelivery, &delivered)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Counts cases and resolution times, and schedules the after-complaint triggers.
#[derive(Debug)]
pub(crate) struct ComplaintEvents(pub(crate) Surveys);

#[async_trait::async_trait]
impl EventHandler for ComplaintEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        let body = payload(event);
        match event.r#type.as_str() {
            "kefu.complaint.v1.ComplaintRegistered" => {
                let e = dpb::ComplaintRegistered::decode(body)?;
                let at = e
                    .register_time
                    .as_ref()
                    .and_then(from_timestamp)
                    .unwrap_or_else(|| occurred(event));
                facts::case_registered(
                    txn,
                    &e.complaint_id,
                    &e.customer_id,
                    &tier_code(e.tier),
                    e.r#type == dpb::CaseType::Complaint as i32,
                    at,
                )
                .await?;
            }
            "kefu.complaint.v1.ComplaintResolved" => {
                let e = dpb::ComplaintResolved::decode(body)?;
                let seconds = e.resolution_business_time.map_or(0, |d| d.seconds);
                facts::case_resolved(txn, &e.complaint_id, seconds, &e.assignee_id).await?;
            }
            "kefu.complaint.v1.ComplaintClosed" => {
                let e = dpb::ComplaintClosed::decode(body)?;
                let closed = Scheduled {
                    trigger_id: String::new(),
                    source_key: format!("complaint:{}", e.complaint_id),
                    customer_id: e.customer_id,
                    order_id: e.order_id,
                    complaint_id: e.complaint_id,
                    agent_id: e.assignee_id,
                    due_at: occurred(event),
                    traceparent: kefu_platform::telemetry::current_traceparent(),
                };
                self.0
                    .schedule_triggers(txn, TriggerKind::AfterComplaintClosed, &closed)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
