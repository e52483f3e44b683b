//! CR-13: other services' events about a customer, kept for the customer's timeline, and
//! the index that finds this service's own events by customer.

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
                    .table("service_record")
                    // The producing service's event id: UUIDv7, so it also orders the timeline.
                    .col(string("event_id").primary_key())
                    .col(string("customer_id"))
                    .col(string("source"))
                    .col(string("event_type"))
                    .col(string("subject"))
                    .col(text("summary"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("service_record_by_customer")
                    .table("service_record")
                    .col("customer_id")
                    .col("event_id")
                    .to_owned(),
            )
            .await?;
        // Order events after OrderCreated name only the order; this says whose it is.
        manager
            .create_table(
                Table::create()
                    .table("order_customers")
                    .col(string("order_id").primary_key())
                    .col(string("customer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("kefu_outbox_by_subject")
                    .table("kefu_outbox")
                    .col("subject")
                    .col("event_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("kefu_outbox_by_subject")
                    .table("kefu_outbox")
                    .to_owned(),
            )
            .await?;
        for table in ["order_customers", "service_record"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
