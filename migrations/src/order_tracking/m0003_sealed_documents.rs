//! an order's whole document is sealed, not only its streets: notes, locations, the
//! signer's name, cargo descriptions and exception descriptions are free text that may name
//! people. The document moves to `document_ct` as hex text, which order-tracking's re-seal
//! sweep seals under the active key at its next start (a migration holds no key); reads take
//! hex in clear until then. `streets_ct` stays for rows written before, until they change.

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
                    .table("orders")
                    .add_column(text("document_ct").default(""))
                    .to_owned(),
            )
            .await?;
        let hex = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => "encode(document, 'hex')",
            _ => "lower(hex(document))",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!("UPDATE orders SET document_ct = {hex}"))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("orders")
                    .drop_column("document")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "sealed order documents cannot be unsealed by a migration, which holds no key".into(),
        ))
    }
}
