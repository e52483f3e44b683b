//! Test support shared by every crate's tests: a fresh PostgreSQL database or SQLite file per
//! test, and settings pointing at them. Never used by a running service.

use sea_orm::{ConnectionTrait, Database};

use crate::config::{SecretUrl, Settings};

/// Server that tests create their databases on; `KEFU_TEST_POSTGRES` overrides it.
pub fn postgres_admin_url() -> String {
    std::env::var("KEFU_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Redis that tests use; `KEFU_TEST_REDIS` overrides it.
pub fn redis_url() -> String {
    std::env::var("KEFU_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A database of its own for one test, dropped when the value is.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: SecretUrl,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new, empty PostgreSQL database on the test server.
    pub async fn postgres() -> anyhow::Result<Self> {
        let admin_url = postgres_admin_url();
        let name = format!("kefu_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        Ok(Self {
            url: SecretUrl::new(format!("{base}/{name}")),
            name: Some(name),
            _dir: None,
        })
    }

    /// A new SQLite file in a directory of its own.
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("kefu-test-").tempdir()?;
        Ok(Self {
            url: SecretUrl::new(format!(
                "sqlite://{}/test.db?mode=rwc",
                dir.path().display()
            )),
            name: None,
            _dir: Some(dir),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else { return };
        // Drop runs outside any runtime we may block; a thread of its own can.
        let admin_url = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Embedded defaults with quick timings for tests, pointing customer-registry at `db`.
pub fn settings_with_database(db: &SecretUrl) -> Settings {
    settings_for(&[("customer-registry", db)])
}

/// Embedded defaults with quick timings for tests, each named service on its database.
/// Services not named keep their default (a SQLite file under ./data): name every service
/// a test starts.
pub fn settings_for(databases: &[(&str, &SecretUrl)]) -> Settings {
    let mut env: Vec<(String, String)> = databases
        .iter()
        .map(|(service, url)| {
            let section = service.replace('-', "_").to_ascii_uppercase();
            (
                format!("KEFU__{section}__DATABASE_URL"),
                url.expose().to_owned(),
            )
        })
        .collect();
    env.extend(
        [
            ("KEFU__SERVER__LISTEN", "127.0.0.1:0"),
            ("KEFU__SERVER__SHUTDOWN_DELAY_MS", "200"),
            ("KEFU__EVENTS__RELAY_INTERVAL_MS", "50"),
            ("KEFU__EVENTS__STREAM_POLL_MS", "100"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    match Settings::load_from(None, Some(env.into_iter().collect())) {
        Ok(settings) => settings,
        Err(e) => panic!("test settings invalid: {e}"),
    }
}
