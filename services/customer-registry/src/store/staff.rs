//! CR-4: the people staff-kpi's events describe: the region each sells in (none for those
//! who do not sell) and whether they are still with the company, the latest version kept.

use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::stewardship::KnownVisitor;

/// Keeps what a staff event says of `staff_id`, unless a later version is kept already.
pub async fn keep<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    sales_region: &str,
    active: bool,
    version: i64,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("staff_profiles")
        .columns(["staff_id", "sales_region", "active", "version"])
        .values_panic([
            staff_id.into(),
            sales_region.into(),
            active.into(),
            version.into(),
        ])
        .on_conflict(OnConflict::column("staff_id").do_nothing().to_owned())
        .to_owned();
    if db.execute(&insert).await?.rows_affected() == 1 {
        return Ok(());
    }
    let update = Query::update()
        .table("staff_profiles")
        .value("sales_region", sales_region)
        .value("active", active)
        .value("version", version)
        .and_where(Expr::col("staff_id").eq(staff_id))
        .and_where(Expr::col("version").lt(version))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
) -> Result<Option<KnownVisitor>, DbErr> {
    let select = Query::select()
        .columns(["sales_region", "active"])
        .from("staff_profiles")
        .and_where(Expr::col("staff_id").eq(staff_id))
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(KnownVisitor {
            sales_region: row.try_get("", "sales_region")?,
            active: row.try_get("", "active")?,
        }),
        None => None,
    })
}
