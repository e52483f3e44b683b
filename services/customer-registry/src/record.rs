//! CR-13: a customer's service record, one timeline from this service's own events and the
//! events of the other services that name the customer.
//!
//! Own events are read where they already are (the outbox, by subject); other services'
//! events are kept in `service_record` by their consumer. Summaries are built from ids,
//! enums and numbers only: free text (descriptions, notes, reasons) may hold personal data
//! and stays out of the timeline (CR-9).

use chrono::{DateTime, Utc};
use kefu_platform::paging;
use kefu_proto::common::Event;
use kefu_proto::customer as pb;
use kefu_proto::order as order_pb;
use prost::Message as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use crate::api::timestamp;
use crate::domain::tier::yuan;

/// The producer order-tracking's events are recorded under.
const ORDER_TRACKING: &str = "order-tracking";

/// Keeps one order-tracking event on its customer's timeline, in the consumer's
/// transaction. Events of orders this registry never saw created name no customer and are
/// left out.
pub(crate) async fn keep_order_event<C: ConnectionTrait>(
    txn: &C,
    event: &Event,
) -> anyhow::Result<()> {
    let Some(entry) = order_entry(event)? else {
        return Ok(());
    };
    let customer_id = match entry.customer_id {
        Some(id) => id,
        None => match customer_of_order(txn, &entry.order_id).await? {
            Some(id) => id,
            None => return Ok(()),
        },
    };
    if entry.remember_order {
        let mapping = Query::insert()
            .into_table("order_customers")
            .columns(["order_id", "customer_id"])
            .values_panic([entry.order_id.clone().into(), customer_id.clone().into()])
            .on_conflict(OnConflict::column("order_id").do_nothing().to_owned())
            .to_owned();
        txn.execute(&mapping).await?;
    }
    let occurred_at = event
        .occurred_at
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .unwrap_or_else(Utc::now);
    let source = if event.source.is_empty() {
        ORDER_TRACKING.to_owned()
    } else {
        event.source.clone()
    };
    let insert = Query::insert()
        .into_table("service_record")
        .columns([
            "event_id",
            "customer_id",
            "source",
            "event_type",
            "subject",
            "summary",
            "occurred_at",
        ])
        .values_panic([
            event.id.clone().into(),
            customer_id.into(),
            source.into(),
            event.r#type.clone().into(),
            format!("orders/{}", entry.order_id).into(),
            entry.summary.into(),
            occurred_at.into(),
        ])
        .on_conflict(OnConflict::column("event_id").do_nothing().to_owned())
        .to_owned();
    txn.execute(&insert).await?;
    Ok(())
}

