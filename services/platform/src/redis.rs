//! The Redis handle, standalone, Cluster or Sentinel: connections whose every command gives
//! up quickly, because Redis only ever makes Kefu faster, never correct.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo as _, Pipeline, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, Value,
};
use tokio::sync::{Mutex, OnceCell};

use crate::config::{RedisMode, RedisSettings};

/// A cheap-to-clone Redis handle with timeouts on connect and on every command.
#[derive(Clone)]
pub struct RedisHandle {
    topology: Topology,
    /// Where subscribers may listen: every node of a cluster hears every PUBLISH.
    listen_at: Arc<Vec<redis::Client>>,
    replica_acks: u32,
    command_timeout: Duration,
}

#[derive(Clone)]
enum Topology {
    Standalone(ConnectionManager),
    Cluster(Arc<Cluster>),
    Sentinel(Arc<Sentinel>),
}

/// A cluster connection made on first use: a cluster that is down at start-up makes Kefu
/// slower, not unable to start.
struct Cluster {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

impl Cluster {
    async fn connection(&self) -> RedisResult<ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

/// The master the sentinels name, asked again whenever its connection fails or it answers
/// as a replica: a connection that quietly reconnected to a demoted master would read stale
/// state from it.
struct Sentinel {
    sentinels: Mutex<SentinelClient>,
    master: Mutex<Option<MultiplexedConnection>>,
    config: redis::AsyncConnectionConfig,
}

impl Sentinel {
    async fn master(&self) -> RedisResult<MultiplexedConnection> {
        let mut master = self.master.lock().await;
        if let Some(connection) = master.as_ref() {
            return Ok(connection.clone());
        }
        let client = self.sentinels.lock().await.async_get_client().await?;
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        // The sentinels' view lags a failover by a moment: make sure it is a master now.
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut connection).await?;
        if !matches!(role.first(), Some(Value::BulkString(r)) if r.as_slice() == b"master") {
            return Err(RedisError::from((
                ErrorKind::Client,
                "the sentinels named a node that is not a master yet",
            )));
        }
        *master = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the master after an error that may mean it failed over.
    async fn forget_after(&self, error: &RedisError) {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || error.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
        {
            *self.master.lock().await = None;
        }
    }
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
        let root_cert = if settings.tls_ca_file.is_empty() {
            None
        } else {
            Some(
                std::fs::read(&settings.tls_ca_file)
                    .with_context(|| format!("redis.tls_ca_file {}", settings.tls_ca_file))?,
            )
        };
        let first = url
            .into_connection_info()
            .with_context(|| format!("redis url {}", settings.url.redacted()))?;
        // The other nodes are reached as the first is: same scheme, user and password.
        let mut nodes = vec![first.clone()];
        for node in &settings.nodes {
            nodes.push(at_node(&first, node).with_context(|| format!("redis.nodes {node}"))?);
        }
        let client_for = |node: &ConnectionInfo| {
            match &root_cert {
                None => redis::Client::open(node.clone()),
                Some(root_cert) => redis::Client::build_with_tls(
                    node.clone(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert.clone()),
                    },
                ),
            }
            .with_context(|| format!("redis url {}", settings.url.redacted()))
        };
        let connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
        let command_timeout = Duration::from_millis(settings.command_timeout_ms);
        let (topology, listen_at) = match settings.mode {
            RedisMode::Standalone => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(command_timeout))
                    .set_number_of_retries(1);
                let client = client_for(&first)?;
                let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .with_context(|| format!("redis at {}", settings.url.redacted()))?;
                (Topology::Standalone(connection), vec![client])
            }
            RedisMode::Cluster => {
                let mut builder = ClusterClient::builder(nodes.clone())
                    .connection_timeout(connect_timeout)
                    .response_timeout(command_timeout)
                    // A failover takes the cluster a second or two; callers fall back to
                    // PostgreSQL meanwhile rather than wait for it.
                    .retries(2)
                    .min_retry_wait(20)
                    .max_retry_wait(200);
                if let Some(root_cert) = &root_cert {
                    builder = builder.certs(redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert.clone()),
                    });
                }
                let client = builder
                    .build()
                    .with_context(|| format!("redis cluster at {}", settings.url.redacted()))?;
                let listen_at = nodes
                    .iter()
                    .map(client_for)
                    .collect::<anyhow::Result<Vec<_>>>()?;
                (
                    Topology::Cluster(Arc::new(Cluster {
                        client,
                        connection: OnceCell::new(),
                    })),
                    listen_at,
                )
            }
            RedisMode::Sentinel => {
                let sentinel = sentinel_client(&nodes, &settings.sentinel_master, root_cert)
                    .with_context(|| format!("redis sentinels at {}", settings.url.redacted()))?;
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(command_timeout));
                (
                    Topology::Sentinel(Arc::new(Sentinel {
                        sentinels: Mutex::new(sentinel),
                        master: Mutex::new(None),
                        config,
                    })),
                    // Subscribers follow the master: see `subscriber`.
                    Vec::new(),
                )
            }
        };
        Ok(Some(Self {
            topology,
            listen_at: Arc::new(listen_at),
            replica_acks: if settings.mode == RedisMode::Standalone {
                0
            } else {
                settings.replica_acks
            },
            command_timeout,
        }))
    }

    /// A connection for one or more commands; clones share the underlying sockets.
    pub fn connection(&self) -> RedisConnection {
        RedisConnection {
            topology: self.topology.clone(),
        }
    }

    /// A client to subscribe with, the `attempt`-th choice: with a cluster each attempt
    /// tries the next node, since a PUBLISH reaches every node; with sentinels, the master
    /// they name now.
    pub async fn subscriber(&self, attempt: usize) -> RedisResult<redis::Client> {
        match &self.topology {
            Topology::Sentinel(sentinel) => {
                sentinel.sentinels.lock().await.async_get_client().await
            }
            _ => Ok(self.listen_at[attempt % self.listen_at.len()].clone()),
        }
    }

    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Whether the writes made so far on `connection` to `key` reached the replicas a
    /// failover could promote (`redis.replica_acks`); always true for a standalone Redis.
    pub async fn replicated(
        &self,
        connection: &mut RedisConnection,
        key: &str,
    ) -> RedisResult<bool> {
        if self.replica_acks == 0 {
            return Ok(true);
        }
        // Half the command's time: Redis answers how many replicas it reached before the
        // client gives up on the answer.
        let mut wait = redis::cmd("WAIT");
        wait.arg(self.replica_acks)
            .arg((self.command_timeout.as_millis() / 2).max(1) as u64);
        let acked: i64 = match &connection.topology {
            Topology::Cluster(cluster) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::with_key(key.as_bytes(), SlotAddr::Master),
                ));
                let value = cluster
                    .connection()
                    .await?
                    .route_command(wait, route)
                    .await?;
                redis::from_redis_value(value)?
            }
            _ => wait.query_async(connection).await?,
        };
        Ok(acked >= i64::from(self.replica_acks))
    }
}

