//! What an operator follows in the logs: each dependency's state, logged once when it changes
//! (the database or Redis lost and back, a consumer cut off from its stream and reading it
//! again, falling behind and catching up), never once per call and never not at all. The
//! database and Redis are probed from the side every second or two, so an outage shows even
//! when no call happens to need them; the database's probe also sets the gate that refuses
//! calls while it is out of reach.

use std::fmt::Display;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use tokio_util::sync::CancellationToken;

use crate::redis::RedisHandle;
use crate::server::DatabaseGate;

/// How often Redis is probed, and how long a probe may take.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// How often the database is probed while it answers: the longest time calls may still
/// reach a pool whose database has just gone (each then waits its acquire timeout).
const DATABASE_PROBE_EVERY: Duration = Duration::from_secs(1);

/// How often while it does not: how soon after it is back calls are served again.
const DATABASE_RETRY_EVERY: Duration = Duration::from_millis(250);

/// A probe unanswered this long counts as an outage: a database that hangs is as gone for
/// callers as one that refuses.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One dependency's last known state, and the lines its changes make.
#[derive(Debug)]
pub struct StateLog {
    what: String,
    down: &'static str,
    up: &'static str,
    /// Since when it has been failing; `None` while it works.
    down_since: Option<Instant>,
}

impl StateLog {
    /// `what` names the dependency in each line, e.g. "database of survey": "... unreachable"
    /// when it fails, "... back" when it works again.
    pub fn new(what: impl Into<String>) -> Self {
        Self::saying(what, "unreachable", "back")
    }

    /// As [`StateLog::new`], with the words for its two states.
    pub fn saying(what: impl Into<String>, down: &'static str, up: &'static str) -> Self {
        Self {
            what: what.into(),
            down,
            up,
            down_since: None,
        }
    }

    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// A failure: a warning the first time, a debug line while it lasts.
    pub fn failed(&mut self, error: &dyn Display) {
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            tracing::warn!(dependency = %self.what, error = %error, "{} {}", self.what, self.down);
        } else {
            tracing::debug!(dependency = %self.what, error = %error, "{} still {}", self.what, self.down);
        }
    }

    /// A success: one line with how long it was gone, if it was.
    pub fn worked(&mut self) {
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                dependency = %self.what,
                down_ms = since.elapsed().as_millis() as u64,
                "{} {}",
                self.what,
                self.up
            );
        }
    }
}

/// Probes `db` until `stop`, logging its changes of state and keeping `gate` down while it
/// fails.
pub async fn database(
    db: DatabaseConnection,
    service: &'static str,
    gate: DatabaseGate,
    stop: CancellationToken,
) {
    let mut state = StateLog::new(format!("database of {service}"));
    loop {
        let probe =
            tokio::time::timeout(DATABASE_PROBE_TIMEOUT, db.execute_unprepared("SELECT 1")).await;
        match probe {
            Ok(Ok(_)) => state.worked(),
            Ok(Err(e)) => state.failed(&e),
            Err(_) => state.failed(&"no answer within the probe timeout"),
        }
        gate.set_down(state.is_down());
        let pause = if state.is_down() {
            DATABASE_RETRY_EVERY
        } else {
            DATABASE_PROBE_EVERY
        };
        if pause_or_stop(&stop, pause).await {
            return;
        }
    }
}

/// Probes Redis until `stop`, logging its changes of state.
pub async fn redis(redis: RedisHandle, stop: CancellationToken) {
    let mut state = StateLog::new("redis");
    loop {
        let mut connection = redis.connection();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(PROBE_EVERY, ping.query_async::<String>(&mut connection)).await {
            Ok(Ok(_)) => state.worked(),
            Ok(Err(e)) => state.failed(&e),
            Err(_) => state.failed(&"no answer within the probe interval"),
        }
        if pause_or_stop(&stop, PROBE_EVERY).await {
            return;
        }
    }
}

/// Waits `pause`; true when `stop` came first.
async fn pause_or_stop(stop: &CancellationToken, pause: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(pause) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_changes_only_at_its_edges() {
        let mut state = StateLog::new("redis");
        state.worked();
        assert!(!state.is_down());
        state.failed(&"refused");
        let since = state.down_since;
        state.failed(&"refused");
        assert_eq!(
            state.down_since, since,
            "a second failure is the same outage"
        );
        state.worked();
        assert!(!state.is_down());
    }
}
