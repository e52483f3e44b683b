//! SK-2, SK-3: the KPIs, their versioned formulas, and one person's figures in one period
//! computed from facts. The computation is a pure function of the facts, the formulas and the
//! upheld disputes, so the same inputs always give the same figures, each naming its events.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use kefu_platform::coded;
use kefu_platform::error::{FieldViolation, Violations};
use serde::{Deserialize, Serialize};

use super::fact::{DELIVERY_CATEGORIES, Fact, FactKind};
use super::{Attendance, div_round, tenths_of_percent};

coded! {
    /// SK-2: the KPIs.
    pub enum Kpi {
        FirstResponseMet = "first_response_met",
        ResolutionTime = "resolution_time",
        FollowUpDone = "follow_up_done",
        VisitsOnPlan = "visits_on_plan",
        Csat = "csat",
        ComplaintsAgainst = "complaints_against",
        FirstContactResolution = "first_contact_resolution",
        Conduct = "conduct",
        Training = "training",
    }
}

impl Kpi {
    pub fn description(self) -> &'static str {
        match self {
            Kpi::FirstResponseMet => {
                "share of first responses to cases given within their deadline (complaint-desk)"
            }
            Kpi::ResolutionTime => {
                "mean business minutes from registration to resolution of the cases owned (complaint-desk)"
            }
            Kpi::FollowUpDone => {
                "share of resolutions followed up with the customer within the window (complaint-desk)"
            }
            Kpi::VisitsOnPlan => {
                "share of customer visits made by their due date (customer-registry)"
            }
            Kpi::Csat => "share of satisfied answers in surveys of the cases handled (survey)",
            Kpi::ComplaintsAgainst => {
                "complaints naming the person, and complaints naming nobody about an order they delivered (complaint-desk, order-tracking)"
            }
            Kpi::FirstContactResolution => {
                "share of resolutions reached without a second customer contact or a reopening (complaint-desk)"
            }
            Kpi::Conduct => "conduct breaches recorded (SK-5)",
            Kpi::Training => "mean evaluation score of training sessions (SK-6)",
        }
    }

    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Kpi::ResolutionTime | Kpi::ComplaintsAgainst | Kpi::Conduct
        )
    }

    /// Counts only take points away: a person with nothing else has no score.
    pub fn is_deduction(self) -> bool {
        matches!(self, Kpi::ComplaintsAgainst | Kpi::Conduct)
    }
}

/// SK-3: one version of a KPI's formula.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Formula {
    pub kpi: Kpi,
    pub version: i32,
    /// The first local day of the periods it applies to.
    pub effective_from: NaiveDate,
    /// 0 to 100; 0 shows the figure without scoring it.
    pub weight: i32,
    #[serde(default)]
    pub target_minutes: i64,
    #[serde(default)]
    pub limit_minutes: i64,
    #[serde(default)]
    pub deduction_points: i32,
    #[serde(default)]
    pub window_days: i32,
    #[serde(default)]
    pub count_deliveries: bool,
    pub created_at: DateTime<Utc>,
}

/// The parameters a formula takes, before it is numbered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormulaDraft {
    pub effective_from: String,
    pub weight: i32,
    pub target_minutes: i64,
    pub limit_minutes: i64,
    pub deduction_points: i32,
    pub window_days: i32,
    pub count_deliveries: bool,
}

