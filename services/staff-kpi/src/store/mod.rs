//! staff-kpi's storage. The organisation is kept in columns (`staff`, `teams`); the rest in
//! its own modules: KPI definitions and formulas (`kpis`), facts (`facts`), periods,
//! assessments and disputes (`assessments`), reward rules and outcomes (`rewards`), conduct
//! and training (`conduct`). Rows are locked for each change.

pub mod assessments;
pub mod conduct;
pub mod facts;
pub mod kpis;
pub mod report;
pub mod rewards;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use crate::domain::org::{Staff, Team};
use crate::domain::{StaffRole, StaffState};

pub use kefu_platform::rows::{Result, StoreError};
pub(crate) use kefu_platform::rows::{
    corrupt, documents, for_update, json, one_document, page, parse,
};

// Staff.

const STAFF_COLUMNS: [&str; 12] = [
    "id",
    "display_name",
    "role",
    "team_id",
    "manager_id",
    "sales_region",
    "state",
    "joined_at",
    "left_at",
    "version",
    "created_at",
    "updated_at",
];

fn staff_of(row: &QueryResult) -> Result<Staff> {
    let id: String = row.try_get("", "id")?;
    let role: String = row.try_get("", "role")?;
    let state: String = row.try_get("", "state")?;
    Ok(Staff {
        role: StaffRole::from_code(&role).ok_or_else(|| corrupt(&id, "role"))?,
        state: StaffState::from_code(&state).ok_or_else(|| corrupt(&id, "state"))?,
        display_name: row.try_get("", "display_name")?,
        team_id: row.try_get("", "team_id")?,
        manager_id: row.try_get("", "manager_id")?,
        sales_region: row.try_get("", "sales_region")?,
        joined_at: row.try_get("", "joined_at")?,
        left_at: row.try_get("", "left_at")?,
        version: row.try_get("", "version")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
        id,
    })
}

