//! SK-4: reward and penalty rules, versioned, and the outcomes they decide when a period's
//! final assessments are made (or remade by an upheld dispute), by the rule versions the
//! period fixed when it closed.

use chrono::{DateTime, Utc};
use kefu_platform::paging;
use sea_orm::ConnectionTrait;

use crate::department::{Department, Page, Requester, Retry, replayed};
use crate::domain::assessment::Assessment;
use crate::domain::period::Period;
use crate::domain::rules::{self, Outcome, RewardRule, RuleDraft};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store::{self, rewards::OutcomeFilter};

impl Department {
    pub(crate) async fn create_rule(
        &self,
        who: &Requester,
        retry: &Retry,
        draft: &RuleDraft,
    ) -> Result<RewardRule> {
        let rule = RewardRule::create(uuid::Uuid::now_v7().to_string(), draft, Utc::now())?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.rule(&id, 0).await,
        };
        store::rewards::save_rule(&mutation.txn, &rule).await?;
        events::rule_changed(&mutation.txn, &rule).await?;
        self.commit(mutation, &rule.id).await?;
        Ok(rule)
    }

    /// A version of a rule; 0 for the latest.
    pub(crate) async fn rule(&self, id: &str, version: i64) -> Result<RewardRule> {
        if id.trim().is_empty() {
            return Err(invalid("rule_id", "required"));
        }
        if version < 0 {
            return Err(invalid("version", "must not be negative"));
        }
        store::rewards::rule(&self.db, id.trim(), version, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("rule {id}")))
    }

    pub(crate) async fn rules(
        &self,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<RewardRule>> {
        let rows = store::rewards::rules(&self.db, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |r| &r.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn update_rule(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        paths: &[String],
        draft: &RuleDraft,
    ) -> Result<RewardRule> {
        if id.trim().is_empty() {
            return Err(invalid("rule.id", "required"));
        }
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.rule(&id, 0).await,
        };
        let txn = &mutation.txn;
        let mut rule = store::rewards::rule(txn, id.trim(), 0, true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("rule {id}")))?;
        rule.change(expected_version, paths, draft, Utc::now())?;
        store::rewards::save_rule(txn, &rule).await?;
        events::rule_changed(txn, &rule).await?;
        self.commit(mutation, &rule.id).await?;
        Ok(rule)
    }

    /// SK-4: the outcomes the period's fixed rule versions decide for a final assessment,
    /// written with their events in the caller's transaction.
    pub(crate) async fn decide_outcomes<C: ConnectionTrait>(
        &self,
        txn: &C,
        assessment: &Assessment,
        period: &Period,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>> {
        let mut fixed = Vec::new();
        for (rule_id, version) in store::assessments::fixed_rules(txn, &period.id).await? {
            if let Some(rule) = store::rewards::rule(txn, &rule_id, version, false).await? {
                fixed.push(rule);
            }
        }
        let outcomes = rules::decide(&fixed, assessment, now, || uuid::Uuid::now_v7().to_string());
        for outcome in &outcomes {
            store::rewards::insert_outcome(txn, outcome).await?;
            events::outcome_decided(txn, outcome).await?;
        }
        Ok(outcomes)
    }

    /// Rewards and penalties of the people the caller may see.
    pub(crate) async fn outcomes(
        &self,
        who: &Requester,
        mut filter: OutcomeFilter,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Outcome>> {
        filter.people = self.viewer(&self.db, who).await?.people();
        let rows =
            store::rewards::outcomes(&self.db, &filter, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |o| &o.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
