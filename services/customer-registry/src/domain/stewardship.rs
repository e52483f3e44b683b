//! CR-4: one account owner and one visitor per customer, and the visitor should not be the
//! customer's local salesperson (原则上不能由本地区负责销售的人员担任) unless an explicit
//! override gives a reason. The rule cannot be checked without both regions, so a missing
//! one counts as needing the override: it is never a way around the rule. Where the visitor
//! sells is the organisation's record (staff-kpi's events) when it knows the visitor, and the
//! assigner's word only when it does not.

use kefu_platform::error::Violations;

use super::{Customer, Refusal};

const MAX_ID: usize = 100;
const MAX_REASON: usize = 500;

/// Where the visitor sells, as the assigner states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VisitorSales {
    /// A salesperson of this region code.
    Region(String),
    /// Not a salesperson: sells in no region.
    Nowhere,
}

/// What the organisation (staff-kpi) records of a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownVisitor {
    /// Empty for someone who sells nowhere.
    pub sales_region: String,
    pub active: bool,
}

/// CR-4: where the visitor sells: the organisation's record when it knows them (a statement
/// that contradicts it is refused; one that leaves it out is not needed), else what the
/// assigner stated.
pub fn visitor_sales(
    stated: Option<VisitorSales>,
    known: Option<&KnownVisitor>,
) -> Result<Option<VisitorSales>, Refusal> {
    let Some(known) = known else {
        return Ok(stated);
    };
    if !known.active {
        return Err(Refusal::Invalid(vec![
            kefu_platform::error::FieldViolation {
                field: "visitor_id".into(),
                description: "has left the company (staff-kpi)".into(),
            },
        ]));
    }
    let recorded = match known.sales_region.trim() {
        "" => VisitorSales::Nowhere,
        region => VisitorSales::Region(region.to_owned()),
    };
    let agrees = match (&stated, &recorded) {
        (None, _) | (Some(VisitorSales::Nowhere), VisitorSales::Nowhere) => true,
        (Some(VisitorSales::Region(a)), VisitorSales::Region(b)) => a.trim() == b,
        _ => false,
    };
    if !agrees {
        // Name the field the assigner filled in, so they know which statement to drop.
        let field = match stated {
            Some(VisitorSales::Nowhere) => "visitor_is_not_salesperson",
            _ => "visitor_sales_region",
        };
        let says = match &recorded {
            VisitorSales::Region(region) => {
                format!("staff-kpi records the visitor selling in {region}; leave it out")
            }
            VisitorSales::Nowhere => {
                "staff-kpi records the visitor selling in no region; leave it out".to_owned()
            }
        };
        return Err(Refusal::Invalid(vec![
            kefu_platform::error::FieldViolation {
                field: field.into(),
                description: says,
            },
        ]));
    }
    Ok(Some(recorded))
}

/// What an assignment asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub owner_id: String,
    pub visitor_id: String,
    /// `None` when the request says neither a region nor that the visitor sells nowhere.
    pub visitor_sales: Option<VisitorSales>,
    pub override_reason: String,
}

/// The outcome the rule allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// The rule was overridden: the visitor sells locally, or the customer's region is not
    /// on record.
    pub overridden: bool,
}

