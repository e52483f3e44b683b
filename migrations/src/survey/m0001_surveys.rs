//! survey's tables: questionnaires and their frozen versions, campaigns and their targets,
//! triggers and the firings they scheduled, customers as the other services' events describe
//! them (with the opt-out and the last invitation, whose row serialises a customer's
//! surveys), invitations, responses with their measures, skips, follow-up tasks, and the
//! order and complaint facts the quality report reads.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

async fn index(
    manager: &SchemaManager<'_>,
    table: &str,
    columns: &[&'static str],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index
        .name(format!("{table}_{}", columns.join("_")))
        .table(table.to_owned());
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("questionnaires")
                    .col(string("id").primary_key())
                    .col(string("title"))
                    .col(text("draft"))
                    .col(big_integer("draft_version"))
                    .col(integer("published_version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("questionnaire_versions")
                    .col(string("questionnaire_id"))
                    .col(integer("version"))
                    .col(text("document"))
                    .col(timestamp_with_time_zone("published_at"))
                    .primary_key(Index::create().col("questionnaire_id").col("version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("campaigns")
                    .col(string("id").primary_key())
                    .col(string("state"))
                    .col(timestamp_with_time_zone("starts_at"))
                    .col(timestamp_with_time_zone("ends_at"))
                    .col(big_integer("invited_count"))
                    .col(big_integer("skipped_count"))
                    .col(big_integer("version"))
                    .col(text("document"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("campaign_targets")
                    .col(string("campaign_id"))
                    .col(string("customer_id"))
                    .primary_key(Index::create().col("campaign_id").col("customer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("triggers")
                    .col(string("id").primary_key())
                    .col(string("kind"))
                    .col(boolean("enabled"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(text("document"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("scheduled_surveys")
                    .col(string("trigger_id"))
                    // The source event, e.g. "order:<id>": a trigger fires once per event.
                    .col(string("source_key"))
                    .col(string("customer_id"))
                    .col(string("order_id"))
                    .col(string("complaint_id"))
                    .col(string("agent_id"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(boolean("done"))
                    .primary_key(Index::create().col("trigger_id").col("source_key"))
                    .to_owned(),
            )
            .await?;
        index(manager, "scheduled_surveys", &["done", "due_at"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("survey_customers")
                    .col(string("customer_id").primary_key())
                    .col(string("tier"))
                    .col(string("team_id"))
                    .col(boolean("active"))
                    .col(big_integer("record_version"))
                    .col(boolean("opted_out"))
                    .col(string("opt_out_reason"))
                    .col(timestamp_with_time_zone_null("opt_out_at"))
                    .col(timestamp_with_time_zone_null("last_invited_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "survey_customers", &["tier", "active"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(string("id").primary_key())
                    .col(string("customer_id"))
                    .col(string("questionnaire_id"))
                    .col(integer("questionnaire_version"))
                    .col(string("method"))
                    .col(string("state"))
                    .col(string("campaign_id"))
                    .col(string("trigger_id"))
                    .col(string("order_id"))
                    .col(string("complaint_id"))
                    .col(string("agent_id"))
                    .col(string("team_id"))
                    .col(string("tier"))
                    .col(timestamp_with_time_zone("sent_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "invitations", &["customer_id"]).await?;
        index(manager, "invitations", &["team_id", "state"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("survey_responses")
                    .col(string("id").primary_key())
                    .col(string("invitation_id").unique_key())
                    .col(string("customer_id"))
                    .col(string("campaign_id"))
                    .col(string("questionnaire_id"))
                    .col(string("tier"))
                    .col(string("agent_id"))
                    .col(integer_null("csat"))
                    .col(integer_null("nps"))
                    .col(integer_null("effort"))
                    .col(timestamp_with_time_zone("submitted_at"))
                    .col(boolean("erased"))
                    .col(text("document"))
                    .to_owned(),
            )
            .await?;
        index(manager, "survey_responses", &["submitted_at"]).await?;
        index(manager, "survey_responses", &["customer_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("skipped_surveys")
                    .col(string("id").primary_key())
                    .col(string("customer_id"))
                    .col(string("reason"))
                    .col(string("campaign_id"))
                    .col(string("trigger_id"))
                    .col(timestamp_with_time_zone_null("quiet_until"))
                    .col(timestamp_with_time_zone("skipped_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "skipped_surveys", &["customer_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("follow_up_tasks")
                    .col(string("id").primary_key())
                    .col(string("customer_id"))
                    .col(string("response_id").unique_key())
                    .col(string("team_id"))
                    .col(string("state"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(text("document"))
                    .to_owned(),
            )
            .await?;
        index(manager, "follow_up_tasks", &["team_id", "state"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("seen_orders")
                    .col(string("order_id").primary_key())
                    .col(string("customer_id"))
                    .col(string("tier"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .col(string("delivered_by"))
                    .to_owned(),
            )
            .await?;
        index(manager, "seen_orders", &["created_at"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("seen_complaints")
                    .col(string("complaint_id").primary_key())
                    .col(string("customer_id"))
                    .col(string("tier"))
                    .col(boolean("is_complaint"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(big_integer_null("resolution_seconds"))
                    .col(string("assignee_id"))
                    .to_owned(),
            )
            .await?;
        index(manager, "seen_complaints", &["created_at"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "seen_complaints",
            "seen_orders",
            "follow_up_tasks",
            "skipped_surveys",
            "survey_responses",
            "invitations",
            "survey_customers",
            "scheduled_surveys",
            "triggers",
            "campaign_targets",
            "campaigns",
            "questionnaire_versions",
            "questionnaires",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
