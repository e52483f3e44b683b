//! Customers as customer-registry's events describe them (tier, team, active), with what
//! survey adds: the opt-out and the last invitation. A customer's row is locked while a
//! survey of theirs is decided, so two at once (two triggers, two replicas) are decided one
//! after the other and the quiet period holds.

use chrono::{DateTime, Utc};
use kefu_platform::pii::PiiCipher;
use kefu_platform::reseal::SealedColumn;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use super::{Result, StoreError, for_update};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Customer {
    pub customer_id: String,
    /// Tier code ("large", ...); empty until known.
    pub tier: String,
    pub team_id: String,
    pub active: bool,
    pub opted_out: bool,
    pub opt_out_reason: String,
    pub opt_out_at: Option<DateTime<Utc>>,
    pub last_invited_at: Option<DateTime<Utc>>,
}

const COLUMNS: [&str; 8] = [
    "customer_id",
    "tier",
    "team_id",
    "active",
    "opted_out",
    "opt_out_reason",
    "opt_out_at",
    "last_invited_at",
];

fn of(row: &QueryResult) -> Result<Customer> {
    Ok(Customer {
        customer_id: row.try_get("", "customer_id")?,
        tier: row.try_get("", "tier")?,
        team_id: row.try_get("", "team_id")?,
        active: row.try_get("", "active")?,
        opted_out: row.try_get("", "opted_out")?,
        opt_out_reason: row.try_get("", "opt_out_reason")?,
        opt_out_at: row.try_get("", "opt_out_at")?,
        last_invited_at: row.try_get("", "last_invited_at")?,
    })
}

/// Makes the row of a customer known to exist, when it is missing.
pub async fn ensure<C: ConnectionTrait>(
    db: &C,
    id: &str,
    tier: &str,
    team: &str,
    active: bool,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("survey_customers")
        .columns([
            "customer_id",
            "tier",
            "team_id",
            "active",
            "record_version",
            "opted_out",
            "opt_out_reason",
        ])
        .values_panic([
            id.into(),
            tier.into(),
            team.into(),
            active.into(),
            0i64.into(),
            false.into(),
            "".into(),
        ])
        .on_conflict(OnConflict::column("customer_id").do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str, lock: bool) -> Result<Option<Customer>> {
    let mut select = Query::select()
        .columns(COLUMNS)
        .from("survey_customers")
        .and_where(Expr::col("customer_id").eq(id))
        .to_owned();
    if lock {
        for_update(db, &mut select);
    }
    db.query_one(&select).await?.as_ref().map(of).transpose()
}

/// Who the customer is as customer-registry says now: tier, team, active.
pub async fn describe<C: ConnectionTrait>(
    db: &C,
    id: &str,
    tier: &str,
    team: &str,
    active: bool,
) -> Result<()> {
    ensure(db, id, tier, team, active).await?;
    let update = Query::update()
        .table("survey_customers")
        .value("tier", tier)
        .value("team_id", team)
        .value("active", active)
        .and_where(Expr::col("customer_id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// The team after a record change; an older record version changes nothing.
pub async fn set_team<C: ConnectionTrait>(
    db: &C,
    id: &str,
    team: &str,
    version: i64,
) -> Result<()> {
    ensure(db, id, "", team, true).await?;
    let update = Query::update()
        .table("survey_customers")
        .value("team_id", team)
        .value("record_version", version)
        .and_where(Expr::col("customer_id").eq(id))
        .and_where(Expr::col("record_version").lt(version))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn set_tier<C: ConnectionTrait>(db: &C, id: &str, tier: &str) -> Result<()> {
    ensure(db, id, tier, "", true).await?;
    let update = Query::update()
        .table("survey_customers")
        .value("tier", tier)
        .and_where(Expr::col("customer_id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn deactivate<C: ConnectionTrait>(db: &C, id: &str) -> Result<()> {
    ensure(db, id, "", "", false).await?;
    let update = Query::update()
        .table("survey_customers")
        .value("active", false)
        .and_where(Expr::col("customer_id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn set_invited<C: ConnectionTrait>(db: &C, id: &str, at: DateTime<Utc>) -> Result<()> {
    let update = Query::update()
        .table("survey_customers")
        .value("last_invited_at", at)
        .and_where(Expr::col("customer_id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// why a customer opted out is their own words; sealed at rest (empty stays empty).
pub const SEALED_OPT_OUT_REASONS: SealedColumn = SealedColumn {
    table: "survey_customers",
    id: "customer_id",
    column: "opt_out_reason",
    binding: |id| format!("survey_customers/{id}/opt_out_reason"),
};

/// `reason`, sealed for the customer `id` (empty when there is none).
pub fn seal_reason(cipher: &PiiCipher, id: &str, reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        SEALED_OPT_OUT_REASONS.seal(cipher, id, reason)
    }
}

/// A stored reason in clear.
pub fn open_reason(cipher: &PiiCipher, id: &str, stored: &str) -> Result<String> {
    SEALED_OPT_OUT_REASONS
        .open(cipher, id, stored)
        .map_err(|e| StoreError::Corrupt {
            id: format!("survey customer {id}"),
            what: format!("opt-out reason does not open: {e}"),
        })
}

/// Records an opt-out (or a return); `sealed_reason` from [`seal_reason`].
pub async fn set_opt_out<C: ConnectionTrait>(
    db: &C,
    id: &str,
    opted_out: bool,
    sealed_reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let update = Query::update()
        .table("survey_customers")
        .value("opted_out", opted_out)
        .value("opt_out_reason", sealed_reason)
        .value("opt_out_at", at)
        .and_where(Expr::col("customer_id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Active customers of `tiers` that `campaign_id` has not reached, in id order.
pub async fn untargeted<C: ConnectionTrait>(
    db: &C,
    campaign_id: &str,
    tiers: &[String],
    limit: u64,
) -> Result<Vec<String>> {
    let select = Query::select()
        .column("customer_id")
        .from("survey_customers")
        .and_where(Expr::col("tier").is_in(tiers.iter().map(String::as_str)))
        .and_where(Expr::col("active").eq(true))
        .and_where(
            Expr::col("customer_id").not_in_subquery(
                Query::select()
                    .column("customer_id")
                    .from("campaign_targets")
                    .and_where(Expr::col("campaign_id").eq(campaign_id))
                    .to_owned(),
            ),
        )
        .order_by("customer_id", sea_orm::Order::Asc)
        .limit(limit)
        .to_owned();
    Ok(db
        .query_all(&select)
        .await?
        .iter()
        .map(|r| r.try_get("", "customer_id"))
        .collect::<std::result::Result<_, _>>()?)
}

/// CR-11: the opt-out's reason is the customer's words.
pub async fn erase_reason<C: ConnectionTrait>(db: &C, id: &str) -> Result<()> {
    let update = Query::update()
        .table("survey_customers")
        .value("opt_out_reason", "")
        .and_where(Expr::col("customer_id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}
