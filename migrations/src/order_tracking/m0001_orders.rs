//! Orders (OT-1 to OT-12): the order document with the columns that queries filter on, and
//! exceptions in a table of their own for listing across orders.

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
                    .table("orders")
                    .col(string("id").primary_key())
                    .col(string("customer_id"))
                    .col(string("channel"))
                    .col(string("state"))
                    // The customer's tier at intake (OT-8 promise, OT-10 report).
                    .col(string("tier"))
                    .col(string("service_level"))
                    .col(string("payment_status"))
                    .col(big_integer("total_fen"))
                    .col(string("currency"))
                    .col(timestamp_with_time_zone("promised_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    // OT-8: set once, in the transaction that raises the delay exception.
                    .col(boolean("delay_raised"))
                    .col(string("original_order_id"))
                    // The rest of the order as protobuf, street-level addresses removed.
                    .col(blob("document"))
                    // Streets of origin and destination, sealed (personal data).
                    .col(text_null("streets_ct"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("orders_customer", &["customer_id", "id"][..]),
            ("orders_overdue", &["delay_raised", "promised_at"][..]),
            ("orders_delivered", &["delivered_at"][..]),
        ] {
            let mut index = Index::create().name(name).table("orders").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("order_exceptions")
                    .col(string("id").primary_key())
                    .col(string("order_id"))
                    .col(string("kind"))
                    .col(text("description"))
                    .col(string("reporter_id"))
                    .col(timestamp_with_time_zone("raised_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("order_exceptions_order")
                    .table("order_exceptions")
                    .col("order_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["order_exceptions", "orders"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
