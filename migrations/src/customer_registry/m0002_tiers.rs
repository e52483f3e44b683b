//! CR-2: the facts tiers are computed from (uses per calendar month, spend per order) and the
//! history of tier changes with their reasons.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("customer_usage")
                    .col(string("customer_id"))
                    // "2026-11", in the configured local time.
                    .col(string("month"))
                    .col(integer("uses"))
                    .primary_key(Index::create().col("customer_id").col("month"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("customer_spend")
                    // One row per order: a replayed event cannot count twice.
                    .col(string("order_id").primary_key())
                    .col(string("customer_id"))
                    .col(big_integer("amount_fen"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customer_spend_customer")
                    .table("customer_spend")
                    .col("customer_id")
                    .col("occurred_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("tier_changes")
                    .col(big_pk_auto("id"))
                    .col(string("customer_id"))
                    .col(string("old_tier"))
                    .col(string("new_tier"))
                    .col(text("reason"))
                    .col(boolean("manual"))
                    .col(string("actor_id"))
                    .col(integer("monthly_uses"))
                    .col(big_integer("annual_spend_fen"))
                    .col(timestamp_with_time_zone("changed_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tier_changes_customer")
                    .table("tier_changes")
                    .col("customer_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["tier_changes", "customer_spend", "customer_usage"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
