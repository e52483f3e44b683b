//! CR-2's record: each tier change stored with its reason and emitted as TierChanged, the
//! facts it is computed from, and the history read back.

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, Utc};
use kefu_platform::events;
use kefu_platform::pii::PiiCipher;
use kefu_proto::common::Money;
use kefu_proto::customer as pb;
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait as _,
};

use crate::api::{tier_to_proto, timestamp};
use crate::domain::tier::{TierRules, UsageFacts, tier_for};
use crate::domain::{State, Tier};
use crate::store;

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
                    month: 0,
                    annual_spend_fen: row.try_get("", "annual_spend_fen")?,
                },
                at: row.try_get("", "changed_at")?,
            };
            Ok((row.try_get::<i64>("", "id")?, record.to_proto()))
        })
        .collect()
}

/// Uses in the busier of the calendar month holding `at` and the month before it (local
/// time at `offset`; the current month wins a tie), and spend over the 365 days up to `at`.
pub(crate) async fn facts<C: ConnectionTrait>(
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
        month: u32::try_from(month.year() * 100).unwrap_or(0) + month.month(),
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

/// What [`retier`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retiered {
    Unchanged,
    Changed,
    /// The customer changed under us; nothing was written.
    Conflict,
}

/// Computes the tier from `facts` and, when it changed and no manager set it, stores it with
/// its history row and TierChanged event, in `txn`.
pub(crate) async fn retier(
    txn: &DatabaseTransaction,
    cipher: &PiiCipher,
    rules: &TierRules,
    customer_id: &str,
    facts: UsageFacts,
    at: DateTime<Utc>,
) -> anyhow::Result<Retiered> {
    let Some(mut customer) = store::get(txn, cipher, customer_id).await? else {
        // Not a customer of this registry (or erased): nothing to tier.
        return Ok(Retiered::Unchanged);
    };
    if customer.tier_overridden {
        return Ok(Retiered::Unchanged);
    }
    let (tier, reason) = tier_for(
        customer.kind,
        customer.fields.government_level,
        facts,
        rules,
    );
    if tier == customer.tier {
        return Ok(Retiered::Unchanged);
    }
    let old = customer.tier;
    let version = customer.version;
    customer.tier = tier;
    customer.version += 1;
    customer.updated_at = Utc::now();
    if !store::update_if_version(txn, cipher, &customer, version).await? {
        return Ok(Retiered::Conflict);
    }
    let change = TierChangeRecord {
        customer_id: customer_id.to_owned(),
        old,
        new: tier,
        reason,
        manual: false,
        actor_id: "system".into(),
        facts,
        at,
    };
    record(txn, &change).await?;
    tracing::info!(
        customer_id,
        old = old.code(),
        new = tier.code(),
        "tier changed"
    );
    Ok(Retiered::Changed)
}

/// Tiers that time alone can take away: a busy month passes, spend leaves the rolling year.
const TIERS_TIME_LOWERS: [Tier; 3] = [Tier::Frequent, Tier::Large, Tier::Medium];

