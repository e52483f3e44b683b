//! complaint-desk's section of the settings (`[complaint_desk]`), its embedded defaults and
//! the checks its rules need.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use kefu_platform::config::{
    ConfigError, SecretUrl, ServiceConfig, ServiceSettings, invalid, positive,
};
use kefu_platform::time::Period;
use serde::{Deserialize, Serialize};

use crate::domain::calendar::CalendarSpec;
use crate::domain::policy::{Policy, PolicySpec};
use crate::domain::recurring::Recurrence;

/// The section's embedded defaults.
pub const DEFAULTS: &str = include_str!("defaults.toml");
/// The section's name in files and `KEFU__COMPLAINT_DESK__...` variables.
pub const SECTION: &str = "complaint_desk";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintDeskSettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
    pub case_number_prefix: String,
    pub clock_check_interval_ms: u64,
    #[serde(default)]
    pub departments: BTreeMap<String, Vec<String>>,
    pub calendar: CalendarSpec,
    pub deadlines: PolicySpec,
    pub recurring: RecurringSettings,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringSettings {
    pub threshold: u32,
    pub period: RecurrencePeriod,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecurrencePeriod {
    Week,
    Month,
}

impl ComplaintDeskSettings {
    /// The checked clock policy (validated at start, so this only fails on a bug).
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        Policy::new(&self.calendar, &self.deadlines).map_err(|problems| {
            let (key, problem) = problems.into_iter().next().unwrap_or_default();
            invalid(&format!("{SECTION}.{key}"), problem)
        })
    }

    pub fn recurrence(&self, policy: &Policy) -> Recurrence {
        Recurrence {
            threshold: self.recurring.threshold,
            period: match self.recurring.period {
                RecurrencePeriod::Week => Period::Week,
                RecurrencePeriod::Month => Period::Month,
            },
            offset: policy.calendar.offset(),
        }
    }
}

impl ServiceConfig for ComplaintDeskSettings {
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
        positive(&[
            (
                &key("clock_check_interval_ms"),
                self.clock_check_interval_ms,
            ),
            (
                &key("recurring.threshold"),
                u64::from(self.recurring.threshold),
            ),
        ])?;
        let prefix = &self.case_number_prefix;
        if prefix.is_empty()
            || prefix.len() > 8
            || !prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(invalid(
                &key("case_number_prefix"),
                "1 to 8 capital letters or digits, e.g. TS",
            ));
        }
        if let Err(problems) = Policy::new(&self.calendar, &self.deadlines) {
            let (first, problem) = problems.into_iter().next().unwrap_or_default();
            return Err(invalid(&key(&first), problem));
        }
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
            &[SectionSpec::of::<ComplaintDeskSettings>(
                crate::SERVICE,
                SECTION,
                DEFAULTS,
            )],
        )
    }

    #[test]
    fn the_embedded_defaults_are_valid() {
        let settings = load(&[]).unwrap();
        let own = settings
            .section::<ComplaintDeskSettings>(crate::SERVICE)
            .unwrap();
        assert_eq!(own.listen.port(), 50063);
        let policy = own.policy().unwrap();
        assert_eq!(policy.warning_percent, 80);
        assert_eq!(policy.follow_up_attempts, 3);
        assert_eq!(policy.ladder.len(), 2);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "KEFU__COMPLAINT_DESK__CASE_NUMBER_PREFIX",
                "ts-",
                "complaint_desk.case_number_prefix",
            ),
            (
                "KEFU__COMPLAINT_DESK__DEADLINES__WARNING_PERCENT",
                "120",
                "complaint_desk.deadlines.warning_percent",
            ),
            (
                "KEFU__COMPLAINT_DESK__CALENDAR__UTC_OFFSET_MINUTES",
                "9999",
                "complaint_desk.calendar.utc_offset_minutes",
            ),
            (
                "KEFU__COMPLAINT_DESK__RECURRING__THRESHOLD",
                "0",
                "complaint_desk.recurring.threshold",
            ),
            (
                "KEFU__COMPLAINT_DESK__RECURRING__PERIOD",
                "decade",
                "period",
            ),
        ];
        for (var, value, key) in cases {
            let err = load(&[(var, value)]).unwrap_err().to_string();
            assert!(
                err.contains(key),
                "{var}={value}: error {err:?} should name {key}"
            );
        }
    }
}
