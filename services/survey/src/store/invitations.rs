//! Invitations, their responses (with the measures as columns for the reports) and the
//! surveys skipped.

use chrono::{DateTime, Utc};
use kefu_platform::pii::PiiCipher;
use kefu_platform::reseal::SealedColumn;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use super::{Result, StoreError};
use crate::domain::invitation::{Invitation, SurveyResponse};
use crate::domain::quality::Rated;
use crate::domain::questionnaire::Measures;
use crate::domain::{InvitationState, Method, SkipReason};

const COLUMNS: [&str; 15] = [
    "id",
    "customer_id",
    "questionnaire_id",
    "questionnaire_version",
    "method",
    "state",
    "campaign_id",
    "trigger_id",
    "order_id",
    "complaint_id",
    "agent_id",
    "team_id",
    "tier",
    "sent_at",
    "expires_at",
];

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt {
        id: format!("invitation {id}"),
        what: what.to_owned(),
    }
}

fn of(row: &QueryResult) -> Result<Invitation> {
    let id: String = row.try_get("", "id")?;
    let method: String = row.try_get("", "method")?;
    let state: String = row.try_get("", "state")?;
    Ok(Invitation {
        method: Method::from_code(&method).ok_or_else(|| corrupt(&id, "method"))?,
        answered: state == InvitationState::Answered.code(),
        customer_id: row.try_get("", "customer_id")?,
        questionnaire_id: row.try_get("", "questionnaire_id")?,
        questionnaire_version: row.try_get("", "questionnaire_version")?,
        campaign_id: row.try_get("", "campaign_id")?,
        trigger_id: row.try_get("", "trigger_id")?,
        order_id: row.try_get("", "order_id")?,
        complaint_id: row.try_get("", "complaint_id")?,
        agent_id: row.try_get("", "agent_id")?,
        team_id: row.try_get("", "team_id")?,
        tier: row.try_get("", "tier")?,
        sent_at: row.try_get("", "sent_at")?,
        expires_at: row.try_get("", "expires_at")?,
        id,
    })
}

