//! Housekeeping of each service's database, so that a long-running system stays healthy:
//! request_id records past their retention, and events past theirs, are deleted in batches by
//! one replica at a time.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use tokio_util::sync::CancellationToken;

use crate::config::{EventSettings, HousekeepingSettings};
use crate::db::Exclusive;

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub idempotency_records: u64,
    pub events: u64,
}

/// Prunes `service`'s database every `settings.interval_s` until `stop`, when this replica
/// holds the service's housekeeping lock.
pub async fn run(
    db: DatabaseConnection,
    service: &'static str,
    settings: HousekeepingSettings,
    events: EventSettings,
    stop: CancellationToken,
) {
    let lock = format!("kefu.housekeeping.{service}");
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(settings.interval()) => {}
        }
        let held = match Exclusive::try_take(&db, &lock).await {
            Ok(Some(held)) => held,
            Ok(None) => {
                tracing::debug!(service, "another replica does the housekeeping");
                continue;
            }
            Err(e) => {
                tracing::warn!(service, error = %e, "housekeeping lock not taken; next pass later");
                continue;
            }
        };
        match prune(&db, &settings, &events, chrono::Utc::now()).await {
            Ok(pruned) if pruned != Pruned::default() => tracing::info!(
                service,
                idempotency_records = pruned.idempotency_records,
                events = pruned.events,
                "housekeeping: pruned"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(service, error = %e, "housekeeping pass failed; next pass later")
            }
        }
        if let Err(e) = held.release().await {
            tracing::debug!(service, error = %e, "housekeeping lock released with its connection");
        }
    }
}

/// Deletes what has outlived its retention at `now`: request_id records older than
/// `idempotency_retention_h`, and positioned events older than `events.retention_days` (never
/// the newest, whose position the next ones count from).
pub async fn prune(
    db: &DatabaseConnection,
    settings: &HousekeepingSettings,
    events: &EventSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Pruned, DbErr> {
    let mut pruned = Pruned {
        idempotency_records: in_batches(
            db,
            "kefu_idempotency",
            "created_at < {cutoff}",
            now - settings.idempotency_retention(),
            settings.batch,
        )
        .await?,
        events: 0,
    };
    if let Some(retention) = events.retention() {
        pruned.events = in_batches(
            db,
            "kefu_outbox",
            "position IS NOT NULL AND occurred_at < {cutoff} \
             AND position < (SELECT MAX(position) FROM kefu_outbox)",
            now - retention,
            settings.batch,
        )
        .await?;
    }
    Ok(pruned)
}

/// Deletes the rows of `table` matching `condition` (with `{cutoff}` bound to `cutoff`), at
/// most `batch` a statement, each statement its own transaction; the number deleted.
async fn in_batches(
    db: &DatabaseConnection,
    table: &str,
    condition: &str,
    cutoff: chrono::DateTime<chrono::Utc>,
    batch: u64,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let (row, cutoff_at, limit_at) = match backend {
        DbBackend::Postgres => ("ctid", "$1", "$2"),
        _ => ("rowid", "?", "?"),
    };
    let sql = format!(
        "DELETE FROM {table} WHERE {row} IN \
         (SELECT {row} FROM {table} WHERE {} LIMIT {limit_at})",
        condition.replace("{cutoff}", cutoff_at)
    );
    let mut deleted = 0;
    loop {
        let values: [Value; 2] = [
            cutoff.into(),
            i64::try_from(batch).unwrap_or(i64::MAX).into(),
        ];
        let done = db
            .execute_raw(Statement::from_sql_and_values(backend, &sql, values))
            .await?
            .rows_affected();
        deleted += done;
        if done < batch {
            return Ok(deleted);
        }
    }
}
