//! Database handles: PostgreSQL in production, an SQLite file as the embedded default, and
//! each service's migrator.

use std::time::Duration;

use anyhow::Context as _;
use sea_orm::{ConnectOptions, DatabaseConnection, DbBackend};

use crate::config::{DatabaseSettings, SecretUrl};

/// Opens a pool on `url`. SQLite files get their directory created, WAL mode, and a single
/// connection: SQLite has one writer anyway, and one connection turns its lock errors into
/// an orderly queue.
pub async fn connect(
    url: &SecretUrl,
    settings: &DatabaseSettings,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .sqlx_logging(false);
    if url.is_sqlite() {
        if let Some(dir) = sqlite_file(url.expose())
            .and_then(|f| std::path::Path::new(f).parent().map(ToOwned::to_owned))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        options.max_connections(1).min_connections(1);
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    } else {
        options
            .max_connections(settings.max_connections)
            .min_connections(1)
            .statement_timeout(Duration::from_millis(settings.statement_timeout_ms))
            .set_application_name("kefu");
    }
    sea_orm::Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", url.redacted()))
}

/// The path of an `sqlite:` URL's file, if it names one.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Applies `service`'s pending migrations; returns their names.
pub async fn migrate(service: &str, db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    kefu_migrations::migrate(service, db)
        .await
        .with_context(|| format!("migrating {service}"))
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://./data/x.db?mode=rwc"),
            Some("./data/x.db")
        );
        assert_eq!(sqlite_file("sqlite:/tmp/y.db"), Some("/tmp/y.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }
}
