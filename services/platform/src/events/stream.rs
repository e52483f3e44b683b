//! Reading the log: every positioned event after a cursor, then the live tail.

use std::collections::VecDeque;
use std::time::Duration;

use futures::Stream;
use kefu_proto::common::{Event, EventFilter};
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};
use tokio_util::sync::CancellationToken;

use super::EventLog;

/// Why a stream ended early.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("event log unreadable: {0}")]
    Database(#[from] DbErr),
    #[error("server shutting down")]
    ShuttingDown,
    #[error("events after position {after} up to {} are no longer kept", .oldest - 1)]
    Pruned { after: u64, oldest: u64 },
}

impl From<StreamError> for tonic::Status {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Database(e) => crate::error::unavailable("event log", &e),
            StreamError::ShuttingDown => {
                tonic::Status::unavailable("server shutting down; resume from your last position")
            }
            // Not UNAVAILABLE: retrying cannot bring them back, and a reader must not be
            // moved past events silently.
            StreamError::Pruned { after, oldest } => tonic::Status::out_of_range(format!(
                "events after position {after} up to {} are no longer kept (events.retention_days); \
                 the oldest kept is {oldest}",
                oldest - 1
            )),
        }
    }
}

/// Transient database faults are retried this many times before the stream gives up.
const READ_RETRIES: u32 = 3;

struct Cursor {
    log: EventLog,
    /// Every event at or below this position has been read (and passed on if it matched).
    after: u64,
    filter: EventFilter,
    buffer: VecDeque<Event>,
    head: tokio::sync::watch::Receiver<u64>,
    /// Batches this process's relay positions, shared by every live reader.
    tail: tokio::sync::broadcast::Receiver<std::sync::Arc<Vec<Event>>>,
    stop: CancellationToken,
    /// The next wait ends in a query even if the head did not move: true at first, then
    /// after each quiet poll interval.
    poll_due: bool,
    /// Whether the first read looked for pruned events.
    checked: bool,
    /// The oldest position kept, when the events after the cursor were pruned.
    pruned: Option<u64>,
    finished: bool,
    _counted: Subscriber,
}

/// One open reader of a stream, counted in `kefu.events.subscribers` while it lives.
struct Subscriber(&'static str);

impl Subscriber {
    fn new(source: &'static str) -> Self {
        crate::metrics::get()
            .stream_subscribers
            .add(1, &[opentelemetry::KeyValue::new("kefu.source", source)]);
        Self(source)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        crate::metrics::get()
            .stream_subscribers
            .add(-1, &[opentelemetry::KeyValue::new("kefu.source", self.0)]);
    }
}

impl EventLog {
    /// Every event with a position above `after` that passes `filter`, in position order;
    /// after the catch-up it waits for new events until `stop`, when it ends with
    /// [`StreamError::ShuttingDown`] so the reader resumes elsewhere.
    pub fn stream(
        &self,
        after: u64,
        filter: EventFilter,
        stop: CancellationToken,
    ) -> impl Stream<Item = Result<Event, StreamError>> + Send + 'static {
        let cursor = Cursor {
            log: self.clone(),
            after,
            filter,
            buffer: VecDeque::new(),
            head: self.inner.head.subscribe(),
            tail: self.inner.tail.subscribe(),
            stop,
            poll_due: true,
            checked: false,
            pruned: None,
            finished: false,
            _counted: Subscriber::new(self.inner.source),
        };
        futures::stream::unfold(cursor, |mut c| async move {
            if c.finished {
                return None;
            }
            match c.next().await {
                Ok(event) => Some((Ok(event), c)),
                Err(e) => {
                    c.finished = true;
                    Some((Err(e), c))
                }
            }
        })
    }

    /// The highest position given out so far; a reader that starts here sees only what
    /// commits from now on.
    pub async fn head(&self) -> Result<u64, DbErr> {
        let backend = self.inner.db.get_database_backend();
        let row = self
            .inner
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                "SELECT COALESCE(MAX(position), 0) AS head FROM kefu_outbox",
            ))
            .await?;
        Ok(match row {
            Some(row) => u64::try_from(row.try_get::<i64>("", "head")?).unwrap_or(0),
            None => 0,
        })
    }

    /// The lowest position still in the log; `None` while nothing is positioned.
    pub async fn oldest_kept(&self) -> Result<Option<u64>, DbErr> {
        let backend = self.inner.db.get_database_backend();
        let row = self
            .inner
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                "SELECT MIN(position) AS oldest FROM kefu_outbox",
            ))
            .await?;
        Ok(row
            .and_then(|row| row.try_get::<Option<i64>>("", "oldest").ok().flatten())
            .and_then(|p| u64::try_from(p).ok()))
    }

    /// One page of positioned events after `after`.
    pub async fn read_after(
        &self,
        after: u64,
        filter: &EventFilter,
        limit: u64,
    ) -> Result<Vec<Event>, DbErr> {
        let mut select = Query::select()
            .columns([
                "event_id",
                "event_type",
                "subject",
                "payload",
                "traceparent",
                "occurred_at",
                "position",
            ])
            .from("kefu_outbox")
            .and_where(Expr::col("position").gt(after as i64))
            .order_by("position", Order::Asc)
            .limit(limit)
            .to_owned();
        if !filter.types.is_empty() {
            select.and_where(Expr::col("event_type").is_in(filter.types.iter().cloned()));
        }
        if !filter.subjects.is_empty() {
            select.and_where(Expr::col("subject").is_in(filter.subjects.iter().cloned()));
        }
        let rows = self.inner.db.query_all(&select).await?;
        rows.into_iter()
            .map(|row| {
                let event_type: String = row.try_get("", "event_type")?;
                let occurred_at: chrono::DateTime<chrono::Utc> = row.try_get("", "occurred_at")?;
                let position: i64 = row.try_get("", "position")?;
                Ok(Event {
                    id: row.try_get("", "event_id")?,
                    payload: Some(prost_types::Any {
                        type_url: format!("type.googleapis.com/{event_type}"),
                        value: row.try_get("", "payload")?,
                    }),
                    r#type: event_type,
                    subject: row.try_get("", "subject")?,
                    position: u64::try_from(position).unwrap_or(0),
                    occurred_at: Some(prost_types::Timestamp {
                        seconds: occurred_at.timestamp(),
                        nanos: occurred_at.timestamp_subsec_nanos() as i32,
                    }),
                    traceparent: row.try_get("", "traceparent")?,
                    source: self.inner.source.to_owned(),
                })
            })
            .collect()
    }
}

