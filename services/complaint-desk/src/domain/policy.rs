//! CD-3, CD-6, CD-8: the policy every case's clock runs under: the calendar, how severity
//! scales the tier's deadlines, when the warning fires, the escalation ladder, and how many
//! failed follow-ups close a case. Its fingerprint changes with any of them, which is how the
//! clock pass knows to recompute every open case.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::calendar::{Calendar, CalendarSpec};
use super::{EscalationTarget, Severity};

/// The policy as settings write it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Share of the tier's deadlines a case of each severity gets, in percent (fractions
    /// allowed: 0.1 makes an hour six minutes).
    pub severity_percent: BTreeMap<String, f64>,
    /// Share of a deadline's time after which the warning fires, in percent.
    pub warning_percent: u32,
    /// The escalation ladder, lowest step first.
    pub escalation: Vec<StepSpec>,
    /// Failed follow-up attempts after which a resolved case closes (CD-6).
    pub follow_up_attempts: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// "supervisor" or "manager".
    pub target: String,
    /// Business minutes after a deadline is breached.
    pub after_breach_minutes: u32,
}

/// One step of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub target: EscalationTarget,
    /// Business seconds after the breach.
    pub after_breach: i64,
}

/// The checked policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub calendar: Calendar,
    severity_percent: BTreeMap<Severity, f64>,
    pub warning_percent: u32,
    pub ladder: Vec<Step>,
    pub follow_up_attempts: u32,
    /// Changes whenever the calendar or the policy does.
    pub fingerprint: String,
}

impl Policy {
    /// The policy of `calendar` and `spec`, or each problem with the key it is under.
    pub fn new(calendar: &CalendarSpec, spec: &PolicySpec) -> Result<Self, Vec<(String, String)>> {
        let mut problems: Vec<(String, String)> = Vec::new();
        let checked = Calendar::new(calendar).map_err(|found| {
            found
                .into_iter()
                .map(|(key, problem)| (format!("calendar.{key}"), problem))
                .collect::<Vec<_>>()
        });
        let mut severity_percent = BTreeMap::new();
        for severity in Severity::ALL {
            let key = format!("deadlines.severity_percent.{severity}");
            match spec.severity_percent.get(severity.code()) {
                Some(percent) if percent.is_finite() && *percent > 0.0 && *percent <= 1000.0 => {
                    severity_percent.insert(*severity, *percent);
                }
                Some(_) => problems.push((key, "more than 0, at most 1000".into())),
                None => problems.push((key, "required".into())),
            }
        }
        for code in spec.severity_percent.keys() {
            if Severity::from_code(code).is_none() {
                problems.push((
                    format!("deadlines.severity_percent.{code}"),
                    "a severity: low, medium, high or critical".into(),
                ));
            }
        }
        if !(1..=100).contains(&spec.warning_percent) {
            problems.push(("deadlines.warning_percent".into(), "from 1 to 100".into()));
        }
        if spec.follow_up_attempts == 0 {
            problems.push((
                "deadlines.follow_up_attempts".into(),
                "must be greater than 0".into(),
            ));
        }
        let mut ladder = Vec::new();
        let mut previous = None;
        for (i, step) in spec.escalation.iter().enumerate() {
            let key = format!("deadlines.escalation[{i}]");
            let Some(target) = EscalationTarget::from_code(&step.target) else {
                problems.push((format!("{key}.target"), "supervisor or manager".into()));
                continue;
            };
            if previous.is_some_and(|p| step.after_breach_minutes < p) {
                problems.push((
                    format!("{key}.after_breach_minutes"),
                    "steps come in order: no earlier than the step before".into(),
                ));
            }
            previous = Some(step.after_breach_minutes);
            ladder.push(Step {
                target,
                after_breach: i64::from(step.after_breach_minutes) * 60,
            });
        }
        let calendar_checked = match checked {
            Ok(calendar) => Some(calendar),
            Err(found) => {
                problems.extend(found);
                None
            }
        };
        let Some(checked) = calendar_checked.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        let fingerprint = {
            let text = serde_json::to_string(&(calendar, spec)).unwrap_or_default();
            hex::encode(&Sha256::digest(text.as_bytes())[..8])
        };
        Ok(Self {
            calendar: checked,
            severity_percent,
            warning_percent: spec.warning_percent,
            ladder,
            follow_up_attempts: spec.follow_up_attempts,
            fingerprint,
        })
    }

    /// Business seconds a case of `severity` gets for a deadline the tier sets at `hours`.
    pub fn allowed(&self, hours: u32, severity: Severity) -> i64 {
        let percent = self
            .severity_percent
            .get(&severity)
            .copied()
            .unwrap_or(100.0);
        (f64::from(hours) * 36.0 * percent).round() as i64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn spec() -> PolicySpec {
        PolicySpec {
            severity_percent: [
                ("low", 150.0),
                ("medium", 100.0),
                ("high", 50.0),
                ("critical", 25.0),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
            warning_percent: 80,
            escalation: vec![
                StepSpec {
                    target: "supervisor".into(),
                    after_breach_minutes: 0,
                },
                StepSpec {
                    target: "manager".into(),
                    after_breach_minutes: 240,
                },
            ],
            follow_up_attempts: 3,
        }
    }

    pub(crate) fn calendar_spec() -> CalendarSpec {
        let day = vec!["09:00-12:00".to_owned(), "13:00-18:00".to_owned()];
        CalendarSpec {
            utc_offset_minutes: 480,
            working_hours: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|d| ((*d).to_owned(), day.clone()))
                .collect(),
            holidays: vec!["2027-01-01".into()],
            make_up_days: vec!["2026-12-27".into()],
        }
    }

    pub(crate) fn policy() -> Policy {
        Policy::new(&calendar_spec(), &spec()).unwrap()
    }

    #[test]
    fn cd3_severity_scales_the_tiers_deadline() {
        let policy = policy();
        assert_eq!(policy.allowed(4, Severity::Medium), 4 * 3600);
        assert_eq!(policy.allowed(4, Severity::Critical), 3600);
        assert_eq!(policy.allowed(4, Severity::Low), 6 * 3600);
        let mut quick = spec();
        quick.severity_percent.insert("critical".into(), 0.1);
        let quick = Policy::new(&calendar_spec(), &quick).unwrap();
        assert_eq!(
            quick.allowed(1, Severity::Critical),
            4,
            "an hour at 0.1%: 3.6 s"
        );
    }

    #[test]
    fn cd3_any_change_of_calendar_or_policy_changes_the_fingerprint() {
        let base = policy().fingerprint;
        let mut calendar = calendar_spec();
        calendar.holidays.push("2027-01-02".into());
        assert_ne!(Policy::new(&calendar, &spec()).unwrap().fingerprint, base);
        let mut changed = spec();
        changed.warning_percent = 75;
        assert_ne!(
            Policy::new(&calendar_spec(), &changed).unwrap().fingerprint,
            base
        );
        assert_eq!(
            policy().fingerprint,
            base,
            "the same policy, the same print"
        );
    }

    #[test]
    fn cd8_a_bad_ladder_or_share_names_its_key() {
        let mut bad = spec();
        bad.escalation[1].target = "ceo".into();
        bad.escalation[0].after_breach_minutes = 500;
        bad.warning_percent = 0;
        bad.severity_percent.remove("high");
        let problems = Policy::new(&calendar_spec(), &bad).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        for key in [
            "deadlines.escalation[1].target",
            "deadlines.warning_percent",
            "deadlines.severity_percent.high",
        ] {
            assert!(keys.contains(&key), "{key} in {problems:?}");
        }
    }
}
