//! The contract's messages to and from the domain's types. A number the contract does not know
//! is a bad field on the way in.

use chrono::{DateTime, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::time::{from_timestamp, to_timestamp};
use kefu_proto::common as pc;
use kefu_proto::staff as pb;

use crate::domain::assessment::Assessment;
use crate::domain::conduct::{Breach, TrainingPlan, TrainingRecord};
use crate::domain::dispute::Dispute;
use crate::domain::kpi::{Figure, Formula, FormulaDraft, Kpi, Source};
use crate::domain::org::{Staff, StaffDraft, Team, TeamDraft};
use crate::domain::period::Period;
use crate::domain::rules::{
    Comparison, ConditionDraft, Outcome, RewardRule, RuleDraft, RuleSubject,
};
use crate::domain::{
    Attendance, BreachKind, Cause, DisputeState, Grade, OutcomeKind, OutcomeState, PeriodKind,
    PeriodState, StaffRole, StaffState,
};
use crate::events::cny;
use crate::kpis::Definition;

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

enum_map!(StaffRole, pb::StaffRole, pb::StaffRole::Unspecified,
    StaffRole::Agent => pb::StaffRole::Agent,
    StaffRole::Supervisor => pb::StaffRole::Supervisor,
    StaffRole::Manager => pb::StaffRole::Manager,
    StaffRole::Salesperson => pb::StaffRole::Salesperson,
);

enum_map!(StaffState, pb::StaffState, pb::StaffState::Unspecified,
    StaffState::Active => pb::StaffState::Active,
    StaffState::Left => pb::StaffState::Left,
);

enum_map!(Kpi, pb::Kpi, pb::Kpi::Unspecified,
    Kpi::FirstResponseMet => pb::Kpi::FirstResponseMet,
    Kpi::ResolutionTime => pb::Kpi::ResolutionTime,
    Kpi::FollowUpDone => pb::Kpi::FollowUpDone,
    Kpi::VisitsOnPlan => pb::Kpi::VisitsOnPlan,
    Kpi::Csat => pb::Kpi::Csat,
    Kpi::ComplaintsAgainst => pb::Kpi::ComplaintsAgainst,
    Kpi::FirstContactResolution => pb::Kpi::FirstContactResolution,
    Kpi::Conduct => pb::Kpi::Conduct,
    Kpi::Training => pb::Kpi::Training,
);

enum_map!(PeriodKind, pb::PeriodKind, pb::PeriodKind::Unspecified,
    PeriodKind::Monthly => pb::PeriodKind::Monthly,
    PeriodKind::Quarterly => pb::PeriodKind::Quarterly,
);

enum_map!(PeriodState, pb::PeriodState, pb::PeriodState::Unspecified,
    PeriodState::Open => pb::PeriodState::Open,
    PeriodState::Closing => pb::PeriodState::Closing,
    PeriodState::Closed => pb::PeriodState::Closed,
);

enum_map!(Grade, pb::Grade, pb::Grade::Unspecified,
    Grade::A => pb::Grade::A,
    Grade::B => pb::Grade::B,
    Grade::C => pb::Grade::C,
    Grade::D => pb::Grade::D,
);

enum_map!(Cause, pb::AssessmentCause, pb::AssessmentCause::Unspecified,
    Cause::Provisional => pb::AssessmentCause::Provisional,
    Cause::Final => pb::AssessmentCause::Final,
    Cause::DisputeUpheld => pb::AssessmentCause::DisputeUpheld,
    Cause::Recomputed => pb::AssessmentCause::Recomputed,
);

enum_map!(DisputeState, pb::DisputeState, pb::DisputeState::Unspecified,
    DisputeState::Open => pb::DisputeState::Open,
    DisputeState::Upheld => pb::DisputeState::Upheld,
    DisputeState::Rejected => pb::DisputeState::Rejected,
);

enum_map!(OutcomeKind, pb::RewardPenaltyKind, pb::RewardPenaltyKind::Unspecified,
    OutcomeKind::Reward => pb::RewardPenaltyKind::Reward,
    OutcomeKind::Penalty => pb::RewardPenaltyKind::Penalty,
);

enum_map!(OutcomeState, pb::RewardPenaltyState, pb::RewardPenaltyState::Unspecified,
    OutcomeState::Decided => pb::RewardPenaltyState::Decided,
    OutcomeState::Withdrawn => pb::RewardPenaltyState::Withdrawn,
);

enum_map!(BreachKind, pb::BreachKind, pb::BreachKind::Unspecified,
    BreachKind::GiftAccepted => pb::BreachKind::GiftAccepted,
    BreachKind::Privacy => pb::BreachKind::Privacy,
    BreachKind::Other => pb::BreachKind::Other,
);

enum_map!(Attendance, pb::Attendance, pb::Attendance::Unspecified,
    Attendance::Attended => pb::Attendance::Attended,
    Attendance::Absent => pb::Attendance::Absent,
    Attendance::Excused => pb::Attendance::Excused,
);

enum_map!(RuleSubject, pb::RuleSubject, pb::RuleSubject::Unspecified,
    RuleSubject::Kpi => pb::RuleSubject::Kpi,
    RuleSubject::Score => pb::RuleSubject::Score,
    RuleSubject::Grade => pb::RuleSubject::Grade,
);

enum_map!(Comparison, pb::Comparison, pb::Comparison::Unspecified,
    Comparison::AtLeast => pb::Comparison::AtLeast,
    Comparison::AtMost => pb::Comparison::AtMost,
);

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t))
}

