//! What staff-kpi tells the others: the organisation as it changes (what routing and access
//! need: role, team, manager, sales region, active or left), formulas added, periods closed,
//! assessments, disputes, rules and the outcomes they decided, breaches and training, with ids,
//! codes and amounts only. Names, reasons, notes and descriptions stay in the service. Every
//! event about a person has the subject `staff/{id}`, so one person's can be followed.

use kefu_platform::events::append;
use kefu_platform::time::to_timestamp;
use kefu_proto::common::Money;
use kefu_proto::staff as pb;
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::assessment::Assessment;
use crate::domain::conduct::{Breach, TrainingRecord};
use crate::domain::dispute::Dispute;
use crate::domain::kpi::Formula;
use crate::domain::org::{Staff, Team};
use crate::domain::period::Period;
use crate::domain::rules::{Outcome, RewardRule};

fn person(id: &str) -> String {
    format!("staff/{id}")
}

pub(crate) fn cny(fen: i64) -> Money {
    Money {
        currency_code: "CNY".into(),
        minor_units: fen,
    }
}

fn profile(s: &Staff) -> pb::StaffProfile {
    pb::StaffProfile {
        staff_id: s.id.clone(),
        role: pb::StaffRole::from(s.role).into(),
        team_id: s.team_id.clone(),
        manager_id: s.manager_id.clone(),
        sales_region: s.sales_region.clone(),
        state: pb::StaffState::from(s.state).into(),
        version: s.version,
    }
}

pub(crate) async fn staff_joined<C: ConnectionTrait>(txn: &C, s: &Staff) -> Result<(), DbErr> {
    let e = pb::StaffJoined {
        profile: Some(profile(s)),
        join_time: Some(to_timestamp(s.joined_at)),
    };
    append(txn, &person(&s.id), &e).await?;
    Ok(())
}

pub(crate) async fn staff_updated<C: ConnectionTrait>(
    txn: &C,
    s: &Staff,
    changed: &[String],
) -> Result<(), DbErr> {
    let e = pb::StaffUpdated {
        profile: Some(profile(s)),
        changed_fields: changed.to_vec(),
    };
    append(txn, &person(&s.id), &e).await?;
    Ok(())
}

pub(crate) async fn staff_left<C: ConnectionTrait>(txn: &C, s: &Staff) -> Result<(), DbErr> {
    let e = pb::StaffLeft {
        profile: Some(profile(s)),
        leave_time: s.left_at.map(to_timestamp),
    };
    append(txn, &person(&s.id), &e).await?;
    Ok(())
}

pub(crate) async fn team_changed<C: ConnectionTrait>(txn: &C, t: &Team) -> Result<(), DbErr> {
    let e = pb::TeamChanged {
        team_id: t.id.clone(),
        supervisor_id: t.supervisor_id.clone(),
        parent_team_id: t.parent_team_id.clone(),
        version: t.version,
    };
    append(txn, &format!("teams/{}", t.id), &e).await?;
    Ok(())
}

pub(crate) async fn formula_added<C: ConnectionTrait>(txn: &C, f: &Formula) -> Result<(), DbErr> {
    let e = pb::KpiFormulaAdded {
        kpi: pb::Kpi::from(f.kpi).into(),
        formula_version: f.version,
        effective_from_date: f.effective_from.format("%Y-%m-%d").to_string(),
        weight: f.weight,
    };
    append(txn, &format!("kpis/{}", f.kpi), &e).await?;
    Ok(())
}

pub(crate) async fn period_closed<C: ConnectionTrait>(txn: &C, p: &Period) -> Result<(), DbErr> {
    let e = pb::PeriodClosed {
        period_id: p.id.clone(),
        staff_count: p.staff_count,
    };
    append(txn, &format!("periods/{}", p.id), &e).await?;
    Ok(())
}

pub(crate) async fn assessment_computed<C: ConnectionTrait>(
    txn: &C,
    a: &Assessment,
) -> Result<(), DbErr> {
    let e = pb::AssessmentComputed {
        staff_id: a.staff_id.clone(),
        period_id: a.period_id.clone(),
        revision: a.revision,
        cause: pb::AssessmentCause::from(a.cause).into(),
        score_tenths: a.score,
        grade: a
            .grade
            .map_or(pb::Grade::Unspecified, pb::Grade::from)
            .into(),
        dispute_id: a.dispute_id.clone(),
        team_id: a.team_id.clone(),
    };
    append(txn, &person(&a.staff_id), &e).await?;
    Ok(())
}

