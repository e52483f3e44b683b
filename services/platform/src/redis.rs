//! The Redis handle: a reconnecting connection whose every command gives up quickly, because
//! Redis only ever makes Kefu faster, never correct.

use std::time::Duration;

use anyhow::Context as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;

/// A cheap-to-clone Redis connection with timeouts on connect and on every command.
#[derive(Clone)]
pub struct RedisHandle {
    client: redis::Client,
    connection: ConnectionManager,
    command_timeout: Duration,
}

impl std::fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHandle").finish_non_exhaustive()
    }
}

impl RedisHandle {
    /// `None` when no Redis is configured. Connects on first use, never here: a Redis that is
    /// down at start-up makes Kefu slower, not unable to start. Call inside a Tokio runtime.
    pub fn open(settings: &RedisSettings) -> anyhow::Result<Option<Self>> {
        let url = settings.url.expose();
        if url.is_empty() {
            return Ok(None);
        }
        let client = if settings.tls_ca_file.is_empty() {
            redis::Client::open(url)
        } else {
            let root_cert = std::fs::read(&settings.tls_ca_file)
                .with_context(|| format!("redis.tls_ca_file {}", settings.tls_ca_file))?;
            redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )
        }
        .with_context(|| format!("redis url {}", settings.url.redacted()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(settings.command_timeout_ms)))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .with_context(|| format!("redis at {}", settings.url.redacted()))?;
        Ok(Some(Self {
            client,
            connection,
            command_timeout: Duration::from_millis(settings.command_timeout_ms),
        }))
    }

    /// A connection for one or more commands; clones share the underlying socket.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The client, for connections of their own (pub/sub holds one per subscriber).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }
}
