//! The events complaint-desk reads. From order-tracking: ExceptionRaised opens a case
//! (OT-7, CD-1), OrderCreated counts order volume (CD-7). From customer-registry:
//! CustomerErased removes the customer's personal data from its cases (CR-11). From survey:
//! ProblemReported opens a case (SV-5, CD-1). Each event's effect and the consumer's cursor
//! commit together.

use chrono::{DateTime, Utc};
use kefu_platform::events::EventHandler;
use kefu_platform::time::from_timestamp;
use kefu_proto::common::Event;
use kefu_proto::customer as cpb;
use kefu_proto::order as opb;
use kefu_proto::survey as spb;
use prost::Message as _;
use sea_orm::DatabaseTransaction;

use crate::cases::{Desk, Requester};
use crate::domain::Category;
use crate::intake::{OrderException, ReportedProblem};
use crate::store;

/// The consumers' names, which key their cursors and leases.
pub const ORDER_EVENTS: &str = "complaint-desk.order-events";
pub const CUSTOMER_EVENTS: &str = "complaint-desk.customer-events";
pub const SURVEY_EVENTS: &str = "complaint-desk.survey-events";
/// The producers whose events are read.
pub(crate) const ORDER_TRACKING: &str = "order-tracking";
pub(crate) const ORDER_TRACKING_GRPC: &str = "kefu.order.v1.OrderTrackingService";
pub(crate) const CUSTOMER_REGISTRY: &str = "customer-registry";
pub(crate) const CUSTOMER_REGISTRY_GRPC: &str = "kefu.customer.v1.CustomerRegistryService";
pub(crate) const SURVEY: &str = "survey";
pub(crate) const SURVEY_GRPC: &str = "kefu.survey.v1.SurveyService";
/// The only events each consumer needs; the producers filter the rest out.
pub(crate) const ORDER_TYPES: [&str; 2] = [
    "kefu.order.v1.ExceptionRaised",
    "kefu.order.v1.OrderCreated",
];
pub(crate) const CUSTOMER_TYPES: [&str; 1] = ["kefu.customer.v1.CustomerErased"];
pub(crate) const SURVEY_TYPES: [&str; 1] = ["kefu.survey.v1.ProblemReported"];

fn payload(event: &Event) -> &[u8] {
    event
        .payload
        .as_ref()
        .map_or(&[][..], |p| p.value.as_slice())
}

/// What an order exception of order-tracking's is about; `None` for kinds the contract
/// added after this build.
fn exception_of(e: opb::ExceptionRaised) -> Option<OrderException> {
    let category = match opb::ExceptionKind::try_from(e.kind).ok()? {
        opb::ExceptionKind::Damage => Category::Damage,
        opb::ExceptionKind::Loss => Category::Loss,
        opb::ExceptionKind::Delay => Category::Delay,
        opb::ExceptionKind::HandoverDispute => Category::HandoverDispute,
        opb::ExceptionKind::Unspecified => return None,
    };
    Some(OrderException {
        exception_id: e.exception_id,
        order_id: e.order_id,
        customer_id: e.customer_id,
        category,
    })
}

/// Opens cases from order exceptions and counts orders.
#[derive(Debug)]
pub(crate) struct OrderEvents(pub(crate) Desk);

#[async_trait::async_trait]
impl EventHandler for OrderEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        match event.r#type.as_str() {
            "kefu.order.v1.ExceptionRaised" => {
                let raised = opb::ExceptionRaised::decode(payload(event))?;
                match exception_of(raised) {
                    Some(exception) => self.0.open_from_exception(txn, &exception).await?,
                    None => {
                        tracing::warn!(event_id = %event.id, "order exception of an unknown kind: no case opened")
                    }
                }
            }
            "kefu.order.v1.OrderCreated" => {
                let created: DateTime<Utc> = event
                    .occurred_at
                    .as_ref()
                    .and_then(from_timestamp)
                    .unwrap_or_else(Utc::now);
                store::volume::add(txn, created).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Erases customers' personal data from their cases.
#[derive(Debug)]
pub(crate) struct CustomerEvents(pub(crate) Desk);

#[async_trait::async_trait]
impl EventHandler for CustomerEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        if event.r#type != "kefu.customer.v1.CustomerErased" {
            return Ok(());
        }
        let erased = cpb::CustomerErased::decode(payload(event))?;
        let system = Requester::system("CustomerErased");
        for id in store::unerased_of_customer(txn, &erased.customer_id).await? {
            self.0
                .apply(txn, &system, &id, None, |case, _, _| Ok(case.erase()))
                .await?;
        }
        Ok(())
    }
}

/// Opens cases from problems named in survey answers.
#[derive(Debug)]
pub(crate) struct SurveyEvents(pub(crate) Desk);

/// What a survey answer's problem is about; `None` for categories added after this build.
fn problem_of(e: spb::ProblemReported) -> Option<ReportedProblem> {
    use kefu_proto::complaint::Category as C;
    let category = match C::try_from(e.problem).ok()? {
        C::Damage => Category::Damage,
        C::Loss => Category::Loss,
        C::Delay => Category::Delay,
        C::HandoverDispute => Category::HandoverDispute,
        C::StaffAttitude => Category::StaffAttitude,
        C::Billing => Category::Billing,
        C::Other => Category::Other,
        C::Unspecified => return None,
    };
    Some(ReportedProblem {
        response_id: e.response_id,
        customer_id: e.customer_id,
        order_id: e.order_id,
        category,
    })
}

#[async_trait::async_trait]
impl EventHandler for SurveyEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        if event.r#type != "kefu.survey.v1.ProblemReported" {
            return Ok(());
        }
        let reported = spb::ProblemReported::decode(payload(event))?;
        match problem_of(reported) {
            Some(problem) => self.0.open_from_problem(txn, &problem).await?,
            None => {
                tracing::warn!(event_id = %event.id, "problem of an unknown category: no case opened")
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ot7_each_exception_kind_opens_a_case_of_its_category() {
        for (kind, category) in [
            (opb::ExceptionKind::Damage, Category::Damage),
            (opb::ExceptionKind::Loss, Category::Loss),
            (opb::ExceptionKind::Delay, Category::Delay),
            (
                opb::ExceptionKind::HandoverDispute,
                Category::HandoverDispute,
            ),
        ] {
            let exception = exception_of(opb::ExceptionRaised {
                exception_id: "x1".into(),
                order_id: "o1".into(),
                customer_id: "c1".into(),
                kind: kind as i32,
                ..Default::default()
            })
            .unwrap();
            assert_eq!(exception.category, category);
        }
        assert!(
            exception_of(opb::ExceptionRaised {
                kind: 99,
                ..Default::default()
            })
            .is_none()
        );
    }
}
