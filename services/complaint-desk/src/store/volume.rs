//! CD-7: order volume per hour, counted from order-tracking's OrderCreated events, for the
//! complaint rate per 1,000 orders.

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

/// The hour holding `t`.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// Counts one order created at `t`.
pub async fn add<C: ConnectionTrait>(txn: &C, t: DateTime<Utc>) -> Result<(), DbErr> {
    let upsert = Query::insert()
        .into_table("order_volume")
        .columns(["hour_start", "order_count"])
        .values_panic([hour_of(t).into(), 1i64.into()])
        .on_conflict(
            OnConflict::column("hour_start")
                .value(
                    "order_count",
                    Expr::col(("order_volume", "order_count")).add(1),
                )
                .to_owned(),
        )
        .to_owned();
    txn.execute(&upsert).await?;
    Ok(())
}

/// Orders per hour in `[from, to)`.
pub async fn hours<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i64)>, DbErr> {
    let select = Query::select()
        .columns(["hour_start", "order_count"])
        .from("order_volume")
        .and_where(Expr::col("hour_start").gte(from))
        .and_where(Expr::col("hour_start").lt(to))
        .order_by("hour_start", sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                row.try_get("", "hour_start")?,
                row.try_get("", "order_count")?,
            ))
        })
        .collect()
}
