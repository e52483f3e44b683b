//! The contract's messages to and from the domain's types. Enum conversions are `From` impls
//! so the outgoing events (events.rs) use the same ones; a number the contract does not know
//! is a bad field, never a default.

use kefu_platform::error::FieldViolation;
use kefu_platform::time::{from_timestamp, to_timestamp};
use kefu_proto::common as pc;
use kefu_proto::customer as pb;

use crate::domain::grade::Component;
use crate::domain::plans::ServicePlan;
use crate::domain::record::RecordEntry;
use crate::domain::rotation::{KeyRotation, RotationState};
use crate::domain::secrecy::AuditRecord;
use crate::domain::tier::TierChange;
use crate::domain::visits::{
    FiledVisitReport, MonthlyState, OverdueVisit, UrgentReport, UrgentTrigger, VisitReport,
};
use crate::domain::{
    Address, Contact, Contract, CustomerFields, GovernmentLevel, Grade, Kind, Money, State, Tier,
};
use crate::error::{Error, Result};
use crate::grades::Explained;
use crate::registry::Shown;
use crate::visits::CompiledMonth;

impl From<Kind> for pb::CustomerKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Personal => pb::CustomerKind::Personal,
            Kind::Enterprise => pb::CustomerKind::Enterprise,
            Kind::Government => pb::CustomerKind::Government,
        }
    }
}

impl From<Tier> for pb::Tier {
    fn from(t: Tier) -> Self {
        match t {
            Tier::Frequent => pb::Tier::Frequent,
            Tier::Occasional => pb::Tier::Occasional,
            Tier::Large => pb::Tier::Large,
            Tier::Medium => pb::Tier::Medium,
            Tier::Small => pb::Tier::Small,
            Tier::GovernmentA => pb::Tier::GovernmentA,
            Tier::GovernmentB => pb::Tier::GovernmentB,
            Tier::GovernmentC => pb::Tier::GovernmentC,
        }
    }
}

impl From<Grade> for pb::Grade {
    fn from(g: Grade) -> Self {
        match g {
            Grade::A => pb::Grade::A,
            Grade::B => pb::Grade::B,
            Grade::C => pb::Grade::C,
            Grade::D => pb::Grade::D,
        }
    }
}

impl From<GovernmentLevel> for pb::GovernmentLevel {
    fn from(l: GovernmentLevel) -> Self {
        match l {
            GovernmentLevel::National => pb::GovernmentLevel::National,
            GovernmentLevel::Provincial => pb::GovernmentLevel::Provincial,
            GovernmentLevel::Prefecture => pb::GovernmentLevel::Prefecture,
        }
    }
}

/// A grade the customer may not have yet.
fn grade(g: Option<Grade>) -> pb::Grade {
    g.map_or(pb::Grade::Unspecified, pb::Grade::from)
}

impl From<State> for pb::CustomerState {
    fn from(s: State) -> Self {
        match s {
            State::Active => pb::CustomerState::Active,
            State::Archived => pb::CustomerState::Archived,
            State::Erased => pb::CustomerState::Erased,
        }
    }
}

impl From<UrgentTrigger> for pb::UrgentTrigger {
    fn from(t: UrgentTrigger) -> Self {
        match t {
            UrgentTrigger::CompetitorPolicyChange => pb::UrgentTrigger::CompetitorPolicyChange,
            UrgentTrigger::CompetitorNewMove => pb::UrgentTrigger::CompetitorNewMove,
            UrgentTrigger::OwnServiceProblem => pb::UrgentTrigger::OwnServiceProblem,
            UrgentTrigger::Other => pb::UrgentTrigger::Other,
        }
    }
}

impl From<MonthlyState> for pb::MonthlyReportState {
    fn from(s: MonthlyState) -> Self {
        match s {
            MonthlyState::Draft => pb::MonthlyReportState::Draft,
            MonthlyState::Submitted => pb::MonthlyReportState::Submitted,
        }
    }
}

impl From<RotationState> for pb::KeyRotationState {
    fn from(s: RotationState) -> Self {
        match s {
            RotationState::Running => pb::KeyRotationState::Running,
            RotationState::Done => pb::KeyRotationState::Done,
            RotationState::Failed => pb::KeyRotationState::Failed,
        }
    }
}

