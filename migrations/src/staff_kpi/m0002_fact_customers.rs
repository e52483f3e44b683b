//! CR-11 in staff-kpi: each fact keeps the id of the customer its event was about (an id,
//! never the customer's data), so that an erasure finds the disputes written about them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("facts")
                    .add_column(string("customer_id").default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("facts_customer_id")
                    .table("facts")
                    .col("customer_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("facts_customer_id")
                    .table("facts")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("facts")
                    .drop_column("customer_id")
                    .to_owned(),
            )
            .await
    }
}
