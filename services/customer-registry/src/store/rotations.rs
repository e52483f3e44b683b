//! CR-9 key rotations and their progress.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::rotation::{KeyRotation, RotationState};

/// States as stored (the contract's enum names, which rows already hold).
fn state_code(state: RotationState) -> &'static str {
    match state {
        RotationState::Running => "KEY_ROTATION_STATE_RUNNING",
        RotationState::Done => "KEY_ROTATION_STATE_DONE",
        RotationState::Failed => "KEY_ROTATION_STATE_FAILED",
    }
}

const COLUMNS: [&str; 8] = [
    "id",
    "target_key_id",
    "state",
    "total_rows",
    "done_rows",
    "started_at",
    "ended_at",
    "error",
];

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<KeyRotation>, DbErr> {
    let select = Query::select()
        .columns(COLUMNS)
        .from("key_rotations")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let state: String = row.try_get("", "state")?;
    let state = [
        RotationState::Running,
        RotationState::Done,
        RotationState::Failed,
    ]
    .into_iter()
    .find(|s| state_code(*s) == state)
    .ok_or_else(|| DbErr::Custom(format!("key_rotations.state holds {state:?}")))?;
    Ok(Some(KeyRotation {
        id: row.try_get("", "id")?,
        target_key_id: row.try_get("", "target_key_id")?,
        state,
        total_rows: row.try_get("", "total_rows")?,
        done_rows: row.try_get("", "done_rows")?,
        started_at: row.try_get("", "started_at")?,
        ended_at: row.try_get("", "ended_at")?,
        error: row.try_get("", "error")?,
    }))
}

/// The rotation under way, if any.
pub async fn running<C: ConnectionTrait>(db: &C) -> Result<Option<String>, DbErr> {
    let select = Query::select()
        .column("id")
        .from("key_rotations")
        .and_where(Expr::col("state").eq(state_code(RotationState::Running)))
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get("", "id")?),
        None => None,
    })
}

/// Every customer, archived and erased ones too: what a rotation re-seals.
pub async fn count_customers<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let total = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "n")
        .from("customers")
        .to_owned();
    Ok(match db.query_one(&total).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    })
}

pub async fn insert<C: ConnectionTrait>(db: &C, rotation: &KeyRotation) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("key_rotations")
        .columns(COLUMNS)
        .values_panic([
            rotation.id.as_str().into(),
            rotation.target_key_id.as_str().into(),
            state_code(rotation.state).into(),
            rotation.total_rows.into(),
            rotation.done_rows.into(),
            rotation.started_at.into(),
            rotation.ended_at.into(),
            rotation.error.as_str().into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// Records progress; an ending state also records when it ended.
pub async fn progress<C: ConnectionTrait>(
    db: &C,
    id: &str,
    done: i64,
    state: RotationState,
    error: &str,
) -> Result<(), DbErr> {
    let mut update = Query::update()
        .table("key_rotations")
        .value("done_rows", done)
        .value("state", state_code(state))
        .value("error", error)
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    if state != RotationState::Running {
        update.value("ended_at", Some::<DateTime<Utc>>(Utc::now()));
    }
    db.execute(&update).await?;
    Ok(())
}