/// A proto enum number as the domain's value: `Ok(None)` for UNSPECIFIED, an error naming
/// `field` for a number the contract does not have.
fn known<P, D>(
    value: i32,
    field: &str,
    convert: impl FnOnce(P) -> Option<D>,
) -> std::result::Result<Option<D>, FieldViolation>
where
    P: TryFrom<i32>,
{
    P::try_from(value).map(convert).map_err(|_| FieldViolation {
        field: field.into(),
        description: format!("unknown value {value}"),
    })
}

pub(crate) fn kind(value: i32, field: &str) -> std::result::Result<Option<Kind>, FieldViolation> {
    known(value, field, |k: pb::CustomerKind| match k {
        pb::CustomerKind::Unspecified => None,
        pb::CustomerKind::Personal => Some(Kind::Personal),
        pb::CustomerKind::Enterprise => Some(Kind::Enterprise),
        pb::CustomerKind::Government => Some(Kind::Government),
    })
}

pub(crate) fn tier(value: i32, field: &str) -> std::result::Result<Option<Tier>, FieldViolation> {
    known(value, field, |t: pb::Tier| match t {
        pb::Tier::Unspecified => None,
        pb::Tier::Frequent => Some(Tier::Frequent),
        pb::Tier::Occasional => Some(Tier::Occasional),
        pb::Tier::Large => Some(Tier::Large),
        pb::Tier::Medium => Some(Tier::Medium),
        pb::Tier::Small => Some(Tier::Small),
        pb::Tier::GovernmentA => Some(Tier::GovernmentA),
        pb::Tier::GovernmentB => Some(Tier::GovernmentB),
        pb::Tier::GovernmentC => Some(Tier::GovernmentC),
    })
}

fn level(value: i32, field: &str) -> std::result::Result<Option<GovernmentLevel>, FieldViolation> {
    known(value, field, |l: pb::GovernmentLevel| match l {
        pb::GovernmentLevel::Unspecified => None,
        pb::GovernmentLevel::National => Some(GovernmentLevel::National),
        pb::GovernmentLevel::Provincial => Some(GovernmentLevel::Provincial),
        pb::GovernmentLevel::Prefecture => Some(GovernmentLevel::Prefecture),
    })
}

pub(crate) fn trigger(value: i32) -> Option<UrgentTrigger> {
    match pb::UrgentTrigger::try_from(value).ok()? {
        pb::UrgentTrigger::Unspecified => None,
        pb::UrgentTrigger::CompetitorPolicyChange => Some(UrgentTrigger::CompetitorPolicyChange),
        pb::UrgentTrigger::CompetitorNewMove => Some(UrgentTrigger::CompetitorNewMove),
        pb::UrgentTrigger::OwnServiceProblem => Some(UrgentTrigger::OwnServiceProblem),
        pb::UrgentTrigger::Other => Some(UrgentTrigger::Other),
    }
}

/// The input fields of a proto customer, under `prefix`; enum numbers the contract lacks
/// are bad fields.
pub(crate) fn fields(c: pb::Customer, prefix: &str) -> Result<CustomerFields> {
    let kind = kind(c.kind, &format!("{prefix}.kind"));
    let government_level = level(c.government_level, &format!("{prefix}.government_level"));
    let (kind, government_level) = match (kind, government_level) {
        (Ok(kind), Ok(level)) => (kind, level),
        (kind, level) => {
            return Err(Error::Invalid(
                [kind.err(), level.err()].into_iter().flatten().collect(),
            ));
        }
    };
    Ok(CustomerFields {
        kind,
        display_name: c.display_name,
        phone: c.phone,
        email: c.email,
        id_number: c.id_number,
        registration_number: c.registration_number,
        contacts: c
            .contacts
            .into_iter()
            .map(|k| Contact {
                display_name: k.display_name,
                role: k.role,
                phone: k.phone,
                email: k.email,
            })
            .collect(),
        addresses: c
            .addresses
            .into_iter()
            .map(|a| Address {
                label: a.label,
                province: a.province,
                city: a.city,
                district: a.district,
                street: a.street,
                postal_code: a.postal_code,
            })
            .collect(),
        industry: c.industry,
        needs: c.needs,
        contract: c.contract.map(|k| Contract {
            contract_number: k.contract_number,
            start_time: k.start_time.as_ref().and_then(from_timestamp),
            end_time: k.end_time.as_ref().and_then(from_timestamp),
            payment_terms: k.payment_terms,
            credit_limit: k.credit_limit.map(|m| Money {
                currency_code: m.currency_code,
                minor_units: m.minor_units,
            }),
        }),
        government_level,
        region: c.region,
        team_id: c.team_id,
    })
}

