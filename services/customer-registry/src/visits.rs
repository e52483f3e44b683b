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

/// Day-reports of a team's customers visited in [start, end), in visit order.
pub(crate) async fn team_visits<C: ConnectionTrait>(
    db: &C,
    team_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<pb::VisitReport>, DbErr> {
    let columns: Vec<String> = VISIT_COLUMNS.iter().map(|c| format!("v.{c}")).collect();
    let sql = format!(
        "SELECT {} FROM visit_reports v JOIN customers c ON c.id = v.customer_id \
         WHERE c.team_id = $1 AND v.visit_time >= $2 AND v.visit_time < $3 ORDER BY v.visit_time, v.id",
        columns.join(", ")
    );
    let statement = sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [team_id.into(), start.into(), end.into()],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(visit_from_row)
        .collect()
}

/// A stored monthly report, with the ids of its day-reports.
pub(crate) struct MonthlyRow {
    pub(crate) report: pb::MonthlyReport,
    pub(crate) visit_report_ids: Vec<String>,
}

const MONTHLY_COLUMNS: [&str; 12] = [
    "id",
    "team_id",
    "month",
    "state",
    "visit_count",
    "customer_count",
    "overdue_count",
    "visit_report_ids",
    "supervisor_summary",
    "supervisor_id",
    "generated_at",
    "submitted_at",
];

fn monthly_from_row(row: &QueryResult) -> Result<MonthlyRow, DbErr> {
    let state: String = row.try_get("", "state")?;
    let ids: String = row.try_get("", "visit_report_ids")?;
    let submitted: Option<DateTime<Utc>> = row.try_get("", "submitted_at")?;
    Ok(MonthlyRow {
        report: pb::MonthlyReport {
            id: row.try_get("", "id")?,
            team_id: row.try_get("", "team_id")?,
            month: row.try_get("", "month")?,
            state: pb::MonthlyReportState::from_str_name(&state).unwrap_or_default() as i32,
            visit_count: row.try_get("", "visit_count")?,
            customer_count: row.try_get("", "customer_count")?,
            overdue_count: row.try_get("", "overdue_count")?,
            visit_reports: vec![],
            supervisor_summary: row.try_get("", "supervisor_summary")?,
            supervisor_id: row.try_get("", "supervisor_id")?,
            generate_time: Some(timestamp(row.try_get("", "generated_at")?)),
            submit_time: submitted.map(timestamp),
        },
        visit_report_ids: serde_json::from_str(&ids)
            .map_err(|e| DbErr::Custom(format!("visit_report_ids: {e}")))?,
    })
}

pub(crate) async fn monthly_by<C: ConnectionTrait>(
    db: &C,
    column: &str,
    value: &str,
    and_month: Option<&str>,
) -> Result<Option<MonthlyRow>, DbErr> {
    let mut select = Query::select()
        .columns(MONTHLY_COLUMNS)
        .from("monthly_reports")
        .and_where(Expr::col(column.to_owned()).eq(value))
        .to_owned();
    if let Some(month) = and_month {
        select.and_where(Expr::col("month").eq(month));
    }
    db.query_one(&select)
        .await?
        .as_ref()
        .map(monthly_from_row)
        .transpose()
}

/// Inserts or replaces the draft of (team, month).
pub(crate) async fn save_monthly<C: ConnectionTrait>(
    db: &C,
    row: &MonthlyRow,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let r = &row.report;
    let delete = Query::delete()
        .from_table("monthly_reports")
        .and_where(Expr::col("id").eq(r.id.as_str()))
        .to_owned();
    db.execute(&delete).await?;
    let ids = serde_json::to_string(&row.visit_report_ids).unwrap_or_else(|_| "[]".into());
    let submitted: Option<DateTime<Utc>> = r
        .submit_time
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?));
    let insert = Query::insert()
        .into_table("monthly_reports")
        .columns(MONTHLY_COLUMNS)
        .values_panic([
            r.id.as_str().into(),
            r.team_id.as_str().into(),
            r.month.as_str().into(),
            r.state().as_str_name().into(),
            r.visit_count.into(),
            r.customer_count.into(),
            r.overdue_count.into(),
            ids.into(),
            r.supervisor_summary.as_str().into(),
            r.supervisor_id.as_str().into(),
            r.generate_time
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
                .unwrap_or(now)
                .into(),
            submitted.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}
