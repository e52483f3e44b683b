//! CR-6 visit day-reports and CR-8 urgent reports.

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
                    .table("visit_reports")
                    .col(string("id").primary_key())
                    .col(string("customer_id"))
                    .col(string("visitor_id"))
                    .col(timestamp_with_time_zone("visit_time"))
                    .col(text("customer_feedback"))
                    .col(text("market_intelligence"))
                    .col(text("visit_effect"))
                    .col(text("matters_handled"))
                    .col(text("other_matters"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("visit_reports_customer", &["customer_id", "visit_time"][..]),
            ("visit_reports_visitor", &["visitor_id", "visit_time"][..]),
        ] {
            let mut index = Index::create().name(name).table("visit_reports").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("urgent_reports")
                    .col(string("id").primary_key())
                    .col(string("customer_id"))
                    .col(string("urgent_trigger"))
                    .col(text("description"))
                    .col(string("reporter_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["urgent_reports", "visit_reports"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
