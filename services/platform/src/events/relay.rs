//! The relay: gives committed outbox rows their stream positions, one writer at a time.
//!
//! Readers see only positioned rows, and positions are handed out after commit in the order
//! the relay sees the rows. A transaction that took a low id but committed late is simply
//! positioned later, so `position > cursor` never skips it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;

use super::EventLog;

/// How long the relay lets commits gather after a wake-up; small beside any reader's need.
const RELAY_GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// Rows positioned per relay transaction; keeps each transaction short.
const RELAY_BATCH: u32 = 1000;

impl EventLog {
    /// Positions every committed, unpositioned row; returns the highest position this
    /// process knows of afterwards.
    pub async fn relay_once(&self) -> Result<u64, DbErr> {
        let db = &self.inner.db;
        let backend = db.get_database_backend();
        loop {
            let txn = db.begin().await?;
            if backend == DbBackend::Postgres {
                // One relay at a time across replicas; held until this transaction ends.
                txn.execute_unprepared(&format!(
                    "SELECT pg_advisory_xact_lock({})",
                    crate::db::advisory_key(&format!("kefu.outbox.{}", self.inner.source))
                ))
                .await?;
            }
            // Both PostgreSQL and SQLite (3.35+) take UPDATE ... FROM with a window function
            // and RETURNING, which gives the new head without another query. The waiting rows
            // come from their own partial index (kefu_outbox_waiting), limited before they are
            // numbered, so a pass costs what waits, not what the log holds.
            let positions = txn
                .query_all_raw(sea_orm::Statement::from_string(
                    backend,
                    format!(
                        "UPDATE kefu_outbox SET position = n.pos FROM ( \
                           SELECT id, (SELECT COALESCE(MAX(position), 0) FROM kefu_outbox) \
                                      + ROW_NUMBER() OVER (ORDER BY id) AS pos \
                           FROM (SELECT id FROM kefu_outbox WHERE position IS NULL \
                                 ORDER BY id LIMIT {RELAY_BATCH}) AS waiting \
                         ) AS n WHERE kefu_outbox.id = n.id \
                         RETURNING kefu_outbox.position AS position, kefu_outbox.occurred_at AS occurred_at"
                    ),
                ))
                .await?;
            txn.commit().await?;
            let assigned = positions.len() as u64;
            let Some(head) = positions
                .iter()
                .filter_map(|r| r.try_get::<i64>("", "position").ok())
                .max()
            else {
                return Ok(*self.inner.head.borrow());
            };
            let head = u64::try_from(head).unwrap_or(0);
            if crate::metrics::exporting() {
                let metrics = crate::metrics::get();
                let source = [opentelemetry::KeyValue::new(
                    "kefu.source",
                    self.inner.source,
                )];
                let now = chrono::Utc::now();
                for row in &positions {
                    if let Ok(at) = row.try_get::<chrono::DateTime<chrono::Utc>>("", "occurred_at")
                    {
                        let lag = (now - at).to_std().unwrap_or_default();
                        metrics.relay_lag.record(lag.as_secs_f64(), &source);
                    }
                }
                metrics.stream_head.record(head, &source);
            }
            // Positions of one batch are contiguous: (head - assigned, head].
            if self.inner.tail.receiver_count() > 0 {
                match self
                    .read_after(head.saturating_sub(assigned), &Default::default(), assigned)
                    .await
                {
                    Ok(batch) => {
                        let _ = self.inner.tail.send(std::sync::Arc::new(batch));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "relay could not share its batch; readers will query")
                    }
                }
            }
            self.inner.head.send_if_modified(|current| {
                let moved = head > *current;
                if moved {
                    *current = head;
                }
                moved
            });
            // Other replicas last: this process hears its own announcement too, and were it
            // first, every local reader would wake to an unshared batch and query for it.
            self.announce_head(head).await;
            if assigned < u64::from(RELAY_BATCH) {
                return Ok(head);
            }
        }
    }

    /// Runs the relay until `stop`: after each commit notification, and every relay interval
    /// for rows written by other processes.
    pub async fn run_relay(self, stop: CancellationToken) {
        self.relay_until(&stop).await;
        // What committed before `stop` is placed now rather than by the next replica.
        if let Err(e) = self.relay_once().await {
            tracing::warn!(source = self.inner.source, error = %e, "last relay pass failed; the next replica will place the rest");
        }
    }

    async fn relay_until(&self, stop: &CancellationToken) {
        let mut failures = 0u32;
        let mut state = crate::watch::StateLog::saying(
            format!("event relay of {}", self.inner.source),
            "failing",
            "relaying again",
        );
        loop {
            match self.relay_once().await {
                Ok(_) => {
                    failures = 0;
                    state.worked();
                }
                Err(e) => {
                    failures += 1;
                    crate::metrics::get().relay_failures.add(
                        1,
                        &[opentelemetry::KeyValue::new(
                            "kefu.source",
                            self.inner.source,
                        )],
                    );
                    state.failed(&e);
                }
            }
            let wait = self.inner.relay_interval * (1 << failures.min(5));
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.inner.committed.notified() => {
                    // Under load, commits arrive together: a moment's wait lets one relay
                    // transaction position many of them instead of one each.
                    tokio::time::sleep(RELAY_GATHER).await;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
