//! CR-3's use cases: a customer's grade scored from its nature, scale, sales volume and
//! growth, explained factor by factor, recomputed on demand and, with the tiers time lowers
//! (CR-2), on schedule by one replica at a time.

use chrono::{DateTime, Utc};
use kefu_platform::db::Exclusive;
use kefu_platform::events;
use sea_orm::TransactionTrait as _;

use crate::domain::State;
use crate::domain::grade::{Scored, score};
use crate::error::{Error, Result};
use crate::events::{self as event, subject};
use crate::registry::{Registry, Requester};
use crate::store;

/// The lock of the scheduled pass and of recomputing every grade on demand.
pub(crate) const SCHEDULED_PASS: &str = "customer-registry.scheduled-pass";

/// A grade and how it was scored.
#[derive(Clone, Debug)]
pub(crate) struct Explained {
    pub(crate) customer_id: String,
    pub(crate) scored: Scored,
    /// The cut-offs in force: lowest totals for A, B and C.
    pub(crate) cutoffs: Vec<f64>,
    pub(crate) computed_at: DateTime<Utc>,
}

impl Registry {
    /// CR-3: the grade of a customer the caller may see, as it scores now, with each part.
    pub(crate) async fn explain_grade(
        &self,
        who: &Requester,
        customer_id: &str,
    ) -> Result<Explained> {
        let customer = self.load_visible(&self.db, who, customer_id).await?;
        let now = Utc::now();
        let facts = store::tiers::grade_facts(&self.db, &customer.id, now).await?;
        Ok(Explained {
            scored: score(
                customer.kind,
                customer.fields.government_level,
                customer.tier,
                &facts,
                &self.rules.grades,
            ),
            customer_id: customer.id,
            cutoffs: self.rules.grades.cutoffs.clone(),
            computed_at: now,
        })
    }

    /// CR-3 on demand: one customer the caller may see, or (no id) every active customer,
    /// which one replica does at a time. (recomputed, changed).
    pub(crate) async fn recompute_grades(
        &self,
        who: &Requester,
        customer_id: &str,
    ) -> Result<(i64, i64)> {
        if !customer_id.is_empty() {
            self.load_visible(&self.db, who, customer_id).await?;
            return Ok((1, i64::from(self.regrade(customer_id).await?)));
        }
        let Some(exclusive) = Exclusive::try_take(&self.db, SCHEDULED_PASS).await? else {
            return Err(Error::Aborted(
                "grades are being recomputed on another replica; ask again when it ends".into(),
            ));
        };
        let done = self.regrade_all().await;
        exclusive.release().await?;
        done
    }

    /// CR-3: scores one active customer now and stores a changed grade with GradeChanged.
    /// True when the grade changed.
    pub(crate) async fn regrade(&self, customer_id: &str) -> Result<bool> {
        let txn = self.db.begin().await?;
        let Some(mut customer) = store::get(&txn, &self.cipher, customer_id).await? else {
            return Err(Error::NotFound(format!("customer {customer_id}")));
        };
        if customer.state != State::Active {
            return Ok(false);
        }
        let now = Utc::now();
        let facts = store::tiers::grade_facts(&txn, customer_id, now).await?;
        let scored = score(
            customer.kind,
            customer.fields.government_level,
            customer.tier,
            &facts,
            &self.rules.grades,
        );
        if customer.grade == Some(scored.grade) {
            return Ok(false);
        }
        let old = customer.grade;
        let version = customer.version;
        customer.grade = Some(scored.grade);
        customer.touch(now);
        self.write_back(&txn, &customer, version).await?;
        events::append(
            &txn,
            &subject(customer_id),
            &event::grade_changed(customer_id, old, scored.grade, scored.total),
        )
        .await?;
        txn.commit().await?;
        self.log.committed();
        Ok(true)
    }

    /// CR-3: regrades every active customer, a page at a time; (recomputed, changed).
    pub(crate) async fn regrade_all(&self) -> Result<(i64, i64)> {
        let (mut recomputed, mut changed) = (0, 0);
        let mut after = None;
        loop {
            let page = self.all_active_after(after, 200).await?;
            let Some(last) = page.last().map(|c| c.id.clone()) else {
                return Ok((recomputed, changed));
            };
            for customer in &page {
                recomputed += 1;
                changed += i64::from(self.regrade(&customer.id).await?);
            }
            after = Some(last);
        }
    }

    /// CR-2 and CR-3 on schedule, on one replica at a time: the tiers time has lowered, every
    /// grade, then a key rotation whose runner died.
    pub(crate) async fn scheduled_pass(&self) {
        let exclusive = match Exclusive::try_take(&self.db, SCHEDULED_PASS).await {
            Ok(Some(exclusive)) => exclusive,
            Ok(None) => {
                tracing::debug!("another replica runs the scheduled pass");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "scheduled pass skipped; the next one retries");
                return;
            }
        };
        match self.retier_due(Utc::now()).await {
            Ok((looked_at, changed)) => tracing::info!(looked_at, changed, "tiers recomputed"),
            Err(e) => tracing::warn!(error = %e, "recomputing tiers failed; the next pass retries"),
        }
        match self.regrade_all().await {
            Ok((recomputed, changed)) => tracing::info!(recomputed, changed, "grades recomputed"),
            Err(e) => tracing::warn!(error = %e, "regrading failed; the next pass retries"),
        }
        if let Err(e) = exclusive.release().await {
            tracing::warn!(error = %e, "scheduled pass lock not released; it ends with the connection");
        }
        self.resume_rotation().await;
    }
}
