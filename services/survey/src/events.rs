//! What survey tells the others: invitations, skips, the measures of each response, problems
//! named, follow-up tasks and opt-outs, with ids, scores and codes only; answers' texts,
//! comments and reasons stay in the service.

use kefu_platform::events::append;
use kefu_platform::time::to_timestamp;
use kefu_proto::complaint as cpb;
use kefu_proto::survey as pb;
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::invitation::{Invitation, SurveyResponse};
use crate::domain::questionnaire::Measures;
use crate::domain::task::FollowUpTask;
use crate::domain::{Method, Problem, QuestionKind, TaskOutcome};
use crate::store::invitations::Skip;

fn method(m: Method) -> i32 {
    pb::Method::from(m) as i32
}

pub(crate) fn problem(p: Problem) -> i32 {
    cpb::Category::from(p) as i32
}

pub(crate) fn kind(k: QuestionKind) -> i32 {
    pb::QuestionKind::from(k) as i32
}

pub(crate) fn outcome(o: TaskOutcome) -> i32 {
    pb::FollowUpTaskOutcome::from(o) as i32
}

pub(crate) fn tier(code: &str) -> i32 {
    kefu_directory::tier_from_code(code) as i32
}

pub(crate) async fn invitation_sent<C: ConnectionTrait>(
    txn: &C,
    i: &Invitation,
) -> Result<(), DbErr> {
    let e = pb::InvitationSent {
        invitation_id: i.id.clone(),
        customer_id: i.customer_id.clone(),
        method: method(i.method),
        questionnaire_id: i.questionnaire_id.clone(),
        questionnaire_version: i.questionnaire_version,
        campaign_id: i.campaign_id.clone(),
        trigger_id: i.trigger_id.clone(),
        order_id: i.order_id.clone(),
        complaint_id: i.complaint_id.clone(),
        agent_id: i.agent_id.clone(),
        expire_time: Some(to_timestamp(i.expires_at)),
    };
    append(txn, &format!("invitations/{}", i.id), &e).await?;
    Ok(())
}

pub(crate) async fn survey_skipped<C: ConnectionTrait>(txn: &C, s: &Skip) -> Result<(), DbErr> {
    let e = pb::SurveySkipped {
        skipped_survey_id: s.id.clone(),
        customer_id: s.customer_id.clone(),
        reason: pb::SkipReason::from(s.reason) as i32,
        campaign_id: s.campaign_id.clone(),
        trigger_id: s.trigger_id.clone(),
    };
    append(txn, &format!("customers/{}", s.customer_id), &e).await?;
    Ok(())
}

pub(crate) async fn response_received<C: ConnectionTrait>(
    txn: &C,
    r: &SurveyResponse,
    i: &Invitation,
    m: &Measures,
) -> Result<(), DbErr> {
    let subject = format!("responses/{}", r.id);
    let e = pb::ResponseReceived {
        response_id: r.id.clone(),
        invitation_id: i.id.clone(),
        customer_id: i.customer_id.clone(),
        agent_id: i.agent_id.clone(),
        order_id: i.order_id.clone(),
        complaint_id: i.complaint_id.clone(),
        method: method(r.method),
        tier: tier(&i.tier),
        csat: m.csat,
        nps: m.nps,
        effort: m.effort,
    };
    append(txn, &subject, &e).await?;
    if let Some(p) = m.problem {
        let e = pb::ProblemReported {
            response_id: r.id.clone(),
            customer_id: i.customer_id.clone(),
            order_id: i.order_id.clone(),
            problem: problem(p),
            agent_id: i.agent_id.clone(),
        };
        append(txn, &subject, &e).await?;
    }
    Ok(())
}

pub(crate) async fn task_opened<C: ConnectionTrait>(
    txn: &C,
    t: &FollowUpTask,
) -> Result<(), DbErr> {
    let e = pb::FollowUpTaskOpened {
        follow_up_task_id: t.id.clone(),
        customer_id: t.customer_id.clone(),
        response_id: t.response_id.clone(),
        team_id: t.team_id.clone(),
        due_time: Some(to_timestamp(t.due_at)),
        low_measures: t.low_measures.iter().map(|k| kind(*k)).collect(),
    };
    append(txn, &format!("follow-up-tasks/{}", t.id), &e).await?;
    Ok(())
}

pub(crate) async fn task_completed<C: ConnectionTrait>(
    txn: &C,
    t: &FollowUpTask,
    actor: &str,
) -> Result<(), DbErr> {
    let e = pb::FollowUpTaskCompleted {
        follow_up_task_id: t.id.clone(),
        customer_id: t.customer_id.clone(),
        outcome: t.outcome.map_or(0, outcome),
        actor_id: actor.to_owned(),
    };
    append(txn, &format!("follow-up-tasks/{}", t.id), &e).await?;
    Ok(())
}

pub(crate) async fn opt_out_changed<C: ConnectionTrait>(
    txn: &C,
    customer_id: &str,
    opted_out: bool,
) -> Result<(), DbErr> {
    let e = pb::OptOutChanged {
        customer_id: customer_id.to_owned(),
        opted_out,
    };
    append(txn, &format!("customers/{customer_id}"), &e).await?;
    Ok(())
}
