//! CR-9 for orders: streets sealed under an older key are re-sealed under the active one,
//! in the background, so a retired key can be removed once both services are done.
//!
//! Each row is swapped only if its envelope is still the one read (compare-and-swap on the
//! envelope): an order written meanwhile is already under the active key and wins, and
//! replicas sweeping at once only repeat work.

use std::time::Duration;

use kefu_platform::pii::PiiCipher;
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio_util::sync::CancellationToken;

use crate::store::streets_binding;

const BATCH: u64 = 500;
/// Sweeps again this often: rows written by replicas still on the old key during a rolling
/// deploy are caught by the next sweep.
const EVERY: Duration = Duration::from_secs(3600);

/// What one sweep did.
#[derive(Debug, Default, PartialEq)]
pub struct Sweep {
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
        let page = Query::select()
            .columns(["id", "streets_ct"])
            .from("orders")
            .and_where(Expr::col("id").gt(after.as_str()))
            .and_where(Expr::col("streets_ct").is_not_null())
            .order_by("id", Order::Asc)
            .limit(BATCH)
            .to_owned();
        let rows = db.query_all(&page).await?;
        let Some(last) = rows.last() else {
            return Ok(done);
        };
        after = last.try_get("", "id")?;
        for row in rows {
            done.scanned += 1;
            let id: String = row.try_get("", "id")?;
            let envelope: String = row.try_get("", "streets_ct")?;
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
            let swap = Query::update()
                .table("orders")
                .value("streets_ct", cipher.encrypt(&binding, &plain))
                .and_where(Expr::col("id").eq(id.as_str()))
                .and_where(Expr::col("streets_ct").eq(envelope.as_str()))
                .to_owned();
            if db.execute(&swap).await?.rows_affected() == 1 {
                done.resealed += 1;
            }
        }
    }
}

/// Sweeps at start and then every hour until `stop`.
pub async fn run(db: DatabaseConnection, cipher: PiiCipher, stop: CancellationToken) {
    loop {
        match sweep(&db, &cipher).await {
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
