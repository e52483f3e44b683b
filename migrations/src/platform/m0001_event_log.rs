//! The event log's tables: outbox rows, request_id records and consumer cursors.

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
                    .table("kefu_outbox")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("event_id"))
                    .col(string("event_type"))
                    .col(string("subject"))
                    .col(blob("payload"))
                    .col(string("traceparent"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    // NULL until the relay gives the committed row its place in the stream.
                    .col(big_integer_null("position").unique_key())
                    .to_owned(),
            )
            .await?;
        // The relay's scan for rows still waiting for a position.
        manager
            .create_index(
                Index::create()
                    .name("kefu_outbox_unpositioned")
                    .table("kefu_outbox")
                    .col("position")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("kefu_idempotency")
                    .col(string("scope"))
                    .col(string("request_id"))
                    .col(string("request_hash"))
                    .col(blob("response"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("scope").col("request_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("kefu_consumer_cursor")
                    .col(string("consumer").primary_key())
                    .col(big_integer("position"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["kefu_consumer_cursor", "kefu_idempotency", "kefu_outbox"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