pub async fn insert<C: ConnectionTrait>(db: &C, i: &Invitation) -> Result<()> {
    let state = if i.answered {
        InvitationState::Answered
    } else {
        InvitationState::Sent
    };
    let insert = Query::insert()
        .into_table("invitations")
        .columns(COLUMNS)
        .values_panic([
            i.id.as_str().into(),
            i.customer_id.as_str().into(),
            i.questionnaire_id.as_str().into(),
            i.questionnaire_version.into(),
            i.method.code().into(),
            state.code().into(),
            i.campaign_id.as_str().into(),
            i.trigger_id.as_str().into(),
            i.order_id.as_str().into(),
            i.complaint_id.as_str().into(),
            i.agent_id.as_str().into(),
            i.team_id.as_str().into(),
            i.tier.as_str().into(),
            i.sent_at.into(),
            i.expires_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str, lock: bool) -> Result<Option<Invitation>> {
    let mut select = Query::select()
        .columns(COLUMNS)
        .from("invitations")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    if lock {
        super::for_update(db, &mut select);
    }
    db.query_one(&select).await?.as_ref().map(of).transpose()
}

pub async fn mark_answered<C: ConnectionTrait>(db: &C, id: &str) -> Result<()> {
    let update = Query::update()
        .table("invitations")
        .value("state", InvitationState::Answered.code())
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// What a list of invitations asks for.
#[derive(Debug, Default)]
pub struct Filter {
    /// Only these teams' customers (agents); `None` for everyone's.
    pub teams: Option<Vec<String>>,
    pub customer_id: Option<String>,
    pub team_id: Option<String>,
    pub method: Option<Method>,
    pub state: Option<InvitationState>,
    pub after_id: Option<String>,
}

/// Invitations in id order. The state filter reads `now`: an unanswered invitation past its
/// window has expired.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    filter: &Filter,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Invitation>> {
    let mut select = Query::select();
    select
        .columns(COLUMNS)
        .from("invitations")
        .order_by("id", sea_orm::Order::Asc)
        .limit(limit);
    if let Some(teams) = &filter.teams {
        select.and_where(Expr::col("team_id").is_in(teams.iter().map(String::as_str)));
    }
    if let Some(customer) = &filter.customer_id {
        select.and_where(Expr::col("customer_id").eq(customer.as_str()));
    }
    if let Some(team) = &filter.team_id {
        select.and_where(Expr::col("team_id").eq(team.as_str()));
    }
    if let Some(method) = filter.method {
        select.and_where(Expr::col("method").eq(method.code()));
    }
    match filter.state {
        Some(InvitationState::Answered) => {
            select.and_where(Expr::col("state").eq(InvitationState::Answered.code()));
        }
        Some(InvitationState::Sent) => {
            select
                .and_where(Expr::col("state").eq(InvitationState::Sent.code()))
                .and_where(Expr::col("expires_at").gt(now));
        }
        Some(InvitationState::Expired) => {
            select
                .and_where(Expr::col("state").eq(InvitationState::Sent.code()))
                .and_where(Expr::col("expires_at").lte(now));
        }
        None => {}
    }
    if let Some(after) = &filter.after_id {
        select.and_where(Expr::col("id").gt(after.as_str()));
    }
    db.query_all(&select).await?.iter().map(of).collect()
}

// Responses.

/// What a response's sealed document is bound to: moved to another row, it does not open.
pub fn response_binding(id: &str) -> String {
    format!("survey_responses/{id}/document")
}

/// a response's document holds the customer's own words (free-text answers, comments);
/// it is sealed at rest, and the scores beside it stay columns for the reports.
pub const SEALED_RESPONSES: SealedColumn = SealedColumn {
    table: "survey_responses",
    id: "id",
    column: "document",
    binding: response_binding,
};

/// Writes a response; `false` when its invitation has one already.
pub async fn insert_response<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    r: &SurveyResponse,
    invitation: &Invitation,
    measures: &Measures,
) -> Result<bool> {
    let insert = Query::insert()
        .into_table("survey_responses")
        .columns([
            "id",
            "invitation_id",
            "customer_id",
            "campaign_id",
            "questionnaire_id",
            "tier",
            "agent_id",
            "csat",
            "nps",
            "effort",
            "submitted_at",
            "erased",
            "document",
        ])
        .values_panic([
            r.id.as_str().into(),
            r.invitation_id.as_str().into(),
            r.customer_id.as_str().into(),
            invitation.campaign_id.as_str().into(),
            invitation.questionnaire_id.as_str().into(),
            invitation.tier.as_str().into(),
            invitation.agent_id.as_str().into(),
            measures.csat.into(),
            measures.nps.into(),
            measures.effort.into(),
            r.submitted_at.into(),
            r.erased.into(),
            SEALED_RESPONSES.seal_json(cipher, &r.id, r).into(),
        ])
        .on_conflict(OnConflict::column("invitation_id").do_nothing().to_owned())
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn response<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    id: &str,
) -> Result<Option<SurveyResponse>> {
    let select = Query::select()
        .from("survey_responses")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    Ok(SEALED_RESPONSES.read_one(db, cipher, select, false).await?)
}

/// Rewrites a response's document (an erasure).
pub async fn update_response<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    r: &SurveyResponse,
) -> Result<()> {
    let update = Query::update()
        .table("survey_responses")
        .value("document", SEALED_RESPONSES.seal_json(cipher, &r.id, r))
        .value("erased", r.erased)
        .and_where(Expr::col("id").eq(r.id.as_str()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// A customer's responses.
pub async fn responses_of<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    customer_id: &str,
) -> Result<Vec<SurveyResponse>> {
    let select = Query::select()
        .from("survey_responses")
        .and_where(Expr::col("customer_id").eq(customer_id))
        .to_owned();
    Ok(SEALED_RESPONSES.read_all(db, cipher, &select).await?)
}

/// The measures of responses submitted in `[from, to)`, optionally of one campaign or
/// questionnaire.
pub async fn rated<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    campaign_id: Option<&str>,
    questionnaire_id: Option<&str>,
) -> Result<Vec<Rated>> {
    let mut select = Query::select();
    select
        .columns(["submitted_at", "tier", "agent_id", "csat", "nps", "effort"])
        .from("survey_responses")
        .and_where(Expr::col("submitted_at").gte(from))
        .and_where(Expr::col("submitted_at").lt(to));
    if let Some(campaign) = campaign_id {
        select.and_where(Expr::col("campaign_id").eq(campaign));
    }
    if let Some(questionnaire) = questionnaire_id {
        select.and_where(Expr::col("questionnaire_id").eq(questionnaire));
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            Ok(Rated {
                at: row.try_get("", "submitted_at")?,
                tier: row.try_get("", "tier")?,
                agent: row.try_get("", "agent_id")?,
                csat: row.try_get("", "csat")?,
                nps: row.try_get("", "nps")?,
                effort: row.try_get("", "effort")?,
            })
        })
        .collect()
}

