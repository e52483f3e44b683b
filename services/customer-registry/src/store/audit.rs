//! The audit trail of unmasked reads (CR-9): appended before an answer with personal data
//! leaves, read back newest first.

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use super::entity::pii_audit;
use crate::domain::secrecy::AuditRecord;

/// One unmasked read to write to the audit trail.
#[derive(Debug)]
pub struct UnmaskedRead<'a> {
    pub actor_id: &'a str,
    pub actor_role: &'a str,
    pub purpose: &'a str,
    pub rpc: &'a str,
    pub trace_id: &'a str,
}

/// Appends one audit row per customer shown, with the fields shown.
pub async fn append<C: ConnectionTrait>(
    db: &C,
    read: &UnmaskedRead<'_>,
    shown: &[(&str, Vec<&str>)],
) -> Result<(), DbErr> {
    if shown.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = shown
        .iter()
        .map(|(customer_id, fields)| pii_audit::ActiveModel {
            actor_id: Set(read.actor_id.to_owned()),
            actor_role: Set(read.actor_role.to_owned()),
            customer_id: Set((*customer_id).to_owned()),
            fields: Set(fields.join(",")),
            purpose: Set(read.purpose.to_owned()),
            rpc: Set(read.rpc.to_owned()),
            trace_id: Set(read.trace_id.to_owned()),
            read_at: Set(now),
            ..Default::default()
        });
    pii_audit::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Audit rows, newest first, optionally of one customer or one actor, before row `before`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    customer_id: Option<&str>,
    actor_id: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditRecord>, DbErr> {
    let mut query = pii_audit::Entity::find()
        .order_by_desc(pii_audit::Column::Id)
        .limit(limit);
    if let Some(customer_id) = customer_id {
        query = query.filter(pii_audit::Column::CustomerId.eq(customer_id));
    }
    if let Some(actor_id) = actor_id {
        query = query.filter(pii_audit::Column::ActorId.eq(actor_id));
    }
    if let Some(before) = before {
        query = query.filter(pii_audit::Column::Id.lt(before));
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .map(|r| AuditRecord {
            id: r.id,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            customer_id: r.customer_id,
            fields: r
                .fields
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            purpose: r.purpose,
            rpc: r.rpc,
            read_at: r.read_at,
            trace_id: r.trace_id,
        })
        .collect())
}