impl Customer {
    /// CR-4: sets the owner and the visitor if the rule allows it; changes nothing if not.
    pub fn assign(&mut self, assignment: &Assignment) -> Result<Assigned, Refusal> {
        self.ensure_active()?;
        let owner = assignment.owner_id.trim();
        let visitor = assignment.visitor_id.trim();
        let reason = assignment.override_reason.trim();
        let mut v = Violations::new();
        v.check(
            !owner.is_empty(),
            "owner_id",
            "required: the account owner (CR-4)",
        );
        v.check(
            !visitor.is_empty(),
            "visitor_id",
            "required: the visitor (CR-4)",
        );
        v.check(
            owner.chars().count() <= MAX_ID,
            "owner_id",
            format!("at most {MAX_ID} characters"),
        );
        v.check(
            visitor.chars().count() <= MAX_ID,
            "visitor_id",
            format!("at most {MAX_ID} characters"),
        );
        v.check(
            reason.chars().count() <= MAX_REASON,
            "override_reason",
            format!("at most {MAX_REASON} characters"),
        );
        let customer_region = self.fields.region.trim();
        let needs_override = match &assignment.visitor_sales {
            None => {
                v.add(
                    "visitor_sales_region",
                    "required: the region the visitor sells in, or say the visitor is not a salesperson (CR-4)",
                );
                false
            }
            Some(VisitorSales::Region(region)) if region.trim().is_empty() => {
                v.add("visitor_sales_region", "required: a region code (CR-4)");
                false
            }
            Some(VisitorSales::Nowhere) => false,
            // Without the customer's region nobody can tell the visitor is not local.
            Some(VisitorSales::Region(_)) if customer_region.is_empty() => true,
            Some(VisitorSales::Region(region)) => region.trim() == customer_region,
        };
        if needs_override && reason.is_empty() {
            let why = if customer_region.is_empty() {
                "the customer has no region on record, so the visitor may be its local salesperson; record its region or give a reason (CR-4)"
            } else {
                "the visitor sells in the customer's own region; assigning them needs a reason (CR-4)"
            };
            v.add("override_reason", why);
        }
        v.finish()?;
        self.owner_id = owner.to_owned();
        self.visitor_id = visitor.to_owned();
        self.owner_override_reason = if needs_override {
            reason.to_owned()
        } else {
            String::new()
        };
        Ok(Assigned {
            overridden: needs_override,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{CustomerFields, Kind};

    fn customer(region: &str) -> Customer {
        let fields = CustomerFields {
            kind: Some(Kind::Personal),
            display_name: "Zhang San".into(),
            phone: "13812345678".into(),
            email: String::new(),
            id_number: String::new(),
            registration_number: String::new(),
            contacts: vec![],
            addresses: vec![],
            industry: String::new(),
            needs: String::new(),
            contract: None,
            government_level: None,
            region: region.into(),
            team_id: "t1".into(),
        };
        Customer::new("c1".into(), fields, Utc::now())
    }

    fn assignment(sales: Option<VisitorSales>, reason: &str) -> Assignment {
        Assignment {
            owner_id: "agent-1".into(),
            visitor_id: "sales-7".into(),
            visitor_sales: sales,
            override_reason: reason.into(),
        }
    }

    fn region(code: &str) -> Option<VisitorSales> {
        Some(VisitorSales::Region(code.into()))
    }

    fn refused_fields(result: Result<Assigned, Refusal>) -> Vec<String> {
        match result {
            Err(Refusal::Invalid(v)) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected field violations, got {other:?}"),
        }
    }

    #[test]
    fn cr4_a_visitor_from_another_region_or_no_salesperson_needs_no_reason() {
        let mut c = customer("350102");
        let done = c.assign(&assignment(region("350200"), "")).unwrap();
        assert!(!done.overridden);
        assert_eq!(
            (c.owner_id.as_str(), c.visitor_id.as_str()),
            ("agent-1", "sales-7")
        );
        let mut c = customer("");
        assert!(
            !c.assign(&assignment(Some(VisitorSales::Nowhere), ""))
                .unwrap()
                .overridden
        );
    }

    #[test]
    fn cr4_the_local_salesperson_needs_a_reason_which_is_kept() {
        let mut c = customer("350102");
        assert_eq!(
            refused_fields(c.assign(&assignment(region(" 350102 "), ""))),
            ["override_reason"]
        );
        assert!(c.owner_id.is_empty(), "a refusal changes nothing");
        let done = c
            .assign(&assignment(region("350102"), " speaks the dialect "))
            .unwrap();
        assert!(done.overridden);
        assert_eq!(c.owner_override_reason, "speaks the dialect");
        // Reassigned to someone from elsewhere, the old reason no longer applies.
        c.assign(&assignment(region("350200"), "ignored")).unwrap();
        assert!(c.owner_override_reason.is_empty());
    }

    #[test]
    fn cr4_the_organisations_record_decides_where_a_known_visitor_sells() {
        let seller = KnownVisitor {
            sales_region: "350102".into(),
            active: true,
        };
        // Unknown to staff-kpi: the assigner's word.
        assert_eq!(visitor_sales(region("350200"), None), Ok(region("350200")));
        assert_eq!(visitor_sales(None, None), Ok(None));
        // Known: the record, whether or not the assigner said it.
        assert_eq!(visitor_sales(None, Some(&seller)), Ok(region("350102")));
        assert_eq!(
            visitor_sales(region(" 350102 "), Some(&seller)),
            Ok(region("350102"))
        );
        // Saying otherwise is refused, never believed.
        assert!(matches!(
            visitor_sales(region("350200"), Some(&seller)),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            visitor_sales(Some(VisitorSales::Nowhere), Some(&seller)),
            Err(Refusal::Invalid(_))
        ));
        let agent = KnownVisitor {
            sales_region: String::new(),
            active: true,
        };
        assert_eq!(
            visitor_sales(None, Some(&agent)),
            Ok(Some(VisitorSales::Nowhere))
        );
        let gone = KnownVisitor {
            active: false,
            ..seller
        };
        assert!(matches!(
            visitor_sales(None, Some(&gone)),
            Err(Refusal::Invalid(_))
        ));
    }

    /// Leaving a region out is no way around the rule.
    #[test]
    fn cr4_cannot_be_bypassed_by_leaving_a_region_empty() {
        let mut c = customer("350102");
        assert_eq!(
            refused_fields(c.assign(&assignment(None, ""))),
            ["visitor_sales_region"]
        );
        assert_eq!(
            refused_fields(c.assign(&assignment(region("  "), ""))),
            ["visitor_sales_region"]
        );
        let mut unknown = customer("");
        assert_eq!(
            refused_fields(unknown.assign(&assignment(region("350102"), ""))),
            ["override_reason"],
            "the customer's region unknown: the visitor may be local"
        );
        assert!(
            unknown
                .assign(&assignment(
                    region("350102"),
                    "no region on file yet; visitor confirmed non-local"
                ))
                .unwrap()
                .overridden
        );
    }

    #[test]
    fn cr4_owner_and_visitor_are_required_and_all_faults_are_named() {
        let mut c = customer("350102");
        let empty = Assignment {
            owner_id: " ".into(),
            visitor_id: String::new(),
            visitor_sales: None,
            override_reason: "x".repeat(501),
        };
        assert_eq!(
            refused_fields(c.assign(&empty)),
            [
                "owner_id",
                "visitor_id",
                "override_reason",
                "visitor_sales_region"
            ]
        );
    }

    #[test]
    fn cr4_an_archived_customer_gets_no_owner() {
        let mut c = customer("350102");
        c.archive("left", Utc::now()).unwrap();
        assert!(matches!(
            c.assign(&assignment(region("350200"), "")),
            Err(Refusal::Precondition(_))
        ));
    }
}
