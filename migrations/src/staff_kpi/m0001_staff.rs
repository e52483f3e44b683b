//! staff-kpi's tables: the organisation (staff, teams), KPI definitions with their formula
//! versions, periods with the reward-rule versions fixed at their close, the facts read from
//! the other services' events and its own, assessments by revision with the events behind each
//! figure, disputes and the exclusions they upheld, reward rules by version and the outcomes
//! they decided, conduct breaches, training plans and attendance.

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
                    .table("staff")
                    .col(string("id").primary_key())
                    .col(string("display_name"))
                    .col(string("role"))
                    .col(string("team_id"))
                    .col(string("manager_id"))
                    .col(string("sales_region"))
                    .col(string("state"))
                    .col(timestamp_with_time_zone("joined_at"))
                    .col(timestamp_with_time_zone_null("left_at"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "staff", &["team_id"]).await?;
        index(manager, "staff", &["manager_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("teams")
                    .col(string("id").primary_key())
                    .col(string("display_name"))
                    .col(string("supervisor_id"))
                    .col(string("parent_team_id"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "teams", &["supervisor_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("kpi_definitions")
                    .col(string("kpi").primary_key())
                    .col(big_integer("version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("kpi_formulas")
                    .col(string("kpi"))
                    .col(integer("formula_version"))
                    .col(string("effective_from_date"))
                    .col(text("document"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("kpi").col("formula_version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("periods")
                    .col(string("id").primary_key())
                    .col(string("kind"))
                    .col(timestamp_with_time_zone("starts_at"))
                    .col(timestamp_with_time_zone("ends_at"))
                    .col(string("state"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(big_integer("staff_count"))
                    .col(big_integer("assessed_count"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "periods", &["state"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("period_rules")
                    .col(string("period_id"))
                    .col(string("rule_id"))
                    .col(big_integer("rule_version"))
                    .primary_key(Index::create().col("period_id").col("rule_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("facts")
                    .col(string("event_id").primary_key())
                    .col(string("source"))
                    .col(string("event_type"))
                    .col(string("kind"))
                    .col(string("staff_id"))
                    .col(string("subject_id"))
                    .col(string("ref_id"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .col(big_integer("amount"))
                    .col(boolean("flag"))
                    .col(string("code"))
                    .col(big_integer("seq"))
                    .to_owned(),
            )
            .await?;
        index(manager, "facts", &["staff_id", "kind", "occurred_at"]).await?;
        index(manager, "facts", &["subject_id"]).await?;
        index(manager, "facts", &["ref_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("assessments")
                    .col(string("staff_id"))
                    .col(string("period_id"))
                    .col(integer("revision"))
                    .col(string("cause"))
                    .col(string("dispute_id"))
                    .col(integer_null("score_tenths"))
                    .col(string("grade"))
                    .col(string("team_id"))
                    .col(text("figures"))
                    .col(timestamp_with_time_zone("computed_at"))
                    .primary_key(
                        Index::create()
                            .col("staff_id")
                            .col("period_id")
                            .col("revision"),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, "assessments", &["period_id", "staff_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("assessment_sources")
                    .col(string("staff_id"))
                    .col(string("period_id"))
                    .col(integer("revision"))
                    .col(string("kpi"))
                    .col(string("event_id"))
                    .col(string("source"))
                    .col(string("event_type"))
                    .col(string("subject_id"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .col(boolean("counted"))
                    .col(big_integer("amount"))
                    .primary_key(
                        Index::create()
                            .col("staff_id")
                            .col("period_id")
                            .col("revision")
                            .col("kpi")
                            .col("event_id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("exclusions")
                    .col(string("staff_id"))
                    .col(string("kpi"))
                    .col(string("event_id"))
                    .col(string("dispute_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("staff_id").col("kpi").col("event_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("disputes")
                    .col(string("id").primary_key())
                    .col(string("staff_id"))
                    .col(string("period_id"))
                    .col(string("kpi"))
                    .col(string("event_id"))
                    .col(string("state"))
                    .col(big_integer("version"))
                    .col(text("document"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "disputes", &["staff_id", "kpi", "event_id"]).await?;
        index(manager, "disputes", &["period_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("reward_rules")
                    .col(string("id").primary_key())
                    .col(big_integer("version"))
                    .col(boolean("disabled"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reward_rule_versions")
                    .col(string("rule_id"))
                    .col(big_integer("version"))
                    .col(text("document"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("rule_id").col("version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reward_penalties")
                    .col(string("id").primary_key())
                    .col(string("staff_id"))
                    .col(string("period_id"))
                    .col(integer("revision"))
                    .col(string("state"))
                    .col(text("document"))
                    .col(timestamp_with_time_zone("decided_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "reward_penalties", &["period_id", "staff_id"]).await?;
        index(manager, "reward_penalties", &["staff_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("breaches")
                    .col(string("id").primary_key())
                    .col(string("staff_id"))
                    .col(string("event_id").unique_key())
                    .col(string("upheld_dispute_id"))
                    .col(text("document"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "breaches", &["staff_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("training_plans")
                    .col(string("id").primary_key())
                    .col(text("document"))
                    .col(timestamp_with_time_zone("session_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("training_records")
                    .col(string("id").primary_key())
                    .col(string("plan_id"))
                    .col(string("staff_id"))
                    .col(string("event_id").unique_key())
                    .col(text("document"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("training_records_plan_id_staff_id")
                    .table("training_records")
                    .col("plan_id")
                    .col("staff_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(manager, "training_records", &["staff_id"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "training_records",
            "training_plans",
            "breaches",
            "reward_penalties",
            "reward_rule_versions",
            "reward_rules",
            "disputes",
            "exclusions",
            "assessment_sources",
            "assessments",
            "facts",
            "period_rules",
            "periods",
            "kpi_formulas",
            "kpi_definitions",
            "teams",
            "staff",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
