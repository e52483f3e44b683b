//! The events staff-kpi reads, each turned into a fact committed with the consumer's cursor
//! (and keyed by the event's id, so a replay adds nothing). From complaint-desk: cases
//! registered and reclassified (whom a complaint names), first responses, resolutions and
//! follow-ups. From survey: the CSAT answers about cases. From customer-registry: visits with
//! their due dates, and erasures, which empty what disputes say about the customer (CR-11).
//! From order-tracking: who delivered each order. Facts carry ids, codes and numbers; no
//! customer's data is kept.

use chrono::{DateTime, Utc};
use kefu_platform::events::EventHandler;
use kefu_platform::time::from_timestamp;
use kefu_proto::common::Event;
use kefu_proto::complaint as dpb;
use kefu_proto::customer as cpb;
use kefu_proto::order as opb;
use kefu_proto::survey as spb;
use prost::Message as _;
use sea_orm::DatabaseTransaction;

use crate::department::Department;
use crate::domain::SYSTEM;
use crate::domain::fact::{Fact, FactKind};
use crate::store;

/// The consumers' names, which key their cursors and leases.
pub const COMPLAINT_EVENTS: &str = "staff-kpi.complaint-events";
pub const SURVEY_EVENTS: &str = "staff-kpi.survey-events";
pub const CUSTOMER_EVENTS: &str = "staff-kpi.customer-events";
pub const ORDER_EVENTS: &str = "staff-kpi.order-events";
/// The producers whose events are read.
pub(crate) const COMPLAINT_DESK: &str = "complaint-desk";
pub(crate) const COMPLAINT_DESK_GRPC: &str = "kefu.complaint.v1.ComplaintDeskService";
pub(crate) const SURVEY: &str = "survey";
pub(crate) const SURVEY_GRPC: &str = "kefu.survey.v1.SurveyService";
pub(crate) const CUSTOMER_REGISTRY: &str = "customer-registry";
pub(crate) const CUSTOMER_REGISTRY_GRPC: &str = "kefu.customer.v1.CustomerRegistryService";
pub(crate) const ORDER_TRACKING: &str = "order-tracking";
pub(crate) const ORDER_TRACKING_GRPC: &str = "kefu.order.v1.OrderTrackingService";
/// The only events each consumer needs; the producers filter the rest out.
pub(crate) const COMPLAINT_TYPES: [&str; 5] = [
    "kefu.complaint.v1.ComplaintRegistered",
    "kefu.complaint.v1.ComplaintReclassified",
    "kefu.complaint.v1.FirstResponseRecorded",
    "kefu.complaint.v1.ComplaintResolved",
    "kefu.complaint.v1.FollowUpRecorded",
];
pub(crate) const SURVEY_TYPES: [&str; 1] = ["kefu.survey.v1.ResponseReceived"];
pub(crate) const CUSTOMER_TYPES: [&str; 2] = [
    "kefu.customer.v1.VisitReportFiled",
    "kefu.customer.v1.CustomerErased",
];
pub(crate) const ORDER_TYPES: [&str; 1] = ["kefu.order.v1.OrderMoved"];

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

/// A fact of `event` with the fields every fact has; the caller fills in the rest.
fn fact(event: &Event, source: &str, kind: FactKind, staff_id: &str, subject_id: &str) -> Fact {
    Fact {
        event_id: event.id.clone(),
        source: source.to_owned(),
        event_type: event.r#type.clone(),
        kind,
        staff_id: staff_id.to_owned(),
        subject_id: subject_id.to_owned(),
        ref_id: String::new(),
        at: occurred(event),
        amount: 0,
        flag: false,
        code: String::new(),
        seq: i64::try_from(event.position).unwrap_or(i64::MAX),
        customer_id: String::new(),
    }
}

/// A person, not "system" or nobody.
fn person(id: &str) -> bool {
    !id.is_empty() && id != SYSTEM
}

/// "CATEGORY_HANDOVER_DISPUTE" -> "handover_dispute".
fn category(value: i32) -> String {
    let name = dpb::Category::try_from(value)
        .unwrap_or_default()
        .as_str_name();
    name.strip_prefix("CATEGORY_")
        .unwrap_or(name)
        .to_ascii_lowercase()
}

async fn record(txn: &DatabaseTransaction, fact: &Fact) -> anyhow::Result<()> {
    store::facts::record(txn, fact, Utc::now()).await?;
    Ok(())
}

/// SK-2: what complaint-desk's cases say of the people who worked them.
#[derive(Debug)]
pub(crate) struct ComplaintEvents;

