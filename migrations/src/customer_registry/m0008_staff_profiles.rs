//! CR-4: what staff-kpi's events say of each person (their role's sales region and whether
//! they are still with the company), so assigning a visitor checks the local-salesperson
//! rule against the organisation instead of taking the caller's word.

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
                    .table("staff_profiles")
                    .col(string("staff_id").primary_key())
                    .col(string("sales_region"))
                    .col(boolean("active"))
                    .col(big_integer("version"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("staff_profiles").to_owned())
            .await
    }
}