pub(crate) fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(from_timestamp)
}

fn grade(g: Option<Grade>) -> i32 {
    g.map_or(pb::Grade::Unspecified, pb::Grade::from).into()
}

pub(crate) fn staff(s: &Staff) -> pb::Staff {
    pb::Staff {
        id: s.id.clone(),
        display_name: s.display_name.clone(),
        role: pb::StaffRole::from(s.role).into(),
        team_id: s.team_id.clone(),
        manager_id: s.manager_id.clone(),
        state: pb::StaffState::from(s.state).into(),
        sales_region: s.sales_region.clone(),
        join_time: ts(s.joined_at),
        leave_time: s.left_at.map(to_timestamp),
        version: s.version,
        create_time: ts(s.created_at),
        update_time: ts(s.updated_at),
    }
}

pub(crate) fn staff_draft(s: &pb::Staff) -> StaffDraft {
    StaffDraft {
        id: s.id.trim().to_owned(),
        display_name: s.display_name.clone(),
        role: StaffRole::from_wire(s.role),
        team_id: s.team_id.trim().to_owned(),
        manager_id: s.manager_id.trim().to_owned(),
        sales_region: s.sales_region.clone(),
        joined_at: time(s.join_time.as_ref()),
    }
}

pub(crate) fn team(t: &Team) -> pb::Team {
    pb::Team {
        id: t.id.clone(),
        display_name: t.display_name.clone(),
        supervisor_id: t.supervisor_id.clone(),
        parent_team_id: t.parent_team_id.clone(),
        version: t.version,
        create_time: ts(t.created_at),
        update_time: ts(t.updated_at),
    }
}

pub(crate) fn team_draft(t: &pb::Team) -> TeamDraft {
    TeamDraft {
        id: t.id.trim().to_owned(),
        display_name: t.display_name.clone(),
        supervisor_id: t.supervisor_id.trim().to_owned(),
        parent_team_id: t.parent_team_id.trim().to_owned(),
    }
}

fn formula(f: &Formula) -> pb::KpiFormula {
    pb::KpiFormula {
        formula_version: f.version,
        effective_from_date: f.effective_from.format("%Y-%m-%d").to_string(),
        weight: f.weight,
        target_minutes: f.target_minutes,
        limit_minutes: f.limit_minutes,
        deduction_points: f.deduction_points,
        window_days: f.window_days,
        count_deliveries: f.count_deliveries,
        create_time: ts(f.created_at),
    }
}

pub(crate) fn formula_draft(f: &pb::KpiFormula) -> FormulaDraft {
    FormulaDraft {
        effective_from: f.effective_from_date.clone(),
        weight: f.weight,
        target_minutes: f.target_minutes,
        limit_minutes: f.limit_minutes,
        deduction_points: f.deduction_points,
        window_days: f.window_days,
        count_deliveries: f.count_deliveries,
    }
}

pub(crate) fn definition(d: &Definition) -> pb::KpiDefinition {
    pb::KpiDefinition {
        kpi: pb::Kpi::from(d.kpi).into(),
        description: d.kpi.description().to_owned(),
        higher_is_better: d.kpi.higher_is_better(),
        formulas: d.formulas.iter().map(formula).collect(),
        version: d.version,
    }
}

pub(crate) fn period(p: &Period) -> pb::Period {
    pb::Period {
        id: p.id.clone(),
        kind: pb::PeriodKind::from(p.kind).into(),
        label: p.id.clone(),
        interval: Some(pc::Interval {
            start_time: ts(p.start),
            end_time: ts(p.end),
        }),
        state: pb::PeriodState::from(p.state).into(),
        close_time: p.closed_at.map(to_timestamp),
        staff_count: p.staff_count,
        assessed_count: p.assessed_count,
    }
}

fn figure(f: &Figure) -> pb::KpiFigure {
    pb::KpiFigure {
        kpi: pb::Kpi::from(f.kpi).into(),
        formula_version: f.formula_version,
        value: f.value,
        numerator: f.numerator,
        denominator: f.denominator,
        score_tenths: f.score,
        weight: f.weight,
        source_count: f.source_count,
    }
}

pub(crate) fn assessment(a: &Assessment) -> pb::Assessment {
    pb::Assessment {
        staff_id: a.staff_id.clone(),
        period_id: a.period_id.clone(),
        revision: a.revision,
        cause: pb::AssessmentCause::from(a.cause).into(),
        dispute_id: a.dispute_id.clone(),
        figures: a.figures.iter().map(figure).collect(),
        score_tenths: a.score,
        grade: grade(a.grade),
        team_id: a.team_id.clone(),
        compute_time: ts(a.computed_at),
    }
}

