//! The suite as the bench loads it: each service a phase needs is `kefu serve --service
//! <name>`, a process of its own on its own fresh PostgreSQL database, reaching the others by
//! endpoint, order-tracking's hot state in Redis; all on production defaults otherwise.

use std::time::Duration;

use anyhow::Context as _;
use kefu_platform::auth::{Role, TokenKeys};
use kefu_platform::config::Settings;
use kefu_testkit::TestDatabase;
use sea_orm::DatabaseConnection;
use tokio::process::Child;

use super::outside;

/// A service as the bench runs it.
pub(crate) struct Served {
    pub(crate) name: &'static str,
    pub(crate) port: u16,
    pub(crate) database: TestDatabase,
    child: Child,
    /// Resident memory once started, before any load.
    pub(crate) idle_mb: f64,
}

impl Served {
    pub(crate) fn resident_mb(&self) -> f64 {
        outside::resident_mb(self.child.id())
    }

    pub(crate) fn cpu_seconds(&self) -> f64 {
        outside::cpu_seconds(self.child.id())
    }
}

pub(crate) struct Suite {
    pub(crate) services: Vec<Served>,
    /// What every process read: the same embedded defaults, so the same keys.
    pub(crate) settings: Settings,
    /// A manager's token, valid for the bench's length.
    pub(crate) token: String,
}

/// The settings section of a service: `order-tracking` is `ORDER_TRACKING`.
fn section(service: &str) -> String {
    service.replace('-', "_").to_ascii_uppercase()
}

impl Suite {
    /// Migrates a database for each of `names`, starts their processes and waits until each
    /// listens. Services not started are still named by endpoint, where nothing answers.
    pub(crate) async fn start(names: &[&str]) -> anyhow::Result<Self> {
        let redis = kefu_testkit::redis_url();
        let served = kefu::services(&names.join(","))?;
        let mut databases = Vec::new();
        for service in &served {
            let database = TestDatabase::postgres()
                .await
                .context("PostgreSQL for the bench (KEFU_TEST_POSTGRES)")?;
            databases.push((service.name(), database));
        }
        let urls: Vec<(&str, &kefu_platform::config::SecretUrl)> =
            databases.iter().map(|(s, d)| (*s, &d.url)).collect();
        let settings = kefu_testkit::settings(
            kefu::SERVICES,
            &urls,
            &[("KEFU__REDIS__URL", redis.as_str())],
        );
        kefu::migrate(&settings, &served).await?;
        let token = TokenKeys::new(&settings.auth).mint("bench", Role::Manager, &[], "", 6 * 3600);

        let ports: Vec<u16> = kefu::SERVICES
            .iter()
            .map(|_| outside::free_port())
            .collect::<anyhow::Result<_>>()?;
        let port_of = |name: &str| {
            kefu::SERVICES
                .iter()
                .zip(&ports)
                .find_map(|(s, p)| (s.name() == name).then_some(*p))
                .unwrap_or_default()
        };
        let mut services = Vec::new();
        for (name, database) in databases {
            let port = port_of(name);
            let mut env: Vec<(String, String)> = vec![
                (
                    format!("KEFU__{}__DATABASE_URL", section(name)),
                    database.url.expose().to_owned(),
                ),
                (
                    format!("KEFU__{}__LISTEN", section(name)),
                    format!("127.0.0.1:{port}"),
                ),
                ("KEFU__REDIS__URL".into(), redis.clone()),
                ("KEFU__ORDER_TRACKING__HOT_STORE".into(), "redis".into()),
                // The bench offers more than the default admits: it measures the stack, not
                // the admission limit (issue 15's overload test measures that).
                (
                    "KEFU__SERVER__MAX_CONCURRENT_REQUESTS".into(),
                    "4096".into(),
                ),
            ];
            for (peer, peer_port) in kefu::SERVICES.iter().zip(&ports) {
                env.push((
                    format!("KEFU__{}__ENDPOINT", section(peer.name())),
                    format!("http://127.0.0.1:{peer_port}"),
                ));
            }
            let child = outside::spawn_kefu(&["serve", "--service", name], &env)?;
            services.push(Served {
                name,
                port,
                database,
                child,
                idle_mb: 0.0,
            });
        }
        for served in &services {
            outside::listening(served.port).await?;
        }
        // Let consumers connect and start-up work settle before reading idle memory.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for served in &mut services {
            served.idle_mb = served.resident_mb();
        }
        Ok(Self {
            services,
            settings,
            token,
        })
    }

    /// Name, idle and present resident memory of each of `names`.
    pub(crate) fn memory(&self, names: &[&str]) -> Vec<(&'static str, f64, f64)> {
        self.services
            .iter()
            .filter(|s| names.contains(&s.name))
            .map(|s| (s.name, s.idle_mb, s.resident_mb()))
            .collect()
    }

    fn service(&self, name: &str) -> anyhow::Result<&Served> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .with_context(|| format!("the bench serves no {name}"))
    }

    /// CPU time `name`'s process has used, in seconds.
    pub(crate) fn cpu_seconds(&self, name: &str) -> anyhow::Result<f64> {
        Ok(self.service(name)?.cpu_seconds())
    }

    pub(crate) fn port(&self, name: &str) -> anyhow::Result<u16> {
        Ok(self.service(name)?.port)
    }

    /// A pool of the bench's own on `name`'s database: 16 connections, room for the
    /// reference transactions in flight and for bulk seeding.
    pub(crate) async fn db(&self, name: &str) -> anyhow::Result<DatabaseConnection> {
        let settings = kefu_platform::config::DatabaseSettings {
            max_connections: 16,
            acquire_timeout_ms: 30_000,
            statement_timeout_ms: 600_000,
        };
        kefu_platform::db::connect(&self.service(name)?.database.url, &settings).await
    }
}
