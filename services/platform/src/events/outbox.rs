//! Writing events: one outbox row per event, in the transaction that makes the change, each
//! with a producer span whose context the event carries to its consumers.

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};
use tracing::Instrument as _;

/// Adds `payload` to the outbox inside `txn`. The event exists if and only if `txn` commits.
pub async fn append<C, M>(txn: &C, subject: &str, payload: &M) -> Result<String, DbErr>
where
    C: ConnectionTrait,
    M: prost::Message + prost::Name,
{
    let event_id = uuid::Uuid::now_v7().to_string();
    // OpenTelemetry's messaging conventions: a producer span per message sent.
    let span = tracing::info_span!(
        "event.send",
        otel.name = %format!("send {}", M::full_name()),
        otel.kind = "producer",
        messaging.system = "kefu",
        messaging.operation.type = "send",
        messaging.destination.name = %M::PACKAGE,
        messaging.message.id = %event_id,
    );
    let traceparent = crate::telemetry::traceparent_of(&span);
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
            traceparent.into(),
            chrono::Utc::now().into(),
        ])
        .on_conflict(OnConflict::column("event_id").do_nothing().to_owned())
        .to_owned();
    txn.execute(&insert).instrument(span).await?;
    Ok(event_id)
}
