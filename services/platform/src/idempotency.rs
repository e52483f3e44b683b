//! `request_id` idempotency: the first request with an id claims it inside the transaction
//! that makes its change and stores its answer there; a retry gets that answer back, and the
//! same id with another request is refused.

use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait as _,
};
use sha2::{Digest as _, Sha256};

use crate::error::FieldViolation;

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

/// Longest request_id a client may send.
pub const MAX_REQUEST_ID: usize = 128;

/// Fingerprint of a request, taken with its request_id field cleared by the caller.
pub fn fingerprint(request: &impl prost::Message) -> String {
    hex::encode(Sha256::digest(request.encode_to_vec()))
}

/// What a retry is known by: the request_id, taken out of `body`, and the fingerprint of
/// the rest. A request_id longer than [`MAX_REQUEST_ID`] is a bad field.
pub fn retry_keys<M: prost::Message>(
    body: &mut M,
    request_id: impl FnOnce(&mut M) -> &mut String,
) -> Result<(String, String), Vec<FieldViolation>> {
    let id = std::mem::take(request_id(body));
    if id.len() > MAX_REQUEST_ID {
        return Err(vec![FieldViolation {
            field: "request_id".into(),
            description: format!("at most {MAX_REQUEST_ID} characters"),
        }]);
    }
    Ok((id, fingerprint(body)))
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

/// Looks a request_id up without claiming it: `Some(Replay)` for an answered id, an error
/// for an id used with another request, `None` for an unseen one. Lets a handler answer a
/// retry before doing slow work such as calling another service; the claim inside the
/// transaction still decides races.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    request_id: &str,
    request_fingerprint: &str,
) -> Result<Option<Claim>, IdempotencyError> {
    let select = Query::select()
        .columns(["request_hash", "response"])
        .from("kefu_idempotency")
        .and_where(Expr::col("scope").eq(scope))
        .and_where(Expr::col("request_id").eq(request_id))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let stored_hash: String = row.try_get("", "request_hash")?;
    if stored_hash != request_fingerprint {
        return Err(IdempotencyError::Mismatch);
    }
    Ok(Some(Claim::Replay(row.try_get("", "response")?)))
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

/// A change's transaction and, when the request named one, its request_id claim.
#[derive(Debug)]
pub struct Mutation {
    pub txn: DatabaseTransaction,
    claim: Option<(String, String)>,
}

/// How a mutation began.
#[derive(Debug)]
pub enum Begun {
    /// Go ahead, then [`Mutation::commit`] with the answer.
    Fresh(Mutation),
    /// A retry: the first request's recorded answer.
    Replay(Vec<u8>),
}

/// Opens a change's transaction and claims `request_id` (empty: none) in `scope`.
pub async fn begin(
    db: &DatabaseConnection,
    scope: &str,
    request_id: &str,
    request_fingerprint: &str,
) -> Result<Begun, IdempotencyError> {
    let txn = db.begin().await?;
    if request_id.is_empty() {
        return Ok(Begun::Fresh(Mutation { txn, claim: None }));
    }
    match claim(&txn, scope, request_id, request_fingerprint).await? {
        Claim::New => Ok(Begun::Fresh(Mutation {
            txn,
            claim: Some((scope.to_owned(), request_id.to_owned())),
        })),
        Claim::Replay(answer) => {
            txn.rollback().await?;
            Ok(Begun::Replay(answer))
        }
    }
}

impl Mutation {
    /// Records `answer` under the claimed request_id, if any, and commits.
    pub async fn commit(self, answer: &[u8]) -> Result<(), DbErr> {
        if let Some((scope, request_id)) = &self.claim {
            record(&self.txn, scope, request_id, answer).await?;
        }
        self.txn.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any prost message with a request_id will do; this one is the platform's own.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Request {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(string, tag = "2")]
        request_id: String,
    }

    #[test]
    fn retries_are_known_by_their_id_and_the_rest_of_the_request() {
        let mut first = Request {
            name: "a".into(),
            request_id: "r-1".into(),
        };
        let (id, fingerprint) = retry_keys(&mut first, |r| &mut r.request_id).unwrap();
        assert_eq!(id, "r-1");
        assert!(first.request_id.is_empty(), "taken out of the request");
        let mut same_body_other_id = Request {
            name: "a".into(),
            request_id: "r-2".into(),
        };
        let (_, other) = retry_keys(&mut same_body_other_id, |r| &mut r.request_id).unwrap();
        assert_eq!(fingerprint, other, "the id is not part of the fingerprint");

        let mut longest = Request {
            name: "a".into(),
            request_id: "x".repeat(MAX_REQUEST_ID),
        };
        assert!(retry_keys(&mut longest, |r| &mut r.request_id).is_ok());
        let mut too_long = Request {
            name: "a".into(),
            request_id: "x".repeat(MAX_REQUEST_ID + 1),
        };
        let refused = retry_keys(&mut too_long, |r| &mut r.request_id).unwrap_err();
        assert_eq!(refused[0].field, "request_id");
    }
}
