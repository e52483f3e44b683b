//! CR-7: monthly visit reports, one per team and month, generated then submitted.

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
                    .table("monthly_reports")
                    .col(string("id").primary_key())
                    .col(string("team_id"))
                    .col(string("month"))
                    .col(string("state"))
                    .col(integer("visit_count"))
                    .col(integer("customer_count"))
                    .col(integer("overdue_count"))
                    // The day-reports compiled, as a JSON list of ids in visit order.
                    .col(text("visit_report_ids"))
                    .col(text("supervisor_summary"))
                    .col(string("supervisor_id"))
                    .col(timestamp_with_time_zone("generated_at"))
                    .col(timestamp_with_time_zone_null("submitted_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("monthly_reports_team_month")
                    .table("monthly_reports")
                    .col("team_id")
                    .col("month")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("monthly_reports").to_owned())
            .await
    }
}