/// CR-2 on schedule: re-tiers every customer in a tier that time alone can lower, as of
/// `now`, one short transaction each. Returns (customers looked at, tiers changed).
pub(crate) async fn retier_due(
    db: &DatabaseConnection,
    cipher: &PiiCipher,
    rules: &TierRules,
    offset: FixedOffset,
    now: DateTime<Utc>,
) -> anyhow::Result<(u64, u64)> {
    let (mut seen, mut changed) = (0u64, 0u64);
    let mut after = String::new();
    loop {
        let page = Query::select()
            .column("id")
            .from("customers")
            .and_where(Expr::col("id").gt(after.as_str()))
            .and_where(Expr::col("tier").is_in(TIERS_TIME_LOWERS.map(Tier::code)))
            .and_where(Expr::col("tier_overridden").eq(false))
            .and_where(Expr::col("state").eq(State::Active.code()))
            .order_by("id", Order::Asc)
            .limit(200)
            .to_owned();
        let ids: Vec<String> = db
            .query_all(&page)
            .await?
            .iter()
            .map(|row| row.try_get("", "id"))
            .collect::<Result<_, _>>()?;
        let Some(last) = ids.last() else {
            return Ok((seen, changed));
        };
        after = last.clone();
        for id in ids {
            seen += 1;
            let txn = db.begin().await?;
            let facts = facts(&txn, &id, now, offset).await?;
            match retier(&txn, cipher, rules, &id, facts, now).await? {
                Retiered::Changed => {
                    txn.commit().await?;
                    changed += 1;
                }
                // A change in flight wins; the next pass looks again.
                Retiered::Conflict | Retiered::Unchanged => txn.rollback().await?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use kefu_platform::service::Service as _;
    use kefu_testkit::TestDatabase;

    use super::*;
    use crate::domain::{Customer, CustomerFields, Kind};

    async fn customer(
        db: &DatabaseConnection,
        cipher: &PiiCipher,
        kind: Kind,
        tier: Tier,
    ) -> String {
        let now = Utc::now();
        let customer = Customer {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            fields: CustomerFields {
                kind: Some(kind),
                display_name: "Tiered".into(),
                phone: String::new(),
                email: String::new(),
                id_number: String::new(),
                registration_number: String::new(),
                contacts: vec![],
                addresses: vec![],
                industry: String::new(),
                needs: String::new(),
                contract: None,
                government_level: None,
                region: String::new(),
                team_id: "t1".into(),
            },
            state: State::Active,
            tier,
            tier_overridden: false,
            grade: None,
            owner_id: String::new(),
            visitor_id: String::new(),
            created_at: now,
            updated_at: now,
            confirmed_at: now,
            archived_at: None,
            version: 1,
        };
        store::insert(db, cipher, &customer).await.unwrap();
        customer.id
    }

    async fn exec(db: &DatabaseConnection, statement: impl sea_orm::StatementBuilder) {
        db.execute(&statement).await.unwrap();
    }

    async fn tier_of(db: &DatabaseConnection, cipher: &PiiCipher, id: &str) -> Tier {
        store::get(db, cipher, id).await.unwrap().unwrap().tier
    }

    /// CR-2 on schedule: a month of 3 uses keeps a person frequent through the next month
    /// and not a minute longer (local midnight, UTC+8); spend older than 365 days leaves
    /// the enterprise's year; an override and a tier time cannot lower are left alone.
    #[tokio::test]
    async fn cr2_time_alone_lowers_tiers_at_the_local_month_and_year_boundaries() {
        let database = TestDatabase::postgres().await.unwrap();
        let settings = kefu_testkit::settings(
            &[&crate::CustomerRegistry],
            &[(crate::SERVICE, &database.url)],
            &[],
        );
        let db = kefu_platform::db::connect(&database.url, &settings.database)
            .await
            .unwrap();
        crate::CustomerRegistry.migrator().apply(&db).await.unwrap();
        let cipher = PiiCipher::from_settings(&settings.security).unwrap();
        let rules = TierRules::default();
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();

        let busy = customer(&db, &cipher, Kind::Personal, Tier::Frequent).await;
        let big = customer(&db, &cipher, Kind::Enterprise, Tier::Large).await;
        let small = customer(&db, &cipher, Kind::Enterprise, Tier::Small).await;
        let kept = customer(&db, &cipher, Kind::Personal, Tier::Frequent).await;
        exec(
            &db,
            Query::update()
                .table("customers")
                .value("tier_overridden", true)
                .and_where(Expr::col("id").eq(kept.as_str()))
                .to_owned(),
        )
        .await;
        exec(
            &db,
            Query::insert()
                .into_table("customer_usage")
                .columns(["customer_id", "month", "uses"])
                .values_panic([busy.as_str().into(), "2026-11".into(), 3.into()])
                .to_owned(),
        )
        .await;
        let spend = |order: &str, fen: i64, at: DateTime<Utc>| {
            Query::insert()
                .into_table("customer_spend")
                .columns(["order_id", "customer_id", "amount_fen", "occurred_at"])
                .values_panic([order.into(), big.as_str().into(), fen.into(), at.into()])
                .to_owned()
        };
        let year_old = Utc.with_ymd_and_hms(2025, 12, 31, 15, 59, 0).unwrap();
        exec(&db, spend("o-old", 450_000 * 100, year_old)).await;
        exec(
            &db,
            spend(
                "o-new",
                150_000 * 100,
                Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            ),
        )
        .await;

        // 23:58 on 31 December in Shanghai: November still counts, and the old order is a
        // minute short of a year old.
        let before_midnight = Utc.with_ymd_and_hms(2026, 12, 31, 15, 58, 0).unwrap();
        let (looked_at, changed) = retier_due(&db, &cipher, &rules, offset, before_midnight)
            .await
            .unwrap();
        assert_eq!(
            (looked_at, changed),
            (2, 0),
            "the frequent and the large one, unchanged"
        );
        assert_eq!(tier_of(&db, &cipher, &big).await, Tier::Large);

        // Midnight: January and December have no uses, and the old order left the year.
        let midnight = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap();
        let (_, changed) = retier_due(&db, &cipher, &rules, offset, midnight)
            .await
            .unwrap();
        assert_eq!(changed, 2);
        assert_eq!(tier_of(&db, &cipher, &busy).await, Tier::Occasional);
        assert_eq!(tier_of(&db, &cipher, &big).await, Tier::Medium);
        assert_eq!(tier_of(&db, &cipher, &small).await, Tier::Small);
        assert_eq!(
            tier_of(&db, &cipher, &kept).await,
            Tier::Frequent,
            "overridden"
        );

        let history = list(&db, &busy, None, 10).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].1.reason, "0 uses in 2027-01 (frequent from 3)");
        let history = list(&db, &big, None, 10).await.unwrap();
        assert_eq!(history[0].1.reason, "annual logistics spend 150000.00 CNY");
        let events = db
            .query_one(
                &Query::select()
                    .expr_as(Expr::cust("COUNT(*)"), "n")
                    .from("kefu_outbox")
                    .and_where(Expr::col("event_type").eq("kefu.customer.v1.TierChanged"))
                    .to_owned(),
            )
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(events, 2, "each change emitted once");
        let (_, again) = retier_due(&db, &cipher, &rules, offset, midnight)
            .await
            .unwrap();
        assert_eq!(again, 0, "a second pass changes nothing");
    }
}
