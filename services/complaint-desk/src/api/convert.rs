//! The contract's messages to and from the domain's types. A case is shown with its clocks as
//! they stand at the moment of the answer, computed under the policy in force. A number the
//! contract does not know is a bad field on the way in.

use chrono::{DateTime, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::time::{Period, from_timestamp, to_timestamp};
use kefu_proto::common as pc;
use kefu_proto::complaint as pb;

use crate::analysis::{Analysis, FlaggedCause};
use crate::domain::analysis::{Dimension, Group, Row};
use crate::domain::case::{NewCase, Reclassification, Round};
use crate::domain::clock::{DeadlineState, Standing};
use crate::domain::knowledge::{Entry, EntryFields, EntryState};
use crate::domain::policy::Policy;
use crate::domain::{
    Case, CaseType, Category, CloseReason, ContactChannel, DeadlineKind, EscalationTarget,
    FollowUpOutcome, Origin, PauseReason, RootCause, Severity, State,
};
use crate::events::{duration, fen, source};

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

enum_map!(CaseType, pb::CaseType, pb::CaseType::Unspecified,
    CaseType::Complaint => pb::CaseType::Complaint,
    CaseType::Inquiry => pb::CaseType::Inquiry,
    CaseType::HelpRequest => pb::CaseType::HelpRequest,
);

enum_map!(Origin, pb::Origin, pb::Origin::Unspecified,
    Origin::Hotline => pb::Origin::Hotline,
    Origin::Email => pb::Origin::Email,
    Origin::Web => pb::Origin::Web,
    Origin::Visit => pb::Origin::Visit,
    Origin::OrderException => pb::Origin::OrderException,
    Origin::SurveyAnswer => pb::Origin::SurveyAnswer,
);

enum_map!(ContactChannel, pb::ContactChannel, pb::ContactChannel::Unspecified,
    ContactChannel::Phone => pb::ContactChannel::Phone,
    ContactChannel::Email => pb::ContactChannel::Email,
    ContactChannel::Sms => pb::ContactChannel::Sms,
    ContactChannel::Web => pb::ContactChannel::Web,
    ContactChannel::InPerson => pb::ContactChannel::InPerson,
);

enum_map!(Category, pb::Category, pb::Category::Unspecified,
    Category::Damage => pb::Category::Damage,
    Category::Loss => pb::Category::Loss,
    Category::Delay => pb::Category::Delay,
    Category::HandoverDispute => pb::Category::HandoverDispute,
    Category::StaffAttitude => pb::Category::StaffAttitude,
    Category::Billing => pb::Category::Billing,
    Category::Other => pb::Category::Other,
);

enum_map!(Severity, pb::Severity, pb::Severity::Unspecified,
    Severity::Low => pb::Severity::Low,
    Severity::Medium => pb::Severity::Medium,
    Severity::High => pb::Severity::High,
    Severity::Critical => pb::Severity::Critical,
);

enum_map!(State, pb::ComplaintState, pb::ComplaintState::Unspecified,
    State::Registered => pb::ComplaintState::Registered,
    State::InProgress => pb::ComplaintState::InProgress,
    State::WaitingOnCustomer => pb::ComplaintState::WaitingOnCustomer,
    State::Resolved => pb::ComplaintState::Resolved,
    State::Closed => pb::ComplaintState::Closed,
);

enum_map!(DeadlineKind, pb::DeadlineKind, pb::DeadlineKind::Unspecified,
    DeadlineKind::FirstResponse => pb::DeadlineKind::FirstResponse,
    DeadlineKind::Resolution => pb::DeadlineKind::Resolution,
);

enum_map!(DeadlineState, pb::DeadlineState, pb::DeadlineState::Unspecified,
    DeadlineState::Running => pb::DeadlineState::Running,
    DeadlineState::Paused => pb::DeadlineState::Paused,
    DeadlineState::Met => pb::DeadlineState::Met,
    DeadlineState::Breached => pb::DeadlineState::Breached,
);

enum_map!(PauseReason, pb::PauseReason, pb::PauseReason::Unspecified,
    PauseReason::AwaitingInformation => pb::PauseReason::AwaitingInformation,
    PauseReason::AwaitingAvailability => pb::PauseReason::AwaitingAvailability,
    PauseReason::AwaitingDecision => pb::PauseReason::AwaitingDecision,
    PauseReason::Other => pb::PauseReason::Other,
);

enum_map!(RootCause, pb::RootCause, pb::RootCause::Unspecified,
    RootCause::Packaging => pb::RootCause::Packaging,
    RootCause::Handling => pb::RootCause::Handling,
    RootCause::Sorting => pb::RootCause::Sorting,
    RootCause::Routing => pb::RootCause::Routing,
    RootCause::VehicleOrCarrier => pb::RootCause::VehicleOrCarrier,
    RootCause::WeatherOrForceMajeure => pb::RootCause::WeatherOrForceMajeure,
    RootCause::AddressOrDocuments => pb::RootCause::AddressOrDocuments,
    RootCause::StaffConduct => pb::RootCause::StaffConduct,
    RootCause::BillingError => pb::RootCause::BillingError,
    RootCause::SystemError => pb::RootCause::SystemError,
    RootCause::CustomerSide => pb::RootCause::CustomerSide,
    RootCause::Other => pb::RootCause::Other,
);

enum_map!(FollowUpOutcome, pb::FollowUpOutcome, pb::FollowUpOutcome::Unspecified,
    FollowUpOutcome::Satisfied => pb::FollowUpOutcome::Satisfied,
    FollowUpOutcome::NotSatisfied => pb::FollowUpOutcome::NotSatisfied,
    FollowUpOutcome::NoContact => pb::FollowUpOutcome::NoContact,
);

enum_map!(EscalationTarget, pb::EscalationTarget, pb::EscalationTarget::Unspecified,
    EscalationTarget::Supervisor => pb::EscalationTarget::Supervisor,
    EscalationTarget::Manager => pb::EscalationTarget::Manager,
);

enum_map!(CloseReason, pb::CloseReason, pb::CloseReason::Unspecified,
    CloseReason::Confirmed => pb::CloseReason::Confirmed,
    CloseReason::FollowUpExhausted => pb::CloseReason::FollowUpExhausted,
);

enum_map!(EntryState, pb::KnowledgeEntryState, pb::KnowledgeEntryState::Unspecified,
    EntryState::Proposed => pb::KnowledgeEntryState::Proposed,
    EntryState::Published => pb::KnowledgeEntryState::Published,
    EntryState::Retired => pb::KnowledgeEntryState::Retired,
);

/// A required enum: `None` when unset; a bad field for a number the contract does not have.
pub(crate) fn required<T: FromWire>(value: i32, field: &str, v: &mut Violations) -> Option<T> {
    let parsed = T::from_wire(value);
    if parsed.is_none() && value != 0 {
        v.add(field, "unknown value");
    }
    parsed
}

/// A filter's enum: `Ok(None)` for UNSPECIFIED (no filter), a bad field for an unknown number.
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

/// What a registration asks for, with the enums it could not read added to `v`.
pub(crate) fn new_case(c: pb::Complaint, v: &mut Violations) -> NewCase {
    NewCase {
        kind: required(c.r#type, "complaint.type", v),
        origin: required(c.origin, "complaint.origin", v),
        contact_channel: required(c.contact_channel, "complaint.contact_channel", v),
        category: required(c.category, "complaint.category", v),
        severity: required(c.severity, "complaint.severity", v),
        customer_id: c.customer_id,
        order_id: c.order_id,
        staff_id: c.staff_id,
        summary: c.summary,
        description: c.description,
    }
}

/// Fields an update may name, and what each changes.
pub(crate) const UPDATABLE: &[&str] = &[
    "type",
    "category",
    "severity",
    "order_id",
    "staff_id",
    "summary",
    "description",
    "contact_channel",
];

/// The changes `paths` name in `c`; unknown or output-only paths are bad fields.
pub(crate) fn reclassification(
    c: pb::Complaint,
    paths: &[String],
    v: &mut Violations,
) -> Reclassification {
    let mut change = Reclassification::default();
    if paths.is_empty() {
        v.add("update_mask", "required: name the fields to change");
    }
    for path in paths {
        match path.as_str() {
            "type" => {
                change.kind = required(c.r#type, "complaint.type", v);
                v.check(change.kind.is_some(), "complaint.type", "required");
            }
            "category" => {
                change.category = required(c.category, "complaint.category", v);
                v.check(change.category.is_some(), "complaint.category", "required");
            }
            "severity" => {
                change.severity = required(c.severity, "complaint.severity", v);
                v.check(change.severity.is_some(), "complaint.severity", "required");
            }
            "contact_channel" => {
                change.contact_channel =
                    required(c.contact_channel, "complaint.contact_channel", v);
                v.check(
                    change.contact_channel.is_some(),
                    "complaint.contact_channel",
                    "required",
                );
            }
            "order_id" => change.order_id = Some(c.order_id.clone()),
            "staff_id" => change.staff_id = Some(c.staff_id.clone()),
            "summary" => change.summary = Some(c.summary.clone()),
            "description" => change.description = Some(c.description.clone()),
            other => v.add(
                format!("update_mask.paths[{other}]"),
                format!("not updatable; updatable: {}", UPDATABLE.join(", ")),
            ),
        }
    }
    change
}

fn deadline(s: Standing) -> pb::Deadline {
    pb::Deadline {
        state: pb::DeadlineState::from(s.state).into(),
        due_time: s.due.map(to_timestamp),
        allowed: Some(duration(s.allowed)),
        used: Some(duration(s.used)),
        remaining: Some(duration(s.remaining)),
        warning_time: s.warning_at.map(to_timestamp),
        met_time: s.done.map(to_timestamp),
        breach_time: s.breached_at.map(to_timestamp),
    }
}

fn follow_ups(round: &Round) -> Vec<pb::FollowUp> {
    round
        .follow_ups
        .iter()
        .map(|f| pb::FollowUp {
            outcome: pb::FollowUpOutcome::from(f.outcome).into(),
            note: f.note.clone(),
            agent_id: f.agent.clone(),
            contact_time: ts(f.at),
            attempt: i32::try_from(f.attempt).unwrap_or(i32::MAX),
        })
        .collect()
}

fn resolution(round: &Round) -> Option<pb::Resolution> {
    round.resolution.as_ref().map(|r| pb::Resolution {
        answer: r.answer.clone(),
        compensation: Some(fen(r.compensation_fen)),
        resolver_id: r.resolver.clone(),
        resolve_time: ts(r.at),
    })
}

/// A case as answers show it, its clocks at `now`.
pub(crate) fn complaint(case: &Case, policy: &Policy, now: DateTime<Utc>) -> pb::Complaint {
    pb::Complaint {
        id: case.id.clone(),
        case_number: case.case_number.clone(),
        r#type: pb::CaseType::from(case.kind).into(),
        origin: pb::Origin::from(case.origin).into(),
        source: source(case.source.as_ref()),
        contact_channel: case
            .contact_channel
            .map_or(0, |c| pb::ContactChannel::from(c).into()),
        category: pb::Category::from(case.category).into(),
        severity: pb::Severity::from(case.severity).into(),
        customer_id: case.customer_id.clone(),
        order_id: case.order_id.clone(),
        staff_id: case.staff_id.clone(),
        tier: kefu_directory::tier_from_code(&case.tier).into(),
        summary: case.summary.clone(),
        description: case.description.clone(),
        state: pb::ComplaintState::from(case.state).into(),
        assignee_id: case.assignee_id.clone(),
        team_id: case.team_id.clone(),
        first_response_deadline: Some(deadline(case.standing(
            DeadlineKind::FirstResponse,
            policy,
            now,
        ))),
        resolution_deadline: Some(deadline(case.standing(
            DeadlineKind::Resolution,
            policy,
            now,
        ))),
        pauses: case
            .pauses
            .iter()
            .map(|p| pb::ClockPause {
                reason: pb::PauseReason::from(p.reason).into(),
                note: p.note.clone(),
                start_time: ts(p.start),
                end_time: p.end.map(to_timestamp),
                actor_id: p.actor.clone(),
            })
            .collect(),
        first_response: case.first_response.as_ref().map(|r| pb::FirstResponse {
            message: r.message.clone(),
            agent_id: r.agent.clone(),
            response_time: ts(r.at),
        }),
        customer_contact_count: i32::try_from(case.customer_contact_count()).unwrap_or(i32::MAX),
        investigation: case.investigation.as_ref().map(|i| pb::Investigation {
            root_cause: pb::RootCause::from(i.root_cause).into(),
            root_cause_detail: i.detail.clone(),
            corrective_action: i.corrective_action.clone(),
            investigator_id: i.investigator.clone(),
            record_time: ts(i.at),
        }),
        resolution: resolution(&case.round),
        follow_ups: follow_ups(&case.round),
        escalations: case
            .escalations
            .iter()
            .map(|e| pb::Escalation {
                level: i32::try_from(e.level).unwrap_or(i32::MAX),
                target: pb::EscalationTarget::from(e.target).into(),
                automatic: e.automatic,
                reason: e.reason.clone(),
                actor_id: e.actor.clone(),
                escalate_time: ts(e.at),
            })
            .collect(),
        escalation_level: i32::try_from(case.escalation_level()).unwrap_or(i32::MAX),
        previous_rounds: case
            .previous_rounds
            .iter()
            .map(|round| pb::Round {
                resolution_deadline: Some(deadline(case.round_standing(
                    round,
                    DeadlineKind::Resolution,
                    policy,
                    now,
                ))),
                resolution: resolution(round),
                follow_ups: follow_ups(round),
                reopen_time: round.reopened_at.map(to_timestamp),
            })
            .collect(),
        close_reason: case
            .close_reason
            .map_or(0, |r| pb::CloseReason::from(r).into()),
        erased: case.erased,
        create_time: ts(case.created_at),
        update_time: ts(case.updated_at),
        close_time: case.closed_at.map(to_timestamp),
        version: case.version,
        contacts: case
            .contacts
            .iter()
            .map(|c| pb::CustomerContact {
                channel: pb::ContactChannel::from(c.channel).into(),
                note: c.note.clone(),
                agent_id: c.agent.clone(),
                contact_time: ts(c.at),
            })
            .collect(),
    }
}

/// What a proposal or an edit gives, with unreadable enums added to `v`.
pub(crate) fn entry_fields(
    e: &pb::KnowledgeEntry,
    paths: Option<&[String]>,
    v: &mut Violations,
) -> EntryFields {
    let wants = |p: &str| paths.is_none_or(|paths| paths.iter().any(|x| x == p));
    let mut fields = EntryFields::default();
    if let Some(paths) = paths {
        if paths.is_empty() {
            v.add("update_mask", "required: name the fields to change");
        }
        for path in paths {
            if !["category", "root_cause", "problem", "solution", "keywords"]
                .contains(&path.as_str())
            {
                v.add(
                    format!("update_mask.paths[{path}]"),
                    "not updatable; updatable: category, root_cause, problem, solution, keywords",
                );
            }
        }
    }
    if wants("category") {
        fields.category = required(e.category, "knowledge_entry.category", v);
        if paths.is_some() {
            v.check(
                fields.category.is_some(),
                "knowledge_entry.category",
                "required",
            );
        }
    }
    if wants("root_cause") {
        fields.root_cause = Some(required(e.root_cause, "knowledge_entry.root_cause", v));
    }
    if wants("problem") {
        fields.problem = Some(e.problem.clone());
    }
    if wants("solution") {
        fields.solution = Some(e.solution.clone());
    }
    if wants("keywords") {
        fields.keywords = Some(e.keywords.clone());
    }
    fields
}

pub(crate) fn knowledge_entry(e: &Entry) -> pb::KnowledgeEntry {
    pb::KnowledgeEntry {
        id: e.id.clone(),
        state: pb::KnowledgeEntryState::from(e.state).into(),
        category: pb::Category::from(e.category).into(),
        root_cause: e.root_cause.map_or(0, |c| pb::RootCause::from(c).into()),
        problem: e.problem.clone(),
        solution: e.solution.clone(),
        keywords: e.keywords.clone(),
        complaint_ids: e.complaint_ids.clone(),
        author_id: e.author_id.clone(),
        publisher_id: e.publisher_id.clone(),
        create_time: ts(e.created_at),
        update_time: ts(e.updated_at),
        publish_time: e.published_at.map(to_timestamp),
        version: e.version,
    }
}

/// The dimension an analysis asks for, or why it cannot be read.
pub(crate) fn dimension(dimension: i32, period: i32, v: &mut Violations) -> Option<Dimension> {
    let period = match pb::AnalysisPeriod::try_from(period) {
        Ok(pb::AnalysisPeriod::Day) => Some(Period::Day),
        Ok(pb::AnalysisPeriod::Week) => Some(Period::Week),
        Ok(pb::AnalysisPeriod::Month) => Some(Period::Month),
        _ => None,
    };
    match pb::AnalysisDimension::try_from(dimension) {
        Ok(pb::AnalysisDimension::Category) => Some(Dimension::Category),
        Ok(pb::AnalysisDimension::Tier) => Some(Dimension::Tier),
        Ok(pb::AnalysisDimension::Agent) => Some(Dimension::Agent),
        Ok(pb::AnalysisDimension::Period) => {
            if period.is_none() {
                v.add(
                    "period",
                    "required for the period dimension: day, week or month",
                );
            }
            period.map(Dimension::Period)
        }
        _ => {
            v.add("dimension", "required: category, tier, agent or period");
            None
        }
    }
}

fn analysis_row(group: Group, row: Row) -> pb::AnalysisRow {
    let mut out = pb::AnalysisRow {
        case_count: row.case_count,
        complaint_count: row.complaint_count,
        closed_count: row.closed_count,
        first_response_met_count: row.first_response_met_count,
        resolution_met_count: row.resolution_met_count,
        reopened_count: row.reopened_count,
        escalated_count: row.escalated_count,
        median_resolution_time: row.median_resolution_seconds.map(duration),
        compensation_total: Some(fen(row.compensation_fen)),
        top_causes: row
            .top_causes
            .into_iter()
            .map(|(cause, count)| pb::CauseCount {
                root_cause: pb::RootCause::from(cause).into(),
                count,
            })
            .collect(),
        order_count: row.order_count,
        ..Default::default()
    };
    match group {
        Group::Category(c) => out.category = pb::Category::from(c).into(),
        Group::Tier(t) => out.tier = kefu_directory::tier_from_code(&t).into(),
        Group::Agent(a) => out.agent_id = a,
        Group::Period(start) => out.period_start_time = ts(start),
    }
    out
}

pub(crate) fn analysis(a: Analysis) -> pb::ComplaintAnalysis {
    pb::ComplaintAnalysis {
        rows: a
            .rows
            .into_iter()
            .map(|(g, r)| analysis_row(g, r))
            .collect(),
        order_count: a.order_count,
        complaint_count: a.complaint_count,
        complaint_rate_per_mille: a.rate_per_mille,
    }
}

pub(crate) fn recurring_cause(f: FlaggedCause) -> pb::RecurringCause {
    pb::RecurringCause {
        root_cause: pb::RootCause::from(f.flag.root_cause).into(),
        period: Some(pc::Interval {
            start_time: ts(f.flag.period_start),
            end_time: ts(f.flag.period_end),
        }),
        occurrence_count: f.flag.occurrence_count,
        threshold: f.flag.threshold,
        flag_time: ts(f.flag.flagged_at),
        complaint_ids: f.complaint_ids,
    }
}
