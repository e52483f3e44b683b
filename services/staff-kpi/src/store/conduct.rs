//! SK-5, SK-6: conduct breaches, training plans and attendance records, as documents beside
//! the columns their lists filter on.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};

use kefu_platform::pii::PiiCipher;
use kefu_platform::reseal::SealedColumn;

use super::{Result, documents, json, one_document, page};
use crate::domain::conduct::{Breach, TrainingPlan, TrainingRecord};

/// what a breach was and where its evidence is kept are sensitive facts about a person,
/// sealed at rest.
pub const SEALED_BREACHES: SealedColumn = SealedColumn {
    table: "breaches",
    id: "id",
    column: "document",
    binding: |id| format!("breaches/{id}/document"),
};

pub async fn insert_breach<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    b: &Breach,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("breaches")
        .columns([
            "id",
            "staff_id",
            "event_id",
            "upheld_dispute_id",
            "document",
            "occurred_at",
        ])
        .values_panic([
            b.id.as_str().into(),
            b.staff_id.as_str().into(),
            b.event_id.as_str().into(),
            b.upheld_dispute_id.as_str().into(),
            SEALED_BREACHES.seal_json(cipher, &b.id, b).into(),
            b.occurred_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn breach<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    id: &str,
) -> Result<Option<Breach>> {
    let select = Query::select()
        .from("breaches")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    Ok(SEALED_BREACHES.read_one(db, cipher, select, false).await?)
}

/// SK-5: an upheld dispute of the breach's event takes it out; the breach says so.
pub async fn mark_upheld<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    event_id: &str,
    dispute_id: &str,
) -> Result<()> {
    let select = Query::select()
        .from("breaches")
        .and_where(Expr::col("event_id").eq(event_id))
        .to_owned();
    if let Some(mut b) = SEALED_BREACHES
        .read_one::<_, Breach>(db, cipher, select, false)
        .await?
    {
        b.upheld_dispute_id = dispute_id.to_owned();
        let update = Query::update()
            .table("breaches")
            .value("upheld_dispute_id", dispute_id)
            .value("document", SEALED_BREACHES.seal_json(cipher, &b.id, &b))
            .and_where(Expr::col("id").eq(b.id.as_str()))
            .to_owned();
        db.execute(&update).await?;
    }
    Ok(())
}

pub async fn breaches<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    staff_id: Option<&str>,
    people: Option<&[String]>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Breach>> {
    let mut select = Query::select().from("breaches").to_owned();
    if let Some(staff) = staff_id {
        select.and_where(Expr::col("staff_id").eq(staff));
    }
    if let Some(people) = people {
        select.and_where(Expr::col("staff_id").is_in(people.iter().map(String::as_str)));
    }
    page(&mut select, "id", after, limit);
    Ok(SEALED_BREACHES.read_all(db, cipher, &select).await?)
}

pub async fn insert_plan<C: ConnectionTrait>(db: &C, p: &TrainingPlan) -> Result<()> {
    let insert = Query::insert()
        .into_table("training_plans")
        .columns(["id", "document", "session_time"])
        .values_panic([p.id.as_str().into(), json(p).into(), p.session_time.into()])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn plan<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<TrainingPlan>> {
    let select = Query::select()
        .column("document")
        .from("training_plans")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    one_document(db, select, false, &format!("training plan {id}")).await
}

pub async fn plans<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<TrainingPlan>> {
    let mut select = Query::select()
        .column("document")
        .from("training_plans")
        .to_owned();
    page(&mut select, "id", after, limit);
    documents(db, &select, "training plan").await
}

/// Adds an attendance record; `false` when the person's attendance of the plan is recorded.
pub async fn insert_record<C: ConnectionTrait>(db: &C, r: &TrainingRecord) -> Result<bool> {
    let insert = Query::insert()
        .into_table("training_records")
        .columns(["id", "plan_id", "staff_id", "event_id", "document"])
        .values_panic([
            r.id.as_str().into(),
            r.plan_id.as_str().into(),
            r.staff_id.as_str().into(),
            r.event_id.as_str().into(),
            json(r).into(),
        ])
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns(["plan_id", "staff_id"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn record_of<C: ConnectionTrait>(
    db: &C,
    plan_id: &str,
    staff_id: &str,
) -> Result<Option<TrainingRecord>> {
    let select = Query::select()
        .column("document")
        .from("training_records")
        .and_where(Expr::col("plan_id").eq(plan_id))
        .and_where(Expr::col("staff_id").eq(staff_id))
        .to_owned();
    one_document(db, select, false, "training record").await
}

pub async fn records<C: ConnectionTrait>(
    db: &C,
    staff_id: Option<&str>,
    plan_id: Option<&str>,
    people: Option<&[String]>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<TrainingRecord>> {
    let mut select = Query::select()
        .column("document")
        .from("training_records")
        .to_owned();
    if let Some(staff) = staff_id {
        select.and_where(Expr::col("staff_id").eq(staff));
    }
    if let Some(plan) = plan_id {
        select.and_where(Expr::col("plan_id").eq(plan));
    }
    if let Some(people) = people {
        select.and_where(Expr::col("staff_id").is_in(people.iter().map(String::as_str)));
    }
    page(&mut select, "id", after, limit);
    documents(db, &select, "training record").await
}
