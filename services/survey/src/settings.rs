//! survey's section of the settings (`[survey]`), its embedded defaults and the checks its
//! rules need.

use std::net::SocketAddr;

use kefu_platform::config::{
    ConfigError, SecretUrl, ServiceConfig, ServiceSettings, invalid, positive, utc_offset,
};
use serde::{Deserialize, Serialize};

use crate::domain::task::LowScores;

/// The section's embedded defaults.
pub const DEFAULTS: &str = include_str!("defaults.toml");
/// The section's name in files and `KEFU__SURVEY__...` variables.
pub const SECTION: &str = "survey";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SurveySettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
    pub quiet_period: Span,
    pub response_window: Span,
    pub follow_up_due: Span,
    pub schedule_interval_ms: u64,
    pub report_utc_offset_minutes: i32,
    pub low_scores: LowScores,
}

/// A length of time written as a number and a unit: "30d", "48h", "15m", "90s".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Span {
    pub seconds: i64,
}

impl Span {
    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::seconds(self.seconds)
    }
}

impl TryFrom<String> for Span {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not a length such as 30d, 48h, 15m or 90s");
        let unit = text.chars().last().ok_or_else(bad)?;
        let number: i64 = text[..text.len() - unit.len_utf8()]
            .parse()
            .map_err(|_| bad())?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        if number < 0 {
            return Err(bad());
        }
        Ok(Span {
            seconds: number.saturating_mul(scale),
        })
    }
}

impl From<Span> for String {
    fn from(span: Span) -> String {
        format!("{}s", span.seconds)
    }
}

impl ServiceConfig for SurveySettings {
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
            (&key("schedule_interval_ms"), self.schedule_interval_ms),
            (
                &key("response_window"),
                self.response_window.seconds.unsigned_abs(),
            ),
        ])?;
        utc_offset(
            &key("report_utc_offset_minutes"),
            self.report_utc_offset_minutes,
        )?;
        let low = &self.low_scores;
        for (name, value, range) in [
            ("csat_at_most", low.csat_at_most, 0..=5),
            ("nps_at_most", low.nps_at_most, -1..=10),
            ("effort_at_most", low.effort_at_most, 0..=5),
        ] {
            if !range.contains(&value) {
                return Err(invalid(
                    &key(&format!("low_scores.{name}")),
                    format!("from {} to {}", range.start(), range.end()),
                ));
            }
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
            &[SectionSpec::of::<SurveySettings>(
                crate::SERVICE,
                SECTION,
                DEFAULTS,
            )],
        )
    }

    #[test]
    fn sv3_the_embedded_defaults_are_the_rules_periods() {
        let settings = load(&[]).unwrap();
        let own = settings.section::<SurveySettings>(crate::SERVICE).unwrap();
        assert_eq!(own.listen.port(), 50064);
        assert_eq!(own.quiet_period.duration(), chrono::Duration::days(30));
        assert_eq!(own.response_window.duration(), chrono::Duration::days(14));
        assert_eq!(own.low_scores.nps_at_most, 6);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("KEFU__SURVEY__QUIET_PERIOD", "a month", "quiet_period"),
            (
                "KEFU__SURVEY__RESPONSE_WINDOW",
                "0d",
                "survey.response_window",
            ),
            (
                "KEFU__SURVEY__LOW_SCORES__NPS_AT_MOST",
                "11",
                "survey.low_scores.nps_at_most",
            ),
            (
                "KEFU__SURVEY__SCHEDULE_INTERVAL_MS",
                "0",
                "survey.schedule_interval_ms",
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
