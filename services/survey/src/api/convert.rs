//! The contract's messages to and from the domain's types. A number the contract does not know
//! is a bad field on the way in.

use chrono::{DateTime, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::time::{Period, from_timestamp, to_timestamp};
use kefu_proto::common as pc;
use kefu_proto::complaint as cpb;
use kefu_proto::survey as pb;

use crate::domain::campaign::{Campaign, CampaignDraft, Trigger};
use crate::domain::invitation::{Invitation, SurveyResponse};
use crate::domain::quality::{Dimension, Group, QualityRow, ScoreRow};
use crate::domain::questionnaire::{Answer, AnswerValue, Form, QuestionDraft};
use crate::domain::scores::Score;
use crate::domain::task::FollowUpTask;
use crate::domain::{
    CampaignState, InvitationState, Method, Problem, QuestionKind, SkipReason, TaskOutcome,
    TaskState, TriggerKind,
};
use crate::events;
use crate::questionnaires::Shown;
use crate::responses::OptOut;
use crate::store::invitations::Skip;

macro_rules! enum_map {
    ($domain:ty, $proto:ty, $unspecified:path, $( $d:path => $p:path ),+ $(,)?) => {
        impl From<$domain> for $proto {
            fn from(value: $domain) -> Self {
                match value { $( $d => $p ),+ }
            }
        }

        impl FromWire for $domain {
            fn from_wire(value: i32) -> Option<Self> {
                match <$proto>::try_from(value).ok()? {
                    $unspecified => None,
                    $( $p => Some($d) ),+
                }
            }
        }
    };
}

/// A contract enum number as the domain's value: `None` for UNSPECIFIED and unknown numbers.
pub(crate) trait FromWire: Sized {
    fn from_wire(value: i32) -> Option<Self>;
}

enum_map!(Method, pb::Method, pb::Method::Unspecified,
    Method::Phone => pb::Method::Phone,
    Method::Online => pb::Method::Online,
    Method::Questionnaire => pb::Method::Questionnaire,
    Method::Visit => pb::Method::Visit,
);

enum_map!(QuestionKind, pb::QuestionKind, pb::QuestionKind::Unspecified,
    QuestionKind::Csat => pb::QuestionKind::Csat,
    QuestionKind::Nps => pb::QuestionKind::Nps,
    QuestionKind::Effort => pb::QuestionKind::Effort,
    QuestionKind::SingleChoice => pb::QuestionKind::SingleChoice,
    QuestionKind::MultipleChoice => pb::QuestionKind::MultipleChoice,
    QuestionKind::Text => pb::QuestionKind::Text,
    QuestionKind::Problem => pb::QuestionKind::Problem,
);

enum_map!(InvitationState, pb::InvitationState, pb::InvitationState::Unspecified,
    InvitationState::Sent => pb::InvitationState::Sent,
    InvitationState::Answered => pb::InvitationState::Answered,
    InvitationState::Expired => pb::InvitationState::Expired,
);

enum_map!(SkipReason, pb::SkipReason, pb::SkipReason::Unspecified,
    SkipReason::QuietPeriod => pb::SkipReason::QuietPeriod,
    SkipReason::OptedOut => pb::SkipReason::OptedOut,
);

enum_map!(TriggerKind, pb::TriggerKind, pb::TriggerKind::Unspecified,
    TriggerKind::AfterDelivery => pb::TriggerKind::AfterDelivery,
    TriggerKind::AfterComplaintClosed => pb::TriggerKind::AfterComplaintClosed,
);

enum_map!(CampaignState, pb::CampaignState, pb::CampaignState::Unspecified,
    CampaignState::Scheduled => pb::CampaignState::Scheduled,
    CampaignState::Running => pb::CampaignState::Running,
    CampaignState::Finished => pb::CampaignState::Finished,
    CampaignState::Cancelled => pb::CampaignState::Cancelled,
);

enum_map!(TaskState, pb::FollowUpTaskState, pb::FollowUpTaskState::Unspecified,
    TaskState::Open => pb::FollowUpTaskState::Open,
    TaskState::Done => pb::FollowUpTaskState::Done,
);

enum_map!(TaskOutcome, pb::FollowUpTaskOutcome, pb::FollowUpTaskOutcome::Unspecified,
    TaskOutcome::Settled => pb::FollowUpTaskOutcome::Settled,
    TaskOutcome::Escalated => pb::FollowUpTaskOutcome::Escalated,
    TaskOutcome::Unreachable => pb::FollowUpTaskOutcome::Unreachable,
);

enum_map!(Problem, cpb::Category, cpb::Category::Unspecified,
    Problem::Damage => cpb::Category::Damage,
    Problem::Loss => cpb::Category::Loss,
    Problem::Delay => cpb::Category::Delay,
    Problem::HandoverDispute => cpb::Category::HandoverDispute,
    Problem::StaffAttitude => cpb::Category::StaffAttitude,
    Problem::Billing => cpb::Category::Billing,
    Problem::Other => cpb::Category::Other,
);

/// A required enum: `None` when unset; a bad field for a number the contract does not have.
pub(crate) fn required<T: FromWire>(value: i32, field: &str, v: &mut Violations) -> Option<T> {
    let parsed = T::from_wire(value);
    if parsed.is_none() && value != 0 {
        v.add(field, "unknown value");
    }
    parsed
}

/// A filter's enum: `Ok(None)` for UNSPECIFIED, a bad field for an unknown number.
pub(crate) fn filter<T: FromWire>(
    value: i32,
    field: &str,
) -> Result<Option<T>, Vec<FieldViolation>> {
    match T::from_wire(value) {
        Some(v) => Ok(Some(v)),
        None if value == 0 => Ok(None),
        None => Err(vec![FieldViolation {
            field: field.into(),
            description: "unknown value".into(),
        }]),
    }
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t))
}

