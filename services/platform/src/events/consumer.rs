//! Consuming another stream: each event's effect and the consumer's cursor commit in one
//! transaction (a burst the stream already holds shares one), so every effect happens exactly
//! once and a restart resumes where it stopped.
//! One replica per consumer name reads the stream at a time, under a lease it loses with its
//! connection; the others wait to take over.

use std::time::Duration;

use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use kefu_proto::common::Event;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::EventLog;
use crate::config::EventSettings;
use crate::db::Exclusive;
use crate::watch::StateLog;

/// Where a consumer reads events from: a remote service's `StreamEvents`, or a local log.
#[async_trait::async_trait]
pub trait EventSource: Send + Sync {
    /// The producing service, as metrics name it.
    fn name(&self) -> &str;

    /// Events with positions above `after`, in order.
    async fn subscribe(
        &self,
        after: u64,
    ) -> Result<BoxStream<'static, Result<Event, tonic::Status>>, tonic::Status>;
}

#[async_trait::async_trait]
impl EventSource for EventLog {
    fn name(&self) -> &str {
        self.inner.source
    }

    async fn subscribe(
        &self,
        after: u64,
    ) -> Result<BoxStream<'static, Result<Event, tonic::Status>>, tonic::Status> {
        Ok(self
            .stream(after, Default::default(), CancellationToken::new())
            .map(|r| r.map_err(tonic::Status::from))
            .boxed())
    }
}

/// The effect of one event, applied inside the transaction that also moves the cursor.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()>;

    /// Runs once `event`'s effect has committed, for what must not run before it is durable
    /// (e.g. refreshing a cache with what `handle` wrote). Never runs for a rolled-back effect.
    async fn committed(&self, _event: &Event) {}
}

