//! CR-13's storage: other services' events kept on their customer's timeline, which customer
//! each order is for, and this service's own events read back from its outbox by subject.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use crate::domain::record::RecordEntry;

/// Keeps `entry` on `customer_id`'s timeline; an event kept before is kept once.
pub async fn keep<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    entry: &RecordEntry,
) -> Result<(), DbErr> {
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
            entry.event_id.as_str().into(),
            customer_id.into(),
            entry.source.as_str().into(),
            entry.event_type.as_str().into(),
            entry.subject.as_str().into(),
            entry.summary.as_str().into(),
            entry.occurred_at.into(),
        ])
        .on_conflict(OnConflict::column("event_id").do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// Remembers whose order `order_id` is, so its later events find the customer.
pub async fn remember_order<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    let mapping = Query::insert()
        .into_table("order_customers")
        .columns(["order_id", "customer_id"])
        .values_panic([order_id.into(), customer_id.into()])
        .on_conflict(OnConflict::column("order_id").do_nothing().to_owned())
        .to_owned();
    db.execute(&mapping).await?;
    Ok(())
}

pub async fn customer_of_order<C: ConnectionTrait>(
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

/// One of this service's own events, as its outbox holds it.
#[derive(Debug, FromQueryResult)]
pub struct OwnEvent {
    pub event_id: String,
    pub event_type: String,
    pub subject: String,
    pub payload: Vec<u8>,
    pub occurred_at: DateTime<Utc>,
}

/// Own events about `subject`, newest first, below the event id `before`.
pub async fn own_events<C: ConnectionTrait>(
    db: &C,
    subject: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<OwnEvent>, DbErr> {
    let mut own = Query::select()
        .columns([
            "event_id",
            "event_type",
            "subject",
            "payload",
            "occurred_at",
        ])
        .from("kefu_outbox")
        .and_where(Expr::col("subject").eq(subject))
        .order_by("event_id", Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(before) = before {
        own.and_where(Expr::col("event_id").lt(before));
    }
    OwnEvent::find_by_statement(db.get_database_backend().build(&own))
        .all(db)
        .await
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

/// Entries kept for `customer_id`, newest first, below the event id `before`.
pub async fn kept<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<RecordEntry>, DbErr> {
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
        .limit(limit)
        .to_owned();
    if let Some(before) = before {
        kept.and_where(Expr::col("event_id").lt(before));
    }
    Ok(
        KeptRow::find_by_statement(db.get_database_backend().build(&kept))
            .all(db)
            .await?
            .into_iter()
            .map(|row| RecordEntry {
                occurred_at: row.occurred_at,
                source: row.source,
                event_type: row.event_type,
                subject: row.subject,
                summary: row.summary,
                event_id: row.event_id,
            })
            .collect(),
    )
}
