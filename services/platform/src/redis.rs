//! The Redis handle: a reconnecting connection whose every command gives up quickly, because
//! Redis only ever makes Kefu faster, never correct.

use std::time::Duration;

use anyhow::Context as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;

/// A cheap-to-clone Redis connection with timeouts on connect and on every command.
#[derive(Clone)]
pub struct RedisHandle {
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHandle").finish_non_exhaustive()
    }
}

impl RedisHandle {
    /// `None` when no Redis is configured.
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Option<Self>> {
        let url = settings.url.expose();
        if url.is_empty() {
            return Ok(None);
        }
        let client = redis::Client::open(url)
            .with_context(|| format!("redis url {}", settings.url.redacted()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(settings.command_timeout_ms)))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .with_context(|| format!("connecting to redis at {}", settings.url.redacted()))?;
        Ok(Some(Self { connection }))
    }

    /// A connection for one or more commands; clones share the underlying socket.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}
