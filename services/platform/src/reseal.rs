//! CR-9 and X-4 for every service: a column of sealed text is swept in the background, and
//! each value not sealed under the active key (an older key's envelope, or text written
//! before the column was sealed) is sealed under it, so a retired key can be removed once
//! every service's sweep is done and no text stays in clear.
//!
//! Each value is swapped only if it is still the one read (compare-and-swap): a row written
//! meanwhile is already under the active key and wins, and replicas sweeping at once only
//! repeat work. One replica sweeps a column at a time.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, LikeExpr, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::db::Exclusive;
use crate::pii::{PiiCipher, PiiError};

const BATCH: u64 = 500;
/// Sweeps again this often: rows written by replicas still on the old key during a rolling
/// deploy are caught by the next sweep.
const EVERY: Duration = Duration::from_secs(3600);

/// A column of sealed text: `column` of `table`, its rows named by `id`, each value sealed
/// for the binding `binding(id)`.
#[derive(Clone, Copy, Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub id: &'static str,
    pub column: &'static str,
    pub binding: fn(&str) -> String,
}

/// Why a sealed document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("{table} {id}: {what}")]
    Corrupt {
        table: &'static str,
        id: String,
        what: String,
    },
}

impl SealedColumn {
    /// `value` as JSON, sealed for row `id`.
    pub fn seal_json<T: Serialize>(&self, cipher: &PiiCipher, id: &str, value: &T) -> String {
        self.seal(
            cipher,
            id,
            &serde_json::to_string(value).unwrap_or_default(),
        )
    }

    /// The first row of `select` (a select from this column's table with its filters; the
    /// id and the sealed column are added here), opened and parsed; locked until the
    /// transaction ends on PostgreSQL when `lock`.
    pub async fn read_one<C: ConnectionTrait, T: DeserializeOwned>(
        &self,
        db: &C,
        cipher: &PiiCipher,
        mut select: SelectStatement,
        lock: bool,
    ) -> Result<Option<T>, SealedError> {
        select
            .column(Alias::new(self.id))
            .column(Alias::new(self.column));
        if lock && db.get_database_backend() == DbBackend::Postgres {
            select.lock(sea_orm::sea_query::LockType::Update);
        }
        match db.query_one(&select).await? {
            Some(row) => Ok(Some(self.parse_row(cipher, &row)?)),
            None => Ok(None),
        }
    }

    /// Every row of `select`, opened and parsed, as [`SealedColumn::read_one`] reads one.
    pub async fn read_all<C: ConnectionTrait, T: DeserializeOwned>(
        &self,
        db: &C,
        cipher: &PiiCipher,
        select: &SelectStatement,
    ) -> Result<Vec<T>, SealedError> {
        let mut select = select.clone();
        select
            .column(Alias::new(self.id))
            .column(Alias::new(self.column));
        db.query_all(&select)
            .await?
            .iter()
            .map(|row| self.parse_row(cipher, row))
            .collect()
    }

    fn parse_row<T: DeserializeOwned>(
        &self,
        cipher: &PiiCipher,
        row: &QueryResult,
    ) -> Result<T, SealedError> {
        let id: String = row.try_get("", self.id)?;
        let stored: String = row.try_get("", self.column)?;
        let corrupt = |what: String| SealedError::Corrupt {
            table: self.table,
            id: id.clone(),
            what,
        };
        let json = self
            .open(cipher, &id, &stored)
            .map_err(|e| corrupt(format!("{} does not open: {e}", self.column)))?;
        serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))
    }

    /// `plain`, sealed for row `id` of this column under the active key.
    pub fn seal(&self, cipher: &PiiCipher, id: &str, plain: &str) -> String {
        cipher.encrypt(&(self.binding)(id), plain)
    }

    /// A stored value of row `id` in clear: opened when sealed, as it is when written before
    /// the column was sealed (the sweep seals those).
    pub fn open(&self, cipher: &PiiCipher, id: &str, value: &str) -> Result<String, PiiError> {
        if is_sealed(value) {
            cipher.decrypt(&(self.binding)(id), value)
        } else {
            Ok(value.to_owned())
        }
    }
}

/// What one sweep did (nothing when another replica was sweeping).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Values not under the active key when the sweep reached them.
    pub scanned: u64,
    pub resealed: u64,
    /// Values no configured key opens; left as they are and logged.
    pub unreadable: u64,
}

/// Whether `value` is an envelope (sealed text) rather than text written in clear.
pub fn is_sealed(value: &str) -> bool {
    PiiCipher::key_id_of(value).is_ok()
}

