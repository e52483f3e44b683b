//! Who serves each customer (team, owner, visitor), as customer-registry's events say, so
//! order-tracking can show an agent only its team's customers' orders without reading
//! customer-registry's tables.

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
                    .table("customer_access")
                    .col(string("customer_id").primary_key())
                    .col(string("team_id"))
                    .col(string("owner_id"))
                    .col(string("visitor_id"))
                    // The customer's record version these came with: an older one never
                    // overwrites a newer one.
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        for column in ["team_id", "owner_id", "visitor_id"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("customer_access_{column}"))
                        .table("customer_access")
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("customer_access").to_owned())
            .await
    }
}
