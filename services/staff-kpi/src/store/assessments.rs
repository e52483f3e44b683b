//! SK-3: periods (with the reward-rule versions fixed at their close), assessments by
//! revision with the events behind each figure, disputes, and the exclusions upheld disputes
//! made.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use kefu_platform::pii::PiiCipher;
use kefu_platform::reseal::SealedColumn;

use super::{Result, corrupt, for_update, json, page, parse};
use crate::domain::assessment::Assessment;
use crate::domain::dispute::Dispute;
use crate::domain::kpi::{Excluded, Kpi, Source};
use crate::domain::period::Period;
use crate::domain::{Cause, DisputeState, Grade, PeriodKind, PeriodState};

// Periods.

const PERIOD_COLUMNS: [&str; 8] = [
    "id",
    "kind",
    "starts_at",
    "ends_at",
    "state",
    "closed_at",
    "staff_count",
    "assessed_count",
];

fn period_of(row: &QueryResult) -> Result<Period> {
    let id: String = row.try_get("", "id")?;
    let kind: String = row.try_get("", "kind")?;
    let state: String = row.try_get("", "state")?;
    Ok(Period {
        kind: PeriodKind::from_code(&kind).ok_or_else(|| corrupt(&id, "kind"))?,
        state: PeriodState::from_code(&state).ok_or_else(|| corrupt(&id, "state"))?,
        start: row.try_get("", "starts_at")?,
        end: row.try_get("", "ends_at")?,
        closed_at: row.try_get("", "closed_at")?,
        staff_count: row.try_get("", "staff_count")?,
        assessed_count: row.try_get("", "assessed_count")?,
        id,
    })
}

