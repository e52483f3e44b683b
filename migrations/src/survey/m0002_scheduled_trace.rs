//! a scheduled survey keeps the trace context of the event that scheduled it, so the
//! survey sent later belongs to the same trace as the delivery or the closed complaint.

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
                    .table("scheduled_surveys")
                    .add_column(string("traceparent").default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("scheduled_surveys")
                    .drop_column("traceparent")
                    .to_owned(),
            )
            .await
    }
}
