//! CR-2's record: each tier change stored with its reason and emitted as TierChanged, the
//! facts it is computed from, and the history read back.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use kefu_platform::events;
use kefu_proto::common::Money;
use kefu_proto::customer as pb;
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::api::{tier_to_proto, timestamp};
use crate::domain::Tier;
use crate::domain::tier::UsageFacts;

/// One change of tier, as stored and as emitted.
#[derive(Clone, Debug)]
pub(crate) struct TierChangeRecord {
    pub(crate) customer_id: String,
    pub(crate) old: Tier,
    pub(crate) new: Tier,
    pub(crate) reason: String,
    /// A manager's override (or its removal), not the facts.
    pub(crate) manual: bool,
    pub(crate) actor_id: String,
    pub(crate) facts: UsageFacts,
    pub(crate) at: DateTime<Utc>,
}

impl TierChangeRecord {
    fn to_proto(&self) -> pb::TierChange {
        pb::TierChange {
            customer_id: self.customer_id.clone(),
            old_tier: tier_to_proto(self.old) as i32,
            new_tier: tier_to_proto(self.new) as i32,
            reason: self.reason.clone(),
            manual_override: self.manual,
            actor_id: self.actor_id.clone(),
            change_time: Some(timestamp(self.at)),
            monthly_uses: i64::from(self.facts.monthly_uses),
            annual_spend: Some(Money {
                currency_code: "CNY".into(),
                minor_units: self.facts.annual_spend_fen,
            }),
        }
    }
}

/// Stores the change in the history and emits TierChanged, in the caller's transaction.
pub(crate) async fn record<C: ConnectionTrait>(
    txn: &C,
    change: &TierChangeRecord,
) -> Result<(), DbErr> {
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
    txn.execute(&insert).await?;
    events::append(
        txn,
        &format!("customers/{}", change.customer_id),
        &pb::TierChanged {
            change: Some(change.to_proto()),
        },
    )
    .await?;
    Ok(())
}

/// A customer's changes, newest first, after the row id `before` (a page token).
pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<(i64, pb::TierChange)>, DbErr> {
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
            let record = TierChangeRecord {
                customer_id: row.try_get("", "customer_id")?,
                old: tier("old_tier")?,
                new: tier("new_tier")?,
                reason: row.try_get("", "reason")?,
                manual: row.try_get("", "manual")?,
                actor_id: row.try_get("", "actor_id")?,
                facts: UsageFacts {
                    monthly_uses: u32::try_from(row.try_get::<i32>("", "monthly_uses")?)
                        .unwrap_or(0),
                    annual_spend_fen: row.try_get("", "annual_spend_fen")?,
                },
                at: row.try_get("", "changed_at")?,
            };
            Ok((row.try_get::<i64>("", "id")?, record.to_proto()))
        })
        .collect()
}

/// Uses in the calendar month holding `at` (local time at `offset`) and spend over the 365
/// days up to `at`.
pub(crate) async fn facts<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    at: DateTime<Utc>,
    offset: FixedOffset,
) -> Result<UsageFacts, DbErr> {
    let month = at.with_timezone(&offset).format("%Y-%m").to_string();
    let uses = Query::select()
        .column("uses")
        .from("customer_usage")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .and_where(Expr::col("month").eq(month))
        .to_owned();
    let monthly_uses = match db.query_one(&uses).await? {
        Some(row) => u32::try_from(row.try_get::<i32>("", "uses")?).unwrap_or(0),
        None => 0,
    };
    let spend = Query::select()
        // SUM of BIGINT is NUMERIC in PostgreSQL; the cast keeps it an integer everywhere.
        .expr_as(
            Expr::cust("CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT)"),
            "total",
        )
        .from("customer_spend")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .and_where(Expr::col("occurred_at").gt(at - Duration::days(365)))
        .to_owned();
    let annual_spend_fen = match db.query_one(&spend).await? {
        Some(row) => row.try_get::<i64>("", "total")?,
        None => 0,
    };
    Ok(UsageFacts {
        monthly_uses,
        annual_spend_fen,
    })
}

/// CR-3's facts: spend over the year, the last 90 days and the 90 days before them.
pub(crate) async fn grade_facts<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<crate::domain::grade::GradeFacts, DbErr> {
    let spend = |from: DateTime<Utc>, to: DateTime<Utc>| {
        Query::select()
            .expr_as(
                Expr::cust("CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT)"),
                "total",
            )
            .from("customer_spend")
            .and_where(Expr::col("customer_id").eq(customer_id))
            .and_where(Expr::col("occurred_at").gt(from))
            .and_where(Expr::col("occurred_at").lte(to))
            .to_owned()
    };
    let mut totals = [0i64; 3];
    let windows = [
        (now - Duration::days(365), now),
        (now - Duration::days(90), now),
        (now - Duration::days(180), now - Duration::days(90)),
    ];
    for (total, (from, to)) in totals.iter_mut().zip(windows) {
        if let Some(row) = db.query_one(&spend(from, to)).await? {
            *total = row.try_get::<i64>("", "total")?;
        }
    }
    Ok(crate::domain::grade::GradeFacts {
        annual_spend_fen: totals[0],
        recent_spend_fen: totals[1],
        previous_spend_fen: totals[2],
    })
}
