//! order-tracking's section of the settings (`[order_tracking]`), its embedded defaults and
//! the checks its rules need.

use std::net::SocketAddr;

use kefu_platform::config::{
    ConfigError, SecretUrl, ServiceConfig, ServiceSettings, invalid, positive, utc_offset,
};
use serde::{Deserialize, Serialize};

use crate::domain::pricing::RateTable;

/// The section's embedded defaults.
pub const DEFAULTS: &str = include_str!("defaults.toml");
/// The section's name in files and `KEFU__ORDER_TRACKING__...` variables.
pub const SECTION: &str = "order_tracking";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderTrackingSettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
    pub delay_check_interval_ms: u64,
    /// Where order state is kept hot (OT-12).
    pub hot_store: HotStoreChoice,
    pub hot_ttl_s: u64,
    pub breaker_failures: u32,
    pub breaker_open_ms: u64,
    pub report_utc_offset_minutes: i32,
    pub pricing: RateTable,
}

/// Where order state is kept hot.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HotStoreChoice {
    /// Redis when `redis.url` is set; else an in-process store while order-tracking shares
    /// its process with other services (`serve --service all`); else none.
    Auto,
    /// Redis; start-up fails without `redis.url`.
    Redis,
    /// A map in this process: right only while one process serves orders.
    InProcess,
    /// Every read goes to the database.
    None,
}

/// Special-cargo kinds that carry a surcharge.
pub const SPECIAL_CARGO_KINDS: &[&str] = &[
    "fragile",
    "perishable",
    "dangerous",
    "valuables",
    "human_remains",
];
pub const SERVICE_LEVELS: &[&str] = &["economy", "standard", "express"];

impl ServiceConfig for OrderTrackingSettings {
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
                &key("delay_check_interval_ms"),
                self.delay_check_interval_ms,
            ),
            (&key("hot_ttl_s"), self.hot_ttl_s),
            (&key("breaker_failures"), u64::from(self.breaker_failures)),
            (&key("breaker_open_ms"), self.breaker_open_ms),
            (
                &key("pricing.volumetric_divisor"),
                self.pricing.volumetric_divisor,
            ),
        ])?;
        utc_offset(
            &key("report_utc_offset_minutes"),
            self.report_utc_offset_minutes,
        )?;
        let pricing = &self.pricing;
        if !(pricing.currency.len() == 3
            && pricing.currency.chars().all(|c| c.is_ascii_uppercase()))
        {
            return Err(invalid(
                &key("pricing.currency"),
                "three capital letters, e.g. CNY",
            ));
        }
        for level in SERVICE_LEVELS {
            if !pricing.service_level_percent.contains_key(*level) {
                return Err(invalid(
                    &key(&format!("pricing.service_level_percent.{level}")),
                    "required",
                ));
            }
        }
        if pricing.bands.is_empty() {
            return Err(invalid(&key("pricing.bands"), "at least one distance band"));
        }
        let mut previous = 0;
        for (i, band) in pricing.bands.iter().enumerate() {
            if band.max_km <= previous {
                return Err(invalid(
                    &key(&format!("pricing.bands[{i}].max_km")),
                    "bands ascend by max_km",
                ));
            }
            if band.base_fen < 0 || band.per_kg_fen < 0 {
                return Err(invalid(
                    &key(&format!("pricing.bands[{i}]")),
                    "amounts must not be negative",
                ));
            }
            previous = band.max_km;
        }
        for kind in SPECIAL_CARGO_KINDS {
            match pricing.surcharges.get(*kind) {
                Some(rule) if rule.fixed_fen >= 0 => {}
                Some(_) => {
                    return Err(invalid(
                        &key(&format!("pricing.surcharges.{kind}.fixed_fen")),
                        "must not be negative",
                    ));
                }
                None => {
                    return Err(invalid(
                        &key(&format!("pricing.surcharges.{kind}")),
                        "required",
                    ));
                }
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
            &[SectionSpec::of::<OrderTrackingSettings>(
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
            .section::<OrderTrackingSettings>(crate::SERVICE)
            .unwrap();
        assert_eq!(own.listen.port(), 50062);
        assert_eq!(own.hot_store, HotStoreChoice::Auto);
        assert_eq!(own.pricing.currency, "CNY");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "KEFU__ORDER_TRACKING__PRICING__CURRENCY",
                "rmb",
                "order_tracking.pricing.currency",
            ),
            (
                "KEFU__ORDER_TRACKING__PRICING__VOLUMETRIC_DIVISOR",
                "0",
                "order_tracking.pricing.volumetric_divisor",
            ),
            (
                "KEFU__ORDER_TRACKING__REPORT_UTC_OFFSET_MINUTES",
                "9999",
                "order_tracking.report_utc_offset_minutes",
            ),
            (
                "KEFU__ORDER_TRACKING__DELAY_CHECK_INTERVAL_MS",
                "0",
                "order_tracking.delay_check_interval_ms",
            ),
            ("KEFU__ORDER_TRACKING__HOT_STORE", "memcached", "hot_store"),
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
