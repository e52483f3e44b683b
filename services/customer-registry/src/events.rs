//! What customer-registry tells the others: its facts as the contract's event messages, which
//! carry ids, codes and amounts and never free text or personal data (reasons and references
//! stay on the record), and what each of its own events means on a customer's service record
//! (CR-13).

use chrono::{DateTime, Utc};
use kefu_platform::time::to_timestamp;
use kefu_proto::common::Money;
use kefu_proto::customer as pb;
use prost::Message as _;

use crate::domain::record::words;
use crate::domain::tier::TierChange;
use crate::domain::visits::{FiledVisitReport, MonthlyReport, UrgentReport};
use crate::domain::{Customer, Grade};

/// The subject of a customer's events.
pub(crate) fn subject(customer_id: &str) -> String {
    format!("customers/{customer_id}")
}

pub(crate) fn customer_created(c: &Customer) -> pb::CustomerCreated {
    pb::CustomerCreated {
        customer_id: c.id.clone(),
        kind: pb::CustomerKind::from(c.kind) as i32,
        tier: pb::Tier::from(c.tier) as i32,
        team_id: c.fields.team_id.clone(),
    }
}

/// After any change of the record: what changed (field paths) and who serves it now.
pub(crate) fn customer_updated(c: &Customer, changed_fields: Vec<String>) -> pb::CustomerUpdated {
    pb::CustomerUpdated {
        customer_id: c.id.clone(),
        changed_fields,
        version: c.version,
        team_id: c.fields.team_id.clone(),
        owner_id: c.owner_id.clone(),
        visitor_id: c.visitor_id.clone(),
    }
}

pub(crate) fn customer_archived(c: &Customer) -> pb::CustomerArchived {
    pb::CustomerArchived {
        customer_id: c.id.clone(),
    }
}

pub(crate) fn customer_erased(c: &Customer) -> pb::CustomerErased {
    pb::CustomerErased {
        customer_id: c.id.clone(),
    }
}

pub(crate) fn owner_assigned(c: &Customer, overridden: bool) -> pb::OwnerAssigned {
    pb::OwnerAssigned {
        customer_id: c.id.clone(),
        owner_id: c.owner_id.clone(),
        visitor_id: c.visitor_id.clone(),
        local_salesperson_override: overridden,
    }
}

pub(crate) fn tier_changed(change: &TierChange) -> pb::TierChanged {
    pb::TierChanged {
        customer_id: change.customer_id.clone(),
        old_tier: pb::Tier::from(change.old) as i32,
        new_tier: pb::Tier::from(change.new) as i32,
        manual_override: change.manual,
        actor_id: change.actor_id.clone(),
        change_time: Some(to_timestamp(change.at)),
        monthly_uses: i64::from(change.facts.monthly_uses),
        annual_spend: Some(Money {
            currency_code: "CNY".into(),
            minor_units: change.facts.annual_spend_fen,
        }),
    }
}

pub(crate) fn grade_changed(
    customer_id: &str,
    old: Option<Grade>,
    new: Grade,
    total_score: f64,
) -> pb::GradeChanged {
    pb::GradeChanged {
        customer_id: customer_id.to_owned(),
        old_grade: old.map_or(pb::Grade::Unspecified, pb::Grade::from) as i32,
        new_grade: pb::Grade::from(new) as i32,
        total_score,
    }
}

pub(crate) fn visit_filed(
    visit: &FiledVisitReport,
    due: Option<DateTime<Utc>>,
) -> pb::VisitReportFiled {
    pb::VisitReportFiled {
        visit_report_id: visit.id.clone(),
        customer_id: visit.report.customer_id.clone(),
        visitor_id: visit.visitor_id.clone(),
        visit_time: visit.report.visit_time.map(to_timestamp),
        due_time: due.map(to_timestamp),
    }
}

pub(crate) fn monthly_submitted(report: &MonthlyReport) -> pb::MonthlyReportSubmitted {
    pb::MonthlyReportSubmitted {
        monthly_report_id: report.id.clone(),
        team_id: report.team_id.clone(),
        month: report.month.clone(),
    }
}

pub(crate) fn urgent_raised(report: &UrgentReport) -> pb::UrgentReportRaised {
    pb::UrgentReportRaised {
        urgent_report_id: report.id.clone(),
        customer_id: report.customer_id.clone(),
        trigger: pb::UrgentTrigger::from(report.trigger) as i32,
    }
}

/// What one of this service's own events says, for a customer's service record.
pub(crate) fn summary(event_type: &str, payload: &[u8]) -> Result<String, prost::DecodeError> {
    Ok(match event_type {
        "kefu.customer.v1.CustomerCreated" => {
            let e = pb::CustomerCreated::decode(payload)?;
            format!(
                "{} customer registered",
                words(e.kind().as_str_name(), "CUSTOMER_KIND_")
            )
        }
        "kefu.customer.v1.CustomerUpdated" => {
            let e = pb::CustomerUpdated::decode(payload)?;
            format!("record updated: {}", e.changed_fields.join(", "))
        }
        "kefu.customer.v1.CustomerArchived" => "customer archived".to_owned(),
        "kefu.customer.v1.CustomerErased" => "personal data erased".to_owned(),
        "kefu.customer.v1.TierChanged" => {
            let e = pb::TierChanged::decode(payload)?;
            let how = if e.manual_override {
                "by a manager"
            } else {
                "from the facts"
            };
            format!(
                "tier {} -> {} {how}",
                words(e.old_tier().as_str_name(), "TIER_"),
                words(e.new_tier().as_str_name(), "TIER_")
            )
        }
        "kefu.customer.v1.GradeChanged" => {
            let e = pb::GradeChanged::decode(payload)?;
            format!(
                "grade {} -> {}",
                words(e.old_grade().as_str_name(), "GRADE_"),
                words(e.new_grade().as_str_name(), "GRADE_")
            )
        }
        "kefu.customer.v1.OwnerAssigned" => {
            let e = pb::OwnerAssigned::decode(payload)?;
            format!("owner {} and visitor {} assigned", e.owner_id, e.visitor_id)
        }
        "kefu.customer.v1.VisitReportFiled" => {
            let e = pb::VisitReportFiled::decode(payload)?;
            format!("visited by {}", e.visitor_id)
        }
        "kefu.customer.v1.UrgentReportRaised" => {
            let e = pb::UrgentReportRaised::decode(payload)?;
            format!(
                "urgent report: {}",
                words(e.trigger().as_str_name(), "URGENT_TRIGGER_")
            )
        }
        other => other.rsplit('.').next().unwrap_or(other).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr13_own_events_are_summarised_from_codes_and_unknown_ones_by_name() {
        let changed = pb::TierChanged {
            old_tier: pb::Tier::Occasional as i32,
            new_tier: pb::Tier::Frequent as i32,
            ..Default::default()
        };
        assert_eq!(
            summary("kefu.customer.v1.TierChanged", &changed.encode_to_vec()).unwrap(),
            "tier occasional -> frequent from the facts"
        );
        assert_eq!(
            summary("kefu.customer.v1.SomethingNew", &[]).unwrap(),
            "SomethingNew"
        );
    }
}
