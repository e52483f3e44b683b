//! the counts behind staff-kpi's business report, read from its own tables.

use kefu_platform::report::{Window, count, count_all};
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::{Cause, DisputeState, StaffState};

/// People who joined in the window per role.
pub async fn joined_by_role<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(db, "staff", "joined_at", window, Some("role"), None).await
}

pub async fn left<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "staff", "left_at", window, None).await
}

/// People with the company now who joined before the window's end, per role.
pub async fn active_by_role<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    let select = Query::select()
        .expr_as(Expr::col("role"), "k")
        .expr_as(Expr::col("id").count(), "n")
        .from("staff")
        .and_where(Expr::col("joined_at").lt(window.end))
        .and_where(Expr::col("state").eq(StaffState::Active.code()))
        .group_by_col("role")
        .order_by("role", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get("", "k")?, row.try_get("", "n")?)))
        .collect()
}

/// Facts (SK-2) received in the window per the service that announced them.
pub async fn facts_by_source<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(db, "facts", "recorded_at", window, Some("source"), None).await
}

/// Assessment revisions written in the window per cause.
pub async fn revisions_by_cause<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(
        db,
        "assessments",
        "computed_at",
        window,
        Some("cause"),
        None,
    )
    .await
}

/// Final assessments written in the window per grade (those without a grade left out).
pub async fn finals_by_grade<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    let finals = Expr::col("cause")
        .eq(Cause::Final.code())
        .and(Expr::col("grade").ne(""));
    count(
        db,
        "assessments",
        "computed_at",
        window,
        Some("grade"),
        Some(finals),
    )
    .await
}

pub async fn periods_closed<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "periods", "closed_at", window, None).await
}

pub async fn disputes_opened<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "disputes", "created_at", window, None).await
}

/// Disputes raised before the window's end and still undecided now.
pub async fn disputes_open<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    let select = Query::select()
        .expr_as(Expr::col("id").count(), "n")
        .from("disputes")
        .and_where(Expr::col("created_at").lt(window.end))
        .and_where(Expr::col("state").eq(DisputeState::Open.code()))
        .to_owned();
    match db.query_one(&select).await? {
        Some(row) => row.try_get("", "n"),
        None => Ok(0),
    }
}

/// Rewards and penalties (SK-4) decided in the window per state (decided, withdrawn).
pub async fn outcomes_by_state<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(
        db,
        "reward_penalties",
        "decided_at",
        window,
        Some("state"),
        None,
    )
    .await
}

pub async fn breaches<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "breaches", "occurred_at", window, None).await
}
