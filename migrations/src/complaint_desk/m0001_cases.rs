//! complaint-desk's tables: cases (each a document plus the columns lists, the clock pass and
//! the analysis query), the case-number sequence per year, order volume per hour, recurring
//! causes per period, and the knowledge base with its full-text index (PostgreSQL: a
//! tsvector with a GIN index; SQLite: an FTS5 table).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("complaints")
                    .col(string("id").primary_key())
                    .col(string("case_number").unique_key())
                    .col(string("customer_id"))
                    .col(string("order_id"))
                    .col(string("team_id"))
                    .col(string("assignee_id"))
                    .col(string("state"))
                    .col(string("case_type"))
                    .col(string("category"))
                    .col(string("severity"))
                    .col(string("tier"))
                    .col(string("origin"))
                    .col(string_null("root_cause"))
                    // One case per source: an order exception or a survey response opens one.
                    .col(string_null("source_key").unique_key())
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(timestamp_with_time_zone_null("investigated_at"))
                    // When the clock pass next has something to do for the case.
                    .col(timestamp_with_time_zone_null("next_check_at"))
                    // The policy the stored clock figures were computed under.
                    .col(string("clock_policy"))
                    .col(boolean_null("first_response_met"))
                    .col(boolean_null("resolution_met"))
                    .col(big_integer_null("resolution_seconds"))
                    .col(big_integer("compensation_fen"))
                    .col(integer("reopen_count"))
                    .col(integer("escalation_level"))
                    .col(boolean("erased"))
                    .col(big_integer("version"))
                    .col(text("document"))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("complaints_customer", &["customer_id"][..]),
            ("complaints_order", &["order_id"]),
            ("complaints_team", &["team_id"]),
            ("complaints_assignee", &["assignee_id"]),
            ("complaints_next_check", &["next_check_at"]),
            ("complaints_created", &["created_at"]),
            ("complaints_cause", &["root_cause", "investigated_at"]),
        ] {
            let mut index = Index::create();
            index.name(name).table("complaints");
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("case_numbers")
                    .col(integer("year").primary_key())
                    .col(big_integer("last_number"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("order_volume")
                    .col(timestamp_with_time_zone("hour_start").primary_key())
                    .col(big_integer("order_count"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("recurring_causes")
                    .col(string("root_cause"))
                    .col(timestamp_with_time_zone("period_start"))
                    .col(timestamp_with_time_zone("period_end"))
                    .col(big_integer("occurrence_count"))
                    .col(big_integer("threshold"))
                    .col(timestamp_with_time_zone_null("flagged_at"))
                    .primary_key(Index::create().col("root_cause").col("period_start"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("knowledge_entries")
                    .col(string("id").primary_key())
                    .col(string("state"))
                    .col(string("category"))
                    .col(string("author_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(big_integer("version"))
                    .col(text("document"))
                    // The words of the problem, keywords and solution, cut for search.
                    .col(text("problem_words"))
                    .col(text("keyword_words"))
                    .col(text("solution_words"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                // The words are already cut, so the 'simple' configuration takes them as
                // they are; problem and keywords weigh A, the solution B.
                db.execute_unprepared(
                    "ALTER TABLE knowledge_entries ADD COLUMN search_vector tsvector \
                     GENERATED ALWAYS AS ( \
                       setweight(to_tsvector('simple', problem_words), 'A') || \
                       setweight(to_tsvector('simple', keyword_words), 'A') || \
                       setweight(to_tsvector('simple', solution_words), 'B')) STORED",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE INDEX knowledge_entries_search ON knowledge_entries \
                     USING GIN (search_vector)",
                )
                .await?;
            }
            DbBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE VIRTUAL TABLE knowledge_fts USING fts5( \
                       entry_id UNINDEXED, problem, keywords, solution, tokenize = 'unicode61')",
                )
                .await?;
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "complaint-desk runs on PostgreSQL or SQLite, not {other:?}"
                )));
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            manager
                .get_connection()
                .execute_unprepared("DROP TABLE knowledge_fts")
                .await?;
        }
        for table in [
            "knowledge_entries",
            "recurring_causes",
            "order_volume",
            "case_numbers",
            "complaints",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
