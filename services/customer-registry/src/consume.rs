//! Events customer-registry reads: order-tracking's OrderCreated is the fact CR-2 tiers are
//! computed from, and every order event goes on its customer's service record (CR-13).
//! Each event's effect and the consumer's cursor commit together.

use chrono::{DateTime, FixedOffset, Utc};
use kefu_platform::events::EventHandler;
use kefu_platform::pii::PiiCipher;
use kefu_proto::common::Event;
use kefu_proto::order::OrderCreated;
use prost::Message as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction};

use crate::domain::tier::TierRules;
use crate::record;
use crate::tiers;

/// The consumer's name, which keys its cursor.
pub const ORDER_FACTS: &str = "customer-registry.order-facts";
/// The order event CR-2 counts.
pub const ORDER_CREATED: &str = "kefu.order.v1.OrderCreated";

/// Counts uses and spend per customer from OrderCreated, and moves tiers when they cross a
/// threshold, recording why.
#[derive(Debug)]
pub struct OrderFacts {
    pub(crate) cipher: PiiCipher,
    pub(crate) rules: TierRules,
    /// Local time of a calendar month.
    pub(crate) offset: FixedOffset,
}

#[async_trait::async_trait]
impl EventHandler for OrderFacts {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        record::keep_order_event(txn, event).await?;
        if event.r#type != ORDER_CREATED {
            return Ok(());
        }
        let created = OrderCreated::decode(
            event
                .payload
                .as_ref()
                .map_or(&[][..], |p| p.value.as_slice()),
        )?;
        // A return brings goods back; it is neither a use nor spend.
        if !created.original_order_id.is_empty() {
            return Ok(());
        }
        let at = event
            .occurred_at
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
            .unwrap_or_else(Utc::now);
        let month = at.with_timezone(&self.offset).format("%Y-%m").to_string();
        let amount = created.total.as_ref().map_or(0, |m| m.minor_units);
        record_use(txn, &created.customer_id, &month).await?;
        record_spend(txn, &created.order_id, &created.customer_id, amount, at).await?;
        let facts = tiers::facts(txn, &created.customer_id, at, self.offset).await?;
        match tiers::retier(
            txn,
            &self.cipher,
            &self.rules,
            &created.customer_id,
            facts,
            at,
        )
        .await?
        {
            tiers::Retiered::Conflict => {
                anyhow::bail!(
                    "customer {} changed during the tier update; retrying",
                    created.customer_id
                )
            }
            tiers::Retiered::Unchanged | tiers::Retiered::Changed => Ok(()),
        }
    }
}

async fn record_use(
    txn: &DatabaseTransaction,
    customer_id: &str,
    month: &str,
) -> anyhow::Result<()> {
    let upsert = Query::insert()
        .into_table("customer_usage")
        .columns(["customer_id", "month", "uses"])
        .values_panic([customer_id.into(), month.into(), 1.into()])
        .on_conflict(
            OnConflict::columns(["customer_id", "month"])
                .value("uses", Expr::col(("customer_usage", "uses")).add(1))
                .to_owned(),
        )
        .to_owned();
    txn.execute(&upsert).await?;
    Ok(())
}

async fn record_spend(
    txn: &DatabaseTransaction,
    order_id: &str,
    customer_id: &str,
    amount_fen: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let insert = Query::insert()
        .into_table("customer_spend")
        .columns(["order_id", "customer_id", "amount_fen", "occurred_at"])
        .values_panic([
            order_id.into(),
            customer_id.into(),
            amount_fen.into(),
            at.into(),
        ])
        .on_conflict(OnConflict::column("order_id").do_nothing().to_owned())
        .to_owned();
    txn.execute(&insert).await?;
    Ok(())
}
