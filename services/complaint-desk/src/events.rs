//! What complaint-desk tells the others: each fact of a case as the contract's event, with
//! ids, codes, amounts and actors, never a case's texts (summary, description, answers,
//! notes and reasons stay in the service, readable through its API).

use chrono::{DateTime, Utc};
use kefu_platform::events::append;
use kefu_platform::time::to_timestamp;
use kefu_proto::common as pc;
use kefu_proto::complaint as pb;
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::knowledge::Entry;
use crate::domain::{Case, Fact, RootCause, Source};

/// The subject of a case's events.
pub(crate) fn subject(case_id: &str) -> String {
    format!("complaints/{case_id}")
}

pub(crate) fn duration(seconds: i64) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos: 0 }
}

pub(crate) fn fen(amount: i64) -> pc::Money {
    pc::Money {
        currency_code: "CNY".into(),
        minor_units: amount,
    }
}

pub(crate) fn source(source: Option<&Source>) -> Option<pb::SourceReference> {
    use pb::source_reference::Source as S;
    source.map(|s| pb::SourceReference {
        source: Some(match s {
            Source::OrderException(id) => S::OrderExceptionId(id.clone()),
            Source::SurveyResponse(id) => S::SurveyResponseId(id.clone()),
        }),
    })
}

fn tier(case: &Case) -> i32 {
    kefu_directory::tier_from_code(&case.tier) as i32
}

fn at(t: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    t.map(to_timestamp)
}

