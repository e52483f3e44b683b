//! SK-2, SK-3: each KPI's definition (its version counts the formulas added) and its formula
//! versions, which are never changed once written.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};

use super::{Result, documents, for_update, json};
use crate::domain::kpi::{Formula, Kpi};

/// Writes each KPI's first formula unless it has one: every replica may start at once.
pub async fn seed<C: ConnectionTrait>(db: &C, first: &[Formula]) -> Result<()> {
    for f in first {
        let definition = Query::insert()
            .into_table("kpi_definitions")
            .columns(["kpi", "version"])
            .values_panic([f.kpi.code().into(), 1i64.into()])
            .on_conflict(OnConflict::column("kpi").do_nothing().to_owned())
            .to_owned();
        db.execute(&definition).await?;
        insert_formula(db, f, true).await?;
    }
    Ok(())
}

async fn insert_formula<C: ConnectionTrait>(db: &C, f: &Formula, if_absent: bool) -> Result<()> {
    let mut insert = Query::insert()
        .into_table("kpi_formulas")
        .columns([
            "kpi",
            "formula_version",
            "effective_from_date",
            "document",
            "created_at",
        ])
        .values_panic([
            f.kpi.code().into(),
            f.version.into(),
            f.effective_from.format("%Y-%m-%d").to_string().into(),
            json(f).into(),
            f.created_at.into(),
        ])
        .to_owned();
    if if_absent {
        insert.on_conflict(
            OnConflict::columns(["kpi", "formula_version"])
                .do_nothing()
                .to_owned(),
        );
    }
    db.execute(&insert).await?;
    Ok(())
}

/// The definition's version, locked for a change when asked.
pub async fn version<C: ConnectionTrait>(db: &C, kpi: Kpi, lock: bool) -> Result<Option<i64>> {
    let mut select = Query::select()
        .column("version")
        .from("kpi_definitions")
        .and_where(Expr::col("kpi").eq(kpi.code()))
        .to_owned();
    if lock {
        for_update(db, &mut select);
    }
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get("", "version")?),
        None => None,
    })
}

/// The formulas of one KPI, or of all, oldest first.
pub async fn formulas<C: ConnectionTrait>(db: &C, kpi: Option<Kpi>) -> Result<Vec<Formula>> {
    let mut select = Query::select()
        .column("document")
        .from("kpi_formulas")
        .order_by("kpi", sea_orm::Order::Asc)
        .order_by("formula_version", sea_orm::Order::Asc)
        .to_owned();
    if let Some(kpi) = kpi {
        select.and_where(Expr::col("kpi").eq(kpi.code()));
    }
    documents(db, &select, "formula").await
}

/// Adds the next formula and moves the definition's version on.
pub async fn add<C: ConnectionTrait>(db: &C, f: &Formula, version: i64) -> Result<()> {
    insert_formula(db, f, false).await?;
    let update = Query::update()
        .table("kpi_definitions")
        .value("version", version)
        .and_where(Expr::col("kpi").eq(f.kpi.code()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}