/// An interval's two ends, both required, the end after the start.
pub(crate) fn interval(
    interval: Option<&pc::Interval>,
    field: &str,
    v: &mut Violations,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = interval
        .and_then(|i| i.start_time.as_ref())
        .and_then(from_timestamp);
    let end = interval
        .and_then(|i| i.end_time.as_ref())
        .and_then(from_timestamp);
    v.check(start.is_some(), format!("{field}.start_time"), "required");
    v.check(end.is_some(), format!("{field}.end_time"), "required");
    match (start, end) {
        (Some(s), Some(e)) if e > s => Some((s, e)),
        (Some(_), Some(_)) => {
            v.add(format!("{field}.end_time"), "must be after start_time");
            None
        }
        _ => None,
    }
}

pub(crate) fn questions(questions: &[pb::Question], v: &mut Violations) -> Vec<QuestionDraft> {
    questions
        .iter()
        .enumerate()
        .map(|(i, q)| QuestionDraft {
            id: q.question_id.clone(),
            kind: required(q.kind, &format!("questionnaire.questions[{i}].kind"), v),
            text: q.text.clone(),
            options: q.options.clone(),
            required: q.required,
        })
        .collect()
}

fn question(q: &crate::domain::questionnaire::Question) -> pb::Question {
    pb::Question {
        question_id: q.id.clone(),
        kind: pb::QuestionKind::from(q.kind).into(),
        text: q.text.clone(),
        options: q.options.clone(),
        required: q.required,
    }
}

pub(crate) fn questionnaire(shown: &Shown) -> pb::Questionnaire {
    let q = &shown.questionnaire;
    let (form, version, published): (&Form, i32, Option<DateTime<Utc>>) = match &shown.version {
        Some(p) => (&p.form, p.version, Some(p.published_at)),
        None => (&q.draft, 0, None),
    };
    pb::Questionnaire {
        id: q.id.clone(),
        title: form.title.clone(),
        questions: form.questions.iter().map(question).collect(),
        version,
        published_version: q.published_version,
        draft_version: q.draft_version,
        create_time: ts(q.created_at),
        publish_time: published.map(to_timestamp),
    }
}

pub(crate) fn campaign_draft(c: pb::Campaign, v: &mut Violations) -> CampaignDraft {
    let mut tiers = Vec::new();
    for (i, tier) in c.tiers.iter().enumerate() {
        match kefu_proto::customer::Tier::try_from(*tier) {
            Ok(t) if t != kefu_proto::customer::Tier::Unspecified => {
                tiers.push(kefu_directory::tier_code(t));
            }
            _ => v.add(format!("campaign.tiers[{i}]"), "not a tier"),
        }
    }
    CampaignDraft {
        title: c.title,
        questionnaire_id: c.questionnaire_id,
        method: required(c.method, "campaign.method", v),
        tiers,
        interval: c
            .interval
            .as_ref()
            .and_then(|i| interval(Some(i), "campaign.interval", v)),
    }
}

