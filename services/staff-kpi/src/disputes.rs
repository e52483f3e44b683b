//! SK-3: disputes. A person disputes an event counted in one of their figures of a period;
//! someone who supervises them (never they themselves) decides. Upheld, the event leaves that
//! KPI's figures of that person for good, and every period whose assessment cited it gets a
//! new revision (with the outcomes decided again where the period is closed); the earlier
//! revisions stay readable. Each step is written with its event. A customer's erasure
//! empties what disputes about them say (CR-11).

use std::collections::BTreeSet;

use chrono::Utc;
use kefu_platform::auth::Role;
use kefu_platform::paging;
use sea_orm::DatabaseTransaction;

use crate::department::{Department, Page, Requester, Retry, replayed};
use crate::domain::dispute::Dispute;
use crate::domain::kpi::Kpi;
use crate::domain::{Cause, DisputeState, PeriodState};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store::{self, assessments::DisputeFilter};

/// What a dispute names.
#[derive(Debug, Default)]
pub(crate) struct DisputeRequest {
    pub(crate) staff_id: String,
    pub(crate) period_id: String,
    pub(crate) kpi: Option<Kpi>,
    pub(crate) event_id: String,
    pub(crate) reason: String,
}

impl Department {
    /// SK-3: a person disputes one of their own figures' events.
    pub(crate) async fn create_dispute(
        &self,
        who: &Requester,
        retry: &Retry,
        request: &DisputeRequest,
    ) -> Result<Dispute> {
        let mut v = kefu_platform::error::Violations::new();
        v.check(!request.staff_id.is_empty(), "dispute.staff_id", "required");
        v.check(
            !request.period_id.is_empty(),
            "dispute.period_id",
            "required",
        );
        v.check(request.kpi.is_some(), "dispute.kpi", "required");
        v.check(!request.event_id.is_empty(), "dispute.event_id", "required");
        v.finish()?;
        if request.staff_id != who.subject {
            return Err(Error::PermissionDenied(
                "a figure is disputed by the person it is about".into(),
            ));
        }
        let kpi = request.kpi.unwrap_or(Kpi::Csat);
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.dispute(who, &id).await,
        };
        let txn = &mutation.txn;
        let period = store::assessments::period(txn, &request.period_id, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("period {}", request.period_id)))?;
        let now = Utc::now();
        let computed = self.compute(txn, &request.staff_id, &period, now).await?;
        let cited = computed
            .sources
            .iter()
            .any(|s| s.kpi == kpi && s.event_id == request.event_id);
        if !cited {
            return Err(invalid(
                "dispute.event_id",
                format!("not an event of your {kpi} figure in {}", period.id),
            ));
        }
        if let Some(open) =
            store::assessments::open_dispute_of(txn, &request.staff_id, kpi, &request.event_id)
                .await?
        {
            return Err(Error::AlreadyExists(format!(
                "open dispute {open} of that event"
            )));
        }
        let dispute = Dispute::open(
            uuid::Uuid::now_v7().to_string(),
            &request.staff_id,
            &period.id,
            kpi,
            &request.event_id,
            &request.reason,
            now,
        )?;
        store::assessments::insert_dispute(txn, &self.cipher, &dispute).await?;
        events::dispute_opened(txn, &dispute).await?;
        self.commit(mutation, &dispute.id).await?;
        Ok(dispute)
    }

    pub(crate) async fn dispute(&self, who: &Requester, id: &str) -> Result<Dispute> {
        if id.trim().is_empty() {
            return Err(invalid("dispute_id", "required"));
        }
        let denied = || Error::PermissionDenied(format!("dispute {id} is not yours to see"));
        let viewer = self.viewer(&self.db, who).await?;
        match store::assessments::dispute(&self.db, &self.cipher, id.trim(), false).await? {
            Some(d) if viewer.sees(&d.staff_id) => Ok(d),
            Some(_) => Err(denied()),
            None if viewer.people().is_some() => Err(denied()),
            None => Err(Error::NotFound(format!("dispute {id}"))),
        }
    }

    pub(crate) async fn disputes(
        &self,
        who: &Requester,
        mut filter: DisputeFilter,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Dispute>> {
        filter.people = self.viewer(&self.db, who).await?.people();
        let rows = store::assessments::disputes(
            &self.db,
            &self.cipher,
            &filter,
            after.as_deref(),
            page_size + 1,
        )
        .await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |d| &d.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// SK-3: a supervisor of the person, or a manager, decides.
    pub(crate) async fn decide_dispute(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        decision: Option<DisputeState>,
        note: &str,
    ) -> Result<Dispute> {
        if id.trim().is_empty() {
            return Err(invalid("dispute_id", "required"));
        }
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.dispute(who, &id).await,
        };
        let txn = &mutation.txn;
        let mut dispute = store::assessments::dispute(txn, &self.cipher, id.trim(), true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("dispute {id}")))?;
        let decides = match who.role {
            Role::Manager => true,
            Role::Supervisor => self.viewer(txn, who).await?.sees(&dispute.staff_id),
            Role::Agent | Role::Service => false,
        };
        if !decides {
            return Err(Error::PermissionDenied(format!(
                "{}'s disputes are decided by who supervises them",
                dispute.staff_id
            )));
        }
        let now = Utc::now();
        dispute.decide(expected_version, decision, note, &who.subject, now)?;
        store::assessments::save_dispute(txn, &self.cipher, &dispute).await?;
        events::dispute_decided(txn, &dispute).await?;
        if dispute.state == DisputeState::Upheld {
            let person = &dispute.staff_id;
            store::assessments::exclude(
                txn,
                person,
                dispute.kpi,
                &dispute.event_id,
                &dispute.id,
                now,
            )
            .await?;
            if dispute.kpi == Kpi::Conduct {
                store::conduct::mark_upheld(txn, &self.cipher, &dispute.event_id, &dispute.id)
                    .await?;
            }
            let mut periods: BTreeSet<String> =
                store::assessments::periods_citing(txn, person, dispute.kpi, &dispute.event_id)
                    .await?
                    .into_iter()
                    .collect();
            periods.insert(dispute.period_id.clone());
            for period_id in periods {
                let Some(period) = store::assessments::period(txn, &period_id, true).await? else {
                    continue;
                };
                if store::assessments::assessment(txn, person, &period.id, 0)
                    .await?
                    .is_none()
                {
                    // Never assessed: the exclusion holds when it is.
                    continue;
                }
                let (revision, new) = self
                    .assess_in(txn, person, &period, Cause::DisputeUpheld, &dispute.id, now)
                    .await?;
                let settled = period.state != PeriodState::Open
                    && store::assessments::has_final(txn, person, &period.id).await?;
                if new && settled {
                    for withdrawn in store::rewards::withdraw(txn, person, &period.id).await? {
                        events::outcome_withdrawn(txn, &withdrawn, revision.revision).await?;
                    }
                    self.decide_outcomes(txn, &revision, &period, now).await?;
                }
            }
        }
        self.commit(mutation, &dispute.id).await?;
        Ok(dispute)
    }

    /// CR-11: empties the words of every dispute about an event that concerned the erased
    /// customer, inside `txn` (the consumer's, which also moves its cursor). Decisions and
    /// their effect on the figures stay.
    pub(crate) async fn erase_customer(
        &self,
        txn: &DatabaseTransaction,
        customer_id: &str,
    ) -> Result<()> {
        for id in store::assessments::disputes_about_customer(txn, customer_id).await? {
            let Some(mut dispute) =
                store::assessments::dispute(txn, &self.cipher, &id, true).await?
            else {
                continue;
            };
            if dispute.erase() {
                store::assessments::save_dispute(txn, &self.cipher, &dispute).await?;
            }
        }
        Ok(())
    }
}
