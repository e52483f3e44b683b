//! Storage of CR-6 day-reports, CR-7 monthly reports and CR-8 urgent reports.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use crate::domain::visits::{
    FiledVisitReport, MonthlyReport, MonthlyState, UrgentReport, UrgentTrigger, VisitReport,
};

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

pub async fn insert_visit<C: ConnectionTrait>(
    db: &C,
    visit: &FiledVisitReport,
) -> Result<(), DbErr> {
    let report = &visit.report;
    let insert = Query::insert()
        .into_table("visit_reports")
        .columns(VISIT_COLUMNS)
        .values_panic([
            visit.id.as_str().into(),
            report.customer_id.as_str().into(),
            visit.visitor_id.as_str().into(),
            report.visit_time.unwrap_or(visit.created_at).into(),
            report.customer_feedback.as_str().into(),
            report.market_intelligence.as_str().into(),
            report.visit_effect.as_str().into(),
            report.matters_handled.as_str().into(),
            report.other_matters.as_str().into(),
            visit.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

fn visit_from_row(row: &QueryResult) -> Result<FiledVisitReport, DbErr> {
    Ok(FiledVisitReport {
        id: row.try_get("", "id")?,
        visitor_id: row.try_get("", "visitor_id")?,
        created_at: row.try_get("", "created_at")?,
        report: VisitReport {
            customer_id: row.try_get("", "customer_id")?,
            visit_time: Some(row.try_get("", "visit_time")?),
            customer_feedback: row.try_get("", "customer_feedback")?,
            market_intelligence: row.try_get("", "market_intelligence")?,
            visit_effect: row.try_get("", "visit_effect")?,
            matters_handled: row.try_get("", "matters_handled")?,
            other_matters: row.try_get("", "other_matters")?,
        },
    })
}

pub async fn get_visit<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<FiledVisitReport>, DbErr> {
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

/// Filters of a day-report list.
#[derive(Debug, Default)]
pub struct VisitFilter {
    pub customer_id: Option<String>,
    pub visitor_id: Option<String>,
    /// Visits in [start, end).
    pub between: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub after_id: Option<String>,
}

pub async fn list_visits<C: ConnectionTrait>(
    db: &C,
    filter: &VisitFilter,
    limit: u64,
) -> Result<Vec<FiledVisitReport>, DbErr> {
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

/// When the customer was last visited (before `before`, when given), if ever.
pub async fn last_visit<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    before: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let mut select = Query::select()
        .column("visit_time")
        .from("visit_reports")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .order_by("visit_time", Order::Desc)
        .limit(1)
        .to_owned();
    if let Some(before) = before {
        select.and_where(Expr::col("visit_time").lt(before));
    }
    match db.query_one(&select).await? {
        Some(row) => Ok(Some(row.try_get("", "visit_time")?)),
        None => Ok(None),
    }
}

/// Day-reports of a team's customers visited in [start, end), in visit order.
pub async fn team_visits<C: ConnectionTrait>(
    db: &C,
    team_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<FiledVisitReport>, DbErr> {
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

/// Triggers as stored (the contract's enum names, which rows already hold).
fn trigger_code(trigger: UrgentTrigger) -> &'static str {
    match trigger {
        UrgentTrigger::CompetitorPolicyChange => "URGENT_TRIGGER_COMPETITOR_POLICY_CHANGE",
        UrgentTrigger::CompetitorNewMove => "URGENT_TRIGGER_COMPETITOR_NEW_MOVE",
        UrgentTrigger::OwnServiceProblem => "URGENT_TRIGGER_OWN_SERVICE_PROBLEM",
        UrgentTrigger::Other => "URGENT_TRIGGER_OTHER",
    }
}

const TRIGGERS: [UrgentTrigger; 4] = [
    UrgentTrigger::CompetitorPolicyChange,
    UrgentTrigger::CompetitorNewMove,
    UrgentTrigger::OwnServiceProblem,
    UrgentTrigger::Other,
];

const URGENT_COLUMNS: [&str; 6] = [
    "id",
    "customer_id",
    "urgent_trigger",
    "description",
    "reporter_id",
    "created_at",
];

pub async fn insert_urgent<C: ConnectionTrait>(db: &C, report: &UrgentReport) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("urgent_reports")
        .columns(URGENT_COLUMNS)
        .values_panic([
            report.id.as_str().into(),
            report.customer_id.as_str().into(),
            trigger_code(report.trigger).into(),
            report.description.as_str().into(),
            report.reporter_id.as_str().into(),
            report.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

fn urgent_from_row(row: &QueryResult) -> Result<UrgentReport, DbErr> {
    let code: String = row.try_get("", "urgent_trigger")?;
    let trigger = TRIGGERS
        .into_iter()
        .find(|t| trigger_code(*t) == code)
        .ok_or_else(|| DbErr::Custom(format!("urgent_reports.urgent_trigger holds {code:?}")))?;
    Ok(UrgentReport {
        id: row.try_get("", "id")?,
        customer_id: row.try_get("", "customer_id")?,
        trigger,
        description: row.try_get("", "description")?,
        reporter_id: row.try_get("", "reporter_id")?,
        created_at: row.try_get("", "created_at")?,
    })
}

pub async fn get_urgent<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<UrgentReport>, DbErr> {
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
pub async fn list_urgent<C: ConnectionTrait>(
    db: &C,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<UrgentReport>, DbErr> {
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

/// States as stored (the contract's enum names, which rows already hold).
fn state_code(state: MonthlyState) -> &'static str {
    match state {
        MonthlyState::Draft => "MONTHLY_REPORT_STATE_DRAFT",
        MonthlyState::Submitted => "MONTHLY_REPORT_STATE_SUBMITTED",
    }
}

fn monthly_from_row(row: &QueryResult) -> Result<MonthlyReport, DbErr> {
    let state: String = row.try_get("", "state")?;
    let state = [MonthlyState::Draft, MonthlyState::Submitted]
        .into_iter()
        .find(|s| state_code(*s) == state)
        .ok_or_else(|| DbErr::Custom(format!("monthly_reports.state holds {state:?}")))?;
    let ids: String = row.try_get("", "visit_report_ids")?;
    Ok(MonthlyReport {
        id: row.try_get("", "id")?,
        team_id: row.try_get("", "team_id")?,
        month: row.try_get("", "month")?,
        state,
        visit_count: row.try_get("", "visit_count")?,
        customer_count: row.try_get("", "customer_count")?,
        overdue_count: row.try_get("", "overdue_count")?,
        visit_report_ids: serde_json::from_str(&ids)
            .map_err(|e| DbErr::Custom(format!("visit_report_ids: {e}")))?,
        supervisor_summary: row.try_get("", "supervisor_summary")?,
        supervisor_id: row.try_get("", "supervisor_id")?,
        generated_at: row.try_get("", "generated_at")?,
        submitted_at: row.try_get("", "submitted_at")?,
    })
}

/// The monthly report with this id.
pub async fn monthly<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<MonthlyReport>, DbErr> {
    monthly_where(db, Expr::col("id").eq(id)).await
}

/// The monthly report of `team` for `month`, if one was generated.
pub async fn monthly_of<C: ConnectionTrait>(
    db: &C,
    team: &str,
    month: &str,
) -> Result<Option<MonthlyReport>, DbErr> {
    monthly_where(
        db,
        Expr::col("team_id")
            .eq(team)
            .and(Expr::col("month").eq(month)),
    )
    .await
}

async fn monthly_where<C: ConnectionTrait>(
    db: &C,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<Option<MonthlyReport>, DbErr> {
    let select = Query::select()
        .columns(MONTHLY_COLUMNS)
        .from("monthly_reports")
        .and_where(condition)
        .to_owned();
    db.query_one(&select)
        .await?
        .as_ref()
        .map(monthly_from_row)
        .transpose()
}

/// Inserts or replaces the report with its id.
pub async fn save_monthly<C: ConnectionTrait>(db: &C, report: &MonthlyReport) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table("monthly_reports")
        .and_where(Expr::col("id").eq(report.id.as_str()))
        .to_owned();
    db.execute(&delete).await?;
    let ids = serde_json::to_string(&report.visit_report_ids)
        .map_err(|e| DbErr::Custom(format!("visit_report_ids: {e}")))?;
    let insert = Query::insert()
        .into_table("monthly_reports")
        .columns(MONTHLY_COLUMNS)
        .values_panic([
            report.id.as_str().into(),
            report.team_id.as_str().into(),
            report.month.as_str().into(),
            state_code(report.state).into(),
            report.visit_count.into(),
            report.customer_count.into(),
            report.overdue_count.into(),
            ids.into(),
            report.supervisor_summary.as_str().into(),
            report.supervisor_id.as_str().into(),
            report.generated_at.into(),
            report.submitted_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}