impl FormulaDraft {
    /// The formula, with every parameter its KPI reads in range and none it ignores set;
    /// fields named under `prefix`.
    pub fn checked(
        &self,
        kpi: Kpi,
        version: i32,
        created_at: DateTime<Utc>,
        prefix: &str,
    ) -> Result<Formula, Vec<FieldViolation>> {
        let field = |name: &str| format!("{prefix}.{name}");
        let mut v = Violations::new();
        let effective_from = super::period::parse_day(&self.effective_from);
        v.check(
            effective_from.is_some(),
            field("effective_from_date"),
            "required: a day as YYYY-MM-DD",
        );
        v.check(
            (0..=100).contains(&self.weight),
            field("weight"),
            "from 0 to 100",
        );
        let reads_minutes = kpi == Kpi::ResolutionTime;
        let reads_deduction = kpi.is_deduction();
        let reads_window = kpi == Kpi::FollowUpDone;
        let reads_deliveries = kpi == Kpi::ComplaintsAgainst;
        if reads_minutes {
            v.check(
                self.target_minutes > 0,
                field("target_minutes"),
                "required: more than 0",
            );
            v.check(
                self.limit_minutes > self.target_minutes,
                field("limit_minutes"),
                "required: more than target_minutes",
            );
        } else {
            let ignored = format!("not read by {kpi}");
            v.check(self.target_minutes == 0, field("target_minutes"), &ignored);
            v.check(self.limit_minutes == 0, field("limit_minutes"), &ignored);
        }
        if reads_deduction {
            v.check(
                (1..=100).contains(&self.deduction_points),
                field("deduction_points"),
                "required: from 1 to 100",
            );
        } else {
            v.check(
                self.deduction_points == 0,
                field("deduction_points"),
                format!("not read by {kpi}"),
            );
        }
        if reads_window {
            v.check(
                (1..=90).contains(&self.window_days),
                field("window_days"),
                "required: from 1 to 90",
            );
        } else {
            v.check(
                self.window_days == 0,
                field("window_days"),
                format!("not read by {kpi}"),
            );
        }
        if !reads_deliveries {
            v.check(
                !self.count_deliveries,
                field("count_deliveries"),
                format!("not read by {kpi}"),
            );
        }
        v.finish()?;
        Ok(Formula {
            kpi,
            version,
            effective_from: effective_from.unwrap_or_default(),
            weight: self.weight,
            target_minutes: self.target_minutes,
            limit_minutes: self.limit_minutes,
            deduction_points: self.deduction_points,
            window_days: self.window_days,
            count_deliveries: self.count_deliveries,
            created_at,
        })
    }
}

/// SK-3: the formula a period uses: the latest whose day is not after the period's first.
pub fn formula_for(formulas: &[Formula], period_first_day: NaiveDate) -> Option<&Formula> {
    formulas
        .iter()
        .filter(|f| f.effective_from <= period_first_day)
        .max_by_key(|f| (f.effective_from, f.version))
}

/// One event behind a figure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub kpi: Kpi,
    pub event_id: String,
    pub source: String,
    pub event_type: String,
    pub subject_id: String,
    pub at: DateTime<Utc>,
    pub counted: bool,
    pub amount: i64,
}

/// One KPI's figure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    pub kpi: Kpi,
    pub formula_version: i32,
    pub weight: i32,
    /// In the KPI's unit; `None` without data.
    pub value: Option<i64>,
    pub numerator: i64,
    pub denominator: i64,
    /// 0 to 1000 tenths of a point; `None` without data.
    pub score: Option<i32>,
    pub source_count: i64,
}

/// Events taken out of a person's figures by upheld disputes: (KPI, event id).
pub type Excluded = HashSet<(Kpi, String)>;

/// What one person's figures are computed over.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub person: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Scope<'_> {
    fn holds(&self, f: &Fact, kind: FactKind) -> bool {
        f.kind == kind && f.staff_id == self.person && self.start <= f.at && f.at < self.end
    }
}

/// One counted thing (a response, a resolution, a complaint) and the facts it rests on.
struct Unit<'a> {
    counted: bool,
    amount: i64,
    facts: Vec<&'a Fact>,
}

impl<'a> Unit<'a> {
    fn of(fact: &'a Fact, counted: bool) -> Self {
        Unit {
            counted,
            amount: fact.amount,
            facts: vec![fact],
        }
    }
}

/// SK-2: a person's figures of every KPI over the period, with the events behind each;
/// `formulas` holds the formula each KPI uses in the period.
pub fn compute(
    scope: Scope<'_>,
    formulas: &BTreeMap<Kpi, Formula>,
    facts: &[Fact],
    excluded: &Excluded,
) -> Vec<(Figure, Vec<Source>)> {
    formulas
        .values()
        .map(|formula| {
            let units: Vec<Unit<'_>> = units(scope, formula, facts)
                .into_iter()
                .filter(|u| {
                    !u.facts
                        .iter()
                        .any(|f| excluded.contains(&(formula.kpi, f.event_id.clone())))
                })
                .collect();
            figure(formula, &units)
        })
        .collect()
}

