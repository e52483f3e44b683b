//! CD-10: one row per root cause and period: its count, the threshold in force, and when it
//! was flagged. Updating the row locks it, so two investigations of one cause at once count
//! one after the other and the flag is raised once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::RootCause;

/// A flagged cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub root_cause: RootCause,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub occurrence_count: i64,
    pub threshold: i64,
    pub flagged_at: DateTime<Utc>,
}

/// Takes the row of `cause` in the period starting at `start` (making it when missing) and
/// holds its lock until the transaction ends.
pub async fn take<C: ConnectionTrait>(
    txn: &C,
    cause: RootCause,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    threshold: i64,
) -> Result<(), DbErr> {
    let upsert = Query::insert()
        .into_table("recurring_causes")
        .columns([
            "root_cause",
            "period_start",
            "period_end",
            "occurrence_count",
            "threshold",
        ])
        .values_panic([
            cause.code().into(),
            start.into(),
            end.into(),
            0i64.into(),
            threshold.into(),
        ])
        .on_conflict(
            OnConflict::columns(["root_cause", "period_start"])
                // A no-op update: it takes the row lock a plain read would not.
                .value("threshold", Expr::col(("recurring_causes", "threshold")))
                .to_owned(),
        )
        .to_owned();
    txn.execute(&upsert).await?;
    Ok(())
}

/// Records the count; flags the cause at `now` when `flag` and it was not flagged yet.
/// Whether this call flagged it.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    cause: RootCause,
    start: DateTime<Utc>,
    count: i64,
    threshold: i64,
    flag: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let key = |q: &mut sea_orm::sea_query::UpdateStatement| {
        q.and_where(Expr::col("root_cause").eq(cause.code()))
            .and_where(Expr::col("period_start").eq(start));
    };
    let mut counted = Query::update();
    counted
        .table("recurring_causes")
        .value("occurrence_count", count)
        .value("threshold", threshold);
    key(&mut counted);
    txn.execute(&counted).await?;
    if !flag {
        return Ok(false);
    }
    let mut flagged = Query::update();
    flagged
        .table("recurring_causes")
        .value("flagged_at", now)
        .and_where(Expr::col("flagged_at").is_null());
    key(&mut flagged);
    Ok(txn.execute(&flagged).await?.rows_affected() == 1)
}

/// Flagged causes whose period overlaps `[from, to)` (all when `None`), newest period
/// first, then by cause; `after` is the last (period start, cause) of the previous page.
pub async fn flagged<C: ConnectionTrait>(
    db: &C,
    interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<Flag>, DbErr> {
    let mut select = Query::select();
    select
        .columns([
            "root_cause",
            "period_start",
            "period_end",
            "occurrence_count",
            "threshold",
            "flagged_at",
        ])
        .from("recurring_causes")
        .and_where(Expr::col("flagged_at").is_not_null())
        .order_by("period_start", sea_orm::Order::Desc)
        .order_by("root_cause", sea_orm::Order::Asc)
        .limit(limit);
    if let Some((from, to)) = interval {
        select
            .and_where(Expr::col("period_start").lt(to))
            .and_where(Expr::col("period_end").gt(from));
    }
    if let Some((start, cause)) = after {
        select.cond_where(
            sea_orm::Condition::any()
                .add(Expr::col("period_start").lt(start))
                .add(
                    Expr::col("period_start")
                        .eq(start)
                        .and(Expr::col("root_cause").gt(cause)),
                ),
        );
    }
    let rows = db.query_all(&select).await?;
    let mut flags = Vec::with_capacity(rows.len());
    for row in rows {
        let code: String = row.try_get("", "root_cause")?;
        let Some(root_cause) = RootCause::from_code(&code) else {
            return Err(DbErr::Custom(format!("unknown root cause {code:?} stored")));
        };
        flags.push(Flag {
            root_cause,
            period_start: row.try_get("", "period_start")?,
            period_end: row.try_get("", "period_end")?,
            occurrence_count: row.try_get("", "occurrence_count")?,
            threshold: row.try_get("", "threshold")?,
            flagged_at: row.try_get("", "flagged_at")?,
        });
    }
    Ok(flags)
}
