//! Database handles: PostgreSQL in production, an SQLite file as the embedded default, a
//! service's migrator behind one type, and locks that make one replica at a time do a piece
//! of work.

use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait as _,
};

use sea_orm_migration::MigratorTrait;

use crate::config::{DatabaseSettings, SecretUrl};

/// Opens a pool on `url`. SQLite files get their directory created, WAL mode, and a single
/// connection: SQLite has one writer anyway, and one connection turns its lock errors into
/// an orderly queue.
pub async fn connect(
    url: &SecretUrl,
    settings: &DatabaseSettings,
) -> anyhow::Result<DatabaseConnection> {
    connect_as(url, settings, "kefu").await
}

/// As [`connect`], naming the connections `application` in PostgreSQL (`pg_stat_activity`),
/// e.g. "kefu-survey-4242" (service and process id): who holds which connection to which
/// database is visible to operators and to the test that no service reaches another's
/// database.
pub async fn connect_as(
    url: &SecretUrl,
    settings: &DatabaseSettings,
    application: &str,
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
                // Deleted and overwritten content is zeroed, not left in free space (CR-11).
                .pragma("secure_delete", "on")
        });
    } else {
        options
            .max_connections(settings.max_connections)
            .min_connections(1)
            .statement_timeout(Duration::from_millis(settings.statement_timeout_ms))
            .set_application_name(application);
    }
    let mut db = sea_orm::Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", url.redacted()))?;
    let system = if url.is_sqlite() {
        "sqlite"
    } else {
        "postgresql"
    };
    db.set_metric_callback(move |query| crate::telemetry::database_span(query, system));
    Ok(db)
}

/// After a lawful erasure (CR-11): on SQLite, moves the write-ahead log into the database and
/// empties it, so the erased values' older page images do not linger in the log file
/// (`secure_delete` already zeroes them in the database). PostgreSQL keeps old row
/// versions until VACUUM, which its operators schedule. Failure is logged, not returned:
/// the erasure itself has committed.
pub async fn forget_overwritten(db: &DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    if let Err(e) = db
        .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
    {
        tracing::warn!(error = %e, "write-ahead log not emptied after an erasure");
    }
}

/// A stable 63-bit key for PostgreSQL's advisory locks, from a lock's name.
pub fn advisory_key(name: &str) -> i64 {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 1) as i64
}

/// Waits for the lock `name` and holds it until `txn` ends: what `txn` reads and writes,
/// no other replica's transaction under the same lock interleaves with. On SQLite, whose
/// single writer already serialises transactions, there is nothing to take.
pub async fn lock_in(txn: &DatabaseTransaction, name: &str) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({})",
            advisory_key(name)
        ))
        .await?;
    }
    Ok(())
}

/// Held while one replica does work no other should do at the same time (a scheduled pass,
/// a key rotation). Released by [`Exclusive::release`]; a holder that dies releases it with
/// its connection.
#[derive(Debug)]
pub struct Exclusive(Option<DatabaseTransaction>);

impl Exclusive {
    /// Takes the lock `name` if no other replica holds it; `None` if one does. On PostgreSQL
    /// the lock lives in an open transaction (one pooled connection) and dies with the
    /// process, so a crashed holder never blocks the others. SQLite serves one process, so
    /// it is always granted there.
    pub async fn try_take(db: &DatabaseConnection, name: &str) -> Result<Option<Self>, DbErr> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(Some(Self(None)));
        }
        let txn = db.begin().await?;
        let row = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT pg_try_advisory_xact_lock({}) AS locked",
                    advisory_key(name)
                ),
            ))
            .await?;
        let locked = match row {
            Some(row) => row.try_get::<bool>("", "locked")?,
            None => false,
        };
        if locked {
            Ok(Some(Self(Some(txn))))
        } else {
            txn.rollback().await?;
            Ok(None)
        }
    }

    /// Fails when the lock may be lost: its connection no longer answers. A holder that sees
    /// this must stop the work the lock guards; another replica may have taken it.
    pub async fn check(&self) -> Result<(), DbErr> {
        match &self.0 {
            Some(txn) => txn.execute_unprepared("SELECT 1").await.map(|_| ()),
            None => Ok(()),
        }
    }

    pub async fn release(self) -> Result<(), DbErr> {
        match self.0 {
            Some(txn) => txn.commit().await,
            None => Ok(()),
        }
    }
}

/// The path of an `sqlite:` URL's file, if it names one.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// A service's schema migrations, whatever its migrator type: what `kefu migrate` applies
/// and what `kefu serve` checks before it serves a PostgreSQL database.
#[derive(Clone, Copy)]
pub struct Migrator {
    apply: MigrationStep,
    pending: MigrationStep,
}

/// Does something with a database's migrations; answers with migration names.
type MigrationStep =
    for<'a> fn(&'a DatabaseConnection) -> BoxFuture<'a, Result<Vec<String>, DbErr>>;

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Migrator")
    }
}

impl Migrator {
    pub fn of<M: MigratorTrait>() -> Self {
        Self {
            apply: apply_pending::<M>,
            pending: pending_names::<M>,
        }
    }

    /// Applies every pending migration; returns the names applied.
    pub async fn apply(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        (self.apply)(db).await
    }

    /// Names of the migrations not yet applied.
    pub async fn pending(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        (self.pending)(db).await
    }
}

fn pending_names<M: MigratorTrait>(
    db: &DatabaseConnection,
) -> BoxFuture<'_, Result<Vec<String>, DbErr>> {
    Box::pin(async move {
        Ok(M::get_pending_migrations(db)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    })
}

fn apply_pending<M: MigratorTrait>(
    db: &DatabaseConnection,
) -> BoxFuture<'_, Result<Vec<String>, DbErr>> {
    Box::pin(async move {
        let pending = pending_names::<M>(db).await?;
        M::up(db, None).await?;
        Ok(pending)
    })
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::{Exclusive, advisory_key, sqlite_file};
    use crate::config::DatabaseSettings;

    #[test]
    fn advisory_keys_differ_per_name_and_stay_stable() {
        assert_ne!(advisory_key("a"), advisory_key("b"));
        // A fixed value: replicas of different builds must take the same lock.
        assert_eq!(
            advisory_key("kefu.outbox.customer-registry"),
            6_945_683_456_907_234_978
        );
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_released_lock_is_free_again() {
        let admin = crate::config::SecretUrl::new(
            std::env::var("KEFU_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        );
        let settings = DatabaseSettings {
            max_connections: 4,
            acquire_timeout_ms: 5000,
            statement_timeout_ms: 10000,
        };
        // Advisory locks need no table: the server's own database will do.
        let db = super::connect(&admin, &settings).await.unwrap();
        let first = Exclusive::try_take(&db, "job").await.unwrap();
        assert!(first.is_some());
        assert!(Exclusive::try_take(&db, "job").await.unwrap().is_none());
        assert!(
            Exclusive::try_take(&db, "another job")
                .await
                .unwrap()
                .is_some()
        );
        first.unwrap().release().await.unwrap();
        assert!(Exclusive::try_take(&db, "job").await.unwrap().is_some());
    }

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
