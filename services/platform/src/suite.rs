//! The suite assembled from a list of services: which ones a `--service` argument names, their
//! migrations, and one server that runs any set of them in one process.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;
use tracing::Instrument as _;

use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::events::EventLog;
use crate::redis::RedisHandle;
use crate::server::{self, Lifecycle, RunningServer, ServiceParts};
use crate::service::{Peer, Service, ServiceContext};

/// The services a `--service` argument names: `all`, one name, or names separated by commas.
pub fn choose(
    catalog: &[&'static dyn Service],
    argument: &str,
) -> anyhow::Result<Vec<&'static dyn Service>> {
    let names: Vec<&str> = catalog.iter().map(|s| s.name()).collect();
    let mut chosen: Vec<&'static dyn Service> = Vec::new();
    for name in argument.split(',').map(str::trim) {
        let matched: Vec<&'static dyn Service> = if name == "all" {
            catalog.to_vec()
        } else if let Some(service) = catalog.iter().find(|s| s.name() == name) {
            vec![*service]
        } else {
            bail!(
                "unknown service {name:?}; one of: all, {}",
                names.join(", ")
            )
        };
        for service in matched {
            if !chosen.iter().any(|c| c.name() == service.name()) {
                chosen.push(service);
            }
        }
    }
    Ok(chosen)
}

/// Applies pending migrations of `services`; returns a line per service.
pub async fn migrate(
    settings: &Settings,
    services: &[&'static dyn Service],
) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();
    for service in services {
        let name = service.name();
        let url = settings
            .service(name)
            .with_context(|| format!("no settings section for {name}"))?
            .database_url;
        let db = crate::db::connect(&url, &settings.database).await?;
        let applied = service
            .migrator()
            .apply(&db)
            .await
            .with_context(|| format!("migrating {name}"))?;
        report.push(if applied.is_empty() {
            format!("{name}: up to date ({})", url.redacted())
        } else {
            format!(
                "{name}: applied {} ({})",
                applied.join(", "),
                url.redacted()
            )
        });
        db.close().await?;
    }
    Ok(report)
}

/// A started suite: its server.
#[derive(Debug)]
pub struct Suite {
    pub server: RunningServer,
}

/// Opens each service's database (migrating the embedded SQLite default, refusing a
/// PostgreSQL database with pending migrations), starts each service with its event relay and
/// background tasks, and serves all of them on `listener` until `lifecycle` stops.
///
/// `settings` must have been read with the sections of `catalog`: every service of the
/// build, since a service started here may consume one that runs elsewhere.
pub async fn start(
    settings: &Settings,
    catalog: &[&'static dyn Service],
    services: &[&'static dyn Service],
    listener: TcpListener,
    lifecycle: Lifecycle,
) -> anyhow::Result<Suite> {
    let settings = Arc::new(settings.clone());
    let redis = RedisHandle::open(&settings.redis)?;
    let keys = TokenKeys::new(&settings.auth);
    keys.check_provider()?;
    if let Some(redis) = redis.clone() {
        tokio::spawn(crate::watch::redis(redis, lifecycle.stopping().clone()));
    }
    let peer_tls = crate::tls::client(&settings.tls)?;
    let colocated: Vec<&'static str> = services.iter().map(|s| s.name()).collect();
    // Services of this process call one another on a loopback listener of their own, which
    // outlives the drain of the public one.
    let peer_listener = if services
        .iter()
        .any(|s| s.consumes().iter().any(|peer| colocated.contains(peer)))
    {
        Some(
            TcpListener::bind(("127.0.0.1", 0))
                .await
                .context("a loopback listener for calls between this process's services")?,
        )
    } else {
        None
    };
    let local = match &peer_listener {
        Some(peers) => crate::tls::local_endpoint(&settings.tls, peers.local_addr()?),
        None => String::new(),
    };
    let mut routes = tonic::service::Routes::builder();
    let mut parts = Vec::new();
    let mut relays = Vec::new();
    for service in services {
        let name = service.name();
        let own = settings
            .service(name)
            .with_context(|| format!("no settings section for {name}"))?;
        let db = crate::db::connect_as(
            &own.database_url,
            &settings.database,
            &format!("kefu-{name}-{}", std::process::id()),
        )
        .await?;
        if own.database_url.is_sqlite() {
            // The embedded default migrates itself; PostgreSQL is migrated by `kefu migrate`
            // (a Helm hook), never by each replica racing the others at start.
            service
                .migrator()
                .apply(&db)
                .await
                .with_context(|| format!("migrating {name}"))?;
        } else {
            let pending = service.migrator().pending(&db).await?;
            if !pending.is_empty() {
                bail!(
                    "{name}: {} pending migration(s) ({}); run `kefu migrate --service {name}` first",
                    pending.len(),
                    pending.join(", ")
                );
            }
        }
        // A consumed service missing from the catalog is the consumer's to judge: it may run
        // without (a test of one service), or refuse to start.
        let mut peers = BTreeMap::new();
        for peer in service.consumes() {
            let Some(provider) = catalog.iter().find(|s| s.name() == *peer) else {
                continue;
            };
            let peer_settings = settings
                .service(provider.name())
                .with_context(|| format!("no settings section for {peer}"))?;
            // A service in this process is called through this process's own server.
            let endpoint = if colocated.contains(peer) {
                local.clone()
            } else {
                peer_settings.endpoint.clone()
            };
            peers.insert(
                provider.name(),
                Peer {
                    endpoint,
                    call_timeout: peer_settings.call_timeout(),
                },
            );
        }
        let watched = db.clone();
        let log = EventLog::new(db.clone(), name, &settings.events, redis.clone());
        let context = ServiceContext {
            name,
            settings: settings.clone(),
            db,
            redis: redis.clone(),
            lifecycle: lifecycle.clone(),
            log: log.clone(),
            keys: keys.clone(),
            colocated: colocated.clone(),
            peers,
            peer_tls: peer_tls.clone(),
        };
        let started = service
            .start(context, &mut routes)
            .await
            .with_context(|| format!("starting {name}"))?;
        let stop = lifecycle.stopping().clone();
        crate::metrics::observe_pool(&watched, name);
        let gate = server::DatabaseGate::new();
        tokio::spawn(crate::watch::database(
            watched.clone(),
            name,
            gate.clone(),
            stop.clone(),
        ));
        // The relay outlives the drain: what the last calls committed is placed in the
        // stream before the process leaves, not left for the next replica.
        relays.push(tokio::spawn(
            log.clone().run_relay(lifecycle.stopped().clone()),
        ));
        tokio::spawn(crate::housekeeping::run(
            watched,
            name,
            settings.housekeeping.clone(),
            settings.events.clone(),
            stop.clone(),
        ));
        tokio::spawn(log.clone().run_wakeups(stop));
        for task in started.tasks {
            let span = tracing::info_span!("task", service = name, task = task.name);
            tokio::spawn(task.run.instrument(span));
        }
        parts.push(ServiceParts {
            name: service.grpc_service(),
            policy: service.access_policy(),
            database: gate,
        });
        tracing::info!(service = name, database = %own.database_url.redacted(), "service ready");
    }
    let server = server::start(
        &settings,
        listener,
        peer_listener,
        routes.routes(),
        parts,
        keys,
        lifecycle,
    )
    .await?
    .finishing(relays);
    Ok(Suite { server })
}
