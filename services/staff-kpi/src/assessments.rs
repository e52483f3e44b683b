//! SK-3: periods and assessments. A period is created open; its figures follow the facts as
//! they arrive (each recomputation on request writes a revision when something changed).
//! Closed after its end, it fixes the reward-rule versions in force, and every replica's
//! close pass gives each person active in it one final revision, computed on the facts
//! received before the close, with the outcomes the rules decide, one person per
//! transaction under the period's row lock, until everyone is done.

use std::time::Duration;

use chrono::Utc;
use kefu_platform::paging;
use sea_orm::TransactionTrait as _;
use tokio_util::sync::CancellationToken;

use crate::department::{Department, Page, Requester, Retry, replayed};
use crate::domain::assessment::Assessment;
use crate::domain::kpi::{Kpi, Source};
use crate::domain::period::Period;
use crate::domain::{Cause, PeriodKind, PeriodState};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store::{self, StaffFilter};

/// People assessed per round of the close pass; more wait for the next round, which comes
/// at once.
const BATCH: u64 = 100;

impl Department {
    pub(crate) async fn create_period(
        &self,
        who: &Requester,
        retry: &Retry,
        kind: Option<PeriodKind>,
        label: &str,
    ) -> Result<Period> {
        let kind = kind.ok_or_else(|| invalid("period.kind", "required: MONTHLY or QUARTERLY"))?;
        let period = Period::open(kind, label, self.rules.offset)?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.period(&id).await,
        };
        if !store::assessments::insert_period(&mutation.txn, &period, Utc::now()).await? {
            return Err(Error::AlreadyExists(format!("period {}", period.id)));
        }
        self.commit(mutation, &period.id).await?;
        Ok(period)
    }

    pub(crate) async fn period(&self, id: &str) -> Result<Period> {
        if id.trim().is_empty() {
            return Err(invalid("period_id", "required"));
        }
        store::assessments::period(&self.db, id.trim(), false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("period {id}")))
    }

    pub(crate) async fn periods(
        &self,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Period>> {
        let rows = store::assessments::periods(&self.db, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |p| &p.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// SK-3, SK-4: closes a period after its end and fixes the rule versions that will
    /// decide; the close pass does the rest.
    pub(crate) async fn close_period(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
    ) -> Result<Period> {
        if id.trim().is_empty() {
            return Err(invalid("period_id", "required"));
        }
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.period(&id).await,
        };
        let txn = &mutation.txn;
        let mut period = store::assessments::period(txn, id.trim(), true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("period {id}")))?;
        let people = store::count_active(txn, period.start, period.end).await?;
        period.close(Utc::now(), people)?;
        let rules = store::rewards::enabled(txn).await?;
        store::assessments::fix_rules(txn, &period.id, &rules).await?;
        store::assessments::save_period(txn, &period).await?;
        self.commit(mutation, &period.id).await?;
        self.closing.notify_one();
        Ok(period)
    }

    /// The final revision of one person, with its outcomes, in the caller's transaction;
    /// `None` when they already have one.
    async fn settle_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        staff_id: &str,
        period: &Period,
    ) -> Result<Option<Assessment>> {
        if store::assessments::has_final(txn, staff_id, &period.id).await? {
            return Ok(None);
        }
        let now = Utc::now();
        let (assessment, _) = self
            .assess_in(txn, staff_id, period, Cause::Final, "", now)
            .await?;
        self.decide_outcomes(txn, &assessment, period, now).await?;
        Ok(Some(assessment))
    }

    /// One pass over the closing periods; how many people it assessed.
    pub(crate) async fn close_pass(&self) -> Result<u64> {
        let mut assessed = 0;
        for period in store::assessments::periods_in(&self.db, &[PeriodState::Closing]).await? {
            let mut after: Option<String> = None;
            loop {
                let filter = StaffFilter {
                    active_during: Some((period.start, period.end)),
                    ..Default::default()
                };
                let people = store::list_staff(&self.db, &filter, after.as_deref(), BATCH).await?;
                let Some(last) = people.last().map(|p| p.id.clone()) else {
                    break;
                };
                for person in people {
                    let txn = self.db.begin().await?;
                    // Under the period's lock replicas take people one at a time, and each
                    // sees the others' final revisions.
                    let Some(mut locked) =
                        store::assessments::period(&txn, &period.id, true).await?
                    else {
                        break;
                    };
                    if self.settle_in(&txn, &person.id, &locked).await?.is_some() {
                        locked.assessed_count += 1;
                        store::assessments::save_period(&txn, &locked).await?;
                        txn.commit().await?;
                        self.log.committed();
                        assessed += 1;
                    } else {
                        txn.rollback().await?;
                    }
                }
                after = Some(last);
            }
            let txn = self.db.begin().await?;
            if let Some(mut locked) = store::assessments::period(&txn, &period.id, true).await?
                && locked.state == PeriodState::Closing
            {
                locked.state = PeriodState::Closed;
                locked.staff_count = locked.assessed_count;
                store::assessments::save_period(&txn, &locked).await?;
                events::period_closed(&txn, &locked).await?;
                txn.commit().await?;
                self.log.committed();
                tracing::info!(period = %locked.id, people = locked.assessed_count, "period closed");
            } else {
                txn.rollback().await?;
            }
        }
        Ok(assessed)
    }

    /// Runs the close pass until `stop`, at once when a period starts closing.
    pub(crate) async fn run_close_pass(self, every: Duration, stop: CancellationToken) {
        loop {
            match self.close_pass().await {
                Ok(0) => {}
                Ok(assessed) => tracing::info!(assessed, "close pass: final assessments"),
                Err(e) => tracing::warn!(error = %e, "close pass failed; next pass retries"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.closing.notified() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// A revision of a person's assessment the caller may see; 0 for the latest.
    pub(crate) async fn assessment(
        &self,
        who: &Requester,
        staff_id: &str,
        period_id: &str,
        revision: i32,
    ) -> Result<Assessment> {
        check_ids(staff_id, period_id)?;
        if revision < 0 {
            return Err(invalid("revision", "must not be negative"));
        }
        self.check_sees(who, staff_id, &format!("{staff_id}'s assessment"))
            .await?;
        store::assessments::assessment(&self.db, staff_id, period_id, revision)
            .await?
            .ok_or_else(|| {
                Error::NotFound(match revision {
                    0 => format!("assessment of {staff_id} in {period_id}"),
                    n => format!("revision {n} of {staff_id}'s assessment in {period_id}"),
                })
            })
    }

    /// The latest revision of each person's assessment in a period, of those the caller may
    /// see (and of one team, when asked).
    pub(crate) async fn assessments(
        &self,
        who: &Requester,
        period_id: &str,
        team_id: Option<String>,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Assessment>> {
        if period_id.trim().is_empty() {
            return Err(invalid("period_id", "required"));
        }
        let mut people = self.viewer(&self.db, who).await?.people();
        if let Some(team) = team_id {
            let filter = StaffFilter {
                team_id: Some(team),
                ..Default::default()
            };
            let members: Vec<String> = store::list_staff(&self.db, &filter, None, u64::MAX >> 1)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            people = Some(match people {
                None => members,
                Some(visible) => members
                    .into_iter()
                    .filter(|m| visible.contains(m))
                    .collect(),
            });
        }
        let rows = store::assessments::latest_in(
            &self.db,
            period_id.trim(),
            people.as_deref(),
            after.as_deref(),
            page_size + 1,
        )
        .await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |a| &a.staff_id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// SK-3: computes a person's assessment again from its events.
    pub(crate) async fn recompute(
        &self,
        who: &Requester,
        retry: &Retry,
        staff_id: &str,
        period_id: &str,
    ) -> Result<Assessment> {
        check_ids(staff_id, period_id)?;
        self.check_sees(who, staff_id, &format!("{staff_id}'s assessment"))
            .await?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(_) => return self.assessment(who, staff_id, period_id, 0).await,
        };
        let txn = &mutation.txn;
        let mut period = store::assessments::period(txn, period_id, true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("period {period_id}")))?;
        let person = store::staff(txn, staff_id, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("person {staff_id}")))?;
        if !person.active_during(period.start, period.end) {
            return Err(Error::FailedPrecondition(format!(
                "{staff_id} did not work in period {period_id}"
            )));
        }
        let now = Utc::now();
        let assessment = match period.state {
            PeriodState::Open => {
                self.assess_in(txn, staff_id, &period, Cause::Provisional, "", now)
                    .await?
                    .0
            }
            PeriodState::Closing | PeriodState::Closed => {
                match self.settle_in(txn, staff_id, &period).await? {
                    Some(settled) => {
                        period.assessed_count += 1;
                        store::assessments::save_period(txn, &period).await?;
                        settled
                    }
                    None => {
                        let (again, new) = self
                            .assess_in(txn, staff_id, &period, Cause::Recomputed, "", now)
                            .await?;
                        if new {
                            tracing::error!(
                                staff_id,
                                period_id,
                                "a closed period's recomputation differed from its latest revision"
                            );
                        }
                        again
                    }
                }
            }
        };
        self.commit(mutation, &format!("{}", assessment.revision))
            .await?;
        Ok(assessment)
    }

    /// SK-3: the events behind a revision's figures; 0 for the latest revision.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn sources(
        &self,
        who: &Requester,
        staff_id: &str,
        period_id: &str,
        revision: i32,
        kpi: Option<Kpi>,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Source>> {
        let assessment = self.assessment(who, staff_id, period_id, revision).await?;
        let rows = store::assessments::sources(
            &self.db,
            staff_id,
            period_id,
            assessment.revision,
            kpi,
            after.as_deref(),
            page_size + 1,
        )
        .await?;
        let keys: Vec<String> = rows
            .iter()
            .map(|s| format!("{}/{}", s.kpi, s.event_id))
            .collect();
        let (items, next_page_token) = if rows.len() as u64 > page_size {
            let last = keys
                .get(usize::try_from(page_size).unwrap_or(0).saturating_sub(1))
                .cloned()
                .unwrap_or_default();
            let mut rows = rows;
            rows.truncate(usize::try_from(page_size).unwrap_or(0));
            (rows, paging::encode_token(&last))
        } else {
            (rows, String::new())
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

fn check_ids(staff_id: &str, period_id: &str) -> Result<()> {
    let mut v = kefu_platform::error::Violations::new();
    v.check(!staff_id.trim().is_empty(), "staff_id", "required");
    v.check(!period_id.trim().is_empty(), "period_id", "required");
    Ok(v.finish()?)
}