pub(crate) async fn dispute_opened<C: ConnectionTrait>(txn: &C, d: &Dispute) -> Result<(), DbErr> {
    let e = pb::DisputeOpened {
        dispute_id: d.id.clone(),
        staff_id: d.staff_id.clone(),
        period_id: d.period_id.clone(),
        kpi: pb::Kpi::from(d.kpi).into(),
        event_id: d.event_id.clone(),
    };
    append(txn, &person(&d.staff_id), &e).await?;
    Ok(())
}

pub(crate) async fn dispute_decided<C: ConnectionTrait>(txn: &C, d: &Dispute) -> Result<(), DbErr> {
    let e = pb::DisputeDecided {
        dispute_id: d.id.clone(),
        staff_id: d.staff_id.clone(),
        state: pb::DisputeState::from(d.state).into(),
        decider_id: d.decided_by.clone(),
    };
    append(txn, &person(&d.staff_id), &e).await?;
    Ok(())
}

pub(crate) async fn rule_changed<C: ConnectionTrait>(txn: &C, r: &RewardRule) -> Result<(), DbErr> {
    let e = pb::RewardRuleChanged {
        rule_id: r.id.clone(),
        version: r.version,
        kind: pb::RewardPenaltyKind::from(r.kind).into(),
        amount: Some(cny(r.amount_fen)),
        disabled: r.disabled,
    };
    append(txn, &format!("rules/{}", r.id), &e).await?;
    Ok(())
}

pub(crate) async fn outcome_decided<C: ConnectionTrait>(txn: &C, o: &Outcome) -> Result<(), DbErr> {
    let e = pb::RewardPenaltyDecided {
        reward_penalty_id: o.id.clone(),
        staff_id: o.staff_id.clone(),
        period_id: o.period_id.clone(),
        assessment_revision: o.revision,
        kind: pb::RewardPenaltyKind::from(o.kind).into(),
        amount: Some(cny(o.amount_fen)),
        rule_id: o.rule_id.clone(),
        rule_version: o.rule_version,
        grade: o
            .grade
            .map_or(pb::Grade::Unspecified, pb::Grade::from)
            .into(),
    };
    append(txn, &person(&o.staff_id), &e).await?;
    Ok(())
}

pub(crate) async fn outcome_withdrawn<C: ConnectionTrait>(
    txn: &C,
    o: &Outcome,
    revision: i32,
) -> Result<(), DbErr> {
    let e = pb::RewardPenaltyWithdrawn {
        reward_penalty_id: o.id.clone(),
        staff_id: o.staff_id.clone(),
        period_id: o.period_id.clone(),
        assessment_revision: revision,
    };
    append(txn, &person(&o.staff_id), &e).await?;
    Ok(())
}

/// SK-5: answers the event's id, which the breach's fact and any dispute of it name.
pub(crate) async fn breach_recorded<C: ConnectionTrait>(
    txn: &C,
    b: &Breach,
) -> Result<String, DbErr> {
    let e = pb::ConductBreachRecorded {
        breach_id: b.id.clone(),
        staff_id: b.staff_id.clone(),
        kind: pb::BreachKind::from(b.kind).into(),
        recorder_id: b.recorded_by.clone(),
        occur_time: Some(to_timestamp(b.occurred_at)),
    };
    append(txn, &person(&b.staff_id), &e).await
}

/// SK-6: answers the event's id, as for breaches.
pub(crate) async fn training_recorded<C: ConnectionTrait>(
    txn: &C,
    r: &TrainingRecord,
) -> Result<String, DbErr> {
    let e = pb::TrainingAttendanceRecorded {
        training_record_id: r.id.clone(),
        plan_id: r.plan_id.clone(),
        staff_id: r.staff_id.clone(),
        attendance: pb::Attendance::from(r.attendance).into(),
        evaluation_score: r.evaluation_score,
        session_time: Some(to_timestamp(r.session_time)),
    };
    append(txn, &person(&r.staff_id), &e).await
}
