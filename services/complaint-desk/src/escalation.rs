//! CD-3, CD-8: the clock pass and escalation by hand. Every replica looks, every
//! `clock_check_interval_ms`, for open cases with something due (a warning, a breach, a step
//! of the escalation ladder) or with figures computed under another policy, and takes each
//! through the one write path: the row lock and the announcements recorded on the case make
//! each happen once, however many replicas look.

use std::time::Duration;

use chrono::Utc;
use sea_orm::TransactionTrait as _;
use tokio_util::sync::CancellationToken;

use crate::cases::{Desk, Requester, Retry};
use crate::domain::Case;
use crate::error::Result;
use crate::store;

/// Cases taken per round of the pass; more wait for the next round, which comes at once.
const BATCH: u64 = 200;

impl Desk {
    /// CD-8: one step up the ladder, by hand.
    pub(crate) async fn escalate(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        reason: &str,
    ) -> Result<Case> {
        self.change(
            who,
            retry,
            id,
            Some(expected_version),
            |case, policy, now| case.escalate(reason, &who.subject, policy, now),
        )
        .await
    }

    /// One pass over the cases with something due; how many it wrote.
    pub(crate) async fn check_clocks(&self) -> Result<usize> {
        let system = Requester::system("ClockPass");
        let mut written = 0;
        loop {
            let due = store::due_for_check(&self.db, Utc::now(), &self.policy().fingerprint, BATCH)
                .await?;
            let full = due.len() as u64 == BATCH;
            let mut round = 0;
            for id in due {
                let txn = self.db.begin().await?;
                let (_, wrote) = self
                    .apply(&txn, &system, &id, None, |case, policy, now| {
                        Ok(case.tick(policy, now))
                    })
                    .await?;
                if wrote {
                    txn.commit().await?;
                    self.log.committed();
                    round += 1;
                } else {
                    txn.rollback().await?;
                }
            }
            written += round;
            // A full batch in which nothing needed writing would come back the same.
            if !full || round == 0 {
                return Ok(written);
            }
        }
    }

    /// Runs the pass until `stop`.
    pub(crate) async fn run_clock(self, every: Duration, stop: CancellationToken) {
        loop {
            match self.check_clocks().await {
                Ok(0) => {}
                Ok(changed) => {
                    tracing::info!(changed, "clock pass: warnings, breaches or escalations")
                }
                Err(e) => tracing::warn!(error = %e, "clock pass failed; next pass retries"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