/// `first` with its host and port replaced by `node`'s (`host:port`).
fn at_node(first: &ConnectionInfo, node: &str) -> anyhow::Result<ConnectionInfo> {
    let (host, port) = node.rsplit_once(':').context("not host:port")?;
    let port: u16 = port.parse().context("not host:port")?;
    let addr = match first.addr() {
        ConnectionAddr::Tcp(..) => ConnectionAddr::Tcp(host.to_owned(), port),
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => anyhow::bail!("only a TCP url has other nodes"),
    };
    Ok(first.clone().set_addr(addr))
}

/// Sentinels at `nodes` (their hosts and ports; the scheme, user and password are the data
/// nodes'), asked for the master called `master`.
fn sentinel_client(
    nodes: &[ConnectionInfo],
    master: &str,
    root_cert: Option<Vec<u8>>,
) -> anyhow::Result<SentinelClient> {
    let first = &nodes[0];
    let addresses = nodes.iter().map(|n| n.addr().clone());
    let redis = first.redis_settings();
    let mut builder = SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)?
        .set_client_to_redis_db(redis.db());
    if let Some(username) = redis.username() {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = redis.password() {
        builder = builder.set_client_to_redis_password(password);
    }
    if let redis::ConnectionAddr::TcpTls { insecure, .. } = first.addr() {
        let mode = if *insecure {
            redis::TlsMode::Insecure
        } else {
            redis::TlsMode::Secure
        };
        builder = builder
            .set_client_to_redis_tls_mode(mode)
            .set_client_to_sentinel_tls_mode(mode);
        if let Some(root_cert) = root_cert {
            let certificates = || redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert.clone()),
            };
            builder = builder
                .set_client_to_redis_certificates(certificates())
                .set_client_to_sentinel_certificates(certificates());
        }
    }
    Ok(builder.build()?)
}

/// One connection to Redis, whatever its topology; commands are sent as to one server and
/// routed by key in a cluster.
#[derive(Clone)]
pub struct RedisConnection {
    topology: Topology,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection").finish_non_exhaustive()
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match &mut self.topology {
                Topology::Standalone(connection) => connection.req_packed_command(cmd).await,
                Topology::Cluster(cluster) => {
                    cluster.connection().await?.req_packed_command(cmd).await
                }
                Topology::Sentinel(sentinel) => {
                    let answer = sentinel.master().await?.req_packed_command(cmd).await;
                    if let Err(e) = &answer {
                        sentinel.forget_after(e).await;
                    }
                    answer
                }
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match &mut self.topology {
                Topology::Standalone(connection) => {
                    connection.req_packed_commands(cmd, offset, count).await
                }
                Topology::Cluster(cluster) => {
                    cluster
                        .connection()
                        .await?
                        .req_packed_commands(cmd, offset, count)
                        .await
                }
                Topology::Sentinel(sentinel) => {
                    let answer = sentinel
                        .master()
                        .await?
                        .req_packed_commands(cmd, offset, count)
                        .await;
                    if let Err(e) = &answer {
                        sentinel.forget_after(e).await;
                    }
                    answer
                }
            }
        })
    }

    fn get_db(&self) -> i64 {
        match &self.topology {
            Topology::Standalone(connection) => connection.get_db(),
            Topology::Cluster(_) => 0,
            Topology::Sentinel(_) => 0,
        }
    }
}