/// What an order event says about whose order it is and what happened.
#[derive(Debug, PartialEq)]
struct OrderEntry {
    order_id: String,
    /// `None` when the event names only the order.
    customer_id: Option<String>,
    summary: String,
    /// The event introduces the order, so later events can be traced to the customer.
    remember_order: bool,
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
            let total = e
                .total
                .as_ref()
                .map(|m| format!(", {}", yuan(m.minor_units)))
                .unwrap_or_default();
            let summary = if e.original_order_id.is_empty() {
                format!(
                    "order placed by {}{total}",
                    word(e.channel().as_str_name(), "CHANNEL_")
                )
            } else {
                format!("return order opened for orders/{}", e.original_order_id)
            };
            OrderEntry {
                order_id: e.order_id,
                customer_id: named(e.customer_id),
                summary,
                remember_order: true,
            }
        }
        "kefu.order.v1.OrderMoved" => {
            let e = order_pb::OrderMoved::decode(payload)?;
            let change = e.change.unwrap_or_default();
            OrderEntry {
                summary: format!(
                    "order moved from {} to {}",
                    word(change.from_state().as_str_name(), "ORDER_STATE_"),
                    word(change.to_state().as_str_name(), "ORDER_STATE_")
                ),
                order_id: e.order_id,
                customer_id: named(e.customer_id),
                remember_order: false,
            }
        }
        "kefu.order.v1.PaymentStatusChanged" => {
            let e = order_pb::PaymentStatusChanged::decode(payload)?;
            OrderEntry {
                summary: format!(
                    "payment {}",
                    word(e.payment_status().as_str_name(), "PAYMENT_STATUS_")
                ),
                order_id: e.order_id,
                customer_id: None,
                remember_order: false,
            }
        }
        "kefu.order.v1.PickRecorded" => {
            let e = order_pb::PickRecorded::decode(payload)?;
            let summary = match e.short_lines {
                0 => "goods picked".to_owned(),
                n => format!("goods picked, {n} lines short"),
            };
            OrderEntry {
                summary,
                order_id: e.order_id,
                customer_id: None,
                remember_order: false,
            }
        }
        "kefu.order.v1.PackingRecorded" => {
            let e = order_pb::PackingRecorded::decode(payload)?;
            OrderEntry {
                summary: format!("packed in {} packages", e.package_count),
                order_id: e.order_id,
                customer_id: None,
                remember_order: false,
            }
        }
        "kefu.order.v1.HandoverSigned" => {
            let e = order_pb::HandoverSigned::decode(payload)?;
            OrderEntry {
                summary: "delivered and signed for".to_owned(),
                order_id: e.order_id,
                customer_id: named(e.customer_id),
                remember_order: false,
            }
        }
        "kefu.order.v1.ExceptionRaised" => {
            let e = order_pb::ExceptionRaised::decode(payload)?;
            let exception = e.exception.unwrap_or_default();
            OrderEntry {
                summary: format!(
                    "{} exception raised",
                    word(exception.kind().as_str_name(), "EXCEPTION_KIND_")
                ),
                order_id: exception.order_id,
                customer_id: named(e.customer_id),
                remember_order: false,
            }
        }
        "kefu.order.v1.ReturnCreated" => {
            let e = order_pb::ReturnCreated::decode(payload)?;
            OrderEntry {
                summary: format!(
                    "return requested ({}): orders/{}",
                    word(e.reason().as_str_name(), "RETURN_REASON_"),
                    e.return_order_id
                ),
                order_id: e.original_order_id,
                customer_id: None,
                remember_order: false,
            }
        }
        _ => return Ok(None),
    };
    Ok((!entry.order_id.is_empty()).then_some(entry))
}

async fn customer_of_order<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
) -> Result<Option<String>, DbErr> {
    let query = Query::select()
        .column("customer_id")
        .from("order_customers")
        .and_where(Expr::col("order_id").eq(order_id))
        .to_owned();
    let Some(row) = db.query_one(&query).await? else {
        return Ok(None);
    };
    Ok(Some(row.try_get("", "customer_id")?))
}

/// What this service's own event says, for the timeline.
fn own_summary(event_type: &str, payload: &[u8]) -> Result<String, prost::DecodeError> {
    Ok(match event_type {
        "kefu.customer.v1.CustomerCreated" => {
            let e = pb::CustomerCreated::decode(payload)?;
            format!(
                "{} customer registered",
                word(e.kind().as_str_name(), "CUSTOMER_KIND_")
            )
        }
        "kefu.customer.v1.CustomerUpdated" => {
            let e = pb::CustomerUpdated::decode(payload)?;
            format!("record updated: {}", e.changed_fields.join(", "))
        }
        "kefu.customer.v1.CustomerArchived" => "customer archived".to_owned(),
        "kefu.customer.v1.CustomerErased" => "personal data erased".to_owned(),
        "kefu.customer.v1.TierChanged" => {
            let change = pb::TierChanged::decode(payload)?.change.unwrap_or_default();
            let how = if change.manual_override {
                "by a manager"
            } else {
                "from the facts"
            };
            format!(
                "tier {} -> {} {how}",
                word(change.old_tier().as_str_name(), "TIER_"),
                word(change.new_tier().as_str_name(), "TIER_")
            )
        }
        "kefu.customer.v1.GradeChanged" => {
            let e = pb::GradeChanged::decode(payload)?;
            format!(
                "grade {} -> {}",
                word(e.old_grade().as_str_name(), "GRADE_"),
                word(e.new_grade().as_str_name(), "GRADE_")
            )
        }
        "kefu.customer.v1.OwnerAssigned" => {
            let e = pb::OwnerAssigned::decode(payload)?;
            format!("owner {} and visitor {} assigned", e.owner_id, e.visitor_id)
        }
        "kefu.customer.v1.VisitReportFiled" => {
            let e = pb::VisitReportFiled::decode(payload)?;
            format!("visited by {}", e.visitor_id)
        }
        "kefu.customer.v1.UrgentReportRaised" => {
            let e = pb::UrgentReportRaised::decode(payload)?;
            format!(
                "urgent report: {}",
                word(e.trigger().as_str_name(), "URGENT_TRIGGER_")
            )
        }
        other => other.rsplit('.').next().unwrap_or(other).to_owned(),
    })
}

