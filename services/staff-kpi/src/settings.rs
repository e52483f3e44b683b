//! staff-kpi's section of the settings (`[staff_kpi]`), its embedded defaults and the checks
//! its rules need.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use kefu_platform::config::{
    ConfigError, SecretUrl, ServiceConfig, ServiceSettings, invalid, positive, utc_offset,
};
use serde::{Deserialize, Serialize};

use crate::domain::assessment::GradeScale;
use crate::domain::kpi::{Formula, FormulaDraft, Kpi};

/// The section's embedded defaults.
pub const DEFAULTS: &str = include_str!("defaults.toml");
/// The section's name in files and `KEFU__STAFF_KPI__...` variables.
pub const SECTION: &str = "staff_kpi";
/// The day the first formulas apply from.
pub const FIRST_DAY: &str = "2000-01-01";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaffKpiSettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
    pub period_utc_offset_minutes: i32,
    pub close_interval_ms: u64,
    pub grades: Grades,
    /// Version 1 of each KPI's formula, by the KPI's code.
    pub formulas: BTreeMap<String, FormulaSettings>,
}

/// The lowest score of each grade, in points.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Grades {
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FormulaSettings {
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
}

impl StaffKpiSettings {
    pub fn grade_scale(&self) -> GradeScale {
        let tenths = |points: u32| i32::try_from(points * 10).unwrap_or(i32::MAX);
        GradeScale {
            a: tenths(self.grades.a),
            b: tenths(self.grades.b),
            c: tenths(self.grades.c),
        }
    }

    /// Version 1 of every KPI's formula, as the settings give them.
    pub fn first_formulas(&self, now: DateTime<Utc>) -> Result<Vec<Formula>, String> {
        Kpi::ALL
            .iter()
            .map(|kpi| {
                let own = self
                    .formulas
                    .get(kpi.code())
                    .ok_or_else(|| format!("formulas.{kpi}: missing"))?;
                let draft = FormulaDraft {
                    effective_from: FIRST_DAY.into(),
                    weight: own.weight,
                    target_minutes: own.target_minutes,
                    limit_minutes: own.limit_minutes,
                    deduction_points: own.deduction_points,
                    window_days: own.window_days,
                    count_deliveries: own.count_deliveries,
                };
                draft
                    .checked(*kpi, 1, now, &format!("formulas.{kpi}"))
                    .map_err(|violations| {
                        violations
                            .into_iter()
                            .map(|v| format!("{}: {}", v.field, v.description))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
            })
            .collect()
    }
}

impl ServiceConfig for StaffKpiSettings {
    fn common(&self) -> ServiceSettings {
        ServiceSettings {
            listen: self.listen,
            endpoint: self.endpoint.clone(),
            database_url: self.database_url.clone(),
            call_timeout_ms: self.call_timeout_ms,
        }
    }

    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{section}.{k}");
        positive(&[(&key("close_interval_ms"), self.close_interval_ms)])?;
        utc_offset(
            &key("period_utc_offset_minutes"),
            self.period_utc_offset_minutes,
        )?;
        let g = self.grades;
        if !(g.a <= 100 && g.a > g.b && g.b > g.c) {
            return Err(invalid(
                &key("grades"),
                "points with 100 >= a > b > c (below c is D)",
            ));
        }
        if let Some(unknown) = self.formulas.keys().find(|k| Kpi::from_code(k).is_none()) {
            return Err(invalid(
                &key(&format!("formulas.{unknown}")),
                format!(
                    "not a KPI; the KPIs: {}",
                    Kpi::ALL
                        .iter()
                        .map(|k| k.code())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        self.first_formulas(Utc::now()).map_err(|problem| {
            let (field, why) = problem.split_once(": ").unwrap_or(("formulas", &problem));
            invalid(&key(field), why)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use kefu_platform::config::{SectionSpec, Settings};

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(
            None,
            Some(env),
            &[SectionSpec::of::<StaffKpiSettings>(
                crate::SERVICE,
                SECTION,
                DEFAULTS,
            )],
        )
    }

    #[test]
    fn sk3_the_embedded_defaults_give_every_kpi_a_first_formula() {
        let settings = load(&[]).unwrap();
        let own = settings
            .section::<StaffKpiSettings>(crate::SERVICE)
            .unwrap();
        assert_eq!(own.listen.port(), 50065);
        let formulas = own.first_formulas(Utc::now()).unwrap();
        assert_eq!(formulas.len(), Kpi::ALL.len());
        assert!(formulas.iter().all(|f| f.version == 1));
        assert_eq!(own.grade_scale().a, 900);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("KEFU__STAFF_KPI__GRADES__B", "95", "staff_kpi.grades"),
            (
                "KEFU__STAFF_KPI__FORMULAS__CSAT__WEIGHT",
                "101",
                "staff_kpi.formulas.csat.weight",
            ),
            (
                "KEFU__STAFF_KPI__FORMULAS__RESOLUTION_TIME__LIMIT_MINUTES",
                "10",
                "staff_kpi.formulas.resolution_time.limit_minutes",
            ),
            (
                "KEFU__STAFF_KPI__FORMULAS__SPEED__WEIGHT",
                "10",
                "staff_kpi.formulas.speed",
            ),
            (
                "KEFU__STAFF_KPI__CLOSE_INTERVAL_MS",
                "0",
                "staff_kpi.close_interval_ms",
            ),
            (
                "KEFU__STAFF_KPI__PERIOD_UTC_OFFSET_MINUTES",
                "900",
                "staff_kpi.period_utc_offset_minutes",
            ),
        ];
        for (var, value, key) in cases {
            let err = load(&[(var, value)]).unwrap_err().to_string();
            assert!(
                err.contains(key),
                "{var}={value}: {err:?} should name {key}"
            );
        }
    }
}
