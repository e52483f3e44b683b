//! SV-3: when customers are asked. Campaigns invite every active customer of their tiers once
//! in their interval; triggers schedule a survey a while after another service's event, once
//! per event. Every replica runs the schedule pass; firings and campaign targets are taken
//! under row locks and unique keys, and every survey goes through the one path with its quiet
//! period, so nothing is sent twice.

use std::time::Duration;

use chrono::Utc;
use kefu_platform::idempotency::{self, Begun};
use kefu_platform::paging;
use sea_orm::TransactionTrait as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::domain::campaign::{Campaign, CampaignDraft, Trigger};
use crate::domain::{Method, TriggerKind};
use crate::error::{Error, Result, invalid};
use crate::store::{self, Scheduled, customers};
use crate::surveys::{CustomerFacts, InviteRequest, Outcome, Page, Requester, Retry, Surveys};

/// Firings and campaign targets taken per round of the pass.
const BATCH: u64 = 200;

impl Surveys {
    pub(crate) async fn create_campaign(
        &self,
        who: &Requester,
        retry: &Retry,
        draft: CampaignDraft,
    ) -> Result<Campaign> {
        draft.check()?;
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.campaign(&String::from_utf8_lossy(&id)).await,
        };
        let questionnaire =
            store::questionnaire(&mutation.txn, draft.questionnaire_id.trim(), false)
                .await?
                .ok_or_else(|| invalid("campaign.questionnaire_id", "no such questionnaire"))?;
        let (Some(method), Some((starts_at, ends_at))) = (draft.method, draft.interval) else {
            return Err(invalid("campaign", "incomplete"));
        };
        let campaign = Campaign {
            id: uuid::Uuid::now_v7().to_string(),
            title: draft.title.trim().to_owned(),
            questionnaire_id: questionnaire.id.clone(),
            questionnaire_version: questionnaire.latest()?,
            method,
            tiers: draft.tiers,
            starts_at,
            ends_at,
            cancelled: false,
            invited: 0,
            skipped: 0,
            version: 1,
        };
        store::insert_campaign(&mutation.txn, &campaign, Utc::now()).await?;
        mutation.commit(campaign.id.as_bytes()).await?;
        Ok(campaign)
    }

    pub(crate) async fn campaign(&self, id: &str) -> Result<Campaign> {
        if id.trim().is_empty() {
            return Err(invalid("campaign_id", "required"));
        }
        store::campaign(&self.db, id.trim(), false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("campaign {id}")))
    }

    pub(crate) async fn campaigns(
        &self,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Campaign>> {
        let rows = store::campaigns(&self.db, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |c| &c.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn cancel_campaign(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
    ) -> Result<Campaign> {
        if id.trim().is_empty() {
            return Err(invalid("campaign_id", "required"));
        }
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(_) => return self.campaign(id).await,
        };
        let mut campaign = store::campaign(&mutation.txn, id.trim(), true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
        let now = Utc::now();
        campaign.cancel(expected_version, now)?;
        store::update_campaign(&mutation.txn, &campaign, now).await?;
        mutation.commit(campaign.id.as_bytes()).await?;
        Ok(campaign)
    }

    pub(crate) async fn create_trigger(
        &self,
        who: &Requester,
        retry: &Retry,
        kind: Option<TriggerKind>,
        questionnaire_id: &str,
        method: Option<Method>,
        delay_s: i64,
    ) -> Result<Trigger> {
        let mut v = kefu_platform::error::Violations::new();
        v.check(
            kind.is_some(),
            "trigger.kind",
            "required: after_delivery or after_complaint_closed",
        );
        v.check(
            !questionnaire_id.trim().is_empty(),
            "trigger.questionnaire_id",
            "required",
        );
        v.check(
            method.is_some(),
            "trigger.method",
            "required: phone, online, questionnaire or visit",
        );
        v.check(delay_s >= 0, "trigger.delay", "must not be negative");
        v.finish()?;
        let (Some(kind), Some(method)) = (kind, method) else {
            return Err(invalid("trigger", "incomplete"));
        };
        let questionnaire = store::questionnaire(&self.db, questionnaire_id.trim(), false)
            .await?
            .ok_or_else(|| invalid("trigger.questionnaire_id", "no such questionnaire"))?;
        questionnaire.latest()?;
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.trigger(&String::from_utf8_lossy(&id)).await,
        };
        let trigger = Trigger {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            questionnaire_id: questionnaire.id,
            method,
            enabled: true,
            delay_s,
            version: 1,
        };
        store::insert_trigger(&mutation.txn, &trigger, Utc::now()).await?;
        mutation.commit(trigger.id.as_bytes()).await?;
        Ok(trigger)
    }

    pub(crate) async fn trigger(&self, id: &str) -> Result<Trigger> {
        if id.trim().is_empty() {
            return Err(invalid("trigger_id", "required"));
        }
        store::trigger(&self.db, id.trim(), false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("trigger {id}")))
    }

    pub(crate) async fn triggers(
        &self,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Trigger>> {
        let rows = store::triggers(&self.db, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |t| &t.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn set_trigger_enabled(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        enabled: bool,
    ) -> Result<Trigger> {
        if id.trim().is_empty() {
            return Err(invalid("trigger_id", "required"));
        }
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(_) => return self.trigger(id).await,
        };
        let mut trigger = store::trigger(&mutation.txn, id.trim(), true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("trigger {id}")))?;
        if trigger.set_enabled(expected_version, enabled)? {
            store::update_trigger(&mutation.txn, &trigger).await?;
        }
        mutation.commit(trigger.id.as_bytes()).await?;
        Ok(trigger)
    }

    /// SV-3: schedules each enabled trigger of `kind` for one source event, in the consumer's
    /// transaction; the same event again schedules nothing.
    pub(crate) async fn schedule_triggers<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        kind: TriggerKind,
        event: &Scheduled,
    ) -> Result<()> {
        for trigger in store::enabled_triggers(txn, kind).await? {
            let scheduled = Scheduled {
                trigger_id: trigger.id.clone(),
                due_at: event.due_at + trigger.delay(),
                ..event.clone()
            };
            store::schedule(txn, &scheduled).await?;
        }
        Ok(())
    }

    /// One round of the pass: firings due, then running campaigns. How many surveys it
    /// decided (sent or skipped).
    pub(crate) async fn send_due(&self) -> Result<usize> {
        let mut decided = 0;
        for firing in store::due(&self.db, Utc::now(), BATCH).await? {
            // The survey sent continues the trace of what scheduled it.
            let span = tracing::info_span!(
                "survey.fire",
                otel.name = "send scheduled survey",
                trigger_id = %firing.trigger_id,
            );
            kefu_platform::telemetry::continue_and_link(&span, &firing.traceparent);
            decided += usize::from(self.fire(&firing).instrument(span).await?);
        }
        for id in store::running_campaigns(&self.db, Utc::now()).await? {
            decided += self.reach(&id).await?;
        }
        Ok(decided)
    }

    /// Sends (or skips) one scheduled survey, unless another replica has.
    async fn fire(&self, firing: &Scheduled) -> Result<bool> {
        let trigger = store::trigger(&self.db, &firing.trigger_id, false).await?;
        let questionnaire = match &trigger {
            Some(t) => store::questionnaire(&self.db, &t.questionnaire_id, false).await?,
            None => None,
        };
        let customer = self.customer_facts(&firing.customer_id).await;
        let txn = self.db.begin().await?;
        let Some(firing) =
            store::take_scheduled(&txn, &firing.trigger_id, &firing.source_key).await?
        else {
            txn.rollback().await?;
            return Ok(false);
        };
        let ready = match (&trigger, &questionnaire, customer) {
            (Some(t), Some(q), Ok(c)) if t.enabled && q.published_version > 0 && c.active => {
                Some((t, q.published_version, c))
            }
            // Customer-registry could not be asked: the firing waits for the next pass.
            (_, _, Err(Error::Unavailable { .. })) => {
                txn.rollback().await?;
                return Ok(false);
            }
            _ => None,
        };
        if let Some((trigger, version, customer)) = ready {
            let request = InviteRequest {
                customer_id: firing.customer_id.clone(),
                questionnaire_id: trigger.questionnaire_id.clone(),
                questionnaire_version: version,
                method: Some(trigger.method),
                trigger_id: trigger.id.clone(),
                order_id: firing.order_id.clone(),
                complaint_id: firing.complaint_id.clone(),
                agent_id: firing.agent_id.clone(),
                ..InviteRequest::default()
            };
            self.invite_in(&txn, &request, &customer, Utc::now())
                .await?;
        } else {
            tracing::info!(
                trigger_id = %firing.trigger_id,
                "scheduled survey dropped: trigger disabled, questionnaire unpublished or customer inactive"
            );
        }
        store::mark_done(&txn, &firing.trigger_id, &firing.source_key).await?;
        txn.commit().await?;
        self.log.committed();
        Ok(true)
    }

    /// Invites (or skips) a batch of the campaign's customers not reached yet.
    async fn reach(&self, campaign_id: &str) -> Result<usize> {
        let Some(campaign) = store::campaign(&self.db, campaign_id, false).await? else {
            return Ok(0);
        };
        let mut decided = 0;
        for customer_id in
            customers::untargeted(&self.db, campaign_id, &campaign.tiers, BATCH).await?
        {
            let Some(known) = customers::get(&self.db, &customer_id, false).await? else {
                continue;
            };
            let facts = CustomerFacts {
                tier: known.tier,
                team_id: known.team_id,
                active: known.active,
            };
            let txn = self.db.begin().await?;
            if !store::target(&txn, campaign_id, &customer_id).await? {
                txn.rollback().await?;
                continue;
            }
            let request = InviteRequest {
                customer_id,
                questionnaire_id: campaign.questionnaire_id.clone(),
                questionnaire_version: campaign.questionnaire_version,
                method: Some(campaign.method),
                campaign_id: campaign.id.clone(),
                ..InviteRequest::default()
            };
            let outcome = self.invite_in(&txn, &request, &facts, Utc::now()).await?;
            store::count_campaign(&txn, campaign_id, matches!(outcome, Outcome::Invited(_)))
                .await?;
            txn.commit().await?;
            self.log.committed();
            decided += 1;
        }
        Ok(decided)
    }

    /// Runs the pass until `stop`.
    pub(crate) async fn run_schedule(self, every: Duration, stop: CancellationToken) {
        loop {
            match self.send_due().await {
                Ok(0) => {}
                Ok(decided) => tracing::info!(decided, "scheduled surveys sent or skipped"),
                Err(e) => tracing::warn!(error = %e, "schedule pass failed; next pass retries"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