pub(crate) fn campaign(c: &Campaign, answered: i64, now: DateTime<Utc>) -> pb::Campaign {
    pb::Campaign {
        id: c.id.clone(),
        title: c.title.clone(),
        questionnaire_id: c.questionnaire_id.clone(),
        questionnaire_version: c.questionnaire_version,
        method: pb::Method::from(c.method).into(),
        tiers: c.tiers.iter().map(|t| events::tier(t)).collect(),
        interval: Some(pc::Interval {
            start_time: ts(c.starts_at),
            end_time: ts(c.ends_at),
        }),
        state: pb::CampaignState::from(c.state(now)).into(),
        invited_count: c.invited,
        skipped_count: c.skipped,
        answered_count: answered,
        version: c.version,
    }
}

pub(crate) fn trigger(t: &Trigger) -> pb::Trigger {
    pb::Trigger {
        id: t.id.clone(),
        kind: pb::TriggerKind::from(t.kind).into(),
        questionnaire_id: t.questionnaire_id.clone(),
        method: pb::Method::from(t.method).into(),
        enabled: t.enabled,
        delay: Some(prost_types::Duration {
            seconds: t.delay_s,
            nanos: 0,
        }),
        version: t.version,
    }
}

pub(crate) fn invitation(i: &Invitation, token: String, now: DateTime<Utc>) -> pb::Invitation {
    pb::Invitation {
        id: i.id.clone(),
        customer_id: i.customer_id.clone(),
        questionnaire_id: i.questionnaire_id.clone(),
        questionnaire_version: i.questionnaire_version,
        method: pb::Method::from(i.method).into(),
        state: pb::InvitationState::from(i.state(now)).into(),
        campaign_id: i.campaign_id.clone(),
        trigger_id: i.trigger_id.clone(),
        order_id: i.order_id.clone(),
        complaint_id: i.complaint_id.clone(),
        agent_id: i.agent_id.clone(),
        team_id: i.team_id.clone(),
        tier: events::tier(&i.tier),
        send_time: ts(i.sent_at),
        expire_time: ts(i.expires_at),
        response_token: token,
    }
}

pub(crate) fn answers(answers: Vec<pb::Answer>, v: &mut Violations) -> Vec<Answer> {
    use pb::answer::Value;
    answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let value = match a.value {
                None => None,
                Some(Value::Score(s)) => Some(AnswerValue::Score(s)),
                Some(Value::Choice(c)) => Some(AnswerValue::Choice(c)),
                Some(Value::Choices(cs)) => Some(AnswerValue::Choices(cs.options)),
                Some(Value::Text(t)) => Some(AnswerValue::Text(t)),
                Some(Value::Problem(p)) => {
                    let problem = Problem::from_wire(p);
                    if problem.is_none() {
                        v.add(format!("answers[{i}].problem"), "not a complaint category");
                    }
                    problem.map(AnswerValue::Problem)
                }
            };
            Answer {
                question_id: a.question_id,
                value,
            }
        })
        .collect()
}

pub(crate) fn response(r: &SurveyResponse) -> pb::SurveyResponse {
    use pb::answer::Value;
    pb::SurveyResponse {
        id: r.id.clone(),
        invitation_id: r.invitation_id.clone(),
        customer_id: r.customer_id.clone(),
        method: pb::Method::from(r.method).into(),
        answers: r
            .answers
            .iter()
            .map(|a| pb::Answer {
                question_id: a.question_id.clone(),
                value: a.value.as_ref().map(|v| match v {
                    AnswerValue::Score(s) => Value::Score(*s),
                    AnswerValue::Choice(c) => Value::Choice(c.clone()),
                    AnswerValue::Choices(cs) => Value::Choices(pb::Choices {
                        options: cs.clone(),
                    }),
                    AnswerValue::Text(t) => Value::Text(t.clone()),
                    AnswerValue::Problem(p) => Value::Problem(cpb::Category::from(*p).into()),
                }),
            })
            .collect(),
        recorded_by: r.recorded_by.clone(),
        submit_time: ts(r.submitted_at),
        erased: r.erased,
    }
}

pub(crate) fn opt_out(o: &OptOut) -> pb::OptOut {
    pb::OptOut {
        customer_id: o.customer_id.clone(),
        opted_out: o.opted_out,
        reason: o.reason.clone(),
        update_time: o.at.map(to_timestamp),
    }
}

