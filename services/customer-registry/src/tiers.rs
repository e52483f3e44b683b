//! CR-2's use cases: a customer's tier computed from the facts order-tracking's events give
//! (and lowered by time alone on schedule), a manager's override and its removal, and the
//! history of every change with its reason. Each change is stored with its TierChanged event.

use chrono::{DateTime, Utc};
use kefu_platform::events;
use kefu_platform::idempotency::Begun;
use kefu_platform::paging;
use sea_orm::{ConnectionTrait, TransactionTrait as _};

use crate::domain::Tier;
use crate::domain::tier::{TierChange, TierOverride, UsageFacts, clearing_reason, tier_for};
use crate::error::{Error, Result};
use crate::events::{self as event, subject};
use crate::registry::{Page, Registry, Requester, Retry, Shown, row_number};
use crate::store;

/// What [`Registry::retier`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retiered {
    Unchanged,
    Changed,
    /// The customer changed under us; nothing was written.
    Conflict,
}

/// Tiers that time alone can take away: a busy month passes, spend leaves the rolling year.
const TIERS_TIME_LOWERS: [Tier; 3] = [Tier::Frequent, Tier::Large, Tier::Medium];

impl Registry {
    /// Stores a change in the history and emits TierChanged, in the caller's transaction.
    pub(crate) async fn record_tier_change<C: ConnectionTrait>(
        &self,
        txn: &C,
        change: &TierChange,
    ) -> Result<()> {
        store::tiers::insert_change(txn, change).await?;
        events::append(
            txn,
            &subject(&change.customer_id),
            &event::tier_changed(change),
        )
        .await?;
        Ok(())
    }

    /// The tier facts of `customer_id` as of `at`.
    pub(crate) async fn usage_facts<C: ConnectionTrait>(
        &self,
        db: &C,
        customer_id: &str,
        at: DateTime<Utc>,
    ) -> Result<UsageFacts> {
        Ok(store::tiers::usage_facts(db, customer_id, at, self.rules.month_offset).await?)
    }

    /// Computes the tier from `facts` and, when it changed and no manager set it, stores it
    /// with its history row and TierChanged event, in `txn`.
    pub(crate) async fn retier<C: ConnectionTrait>(
        &self,
        txn: &C,
        customer_id: &str,
        facts: UsageFacts,
        at: DateTime<Utc>,
    ) -> Result<Retiered> {
        let Some(mut customer) = store::get(txn, &self.cipher, customer_id).await? else {
            // Not a customer of this registry: nothing to tier.
            return Ok(Retiered::Unchanged);
        };
        if customer.tier_overridden {
            return Ok(Retiered::Unchanged);
        }
        let (tier, reason) = tier_for(
            customer.kind,
            customer.fields.government_level,
            facts,
            &self.rules.tiers,
        );
        if tier == customer.tier {
            return Ok(Retiered::Unchanged);
        }
        let old = customer.tier;
        let version = customer.version;
        customer.tier = tier;
        customer.touch(Utc::now());
        if !store::update_if_version(txn, &self.cipher, &customer, version).await? {
            return Ok(Retiered::Conflict);
        }
        let change = TierChange {
            customer_id: customer_id.to_owned(),
            old,
            new: tier,
            reason,
            manual: false,
            actor_id: "system".into(),
            facts,
            at,
        };
        self.record_tier_change(txn, &change).await?;
        tracing::info!(
            customer_id,
            old = old.code(),
            new = tier.code(),
            "tier changed"
        );
        Ok(Retiered::Changed)
    }

