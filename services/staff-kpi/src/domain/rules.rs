//! SK-4: reward and penalty rules. A rule gives its amount when every condition holds over a
//! final assessment: a KPI's value, the score or the grade against a threshold. A figure
//! without data meets no condition. Rules are versioned; an outcome records the version that
//! decided it.

use chrono::{DateTime, Utc};
use kefu_platform::coded;
use kefu_platform::error::{FieldViolation, Violations};
use serde::{Deserialize, Serialize};

use super::assessment::Assessment;
use super::kpi::Kpi;
use super::{Grade, OutcomeKind, OutcomeState, Refusal, check_version, invalid};

const MAX_NAME: usize = 200;
const MAX_CONDITIONS: usize = 10;

coded! {
    /// What a condition compares.
    pub enum RuleSubject {
        Kpi = "kpi",
        Score = "score",
        Grade = "grade",
    }
}

coded! {
    pub enum Comparison {
        AtLeast = "at_least",
        AtMost = "at_most",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub subject: RuleSubject,
    pub kpi: Option<Kpi>,
    pub comparison: Comparison,
    pub threshold: i64,
    pub grade: Option<Grade>,
}

/// A condition as a request states it; `None` for an enum it left unset or did not know.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConditionDraft {
    pub subject: Option<RuleSubject>,
    pub kpi: Option<Kpi>,
    pub comparison: Option<Comparison>,
    pub threshold: i64,
    pub grade: Option<Grade>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardRule {
    pub id: String,
    pub display_name: String,
    pub kind: OutcomeKind,
    /// CNY fen.
    pub amount_fen: i64,
    pub conditions: Vec<Condition>,
    pub disabled: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule as a request states it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleDraft {
    pub display_name: String,
    pub kind: Option<OutcomeKind>,
    pub currency_code: String,
    pub amount_fen: i64,
    pub conditions: Vec<ConditionDraft>,
    pub disabled: bool,
}

/// The fields UpdateRewardRule may change.
pub const RULE_PATHS: [&str; 5] = ["display_name", "kind", "amount", "conditions", "disabled"];

impl RuleDraft {
    fn checked(&self) -> Result<(OutcomeKind, Vec<Condition>), Vec<FieldViolation>> {
        let mut v = Violations::new();
        let name = self.display_name.trim();
        v.check(
            !name.is_empty() && name.chars().count() <= MAX_NAME,
            "rule.display_name",
            format!("required: at most {MAX_NAME} characters"),
        );
        v.check(
            self.kind.is_some(),
            "rule.kind",
            "required: REWARD or PENALTY",
        );
        v.check(
            matches!(self.currency_code.as_str(), "CNY" | ""),
            "rule.amount.currency_code",
            "CNY",
        );
        v.check(
            self.amount_fen > 0,
            "rule.amount.minor_units",
            "required: more than 0",
        );
        v.check(
            (1..=MAX_CONDITIONS).contains(&self.conditions.len()),
            "rule.conditions",
            format!("required: 1 to {MAX_CONDITIONS}"),
        );
        let mut conditions = Vec::new();
        for (i, c) in self.conditions.iter().enumerate() {
            let field = |name: &str| format!("rule.conditions[{i}].{name}");
            v.check(c.subject.is_some(), field("subject"), "required");
            v.check(
                c.comparison.is_some(),
                field("comparison"),
                "required: AT_LEAST or AT_MOST",
            );
            match c.subject {
                Some(RuleSubject::Kpi) => {
                    v.check(
                        c.kpi.is_some(),
                        field("kpi"),
                        "required for a KPI condition",
                    );
                    v.check(
                        c.grade.is_none(),
                        field("grade"),
                        "only for a grade condition",
                    );
                }
                Some(RuleSubject::Score) => {
                    v.check(
                        (0..=1000).contains(&c.threshold),
                        field("threshold"),
                        "a score from 0 to 1000 tenths of a point",
                    );
                    v.check(c.kpi.is_none(), field("kpi"), "only for a KPI condition");
                    v.check(
                        c.grade.is_none(),
                        field("grade"),
                        "only for a grade condition",
                    );
                }
                Some(RuleSubject::Grade) => {
                    v.check(c.grade.is_some(), field("grade"), "required: A to D");
                    v.check(c.kpi.is_none(), field("kpi"), "only for a KPI condition");
                    v.check(
                        c.threshold == 0,
                        field("threshold"),
                        "a grade condition compares the grade",
                    );
                }
                None => {}
            }
            if let (Some(subject), Some(comparison)) = (c.subject, c.comparison) {
                conditions.push(Condition {
                    subject,
                    kpi: c.kpi,
                    comparison,
                    threshold: c.threshold,
                    grade: c.grade,
                });
            }
        }
        v.finish()?;
        Ok((self.kind.unwrap_or(OutcomeKind::Reward), conditions))
    }
}

impl RewardRule {
    pub fn create(
        id: String,
        draft: &RuleDraft,
        now: DateTime<Utc>,
    ) -> Result<RewardRule, Vec<FieldViolation>> {
        let (kind, conditions) = draft.checked()?;
        Ok(RewardRule {
            id,
            display_name: draft.display_name.trim().to_owned(),
            kind,
            amount_fen: draft.amount_fen,
            conditions,
            disabled: draft.disabled,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    /// The next version, with the fields in `paths` from `draft`.
    pub fn change(
        &mut self,
        expected_version: i64,
        paths: &[String],
        draft: &RuleDraft,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        check_version("rule", self.version, expected_version)?;
        let mut merged = RuleDraft {
            display_name: self.display_name.clone(),
            kind: Some(self.kind),
            currency_code: "CNY".into(),
            amount_fen: self.amount_fen,
            conditions: self
                .conditions
                .iter()
                .map(|c| ConditionDraft {
                    subject: Some(c.subject),
                    kpi: c.kpi,
                    comparison: Some(c.comparison),
                    threshold: c.threshold,
                    grade: c.grade,
                })
                .collect(),
            disabled: self.disabled,
        };
        for path in paths {
            match path.as_str() {
                "display_name" => merged.display_name.clone_from(&draft.display_name),
                "kind" => merged.kind = draft.kind,
                "amount" => {
                    merged.amount_fen = draft.amount_fen;
                    merged.currency_code.clone_from(&draft.currency_code);
                }
                "conditions" => merged.conditions.clone_from(&draft.conditions),
                "disabled" => merged.disabled = draft.disabled,
                other => {
                    return Err(invalid(
                        &format!("update_mask.paths[{other}]"),
                        format!("not updatable; updatable: {}", RULE_PATHS.join(", ")),
                    ));
                }
            }
        }
        let next = RewardRule::create(self.id.clone(), &merged, now)?;
        *self = RewardRule {
            version: self.version + 1,
            created_at: self.created_at,
            ..next
        };
        Ok(())
    }

    /// SK-4: does this rule give its outcome for `assessment`?
    pub fn holds(&self, assessment: &Assessment) -> bool {
        !self.disabled && self.conditions.iter().all(|c| c.holds(assessment))
    }
}

impl Condition {
    fn holds(&self, assessment: &Assessment) -> bool {
        let compare = |value: i64, threshold: i64| match self.comparison {
            Comparison::AtLeast => value >= threshold,
            Comparison::AtMost => value <= threshold,
        };
        match self.subject {
            RuleSubject::Kpi => assessment
                .figures
                .iter()
                .find(|f| Some(f.kpi) == self.kpi)
                .and_then(|f| f.value)
                .is_some_and(|value| compare(value, self.threshold)),
            RuleSubject::Score => assessment
                .score
                .is_some_and(|score| compare(i64::from(score), self.threshold)),
            // A is best: "at least B" is A or B.
            RuleSubject::Grade => match (assessment.grade, self.grade) {
                (Some(have), Some(bound)) => match self.comparison {
                    Comparison::AtLeast => have <= bound,
                    Comparison::AtMost => have >= bound,
                },
                _ => false,
            },
        }
    }
}

/// SK-4: a reward or penalty that followed from a final assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub staff_id: String,
    pub period_id: String,
    pub revision: i32,
    pub kind: OutcomeKind,
    pub amount_fen: i64,
    pub rule_id: String,
    pub rule_version: i64,
    pub grade: Option<Grade>,
    pub score: Option<i32>,
    pub state: OutcomeState,
    pub decided_at: DateTime<Utc>,
}

/// SK-4: the outcomes `rules` decide for `assessment`.
pub fn decide(
    rules: &[RewardRule],
    assessment: &Assessment,
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> String,
) -> Vec<Outcome> {
    rules
        .iter()
        .filter(|rule| rule.holds(assessment))
        .map(|rule| Outcome {
            id: new_id(),
            staff_id: assessment.staff_id.clone(),
            period_id: assessment.period_id.clone(),
            revision: assessment.revision,
            kind: rule.kind,
            amount_fen: rule.amount_fen,
            rule_id: rule.id.clone(),
            rule_version: rule.version,
            grade: assessment.grade,
            score: assessment.score,
            state: OutcomeState::Decided,
            decided_at: now,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Cause;
    use crate::domain::fact::sample::at;
    use crate::domain::kpi::Figure;

    fn kpi(kpi: Kpi, comparison: Comparison, threshold: i64) -> ConditionDraft {
        ConditionDraft {
            subject: Some(RuleSubject::Kpi),
            kpi: Some(kpi),
            comparison: Some(comparison),
            threshold,
            grade: None,
        }
    }

    fn grade(comparison: Comparison, grade: Grade) -> ConditionDraft {
        ConditionDraft {
            subject: Some(RuleSubject::Grade),
            comparison: Some(comparison),
            grade: Some(grade),
            ..Default::default()
        }
    }

    fn rule(kind: OutcomeKind, conditions: Vec<ConditionDraft>) -> RewardRule {
        RewardRule::create(
            "r1".into(),
            &RuleDraft {
                display_name: "rule".into(),
                kind: Some(kind),
                currency_code: "CNY".into(),
                amount_fen: 50_000,
                conditions,
                disabled: false,
            },
            at("2026-11-01T00:00:00Z"),
        )
        .unwrap()
    }

    fn assessed(csat: Option<i64>, first_response: Option<i64>, g: Option<Grade>) -> Assessment {
        let figure = |kpi: Kpi, value: Option<i64>| Figure {
            kpi,
            formula_version: 1,
            weight: 10,
            value,
            numerator: 0,
            denominator: 0,
            score: None,
            source_count: 0,
        };
        Assessment {
            staff_id: "ann".into(),
            period_id: "2026-11".into(),
            revision: 1,
            cause: Cause::Final,
            dispute_id: String::new(),
            figures: vec![
                figure(Kpi::Csat, csat),
                figure(Kpi::FirstResponseMet, first_response),
            ],
            score: Some(800),
            grade: g,
            team_id: "hotline".into(),
            computed_at: at("2026-12-01T00:00:00Z"),
        }
    }

    #[test]
    fn sk4_a_reward_needs_every_condition_and_holds_at_its_boundaries() {
        let reward = rule(
            OutcomeKind::Reward,
            vec![
                kpi(Kpi::Csat, Comparison::AtLeast, 900),
                kpi(Kpi::FirstResponseMet, Comparison::AtLeast, 950),
            ],
        );
        assert!(reward.holds(&assessed(Some(900), Some(950), None)));
        assert!(!reward.holds(&assessed(Some(899), Some(950), None)));
        assert!(!reward.holds(&assessed(Some(900), Some(949), None)));
        assert!(
            !reward.holds(&assessed(None, Some(1000), None)),
            "no data meets nothing"
        );
    }

    #[test]
    fn sk4_grade_conditions_read_a_as_best() {
        let penalty = rule(
            OutcomeKind::Penalty,
            vec![grade(Comparison::AtMost, Grade::D)],
        );
        assert!(penalty.holds(&assessed(None, None, Some(Grade::D))));
        assert!(!penalty.holds(&assessed(None, None, Some(Grade::C))));
        assert!(!penalty.holds(&assessed(None, None, None)));
        let good = rule(
            OutcomeKind::Reward,
            vec![grade(Comparison::AtLeast, Grade::B)],
        );
        assert!(good.holds(&assessed(None, None, Some(Grade::A))));
        assert!(good.holds(&assessed(None, None, Some(Grade::B))));
        assert!(!good.holds(&assessed(None, None, Some(Grade::C))));
    }

    #[test]
    fn sk4_outcomes_record_the_rule_version_and_disabled_rules_decide_nothing() {
        let mut reward = rule(
            OutcomeKind::Reward,
            vec![grade(Comparison::AtLeast, Grade::B)],
        );
        let a = assessed(None, None, Some(Grade::A));
        let mut n = 0;
        let decided = decide(std::slice::from_ref(&reward), &a, a.computed_at, || {
            n += 1;
            format!("o{n}")
        });
        assert_eq!(decided.len(), 1);
        assert_eq!(
            (decided[0].rule_version, decided[0].amount_fen),
            (1, 50_000)
        );
        let paths = vec!["disabled".to_owned()];
        let off = RuleDraft {
            disabled: true,
            ..Default::default()
        };
        reward.change(1, &paths, &off, a.computed_at).unwrap();
        assert_eq!(reward.version, 2);
        assert!(decide(&[reward], &a, a.computed_at, || "x".into()).is_empty());
    }

    #[test]
    fn sk4_rules_state_what_they_compare() {
        let draft = RuleDraft {
            display_name: String::new(),
            kind: None,
            currency_code: "USD".into(),
            amount_fen: 0,
            conditions: vec![
                ConditionDraft {
                    subject: Some(RuleSubject::Kpi),
                    comparison: None,
                    ..Default::default()
                },
                ConditionDraft {
                    subject: Some(RuleSubject::Score),
                    comparison: Some(Comparison::AtLeast),
                    threshold: 1001,
                    ..Default::default()
                },
                ConditionDraft {
                    subject: Some(RuleSubject::Grade),
                    comparison: Some(Comparison::AtLeast),
                    ..Default::default()
                },
            ],
            disabled: false,
        };
        let fields: Vec<_> = RewardRule::create("r".into(), &draft, at("2026-11-01T00:00:00Z"))
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "rule.display_name",
                "rule.kind",
                "rule.amount.currency_code",
                "rule.amount.minor_units",
                "rule.conditions[0].comparison",
                "rule.conditions[0].kpi",
                "rule.conditions[1].threshold",
                "rule.conditions[2].grade",
            ]
        );
    }
}