pub(crate) fn skip(s: &Skip) -> pb::SkippedSurvey {
    pb::SkippedSurvey {
        id: s.id.clone(),
        customer_id: s.customer_id.clone(),
        reason: pb::SkipReason::from(s.reason).into(),
        campaign_id: s.campaign_id.clone(),
        trigger_id: s.trigger_id.clone(),
        quiet_until: s.quiet_until.map(to_timestamp),
        skip_time: ts(s.skipped_at),
    }
}

pub(crate) fn task(t: &FollowUpTask) -> pb::FollowUpTask {
    pb::FollowUpTask {
        id: t.id.clone(),
        customer_id: t.customer_id.clone(),
        response_id: t.response_id.clone(),
        state: pb::FollowUpTaskState::from(t.state).into(),
        team_id: t.team_id.clone(),
        assignee_id: t.assignee_id.clone(),
        due_time: ts(t.due_at),
        low_measures: t.low_measures.iter().map(|k| events::kind(*k)).collect(),
        problem: t.problem.map_or(0, events::problem),
        outcome: t.outcome.map_or(0, events::outcome),
        outcome_note: t.outcome_note.clone(),
        create_time: ts(t.created_at),
        complete_time: t.completed_at.map(to_timestamp),
        version: t.version,
    }
}

/// The dimension a report asks for, or why it cannot be read.
pub(crate) fn dimension(dimension: i32, period: i32, v: &mut Violations) -> Option<Dimension> {
    let period = match pb::ReportPeriodLength::try_from(period) {
        Ok(pb::ReportPeriodLength::Day) => Some(Period::Day),
        Ok(pb::ReportPeriodLength::Week) => Some(Period::Week),
        Ok(pb::ReportPeriodLength::Month) => Some(Period::Month),
        _ => None,
    };
    match pb::ReportDimension::try_from(dimension) {
        Ok(pb::ReportDimension::Overall) => Some(Dimension::Overall),
        Ok(pb::ReportDimension::Tier) => Some(Dimension::Tier),
        Ok(pb::ReportDimension::Agent) => Some(Dimension::Agent),
        Ok(pb::ReportDimension::Period) => {
            if period.is_none() {
                v.add(
                    "period",
                    "required for the period dimension: day, week or month",
                );
            }
            period.map(Dimension::Period)
        }
        _ => {
            v.add("dimension", "required: overall, period, tier or agent");
            None
        }
    }
}

fn score(s: Score) -> pb::Score {
    pb::Score {
        answer_count: s.answers,
        value_tenths: s.tenths,
    }
}

fn group_fields(g: &Group) -> (Option<prost_types::Timestamp>, i32, String) {
    match g {
        Group::Overall => (None, 0, String::new()),
        Group::Period(start) => (ts(*start), 0, String::new()),
        Group::Tier(t) => (None, events::tier(t), String::new()),
        Group::Agent(a) => (None, 0, a.clone()),
    }
}

pub(crate) fn score_row(g: &Group, r: &ScoreRow) -> pb::ScoreRow {
    let (period_start_time, tier, agent_id) = group_fields(g);
    pb::ScoreRow {
        period_start_time,
        tier,
        agent_id,
        response_count: r.responses,
        csat: Some(score(r.csat)),
        nps: Some(score(r.nps)),
        effort: Some(score(r.effort)),
    }
}

pub(crate) fn quality_row(g: &Group, r: &QualityRow) -> pb::QualityRow {
    let (period_start_time, tier, agent_id) = group_fields(g);
    let duration = |s: Option<i64>| s.map(|seconds| prost_types::Duration { seconds, nanos: 0 });
    pb::QualityRow {
        period_start_time,
        tier,
        agent_id,
        csat: Some(score(r.csat)),
        nps: Some(score(r.nps)),
        complaint_count: r.complaints,
        order_count: r.orders,
        complaint_rate_tenths_per_mille: r.rate_tenths_per_mille,
        median_delivery_time: duration(r.median_delivery_seconds),
        median_resolution_time: duration(r.median_resolution_seconds),
    }
}

/// A trigger's delay in seconds; a bad field when negative or fractional.
pub(crate) fn delay(d: Option<&prost_types::Duration>, v: &mut Violations) -> i64 {
    match d {
        None => 0,
        Some(d) if d.seconds >= 0 && d.nanos == 0 => d.seconds,
        Some(_) => {
            v.add("trigger.delay", "whole seconds, not negative");
            0
        }
    }
}

/// The state filter of a list of invitations.
pub(crate) fn invitation_state(value: i32) -> Result<Option<InvitationState>, Vec<FieldViolation>> {
    filter(value, "state")
}