    /// CR-2 on schedule: re-tiers every customer in a tier that time alone can lower, as of
    /// `now`, one short transaction each. Returns (customers looked at, tiers changed).
    pub(crate) async fn retier_due(&self, now: DateTime<Utc>) -> Result<(u64, u64)> {
        let (mut seen, mut changed) = (0u64, 0u64);
        let mut after = String::new();
        loop {
            let ids = store::tiers::computed_in(&self.db, &TIERS_TIME_LOWERS, &after, 200).await?;
            let Some(last) = ids.last() else {
                return Ok((seen, changed));
            };
            after = last.clone();
            for id in ids {
                seen += 1;
                let txn = self.db.begin().await?;
                let facts = self.usage_facts(&txn, &id, now).await?;
                match self.retier(&txn, &id, facts, now).await? {
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

    /// CR-2: a manager sets the tier by hand with a reason, or hands it back to the facts;
    /// the change is recorded as manual, with the manager as actor.
    pub(crate) async fn set_tier(
        &self,
        who: &Requester,
        customer_id: &str,
        wanted: TierOverride,
        retry: &Retry,
    ) -> Result<Shown> {
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.replayed(who, &id).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible(txn, who, customer_id).await?;
        current.ensure_active()?;
        let now = Utc::now();
        let facts = self.usage_facts(txn, customer_id, now).await?;
        let (tier, overridden, reason) = match &wanted {
            TierOverride::Set(..) => {
                let (tier, reason) = wanted.check(current.kind)?;
                (tier, true, reason)
            }
            TierOverride::Clear(reason) => {
                let (tier, facts_reason) = tier_for(
                    current.kind,
                    current.fields.government_level,
                    facts,
                    &self.rules.tiers,
                );
                (tier, false, clearing_reason(reason, &facts_reason)?)
            }
        };
        let mut updated = current.clone();
        updated.tier = tier;
        updated.tier_overridden = overridden;
        updated.touch(now);
        self.write_back(txn, &updated, current.version).await?;
        let change = TierChange {
            customer_id: customer_id.to_owned(),
            old: current.tier,
            new: tier,
            reason,
            manual: true,
            actor_id: who.subject.clone(),
            facts,
            at: now,
        };
        self.record_tier_change(txn, &change).await?;
        self.commit(mutation, customer_id).await?;
        self.show_one(who, updated).await
    }

    /// CR-2: the tier history of a customer the caller may see, newest first.
    pub(crate) async fn tier_changes(
        &self,
        who: &Requester,
        customer_id: &str,
        page_size: u64,
        before: Option<String>,
    ) -> Result<Page<TierChange>> {
        self.load_visible(&self.db, who, customer_id).await?;
        let before = before.map(|token| row_number(&token)).transpose()?;
        let rows = store::tiers::list_changes(&self.db, customer_id, before, page_size + 1).await?;
        let keyed: Vec<(String, TierChange)> = rows
            .into_iter()
            .map(|(id, c)| (id.to_string(), c))
            .collect();
        let (page, next_page_token) = paging::finish_page(keyed, page_size, |(id, _)| id.as_str());
        Ok(Page {
            items: page.into_iter().map(|(_, c)| c).collect(),
            next_page_token,
        })
    }
}

/// A conflicting write during a consumer's re-tiering: the consumer retries the event.
pub(crate) fn conflict(customer_id: &str) -> Error {
    Error::Aborted(format!(
        "customer {customer_id} changed during the tier update; retrying"
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use kefu_platform::pii::PiiCipher;
    use kefu_platform::service::Service as _;
    use kefu_testkit::TestDatabase;
    use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
    use sea_orm::{ConnectionTrait as _, DatabaseConnection};

    use super::*;
    use crate::domain::{Customer, CustomerFields, Kind};

    async fn customer(
        db: &DatabaseConnection,
        cipher: &PiiCipher,
        kind: Kind,
        tier: Tier,
    ) -> String {
        let mut customer = Customer::new(
            uuid::Uuid::now_v7().to_string(),
            CustomerFields {
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
            Utc::now(),
        );
        customer.tier = tier;
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
        // The embedded settings: the seed's thresholds, months in UTC+8.
        let registry = Registry {
            db: db.clone(),
            cipher: cipher.clone(),
            log: kefu_platform::events::EventLog::new(
                db.clone(),
                crate::SERVICE,
                &settings.events,
                None,
            ),
            rules: std::sync::Arc::new(
                crate::registry::Rules::from_settings(&crate::settings::embedded()).unwrap(),
            ),
            rotating: Default::default(),
        };

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
        let (looked_at, changed) = registry.retier_due(before_midnight).await.unwrap();
        assert_eq!(
            (looked_at, changed),
            (2, 0),
            "the frequent and the large one, unchanged"
        );
        assert_eq!(tier_of(&db, &cipher, &big).await, Tier::Large);

        // Midnight: January and December have no uses, and the old order left the year.
        let midnight = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap();
        let (_, changed) = registry.retier_due(midnight).await.unwrap();
        assert_eq!(changed, 2);
        assert_eq!(tier_of(&db, &cipher, &busy).await, Tier::Occasional);
        assert_eq!(tier_of(&db, &cipher, &big).await, Tier::Medium);
        assert_eq!(tier_of(&db, &cipher, &small).await, Tier::Small);
        assert_eq!(
            tier_of(&db, &cipher, &kept).await,
            Tier::Frequent,
            "overridden"
        );

        let history = store::tiers::list_changes(&db, &busy, None, 10)
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].1.reason, "0 uses in 2027-01 (frequent from 3)");
        let history = store::tiers::list_changes(&db, &big, None, 10)
            .await
            .unwrap();
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
        let (_, again) = registry.retier_due(midnight).await.unwrap();
        assert_eq!(again, 0, "a second pass changes nothing");
    }
}
