//! The hot store: versioned values that make reads fast and are never the truth. A write
//! lands only if it is newer than what is stored, so a slow writer never puts an older
//! state over a newer one. Redis in production; an in-process map stands in for a single
//! process (`kefu serve --service all` without Redis), as Loki's in-memory ring does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use tracing::Instrument as _;

use crate::redis::RedisHandle;

/// A value and the version of the truth it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotEntry {
    pub version: i64,
    pub value: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum HotError {
    #[error("hot store unavailable: {0}")]
    Unavailable(String),
}

impl From<redis::RedisError> for HotError {
    fn from(e: redis::RedisError) -> Self {
        HotError::Unavailable(e.to_string())
    }
}

#[async_trait::async_trait]
pub trait HotStore: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> Result<Option<HotEntry>, HotError>;
    /// Stores `entry` unless the stored version is the same or newer; true when it wrote.
    async fn put_if_newer(
        &self,
        key: &str,
        entry: &HotEntry,
        ttl: Option<Duration>,
    ) -> Result<bool, HotError>;
    async fn remove(&self, key: &str) -> Result<(), HotError>;
}

/// One process's hot store.
#[derive(Debug, Default)]
pub struct InProcessHotStore {
    entries: Mutex<HashMap<String, (HotEntry, Option<Instant>)>>,
}

impl InProcessHotStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (HotEntry, Option<Instant>)>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl HotStore for InProcessHotStore {
    async fn get(&self, key: &str) -> Result<Option<HotEntry>, HotError> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((_, Some(expiry))) if *expiry <= Instant::now() => {
                entries.remove(key);
                Ok(None)
            }
            Some((entry, _)) => Ok(Some(entry.clone())),
            None => Ok(None),
        }
    }

    async fn put_if_newer(
        &self,
        key: &str,
        entry: &HotEntry,
        ttl: Option<Duration>,
    ) -> Result<bool, HotError> {
        let mut entries = self.lock();
        let now = Instant::now();
        let current = entries
            .get(key)
            .filter(|(_, expiry)| expiry.is_none_or(|e| e > now))
            .map(|(e, _)| e.version);
        if current.is_some_and(|v| v >= entry.version) {
            return Ok(false);
        }
        entries.insert(key.to_owned(), (entry.clone(), ttl.map(|t| now + t)));
        Ok(true)
    }

    async fn remove(&self, key: &str) -> Result<(), HotError> {
        self.lock().remove(key);
        Ok(())
    }
}

/// Compare-and-set in one round trip: the version check and the write are atomic in Redis.
const PUT_IF_NEWER: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('PERSIST', KEYS[1])
end
return 1
";

/// Hot store in Redis hashes (`v` version, `d` value) under a key prefix.
#[derive(Debug, Clone)]
pub struct RedisHotStore {
    redis: RedisHandle,
    prefix: String,
    script: redis::Script,
}

impl RedisHotStore {
    /// `prefix` namespaces the keys, e.g. "kefu:order:".
    pub fn new(redis: RedisHandle, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            script: redis::Script::new(PUT_IF_NEWER),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// A client span for one Redis command, at debug level (target `kefu::redis`): free when
/// off, and on with `telemetry.log_filter = "info,kefu::redis=debug"`.
fn redis_span(command: &'static str) -> tracing::Span {
    tracing::debug_span!(
        target: "kefu::redis",
        "redis",
        otel.name = command,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = command,
    )
}

#[async_trait::async_trait]
impl HotStore for RedisHotStore {
    async fn get(&self, key: &str) -> Result<Option<HotEntry>, HotError> {
        let mut connection = self.redis.connection();
        let (version, value): (Option<i64>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.key(key))
            .arg("v")
            .arg("d")
            .query_async(&mut connection)
            .instrument(redis_span("HMGET"))
            .await?;
        Ok(match (version, value) {
            (Some(version), Some(value)) => Some(HotEntry { version, value }),
            _ => None,
        })
    }

    async fn put_if_newer(
        &self,
        key: &str,
        entry: &HotEntry,
        ttl: Option<Duration>,
    ) -> Result<bool, HotError> {
        let mut connection = self.redis.connection();
        let ttl_ms = ttl.map_or(0, |t| t.as_millis().max(1) as u64);
        let key = self.key(key);
        let wrote: i64 = self
            .script
            .key(&key)
            .arg(entry.version)
            .arg(entry.value.as_slice())
            .arg(ttl_ms)
            .invoke_async(&mut connection)
            .instrument(redis_span("EVALSHA"))
            .await?;
        // A state only the master holds is lost if the master fails now, and the replica
        // promoted in its place would serve an older one: such a write has failed. That
        // holds for a refused write too, since what refused it may not be replicated yet.
        if !self
            .redis
            .replicated(&mut connection, &key)
            .instrument(redis_span("WAIT"))
            .await?
        {
            return Err(HotError::Unavailable(
                "the write has not reached a replica".into(),
            ));
        }
        Ok(wrote == 1)
    }

    async fn remove(&self, key: &str) -> Result<(), HotError> {
        let mut connection = self.redis.connection();
        let _: i64 = connection
            .del(self.key(key))
            .instrument(redis_span("DEL"))
            .await?;
        Ok(())
    }
}
