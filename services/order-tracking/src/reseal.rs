//! CR-9 for orders: streets sealed under an older key are re-sealed under the active one,
//! in the background, so a retired key can be removed once both services are done.
//!
//! Each row is swapped only if its envelope is still the one read (compare-and-swap on the
//! envelope): an order written meanwhile is already under the active key and wins, and
//! replicas sweeping at once only repeat work.

use std::time::Duration;

use kefu_platform::db::Exclusive;
use kefu_platform::pii::PiiCipher;
use sea_orm::{DatabaseConnection, DbErr};
use tokio_util::sync::CancellationToken;

use crate::store::{self, streets_binding};

const BATCH: u64 = 500;
/// One replica sweeps at a time.
const LOCK: &str = "order-tracking.reseal";
/// Sweeps again this often: rows written by replicas still on the old key during a rolling
/// deploy are caught by the next sweep.
const EVERY: Duration = Duration::from_secs(3600);

/// What one sweep did (nothing when another replica was sweeping).
#[derive(Debug, Default, PartialEq)]
pub struct Sweep {
    /// Rows not under the active key when the sweep reached them.
    pub scanned: u64,
    pub resealed: u64,
    /// Rows that no configured key opens; left as they are and logged.
    pub unreadable: u64,
}

/// Re-seals every order's streets not under the active key; returns what it did.
pub async fn sweep(db: &DatabaseConnection, cipher: &PiiCipher) -> Result<Sweep, DbErr> {
    let active = cipher.active_key_id();
    let mut done = Sweep::default();
    let mut after = String::new();
    loop {
        let rows = store::streets_not_under(db, active, &after, BATCH).await?;
        let Some((last, _)) = rows.last() else {
            return Ok(done);
        };
        after = last.clone();
        for (id, envelope) in rows {
            done.scanned += 1;
            if PiiCipher::key_id_of(&envelope).is_ok_and(|kid| kid == active) {
                continue;
            }
            let binding = streets_binding(&id);
            let plain = match cipher.decrypt(&binding, &envelope) {
                Ok(plain) => plain,
                Err(e) => {
                    done.unreadable += 1;
                    tracing::error!(order_id = %id, error = %e, "order streets open under no configured key");
                    continue;
                }
            };
            let resealed = cipher.encrypt(&binding, &plain);
            if store::swap_streets(db, &id, &envelope, &resealed).await? {
                done.resealed += 1;
            }
        }
    }
}

/// One sweep on one replica at a time.
async fn sweep_if_free(
    db: &DatabaseConnection,
    cipher: &PiiCipher,
) -> Result<Option<Sweep>, DbErr> {
    let Some(exclusive) = Exclusive::try_take(db, LOCK).await? else {
        return Ok(None);
    };
    let done = sweep(db, cipher).await;
    exclusive.release().await?;
    done.map(Some)
}

/// Sweeps at start and then every hour until `stop`, on one replica at a time.
pub async fn run(db: DatabaseConnection, cipher: PiiCipher, stop: CancellationToken) {
    loop {
        match sweep_if_free(&db, &cipher)
            .await
            .map(Option::unwrap_or_default)
        {
            Ok(s) if s.resealed > 0 || s.unreadable > 0 => tracing::info!(
                scanned = s.scanned,
                resealed = s.resealed,
                unreadable = s.unreadable,
                key_id = cipher.active_key_id(),
                "order streets re-sealed under the active key"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "re-sealing order streets failed; the next sweep retries")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
