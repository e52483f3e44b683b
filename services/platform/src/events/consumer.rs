//! Consuming another stream: each event's effect and the consumer's cursor commit in one
//! transaction, so every effect happens exactly once and a restart resumes where it stopped.

use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use kefu_proto::common::Event;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::EventLog;

/// Where a consumer reads events from: a remote service's `StreamEvents`, or a local log.
#[async_trait::async_trait]
pub trait EventSource: Send + Sync {
    /// Events with positions above `after`, in order.
    async fn subscribe(
        &self,
        after: u64,
    ) -> Result<BoxStream<'static, Result<Event, tonic::Status>>, tonic::Status>;
}

#[async_trait::async_trait]
impl EventSource for EventLog {
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

/// An [`EventSource`] made of a function that opens a stream after a position; how a
/// consumer reads another service's `StreamEvents` through its generated client.
pub struct FnSource<F>(pub F);

impl<F> std::fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSource")
    }
}

#[async_trait::async_trait]
impl<F, Fut> EventSource for FnSource<F>
where
    F: Fn(u64) -> Fut + Send + Sync,
    Fut: std::future::Future<
            Output = Result<BoxStream<'static, Result<Event, tonic::Status>>, tonic::Status>,
        > + Send,
{
    async fn subscribe(
        &self,
        after: u64,
    ) -> Result<BoxStream<'static, Result<Event, tonic::Status>>, tonic::Status> {
        (self.0)(after).await
    }
}

/// The effect of one event, applied inside the transaction that also moves the cursor.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()>;
}

/// A named, durable reader of one event source.
#[derive(Clone, Debug)]
pub struct Consumer {
    name: String,
    db: DatabaseConnection,
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Consumer {
    /// `name` keys the cursor; use one name per (consumer, source) pair.
    pub fn new(name: impl Into<String>, db: DatabaseConnection) -> Self {
        Self {
            name: name.into(),
            db,
        }
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
    /// Events at or below the stored cursor are skipped (a replay after reconnecting).
    pub async fn apply(&self, handler: &dyn EventHandler, event: &Event) -> anyhow::Result<bool> {
        let txn = self.db.begin().await?;
        let stored = read_cursor_for_update(&txn, &self.name).await?;
        if event.position <= stored {
            txn.rollback().await?;
            return Ok(false);
        }
        handler.handle(&txn, event).await?;
        let upsert = Query::insert()
            .into_table("kefu_consumer_cursor")
            .columns(["consumer", "position", "updated_at"])
            .values_panic([
                self.name.as_str().into(),
                (event.position as i64).into(),
                chrono::Utc::now().into(),
            ])
            .on_conflict(
                OnConflict::column("consumer")
                    .update_columns(["position", "updated_at"])
                    .to_owned(),
            )
            .to_owned();
        txn.execute(&upsert).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Reads `source` from the stored cursor until `stop`, reconnecting with backoff after
    /// any error. A failing handler is retried, never skipped: skipping would lose an effect.
    pub async fn run(
        &self,
        source: &dyn EventSource,
        handler: &dyn EventHandler,
        stop: CancellationToken,
    ) {
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            let result = tokio::select! {
                () = stop.cancelled() => return,
                r = self.run_once(source, handler) => r,
            };
            if let Err(e) = result {
                tracing::warn!(consumer = %self.name, error = %e, backoff_ms = backoff.as_millis() as u64, "consumer interrupted; resuming from its cursor");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn run_once(
        &self,
        source: &dyn EventSource,
        handler: &dyn EventHandler,
    ) -> anyhow::Result<()> {
        let after = self.cursor().await?;
        let mut events = source.subscribe(after).await?;
        while let Some(event) = events.next().await {
            let event = event?;
            let span = tracing::info_span!("event.consume", consumer = %self.name, event.r#type = %event.r#type, event.position = event.position);
            crate::telemetry::set_parent_from_traceparent(&span, &event.traceparent);
            self.apply(handler, &event).instrument(span).await?;
        }
        anyhow::bail!("event stream ended")
    }
}

async fn read_cursor_for_update(txn: &DatabaseTransaction, name: &str) -> Result<u64, DbErr> {
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
