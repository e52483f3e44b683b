//! Visits (CR-5 to CR-8): when a customer is overdue for one, what a day-report and an urgent
//! report must hold, and how a supervisor's monthly report is compiled and submitted.

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, TimeZone as _, Utc};
use kefu_platform::error::{FieldViolation, Violations};

use super::{Customer, Grade, Refusal, invalid};

const MAX_PART: usize = 4000;
const MAX_SUMMARY: usize = 8000;

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

/// CR-6: a day-report as filed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiledVisitReport {
    pub id: String,
    /// Who filed it: the visitor.
    pub visitor_id: String,
    pub created_at: DateTime<Utc>,
    pub report: VisitReport,
}

/// CR-8: the seed's four reasons for an urgent report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrgentTrigger {
    /// A competitor's policy changes sharply.
    CompetitorPolicyChange,
    /// A competitor makes a new sales or service move.
    CompetitorNewMove,
    /// A problem in our own service.
    OwnServiceProblem,
    Other,
}

/// CR-8: raised at once to the manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrgentReport {
    pub id: String,
    /// Empty when it concerns no one customer.
    pub customer_id: String,
    pub trigger: UrgentTrigger,
    pub description: String,
    pub reporter_id: String,
    pub created_at: DateTime<Utc>,
}

/// CR-8: an urgent report has one of the seed's four triggers and says what happened.
pub fn check_urgent_report(
    trigger: Option<UrgentTrigger>,
    description: &str,
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    v.check(
        trigger.is_some(),
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

/// Whose day-reports a list may show: an agent lists the reports of a customer it may see
/// (checked with the customer) or its own; others list anyone's. `None`: any visitor.
pub fn visitor_filter(
    viewer: &super::access::Viewer,
    of_customer: bool,
    requested_visitor: Option<String>,
) -> Result<Option<String>, Refusal> {
    if !viewer.restricted_to_own || of_customer {
        return Ok(requested_visitor);
    }
    match requested_visitor {
        Some(visitor) if visitor != viewer.subject => Err(Refusal::NotAllowed(
            "agents list their own visit reports".into(),
        )),
        _ => Ok(Some(viewer.subject.clone())),
    }
}

/// CR-5: a customer past its grade's visit interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverdueVisit {
    pub customer_id: String,
    pub visitor_id: String,
    pub team_id: String,
    pub grade: Grade,
    pub last_visit: Option<DateTime<Utc>>,
    pub due: DateTime<Utc>,
    pub days_overdue: i32,
}

/// CR-5: the customer is overdue when `interval_days` have passed since its last visit (or
/// since it was registered, if never visited); ungraded customers have no interval yet.
pub fn overdue(
    customer: &Customer,
    last_visit: Option<DateTime<Utc>>,
    interval_days: u32,
    now: DateTime<Utc>,
) -> Option<OverdueVisit> {
    let grade = customer.grade?;
    let due = last_visit.unwrap_or(customer.created_at) + Duration::days(i64::from(interval_days));
    (due < now).then(|| OverdueVisit {
        customer_id: customer.id.clone(),
        visitor_id: customer.visitor_id.clone(),
        team_id: customer.fields.team_id.clone(),
        grade,
        last_visit,
        due,
        days_overdue: i32::try_from((now - due).num_days()).unwrap_or(i32::MAX),
    })
}

/// The UTC bounds of the local calendar month "YYYY-MM" at `offset`: [first day, next first).
pub fn month_bounds(month: &str, offset: FixedOffset) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if month.len() != 7 {
        return None;
    }
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
    };
    let at = |d: NaiveDate| {
        offset
            .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    Some((at(first)?, at(next)?))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonthlyState {
    /// Generated; regenerated until submitted.
    Draft,
    /// Reviewed and sent to the manager.
    Submitted,
}

/// CR-7: a team's month of day-reports, compiled for the manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthlyReport {
    pub id: String,
    pub team_id: String,
    /// "2026-11".
    pub month: String,
    pub state: MonthlyState,
    pub visit_count: i32,
    pub customer_count: i32,
    pub overdue_count: i32,
    /// The day-reports compiled, in visit order.
    pub visit_report_ids: Vec<String>,
    pub supervisor_summary: String,
    pub supervisor_id: String,
    pub generated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl MonthlyReport {
    /// CR-7: compiles `visits` of `team` in `month` into a draft, over `existing` (a draft
    /// is regenerated; a submitted report stays as submitted).
    pub fn compile(
        existing: Option<MonthlyReport>,
        new_id: impl FnOnce() -> String,
        team: &str,
        month: &str,
        visits: &[FiledVisitReport],
        overdue_count: usize,
        now: DateTime<Utc>,
    ) -> Result<Self, Refusal> {
        if let Some(existing) = &existing
            && existing.state == MonthlyState::Submitted
        {
            return Err(Refusal::Precondition(format!(
                "the {month} report of team {team} was already submitted"
            )));
        }
        let customers: std::collections::BTreeSet<&str> = visits
            .iter()
            .map(|v| v.report.customer_id.as_str())
            .collect();
        Ok(Self {
            id: existing.map_or_else(new_id, |e| e.id),
            team_id: team.to_owned(),
            month: month.to_owned(),
            state: MonthlyState::Draft,
            visit_count: count(visits.len()),
            customer_count: count(customers.len()),
            overdue_count: count(overdue_count),
            visit_report_ids: visits.iter().map(|v| v.id.clone()).collect(),
            supervisor_summary: String::new(),
            supervisor_id: String::new(),
            generated_at: now,
            submitted_at: None,
        })
    }

    /// CR-7: the supervisor's review goes with the report to the manager, once.
    pub fn submit(
        &mut self,
        supervisor_id: &str,
        summary: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let summary = summary.trim();
        if summary.is_empty() || summary.chars().count() > MAX_SUMMARY {
            return Err(invalid(
                "supervisor_summary",
                format!(
                    "required: the supervisor's review of the month (at most {MAX_SUMMARY} characters)"
                ),
            ));
        }
        if self.state == MonthlyState::Submitted {
            return Err(Refusal::Precondition("already submitted".into()));
        }
        self.state = MonthlyState::Submitted;
        self.supervisor_summary = summary.to_owned();
        self.supervisor_id = supervisor_id.to_owned();
        self.submitted_at = Some(now);
        Ok(())
    }
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
        assert!(
            check_urgent_report(
                Some(UrgentTrigger::CompetitorPolicyChange),
                "competitor halves prices in Xiamen"
            )
            .is_ok()
        );
        let missing = check_urgent_report(None, " ").unwrap_err();
        let fields: Vec<_> = missing.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["urgent_report.trigger", "urgent_report.description"]
        );
    }

    fn graded(grade: Option<Grade>) -> Customer {
        let fields = crate::domain::CustomerFields {
            kind: Some(crate::domain::Kind::Enterprise),
            display_name: "Fuzhou Widgets".into(),
            phone: String::new(),
            email: String::new(),
            id_number: String::new(),
            registration_number: String::new(),
            contacts: vec![],
            addresses: vec![],
            industry: String::new(),
            needs: String::new(),
            contract: None,
            government_level: None,
            region: String::new(),
            team_id: "t1".into(),
        };
        let mut c = Customer::new("c1".into(), fields, Utc::now());
        c.grade = grade;
        c
    }

    #[test]
    fn cr6_agents_list_their_own_reports_unless_they_name_a_customer_they_see() {
        let agent = crate::domain::access::Viewer {
            subject: "a-1".into(),
            restricted_to_own: true,
            team: "t1".into(),
        };
        assert_eq!(
            visitor_filter(&agent, false, None).unwrap().as_deref(),
            Some("a-1")
        );
        assert_eq!(
            visitor_filter(&agent, false, Some("a-1".into()))
                .unwrap()
                .as_deref(),
            Some("a-1")
        );
        assert!(matches!(
            visitor_filter(&agent, false, Some("a-2".into())),
            Err(Refusal::NotAllowed(_))
        ));
        assert_eq!(visitor_filter(&agent, true, None).unwrap(), None);
        let supervisor = crate::domain::access::Viewer::everyone();
        assert_eq!(
            visitor_filter(&supervisor, false, Some("a-2".into()))
                .unwrap()
                .as_deref(),
            Some("a-2")
        );
    }

    #[test]
    fn cr5_overdue_after_the_interval_since_the_last_visit_or_registration() {
        let mut a = graded(Some(Grade::A));
        let now = a.created_at + Duration::days(100);
        assert!(overdue(&a, Some(now - Duration::days(29)), 30, now).is_none());
        let late = overdue(&a, Some(now - Duration::days(31)), 30, now).unwrap();
        assert_eq!(late.days_overdue, 1);
        assert_eq!(late.grade, Grade::A);
        let never = overdue(&a, None, 30, now).unwrap();
        assert_eq!(never.days_overdue, 70, "counted from registration");
        a.grade = None;
        assert!(overdue(&a, None, 30, now).is_none(), "ungraded");
    }

    #[test]
    fn cr7_local_months_and_a_report_submitted_once() {
        let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
        let (start, end) = month_bounds("2026-12", shanghai).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        for bad in ["2026-13", "2026-1", "26-11", ""] {
            assert!(month_bounds(bad, shanghai).is_none(), "{bad}");
        }
        let now = Utc::now();
        let visit = |id: &str, customer: &str| FiledVisitReport {
            id: id.into(),
            visitor_id: "v".into(),
            created_at: now,
            report: VisitReport {
                customer_id: customer.into(),
                ..report()
            },
        };
        let visits = [visit("v1", "c1"), visit("v2", "c1"), visit("v3", "c2")];
        let mut draft =
            MonthlyReport::compile(None, || "m1".into(), "t1", "2026-11", &visits, 4, now).unwrap();
        assert_eq!(
            (draft.visit_count, draft.customer_count, draft.overdue_count),
            (3, 2, 4)
        );
        let again = MonthlyReport::compile(
            Some(draft.clone()),
            || "m2".into(),
            "t1",
            "2026-11",
            &visits[..1],
            0,
            now,
        )
        .unwrap();
        assert_eq!(
            (again.id.as_str(), again.visit_count),
            ("m1", 1),
            "a draft is regenerated in place"
        );
        assert!(matches!(
            draft.submit("s1", " ", now),
            Err(Refusal::Invalid(_))
        ));
        draft
            .submit("s1", "Saturday deliveries wanted", now)
            .unwrap();
        assert_eq!(draft.state, MonthlyState::Submitted);
        assert!(matches!(
            draft.submit("s1", "again", now),
            Err(Refusal::Precondition(_))
        ));
        assert!(matches!(
            MonthlyReport::compile(
                Some(draft),
                || "m3".into(),
                "t1",
                "2026-11",
                &visits,
                0,
                now
            ),
            Err(Refusal::Precondition(_))
        ));
    }
}
