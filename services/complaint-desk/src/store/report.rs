//! the counts behind complaint-desk's business report, read from its own tables.

use kefu_platform::report::{Window, count, count_all};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ConnectionTrait, DbErr};

/// Cases registered in the window per `column` (category, case_type, origin, severity).
pub async fn registered_by<C: ConnectionTrait>(
    db: &C,
    window: &Window,
    column: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(db, "complaints", "created_at", window, Some(column), None).await
}

/// Cases closed in the window per category.
pub async fn closed_by_category<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(
        db,
        "complaints",
        "closed_at",
        window,
        Some("category"),
        None,
    )
    .await
}

/// Of the cases registered in the window whose `deadline` ("first_response_met" or
/// "resolution_met") is decided: how many met it, and how many are decided.
pub async fn deadline_met<C: ConnectionTrait>(
    db: &C,
    window: &Window,
    deadline: &str,
) -> Result<(i64, i64), DbErr> {
    let met = Expr::col(deadline.to_owned()).eq(true);
    let decided = Expr::col(deadline.to_owned()).is_not_null();
    Ok((
        count_all(db, "complaints", "created_at", window, Some(met)).await?,
        count_all(db, "complaints", "created_at", window, Some(decided)).await?,
    ))
}