fn units<'a>(scope: Scope<'_>, formula: &Formula, facts: &'a [Fact]) -> Vec<Unit<'a>> {
    let of_kind = |kind: FactKind| facts.iter().filter(move |f| scope.holds(f, kind));
    match formula.kpi {
        Kpi::FirstResponseMet => of_kind(FactKind::FirstResponse)
            .map(|f| Unit::of(f, f.flag))
            .collect(),
        Kpi::ResolutionTime => of_kind(FactKind::Resolution)
            .map(|f| Unit::of(f, true))
            .collect(),
        Kpi::FirstContactResolution => of_kind(FactKind::Resolution)
            .map(|f| Unit::of(f, f.flag))
            .collect(),
        Kpi::FollowUpDone => {
            let window = Duration::days(i64::from(formula.window_days));
            of_kind(FactKind::Resolution)
                .map(|resolution| {
                    let follow_up = facts
                        .iter()
                        .filter(|f| {
                            f.kind == FactKind::FollowUp
                                && f.flag
                                && f.subject_id == resolution.subject_id
                                && resolution.at <= f.at
                                && f.at <= resolution.at + window
                        })
                        .min_by_key(|f| (f.at, f.seq));
                    let mut unit = Unit::of(resolution, follow_up.is_some());
                    unit.facts.extend(follow_up);
                    unit
                })
                .collect()
        }
        Kpi::VisitsOnPlan => of_kind(FactKind::Visit)
            .map(|f| Unit::of(f, f.flag))
            .collect(),
        Kpi::Csat => of_kind(FactKind::Answer)
            .filter(|f| !f.ref_id.is_empty())
            .map(|f| Unit::of(f, f.amount >= 4))
            .collect(),
        Kpi::ComplaintsAgainst => complaints_against(scope, formula, facts),
        Kpi::Conduct => of_kind(FactKind::Breach)
            .map(|f| Unit::of(f, true))
            .collect(),
        Kpi::Training => of_kind(FactKind::Training)
            .filter_map(|f| match Attendance::from_code(&f.code)? {
                Attendance::Attended => Some(Unit::of(f, true)),
                Attendance::Absent => Some(Unit {
                    counted: false,
                    amount: 0,
                    facts: vec![f],
                }),
                Attendance::Excused => None,
            })
            .collect(),
    }
}

/// A complaint counts against the person its latest classification names, in the period it
/// was registered; one that names nobody and is about a delivery counts, when the formula
/// says so, against whoever last delivered its order.
fn complaints_against<'a>(scope: Scope<'_>, formula: &Formula, facts: &'a [Fact]) -> Vec<Unit<'a>> {
    let mut cases: BTreeMap<&str, Vec<&'a Fact>> = BTreeMap::new();
    for f in facts.iter().filter(|f| f.kind == FactKind::Complaint) {
        cases.entry(f.subject_id.as_str()).or_default().push(f);
    }
    let mut units = Vec::new();
    for mut events in cases.into_values() {
        events.sort_by_key(|f| (f.seq, f.at));
        let (Some(registered), Some(latest)) = (events.first(), events.last()) else {
            continue;
        };
        let in_period = scope.start <= registered.at && registered.at < scope.end;
        if !(latest.flag && in_period) {
            continue;
        }
        if latest.staff_id == scope.person {
            units.push(Unit {
                counted: true,
                amount: 0,
                facts: events,
            });
        } else if latest.staff_id.is_empty()
            && formula.count_deliveries
            && !latest.ref_id.is_empty()
            && DELIVERY_CATEGORIES.contains(&latest.code.as_str())
        {
            let delivered = facts
                .iter()
                .filter(|f| f.kind == FactKind::Delivery && f.subject_id == latest.ref_id)
                .max_by_key(|f| (f.at, f.seq));
            if let Some(delivery) = delivered.filter(|d| d.staff_id == scope.person) {
                let mut facts = events;
                facts.push(delivery);
                units.push(Unit {
                    counted: true,
                    amount: 0,
                    facts,
                });
            }
        }
    }
    units
}

