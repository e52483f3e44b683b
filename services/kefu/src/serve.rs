//! `kefu serve` and `kefu migrate`: which services run, on which databases, and how the
//! process starts and stops.

use std::time::Duration;

use anyhow::{Context as _, bail};
use kefu_customer_registry::CustomerRegistry;
use kefu_platform::auth::{Role, SCOPE_PII_READ, TokenKeys};
use kefu_platform::config::Settings;
use kefu_platform::server::{self, Lifecycle};
use tokio::net::TcpListener;

/// Services this build implements, in start order. The others of the suite have their
/// contracts in proto/ and come with their own issues; nothing unimplemented is served.
const IMPLEMENTED: &[&str] = &[kefu_customer_registry::SERVICE];
const PLANNED: &[&str] = &["order-tracking", "complaint-desk", "survey", "staff-kpi"];

fn services(name: &str) -> anyhow::Result<Vec<&'static str>> {
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

pub(crate) async fn migrate(settings: &Settings, name: &str) -> anyhow::Result<()> {
    for service in services(name)? {
        let Some(service_settings) = settings.service(service) else {
            bail!("no settings section for {service}");
        };
        let db =
            kefu_platform::db::connect(&service_settings.database_url, &settings.database).await?;
        let applied = kefu_platform::db::migrate(service, &db).await?;
        if applied.is_empty() {
            println!(
                "{service}: up to date ({})",
                service_settings.database_url.redacted()
            );
        } else {
            println!(
                "{service}: applied {} ({})",
                applied.join(", "),
                service_settings.database_url.redacted()
            );
        }
        db.close().await?;
    }
    Ok(())
}

pub(crate) async fn serve(settings: Settings, name: &str) -> anyhow::Result<()> {
    let services = services(name)?;
    let telemetry = kefu_platform::telemetry::init(&settings.telemetry, name)?;
    let result = run(&settings, name, &services).await;
    if let Err(e) = &result {
        tracing::error!(error = %format!("{e:#}"), "kefu stopped with an error");
    }
    telemetry.shutdown();
    result
}

async fn run(settings: &Settings, name: &str, services: &[&'static str]) -> anyhow::Result<()> {
    let lifecycle = Lifecycle::new();
    let listen = if name == "all" {
        settings.server.listen
    } else {
        settings
            .service(name)
            .map_or(settings.server.listen, |s| s.listen)
    };

    let mut routes = tonic::service::Routes::builder();
    let mut parts = Vec::new();
    let mut relays = Vec::new();
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
                let registry = CustomerRegistry::new(settings, db, lifecycle.clone())?;
                routes.add_service(registry.grpc_service(settings));
                parts.push(registry.parts());
                relays.push(registry.log.clone());
            }
            other => bail!("{other} has no server in this build"),
        }
        tracing::info!(service, database = %url.redacted(), "service ready");
    }

    for log in relays {
        tokio::spawn(log.run_relay(lifecycle.stopping().clone()));
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let keys = TokenKeys::new(&settings.auth);
    let running = server::start(
        settings,
        listener,
        routes.routes(),
        parts,
        keys.clone(),
        lifecycle.clone(),
    )
    .await?;
    println!(
        "kefu: serving {} on {}",
        services.join(", "),
        running.local_addr
    );
    if settings.uses_development_keys() {
        tracing::warn!(
            "running with embedded development keys; set auth.hs256_secret and security.* before real data arrives"
        );
    }
    if settings.uses_development_signing_key() {
        let token = keys.mint(
            "dev-manager",
            Role::Manager,
            &[SCOPE_PII_READ],
            "",
            settings.auth.dev_token_ttl_s,
        );
        println!("kefu: development token (role manager, scope pii:read):\n{token}");
    } else {
        println!("kefu: mint tokens with `kefu token --role <role>` where the signing key is held");
    }

    tokio::spawn(server::shutdown_on_signal(
        lifecycle.clone(),
        Duration::from_millis(settings.server.shutdown_delay_ms),
    ));
    running.wait().await?;
    tracing::info!("kefu stopped");
    Ok(())
}