pub(crate) fn source(s: &Source) -> pb::FigureSource {
    pb::FigureSource {
        kpi: pb::Kpi::from(s.kpi).into(),
        event_id: s.event_id.clone(),
        source: s.source.clone(),
        event_type: s.event_type.clone(),
        subject_id: s.subject_id.clone(),
        occur_time: ts(s.at),
        counted: s.counted,
        amount: s.amount,
    }
}

pub(crate) fn dispute(d: &Dispute) -> pb::Dispute {
    pb::Dispute {
        id: d.id.clone(),
        staff_id: d.staff_id.clone(),
        period_id: d.period_id.clone(),
        kpi: pb::Kpi::from(d.kpi).into(),
        event_id: d.event_id.clone(),
        reason: d.reason.clone(),
        state: pb::DisputeState::from(d.state).into(),
        decided_by: d.decided_by.clone(),
        decision_note: d.decision_note.clone(),
        create_time: ts(d.created_at),
        decide_time: d.decided_at.map(to_timestamp),
        version: d.version,
    }
}

pub(crate) fn rule(r: &RewardRule) -> pb::RewardRule {
    pb::RewardRule {
        id: r.id.clone(),
        display_name: r.display_name.clone(),
        kind: pb::RewardPenaltyKind::from(r.kind).into(),
        amount: Some(cny(r.amount_fen)),
        conditions: r
            .conditions
            .iter()
            .map(|c| pb::RuleCondition {
                subject: pb::RuleSubject::from(c.subject).into(),
                kpi: c.kpi.map_or(pb::Kpi::Unspecified, pb::Kpi::from).into(),
                comparison: pb::Comparison::from(c.comparison).into(),
                threshold: c.threshold,
                grade: grade(c.grade),
            })
            .collect(),
        disabled: r.disabled,
        version: r.version,
        create_time: ts(r.created_at),
        update_time: ts(r.updated_at),
    }
}

pub(crate) fn rule_draft(r: &pb::RewardRule) -> RuleDraft {
    let amount = r.amount.clone().unwrap_or_default();
    RuleDraft {
        display_name: r.display_name.clone(),
        kind: OutcomeKind::from_wire(r.kind),
        currency_code: amount.currency_code,
        amount_fen: amount.minor_units,
        conditions: r
            .conditions
            .iter()
            .map(|c| ConditionDraft {
                subject: RuleSubject::from_wire(c.subject),
                kpi: Kpi::from_wire(c.kpi),
                comparison: Comparison::from_wire(c.comparison),
                threshold: c.threshold,
                grade: Grade::from_wire(c.grade),
            })
            .collect(),
        disabled: r.disabled,
    }
}

pub(crate) fn outcome(o: &Outcome) -> pb::RewardPenalty {
    pb::RewardPenalty {
        id: o.id.clone(),
        staff_id: o.staff_id.clone(),
        period_id: o.period_id.clone(),
        assessment_revision: o.revision,
        kind: pb::RewardPenaltyKind::from(o.kind).into(),
        amount: Some(cny(o.amount_fen)),
        rule_id: o.rule_id.clone(),
        rule_version: o.rule_version,
        grade: grade(o.grade),
        score_tenths: o.score,
        state: pb::RewardPenaltyState::from(o.state).into(),
        decide_time: ts(o.decided_at),
    }
}

pub(crate) fn breach(b: &Breach) -> pb::ConductBreach {
    pb::ConductBreach {
        id: b.id.clone(),
        staff_id: b.staff_id.clone(),
        kind: pb::BreachKind::from(b.kind).into(),
        description: b.description.clone(),
        evidence_reference: b.evidence_reference.clone(),
        occur_time: ts(b.occurred_at),
        recorded_by: b.recorded_by.clone(),
        record_time: ts(b.recorded_at),
        event_id: b.event_id.clone(),
        upheld_dispute_id: b.upheld_dispute_id.clone(),
    }
}

pub(crate) fn plan(p: &TrainingPlan) -> pb::TrainingPlan {
    pb::TrainingPlan {
        id: p.id.clone(),
        title: p.title.clone(),
        session_time: ts(p.session_time),
        team_id: p.team_id.clone(),
        planned_by: p.planned_by.clone(),
        create_time: ts(p.created_at),
    }
}

pub(crate) fn training(r: &TrainingRecord) -> pb::TrainingRecord {
    pb::TrainingRecord {
        id: r.id.clone(),
        plan_id: r.plan_id.clone(),
        staff_id: r.staff_id.clone(),
        attendance: pb::Attendance::from(r.attendance).into(),
        evaluation_score: r.evaluation_score,
        session_time: ts(r.session_time),
        recorded_by: r.recorded_by.clone(),
        record_time: ts(r.recorded_at),
        event_id: r.event_id.clone(),
    }
}

/// A request's enum: `None` for UNSPECIFIED (the rules say whether that is allowed) and
/// for an unknown number, which is a bad field.
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
