//! The event log: outbox rows written in the caller's transaction, a relay that gives committed
//! rows their stream positions in commit order, the `StreamEvents` reader (catch-up, then live
//! tail) and the handler body every service serves it with, and consumers of another
//! service's stream that store their cursor with their effect.

mod consumer;
mod outbox;
mod relay;
mod remote;
mod serve;
mod stream;
mod wakeups;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};

pub use consumer::{Consumer, EventHandler, EventSource};
pub use outbox::append;
pub use remote::RemoteEvents;
pub use serve::EventResponses;
pub use stream::StreamError;

use crate::config::EventSettings;
use crate::redis::RedisHandle;

/// Relay batches kept for live readers; a reader further behind reads the database.
const TAIL_BATCHES: usize = 256;

/// One service's event log. Cheap to clone; clones share the relay's wake-ups.
#[derive(Clone, Debug)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: DatabaseConnection,
    source: &'static str,
    /// Writers poke the relay after their commit, so events move without waiting for a poll.
    committed: Notify,
    /// The highest position given out, so live readers wake without asking the database.
    head: watch::Sender<u64>,
    /// Each batch the relay positions, read once and shared by every live reader in this
    /// process, so a hundred subscribers cost one query per batch, not a hundred.
    tail: tokio::sync::broadcast::Sender<std::sync::Arc<Vec<kefu_proto::common::Event>>>,
    relay_interval: Duration,
    stream_poll: Duration,
    stream_batch: u64,
    /// Whether housekeeping prunes old events, so that a reader may find its place gone.
    pruned: bool,
    /// Carries wake-ups between replicas; optional, since readers also poll.
    redis: Option<RedisHandle>,
}

impl EventLog {
    /// `source` names the producing service in every event ("customer-registry").
    pub fn new(
        db: DatabaseConnection,
        source: &'static str,
        settings: &EventSettings,
        redis: Option<RedisHandle>,
    ) -> Self {
        let (head, _) = watch::channel(0);
        let (tail, _) = tokio::sync::broadcast::channel(TAIL_BATCHES);
        Self {
            inner: Arc::new(Inner {
                db,
                source,
                committed: Notify::new(),
                head,
                tail,
                relay_interval: Duration::from_millis(settings.relay_interval_ms),
                stream_poll: Duration::from_millis(settings.stream_poll_ms),
                stream_batch: settings.stream_batch,
                pruned: settings.retention().is_some(),
                redis,
            }),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn source(&self) -> &'static str {
        self.inner.source
    }

    /// Tells the relay that a transaction with outbox rows committed. Forgetting to call it
    /// only delays the events by up to one relay interval.
    pub fn committed(&self) {
        self.inner.committed.notify_one();
    }
}