/// A customer as the answer shows it.
pub(crate) fn customer(shown: Shown) -> pb::Customer {
    let c = shown.customer;
    let f = c.fields;
    pb::Customer {
        id: c.id,
        kind: pb::CustomerKind::from(c.kind) as i32,
        display_name: f.display_name,
        state: pb::CustomerState::from(c.state) as i32,
        phone: f.phone,
        email: f.email,
        id_number: f.id_number,
        registration_number: f.registration_number,
        contacts: f
            .contacts
            .into_iter()
            .map(|k| pb::Contact {
                display_name: k.display_name,
                role: k.role,
                phone: k.phone,
                email: k.email,
            })
            .collect(),
        addresses: f
            .addresses
            .into_iter()
            .map(|a| pc::Address {
                label: a.label,
                province: a.province,
                city: a.city,
                district: a.district,
                street: a.street,
                postal_code: a.postal_code,
            })
            .collect(),
        industry: f.industry,
        needs: f.needs,
        contract: f.contract.map(|k| pb::ContractTerms {
            contract_number: k.contract_number,
            start_time: k.start_time.map(to_timestamp),
            end_time: k.end_time.map(to_timestamp),
            payment_terms: k.payment_terms,
            credit_limit: k.credit_limit.map(|m| pc::Money {
                currency_code: m.currency_code,
                minor_units: m.minor_units,
            }),
        }),
        government_level: f
            .government_level
            .map_or(pb::GovernmentLevel::Unspecified, pb::GovernmentLevel::from)
            as i32,
        region: f.region,
        tier: pb::Tier::from(c.tier) as i32,
        tier_overridden: c.tier_overridden,
        grade: grade(c.grade) as i32,
        owner_id: c.owner_id,
        visitor_id: c.visitor_id,
        team_id: f.team_id,
        personal_data_masked: shown.masked,
        create_time: Some(to_timestamp(c.created_at)),
        update_time: Some(to_timestamp(c.updated_at)),
        confirm_time: Some(to_timestamp(c.confirmed_at)),
        archive_time: c.archived_at.map(to_timestamp),
        version: c.version,
        archive_reason: c.archive_reason,
        erasure_reference: c.erasure_reference,
        owner_override_reason: c.owner_override_reason,
    }
}

pub(crate) fn visit_report(given: pb::VisitReport) -> VisitReport {
    VisitReport {
        customer_id: given.customer_id,
        visit_time: given.visit_time.as_ref().and_then(from_timestamp),
        customer_feedback: given.customer_feedback,
        market_intelligence: given.market_intelligence,
        visit_effect: given.visit_effect,
        matters_handled: given.matters_handled,
        other_matters: given.other_matters,
    }
}

pub(crate) fn filed_visit(v: FiledVisitReport) -> pb::VisitReport {
    let r = v.report;
    pb::VisitReport {
        id: v.id,
        customer_id: r.customer_id,
        visit_time: r.visit_time.map(to_timestamp),
        customer_feedback: r.customer_feedback,
        market_intelligence: r.market_intelligence,
        visit_effect: r.visit_effect,
        matters_handled: r.matters_handled,
        other_matters: r.other_matters,
        visitor_id: v.visitor_id,
        create_time: Some(to_timestamp(v.created_at)),
    }
}

pub(crate) fn monthly(m: CompiledMonth) -> pb::MonthlyReport {
    let r = m.report;
    pb::MonthlyReport {
        id: r.id,
        team_id: r.team_id,
        month: r.month,
        state: pb::MonthlyReportState::from(r.state) as i32,
        visit_count: r.visit_count,
        customer_count: r.customer_count,
        overdue_count: r.overdue_count,
        visit_reports: m.visits.into_iter().map(filed_visit).collect(),
        supervisor_summary: r.supervisor_summary,
        supervisor_id: r.supervisor_id,
        generate_time: Some(to_timestamp(r.generated_at)),
        submit_time: r.submitted_at.map(to_timestamp),
    }
}

