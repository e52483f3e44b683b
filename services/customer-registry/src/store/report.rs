//! the counts behind customer-registry's business report, read from its own tables.

use kefu_platform::report::{Window, count, count_all};
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};

/// Customers registered in the window per kind.
pub async fn registered_by_kind<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(db, "customers", "created_at", window, Some("kind"), None).await
}

pub async fn archived<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "customers", "archived_at", window, None).await
}

/// Tier changes (CR-2) in the window per the tier moved to.
pub async fn tier_changes_by_tier<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(
        db,
        "tier_changes",
        "changed_at",
        window,
        Some("new_tier"),
        None,
    )
    .await
}

pub async fn visits_made<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "visit_reports", "visit_time", window, None).await
}

pub async fn urgent_reports<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "urgent_reports", "created_at", window, None).await
}

/// Active customers registered before the window's end, per the tier they have now.
pub async fn active_by_tier<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    let select = Query::select()
        .expr_as(Expr::col("tier"), "k")
        .expr_as(Expr::col("id").count(), "n")
        .from("customers")
        .and_where(Expr::col("created_at").lt(window.end))
        .and_where(Expr::col("state").eq("active"))
        .group_by_col("tier")
        .order_by("tier", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get("", "k")?, row.try_get("", "n")?)))
        .collect()
}