/// Responses to a campaign's invitations.
pub async fn answered<C: ConnectionTrait>(db: &C, campaign_id: &str) -> Result<i64> {
    let select = Query::select()
        .expr_as(Expr::col("id").count(), "n")
        .from("survey_responses")
        .and_where(Expr::col("campaign_id").eq(campaign_id))
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    })
}

// Skips.

/// One survey not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub id: String,
    pub customer_id: String,
    pub reason: SkipReason,
    pub campaign_id: String,
    pub trigger_id: String,
    pub quiet_until: Option<DateTime<Utc>>,
    pub skipped_at: DateTime<Utc>,
}

pub async fn insert_skip<C: ConnectionTrait>(db: &C, s: &Skip) -> Result<()> {
    let insert = Query::insert()
        .into_table("skipped_surveys")
        .columns([
            "id",
            "customer_id",
            "reason",
            "campaign_id",
            "trigger_id",
            "quiet_until",
            "skipped_at",
        ])
        .values_panic([
            s.id.as_str().into(),
            s.customer_id.as_str().into(),
            s.reason.code().into(),
            s.campaign_id.as_str().into(),
            s.trigger_id.as_str().into(),
            s.quiet_until.into(),
            s.skipped_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn skip<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<Skip>> {
    Ok(skips_where(db, Some(id), None, None, 1).await?.pop())
}

pub async fn skips<C: ConnectionTrait>(
    db: &C,
    customer_id: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Skip>> {
    skips_where(db, None, customer_id, after, limit).await
}

async fn skips_where<C: ConnectionTrait>(
    db: &C,
    id: Option<&str>,
    customer_id: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Skip>> {
    let mut select = Query::select();
    if let Some(id) = id {
        select.and_where(Expr::col("id").eq(id));
    }
    select
        .columns([
            "id",
            "customer_id",
            "reason",
            "campaign_id",
            "trigger_id",
            "quiet_until",
            "skipped_at",
        ])
        .from("skipped_surveys")
        .order_by("id", sea_orm::Order::Asc)
        .limit(limit);
    if let Some(customer) = customer_id {
        select.and_where(Expr::col("customer_id").eq(customer));
    }
    if let Some(after) = after {
        select.and_where(Expr::col("id").gt(after));
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            let id: String = row.try_get("", "id")?;
            let reason: String = row.try_get("", "reason")?;
            Ok(Skip {
                reason: SkipReason::from_code(&reason).ok_or_else(|| StoreError::Corrupt {
                    id: format!("skipped survey {id}"),
                    what: "reason".into(),
                })?,
                customer_id: row.try_get("", "customer_id")?,
                campaign_id: row.try_get("", "campaign_id")?,
                trigger_id: row.try_get("", "trigger_id")?,
                quiet_until: row.try_get("", "quiet_until")?,
                skipped_at: row.try_get("", "skipped_at")?,
                id,
            })
        })
        .collect()
}
