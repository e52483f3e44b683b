//! Server bootstrap: health, reflection, one tower stack around every service, and a shutdown
//! that says NOT_SERVING first, then drains.

mod admission;
mod answers;
mod gate;
mod limit;
mod trace;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use admission::AdmissionLayer;
pub use answers::AnswersLayer;
pub use gate::{DatabaseGate, GateLayer};
pub use trace::TraceLayer;

use crate::auth::{AccessPolicy, AuthLayer, TokenKeys};
use crate::config::Settings;

/// The phases of a process's end, shared by the server and every long-lived stream.
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    draining: CancellationToken,
    stopping: CancellationToken,
    stopped: CancellationToken,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancelled when shutdown begins: health says NOT_SERVING, calls are still served.
    pub fn draining(&self) -> &CancellationToken {
        &self.draining
    }

    /// Cancelled when the server stops taking calls: live streams end so clients resume
    /// elsewhere, and in-flight unary calls drain.
    pub fn stopping(&self) -> &CancellationToken {
        &self.stopping
    }

    /// Cancelled when the server has drained (or given up draining): no call will write
    /// anything more, so the event relays make their last pass.
    pub fn stopped(&self) -> &CancellationToken {
        &self.stopped
    }

    /// Starts the shutdown: NOT_SERVING now, stop taking calls after `delay`.
    pub fn begin_shutdown(&self, delay: Duration) {
        if self.draining.is_cancelled() {
            return;
        }
        self.draining.cancel();
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            stopping.cancel();
        });
    }
}

/// What a service contributes to a server.
#[derive(Debug)]
pub struct ServiceParts {
    /// Fully-qualified gRPC service name, for health and reflection.
    pub name: &'static str,
    pub policy: AccessPolicy,
    /// Whether its database answers; calls are refused at once while it does not.
    pub database: DatabaseGate,
}

/// Longest wait, after the drain, for the work that finishes what calls began (the event
/// relays' last pass).
const FINISHING_TIMEOUT: Duration = Duration::from_secs(5);

/// A server that is listening; [`RunningServer::wait`] returns when it has drained and the
/// work that finishes after it is done.
#[derive(Debug)]
pub struct RunningServer {
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    finishing: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Makes [`RunningServer::wait`] also wait for `tasks`, which end on
    /// [`Lifecycle::stopped`].
    pub fn finishing(mut self, tasks: Vec<tokio::task::JoinHandle<()>>) -> Self {
        self.finishing.extend(tasks);
        self
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.task.await.context("server task panicked")?;
        let finished =
            tokio::time::timeout(FINISHING_TIMEOUT, futures::future::join_all(self.finishing))
                .await;
        if finished.is_err() {
            tracing::warn!(
                timeout_ms = FINISHING_TIMEOUT.as_millis() as u64,
                "shutdown: event relays did not finish their last pass; the next replica will"
            );
        }
        served
    }
}