/// "ORDER_STATE_IN_TRANSIT" -> "in transit".
fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', " ")
}

#[derive(Debug, FromQueryResult)]
struct OwnRow {
    event_id: String,
    event_type: String,
    subject: String,
    payload: Vec<u8>,
    occurred_at: DateTime<Utc>,
}

#[derive(Debug, FromQueryResult)]
struct KeptRow {
    event_id: String,
    source: String,
    event_type: String,
    subject: String,
    summary: String,
    occurred_at: DateTime<Utc>,
}

/// One page of the customer's timeline, newest first, resuming below the event id
/// `before`; the next page's token is empty on the last page.
pub(crate) async fn page<C: ConnectionTrait>(
    db: &C,
    service: &str,
    customer_id: &str,
    before: Option<&str>,
    size: u64,
) -> Result<(Vec<pb::ServiceRecordEntry>, String), DbErr> {
    let backend = db.get_database_backend();
    // Each source gives at most one more than a page; the merge keeps the newest.
    let mut own = Query::select()
        .columns([
            "event_id",
            "event_type",
            "subject",
            "payload",
            "occurred_at",
        ])
        .from("kefu_outbox")
        .and_where(Expr::col("subject").eq(format!("customers/{customer_id}")))
        .order_by("event_id", Order::Desc)
        .limit(size + 1)
        .to_owned();
    let mut kept = Query::select()
        .columns([
            "event_id",
            "source",
            "event_type",
            "subject",
            "summary",
            "occurred_at",
        ])
        .from("service_record")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .order_by("event_id", Order::Desc)
        .limit(size + 1)
        .to_owned();
    if let Some(before) = before {
        own.and_where(Expr::col("event_id").lt(before));
        kept.and_where(Expr::col("event_id").lt(before));
    }
    let own = OwnRow::find_by_statement(backend.build(&own))
        .all(db)
        .await?;
    let kept = KeptRow::find_by_statement(backend.build(&kept))
        .all(db)
        .await?;
    let mut entries: Vec<pb::ServiceRecordEntry> = kept
        .into_iter()
        .map(|row| pb::ServiceRecordEntry {
            occur_time: Some(timestamp(row.occurred_at)),
            source: row.source,
            event_type: row.event_type,
            subject: row.subject,
            summary: row.summary,
            event_id: row.event_id,
        })
        .collect();
    for row in own {
        let summary = own_summary(&row.event_type, &row.payload).unwrap_or_else(|e| {
            tracing::warn!(event_id = %row.event_id, error = %e, "undecodable own event");
            row.event_type.clone()
        });
        entries.push(pb::ServiceRecordEntry {
            occur_time: Some(timestamp(row.occurred_at)),
            source: service.to_owned(),
            event_type: row.event_type,
            subject: row.subject,
            summary,
            event_id: row.event_id,
        });
    }
    entries.sort_by(|a, b| b.event_id.cmp(&a.event_id));
    Ok(paging::finish_page(entries, size, |e| &e.event_id))
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
        assert!(created.remember_order);
        assert_eq!(created.summary, "order placed by web, 120.50 CNY");

        let packed = order_entry(&event(&order_pb::PackingRecorded {
            order_id: "o1".into(),
            package_count: 2,
        }))
        .unwrap()
        .unwrap();
        assert_eq!(packed.customer_id, None, "traced through order_customers");
        assert_eq!(packed.summary, "packed in 2 packages");

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
    fn cr9_free_text_stays_out_of_the_timeline() {
        let raised = order_entry(&event(&order_pb::ExceptionRaised {
            exception: Some(order_pb::OrderException {
                order_id: "o1".into(),
                kind: order_pb::ExceptionKind::Damage as i32,
                description: "call 13812345678 at 1 Canary Rd".into(),
                ..Default::default()
            }),
            customer_id: "c1".into(),
        }))
        .unwrap()
        .unwrap();
        assert_eq!(raised.summary, "damage exception raised");
    }

    #[test]
    fn events_of_no_interest_are_skipped() {
        let other = Event {
            r#type: "kefu.order.v1.SomethingNew".into(),
            ..Default::default()
        };
        assert_eq!(order_entry(&other).unwrap(), None);
        assert_eq!(
            own_summary("kefu.customer.v1.SomethingNew", &[]).unwrap(),
            "SomethingNew"
        );
    }
}
