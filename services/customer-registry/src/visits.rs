//! Storage of CR-6 visit day-reports and CR-8 urgent reports.

use chrono::{DateTime, Utc};
use kefu_proto::customer as pb;
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use crate::api::timestamp;
use crate::domain::visits::VisitReport;

const VISIT_COLUMNS: [&str; 10] = [
    "id",
    "customer_id",
    "visitor_id",
    "visit_time",
    "customer_feedback",
    "market_intelligence",
    "visit_effect",
    "matters_handled",
    "other_matters",
    "created_at",
];

pub(crate) async fn insert_visit<C: ConnectionTrait>(
    db: &C,
    id: &str,
    visitor_id: &str,
    report: &VisitReport,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("visit_reports")
        .columns(VISIT_COLUMNS)
        .values_panic([
            id.into(),
            report.customer_id.as_str().into(),
            visitor_id.into(),
            report.visit_time.unwrap_or(now).into(),
            report.customer_feedback.as_str().into(),
            report.market_intelligence.as_str().into(),
            report.visit_effect.as_str().into(),
            report.matters_handled.as_str().into(),
            report.other_matters.as_str().into(),
            now.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

fn visit_from_row(row: &QueryResult) -> Result<pb::VisitReport, DbErr> {
    Ok(pb::VisitReport {
        id: row.try_get("", "id")?,
        customer_id: row.try_get("", "customer_id")?,
        visit_time: Some(timestamp(row.try_get("", "visit_time")?)),
        customer_feedback: row.try_get("", "customer_feedback")?,
        market_intelligence: row.try_get("", "market_intelligence")?,
        visit_effect: row.try_get("", "visit_effect")?,
        matters_handled: row.try_get("", "matters_handled")?,
        other_matters: row.try_get("", "other_matters")?,
        visitor_id: row.try_get("", "visitor_id")?,
        create_time: Some(timestamp(row.try_get("", "created_at")?)),
    })
}

pub(crate) async fn get_visit<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<pb::VisitReport>, DbErr> {
    let select = Query::select()
        .columns(VISIT_COLUMNS)
        .from("visit_reports")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select)
        .await?
        .as_ref()
        .map(visit_from_row)
        .transpose()
}

/// Filters of a visit-report list.
#[derive(Debug, Default)]
pub(crate) struct VisitFilter {
    pub(crate) customer_id: Option<String>,
    pub(crate) visitor_id: Option<String>,
    /// Visits in [start, end).
    pub(crate) between: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub(crate) after_id: Option<String>,
}

pub(crate) async fn list_visits<C: ConnectionTrait>(
    db: &C,
    filter: &VisitFilter,
    limit: u64,
) -> Result<Vec<pb::VisitReport>, DbErr> {
    let mut select = Query::select()
        .columns(VISIT_COLUMNS)
        .from("visit_reports")
        .order_by("id", Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(customer) = &filter.customer_id {
        select.and_where(Expr::col("customer_id").eq(customer.as_str()));
    }
    if let Some(visitor) = &filter.visitor_id {
        select.and_where(Expr::col("visitor_id").eq(visitor.as_str()));
    }
    if let Some((start, end)) = filter.between {
        select.and_where(Expr::col("visit_time").gte(start));
        select.and_where(Expr::col("visit_time").lt(end));
    }
    if let Some(after) = &filter.after_id {
        select.and_where(Expr::col("id").gt(after.as_str()));
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(visit_from_row)
        .collect()
}

pub(crate) async fn insert_urgent<C: ConnectionTrait>(
    db: &C,
    report: &pb::UrgentReport,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("urgent_reports")
        .columns([
            "id",
            "customer_id",
            "urgent_trigger",
            "description",
            "reporter_id",
            "created_at",
        ])
        .values_panic([
            report.id.as_str().into(),
            report.customer_id.as_str().into(),
            report.trigger().as_str_name().into(),
            report.description.as_str().into(),
            report.reporter_id.as_str().into(),
            now.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

const URGENT_COLUMNS: [&str; 6] = [
    "id",
    "customer_id",
    "urgent_trigger",
    "description",
    "reporter_id",
    "created_at",
];

fn urgent_from_row(row: &QueryResult) -> Result<pb::UrgentReport, DbErr> {
    let trigger: String = row.try_get("", "urgent_trigger")?;
    Ok(pb::UrgentReport {
        id: row.try_get("", "id")?,
        customer_id: row.try_get("", "customer_id")?,
        trigger: pb::UrgentTrigger::from_str_name(&trigger).unwrap_or_default() as i32,
        description: row.try_get("", "description")?,
        reporter_id: row.try_get("", "reporter_id")?,
        create_time: Some(timestamp(row.try_get("", "created_at")?)),
    })
}

pub(crate) async fn get_urgent<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<pb::UrgentReport>, DbErr> {
    let select = Query::select()
        .columns(URGENT_COLUMNS)
        .from("urgent_reports")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select)
        .await?
        .as_ref()
        .map(urgent_from_row)
        .transpose()
}

/// Urgent reports, newest first, before the id `before`.
pub(crate) async fn list_urgent<C: ConnectionTrait>(
    db: &C,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<pb::UrgentReport>, DbErr> {
    let mut select = Query::select()
        .columns(URGENT_COLUMNS)
        .from("urgent_reports")
        .order_by("id", Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(before) = before {
        select.and_where(Expr::col("id").lt(before));
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(urgent_from_row)
        .collect()
}

/// When the customer was last visited, if ever.
pub(crate) async fn last_visit<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let select = Query::select()
        .column("visit_time")
        .from("visit_reports")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .order_by("visit_time", Order::Desc)
        .limit(1)
        .to_owned();
    match db.query_one(&select).await? {
        Some(row) => Ok(Some(row.try_get("", "visit_time")?)),
        None => Ok(None),
    }
}
