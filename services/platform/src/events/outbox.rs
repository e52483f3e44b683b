//! Writing events: one outbox row per event, in the transaction that makes the change.

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

/// Adds `payload` to the outbox inside `txn`. The event exists if and only if `txn` commits.
pub async fn append<C, M>(txn: &C, subject: &str, payload: &M) -> Result<String, DbErr>
where
    C: ConnectionTrait,
    M: prost::Message + prost::Name,
{
    let event_id = uuid::Uuid::now_v7().to_string();
    let insert = Query::insert()
        .into_table("kefu_outbox")
        .columns([
            "event_id",
            "event_type",
            "subject",
            "payload",
            "traceparent",
            "occurred_at",
        ])
        .values_panic([
            event_id.clone().into(),
            M::full_name().into(),
            subject.into(),
            payload.encode_to_vec().into(),
            crate::telemetry::current_traceparent().into(),
            chrono::Utc::now().into(),
        ])
        .on_conflict(OnConflict::column("event_id").do_nothing().to_owned())
        .to_owned();
    txn.execute(&insert).await?;
    Ok(event_id)
}
