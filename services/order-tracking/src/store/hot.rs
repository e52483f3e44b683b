//! OT-12: current order state in the hot store. PostgreSQL commits first; the hot store then
//! takes the new state only if it is newer (compare-and-set on the version). Reads try the
//! hot store and fall back to PostgreSQL, refilling it. Redis calls are short and a breaker
//! stops calling a dead Redis, so an outage makes reads slower, never failed. A write that
//! fails leaves Redis possibly stale for that order: the order is read from PostgreSQL in
//! this process until a background repair has rewritten it from PostgreSQL. Each entry is
//! sealed: whoever reads Redis learns an order's id and version, nothing of its texts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kefu_platform::hot::{HotEntry, HotStore};
use kefu_platform::pii::PiiCipher;
use kefu_proto::order as pb;
use prost::Message as _;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::domain::Order;

/// What a hot entry is bound to: copied to another order's key, it does not open.
fn binding(order_id: &str) -> String {
    format!("hot/orders/{order_id}")
}

/// The hot form of an order: its document, sealed.
fn encode(cipher: &PiiCipher, order: &Order) -> HotEntry {
    let document = pb::Order::from(order).encode_to_vec();
    HotEntry {
        version: order.version,
        value: cipher
            .encrypt_bytes(&binding(&order.id), &document)
            .into_bytes(),
    }
}

/// An order back from its hot form; an entry that does not open or reads as no order (e.g.
/// sealed under a key since removed) is a miss.
fn decode(cipher: &PiiCipher, order_id: &str, entry: &HotEntry) -> Option<Order> {
    let envelope = std::str::from_utf8(&entry.value).ok()?;
    let document = cipher.decrypt_bytes(&binding(order_id), envelope).ok()?;
    Order::try_from(pb::Order::decode(document.as_slice()).ok()?).ok()
}

/// Opens after `threshold` failures in a row and stays open for `open_for`. Opening and
/// closing again are logged once each, so an outage makes two lines, not one per call.
#[derive(Debug)]
pub struct Breaker {
    failures: AtomicU32,
    threshold: u32,
    open_for: Duration,
    open_until: std::sync::Mutex<Option<Instant>>,
    /// Whether the last line said open: half-open retries that fail say nothing new.
    said_open: AtomicBool,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            failures: AtomicU32::new(0),
            threshold,
            open_for,
            open_until: std::sync::Mutex::new(None),
            said_open: AtomicBool::new(false),
        }
    }

    fn open_until(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// False while open: skip the call.
    pub fn allows(&self) -> bool {
        let mut open_until = self.open_until();
        match *open_until {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Half-open: let calls try again; one more failure reopens at once.
                *open_until = None;
                self.failures
                    .store(self.threshold.saturating_sub(1), Ordering::Relaxed);
                true
            }
            None => true,
        }
    }

    pub fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if self.said_open.swap(false, Ordering::Relaxed) {
            tracing::info!("hot state breaker closed: Redis answers again");
            kefu_platform::metrics::hot_state_breaker(false);
        }
    }

    pub fn failed(&self, error: &dyn std::fmt::Display) {
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= self.threshold {
            *self.open_until() = Some(Instant::now() + self.open_for);
            if !self.said_open.swap(true, Ordering::Relaxed) {
                kefu_platform::metrics::hot_state_breaker(true);
                tracing::warn!(
                    error = %error,
                    open_ms = self.open_for.as_millis() as u64,
                    "hot state breaker open: Redis calls failing, orders read from the database"
                );
            }
        }
    }
}

/// The hot side of orders: what GetOrder reads first.
#[derive(Clone, Debug)]
pub struct HotOrders {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn HotStore>,
    cipher: PiiCipher,
    breaker: Breaker,
    ttl: Duration,
    repairs: mpsc::UnboundedSender<String>,
    pending: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    /// Orders whose hot write failed, with the highest version that failed: Redis may hold
    /// an older state of them until a repair writes one at least that new.
    dirty: std::sync::Mutex<HashMap<String, i64>>,
}

impl Inner {
    fn dirty(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Redis now holds `version` of the order or a newer one: if that covers the write that
    /// failed, its hot state may be read again.
    fn clean(&self, order_id: &str, version: i64) {
        let mut dirty = self.dirty();
        if dirty.get(order_id).is_some_and(|failed| *failed <= version) {
            dirty.remove(order_id);
        }
    }
}

/// The braces are a Redis Cluster hash tag: whatever keys an order has share its slot.
pub fn key(order_id: &str) -> String {
    format!("order:{{{order_id}}}")
}

impl HotOrders {
    /// No hot store: every read goes to the database.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    pub fn new(
        store: Arc<dyn HotStore>,
        cipher: PiiCipher,
        breaker: Breaker,
        ttl: Duration,
    ) -> Self {
        let (repairs, pending) = mpsc::unbounded_channel();
        Self {
            inner: Some(Arc::new(Inner {
                store,
                cipher,
                breaker,
                ttl,
                repairs,
                pending: Mutex::new(Some(pending)),
                dirty: std::sync::Mutex::new(HashMap::new()),
            })),
        }
    }

