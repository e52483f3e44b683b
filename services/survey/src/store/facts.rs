//! SV-4: what order-tracking and complaint-desk announced, kept for the quality report: each
//! order's creation and delivery, each case's registration and resolution time.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};

use super::Result;
use crate::domain::quality::{ComplaintFact, OrderFact};

pub async fn order_created<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
    customer_id: &str,
    tier: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("seen_orders")
        .columns([
            "order_id",
            "customer_id",
            "tier",
            "created_at",
            "delivered_by",
        ])
        .values_panic([
            order_id.into(),
            customer_id.into(),
            tier.into(),
            at.into(),
            "".into(),
        ])
        .on_conflict(OnConflict::column("order_id").do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn order_delivered<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<()> {
    let update = Query::update()
        .table("seen_orders")
        .value("delivered_at", at)
        .value("delivered_by", by)
        .and_where(Expr::col("order_id").eq(order_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn case_registered<C: ConnectionTrait>(
    db: &C,
    complaint_id: &str,
    customer_id: &str,
    tier: &str,
    is_complaint: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("seen_complaints")
        .columns([
            "complaint_id",
            "customer_id",
            "tier",
            "is_complaint",
            "created_at",
            "assignee_id",
        ])
        .values_panic([
            complaint_id.into(),
            customer_id.into(),
            tier.into(),
            is_complaint.into(),
            at.into(),
            "".into(),
        ])
        .on_conflict(OnConflict::column("complaint_id").do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn case_resolved<C: ConnectionTrait>(
    db: &C,
    complaint_id: &str,
    seconds: i64,
    assignee: &str,
) -> Result<()> {
    let update = Query::update()
        .table("seen_complaints")
        .value("resolution_seconds", seconds)
        .value("assignee_id", assignee)
        .and_where(Expr::col("complaint_id").eq(complaint_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Orders created in `[from, to)`.
pub async fn orders<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<OrderFact>> {
    let select = Query::select()
        .columns(["created_at", "tier", "delivered_at", "delivered_by"])
        .from("seen_orders")
        .and_where(Expr::col("created_at").gte(from))
        .and_where(Expr::col("created_at").lt(to))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            let created: DateTime<Utc> = row.try_get("", "created_at")?;
            let delivered: Option<DateTime<Utc>> = row.try_get("", "delivered_at")?;
            Ok(OrderFact {
                at: created,
                tier: row.try_get("", "tier")?,
                agent: row.try_get("", "delivered_by")?,
                delivery_seconds: delivered.map(|d| std::cmp::max((d - created).num_seconds(), 0)),
            })
        })
        .collect()
}

/// Cases registered in `[from, to)`.
pub async fn complaints<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ComplaintFact>> {
    let select = Query::select()
        .columns([
            "created_at",
            "tier",
            "assignee_id",
            "is_complaint",
            "resolution_seconds",
        ])
        .from("seen_complaints")
        .and_where(Expr::col("created_at").gte(from))
        .and_where(Expr::col("created_at").lt(to))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            Ok(ComplaintFact {
                at: row.try_get("", "created_at")?,
                tier: row.try_get("", "tier")?,
                agent: row.try_get("", "assignee_id")?,
                complaint: row.try_get("", "is_complaint")?,
                resolution_seconds: row.try_get("", "resolution_seconds")?,
            })
        })
        .collect()
}
