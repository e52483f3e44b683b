//! SK-4: reward rules (the latest in `reward_rules`, every version in `reward_rule_versions`,
//! never changed once written) and the outcomes they decided.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};

use super::{Result, documents, for_update, json, one_document, page};
use crate::domain::OutcomeState;
use crate::domain::rules::{Outcome, RewardRule};

/// Writes a new rule or its next version.
pub async fn save_rule<C: ConnectionTrait>(db: &C, r: &RewardRule) -> Result<()> {
    if r.version == 1 {
        let insert = Query::insert()
            .into_table("reward_rules")
            .columns(["id", "version", "disabled", "created_at"])
            .values_panic([
                r.id.as_str().into(),
                r.version.into(),
                r.disabled.into(),
                r.created_at.into(),
            ])
            .to_owned();
        db.execute(&insert).await?;
    } else {
        let update = Query::update()
            .table("reward_rules")
            .value("version", r.version)
            .value("disabled", r.disabled)
            .and_where(Expr::col("id").eq(r.id.as_str()))
            .to_owned();
        db.execute(&update).await?;
    }
    let insert = Query::insert()
        .into_table("reward_rule_versions")
        .columns(["rule_id", "version", "document", "created_at"])
        .values_panic([
            r.id.as_str().into(),
            r.version.into(),
            json(r).into(),
            r.updated_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// A version of a rule; 0 for the latest, locked for a change when asked.
pub async fn rule<C: ConnectionTrait>(
    db: &C,
    id: &str,
    version: i64,
    lock: bool,
) -> Result<Option<RewardRule>> {
    if lock {
        let mut select = Query::select()
            .column("id")
            .from("reward_rules")
            .and_where(Expr::col("id").eq(id))
            .to_owned();
        for_update(db, &mut select);
        if db.query_one(&select).await?.is_none() {
            return Ok(None);
        }
    }
    let mut select = Query::select()
        .column("document")
        .from("reward_rule_versions")
        .and_where(Expr::col("rule_id").eq(id))
        .order_by("version", sea_orm::Order::Desc)
        .limit(1)
        .to_owned();
    if version > 0 {
        select.and_where(Expr::col("version").eq(version));
    }
    one_document(db, select, false, &format!("rule {id}")).await
}

/// The latest version of each rule.
pub async fn rules<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<RewardRule>> {
    let mut select = Query::select()
        .column("document")
        .column(("reward_rules", "id"))
        .from("reward_rules")
        .inner_join(
            "reward_rule_versions",
            Expr::col(("reward_rule_versions", "rule_id"))
                .equals(("reward_rules", "id"))
                .and(
                    Expr::col(("reward_rule_versions", "version"))
                        .equals(("reward_rules", "version")),
                ),
        )
        .to_owned();
    page(&mut select, "id", after, limit);
    documents(db, &select, "rule").await
}

/// The current version of every enabled rule: what a closing period fixes.
pub async fn enabled<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, i64)>> {
    let select = Query::select()
        .columns(["id", "version"])
        .from("reward_rules")
        .and_where(Expr::col("disabled").eq(false))
        .order_by("id", sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "version")?)))
        .collect()
}

// Outcomes.

pub async fn insert_outcome<C: ConnectionTrait>(db: &C, o: &Outcome) -> Result<()> {
    let insert = Query::insert()
        .into_table("reward_penalties")
        .columns([
            "id",
            "staff_id",
            "period_id",
            "revision",
            "state",
            "document",
            "decided_at",
        ])
        .values_panic([
            o.id.as_str().into(),
            o.staff_id.as_str().into(),
            o.period_id.as_str().into(),
            o.revision.into(),
            o.state.code().into(),
            json(o).into(),
            o.decided_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// Withdraws the person's decided outcomes in the period; answers them as withdrawn.
pub async fn withdraw<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    period_id: &str,
) -> Result<Vec<Outcome>> {
    let select = Query::select()
        .column("document")
        .from("reward_penalties")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .and_where(Expr::col("period_id").eq(period_id))
        .and_where(Expr::col("state").eq(OutcomeState::Decided.code()))
        .to_owned();
    let decided: Vec<Outcome> = documents(db, &select, "outcome").await?;
    let mut withdrawn = Vec::new();
    for mut o in decided {
        o.state = OutcomeState::Withdrawn;
        let update = Query::update()
            .table("reward_penalties")
            .value("state", o.state.code())
            .value("document", json(&o))
            .and_where(Expr::col("id").eq(o.id.as_str()))
            .to_owned();
        db.execute(&update).await?;
        withdrawn.push(o);
    }
    Ok(withdrawn)
}

/// Which outcomes a list asks for.
#[derive(Clone, Debug, Default)]
pub struct OutcomeFilter {
    pub period_id: Option<String>,
    pub staff_id: Option<String>,
    pub people: Option<Vec<String>>,
}

pub async fn outcomes<C: ConnectionTrait>(
    db: &C,
    filter: &OutcomeFilter,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Outcome>> {
    let mut select = Query::select()
        .column("document")
        .from("reward_penalties")
        .to_owned();
    if let Some(period) = &filter.period_id {
        select.and_where(Expr::col("period_id").eq(period.as_str()));
    }
    if let Some(staff) = &filter.staff_id {
        select.and_where(Expr::col("staff_id").eq(staff.as_str()));
    }
    if let Some(people) = &filter.people {
        select.and_where(Expr::col("staff_id").is_in(people.iter().map(String::as_str)));
    }
    page(&mut select, "id", after, limit);
    documents(db, &select, "outcome").await
}
