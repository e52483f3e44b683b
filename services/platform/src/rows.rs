//! What the stores that keep documents as JSON rows share: their error, reading one document
//! (locked or not) or all of a select, locking a select for update, and paging by id.

use sea_orm::sea_query::{Expr, ExprTrait as _, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::reseal::SealedError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("stored {id} is corrupt: {what}")]
    Corrupt { id: String, what: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl From<SealedError> for StoreError {
    fn from(e: SealedError) -> Self {
        match e {
            SealedError::Database(e) => StoreError::Database(e),
            SealedError::Corrupt { table, id, what } => corrupt(&format!("{table} {id}"), what),
        }
    }
}

pub fn corrupt(id: &str, what: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        id: id.to_owned(),
        what: what.into(),
    }
}

/// `value` as the JSON a document column holds.
pub fn json<T: Serialize>(value: &T) -> String {
    // Serialising plain data (no maps with non-string keys) cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// The JSON document in `column` of `row`, parsed; `id` names the row when it is corrupt.
pub fn parse<T: DeserializeOwned>(row: &QueryResult, column: &str, id: &str) -> Result<T> {
    let text: String = row.try_get("", column)?;
    serde_json::from_str(&text).map_err(|e| corrupt(id, e.to_string()))
}

/// `select`, locked until the transaction ends on PostgreSQL (SQLite has one writer).
pub fn for_update<C: ConnectionTrait>(db: &C, select: &mut SelectStatement) {
    if db.get_database_backend() == DbBackend::Postgres {
        select.lock(sea_orm::sea_query::LockType::Update);
    }
}

/// The `document` of every row of `select`; `what` names them when one is corrupt.
pub async fn documents<C: ConnectionTrait, T: DeserializeOwned>(
    db: &C,
    select: &SelectStatement,
    what: &str,
) -> Result<Vec<T>> {
    db.query_all(select)
        .await?
        .iter()
        .map(|row| parse(row, "document", what))
        .collect()
}

/// The `document` of the first row of `select`, locked for update when `lock`.
pub async fn one_document<C: ConnectionTrait, T: DeserializeOwned>(
    db: &C,
    mut select: SelectStatement,
    lock: bool,
    what: &str,
) -> Result<Option<T>> {
    if lock {
        for_update(db, &mut select);
    }
    match db.query_one(&select).await? {
        Some(row) => Ok(Some(parse(&row, "document", what)?)),
        None => Ok(None),
    }
}

/// Rows after `after` by id, at most `limit`.
pub fn page(select: &mut SelectStatement, id: &'static str, after: Option<&str>, limit: u64) {
    select.order_by(id, sea_orm::Order::Asc).limit(limit);
    if let Some(after) = after {
        select.and_where(Expr::col(id).gt(after));
    }
}
