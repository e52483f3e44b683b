//! CR-9 key rotation: every customer's personal data re-sealed under the active key, in the
//! background and in small transactions, while reads go on (old keys still open envelopes).

use chrono::{DateTime, Utc};
use kefu_platform::db::Exclusive;
use kefu_proto::customer as pb;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait as _};

use crate::api::{CustomerRegistryApi, timestamp};
use crate::domain::Viewer;
use crate::store::{self, ListFilter};

const BATCH: u64 = 100;
/// Held while a rotation is checked for and started: replicas asked at once start one.
const START_LOCK: &str = "customer-registry.key-rotation.start";
/// Held by the replica running the rotation, for as long as it runs.
const RUN_LOCK: &str = "customer-registry.key-rotation.run";

fn state_code(state: pb::KeyRotationState) -> &'static str {
    state.as_str_name()
}

pub(crate) async fn get(
    api: &CustomerRegistryApi,
    id: &str,
) -> Result<Option<pb::KeyRotation>, DbErr> {
    let select = Query::select()
        .columns([
            "id",
            "target_key_id",
            "state",
            "total_rows",
            "done_rows",
            "started_at",
            "ended_at",
            "error",
        ])
        .from("key_rotations")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let Some(row) = api.db.query_one(&select).await? else {
        return Ok(None);
    };
    let state: String = row.try_get("", "state")?;
    let ended: Option<DateTime<Utc>> = row.try_get("", "ended_at")?;
    Ok(Some(pb::KeyRotation {
        id: row.try_get("", "id")?,
        target_key_id: row.try_get("", "target_key_id")?,
        state: pb::KeyRotationState::from_str_name(&state).unwrap_or_default() as i32,
        total_rows: row.try_get("", "total_rows")?,
        done_rows: row.try_get("", "done_rows")?,
        start_time: Some(timestamp(row.try_get("", "started_at")?)),
        end_time: ended.map(timestamp),
        error: row.try_get("", "error")?,
    }))
}

/// A running rotation, if one is under way.
pub(crate) async fn running<C: ConnectionTrait>(db: &C) -> Result<Option<String>, DbErr> {
    let select = Query::select()
        .column("id")
        .from("key_rotations")
        .and_where(Expr::col("state").eq(state_code(pb::KeyRotationState::Running)))
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get("", "id")?),
        None => None,
    })
}

/// The rotation under way, or a new one toward the active key: one at a time across
/// replicas, since the check and the insert run under one lock.
pub(crate) async fn start(api: &CustomerRegistryApi) -> Result<String, DbErr> {
    let txn = api.db.begin().await?;
    kefu_platform::db::lock_in(&txn, START_LOCK).await?;
    if let Some(id) = running(&txn).await? {
        txn.commit().await?;
        return Ok(id);
    }
    let total = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "n")
        .from("customers")
        .to_owned();
    let total: i64 = match txn.query_one(&total).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    let id = uuid::Uuid::now_v7().to_string();
    let insert = Query::insert()
        .into_table("key_rotations")
        .columns([
            "id",
            "target_key_id",
            "state",
            "total_rows",
            "done_rows",
            "started_at",
            "ended_at",
            "error",
        ])
        .values_panic([
            id.as_str().into(),
            api.cipher.active_key_id().into(),
            state_code(pb::KeyRotationState::Running).into(),
            total.into(),
            0i64.into(),
            Utc::now().into(),
            Option::<DateTime<Utc>>::None.into(),
            "".into(),
        ])
        .to_owned();
    txn.execute(&insert).await?;
    txn.commit().await?;
    Ok(id)
}

/// Runs rotation `id` here unless this process or another replica already does: a
/// rotation whose runner died is resumed from the start by the next caller (re-sealing a
/// row twice is harmless).
pub(crate) async fn resume(api: &CustomerRegistryApi, id: String) {
    let Ok(here) = api.rotating.clone().try_lock_owned() else {
        return;
    };
    let exclusive = match Exclusive::try_take(&api.db, RUN_LOCK).await {
        Ok(Some(exclusive)) => exclusive,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, rotation = %id, "cannot tell who runs the key rotation");
            return;
        }
    };
    let api = api.clone();
    tokio::spawn(async move {
        run(&api, &id).await;
        if let Err(e) = exclusive.release().await {
            tracing::warn!(error = %e, "key rotation lock not released; it ends with the connection");
        }
        drop(here);
    });
}

async fn progress(
    api: &CustomerRegistryApi,
    id: &str,
    done: i64,
    state: pb::KeyRotationState,
    error: &str,
) -> Result<(), DbErr> {
    let mut update = Query::update()
        .table("key_rotations")
        .value("done_rows", done)
        .value("state", state_code(state))
        .value("error", error)
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    if state != pb::KeyRotationState::Running {
        update.value("ended_at", Utc::now());
    }
    api.db.execute(&update).await?;
    Ok(())
}

/// Re-seals every customer, a batch at a time; each row's version stays, only its envelopes
/// change. Safe to run again: a row already under the active key is sealed again, no more.
async fn run(api: &CustomerRegistryApi, id: &str) {
    let everyone = Viewer {
        subject: String::new(),
        restricted_to_own: false,
        team: String::new(),
    };
    let mut filter = ListFilter {
        show_archived: true,
        ..Default::default()
    };
    let mut done = 0i64;
    let result: Result<(), String> = async {
        loop {
            let page = store::list(&api.db, &api.cipher, &everyone, &filter, BATCH)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last().map(|c| c.id.clone()) else {
                return Ok(());
            };
            let txn = api.db.begin().await.map_err(|e| e.to_string())?;
            for customer in &page {
                // Same version: a concurrent change wins, and it is sealed under the active key anyway.
                store::update_if_version(&txn, &api.cipher, customer, customer.version)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            txn.commit().await.map_err(|e| e.to_string())?;
            done += page.len() as i64;
            progress(api, id, done, pb::KeyRotationState::Running, "")
                .await
                .map_err(|e| e.to_string())?;
            filter.after_id = Some(last);
        }
    }
    .await;
    let (state, error) = match result {
        Ok(()) => (pb::KeyRotationState::Done, String::new()),
        Err(e) => (pb::KeyRotationState::Failed, e),
    };
    if let Err(e) = progress(api, id, done, state, &error).await {
        tracing::warn!(error = %e, rotation = %id, "key rotation progress not stored");
    }
    tracing::info!(rotation = %id, rows = done, state = state.as_str_name(), "key rotation ended");
}