    /// The order's hot state as callers see it (masked, without the store's own columns),
    /// or `None` on a miss, an error or an open breaker.
    pub async fn get(&self, order_id: &str) -> Option<Order> {
        let inner = self.inner.as_ref()?;
        if !inner.breaker.allows() || inner.dirty().contains_key(order_id) {
            kefu_platform::metrics::hot_state_read("skipped");
            return None;
        }
        match inner.store.get(&key(order_id)).await {
            Ok(entry) => {
                inner.breaker.succeeded();
                let order = entry
                    .as_ref()
                    .and_then(|e| decode(&inner.cipher, order_id, e));
                if entry.is_some() && order.is_none() {
                    // Written before entries were sealed, or under a key since removed: the
                    // refill after this miss is no newer, so it would be refused and every
                    // read would miss until the TTL. Drop it; a newer one lost here only
                    // costs a miss.
                    if let Err(e) = inner.store.remove(&key(order_id)).await {
                        tracing::debug!(error = %e, "unreadable hot entry not removed");
                    }
                }
                kefu_platform::metrics::hot_state_read(if order.is_some() {
                    "hit"
                } else {
                    "miss"
                });
                order
            }
            Err(e) => {
                inner.breaker.failed(&e);
                kefu_platform::metrics::hot_state_read("error");
                tracing::debug!(error = %e, "hot read failed; reading the database");
                None
            }
        }
    }

    /// Offers `order` (already committed, personal data masked) to the hot store; a failed
    /// write is queued for repair from the database.
    pub async fn put(&self, order: &Order) {
        let Some(inner) = &self.inner else { return };
        let entry = encode(&inner.cipher, order);
        let written = if inner.breaker.allows() {
            match inner
                .store
                .put_if_newer(&key(&order.id), &entry, Some(inner.ttl))
                .await
            {
                Ok(_) => {
                    inner.breaker.succeeded();
                    inner.clean(&order.id, order.version);
                    true
                }
                Err(e) => {
                    inner.breaker.failed(&e);
                    tracing::debug!(error = %e, "hot write failed; queued for repair");
                    false
                }
            }
        } else {
            false
        };
        if !written {
            let mut dirty = inner.dirty();
            let failed = dirty.entry(order.id.clone()).or_insert(order.version);
            *failed = (*failed).max(order.version);
            drop(dirty);
            let _ = inner.repairs.send(order.id.clone());
        }
    }

    /// Rewrites orders whose hot write failed, from `load` (the database), until `stop`.
    /// Runs once per process; later calls return at once.
    pub async fn run_repairs<F, Fut>(self, load: F, stop: CancellationToken)
    where
        F: Fn(String) -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Option<Order>> + Send,
    {
        let Some(inner) = self.inner.clone() else {
            return;
        };
        let Some(mut pending) = inner.pending.lock().await.take() else {
            return;
        };
        let mut waiting: HashSet<String> = HashSet::new();
        let mut backoff = Duration::from_millis(100);
        loop {
            // Gather what failed, then wait a moment so an outage is not hammered.
            tokio::select! {
                () = stop.cancelled() => return,
                id = pending.recv() => match id {
                    Some(id) => { waiting.insert(id); }
                    None => return,
                },
                () = tokio::time::sleep(backoff), if !waiting.is_empty() => {}
            }
            while let Ok(id) = pending.try_recv() {
                waiting.insert(id);
            }
            if waiting.is_empty() || !inner.breaker.allows() {
                continue;
            }
            let mut still = HashSet::new();
            for id in waiting.drain() {
                let Some(order) = load(id.clone()).await else {
                    still.insert(id);
                    continue;
                };
                let entry = encode(&inner.cipher, &order);
                match inner
                    .store
                    .put_if_newer(&key(&id), &entry, Some(inner.ttl))
                    .await
                {
                    Ok(_) => {
                        inner.breaker.succeeded();
                        inner.clean(&id, order.version);
                    }
                    Err(e) => {
                        inner.breaker.failed(&e);
                        still.insert(id);
                    }
                }
            }
            backoff = if still.is_empty() {
                Duration::from_millis(100)
            } else {
                (backoff * 2).min(Duration::from_secs(2))
            };
            waiting = still;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_failures_in_a_row_and_half_opens_later() {
        let breaker = Breaker::new(3, Duration::from_millis(50));
        breaker.failed(&"refused");
        breaker.failed(&"refused");
        breaker.succeeded();
        breaker.failed(&"refused");
        breaker.failed(&"refused");
        assert!(breaker.allows(), "a success reset the count");
        breaker.failed(&"refused");
        assert!(!breaker.allows(), "three in a row open it");
        std::thread::sleep(Duration::from_millis(80));
        assert!(breaker.allows(), "half-open after the pause");
        breaker.failed(&"refused");
        assert!(!breaker.allows(), "one failure while half-open reopens it");
    }
}