impl Cursor {
    async fn next(&mut self) -> Result<Event, StreamError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(event);
            }
            if self.stop.is_cancelled() {
                return Err(StreamError::ShuttingDown);
            }
            // A live reader is usually right at the tail: the relay's shared batch continues
            // it without a query.
            if self.take_shared() {
                continue;
            }
            // Everything positioned up to this head is visible to the query below. A reader
            // the shared batches brought to the head has nothing to query for until the head
            // moves past it or a poll is due: querying anyway cost every live reader one
            // read of the log per relay pass.
            let head = *self.head.borrow_and_update();
            if self.after < head || self.poll_due {
                self.poll_due = false;
                let limit = self.log.inner.stream_batch;
                let page = self.read_with_retries(limit).await?;
                if let Some(oldest) = self.pruned {
                    return Err(StreamError::Pruned {
                        after: self.after,
                        oldest,
                    });
                }
                let full = page.len() as u64 >= limit;
                let last = page.last().map(|e| e.position);
                self.buffer.extend(page);
                self.after = match last {
                    Some(last) if full => last,
                    // Not a full page: nothing else up to the head matched the filter.
                    last => Ord::max(Ord::max(last.unwrap_or(self.after), head), self.after),
                };
                if !self.buffer.is_empty() || full {
                    continue;
                }
            }
            let poll = self.log.inner.stream_poll;
            tokio::select! {
                () = self.stop.cancelled() => return Err(StreamError::ShuttingDown),
                batch = self.tail.recv() => {
                    if let Ok(batch) = batch {
                        self.offer(&batch);
                    }
                }
                _ = self.head.changed() => {}
                // Other replicas' relays position rows this process may hear nothing of.
                () = tokio::time::sleep(poll) => self.poll_due = true,
            }
        }
    }

    /// Takes the shared batches waiting for this reader; false when they do not continue
    /// it (it fell behind, or another replica positioned events in between).
    fn take_shared(&mut self) -> bool {
        let mut advanced = false;
        loop {
            match self.tail.try_recv() {
                Ok(batch) => match self.offer(&batch) {
                    Some(true) => advanced = true,
                    Some(false) => {}
                    None => return advanced,
                },
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => return advanced,
                Err(_) => return advanced,
            }
        }
    }

    /// Applies one shared batch: `Some(true)` if it moved the reader on, `Some(false)` if it
    /// was already behind the reader, `None` if a gap lies between the reader and it.
    fn offer(&mut self, batch: &[Event]) -> Option<bool> {
        let (first, last) = (batch.first()?.position, batch.last()?.position);
        if last <= self.after {
            return Some(false);
        }
        if first > self.after + 1 {
            return None;
        }
        let after = self.after;
        self.buffer.extend(
            batch
                .iter()
                .filter(|e| e.position > after && matches(&self.filter, e))
                .cloned(),
        );
        self.after = last;
        Some(true)
    }

    async fn read_with_retries(&mut self, limit: u64) -> Result<Vec<Event>, StreamError> {
        let mut attempt = 0;
        loop {
            match self.read(limit).await {
                Ok(page) => return Ok(page),
                Err(e) if attempt < READ_RETRIES => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "event stream read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A page after the cursor, unless events right after it were pruned. Positions have no
    /// gaps, so an oldest kept position beyond the next one means the reader's events are
    /// gone. Checked at the first read, and at each read of a log that is pruned.
    async fn read(&mut self, limit: u64) -> Result<Vec<Event>, DbErr> {
        if !self.checked || self.log.inner.pruned {
            self.checked = true;
            if let Some(oldest) = self.log.oldest_kept().await?
                && oldest > self.after + 1
            {
                self.pruned = Some(oldest);
                return Ok(Vec::new());
            }
        }
        self.log.read_after(self.after, &self.filter, limit).await
    }
}

/// The filter as `read_after` applies it in SQL.
fn matches(filter: &EventFilter, event: &Event) -> bool {
    (filter.types.is_empty() || filter.types.contains(&event.r#type))
        && (filter.subjects.is_empty() || filter.subjects.contains(&event.subject))
}
