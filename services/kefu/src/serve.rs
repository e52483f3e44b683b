//! `kefu serve` and `kefu migrate` as commands: telemetry, the listening address, the
//! start-up banner, and signals.

use std::time::Duration;

use anyhow::Context as _;
use kefu_platform::auth::{Role, SCOPE_PII_READ, TokenKeys};
use kefu_platform::config::Settings;
use kefu_platform::server::{self, Lifecycle};
use kefu_platform::service::Service;
use tokio::net::TcpListener;

pub(crate) async fn migrate(settings: &Settings, name: &str) -> anyhow::Result<()> {
    for line in kefu::migrate(settings, &kefu::services(name)?).await? {
        println!("{line}");
    }
    Ok(())
}

pub(crate) async fn serve(settings: Settings, name: &str) -> anyhow::Result<()> {
    let services = kefu::services(name)?;
    let telemetry = kefu_platform::telemetry::init(&settings.telemetry, name)?;
    let result = run(&settings, &services).await;
    if let Err(e) = &result {
        tracing::error!(error = %format!("{e:#}"), "kefu stopped with an error");
    }
    telemetry.shutdown();
    result
}

async fn run(settings: &Settings, services: &[&'static dyn Service]) -> anyhow::Result<()> {
    // One service alone listens on its own address; several share server.listen.
    let listen = match services {
        [one] => settings
            .service(one.name())
            .map_or(settings.server.listen, |s| s.listen),
        _ => settings.server.listen,
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let lifecycle = Lifecycle::new();
    let running = kefu::start(settings, services, listener, lifecycle.clone())
        .await?
        .server;
    let names: Vec<&str> = services.iter().map(|s| s.name()).collect();
    println!(
        "kefu: serving {} on {}",
        names.join(", "),
        running.local_addr
    );
    if settings.uses_development_keys() {
        tracing::warn!(
            "running with embedded development keys; set auth.hs256_secret and security.* before real data arrives"
        );
    }
    if settings.uses_development_signing_key() {
        let keys = TokenKeys::new(&settings.auth);
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