#[async_trait::async_trait]
impl EventHandler for ComplaintEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        let body = payload(event);
        let f = match event.r#type.as_str() {
            "kefu.complaint.v1.ComplaintRegistered" => {
                let e = dpb::ComplaintRegistered::decode(body)?;
                let mut f = fact(
                    event,
                    COMPLAINT_DESK,
                    FactKind::Complaint,
                    &e.staff_id,
                    &e.complaint_id,
                );
                f.ref_id = e.order_id;
                f.customer_id = e.customer_id;
                f.code = category(e.category);
                f.flag = e.r#type == dpb::CaseType::Complaint as i32;
                if let Some(at) = e.register_time.as_ref().and_then(from_timestamp) {
                    f.at = at;
                }
                f
            }
            "kefu.complaint.v1.ComplaintReclassified" => {
                let e = dpb::ComplaintReclassified::decode(body)?;
                let mut f = fact(
                    event,
                    COMPLAINT_DESK,
                    FactKind::Complaint,
                    &e.staff_id,
                    &e.complaint_id,
                );
                f.ref_id = e.order_id;
                f.customer_id = e.customer_id;
                f.code = category(e.category);
                f.flag = e.r#type == dpb::CaseType::Complaint as i32;
                f
            }
            "kefu.complaint.v1.FirstResponseRecorded" => {
                let e = dpb::FirstResponseRecorded::decode(body)?;
                if !person(&e.agent_id) {
                    return Ok(());
                }
                let mut f = fact(
                    event,
                    COMPLAINT_DESK,
                    FactKind::FirstResponse,
                    &e.agent_id,
                    &e.complaint_id,
                );
                f.flag = e.deadline_met;
                f.amount = e.business_time.map_or(0, |d| d.seconds);
                f.customer_id = e.customer_id;
                f
            }
            "kefu.complaint.v1.ComplaintResolved" => {
                let e = dpb::ComplaintResolved::decode(body)?;
                // The case's owner answers for it (专人负责); its resolver when it had none.
                let owner = if person(&e.assignee_id) {
                    e.assignee_id
                } else {
                    e.resolver_id
                };
                if !person(&owner) {
                    return Ok(());
                }
                let mut f = fact(
                    event,
                    COMPLAINT_DESK,
                    FactKind::Resolution,
                    &owner,
                    &e.complaint_id,
                );
                f.amount = e.resolution_business_time.map_or(0, |d| d.seconds);
                f.flag = e.customer_contact_count <= 1 && e.reopen_count == 0;
                f.customer_id = e.customer_id;
                f
            }
            "kefu.complaint.v1.FollowUpRecorded" => {
                let e = dpb::FollowUpRecorded::decode(body)?;
                let mut f = fact(
                    event,
                    COMPLAINT_DESK,
                    FactKind::FollowUp,
                    &e.agent_id,
                    &e.complaint_id,
                );
                f.flag = e.outcome != dpb::FollowUpOutcome::NoContact as i32;
                f.customer_id = e.customer_id;
                f.code = dpb::FollowUpOutcome::try_from(e.outcome)
                    .unwrap_or_default()
                    .as_str_name()
                    .to_owned();
                f
            }
            _ => return Ok(()),
        };
        record(txn, &f).await
    }
}

/// SK-2: CSAT answers about the cases people handled.
#[derive(Debug)]
pub(crate) struct SurveyEvents;

#[async_trait::async_trait]
impl EventHandler for SurveyEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        if event.r#type != "kefu.survey.v1.ResponseReceived" {
            return Ok(());
        }
        let e = spb::ResponseReceived::decode(payload(event))?;
        let Some(csat) = e.csat else {
            return Ok(());
        };
        if !person(&e.agent_id) {
            return Ok(());
        }
        let mut f = fact(event, SURVEY, FactKind::Answer, &e.agent_id, &e.response_id);
        f.ref_id = e.complaint_id;
        f.amount = i64::from(csat);
        f.customer_id = e.customer_id;
        record(txn, &f).await
    }
}

/// SK-2: visits, on plan when made by their due date; CR-11: erasures.
#[derive(Debug)]
pub(crate) struct CustomerEvents(pub(crate) Department);

#[async_trait::async_trait]
impl EventHandler for CustomerEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        if event.r#type == "kefu.customer.v1.CustomerErased" {
            let e = cpb::CustomerErased::decode(payload(event))?;
            self.0.erase_customer(txn, &e.customer_id).await?;
            return Ok(());
        }
        if event.r#type != "kefu.customer.v1.VisitReportFiled" {
            return Ok(());
        }
        let e = cpb::VisitReportFiled::decode(payload(event))?;
        if !person(&e.visitor_id) {
            return Ok(());
        }
        let mut f = fact(
            event,
            CUSTOMER_REGISTRY,
            FactKind::Visit,
            &e.visitor_id,
            &e.visit_report_id,
        );
        f.customer_id = e.customer_id;
        if let Some(at) = e.visit_time.as_ref().and_then(from_timestamp) {
            f.at = at;
        }
        // A customer without a grade has no plan yet: any visit is on it.
        f.flag = e
            .due_time
            .as_ref()
            .and_then(from_timestamp)
            .is_none_or(|due| f.at <= due);
        record(txn, &f).await
    }
}

/// SK-2: who delivered each order.
#[derive(Debug)]
pub(crate) struct OrderEvents;

#[async_trait::async_trait]
impl EventHandler for OrderEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        if event.r#type != "kefu.order.v1.OrderMoved" {
            return Ok(());
        }
        let e = opb::OrderMoved::decode(payload(event))?;
        if e.to_state != opb::OrderState::Delivered as i32 || !person(&e.actor_id) {
            return Ok(());
        }
        let mut f = fact(
            event,
            ORDER_TRACKING,
            FactKind::Delivery,
            &e.actor_id,
            &e.order_id,
        );
        f.customer_id = e.customer_id;
        if let Some(at) = e.change_time.as_ref().and_then(from_timestamp) {
            f.at = at;
        }
        record(txn, &f).await
    }
}
