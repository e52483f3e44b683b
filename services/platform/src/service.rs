//! What a service of the suite is to the platform: its name, settings section, migrator,
//! gRPC routes, access policy, background tasks and the services it consumes from. The binary
//! lists the services; everything that starts, migrates or configures them reads that list.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;
use tonic::service::RoutesBuilder;

use crate::auth::{AccessPolicy, TokenKeys};
use crate::client::{ChannelOptions, Credentials, KefuChannel, channel};
use crate::config::{SectionSpec, ServiceConfig, Settings};
use crate::db::Migrator;
use crate::events::{EventLog, RemoteEvents};
use crate::redis::RedisHandle;
use crate::server::Lifecycle;

/// One service of the suite. A crate implements it on a unit struct and the binary lists
/// that struct; nothing else names the service.
#[async_trait::async_trait]
pub trait Service: fmt::Debug + Send + Sync + 'static {
    /// The name `kefu serve --service` and `kefu migrate --service` take.
    fn name(&self) -> &'static str;
    /// The fully-qualified gRPC service, for routing, health and reflection.
    fn grpc_service(&self) -> &'static str;
    /// The prefix of its rules' ids in the rules index (`CR` for CR-1 ...).
    fn rule_prefix(&self) -> &'static str;
    /// Its settings section and defaults.
    fn settings(&self) -> SectionSpec;
    fn migrator(&self) -> Migrator;
    /// Who may call which of its RPCs; an RPC without a rule is refused to everyone.
    fn access_policy(&self) -> AccessPolicy;
    /// The services it calls or whose events it reads.
    fn consumes(&self) -> &'static [&'static str] {
        &[]
    }
    /// The full names of the event messages it writes to its stream.
    fn event_types(&self) -> &'static [&'static str];
    /// Builds the service on its handles, adds its gRPC service to `routes`, and returns the
    /// background work the platform runs beside it.
    async fn start(
        &self,
        context: ServiceContext,
        routes: &mut RoutesBuilder,
    ) -> anyhow::Result<Started>;
}

/// What the settings of `services` are read with.
pub fn section_specs(services: &[&dyn Service]) -> Vec<SectionSpec> {
    services.iter().map(|s| s.settings()).collect()
}

/// A piece of background work of a service: it runs until the process stops.
pub struct Task {
    pub name: &'static str,
    pub run: BoxFuture<'static, ()>,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("name", &self.name).finish()
    }
}

impl Task {
    pub fn new(
        name: &'static str,
        run: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self {
            name,
            run: Box::pin(run),
        }
    }
}

/// What a started service hands back.
#[derive(Debug, Default)]
pub struct Started {
    pub tasks: Vec<Task>,
}

/// Where another service of the suite answers, and how long a call to it may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub endpoint: String,
    pub call_timeout: Duration,
}

/// Everything a service is built from.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    pub name: &'static str,
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub redis: Option<RedisHandle>,
    pub lifecycle: Lifecycle,
    /// The service's own event log; the platform runs its relay.
    pub log: EventLog,
    pub keys: TokenKeys,
    /// Every service served by this process, this one included.
    pub colocated: Vec<&'static str>,
    /// Peers as the process resolved them: a colocated one at this process's own address.
    pub(crate) peers: BTreeMap<&'static str, Peer>,
    /// How calls to peers over https:// trust them and, under mutual TLS, present this one.
    pub(crate) peer_tls: tonic::transport::ClientTlsConfig,
}

/// Connecting takes at most this long, whatever a peer's call deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl ServiceContext {
    /// This service's own section of the settings.
    pub fn section<T: ServiceConfig>(&self) -> anyhow::Result<&T> {
        self.settings
            .section::<T>(self.name)
            .with_context(|| format!("no settings section of type {}", std::any::type_name::<T>()))
    }

    /// Where `service` answers; an error if it is not one this service said it consumes.
    pub fn peer(&self, service: &str) -> anyhow::Result<Peer> {
        self.peers.get(service).cloned().with_context(|| {
            format!(
                "{} consumes {service}, which is not in this suite (or not in its consumes())",
                self.name
            )
        })
    }

    /// A channel to `service` whose calls carry this service's own token and the peer's
    /// call deadline.
    pub fn peer_channel(&self, service: &str) -> anyhow::Result<KefuChannel> {
        let peer = self.peer(service)?;
        channel(&ChannelOptions {
            endpoint: peer.endpoint,
            connect_timeout: CONNECT_TIMEOUT.min(peer.call_timeout),
            call_deadline: peer.call_timeout,
            credentials: Credentials::service(self.keys.clone(), self.name),
            tls: Some(self.peer_tls.clone()),
        })
    }

    /// `service`'s event stream, read with this service's own token and no deadline (a
    /// stream has no end; only connecting is bounded).
    pub fn peer_events(&self, service: &str, grpc_service: &str) -> anyhow::Result<RemoteEvents> {
        let peer = self.peer(service)?;
        let channel = channel(&ChannelOptions {
            endpoint: peer.endpoint,
            connect_timeout: CONNECT_TIMEOUT,
            call_deadline: crate::client::NO_DEADLINE,
            credentials: Credentials::service(self.keys.clone(), self.name),
            tls: Some(self.peer_tls.clone()),
        })?;
        Ok(RemoteEvents::new(channel, grpc_service)?.named(service))
    }

    /// True when no other service runs in this process: state kept in memory here is not
    /// shared with anything that could change it.
    pub fn serves_alone(&self) -> bool {
        self.colocated.len() == 1
    }
}
