//! The suite as a library: which services exist, and how `kefu serve` assembles them into one
//! server. The binary and the end-to-end journeys in tests/ both start Kefu through here.

#![forbid(unsafe_code)]

use anyhow::{Context as _, bail};
use std::sync::Arc;

use kefu_customer_registry::CustomerRegistry;
use kefu_order_tracking::{HotChoice, OrderTracking};
use kefu_platform::auth::TokenKeys;
use kefu_platform::config::Settings;
use kefu_platform::events::EventLog;
use kefu_platform::hot::{InProcessHotStore, RedisHotStore};
use kefu_platform::redis::RedisHandle;
use kefu_platform::server::{self, Lifecycle, RunningServer};
use tokio::net::TcpListener;

/// Services this build implements, in start order. The others of the suite have their
/// contracts in proto/ and come with their own issues; nothing unimplemented is served.
pub const IMPLEMENTED: &[&str] = &[
    kefu_customer_registry::SERVICE,
    kefu_order_tracking::SERVICE,
];
const PLANNED: &[&str] = &["complaint-desk", "survey", "staff-kpi"];

/// The services `kefu serve --service <name>` (and `kefu migrate`) act on: `all`, one name,
/// or names separated by commas (what a deployment with some services disabled migrates).
pub fn services(name: &str) -> anyhow::Result<Vec<&'static str>> {
    let mut chosen = Vec::new();
    for name in name.split(',').map(str::trim) {
        for service in one_or_all(name)? {
            if !chosen.contains(&service) {
                chosen.push(service);
            }
        }
    }
    Ok(chosen)
}

fn one_or_all(name: &str) -> anyhow::Result<Vec<&'static str>> {
    if name == "all" {
        return Ok(IMPLEMENTED.to_vec());
    }
    if let Some(service) = IMPLEMENTED.iter().find(|s| **s == name) {
        return Ok(vec![service]);
    }
    if PLANNED.contains(&name) {
        bail!(
            "{name} is not implemented in this build yet; implemented: {}",
            IMPLEMENTED.join(", ")
        );
    }
    bail!(
        "unknown service {name:?}; one of: all, {}",
        IMPLEMENTED.join(", ")
    )
}

/// Opens each service's database (migrating the embedded SQLite default, refusing a
/// PostgreSQL database with pending migrations), starts the event relays, and serves all of
/// them on `listener` until `lifecycle` stops.
pub async fn start(
    settings: &Settings,
    services: &[&'static str],
    listener: TcpListener,
    lifecycle: Lifecycle,
) -> anyhow::Result<RunningServer> {
    Ok(start_suite(settings, services, listener, lifecycle)
        .await?
        .server)
}

/// A started suite: its server, and each service's event log (for `kefu bench`).
#[derive(Debug)]
pub struct Suite {
    pub server: RunningServer,
    pub logs: Vec<(&'static str, EventLog)>,
}

/// As [`start`], keeping each service's event log at hand.
pub async fn start_suite(
    settings: &Settings,
    services: &[&'static str],
    listener: TcpListener,
    lifecycle: Lifecycle,
) -> anyhow::Result<Suite> {
    let redis = RedisHandle::open(&settings.redis)?;
    let mut logs = Vec::new();
    let local = listener.local_addr()?;
    // A service in this process is called through this process's own server.
    let endpoint_of = |service: &str, configured: &str| {
        if services.contains(&service) {
            format!("http://{local}")
        } else {
            configured.to_owned()
        }
    };
    let mut routes = tonic::service::Routes::builder();
    let mut parts = Vec::new();
    for service in services {
        let service_settings = settings.service(service).context("service settings")?;
        let url = &service_settings.database_url;
        let db = kefu_platform::db::connect(url, &settings.database).await?;
        if url.is_sqlite() {
            // The embedded default migrates itself; PostgreSQL is migrated by `kefu migrate`
            // (a Helm hook), never by each replica racing the others at start.
            kefu_platform::db::migrate(service, &db).await?;
        } else {
            let pending = kefu_migrations::pending(service, &db).await?;
            if !pending.is_empty() {
                bail!(
                    "{service}: {} pending migration(s) ({}); run `kefu migrate --service {service}` first",
                    pending.len(),
                    pending.join(", ")
                );
            }
        }
        match *service {
            kefu_customer_registry::SERVICE => {
                // CR-2: tiers move with order-tracking's events, wherever it runs.
                let order_tracking = endpoint_of(
                    kefu_order_tracking::SERVICE,
                    &settings.order_tracking.endpoint,
                );
                let registry = CustomerRegistry::new(
                    settings,
                    db,
                    redis.clone(),
                    Some(order_tracking),
                    lifecycle.clone(),
                )?;
                routes.add_service(registry.grpc_service(settings));
                parts.push(registry.parts());
                registry.spawn_background(lifecycle.stopping());
                logs.push((kefu_customer_registry::SERVICE, registry.log.clone()));
            }
            kefu_order_tracking::SERVICE => {
                let hot = match (&redis, services.len() > 1) {
                    (Some(redis), _) => {
                        HotChoice::Shared(Arc::new(RedisHotStore::new(redis.clone(), "kefu:")))
                    }
                    // The whole suite in one process: nobody else can change an order.
                    (None, true) => HotChoice::SingleProcess(Arc::new(InProcessHotStore::new())),
                    (None, false) => {
                        tracing::warn!(
                            "no redis.url: order reads go to the database (replicas need Redis for a shared hot store)"
                        );
                        HotChoice::None
                    }
                };
                let customer_registry = endpoint_of(
                    kefu_customer_registry::SERVICE,
                    &settings.customer_registry.endpoint,
                );
                let tracking = OrderTracking::new(
                    settings,
                    db,
                    redis.clone(),
                    hot,
                    &customer_registry,
                    lifecycle.clone(),
                )?;
                routes.add_service(tracking.grpc_service(settings));
                parts.push(tracking.parts());
                tracking.spawn_background(lifecycle.stopping());
                logs.push((kefu_order_tracking::SERVICE, tracking.log.clone()));
            }
            other => bail!("{other} has no server in this build"),
        }
        tracing::info!(service, database = %url.redacted(), "service ready");
    }
    let keys = TokenKeys::new(&settings.auth);
    let server = server::start(settings, listener, routes.routes(), parts, keys, lifecycle).await?;
    Ok(Suite { server, logs })
}

/// Applies pending migrations of the named services; returns a line per service.
pub async fn migrate(
    settings: &Settings,
    services: &[&'static str],
) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();
    for service in services {
        let Some(service_settings) = settings.service(service) else {
            bail!("no settings section for {service}");
        };
        let db =
            kefu_platform::db::connect(&service_settings.database_url, &settings.database).await?;
        let applied = kefu_platform::db::migrate(service, &db).await?;
        let url = service_settings.database_url.redacted();
        report.push(if applied.is_empty() {
            format!("{service}: up to date ({url})")
        } else {
            format!("{service}: applied {} ({url})", applied.join(", "))
        });
        db.close().await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::services;

    #[test]
    fn services_are_all_one_or_a_list_and_planned_ones_are_refused() {
        assert_eq!(services("all").unwrap(), super::IMPLEMENTED);
        assert_eq!(services("order-tracking").unwrap(), ["order-tracking"]);
        assert_eq!(
            services("order-tracking, customer-registry,order-tracking").unwrap(),
            ["order-tracking", "customer-registry"]
        );
        let planned = services("customer-registry,survey").unwrap_err();
        assert!(
            planned.to_string().contains("survey is not implemented"),
            "{planned}"
        );
        assert!(services("nope").is_err());
    }
}
