//! the counts behind order-tracking's business report, read from its own tables.

use chrono::{DateTime, Utc};
use kefu_platform::report::{Window, count, count_all};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait, DbErr};

/// Orders received in the window per channel.
pub async fn received_by_channel<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    let rows = count(db, "orders", "created_at", window, Some("channel"), None).await?;
    Ok(plain(rows, "CHANNEL_"))
}

/// Orders received in the window per the state they are in now.
pub async fn received_by_state<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    count(db, "orders", "created_at", window, Some("state"), None).await
}

/// Return orders (OT-9) received in the window.
pub async fn returns_received<C: ConnectionTrait>(db: &C, window: &Window) -> Result<i64, DbErr> {
    let returns = Expr::col("original_order_id").ne("");
    count_all(db, "orders", "created_at", window, Some(returns)).await
}

/// Exceptions raised in the window per kind.
pub async fn exceptions_by_kind<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<(String, i64)>, DbErr> {
    let rows = count(
        db,
        "order_exceptions",
        "raised_at",
        window,
        Some("kind"),
        None,
    )
    .await?;
    Ok(plain(rows, "EXCEPTION_KIND_"))
}

/// Channels and kinds are stored as the contract's enum names ("CHANNEL_PHONE"); reports
/// name them as every other service's codes read ("phone").
fn plain(rows: Vec<(String, i64)>, prefix: &str) -> Vec<(String, i64)> {
    rows.into_iter()
        .map(|(code, n)| {
            let name = code.strip_prefix(prefix).unwrap_or(&code);
            (name.to_ascii_lowercase(), n)
        })
        .collect()
}

/// One order delivered in the window: when it was received, promised and delivered.
#[derive(Debug)]
pub struct Delivery {
    pub received_at: DateTime<Utc>,
    pub promised_at: DateTime<Utc>,
    pub delivered_at: DateTime<Utc>,
}

pub async fn delivered_in<C: ConnectionTrait>(
    db: &C,
    window: &Window,
) -> Result<Vec<Delivery>, DbErr> {
    let select = Query::select()
        .columns(["created_at", "promised_at", "delivered_at"])
        .from("orders")
        .and_where(Expr::col("delivered_at").gte(window.start))
        .and_where(Expr::col("delivered_at").lt(window.end))
        .to_owned();
    db.query_all(&select)
        .await?
        .into_iter()
        .map(|row| {
            Ok(Delivery {
                received_at: row.try_get("", "created_at")?,
                promised_at: row.try_get("", "promised_at")?,
                delivered_at: row.try_get("", "delivered_at")?,
            })
        })
        .collect()
}