/// A named, durable reader of one event source.
#[derive(Clone, Debug)]
pub struct Consumer {
    name: String,
    db: DatabaseConnection,
    takeover: Duration,
    /// How long its source keeps events, when it prunes them.
    retention: Option<Duration>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Why a consuming run ended.
enum Ended {
    Stopped,
    LeaseLost,
}

impl Consumer {
    /// `name` keys the cursor and the lease; use one name per (consumer, source) pair.
    pub fn new(name: impl Into<String>, db: DatabaseConnection, settings: &EventSettings) -> Self {
        Self {
            name: name.into(),
            db,
            takeover: Duration::from_millis(settings.consumer_takeover_ms),
            // The suite's services share one setting, so the source's is this one.
            retention: settings.retention().and_then(|r| r.to_std().ok()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The position of the last event whose effect committed; 0 before the first.
    pub async fn cursor(&self) -> Result<u64, DbErr> {
        let select = Query::select()
            .column("position")
            .from("kefu_consumer_cursor")
            .and_where(Expr::col("consumer").eq(self.name.as_str()))
            .to_owned();
        Ok(match self.db.query_one(&select).await? {
            Some(row) => u64::try_from(row.try_get::<i64>("", "position")?).unwrap_or(0),
            None => 0,
        })
    }

    /// Applies one event: the effect and the new cursor commit together or not at all.
    /// Events at or below the stored cursor are skipped (a replay after reconnecting, or an
    /// event another copy of this consumer applied first).
    pub async fn apply(&self, handler: &dyn EventHandler, event: &Event) -> anyhow::Result<bool> {
        Ok(self.apply_all(handler, std::slice::from_ref(event)).await? == 1)
    }

    /// Applies `events` (in position order) in one transaction with the cursor at the last:
    /// all their effects commit or none does. Events at or below the stored cursor are
    /// skipped. Returns how many were applied.
    pub async fn apply_all(
        &self,
        handler: &dyn EventHandler,
        events: &[Event],
    ) -> anyhow::Result<usize> {
        let txn = self.db.begin().await?;
        let stored = lock_cursor(&txn, &self.name).await?;
        let fresh: Vec<&Event> = events.iter().filter(|e| e.position > stored).collect();
        let Some(last) = fresh.last() else {
            txn.rollback().await?;
            return Ok(0);
        };
        for event in &fresh {
            handler
                .handle(&txn, event)
                .instrument(self.consume_span(event))
                .await?;
        }
        let update = Query::update()
            .table("kefu_consumer_cursor")
            .value("position", last.position as i64)
            .value("updated_at", chrono::Utc::now())
            .and_where(Expr::col("consumer").eq(self.name.as_str()))
            .to_owned();
        txn.execute(&update).await?;
        txn.commit().await?;
        for event in &fresh {
            handler.committed(event).await;
        }
        Ok(fresh.len())
    }

    /// OpenTelemetry's messaging conventions: a consumer span per message processed, in the
    /// producer's trace and linked to the producing span.
    fn consume_span(&self, event: &Event) -> tracing::Span {
        let span = tracing::info_span!(
            "event.consume",
            otel.name = %format!("process {}", event.r#type),
            otel.kind = "consumer",
            messaging.system = "kefu",
            messaging.operation.type = "process",
            messaging.consumer.group.name = %self.name,
            messaging.message.id = %event.id,
            consumer = %self.name,
            event.r#type = %event.r#type,
            event.position = event.position,
        );
        crate::telemetry::continue_and_link(&span, &event.traceparent);
        span
    }

    /// Reads `source` from the stored cursor until `stop`: takes the consumer's lease (or
    /// waits for it), reconnects with backoff after any error, and gives the stream up when
    /// the lease may be lost. A failing handler is retried, never skipped: skipping would
    /// lose an effect.
    pub async fn run(
        &self,
        source: &dyn EventSource,
        handler: &dyn EventHandler,
        stop: CancellationToken,
    ) {
        let lock = format!("kefu.consumer.{}", self.name);
        let mut backoff = Duration::from_millis(100);
        let mut watch = Watch {
            stream: StateLog::saying(
                format!("consumer {}", self.name),
                "cannot read its stream",
                "reads its stream again",
            ),
            behind: false,
            retention: self.retention,
            at_risk: false,
        };
        while !stop.is_cancelled() {
            let lease = match Exclusive::try_take(&self.db, &lock).await {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    tracing::debug!(consumer = %self.name, "another replica holds the stream");
                    if sleep_or_stop(&stop, self.takeover).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(consumer = %self.name, error = %e, "consumer lease not taken; retrying");
                    if sleep_or_stop(&stop, self.takeover).await {
                        return;
                    }
                    continue;
                }
            };
            tracing::info!(consumer = %self.name, "consumer holds the stream");
            let ended = self
                .hold(&lease, source, handler, &stop, &mut backoff, &mut watch)
                .await;
            if let Err(e) = lease.release().await {
                tracing::debug!(consumer = %self.name, error = %e, "lease ends with its connection");
            }
            match ended {
                Ended::Stopped => return,
                Ended::LeaseLost => {
                    tracing::warn!(consumer = %self.name, "consumer lease may be lost; taking it again");
                }
            }
        }
    }

    /// Consumes while the lease holds: reconnects after errors, and checks the lease every
    /// takeover interval, so a holder cut off from the database stops within one.
    async fn hold(
        &self,
        lease: &Exclusive,
        source: &dyn EventSource,
        handler: &dyn EventHandler,
        stop: &CancellationToken,
        backoff: &mut Duration,
        watch: &mut Watch,
    ) -> Ended {
        loop {
            let error = {
                let consumed = self.run_once(source, handler, watch);
                tokio::pin!(consumed);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return Ended::Stopped,
                        result = &mut consumed => {
                            break result.err().unwrap_or_else(|| anyhow::anyhow!("event stream ended"));
                        }
                        () = tokio::time::sleep(self.takeover) => {
                            if lease.check().await.is_err() {
                                return Ended::LeaseLost;
                            }
                        }
                    }
                }
            };
            watch.stream.failed(&error);
            tracing::debug!(consumer = %self.name, backoff_ms = backoff.as_millis() as u64, "resuming from the cursor after a pause");
            if sleep_or_stop(stop, *backoff).await {
                return Ended::Stopped;
            }
            *backoff = (*backoff * 2).min(MAX_BACKOFF);
            if lease.check().await.is_err() {
                return Ended::LeaseLost;
            }
        }
    }

    async fn run_once(
        &self,
        source: &dyn EventSource,
        handler: &dyn EventHandler,
        watch: &mut Watch,
    ) -> anyhow::Result<()> {
        let after = self.cursor().await?;
        let mut events = source.subscribe(after).await?;
        let mut limit = 1;
        loop {
            let Ok(next) = tokio::time::timeout(AT_HEAD_AFTER, events.next()).await else {
                // Nothing more for now: the consumer is at the head of its stream.
                watch.stream.worked();
                watch.caught_up(&self.name, source.name());
                continue;
            };
            let Some(event) = next else {
                anyhow::bail!("event stream ended")
            };
            // What the stream already holds joins this event's transaction: a burst costs
            // one commit, not one each. The limit starts at one and doubles with each
            // commit, so a consumer that keeps failing still moves on an event at a time.
            let mut batch = vec![event?];
            let mut after = None;
            while batch.len() < limit {
                match events.next().now_or_never() {
                    Some(Some(Ok(event))) => batch.push(event),
                    Some(Some(Err(status))) => {
                        after = Some(anyhow::Error::from(status));
                        break;
                    }
                    Some(None) => {
                        after = Some(anyhow::anyhow!("event stream ended"));
                        break;
                    }
                    None => break,
                }
            }
            self.apply_all(handler, &batch).await?;
            limit = (limit * 2).min(CONSUME_BATCH);
            watch.stream.worked();
            for event in &batch {
                watch.applied(&self.name, source.name(), event);
            }
            if let Some(error) = after {
                return Err(error);
            }
        }
    }
}

/// Events applied in one transaction at most, when the stream holds that many at once.
const CONSUME_BATCH: usize = 100;

/// How long a quiet stream must be before the consumer counts as at its head.
const AT_HEAD_AFTER: Duration = Duration::from_secs(1);

/// Events older than this when applied mean the consumer is behind.
const BEHIND_AFTER: Duration = Duration::from_secs(60);

/// A consumer's two states worth a log line: whether it can read its stream, and whether it
/// is behind it.
#[derive(Debug)]
struct Watch {
    stream: StateLog,
    behind: bool,
    /// How long the source keeps events, and whether the consumer is half that behind.
    retention: Option<Duration>,
    at_risk: bool,
}

impl Watch {
    fn applied(&mut self, consumer: &str, source: &str, event: &Event) {
        let Some(occurred) = event
            .occurred_at
            .as_ref()
            .and_then(crate::time::from_timestamp)
        else {
            return;
        };
        let lag = (chrono::Utc::now() - occurred).to_std().unwrap_or_default();
        if crate::metrics::exporting() {
            let metrics = crate::metrics::get();
            let labels = [
                opentelemetry::KeyValue::new("messaging.consumer.group.name", consumer.to_owned()),
                opentelemetry::KeyValue::new("kefu.source", source.to_owned()),
            ];
            metrics.consumed.add(1, &labels);
            metrics.consumer_position.record(event.position, &labels);
            metrics.consumer_lag.record(lag.as_secs_f64(), &labels);
        }
        if let Some(retention) = self.retention
            && lag > retention / 2
            && !self.at_risk
        {
            self.at_risk = true;
            tracing::error!(
                consumer,
                lag_s = lag.as_secs(),
                retention_s = retention.as_secs(),
                position = event.position,
                "consumer {consumer} is more than half of events.retention_days behind its \
                 stream: events it has not read will be pruned unless it catches up"
            );
        }
        if lag > BEHIND_AFTER && !self.behind {
            self.behind = true;
            tracing::warn!(
                consumer,
                lag_s = lag.as_secs(),
                position = event.position,
                "consumer {consumer} is behind its stream"
            );
        }
    }

