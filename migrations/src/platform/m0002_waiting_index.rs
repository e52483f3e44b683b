//! The relay's scan for rows still waiting for a position reads a partial index of those rows
//! alone. The index on (position, id) it replaces also held every positioned row and, until
//! vacuum, an entry for each row's waiting version: each pass walked them all (5.4 ms and 614
//! buffers a pass at 30,000 events in one measurement, against 0.55 ms and 33 with this one).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // PostgreSQL and SQLite both take partial indexes in this spelling.
        db.execute_unprepared("DROP INDEX IF EXISTS kefu_outbox_unpositioned")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX kefu_outbox_waiting ON kefu_outbox (id) WHERE position IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS kefu_outbox_waiting")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX kefu_outbox_unpositioned ON kefu_outbox (position, id)",
        )
        .await?;
        Ok(())
    }
}