/// Re-seals every value of `sealed` not under the active key; returns what it did.
pub async fn sweep(
    db: &DatabaseConnection,
    cipher: &PiiCipher,
    sealed: SealedColumn,
) -> Result<Sweep, DbErr> {
    let active = cipher.active_key_id();
    let mut done = Sweep::default();
    let mut after = String::new();
    loop {
        let rows = not_under(db, sealed, active, &after).await?;
        let Some((last, _)) = rows.last() else {
            return Ok(done);
        };
        after = last.clone();
        for (id, value) in rows {
            done.scanned += 1;
            if PiiCipher::key_id_of(&value).is_ok_and(|kid| kid == active) {
                continue;
            }
            let binding = (sealed.binding)(&id);
            let plain = if is_sealed(&value) {
                match cipher.decrypt(&binding, &value) {
                    Ok(plain) => plain,
                    Err(e) => {
                        done.unreadable += 1;
                        tracing::error!(table = sealed.table, column = sealed.column, id = %id, error = %e, "a sealed value opens under no configured key");
                        continue;
                    }
                }
            } else {
                value.clone()
            };
            let resealed = cipher.encrypt(&binding, &plain);
            if swap(db, sealed, &id, &value, &resealed).await? {
                done.resealed += 1;
            }
        }
    }
}

/// A service's background tasks that sweep each of its sealed columns (see [`run`]).
pub fn tasks(
    db: &DatabaseConnection,
    cipher: &PiiCipher,
    columns: &[SealedColumn],
    stop: &CancellationToken,
) -> Vec<crate::service::Task> {
    columns
        .iter()
        .map(|column| {
            crate::service::Task::new(
                "reseal",
                run(db.clone(), cipher.clone(), *column, stop.clone()),
            )
        })
        .collect()
}

/// Sweeps `sealed` at start and then every hour until `stop`, one replica at a time.
pub async fn run(
    db: DatabaseConnection,
    cipher: PiiCipher,
    sealed: SealedColumn,
    stop: CancellationToken,
) {
    let lock = format!("kefu.reseal.{}.{}", sealed.table, sealed.column);
    loop {
        match sweep_if_free(&db, &cipher, sealed, &lock).await {
            Ok(Some(s)) if s.resealed > 0 || s.unreadable > 0 => tracing::info!(
                table = sealed.table,
                column = sealed.column,
                scanned = s.scanned,
                resealed = s.resealed,
                unreadable = s.unreadable,
                key_id = cipher.active_key_id(),
                "values sealed under the active key"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                table = sealed.table,
                column = sealed.column,
                error = %e,
                "sealing under the active key failed; the next sweep retries"
            ),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn sweep_if_free(
    db: &DatabaseConnection,
    cipher: &PiiCipher,
    sealed: SealedColumn,
    lock: &str,
) -> Result<Option<Sweep>, DbErr> {
    let Some(exclusive) = Exclusive::try_take(db, lock).await? else {
        return Ok(None);
    };
    let done = sweep(db, cipher, sealed).await;
    exclusive.release().await?;
    done.map(Some)
}

/// Up to a batch of (id, value) after `after` whose value is not an envelope of `active`.
async fn not_under(
    db: &DatabaseConnection,
    sealed: SealedColumn,
    active: &str,
    after: &str,
) -> Result<Vec<(String, String)>, DbErr> {
    let (id, column) = (Alias::new(sealed.id), Alias::new(sealed.column));
    let page = Query::select()
        .expr_as(Expr::col(id.clone()), Alias::new("id"))
        .expr_as(Expr::col(column.clone()), Alias::new("value"))
        .from(Alias::new(sealed.table))
        .and_where(Expr::col(id.clone()).gt(after))
        .and_where(Expr::col(column.clone()).is_not_null())
        .and_where(Expr::col(column.clone()).ne(""))
        .and_where(
            Expr::col(column)
                .not_like(LikeExpr::new(format!("v1.{}.%", escape_like(active))).escape('\\')),
        )
        .order_by(id, Order::Asc)
        .limit(BATCH)
        .to_owned();
    db.query_all(&page)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "value")?)))
        .collect()
}

/// `_` in a key id is a LIKE wildcard; `%` and backslashes cannot occur in one but are
/// escaped all the same.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Replaces a value if it is still `old`; true when replaced.
async fn swap(
    db: &DatabaseConnection,
    sealed: SealedColumn,
    id: &str,
    old: &str,
    new: &str,
) -> Result<bool, DbErr> {
    let column = Alias::new(sealed.column);
    let swap = Query::update()
        .table(Alias::new(sealed.table))
        .value(column.clone(), new)
        .and_where(Expr::col(Alias::new(sealed.id)).eq(id))
        .and_where(Expr::col(column).eq(old))
        .to_owned();
    Ok(db.execute(&swap).await?.rows_affected() == 1)
}
