//! the counts behind survey's business report, read from its own tables.

use kefu_platform::report::{Window, count, count_all};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ConnectionTrait, DbErr};

/// Invitations sent in the window per method.
pub async fn sent_by_method<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(db, "invitations", "sent_at", window, Some("method"), None).await
}

/// Surveys not sent in the window per reason (SV-3: quiet period, opted out, ...).
pub async fn skipped_by_reason<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(
        db,
        "skipped_surveys",
        "skipped_at",
        window,
        Some("reason"),
        None,
    )
    .await
}

/// Customers who opted out in the window and have not opted back in.
pub async fn opted_out<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    let still = Expr::col("opted_out").eq(true);
    count_all(db, "survey_customers", "opt_out_at", window, Some(still)).await
}

/// Follow-up tasks (SV-5) opened in the window.
pub async fn tasks_opened<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    count_all(db, "follow_up_tasks", "created_at", window, None).await
}