/// Adds a period; `false` when it exists.
pub async fn insert_period<C: ConnectionTrait>(
    db: &C,
    p: &Period,
    now: DateTime<Utc>,
) -> Result<bool> {
    let insert = Query::insert()
        .into_table("periods")
        .columns(PERIOD_COLUMNS.into_iter().chain(["created_at"]))
        .values_panic([
            p.id.as_str().into(),
            p.kind.code().into(),
            p.start.into(),
            p.end.into(),
            p.state.code().into(),
            p.closed_at.into(),
            p.staff_count.into(),
            p.assessed_count.into(),
            now.into(),
        ])
        .on_conflict(OnConflict::column("id").do_nothing().to_owned())
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn period<C: ConnectionTrait>(db: &C, id: &str, lock: bool) -> Result<Option<Period>> {
    let mut select = Query::select()
        .columns(PERIOD_COLUMNS)
        .from("periods")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    if lock {
        for_update(db, &mut select);
    }
    db.query_one(&select)
        .await?
        .as_ref()
        .map(period_of)
        .transpose()
}

pub async fn save_period<C: ConnectionTrait>(db: &C, p: &Period) -> Result<()> {
    let update = Query::update()
        .table("periods")
        .value("state", p.state.code())
        .value("closed_at", p.closed_at)
        .value("staff_count", p.staff_count)
        .value("assessed_count", p.assessed_count)
        .and_where(Expr::col("id").eq(p.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn periods<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Period>> {
    let mut select = Query::select()
        .columns(PERIOD_COLUMNS)
        .from("periods")
        .to_owned();
    page(&mut select, "id", after, limit);
    db.query_all(&select).await?.iter().map(period_of).collect()
}

/// Periods in `states`.
pub async fn periods_in<C: ConnectionTrait>(db: &C, states: &[PeriodState]) -> Result<Vec<Period>> {
    let select = Query::select()
        .columns(PERIOD_COLUMNS)
        .from("periods")
        .and_where(Expr::col("state").is_in(states.iter().map(|s| s.code())))
        .order_by("id", sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(period_of).collect()
}

/// Closing or closed periods starting at or after `start`: the periods a formula dated
/// `start` would change.
pub async fn closed_from<C: ConnectionTrait>(
    db: &C,
    start: DateTime<Utc>,
) -> Result<Option<String>> {
    let select = Query::select()
        .column("id")
        .from("periods")
        .and_where(Expr::col("state").ne(PeriodState::Open.code()))
        .and_where(Expr::col("starts_at").gte(start))
        .order_by("starts_at", sea_orm::Order::Asc)
        .limit(1)
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get("", "id")?),
        None => None,
    })
}

/// The periods (with assessments of `staff_id`) containing `at`.
pub async fn assessed_periods_at<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Period>> {
    let assessed = Query::select()
        .column("period_id")
        .from("assessments")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .to_owned();
    let select = Query::select()
        .columns(PERIOD_COLUMNS)
        .from("periods")
        .and_where(Expr::col("starts_at").lte(at))
        .and_where(Expr::col("ends_at").gt(at))
        .and_where(Expr::col("id").in_subquery(assessed))
        .order_by("id", sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(period_of).collect()
}

/// SK-4: the rule versions that decide a period's outcomes, fixed when it closes.
pub async fn fix_rules<C: ConnectionTrait>(
    db: &C,
    period_id: &str,
    rules: &[(String, i64)],
) -> Result<()> {
    for (rule_id, version) in rules {
        let insert = Query::insert()
            .into_table("period_rules")
            .columns(["period_id", "rule_id", "rule_version"])
            .values_panic([period_id.into(), rule_id.as_str().into(), (*version).into()])
            .on_conflict(
                OnConflict::columns(["period_id", "rule_id"])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        db.execute(&insert).await?;
    }
    Ok(())
}

pub async fn fixed_rules<C: ConnectionTrait>(
    db: &C,
    period_id: &str,
) -> Result<Vec<(String, i64)>> {
    let select = Query::select()
        .columns(["rule_id", "rule_version"])
        .from("period_rules")
        .and_where(Expr::col("period_id").eq(period_id))
        .order_by("rule_id", sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("", "rule_id")?,
                row.try_get("", "rule_version")?,
            ))
        })
        .collect()
}

// Assessments.

const ASSESSMENT_COLUMNS: [&str; 10] = [
    "staff_id",
    "period_id",
    "revision",
    "cause",
    "dispute_id",
    "score_tenths",
    "grade",
    "team_id",
    "figures",
    "computed_at",
];

fn assessment_of(row: &QueryResult) -> Result<Assessment> {
    let staff_id: String = row.try_get("", "staff_id")?;
    let period_id: String = row.try_get("", "period_id")?;
    let what = format!("assessment of {staff_id} in {period_id}");
    let cause: String = row.try_get("", "cause")?;
    let grade: String = row.try_get("", "grade")?;
    Ok(Assessment {
        revision: row.try_get("", "revision")?,
        cause: Cause::from_code(&cause).ok_or_else(|| corrupt(&what, "cause"))?,
        dispute_id: row.try_get("", "dispute_id")?,
        score: row.try_get("", "score_tenths")?,
        grade: match grade.as_str() {
            "" => None,
            code => Some(Grade::from_code(code).ok_or_else(|| corrupt(&what, "grade"))?),
        },
        team_id: row.try_get("", "team_id")?,
        figures: parse(row, "figures", &what)?,
        computed_at: row.try_get("", "computed_at")?,
        staff_id,
        period_id,
    })
}

/// Writes a revision and the events behind its figures.
pub async fn insert_assessment<C: ConnectionTrait>(
    db: &C,
    a: &Assessment,
    sources: &[Source],
) -> Result<()> {
    let insert = Query::insert()
        .into_table("assessments")
        .columns(ASSESSMENT_COLUMNS)
        .values_panic([
            a.staff_id.as_str().into(),
            a.period_id.as_str().into(),
            a.revision.into(),
            a.cause.code().into(),
            a.dispute_id.as_str().into(),
            a.score.into(),
            a.grade.map_or("", |g| g.code()).into(),
            a.team_id.as_str().into(),
            json(&a.figures).into(),
            a.computed_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    // Batches keep each statement well under the databases' bound-parameter limits.
    for chunk in sources.chunks(500) {
        let mut insert = Query::insert()
            .into_table("assessment_sources")
            .columns([
                "staff_id",
                "period_id",
                "revision",
                "kpi",
                "event_id",
                "source",
                "event_type",
                "subject_id",
                "occurred_at",
                "counted",
                "amount",
            ])
            .to_owned();
        for s in chunk {
            insert.values_panic([
                a.staff_id.as_str().into(),
                a.period_id.as_str().into(),
                a.revision.into(),
                s.kpi.code().into(),
                s.event_id.as_str().into(),
                s.source.as_str().into(),
                s.event_type.as_str().into(),
                s.subject_id.as_str().into(),
                s.at.into(),
                s.counted.into(),
                s.amount.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// A revision of a person's assessment; `revision` 0 for the latest.
pub async fn assessment<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    period_id: &str,
    revision: i32,
) -> Result<Option<Assessment>> {
    let mut select = Query::select()
        .columns(ASSESSMENT_COLUMNS)
        .from("assessments")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .and_where(Expr::col("period_id").eq(period_id))
        .order_by("revision", sea_orm::Order::Desc)
        .limit(1)
        .to_owned();
    if revision > 0 {
        select.and_where(Expr::col("revision").eq(revision));
    }
    db.query_one(&select)
        .await?
        .as_ref()
        .map(assessment_of)
        .transpose()
}

/// Does the person have a final revision in the period?
pub async fn has_final<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    period_id: &str,
) -> Result<bool> {
    let select = Query::select()
        .column("revision")
        .from("assessments")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .and_where(Expr::col("period_id").eq(period_id))
        .and_where(Expr::col("cause").ne(Cause::Provisional.code()))
        .limit(1)
        .to_owned();
    Ok(db.query_one(&select).await?.is_some())
}

/// The latest revision of each person's assessment in a period, by person, of `people`
/// (`None`: everyone).
pub async fn latest_in<C: ConnectionTrait>(
    db: &C,
    period_id: &str,
    people: Option<&[String]>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Assessment>> {
    let latest = Query::select()
        .expr(Expr::col("revision").max())
        .from_as("assessments", "newer")
        .and_where(Expr::col(("newer", "staff_id")).equals(("assessments", "staff_id")))
        .and_where(Expr::col(("newer", "period_id")).equals(("assessments", "period_id")))
        .to_owned();
    let mut select = Query::select()
        .columns(ASSESSMENT_COLUMNS.map(|c| ("assessments", c)))
        .from("assessments")
        .and_where(Expr::col(("assessments", "period_id")).eq(period_id))
        .and_where(Expr::col(("assessments", "revision")).in_subquery(latest))
        .order_by(("assessments", "staff_id"), sea_orm::Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(people) = people {
        select.and_where(
            Expr::col(("assessments", "staff_id")).is_in(people.iter().map(String::as_str)),
        );
    }
    if let Some(after) = after {
        select.and_where(Expr::col(("assessments", "staff_id")).gt(after));
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(assessment_of)
        .collect()
}

/// The events behind a revision's figures, by KPI and event, after `after` ("kpi/event").
pub async fn sources<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    period_id: &str,
    revision: i32,
    kpi: Option<Kpi>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Source>> {
    let mut select = Query::select()
        .columns([
            "kpi",
            "event_id",
            "source",
            "event_type",
            "subject_id",
            "occurred_at",
            "counted",
            "amount",
        ])
        .from("assessment_sources")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .and_where(Expr::col("period_id").eq(period_id))
        .and_where(Expr::col("revision").eq(revision))
        .order_by("kpi", sea_orm::Order::Asc)
        .order_by("event_id", sea_orm::Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(kpi) = kpi {
        select.and_where(Expr::col("kpi").eq(kpi.code()));
    }
    if let Some((kpi, event)) = after.and_then(|a| a.split_once('/')) {
        select.and_where(
            Expr::col("kpi").gt(kpi).or(Expr::col("kpi")
                .eq(kpi)
                .and(Expr::col("event_id").gt(event))),
        );
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            let event_id: String = row.try_get("", "event_id")?;
            let kpi: String = row.try_get("", "kpi")?;
            Ok(Source {
                kpi: Kpi::from_code(&kpi).ok_or_else(|| corrupt(&event_id, "kpi"))?,
                source: row.try_get("", "source")?,
                event_type: row.try_get("", "event_type")?,
                subject_id: row.try_get("", "subject_id")?,
                at: row.try_get("", "occurred_at")?,
                counted: row.try_get("", "counted")?,
                amount: row.try_get("", "amount")?,
                event_id,
            })
        })
        .collect()
}

// Exclusions.

pub async fn exclude<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    kpi: Kpi,
    event_id: &str,
    dispute_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("exclusions")
        .columns(["staff_id", "kpi", "event_id", "dispute_id", "created_at"])
        .values_panic([
            staff_id.into(),
            kpi.code().into(),
            event_id.into(),
            dispute_id.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns(["staff_id", "kpi", "event_id"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// What upheld disputes took out of a person's figures.
pub async fn excluded<C: ConnectionTrait>(db: &C, staff_id: &str) -> Result<Excluded> {
    let select = Query::select()
        .columns(["kpi", "event_id"])
        .from("exclusions")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .to_owned();
    let mut excluded = Excluded::new();
    for row in db.query_all(&select).await? {
        let kpi: String = row.try_get("", "kpi")?;
        let event: String = row.try_get("", "event_id")?;
        excluded.insert((
            Kpi::from_code(&kpi).ok_or_else(|| corrupt(&event, "kpi"))?,
            event,
        ));
    }
    Ok(excluded)
}

// Disputes.

/// a dispute's reason and decision note are a person's words about their work, sealed
/// at rest; the columns beside them hold ids and codes.
pub const SEALED_DISPUTES: SealedColumn = SealedColumn {
    table: "disputes",
    id: "id",
    column: "document",
    binding: |id| format!("disputes/{id}/document"),
};

pub async fn insert_dispute<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    d: &Dispute,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("disputes")
        .columns([
            "id",
            "staff_id",
            "period_id",
            "kpi",
            "event_id",
            "state",
            "version",
            "document",
            "created_at",
        ])
        .values_panic([
            d.id.as_str().into(),
            d.staff_id.as_str().into(),
            d.period_id.as_str().into(),
            d.kpi.code().into(),
            d.event_id.as_str().into(),
            d.state.code().into(),
            d.version.into(),
            SEALED_DISPUTES.seal_json(cipher, &d.id, d).into(),
            d.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn save_dispute<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    d: &Dispute,
) -> Result<()> {
    let update = Query::update()
        .table("disputes")
        .value("state", d.state.code())
        .value("version", d.version)
        .value("document", SEALED_DISPUTES.seal_json(cipher, &d.id, d))
        .and_where(Expr::col("id").eq(d.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn dispute<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    id: &str,
    lock: bool,
) -> Result<Option<Dispute>> {
    let select = Query::select()
        .from("disputes")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    Ok(SEALED_DISPUTES.read_one(db, cipher, select, lock).await?)
}

/// An open dispute of the same event in the same figure, if any.
pub async fn open_dispute_of<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    kpi: Kpi,
    event_id: &str,
) -> Result<Option<String>> {
    let select = Query::select()
        .column("id")
        .from("disputes")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .and_where(Expr::col("kpi").eq(kpi.code()))
        .and_where(Expr::col("event_id").eq(event_id))
        .and_where(Expr::col("state").eq(DisputeState::Open.code()))
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get("", "id")?),
        None => None,
    })
}

/// Which disputes a list asks for.
#[derive(Clone, Debug, Default)]
pub struct DisputeFilter {
    pub staff_id: Option<String>,
    pub state: Option<DisputeState>,
    pub period_id: Option<String>,
    pub people: Option<Vec<String>>,
}

pub async fn disputes<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    filter: &DisputeFilter,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Dispute>> {
    let mut select = Query::select().from("disputes").to_owned();
    if let Some(staff) = &filter.staff_id {
        select.and_where(Expr::col("staff_id").eq(staff.as_str()));
    }
    if let Some(state) = filter.state {
        select.and_where(Expr::col("state").eq(state.code()));
    }
    if let Some(period) = &filter.period_id {
        select.and_where(Expr::col("period_id").eq(period.as_str()));
    }
    if let Some(people) = &filter.people {
        select.and_where(Expr::col("staff_id").is_in(people.iter().map(String::as_str)));
    }
    page(&mut select, "id", after, limit);
    Ok(SEALED_DISPUTES.read_all(db, cipher, &select).await?)
}

/// Ids of the disputes about events that concerned `customer_id`.
pub async fn disputes_about_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<Vec<String>> {
    let facts = Query::select()
        .column("event_id")
        .from("facts")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .to_owned();
    let select = Query::select()
        .column("id")
        .from("disputes")
        .and_where(Expr::col("event_id").in_subquery(facts))
        .order_by("id", sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("", "id")?))
        .collect()
}

/// Periods in which a revision of the person's assessment cited the event in that KPI.
pub async fn periods_citing<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    kpi: Kpi,
    event_id: &str,
) -> Result<Vec<String>> {
    let select = Query::select()
        .distinct()
        .column("period_id")
        .from("assessment_sources")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .and_where(Expr::col("kpi").eq(kpi.code()))
        .and_where(Expr::col("event_id").eq(event_id))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("", "period_id")?))
        .collect()
}