pub(crate) fn urgent(r: UrgentReport) -> pb::UrgentReport {
    pb::UrgentReport {
        id: r.id,
        customer_id: r.customer_id,
        trigger: pb::UrgentTrigger::from(r.trigger) as i32,
        description: r.description,
        reporter_id: r.reporter_id,
        create_time: Some(to_timestamp(r.created_at)),
    }
}

pub(crate) fn overdue(o: OverdueVisit) -> pb::OverdueVisit {
    pb::OverdueVisit {
        customer_id: o.customer_id,
        visitor_id: o.visitor_id,
        team_id: o.team_id,
        grade: pb::Grade::from(o.grade) as i32,
        last_visit_time: o.last_visit.map(to_timestamp),
        due_time: Some(to_timestamp(o.due)),
        days_overdue: o.days_overdue,
    }
}

pub(crate) fn tier_change(c: TierChange) -> pb::TierChange {
    pb::TierChange {
        customer_id: c.customer_id,
        old_tier: pb::Tier::from(c.old) as i32,
        new_tier: pb::Tier::from(c.new) as i32,
        reason: c.reason,
        manual_override: c.manual,
        actor_id: c.actor_id,
        change_time: Some(to_timestamp(c.at)),
        monthly_uses: i64::from(c.facts.monthly_uses),
        annual_spend: Some(pc::Money {
            currency_code: "CNY".into(),
            minor_units: c.facts.annual_spend_fen,
        }),
    }
}

pub(crate) fn audit_record(r: AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: r.id.to_string(),
        actor_id: r.actor_id,
        actor_role: r.actor_role,
        customer_id: r.customer_id,
        fields: r.fields,
        purpose: r.purpose,
        rpc: r.rpc,
        read_time: Some(to_timestamp(r.read_at)),
        trace_id: r.trace_id,
    }
}

pub(crate) fn rotation(r: KeyRotation) -> pb::KeyRotation {
    pb::KeyRotation {
        id: r.id,
        target_key_id: r.target_key_id,
        state: pb::KeyRotationState::from(r.state) as i32,
        total_rows: r.total_rows,
        done_rows: r.done_rows,
        start_time: Some(to_timestamp(r.started_at)),
        end_time: r.ended_at.map(to_timestamp),
        error: r.error,
    }
}

pub(crate) fn service_plan(p: ServicePlan) -> pb::ServicePlan {
    let hours = |h: u32| i32::try_from(h).unwrap_or(i32::MAX);
    pb::ServicePlan {
        tier: pb::Tier::from(p.tier) as i32,
        services: p.services,
        promised_delivery_hours: hours(p.promised_delivery_hours),
        first_response_hours: hours(p.first_response_hours),
        resolution_hours: hours(p.resolution_hours),
    }
}

pub(crate) fn record_entry(e: RecordEntry) -> pb::ServiceRecordEntry {
    pb::ServiceRecordEntry {
        occur_time: Some(to_timestamp(e.occurred_at)),
        source: e.source,
        event_type: e.event_type,
        subject: e.subject,
        summary: e.summary,
        event_id: e.event_id,
    }
}

pub(crate) fn explanation(e: Explained) -> pb::GradeExplanation {
    pb::GradeExplanation {
        customer_id: e.customer_id,
        grade: pb::Grade::from(e.scored.grade) as i32,
        total_score: e.scored.total,
        components: e
            .scored
            .components
            .into_iter()
            .map(|c: Component| pb::ScoreComponent {
                factor: c.factor.to_owned(),
                score: c.score,
                weight: c.weight,
                contribution: c.contribution,
                basis: c.basis,
            })
            .collect(),
        cutoffs: e.cutoffs,
        compute_time: Some(to_timestamp(e.computed_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_unknown_to_the_contract_are_bad_fields_and_unspecified_is_none() {
        assert_eq!(kind(0, "kind").unwrap(), None);
        assert_eq!(kind(2, "kind").unwrap(), Some(Kind::Enterprise));
        assert_eq!(
            kind(99, "customer.kind").unwrap_err().field,
            "customer.kind"
        );
        assert_eq!(
            tier(99, "tier").unwrap_err().description,
            "unknown value 99"
        );
        for t in Tier::ALL {
            assert_eq!(tier(pb::Tier::from(*t) as i32, "tier").unwrap(), Some(*t));
        }
    }
}