/// Adds a person; `false` when the id is taken.
pub async fn insert_staff<C: ConnectionTrait>(db: &C, s: &Staff) -> Result<bool> {
    let insert = Query::insert()
        .into_table("staff")
        .columns(STAFF_COLUMNS)
        .values_panic([
            s.id.as_str().into(),
            s.display_name.as_str().into(),
            s.role.code().into(),
            s.team_id.as_str().into(),
            s.manager_id.as_str().into(),
            s.sales_region.as_str().into(),
            s.state.code().into(),
            s.joined_at.into(),
            s.left_at.into(),
            s.version.into(),
            s.created_at.into(),
            s.updated_at.into(),
        ])
        .on_conflict(
            sea_orm::sea_query::OnConflict::column("id")
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn update_staff<C: ConnectionTrait>(db: &C, s: &Staff) -> Result<()> {
    let update = Query::update()
        .table("staff")
        .value("display_name", s.display_name.as_str())
        .value("role", s.role.code())
        .value("team_id", s.team_id.as_str())
        .value("manager_id", s.manager_id.as_str())
        .value("sales_region", s.sales_region.as_str())
        .value("state", s.state.code())
        .value("left_at", s.left_at)
        .value("version", s.version)
        .value("updated_at", s.updated_at)
        .and_where(Expr::col("id").eq(s.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn staff<C: ConnectionTrait>(db: &C, id: &str, lock: bool) -> Result<Option<Staff>> {
    let mut select = Query::select()
        .columns(STAFF_COLUMNS)
        .from("staff")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    if lock {
        for_update(db, &mut select);
    }
    db.query_one(&select)
        .await?
        .as_ref()
        .map(staff_of)
        .transpose()
}

/// Which people a list asks for.
#[derive(Clone, Debug, Default)]
pub struct StaffFilter {
    pub team_id: Option<String>,
    pub role: Option<StaffRole>,
    pub state: Option<StaffState>,
    pub manager_id: Option<String>,
    /// Only these (a viewer's people).
    pub ids: Option<Vec<String>>,
    /// Joined before and not gone before: active at some time in [start, end).
    pub active_during: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

pub async fn list_staff<C: ConnectionTrait>(
    db: &C,
    filter: &StaffFilter,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Staff>> {
    let mut select = Query::select()
        .columns(STAFF_COLUMNS)
        .from("staff")
        .to_owned();
    if let Some(team) = &filter.team_id {
        select.and_where(Expr::col("team_id").eq(team.as_str()));
    }
    if let Some(role) = filter.role {
        select.and_where(Expr::col("role").eq(role.code()));
    }
    if let Some(state) = filter.state {
        select.and_where(Expr::col("state").eq(state.code()));
    }
    if let Some(manager) = &filter.manager_id {
        select.and_where(Expr::col("manager_id").eq(manager.as_str()));
    }
    if let Some(ids) = &filter.ids {
        select.and_where(Expr::col("id").is_in(ids.iter().map(String::as_str)));
    }
    if let Some((start, end)) = filter.active_during {
        select.and_where(Expr::col("joined_at").lt(end));
        select.and_where(
            Expr::col("left_at")
                .is_null()
                .or(Expr::col("left_at").gte(start)),
        );
    }
    page(&mut select, "id", after, limit);
    db.query_all(&select).await?.iter().map(staff_of).collect()
}

/// People active at some time in [start, end).
pub async fn count_active<C: ConnectionTrait>(
    db: &C,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<i64> {
    let select = Query::select()
        .expr_as(Expr::col("id").count(), "n")
        .from("staff")
        .and_where(Expr::col("joined_at").lt(end))
        .and_where(
            Expr::col("left_at")
                .is_null()
                .or(Expr::col("left_at").gte(start)),
        )
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    })
}

// Teams.

const TEAM_COLUMNS: [&str; 7] = [
    "id",
    "display_name",
    "supervisor_id",
    "parent_team_id",
    "version",
    "created_at",
    "updated_at",
];

fn team_of(row: &QueryResult) -> Result<Team> {
    Ok(Team {
        id: row.try_get("", "id")?,
        display_name: row.try_get("", "display_name")?,
        supervisor_id: row.try_get("", "supervisor_id")?,
        parent_team_id: row.try_get("", "parent_team_id")?,
        version: row.try_get("", "version")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}

/// Adds a team; `false` when the id is taken.
pub async fn insert_team<C: ConnectionTrait>(db: &C, t: &Team) -> Result<bool> {
    let insert = Query::insert()
        .into_table("teams")
        .columns(TEAM_COLUMNS)
        .values_panic([
            t.id.as_str().into(),
            t.display_name.as_str().into(),
            t.supervisor_id.as_str().into(),
            t.parent_team_id.as_str().into(),
            t.version.into(),
            t.created_at.into(),
            t.updated_at.into(),
        ])
        .on_conflict(
            sea_orm::sea_query::OnConflict::column("id")
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn update_team<C: ConnectionTrait>(db: &C, t: &Team) -> Result<()> {
    let update = Query::update()
        .table("teams")
        .value("display_name", t.display_name.as_str())
        .value("supervisor_id", t.supervisor_id.as_str())
        .value("parent_team_id", t.parent_team_id.as_str())
        .value("version", t.version)
        .value("updated_at", t.updated_at)
        .and_where(Expr::col("id").eq(t.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn team<C: ConnectionTrait>(db: &C, id: &str, lock: bool) -> Result<Option<Team>> {
    let mut select = Query::select()
        .columns(TEAM_COLUMNS)
        .from("teams")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    if lock {
        for_update(db, &mut select);
    }
    db.query_one(&select)
        .await?
        .as_ref()
        .map(team_of)
        .transpose()
}

pub async fn teams<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Team>> {
    let mut select = Query::select()
        .columns(TEAM_COLUMNS)
        .from("teams")
        .to_owned();
    page(&mut select, "id", after, limit);
    db.query_all(&select).await?.iter().map(team_of).collect()
}

/// Teams `supervisor_id` supervises, or whose parent is one of `parents`.
pub async fn teams_led_or_under<C: ConnectionTrait>(
    db: &C,
    supervisor_id: &str,
    parents: &[String],
) -> Result<Vec<String>> {
    let mut condition = Expr::col("supervisor_id").eq(supervisor_id);
    if !parents.is_empty() {
        condition =
            condition.or(Expr::col("parent_team_id").is_in(parents.iter().map(String::as_str)));
    }
    let select = Query::select()
        .column("id")
        .from("teams")
        .and_where(condition)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("", "id")?))
        .collect()
}

/// Ids of the people in `teams` or reporting to `manager_id`.
pub async fn people_of<C: ConnectionTrait>(
    db: &C,
    teams: &[String],
    manager_id: &str,
) -> Result<Vec<String>> {
    let mut condition = Expr::col("manager_id").eq(manager_id);
    if !teams.is_empty() {
        condition = condition.or(Expr::col("team_id").is_in(teams.iter().map(String::as_str)));
    }
    let select = Query::select()
        .column("id")
        .from("staff")
        .and_where(condition)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("", "id")?))
        .collect()
}

/// Teams `staff_id` supervises, and people who report to them: what must be handed over
/// before they leave.
pub async fn still_leads<C: ConnectionTrait>(db: &C, staff_id: &str) -> Result<Vec<String>> {
    let teams = Query::select()
        .column("id")
        .from("teams")
        .and_where(Expr::col("supervisor_id").eq(staff_id))
        .to_owned();
    let reports = Query::select()
        .column("id")
        .from("staff")
        .and_where(Expr::col("manager_id").eq(staff_id))
        .and_where(Expr::col("state").eq(StaffState::Active.code()))
        .to_owned();
    let mut led = Vec::new();
    for row in db.query_all(&teams).await? {
        led.push(format!("team {}", row.try_get::<String>("", "id")?));
    }
    for row in db.query_all(&reports).await? {
        led.push(format!(
            "{} (reports to them)",
            row.try_get::<String>("", "id")?
        ));
    }
    Ok(led)
}
