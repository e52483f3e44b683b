//! Who serves each customer, as customer-registry's events (and its answers at intake) say:
//! what an agent's access to orders is decided by.

use chrono::Utc;
use kefu_platform::access::Stewards;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

/// Records that `stewards` serve `customer_id` as of its record's `version`; a version
/// older than the one stored changes nothing, so events and answers may arrive in any order.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    stewards: &Stewards,
    version: i64,
) -> Result<(), DbErr> {
    let upsert = Query::insert()
        .into_table("customer_access")
        .columns([
            "customer_id",
            "team_id",
            "owner_id",
            "visitor_id",
            "version",
            "updated_at",
        ])
        .values_panic([
            customer_id.into(),
            stewards.team_id.as_str().into(),
            stewards.owner_id.as_str().into(),
            stewards.visitor_id.as_str().into(),
            version.into(),
            Utc::now().into(),
        ])
        .on_conflict(
            OnConflict::column("customer_id")
                .update_columns(["team_id", "owner_id", "visitor_id", "version", "updated_at"])
                .action_and_where(
                    Expr::col(("customer_access", "version"))
                        .lt(Expr::col(("excluded", "version"))),
                )
                .to_owned(),
        )
        .to_owned();
    db.execute(&upsert).await?;
    Ok(())
}

/// Who serves `customer_id`, if order-tracking has heard.
pub async fn stewards<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<Option<Stewards>, DbErr> {
    let select = Query::select()
        .columns(["team_id", "owner_id", "visitor_id"])
        .from("customer_access")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    Ok(Some(Stewards {
        team_id: row.try_get("", "team_id")?,
        owner_id: row.try_get("", "owner_id")?,
        visitor_id: row.try_get("", "visitor_id")?,
    }))
}

/// The condition "the customer in `column` is one `subject` of `team` serves": the SQL
/// form of the platform's rule, for lists.
pub fn served_by(column: &str, subject: &str, team: &str) -> sea_orm::sea_query::SimpleExpr {
    let mut serves = Expr::col("owner_id")
        .eq(subject)
        .or(Expr::col("visitor_id").eq(subject));
    if !team.is_empty() {
        serves = serves.or(Expr::col("team_id").eq(team));
    }
    Expr::col(column.to_owned()).in_subquery(
        Query::select()
            .column("customer_id")
            .from("customer_access")
            .and_where(serves)
            .to_owned(),
    )
}