fn figure(formula: &Formula, units: &[Unit<'_>]) -> (Figure, Vec<Source>) {
    let n = units.len() as i64;
    let counted = units.iter().filter(|u| u.counted).count() as i64;
    let total: i64 = units.iter().map(|u| u.amount).sum();
    let (value, numerator, denominator, score) = match formula.kpi {
        Kpi::FirstResponseMet
        | Kpi::FollowUpDone
        | Kpi::VisitsOnPlan
        | Kpi::Csat
        | Kpi::FirstContactResolution => {
            let share = tenths_of_percent(counted, n);
            (share, counted, n, share)
        }
        Kpi::ResolutionTime => {
            let minutes = div_round(total, n.saturating_mul(60));
            let score = minutes.map(|m| time_score(m, formula));
            (minutes, total, n, score)
        }
        Kpi::ComplaintsAgainst | Kpi::Conduct => {
            let taken = i64::from(formula.deduction_points) * 10 * counted;
            (Some(counted), counted, 0, Some((1000 - taken).max(0)))
        }
        Kpi::Training => {
            let mean = div_round(total.saturating_mul(10), n);
            (mean, total.saturating_mul(10), n, mean)
        }
    };
    let mut sources: Vec<Source> = units
        .iter()
        .flat_map(|u| {
            u.facts.iter().map(|f| Source {
                kpi: formula.kpi,
                event_id: f.event_id.clone(),
                source: f.source.clone(),
                event_type: f.event_type.clone(),
                subject_id: f.subject_id.clone(),
                at: f.at,
                counted: u.counted,
                amount: f.amount,
            })
        })
        .collect();
    sources.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    sources.dedup_by(|a, b| a.event_id == b.event_id);
    let figure = Figure {
        kpi: formula.kpi,
        formula_version: formula.version,
        weight: formula.weight,
        value,
        numerator,
        denominator,
        score: score.map(|s| i32::try_from(s.clamp(0, 1000)).unwrap_or(0)),
        source_count: sources.len() as i64,
    };
    (figure, sources)
}

/// Full points up to the target, none from the limit, a straight line between.
fn time_score(minutes: i64, formula: &Formula) -> i64 {
    let (target, limit) = (formula.target_minutes, formula.limit_minutes);
    if minutes <= target {
        1000
    } else if minutes >= limit {
        0
    } else {
        div_round(1000 * (limit - minutes), limit - target).unwrap_or(0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::fact::sample::{at, fact};

    pub(crate) fn formulas() -> BTreeMap<Kpi, Formula> {
        Kpi::ALL
            .iter()
            .map(|kpi| {
                let draft = FormulaDraft {
                    effective_from: "2000-01-01".into(),
                    weight: 10,
                    target_minutes: if *kpi == Kpi::ResolutionTime { 60 } else { 0 },
                    limit_minutes: if *kpi == Kpi::ResolutionTime { 260 } else { 0 },
                    deduction_points: if kpi.is_deduction() { 20 } else { 0 },
                    window_days: if *kpi == Kpi::FollowUpDone { 7 } else { 0 },
                    count_deliveries: *kpi == Kpi::ComplaintsAgainst,
                };
                (
                    *kpi,
                    draft
                        .checked(*kpi, 1, at("2026-01-01T00:00:00Z"), "f")
                        .unwrap(),
                )
            })
            .collect()
    }

    fn scope() -> Scope<'static> {
        Scope {
            person: "ann",
            start: at("2026-11-01T00:00:00Z"),
            end: at("2026-12-01T00:00:00Z"),
        }
    }

    fn of(figures: &[(Figure, Vec<Source>)], kpi: Kpi) -> (Figure, Vec<Source>) {
        figures.iter().find(|(f, _)| f.kpi == kpi).unwrap().clone()
    }

    fn with(mut f: Fact, change: impl FnOnce(&mut Fact)) -> Fact {
        change(&mut f);
        f
    }

    #[test]
    fn sk2_shares_count_the_persons_facts_in_the_period_only() {
        let facts = vec![
            with(
                fact("e1", FactKind::FirstResponse, "ann", "2026-11-02T00:00:00Z"),
                |f| f.flag = true,
            ),
            with(
                fact("e2", FactKind::FirstResponse, "ann", "2026-11-03T00:00:00Z"),
                |f| f.flag = true,
            ),
            fact("e3", FactKind::FirstResponse, "ann", "2026-11-04T00:00:00Z"),
            // Another person's, and the period after.
            with(
                fact("e4", FactKind::FirstResponse, "bob", "2026-11-04T00:00:00Z"),
                |f| f.flag = true,
            ),
            with(
                fact("e5", FactKind::FirstResponse, "ann", "2026-12-01T00:00:00Z"),
                |f| f.flag = true,
            ),
        ];
        let all = compute(scope(), &formulas(), &facts, &Excluded::new());
        let (met, sources) = of(&all, Kpi::FirstResponseMet);
        assert_eq!((met.numerator, met.denominator), (2, 3));
        assert_eq!(met.value, Some(667));
        assert_eq!(met.score, Some(667));
        let ids: Vec<_> = sources.iter().map(|s| s.event_id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        let (visits, sources) = of(&all, Kpi::VisitsOnPlan);
        assert_eq!((visits.value, visits.score, sources.len()), (None, None, 0));
    }

    #[test]
    fn sk2_resolution_time_is_the_mean_in_minutes_scored_between_target_and_limit() {
        let resolution = |id: &str, seconds: i64, first_contact: bool| {
            with(
                fact(id, FactKind::Resolution, "ann", "2026-11-05T00:00:00Z"),
                |f| {
                    f.subject_id = format!("case-{id}");
                    f.amount = seconds;
                    f.flag = first_contact;
                },
            )
        };
        // 100 and 200 minutes: a mean of 150, 110 short of the limit 260 on the 200 from target 60.
        let facts = vec![resolution("r1", 6000, true), resolution("r2", 12000, false)];
        let all = compute(scope(), &formulas(), &facts, &Excluded::new());
        let (time, _) = of(&all, Kpi::ResolutionTime);
        assert_eq!(
            (time.value, time.numerator, time.denominator),
            (Some(150), 18000, 2)
        );
        assert_eq!(time.score, Some(550));
        let (fcr, _) = of(&all, Kpi::FirstContactResolution);
        assert_eq!(fcr.value, Some(500));
        let fast = compute(
            scope(),
            &formulas(),
            &[resolution("r3", 3600, true)],
            &Excluded::new(),
        );
        assert_eq!(of(&fast, Kpi::ResolutionTime).0.score, Some(1000));
        let slow = compute(
            scope(),
            &formulas(),
            &[resolution("r4", 260 * 60, true)],
            &Excluded::new(),
        );
        assert_eq!(of(&slow, Kpi::ResolutionTime).0.score, Some(0));
    }

    #[test]
    fn sk2_a_follow_up_counts_within_the_window_after_its_resolution() {
        let resolved = |id: &str, case: &str, when: &str| {
            with(fact(id, FactKind::Resolution, "ann", when), |f| {
                f.subject_id = case.into()
            })
        };
        let follow_up = |id: &str, case: &str, when: &str| {
            with(fact(id, FactKind::FollowUp, "bob", when), |f| {
                f.subject_id = case.into();
                f.flag = true;
            })
        };
        let facts = vec![
            resolved("r1", "c1", "2026-11-02T00:00:00Z"),
            follow_up("f1", "c1", "2026-11-09T00:00:00Z"),
            resolved("r2", "c2", "2026-11-02T00:00:00Z"),
            // Eight days: too late.
            follow_up("f2", "c2", "2026-11-10T00:00:00Z"),
            // Followed up in the next month, still within the window.
            resolved("r3", "c3", "2026-11-29T00:00:00Z"),
            follow_up("f3", "c3", "2026-12-02T00:00:00Z"),
            // The customer could not be reached: no follow-up yet.
            resolved("r4", "c4", "2026-11-20T00:00:00Z"),
            with(follow_up("f4", "c4", "2026-11-21T00:00:00Z"), |f| {
                f.flag = false
            }),
        ];
        let all = compute(scope(), &formulas(), &facts, &Excluded::new());
        let (done, sources) = of(&all, Kpi::FollowUpDone);
        assert_eq!((done.numerator, done.denominator), (2, 4));
        let ids: Vec<_> = sources.iter().map(|s| s.event_id.as_str()).collect();
        assert_eq!(ids, ["f1", "f3", "r1", "r2", "r3", "r4"]);
    }

    #[test]
    fn sk2_csat_counts_answers_about_cases_and_four_or_five_satisfies() {
        let answer = |id: &str, csat: i64, case: &str| {
            with(
                fact(id, FactKind::Answer, "ann", "2026-11-05T00:00:00Z"),
                |f| {
                    f.amount = csat;
                    f.ref_id = case.into();
                },
            )
        };
        let facts = vec![
            answer("a1", 5, "c1"),
            answer("a2", 4, "c2"),
            answer("a3", 3, "c3"),
            // About an order, not a case the person handled.
            answer("a4", 1, ""),
        ];
        let all = compute(scope(), &formulas(), &facts, &Excluded::new());
        let (csat, _) = of(&all, Kpi::Csat);
        assert_eq!(
            (csat.numerator, csat.denominator, csat.value),
            (2, 3, Some(667))
        );
    }

    fn complaint(id: &str, case: &str, staff: &str, seq: i64, when: &str) -> Fact {
        with(fact(id, FactKind::Complaint, staff, when), |f| {
            f.subject_id = case.into();
            f.ref_id = format!("order-{case}");
            f.code = "damage".into();
            f.flag = true;
            f.seq = seq;
        })
    }

    #[test]
    fn sk2_a_complaint_counts_against_whom_its_latest_classification_names() {
        let facts = vec![
            complaint("c1-reg", "c1", "ann", 1, "2026-11-03T00:00:00Z"),
            // Named ann, then moved to bob: bob's.
            complaint("c2-reg", "c2", "ann", 2, "2026-11-03T00:00:00Z"),
            complaint("c2-re", "c2", "bob", 5, "2026-11-04T00:00:00Z"),
            // Named bob, then ann: ann's, in the month it was registered.
            complaint("c3-reg", "c3", "bob", 3, "2026-10-30T00:00:00Z"),
            complaint("c3-re", "c3", "ann", 6, "2026-11-04T00:00:00Z"),
            // A request, not a complaint.
            with(
                complaint("c4-reg", "c4", "ann", 4, "2026-11-03T00:00:00Z"),
                |f| f.flag = false,
            ),
        ];
        let all = compute(scope(), &formulas(), &facts, &Excluded::new());
        let (against, sources) = of(&all, Kpi::ComplaintsAgainst);
        assert_eq!(against.value, Some(1));
        assert_eq!(against.score, Some(800));
        let ids: Vec<_> = sources.iter().map(|s| s.event_id.as_str()).collect();
        assert_eq!(ids, ["c1-reg"]);
        let october = Scope {
            start: at("2026-10-01T00:00:00Z"),
            end: at("2026-11-01T00:00:00Z"),
            ..scope()
        };
        let all = compute(october, &formulas(), &facts, &Excluded::new());
        let (against, sources) = of(&all, Kpi::ComplaintsAgainst);
        assert_eq!(against.value, Some(1));
        assert_eq!(
            sources.len(),
            2,
            "the registration and the reclassification"
        );
    }

    #[test]
    fn sk2_a_delivery_complaint_naming_nobody_counts_against_the_last_deliverer() {
        let delivery = |id: &str, staff: &str, when: &str| {
            with(fact(id, FactKind::Delivery, staff, when), |f| {
                f.subject_id = "order-c1".into()
            })
        };
        let facts = vec![
            complaint("c1-reg", "c1", "", 1, "2026-11-05T00:00:00Z"),
            delivery("d1", "bob", "2026-11-01T00:00:00Z"),
            delivery("d2", "ann", "2026-11-02T00:00:00Z"),
            // A billing complaint naming nobody is nobody's.
            with(
                complaint("c2-reg", "c2", "", 2, "2026-11-05T00:00:00Z"),
                |f| {
                    f.code = "billing".into();
                    f.ref_id = "order-c1".into();
                },
            ),
        ];
        let all = compute(scope(), &formulas(), &facts, &Excluded::new());
        let (against, sources) = of(&all, Kpi::ComplaintsAgainst);
        assert_eq!(against.value, Some(1));
        let ids: Vec<_> = sources.iter().map(|s| s.event_id.as_str()).collect();
        assert_eq!(ids, ["c1-reg", "d2"]);
        let mut without = formulas();
        if let Some(f) = without.get_mut(&Kpi::ComplaintsAgainst) {
            f.count_deliveries = false;
        }
        let all = compute(scope(), &without, &facts, &Excluded::new());
        assert_eq!(of(&all, Kpi::ComplaintsAgainst).0.value, Some(0));
    }

    #[test]
    fn sk3_an_excluded_event_takes_its_whole_unit_out_of_that_kpi_only() {
        let facts = vec![
            complaint("c1-reg", "c1", "", 1, "2026-11-05T00:00:00Z"),
            with(
                fact("d1", FactKind::Delivery, "ann", "2026-11-01T00:00:00Z"),
                |f| {
                    f.subject_id = "order-c1".into();
                },
            ),
            complaint("c2-reg", "c2", "ann", 2, "2026-11-05T00:00:00Z"),
        ];
        let excluded: Excluded = [(Kpi::ComplaintsAgainst, "d1".to_owned())].into();
        let all = compute(scope(), &formulas(), &facts, &excluded);
        let (against, sources) = of(&all, Kpi::ComplaintsAgainst);
        assert_eq!(against.value, Some(1));
        assert_eq!(sources.len(), 1);
        let other: Excluded = [(Kpi::Csat, "c2-reg".to_owned())].into();
        let all = compute(scope(), &formulas(), &facts, &other);
        assert_eq!(of(&all, Kpi::ComplaintsAgainst).0.value, Some(2));
    }

    #[test]
    fn sk5_sk6_breaches_deduct_and_training_averages_with_absence_as_zero() {
        let training = |id: &str, attendance: Attendance, score: i64| {
            with(
                fact(id, FactKind::Training, "ann", "2026-11-10T00:00:00Z"),
                |f| {
                    f.code = attendance.code().into();
                    f.amount = score;
                },
            )
        };
        let facts = vec![
            fact("b1", FactKind::Breach, "ann", "2026-11-10T00:00:00Z"),
            fact("b2", FactKind::Breach, "ann", "2026-11-11T00:00:00Z"),
            training("t1", Attendance::Attended, 85),
            training("t2", Attendance::Absent, 0),
            training("t3", Attendance::Excused, 0),
        ];
        let all = compute(scope(), &formulas(), &facts, &Excluded::new());
        let (conduct, _) = of(&all, Kpi::Conduct);
        assert_eq!((conduct.value, conduct.score), (Some(2), Some(600)));
        let (train, sources) = of(&all, Kpi::Training);
        assert_eq!(
            (train.value, train.numerator, train.denominator),
            (Some(425), 850, 2)
        );
        assert_eq!(sources.len(), 2);
        let many: Vec<Fact> = (0..6)
            .map(|i| {
                fact(
                    &format!("b{i}"),
                    FactKind::Breach,
                    "ann",
                    "2026-11-10T00:00:00Z",
                )
            })
            .collect();
        let all = compute(scope(), &formulas(), &many, &Excluded::new());
        assert_eq!(of(&all, Kpi::Conduct).0.score, Some(0), "never below zero");
    }

    #[test]
    fn sk3_a_period_uses_the_latest_formula_dated_on_or_before_its_first_day() {
        let day = |d: &str| super::super::period::parse_day(d).unwrap();
        let version = |v: i32, from: &str| Formula {
            version: v,
            effective_from: day(from),
            ..formulas()[&Kpi::Csat].clone()
        };
        let all = [version(1, "2000-01-01"), version(2, "2026-12-01")];
        assert_eq!(formula_for(&all, day("2026-11-01")).unwrap().version, 1);
        assert_eq!(formula_for(&all, day("2026-12-01")).unwrap().version, 2);
        assert_eq!(formula_for(&all, day("2027-01-01")).unwrap().version, 2);
        assert!(formula_for(&all, day("1999-12-01")).is_none());
    }

    #[test]
    fn sk3_formulas_take_only_what_their_kpi_reads() {
        let now = at("2026-11-01T00:00:00Z");
        let draft = FormulaDraft {
            effective_from: "2026-12-01".into(),
            weight: 20,
            ..Default::default()
        };
        assert!(draft.checked(Kpi::Csat, 2, now, "formula").is_ok());
        let fields = |d: &FormulaDraft, kpi: Kpi| -> Vec<String> {
            d.checked(kpi, 2, now, "formula")
                .unwrap_err()
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        assert_eq!(
            fields(&draft, Kpi::ResolutionTime),
            ["formula.target_minutes", "formula.limit_minutes"]
        );
        assert_eq!(fields(&draft, Kpi::Conduct), ["formula.deduction_points"]);
        assert_eq!(fields(&draft, Kpi::FollowUpDone), ["formula.window_days"]);
        let wrong = FormulaDraft {
            effective_from: "12/01/2026".into(),
            weight: 101,
            window_days: 3,
            count_deliveries: true,
            ..Default::default()
        };
        assert_eq!(
            fields(&wrong, Kpi::Csat),
            [
                "formula.effective_from_date",
                "formula.weight",
                "formula.window_days",
                "formula.count_deliveries"
            ]
        );
    }
}