/// Appends the event of `fact` about `case` (as changed) in the caller's transaction;
/// facts no one else needs write nothing.
pub(crate) async fn append_fact<C: ConnectionTrait>(
    txn: &C,
    case: &Case,
    fact: &Fact,
    actor: &str,
) -> Result<(), DbErr> {
    let subject = subject(&case.id);
    let id = case.id.clone();
    match fact {
        Fact::Registered => {
            let e = pb::ComplaintRegistered {
                complaint_id: id,
                case_number: case.case_number.clone(),
                customer_id: case.customer_id.clone(),
                order_id: case.order_id.clone(),
                r#type: pb::CaseType::from(case.kind).into(),
                origin: pb::Origin::from(case.origin).into(),
                category: pb::Category::from(case.category).into(),
                severity: pb::Severity::from(case.severity).into(),
                tier: tier(case),
                team_id: case.team_id.clone(),
                staff_id: case.staff_id.clone(),
                source: source(case.source.as_ref()),
                actor_id: actor.to_owned(),
                register_time: Some(to_timestamp(case.created_at)),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Reclassified => {
            let e = pb::ComplaintReclassified {
                complaint_id: id,
                customer_id: case.customer_id.clone(),
                order_id: case.order_id.clone(),
                r#type: pb::CaseType::from(case.kind).into(),
                category: pb::Category::from(case.category).into(),
                severity: pb::Severity::from(case.severity).into(),
                staff_id: case.staff_id.clone(),
                actor_id: actor.to_owned(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Edited => {}
        Fact::Assigned => {
            let e = pb::ComplaintAssigned {
                complaint_id: id,
                assignee_id: case.assignee_id.clone(),
                team_id: case.team_id.clone(),
                actor_id: actor.to_owned(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::FirstResponse {
            met,
            business_seconds,
        } => {
            let e = pb::FirstResponseRecorded {
                complaint_id: id,
                agent_id: actor.to_owned(),
                deadline_met: *met,
                business_time: Some(duration(*business_seconds)),
                customer_id: case.customer_id.clone(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Contacted(channel) => {
            let e = pb::CustomerContactRecorded {
                complaint_id: id,
                channel: pb::ContactChannel::from(*channel).into(),
                customer_contact_count: i32::try_from(case.customer_contact_count())
                    .unwrap_or(i32::MAX),
                agent_id: actor.to_owned(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Paused(reason) => {
            let e = pb::ClockPaused {
                complaint_id: id,
                reason: pb::PauseReason::from(*reason).into(),
                actor_id: actor.to_owned(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Resumed { paused_seconds } => {
            let e = pb::ClockResumed {
                complaint_id: id,
                paused: Some(duration(*paused_seconds)),
                actor_id: actor.to_owned(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Warned(kind, due) => {
            let e = pb::DeadlineWarning {
                complaint_id: id,
                deadline: pb::DeadlineKind::from(*kind).into(),
                due_time: at(*due),
                assignee_id: case.assignee_id.clone(),
                team_id: case.team_id.clone(),
            };
            append(txn, &subject, &e).await?;
            // Counted as written: a transaction rolled back after this counts once too many.
            kefu_platform::metrics::complaint_deadline(kind.code(), "warning");
        }
        Fact::Breached(kind, due) => {
            let e = pb::DeadlineBreached {
                complaint_id: id,
                deadline: pb::DeadlineKind::from(*kind).into(),
                due_time: at(*due),
                assignee_id: case.assignee_id.clone(),
                team_id: case.team_id.clone(),
                customer_id: case.customer_id.clone(),
            };
            append(txn, &subject, &e).await?;
            kefu_platform::metrics::complaint_deadline(kind.code(), "breach");
        }
        Fact::Escalated(index) => {
            if let Some(step) = case.escalations.get(*index) {
                let e = pb::ComplaintEscalated {
                    complaint_id: id,
                    escalation_level: i32::try_from(step.level).unwrap_or(i32::MAX),
                    target: pb::EscalationTarget::from(step.target).into(),
                    automatic: step.automatic,
                    actor_id: step.actor.clone(),
                    team_id: case.team_id.clone(),
                };
                append(txn, &subject, &e).await?;
            }
        }
        Fact::Investigated => {
            let e = pb::InvestigationRecorded {
                complaint_id: id,
                root_cause: root_cause(case),
                category: pb::Category::from(case.category).into(),
                investigator_id: actor.to_owned(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Resolved {
            met,
            business_seconds,
        } => {
            let compensation = case
                .round
                .resolution
                .as_ref()
                .map_or(0, |r| r.compensation_fen);
            let e = pb::ComplaintResolved {
                complaint_id: id,
                resolver_id: actor.to_owned(),
                deadline_met: *met,
                resolution_business_time: Some(duration(*business_seconds)),
                customer_contact_count: i32::try_from(case.customer_contact_count())
                    .unwrap_or(i32::MAX),
                customer_id: case.customer_id.clone(),
                order_id: case.order_id.clone(),
                assignee_id: case.assignee_id.clone(),
                category: pb::Category::from(case.category).into(),
                root_cause: root_cause(case),
                compensation: Some(fen(compensation)),
                reopen_count: i32::try_from(case.previous_rounds.len()).unwrap_or(i32::MAX),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::FollowedUp(outcome, attempt) => {
            let e = pb::FollowUpRecorded {
                complaint_id: id,
                outcome: pb::FollowUpOutcome::from(*outcome).into(),
                agent_id: actor.to_owned(),
                attempt: i32::try_from(*attempt).unwrap_or(i32::MAX),
                customer_id: case.customer_id.clone(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Reopened => {
            let e = pb::ComplaintReopened {
                complaint_id: id,
                reopen_count: i32::try_from(case.previous_rounds.len()).unwrap_or(i32::MAX),
                actor_id: actor.to_owned(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Closed(reason) => {
            let e = pb::ComplaintClosed {
                complaint_id: id,
                customer_id: case.customer_id.clone(),
                assignee_id: case.assignee_id.clone(),
                order_id: case.order_id.clone(),
                reason: pb::CloseReason::from(*reason).into(),
                team_id: case.team_id.clone(),
                r#type: pb::CaseType::from(case.kind).into(),
                category: pb::Category::from(case.category).into(),
            };
            append(txn, &subject, &e).await?;
        }
        Fact::Erased => {
            let e = pb::ComplaintErased {
                complaint_id: id,
                customer_id: case.customer_id.clone(),
            };
            append(txn, &subject, &e).await?;
        }
    }
    Ok(())
}

fn root_cause(case: &Case) -> i32 {
    case.investigation
        .as_ref()
        .map_or(0, |i| pb::RootCause::from(i.root_cause).into())
}

/// CD-10.
pub(crate) async fn cause_flagged<C: ConnectionTrait>(
    txn: &C,
    cause: RootCause,
    period: (DateTime<Utc>, DateTime<Utc>),
    count: i64,
    threshold: i64,
) -> Result<(), DbErr> {
    let e = pb::RecurringCauseFlagged {
        root_cause: pb::RootCause::from(cause).into(),
        period: Some(pc::Interval {
            start_time: Some(to_timestamp(period.0)),
            end_time: Some(to_timestamp(period.1)),
        }),
        occurrence_count: count,
        threshold,
    };
    append(
        txn,
        &format!("recurring-causes/{}/{}", cause.code(), period.0.timestamp()),
        &e,
    )
    .await?;
    Ok(())
}

/// CD-9: an entry became searchable, or stopped being.
pub(crate) async fn entry_changed<C: ConnectionTrait>(
    txn: &C,
    entry: &Entry,
    published: bool,
    actor: &str,
) -> Result<(), DbErr> {
    let subject = format!("knowledge-entries/{}", entry.id);
    if published {
        let e = pb::KnowledgeEntryPublished {
            knowledge_entry_id: entry.id.clone(),
            category: pb::Category::from(entry.category).into(),
            root_cause: entry
                .root_cause
                .map_or(0, |c| pb::RootCause::from(c).into()),
            publisher_id: actor.to_owned(),
        };
        append(txn, &subject, &e).await?;
    } else {
        let e = pb::KnowledgeEntryRetired {
            knowledge_entry_id: entry.id.clone(),
            actor_id: actor.to_owned(),
        };
        append(txn, &subject, &e).await?;
    }
    Ok(())
}
