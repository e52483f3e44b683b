//! `request_id` idempotency: the first request with an id claims it inside the transaction
//! that makes its change and stores its answer there; a retry gets that answer back, and the
//! same id with another request is refused.

use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest as _, Sha256};

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time this id is seen: make the change, then [`record`] the answer.
    New,
    /// A retry: answer with these bytes and change nothing.
    Replay(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("request_id was already used for a different request")]
    Mismatch,
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Fingerprint of a request, taken with its request_id field cleared by the caller.
pub fn fingerprint(request: &impl prost::Message) -> String {
    hex::encode(Sha256::digest(request.encode_to_vec()))
}

/// Claims `request_id` in `scope` (method and caller) inside the caller's transaction.
///
/// On PostgreSQL a concurrent claim of the same id waits on the unique key until the first
/// transaction ends, then sees its committed answer; so concurrent retries make one change.
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    scope: &str,
    request_id: &str,
    request_fingerprint: &str,
) -> Result<Claim, IdempotencyError> {
    let insert = Query::insert()
        .into_table("kefu_idempotency")
        .columns([
            "scope",
            "request_id",
            "request_hash",
            "response",
            "created_at",
        ])
        .values_panic([
            scope.into(),
            request_id.into(),
            request_fingerprint.into(),
            Vec::<u8>::new().into(),
            chrono::Utc::now().into(),
        ])
        .on_conflict(
            OnConflict::columns(["scope", "request_id"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    if txn.execute(&insert).await?.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let select = Query::select()
        .columns(["request_hash", "response"])
        .from("kefu_idempotency")
        .and_where(Expr::col("scope").eq(scope))
        .and_where(Expr::col("request_id").eq(request_id))
        .to_owned();
    let row = txn
        .query_one(&select)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("idempotency record vanished".into()))?;
    let stored_hash: String = row.try_get("", "request_hash")?;
    if stored_hash != request_fingerprint {
        return Err(IdempotencyError::Mismatch);
    }
    Ok(Claim::Replay(row.try_get("", "response")?))
}

/// Stores the answer of a [`Claim::New`] request, in the same transaction.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    scope: &str,
    request_id: &str,
    response: &[u8],
) -> Result<(), DbErr> {
    let update = Query::update()
        .table("kefu_idempotency")
        .value("response", response.to_vec())
        .and_where(Expr::col("scope").eq(scope))
        .and_where(Expr::col("request_id").eq(request_id))
        .to_owned();
    txn.execute(&update).await?;
    Ok(())
}
