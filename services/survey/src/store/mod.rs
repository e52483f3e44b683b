//! survey's storage. Versioned things (questionnaires, campaigns, triggers, follow-up tasks)
//! are documents (the domain's types as JSON) beside the columns queries need; rows are
//! locked for each change. `customers` keeps what the other services announced of each
//! customer with its opt-out and last invitation; `invitations` the invitations, responses
//! and skips; `facts` the order and complaint facts the quality report reads.

pub mod customers;
pub mod facts;
pub mod invitations;
pub mod report;

use chrono::{DateTime, Utc};
use kefu_platform::pii::PiiCipher;
use kefu_platform::reseal::SealedColumn;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};

use crate::domain::campaign::{Campaign, Trigger};
use crate::domain::questionnaire::{Published, Questionnaire};
use crate::domain::task::FollowUpTask;
use crate::domain::{TaskState, TriggerKind};

pub use kefu_platform::rows::{Result, StoreError};
pub(crate) use kefu_platform::rows::{documents, for_update, json, one_document, parse};

// Questionnaires.

pub async fn insert_questionnaire<C: ConnectionTrait>(db: &C, q: &Questionnaire) -> Result<()> {
    let insert = Query::insert()
        .into_table("questionnaires")
        .columns([
            "id",
            "title",
            "draft",
            "draft_version",
            "published_version",
            "created_at",
        ])
        .values_panic([
            q.id.as_str().into(),
            q.draft.title.as_str().into(),
            json(q).into(),
            q.draft_version.into(),
            q.published_version.into(),
            q.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

fn questionnaire_select(id: &str) -> SelectStatement {
    Query::select()
        .expr_as(Expr::col("draft"), "document")
        .from("questionnaires")
        .and_where(Expr::col("id").eq(id))
        .to_owned()
}

pub async fn questionnaire<C: ConnectionTrait>(
    db: &C,
    id: &str,
    lock: bool,
) -> Result<Option<Questionnaire>> {
    one_document(
        db,
        questionnaire_select(id),
        lock,
        &format!("questionnaire {id}"),
    )
    .await
}

pub async fn update_questionnaire<C: ConnectionTrait>(db: &C, q: &Questionnaire) -> Result<()> {
    let update = Query::update()
        .table("questionnaires")
        .value("title", q.draft.title.as_str())
        .value("draft", json(q))
        .value("draft_version", q.draft_version)
        .value("published_version", q.published_version)
        .and_where(Expr::col("id").eq(q.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn insert_version<C: ConnectionTrait>(db: &C, p: &Published) -> Result<()> {
    let insert = Query::insert()
        .into_table("questionnaire_versions")
        .columns(["questionnaire_id", "version", "document", "published_at"])
        .values_panic([
            p.questionnaire_id.as_str().into(),
            p.version.into(),
            json(p).into(),
            p.published_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn version<C: ConnectionTrait>(
    db: &C,
    id: &str,
    version: i32,
) -> Result<Option<Published>> {
    let select = Query::select()
        .column("document")
        .from("questionnaire_versions")
        .and_where(Expr::col("questionnaire_id").eq(id))
        .and_where(Expr::col("version").eq(version))
        .to_owned();
    one_document(db, select, false, &format!("questionnaire {id} v{version}")).await
}

pub async fn questionnaires<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Questionnaire>> {
    let mut select = Query::select();
    select
        .expr_as(Expr::col("draft"), "document")
        .column("id")
        .from("questionnaires")
        .order_by("id", sea_orm::Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        select.and_where(Expr::col("id").gt(after));
    }
    documents(db, &select, "questionnaire").await
}

// Campaigns.

pub async fn insert_campaign<C: ConnectionTrait>(
    db: &C,
    c: &Campaign,
    now: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("campaigns")
        .columns([
            "id",
            "state",
            "starts_at",
            "ends_at",
            "invited_count",
            "skipped_count",
            "version",
            "document",
        ])
        .values_panic([
            c.id.as_str().into(),
            c.state(now).code().into(),
            c.starts_at.into(),
            c.ends_at.into(),
            c.invited.into(),
            c.skipped.into(),
            c.version.into(),
            json(c).into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// A campaign with its progress, which passes count in columns.
fn campaign_of(row: &QueryResult) -> Result<Campaign> {
    let mut campaign: Campaign = parse(row, "document", "campaign")?;
    campaign.invited = row.try_get("", "invited_count")?;
    campaign.skipped = row.try_get("", "skipped_count")?;
    Ok(campaign)
}

const CAMPAIGN_COLUMNS: [&str; 3] = ["document", "invited_count", "skipped_count"];

pub async fn campaign<C: ConnectionTrait>(
    db: &C,
    id: &str,
    lock: bool,
) -> Result<Option<Campaign>> {
    let mut select = Query::select()
        .columns(CAMPAIGN_COLUMNS)
        .from("campaigns")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    if lock {
        for_update(db, &mut select);
    }
    db.query_one(&select)
        .await?
        .as_ref()
        .map(campaign_of)
        .transpose()
}

/// Counts one customer reached by a campaign.
pub async fn count_campaign<C: ConnectionTrait>(db: &C, id: &str, invited: bool) -> Result<()> {
    let column = if invited {
        "invited_count"
    } else {
        "skipped_count"
    };
    let update = Query::update()
        .table("campaigns")
        .value(column, Expr::col(column).add(1))
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn update_campaign<C: ConnectionTrait>(
    db: &C,
    c: &Campaign,
    now: DateTime<Utc>,
) -> Result<()> {
    let update = Query::update()
        .table("campaigns")
        .value("state", c.state(now).code())
        .value("version", c.version)
        .value("document", json(c))
        .and_where(Expr::col("id").eq(c.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn campaigns<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Campaign>> {
    let mut select = Query::select();
    select
        .columns(CAMPAIGN_COLUMNS)
        .from("campaigns")
        .order_by("id", sea_orm::Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        select.and_where(Expr::col("id").gt(after));
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(campaign_of)
        .collect()
}

/// Ids of campaigns whose interval holds `now` and that were not cancelled.
pub async fn running_campaigns<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let select = Query::select()
        .column("id")
        .from("campaigns")
        .and_where(Expr::col("starts_at").lte(now))
        .and_where(Expr::col("ends_at").gt(now))
        .and_where(Expr::col("state").ne("cancelled"))
        .to_owned();
    Ok(db
        .query_all(&select)
        .await?
        .iter()
        .map(|r| r.try_get("", "id"))
        .collect::<std::result::Result<_, _>>()?)
}

/// Marks `customer_id` as reached by `campaign_id`; `false` when it was already.
pub async fn target<C: ConnectionTrait>(
    db: &C,
    campaign_id: &str,
    customer_id: &str,
) -> Result<bool> {
    let insert = Query::insert()
        .into_table("campaign_targets")
        .columns(["campaign_id", "customer_id"])
        .values_panic([campaign_id.into(), customer_id.into()])
        .on_conflict(
            OnConflict::columns(["campaign_id", "customer_id"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

// Triggers.

pub async fn insert_trigger<C: ConnectionTrait>(
    db: &C,
    t: &Trigger,
    now: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table("triggers")
        .columns(["id", "kind", "enabled", "version", "created_at", "document"])
        .values_panic([
            t.id.as_str().into(),
            t.kind.code().into(),
            t.enabled.into(),
            t.version.into(),
            now.into(),
            json(t).into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn trigger<C: ConnectionTrait>(db: &C, id: &str, lock: bool) -> Result<Option<Trigger>> {
    let select = Query::select()
        .column("document")
        .from("triggers")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    one_document(db, select, lock, &format!("trigger {id}")).await
}

pub async fn update_trigger<C: ConnectionTrait>(db: &C, t: &Trigger) -> Result<()> {
    let update = Query::update()
        .table("triggers")
        .value("enabled", t.enabled)
        .value("version", t.version)
        .value("document", json(t))
        .and_where(Expr::col("id").eq(t.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

pub async fn triggers<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Trigger>> {
    let mut select = Query::select();
    select
        .column("document")
        .from("triggers")
        .order_by("id", sea_orm::Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        select.and_where(Expr::col("id").gt(after));
    }
    documents(db, &select, "trigger").await
}

pub async fn enabled_triggers<C: ConnectionTrait>(
    db: &C,
    kind: TriggerKind,
) -> Result<Vec<Trigger>> {
    let select = Query::select()
        .column("document")
        .from("triggers")
        .and_where(Expr::col("kind").eq(kind.code()))
        .and_where(Expr::col("enabled").eq(true))
        .to_owned();
    documents(db, &select, "trigger").await
}

/// A survey a trigger scheduled for one source event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    pub trigger_id: String,
    pub source_key: String,
    pub customer_id: String,
    pub order_id: String,
    pub complaint_id: String,
    pub agent_id: String,
    pub due_at: DateTime<Utc>,
    /// The W3C context of what scheduled it, which the survey sent later continues.
    pub traceparent: String,
}

/// Schedules a firing; the same trigger and source event again schedules nothing.
pub async fn schedule<C: ConnectionTrait>(db: &C, s: &Scheduled) -> Result<()> {
    let insert = Query::insert()
        .into_table("scheduled_surveys")
        .columns([
            "trigger_id",
            "source_key",
            "customer_id",
            "order_id",
            "complaint_id",
            "agent_id",
            "due_at",
            "done",
            "traceparent",
        ])
        .values_panic([
            s.trigger_id.as_str().into(),
            s.source_key.as_str().into(),
            s.customer_id.as_str().into(),
            s.order_id.as_str().into(),
            s.complaint_id.as_str().into(),
            s.agent_id.as_str().into(),
            s.due_at.into(),
            false.into(),
            s.traceparent.as_str().into(),
        ])
        .on_conflict(
            OnConflict::columns(["trigger_id", "source_key"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

fn scheduled_of(row: &QueryResult) -> Result<Scheduled> {
    Ok(Scheduled {
        trigger_id: row.try_get("", "trigger_id")?,
        source_key: row.try_get("", "source_key")?,
        customer_id: row.try_get("", "customer_id")?,
        order_id: row.try_get("", "order_id")?,
        complaint_id: row.try_get("", "complaint_id")?,
        agent_id: row.try_get("", "agent_id")?,
        due_at: row.try_get("", "due_at")?,
        traceparent: row.try_get("", "traceparent")?,
    })
}

const SCHEDULED_COLUMNS: [&str; 8] = [
    "trigger_id",
    "source_key",
    "customer_id",
    "order_id",
    "complaint_id",
    "agent_id",
    "due_at",
    "traceparent",
];

/// Firings due by `now`, oldest first.
pub async fn due<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Scheduled>> {
    let select = Query::select()
        .columns(SCHEDULED_COLUMNS)
        .from("scheduled_surveys")
        .and_where(Expr::col("done").eq(false))
        .and_where(Expr::col("due_at").lte(now))
        .order_by("due_at", sea_orm::Order::Asc)
        .limit(limit)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(scheduled_of)
        .collect()
}

/// Takes a firing not done yet, locked; `None` when another replica did it.
pub async fn take_scheduled<C: ConnectionTrait>(
    db: &C,
    trigger_id: &str,
    source_key: &str,
) -> Result<Option<Scheduled>> {
    let mut select = Query::select()
        .columns(SCHEDULED_COLUMNS)
        .from("scheduled_surveys")
        .and_where(Expr::col("trigger_id").eq(trigger_id))
        .and_where(Expr::col("source_key").eq(source_key))
        .and_where(Expr::col("done").eq(false))
        .to_owned();
    for_update(db, &mut select);
    db.query_one(&select)
        .await?
        .as_ref()
        .map(scheduled_of)
        .transpose()
}

pub async fn mark_done<C: ConnectionTrait>(
    db: &C,
    trigger_id: &str,
    source_key: &str,
) -> Result<()> {
    let update = Query::update()
        .table("scheduled_surveys")
        .value("done", true)
        .and_where(Expr::col("trigger_id").eq(trigger_id))
        .and_where(Expr::col("source_key").eq(source_key))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

// Follow-up tasks.

/// a follow-up task keeps what the customer said and what staff noted when they called
/// back; its document is sealed at rest.
pub const SEALED_TASKS: SealedColumn = SealedColumn {
    table: "follow_up_tasks",
    id: "id",
    column: "document",
    binding: |id| format!("follow_up_tasks/{id}/document"),
};

/// Writes a new task; `false` when the response has one already.
pub async fn insert_task<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    t: &FollowUpTask,
) -> Result<bool> {
    let insert = Query::insert()
        .into_table("follow_up_tasks")
        .columns([
            "id",
            "customer_id",
            "response_id",
            "team_id",
            "state",
            "version",
            "created_at",
            "document",
        ])
        .values_panic([
            t.id.as_str().into(),
            t.customer_id.as_str().into(),
            t.response_id.as_str().into(),
            t.team_id.as_str().into(),
            t.state.code().into(),
            t.version.into(),
            t.created_at.into(),
            SEALED_TASKS.seal_json(cipher, &t.id, t).into(),
        ])
        .on_conflict(OnConflict::column("response_id").do_nothing().to_owned())
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn task<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    id: &str,
    lock: bool,
) -> Result<Option<FollowUpTask>> {
    let select = Query::select()
        .from("follow_up_tasks")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    Ok(SEALED_TASKS.read_one(db, cipher, select, lock).await?)
}

pub async fn update_task<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    t: &FollowUpTask,
) -> Result<()> {
    let update = Query::update()
        .table("follow_up_tasks")
        .value("state", t.state.code())
        .value("version", t.version)
        .value("document", SEALED_TASKS.seal_json(cipher, &t.id, t))
        .and_where(Expr::col("id").eq(t.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Tasks in id order; `teams` limits them to those teams' customers.
pub async fn tasks<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    teams: Option<&[String]>,
    state: Option<TaskState>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<FollowUpTask>> {
    let mut select = Query::select();
    select
        .from("follow_up_tasks")
        .order_by("id", sea_orm::Order::Asc)
        .limit(limit);
    if let Some(teams) = teams {
        select.and_where(Expr::col("team_id").is_in(teams.iter().map(String::as_str)));
    }
    if let Some(state) = state {
        select.and_where(Expr::col("state").eq(state.code()));
    }
    if let Some(after) = after {
        select.and_where(Expr::col("id").gt(after));
    }
    Ok(SEALED_TASKS.read_all(db, cipher, &select).await?)
}

/// Ids of a customer's tasks.
pub async fn tasks_of_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<Vec<String>> {
    let select = Query::select()
        .column("id")
        .from("follow_up_tasks")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .to_owned();
    Ok(db
        .query_all(&select)
        .await?
        .iter()
        .map(|r| r.try_get("", "id"))
        .collect::<std::result::Result<_, _>>()?)
}