    fn caught_up(&mut self, consumer: &str, source: &str) {
        if crate::metrics::exporting() {
            let labels = [
                opentelemetry::KeyValue::new("messaging.consumer.group.name", consumer.to_owned()),
                opentelemetry::KeyValue::new("kefu.source", source.to_owned()),
            ];
            // At the head of its stream, nothing waits: no lag.
            crate::metrics::get().consumer_lag.record(0.0, &labels);
        }
        self.at_risk = false;
        if self.behind {
            self.behind = false;
            tracing::info!(consumer, "consumer {consumer} caught up with its stream");
        }
    }
}

/// Sleeps for `wait`; true when `stop` came first.
async fn sleep_or_stop(stop: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(wait) => false,
    }
}

/// The stored position, with the cursor row locked until `txn` ends. The row is made first
/// if it is missing: locking a row that does not exist locks nothing, and two copies of a
/// consumer starting together would both apply the first event.
async fn lock_cursor(txn: &DatabaseTransaction, name: &str) -> Result<u64, DbErr> {
    let seed = Query::insert()
        .into_table("kefu_consumer_cursor")
        .columns(["consumer", "position", "updated_at"])
        .values_panic([name.into(), 0i64.into(), chrono::Utc::now().into()])
        .on_conflict(OnConflict::column("consumer").do_nothing().to_owned())
        .to_owned();
    txn.execute(&seed).await?;
    let mut select = Query::select()
        .column("position")
        .from("kefu_consumer_cursor")
        .and_where(Expr::col("consumer").eq(name))
        .to_owned();
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Two copies of one consumer must not both apply the same event.
        select.lock_exclusive();
    }
    Ok(match txn.query_one(&select).await? {
        Some(row) => u64::try_from(row.try_get::<i64>("", "position")?).unwrap_or(0),
        None => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of_age(age: chrono::Duration) -> Event {
        Event {
            position: 7,
            occurred_at: Some(crate::time::to_timestamp(chrono::Utc::now() - age)),
            ..Default::default()
        }
    }

    /// X-1 over time: a consumer half its source's retention behind says so before its
    /// events are pruned, once, and again only after it caught up and fell behind anew.
    #[test]
    fn a_consumer_half_the_retention_behind_is_warned_before_it_loses_events() {
        let mut watch = Watch {
            stream: StateLog::new("consumer test"),
            behind: false,
            retention: Some(Duration::from_secs(2 * 86_400)),
            at_risk: false,
        };
        watch.applied("test", "orders", &event_of_age(chrono::Duration::hours(2)));
        assert!(watch.behind && !watch.at_risk, "behind, not yet at risk");
        watch.applied("test", "orders", &event_of_age(chrono::Duration::hours(25)));
        assert!(watch.at_risk, "more than a day of two behind");
        watch.caught_up("test", "orders");
        assert!(!watch.at_risk && !watch.behind);

        let mut forever = Watch {
            retention: None,
            ..watch
        };
        forever.applied("test", "orders", &event_of_age(chrono::Duration::days(400)));
        assert!(!forever.at_risk, "nothing is pruned, nothing is at risk");
    }
}
