//! CR-6 and CR-8: what a visit day-report and an urgent report must hold.

use chrono::{DateTime, Duration, Utc};
use kefu_platform::error::{FieldViolation, Violations};

const MAX_PART: usize = 4000;

/// CR-6: a visit day-report, exactly the seed's six parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VisitReport {
    /// Part 1: the customer and the visit time.
    pub customer_id: String,
    pub visit_time: Option<DateTime<Utc>>,
    /// Part 2: the customer's opinions, suggestions and wishes.
    pub customer_feedback: String,
    /// Part 3: the market, competitors' moves and other companies' logistics policies.
    pub market_intelligence: String,
    /// Part 4: the effect of the visit.
    pub visit_effect: String,
    /// Part 5: the main matters handled and their results.
    pub matters_handled: String,
    /// Part 6: anything else to report (may be empty).
    pub other_matters: String,
}

impl VisitReport {
    /// Trims every part and checks the report, naming each bad part under `prefix`.
    pub fn normalize_and_validate(
        &mut self,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        for part in [
            &mut self.customer_id,
            &mut self.customer_feedback,
            &mut self.market_intelligence,
            &mut self.visit_effect,
            &mut self.matters_handled,
            &mut self.other_matters,
        ] {
            *part = part.trim().to_owned();
        }
        let at = |f: &str| format!("{prefix}.{f}");
        v.check(
            !self.customer_id.is_empty(),
            at("customer_id"),
            "required: the customer visited (part 1)",
        );
        match self.visit_time {
            None => v.add(
                at("visit_time"),
                "required: when the visit took place (part 1)",
            ),
            Some(t) if t > now + Duration::minutes(5) => v.add(
                at("visit_time"),
                "a visit cannot be reported before it happens",
            ),
            Some(_) => {}
        }
        for (field, value, part) in [
            (
                "customer_feedback",
                &self.customer_feedback,
                "part 2: the customer's opinions, suggestions and wishes",
            ),
            (
                "market_intelligence",
                &self.market_intelligence,
                "part 3: the market and competitors' moves",
            ),
            (
                "visit_effect",
                &self.visit_effect,
                "part 4: the effect of the visit",
            ),
            (
                "matters_handled",
                &self.matters_handled,
                "part 5: the matters handled and their results",
            ),
        ] {
            v.check(!value.is_empty(), at(field), format!("required ({part})"));
            v.check(
                value.chars().count() <= MAX_PART,
                at(field),
                format!("at most {MAX_PART} characters"),
            );
        }
        v.check(
            self.other_matters.chars().count() <= MAX_PART,
            at("other_matters"),
            format!("at most {MAX_PART} characters"),
        );
        v.finish()
    }
}

/// CR-8: an urgent report has one of the seed's four triggers and says what happened.
pub fn check_urgent_report(
    has_trigger: bool,
    description: &str,
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    v.check(
        has_trigger,
        "urgent_report.trigger",
        "required: competitor_policy_change, competitor_new_move, own_service_problem or other",
    );
    v.check(
        !description.trim().is_empty(),
        "urgent_report.description",
        "required: what needs urgent handling",
    );
    v.check(
        description.chars().count() <= MAX_PART,
        "urgent_report.description",
        format!("at most {MAX_PART} characters"),
    );
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> VisitReport {
        VisitReport {
            customer_id: "c1".into(),
            visit_time: Some(Utc::now() - Duration::hours(2)),
            customer_feedback: "wants Saturday deliveries".into(),
            market_intelligence: "a competitor cut its Fuzhou-Xiamen rate by 10%".into(),
            visit_effect: "renewal agreed in principle".into(),
            matters_handled: "billing dispute of October settled".into(),
            other_matters: String::new(),
        }
    }

    fn fields(mut r: VisitReport) -> Vec<String> {
        r.normalize_and_validate("visit_report", Utc::now())
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn cr6_a_report_with_its_six_parts_passes_and_part_six_may_be_empty() {
        assert!(fields(report()).is_empty());
    }

    #[test]
    fn cr6_each_missing_part_is_named() {
        type Case = (fn(&mut VisitReport), &'static str);
        let cases: &[Case] = &[
            (|r| r.customer_id = " ".into(), "visit_report.customer_id"),
            (|r| r.visit_time = None, "visit_report.visit_time"),
            (
                |r| r.visit_time = Some(Utc::now() + Duration::days(1)),
                "visit_report.visit_time",
            ),
            (
                |r| r.customer_feedback.clear(),
                "visit_report.customer_feedback",
            ),
            (
                |r| r.market_intelligence.clear(),
                "visit_report.market_intelligence",
            ),
            (|r| r.visit_effect.clear(), "visit_report.visit_effect"),
            (
                |r| r.matters_handled = "  ".into(),
                "visit_report.matters_handled",
            ),
            (
                |r| r.other_matters = "x".repeat(4001),
                "visit_report.other_matters",
            ),
        ];
        for (mutate, field) in cases {
            let mut r = report();
            mutate(&mut r);
            assert_eq!(fields(r), [*field]);
        }
    }

    #[test]
    fn cr8_urgent_reports_need_a_trigger_and_a_description() {
        assert!(check_urgent_report(true, "competitor halves prices in Xiamen").is_ok());
        let missing = check_urgent_report(false, " ").unwrap_err();
        let fields: Vec<_> = missing.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["urgent_report.trigger", "urgent_report.description"]
        );
    }
}