/// Serves `routes` on `listener` until `lifecycle` stops, then drains for at most
/// `server.drain_timeout_ms`.
pub async fn start(
    settings: &Settings,
    listener: TcpListener,
    peers: Option<TcpListener>,
    routes: tonic::service::Routes,
    services: Vec<ServiceParts>,
    keys: TokenKeys,
    lifecycle: Lifecycle,
) -> anyhow::Result<RunningServer> {
    let local_addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    let names: Vec<&'static str> = services.iter().map(|s| s.name).collect();
    let gates = GateLayer::new(services.iter().map(|s| (s.name, s.database.clone())));
    set_health(&health, &names, ServingStatus::Serving).await;

    let mut reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(kefu_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    for name in &names {
        reflection_v1 = reflection_v1.with_service_name(*name);
    }
    // grpcurl from PyPI speaks only v1alpha; buf curl and newer clients speak v1.
    let mut reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(kefu_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    for name in &names {
        reflection_v1alpha = reflection_v1alpha.with_service_name(*name);
    }

    let policy = services
        .into_iter()
        .fold(AccessPolicy::new(), |acc, s| acc.merge(s.policy));
    let stack = tower::ServiceBuilder::new()
        // Outermost, so that every answer, refusals included, is in a span with a trace id.
        .layer(TraceLayer)
        // Inside the trace, so that spans and metrics record the code the caller hears.
        .layer(AnswersLayer)
        // Before auth: a flood of any kind of call is shed before it costs a token check.
        .layer(AdmissionLayer::new(
            settings.server.max_concurrent_requests,
            settings.request_timeout(),
        ))
        // Handlers only ever see verified, authorized callers.
        .layer(AuthLayer::new(keys, policy))
        // Last before routing: a caller who may call learns the database is gone; one who
        // may not learns nothing about it.
        .layer(gates);

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = crate::tls::server(&settings.tls)? {
        builder = builder.tls_config(tls)?;
    }
    let mut finishing = Vec::new();
    if let Some(peers) = peers {
        // The services of this process calling one another: served until the main listener
        // has drained, so that a call taken before the drain can still make the calls it
        // needs while the drain refuses new ones.
        let router = builder
            .clone()
            .tcp_nodelay(true)
            .layer(stack.clone())
            .add_routes(routes.clone());
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(peers);
        let drained = lifecycle.stopped().clone();
        finishing.push(tokio::spawn(async move {
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, drained.cancelled_owned())
                .await
            {
                tracing::warn!(error = %e, "the listener for calls between this process's services failed");
            }
        }));
    }
    if !settings.server.health_listen.is_empty() {
        serve_health(
            &settings.server.health_listen,
            health_service.clone(),
            lifecycle.stopped().clone(),
        )
        .await?;
    }
    let router = builder
        .tcp_nodelay(true)
        .layer(stack)
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection_v1.build_v1()?)
        .add_service(reflection_v1alpha.build_v1alpha()?);

    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn {
            // gRPC is many small frames; Nagle would add latency to each.
            let _ = stream.set_nodelay(true);
        }
        conn
    });

    let drain_timeout = Duration::from_millis(settings.server.drain_timeout_ms);
    let draining = lifecycle.draining().clone();
    let stopping = lifecycle.stopping().clone();
    let drained = lifecycle.stopped().clone();
    let health_for_drain = health.clone();
    let names_for_drain = names.clone();
    tokio::spawn(async move {
        draining.cancelled().await;
        tracing::info!("shutdown: health NOT_SERVING, still serving until the drain starts");
        set_health(
            &health_for_drain,
            &names_for_drain,
            ServingStatus::NotServing,
        )
        .await;
    });

    let task = tokio::spawn(async move {
        let stopped = stopping.clone();
        let serve = router.serve_with_incoming_shutdown(incoming, async move {
            stopped.cancelled().await;
            tracing::info!("shutdown: draining in-flight calls");
        });
        tokio::pin!(serve);
        let served = tokio::select! {
            result = &mut serve => result.context("gRPC server failed"),
            () = async { stopping.cancelled().await; tokio::time::sleep(drain_timeout).await } => {
                tracing::warn!(timeout_ms = drain_timeout.as_millis() as u64, "shutdown: drain timed out; dropping remaining calls");
                Ok(())
            }
        };
        drained.cancel();
        served
    });
    Ok(RunningServer {
        local_addr,
        task,
        finishing,
    })
}

/// Serves only gRPC health, in plaintext, on `listen` until `stopped`: for probes that
/// cannot speak TLS. It says what the main server's health says, NOT_SERVING during a
/// shutdown included.
async fn serve_health<H>(listen: &str, health: H, stopped: CancellationToken) -> anyhow::Result<()>
where
    H: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    H::Future: Send + 'static,
{
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("server.health_listen {listen}"))?;
    tracing::info!(listen = %listener.local_addr()?, "health answers in plaintext here");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, stopped.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the health listener failed");
        }
    });
    Ok(())
}

async fn set_health(health: &HealthReporter, names: &[&str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// Waits for SIGTERM or SIGINT, begins the shutdown, and exits at once on a second signal.
pub async fn shutdown_on_signal(lifecycle: Lifecycle, delay: Duration) {
    wait_for_signal().await;
    tracing::info!(
        delay_ms = delay.as_millis() as u64,
        "signal received; shutting down (signal again to exit now)"
    );
    lifecycle.begin_shutdown(delay);
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
