//! CR-2's and CR-3's facts and CR-2's history: uses per local month and spend per order
//! (from order-tracking's events), what they add up to, and every change of tier with its
//! reason.

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::grade::GradeFacts;
use crate::domain::tier::{TierChange, UsageFacts};
use crate::domain::{State, Tier};

/// Counts one use of `customer_id` in the local `month` ("2026-11").
pub async fn add_use<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    month: &str,
) -> Result<(), DbErr> {
    let upsert = Query::insert()
        .into_table("customer_usage")
        .columns(["customer_id", "month", "uses"])
        .values_panic([customer_id.into(), month.into(), 1.into()])
        .on_conflict(
            OnConflict::columns(["customer_id", "month"])
                .value("uses", Expr::col(("customer_usage", "uses")).add(1))
                .to_owned(),
        )
        .to_owned();
    db.execute(&upsert).await?;
    Ok(())
}

/// Keeps one order's spend; an order counts once however often its event arrives.
pub async fn add_spend<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
    customer_id: &str,
    amount_fen: i64,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("customer_spend")
        .columns(["order_id", "customer_id", "amount_fen", "occurred_at"])
        .values_panic([
            order_id.into(),
            customer_id.into(),
            amount_fen.into(),
            at.into(),
        ])
        .on_conflict(OnConflict::column("order_id").do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// Uses in the busier of the calendar month holding `at` and the month before it (local
/// time at `offset`; the current month wins a tie), and spend over the 365 days up to `at`.
pub async fn usage_facts<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    at: DateTime<Utc>,
    offset: FixedOffset,
) -> Result<UsageFacts, DbErr> {
    let local = at.with_timezone(&offset).date_naive();
    let this_month = local.with_day(1).unwrap_or(local);
    let last_month = (this_month - Duration::days(1))
        .with_day(1)
        .unwrap_or(this_month);
    let label = |d: NaiveDate| d.format("%Y-%m").to_string();
    let uses = Query::select()
        .columns(["month", "uses"])
        .from("customer_usage")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .and_where(Expr::col("month").is_in([label(this_month), label(last_month)]))
        .to_owned();
    let mut counted = [(this_month, 0u32), (last_month, 0u32)];
    for row in db.query_all(&uses).await? {
        let month: String = row.try_get("", "month")?;
        let n = u32::try_from(row.try_get::<i32>("", "uses")?).unwrap_or(0);
        for (m, uses) in &mut counted {
            if label(*m) == month {
                *uses = n;
            }
        }
    }
    let (month, monthly_uses) = if counted[1].1 > counted[0].1 {
        counted[1]
    } else {
        counted[0]
    };
    Ok(UsageFacts {
        monthly_uses,
        month: u32::try_from(month.year() * 100).unwrap_or(0) + month.month(),
        annual_spend_fen: spend_between(db, customer_id, at - Duration::days(365), at).await?,
    })
}

/// Spend of `customer_id` in (from, to], fen.
async fn spend_between<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let spend = Query::select()
        // SUM of BIGINT is NUMERIC in PostgreSQL; the cast keeps it an integer everywhere.
        .expr_as(
            Expr::cust("CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT)"),
            "total",
        )
        .from("customer_spend")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .and_where(Expr::col("occurred_at").gt(from))
        .and_where(Expr::col("occurred_at").lte(to))
        .to_owned();
    Ok(match db.query_one(&spend).await? {
        Some(row) => row.try_get::<i64>("", "total")?,
        None => 0,
    })
}

/// CR-3's facts: spend over the year, the last 90 days and the 90 days before them.
pub async fn grade_facts<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<GradeFacts, DbErr> {
    Ok(GradeFacts {
        annual_spend_fen: spend_between(db, customer_id, now - Duration::days(365), now).await?,
        recent_spend_fen: spend_between(db, customer_id, now - Duration::days(90), now).await?,
        previous_spend_fen: spend_between(
            db,
            customer_id,
            now - Duration::days(180),
            now - Duration::days(90),
        )
        .await?,
    })
}

/// Stores one change of tier in the history.
pub async fn insert_change<C: ConnectionTrait>(db: &C, change: &TierChange) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("tier_changes")
        .columns([
            "customer_id",
            "old_tier",
            "new_tier",
            "reason",
            "manual",
            "actor_id",
            "monthly_uses",
            "annual_spend_fen",
            "changed_at",
        ])
        .values_panic([
            change.customer_id.as_str().into(),
            change.old.code().into(),
            change.new.code().into(),
            change.reason.as_str().into(),
            change.manual.into(),
            change.actor_id.as_str().into(),
            i32::try_from(change.facts.monthly_uses)
                .unwrap_or(i32::MAX)
                .into(),
            change.facts.annual_spend_fen.into(),
            change.at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// A customer's changes, newest first, before the row id `before` (a page token), with
/// their row ids.
pub async fn list_changes<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<(i64, TierChange)>, DbErr> {
    let mut select = Query::select()
        .columns([
            "id",
            "customer_id",
            "old_tier",
            "new_tier",
            "reason",
            "manual",
            "actor_id",
            "monthly_uses",
            "annual_spend_fen",
            "changed_at",
        ])
        .from("tier_changes")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .order_by("id", Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(before) = before {
        select.and_where(Expr::col("id").lt(before));
    }
    let rows = db.query_all(&select).await?;
    rows.into_iter()
        .map(|row| {
            let tier = |column: &str| -> Result<Tier, DbErr> {
                let code: String = row.try_get("", column)?;
                Tier::from_code(&code)
                    .ok_or_else(|| DbErr::Custom(format!("tier_changes.{column} holds {code:?}")))
            };
            let change = TierChange {
                customer_id: row.try_get("", "customer_id")?,
                old: tier("old_tier")?,
                new: tier("new_tier")?,
                reason: row.try_get("", "reason")?,
                manual: row.try_get("", "manual")?,
                actor_id: row.try_get("", "actor_id")?,
                facts: UsageFacts {
                    monthly_uses: u32::try_from(row.try_get::<i32>("", "monthly_uses")?)
                        .unwrap_or(0),
                    month: 0,
                    annual_spend_fen: row.try_get("", "annual_spend_fen")?,
                },
                at: row.try_get("", "changed_at")?,
            };
            Ok((row.try_get::<i64>("", "id")?, change))
        })
        .collect()
}

/// Ids of active customers after `after` whose tier is one of `tiers` and set by the facts,
/// in id order.
pub async fn computed_in<C: ConnectionTrait>(
    db: &C,
    tiers: &[Tier],
    after: &str,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let page = Query::select()
        .column("id")
        .from("customers")
        .and_where(Expr::col("id").gt(after))
        .and_where(Expr::col("tier").is_in(tiers.iter().map(|t| t.code())))
        .and_where(Expr::col("tier_overridden").eq(false))
        .and_where(Expr::col("state").eq(State::Active.code()))
        .order_by("id", Order::Asc)
        .limit(limit)
        .to_owned();
    db.query_all(&page)
        .await?
        .iter()
        .map(|row| row.try_get("", "id"))
        .collect()
}
