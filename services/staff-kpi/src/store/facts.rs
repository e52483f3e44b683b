//! SK-2: the facts, one row per event, and the facts one person's figures need.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};

use super::{Result, corrupt};
use crate::domain::fact::{Fact, FactKind};

const COLUMNS: [&str; 14] = [
    "event_id",
    "source",
    "event_type",
    "kind",
    "staff_id",
    "subject_id",
    "ref_id",
    "occurred_at",
    "recorded_at",
    "amount",
    "flag",
    "code",
    "seq",
    "customer_id",
];

fn of(row: &QueryResult) -> Result<Fact> {
    let event_id: String = row.try_get("", "event_id")?;
    let kind: String = row.try_get("", "kind")?;
    Ok(Fact {
        kind: FactKind::from_code(&kind).ok_or_else(|| corrupt(&event_id, "kind"))?,
        source: row.try_get("", "source")?,
        event_type: row.try_get("", "event_type")?,
        staff_id: row.try_get("", "staff_id")?,
        subject_id: row.try_get("", "subject_id")?,
        ref_id: row.try_get("", "ref_id")?,
        at: row.try_get("", "occurred_at")?,
        amount: row.try_get("", "amount")?,
        flag: row.try_get("", "flag")?,
        code: row.try_get("", "code")?,
        seq: row.try_get("", "seq")?,
        customer_id: row.try_get("", "customer_id")?,
        event_id,
    })
}

/// Records a fact once: its event's id is its key, so a replayed event adds nothing.
pub async fn record<C: ConnectionTrait>(db: &C, f: &Fact, now: DateTime<Utc>) -> Result<bool> {
    let insert = Query::insert()
        .into_table("facts")
        .columns(COLUMNS)
        .values_panic([
            f.event_id.as_str().into(),
            f.source.as_str().into(),
            f.event_type.as_str().into(),
            f.kind.code().into(),
            f.staff_id.as_str().into(),
            f.subject_id.as_str().into(),
            f.ref_id.as_str().into(),
            f.at.into(),
            now.into(),
            f.amount.into(),
            f.flag.into(),
            f.code.as_str().into(),
            f.seq.into(),
            f.customer_id.as_str().into(),
        ])
        .on_conflict(OnConflict::column("event_id").do_nothing().to_owned())
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn get<C: ConnectionTrait>(db: &C, event_id: &str) -> Result<Option<Fact>> {
    let select = Query::select()
        .columns(COLUMNS)
        .from("facts")
        .and_where(Expr::col("event_id").eq(event_id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(of).transpose()
}

fn subjects_of(kind: FactKind, staff_id: &str) -> SelectStatement {
    Query::select()
        .column("subject_id")
        .from("facts")
        .and_where(Expr::col("kind").eq(kind.code()))
        .and_where(Expr::col("staff_id").eq(staff_id))
        .to_owned()
}

/// Every fact one person's figures over [start, end) may rest on, received before `cutoff`:
/// their own facts in the period; the follow-ups of the cases they resolved; every fact of
/// the complaints that ever named them; the deliveries of the orders they delivered and the
/// complaints about those orders. The rules pick from these; more is harmless.
pub async fn for_person<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<Fact>> {
    let own = Expr::col("staff_id")
        .eq(staff_id)
        .and(Expr::col("occurred_at").gte(start))
        .and(Expr::col("occurred_at").lt(end));
    let follow_ups = Expr::col("kind")
        .eq(FactKind::FollowUp.code())
        .and(Expr::col("subject_id").in_subquery(subjects_of(FactKind::Resolution, staff_id)));
    let complaints = Expr::col("kind").eq(FactKind::Complaint.code()).and(
        Expr::col("subject_id")
            .in_subquery(subjects_of(FactKind::Complaint, staff_id))
            .or(Expr::col("ref_id").in_subquery(subjects_of(FactKind::Delivery, staff_id))),
    );
    let deliveries = Expr::col("kind")
        .eq(FactKind::Delivery.code())
        .and(Expr::col("subject_id").in_subquery(subjects_of(FactKind::Delivery, staff_id)));
    let select = Query::select()
        .columns(COLUMNS)
        .from("facts")
        .and_where(Expr::col("recorded_at").lt(cutoff))
        .and_where(own.or(follow_ups).or(complaints).or(deliveries))
        .order_by("event_id", sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(of).collect()
}

/// Facts of `kind` recorded so far (tests, reports).
pub async fn count<C: ConnectionTrait>(db: &C, kind: FactKind) -> Result<i64> {
    let select = Query::select()
        .expr_as(Expr::col("event_id").count(), "n")
        .from("facts")
        .and_where(Expr::col("kind").eq(kind.code()))
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    })
}
