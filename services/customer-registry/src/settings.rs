//! customer-registry's section of the settings (`[customer_registry]`), its embedded defaults
//! and the checks its rules need.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use kefu_platform::config::{
    ConfigError, SecretUrl, ServiceConfig, ServiceSettings, invalid, positive, utc_offset,
};
use serde::{Deserialize, Serialize};

use crate::domain::grade::GradeModel;
use crate::domain::tier::TierRules;

/// The section's embedded defaults.
pub const DEFAULTS: &str = include_str!("defaults.toml");
/// The section's name in files and `KEFU__CUSTOMER_REGISTRY__...` variables.
pub const SECTION: &str = "customer_registry";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRegistrySettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
    /// CR-10: a record unconfirmed this many days is stale.
    pub stale_after_days: u32,
    /// Tier code -> its service plan (CR-12).
    pub service_plans: BTreeMap<String, ServicePlanSettings>,
    pub grades: GradeSettings,
    /// Grade ("a".."d") -> days between visits (CR-5).
    pub visit_interval_days: BTreeMap<String, u32>,
    pub tiers: TierSettings,
}

/// CR-3's scoring model.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradeSettings {
    /// "nature", "scale", "sales_volume", "growth_trend" -> weight; they sum to 1.
    pub weights: BTreeMap<String, f64>,
    /// Lowest totals for A, B and C, descending.
    pub cutoffs: Vec<f64>,
    pub full_volume_cny: i64,
    pub recompute_interval_s: u64,
}

/// CR-12: what one tier gets.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServicePlanSettings {
    pub services: Vec<String>,
    pub promised_delivery_hours: u32,
    pub first_response_hours: u32,
    pub resolution_hours: u32,
}

/// CR-2's thresholds.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierSettings {
    pub frequent_min_monthly_uses: u32,
    pub medium_min_annual_spend_cny: i64,
    pub large_min_annual_spend_cny: i64,
    pub month_utc_offset_minutes: i32,
}

impl From<&GradeSettings> for GradeModel {
    fn from(settings: &GradeSettings) -> Self {
        Self {
            weights: settings.weights.clone(),
            cutoffs: settings.cutoffs.clone(),
            full_volume_cny: settings.full_volume_cny,
        }
    }
}

impl From<&TierSettings> for TierRules {
    fn from(settings: &TierSettings) -> Self {
        Self {
            frequent_min_monthly_uses: settings.frequent_min_monthly_uses,
            medium_min_annual_spend_fen: settings.medium_min_annual_spend_cny.saturating_mul(100),
            large_min_annual_spend_fen: settings.large_min_annual_spend_cny.saturating_mul(100),
        }
    }
}

impl ServiceConfig for CustomerRegistrySettings {
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
        let t = &self.tiers;
        positive(&[
            (&key("stale_after_days"), u64::from(self.stale_after_days)),
            (
                &key("tiers.frequent_min_monthly_uses"),
                u64::from(t.frequent_min_monthly_uses),
            ),
            (
                &key("grades.recompute_interval_s"),
                self.grades.recompute_interval_s,
            ),
        ])?;
        if t.medium_min_annual_spend_cny <= 0 {
            return Err(invalid(
                &key("tiers.medium_min_annual_spend_cny"),
                "must be greater than 0",
            ));
        }
        if t.large_min_annual_spend_cny <= t.medium_min_annual_spend_cny {
            return Err(invalid(
                &key("tiers.large_min_annual_spend_cny"),
                "must be above medium_min_annual_spend_cny",
            ));
        }
        utc_offset(
            &key("tiers.month_utc_offset_minutes"),
            t.month_utc_offset_minutes,
        )?;
        for tier in self.service_plans.keys() {
            if crate::domain::Tier::from_code(tier).is_none() {
                return Err(invalid(
                    &key(&format!("service_plans.{tier}")),
                    "not a tier: frequent, occasional, large, medium, small, government_a, government_b or government_c",
                ));
            }
        }
        for grade in self.visit_interval_days.keys() {
            if crate::domain::Grade::from_code(grade).is_none() {
                return Err(invalid(
                    &key(&format!("visit_interval_days.{grade}")),
                    "not a grade: a, b, c or d",
                ));
            }
        }
        Ok(())
    }
}

/// The section as embedded, for tests of the rules it configures.
#[cfg(test)]
pub(crate) fn embedded() -> CustomerRegistrySettings {
    #[derive(Deserialize)]
    struct File {
        customer_registry: CustomerRegistrySettings,
    }
    match toml::from_str::<File>(DEFAULTS) {
        Ok(file) => file.customer_registry,
        Err(e) => panic!("embedded defaults: {e}"),
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
            &[SectionSpec::of::<CustomerRegistrySettings>(
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
            .section::<CustomerRegistrySettings>(crate::SERVICE)
            .unwrap();
        assert_eq!(own.listen.port(), 50061);
        assert_eq!(own.tiers.frequent_min_monthly_uses, 3);
        assert_eq!(own.service_plans.len(), 8, "a plan for every tier");
    }

    /// CR-2, CR-3: the defaults are the seed's thresholds and the documented model.
    #[test]
    fn cr2_the_embedded_settings_are_the_seeds_thresholds() {
        let own = embedded();
        assert_eq!(TierRules::from(&own.tiers), TierRules::default());
        assert_eq!(
            GradeModel::from(&own.grades),
            crate::domain::grade::tests::settings()
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
                "mysql://x",
                "customer_registry.database_url",
            ),
            (
                "KEFU__CUSTOMER_REGISTRY__SERVICE_PLANS__PLATINUM__PROMISED_DELIVERY_HOURS",
                "3",
                "service_plans",
            ),
            (
                "KEFU__CUSTOMER_REGISTRY__TIERS__LARGE_MIN_ANNUAL_SPEND_CNY",
                "100",
                "customer_registry.tiers.large_min_annual_spend_cny",
            ),
            (
                "KEFU__CUSTOMER_REGISTRY__TIERS__FREQUENT_MIN_MONTHLY_USES",
                "0",
                "customer_registry.tiers.frequent_min_monthly_uses",
            ),
            (
                "KEFU__CUSTOMER_REGISTRY__TIERS__MONTH_UTC_OFFSET_MINUTES",
                "9999",
                "customer_registry.tiers.month_utc_offset_minutes",
            ),
            (
                "KEFU__CUSTOMER_REGISTRY__VISIT_INTERVAL_DAYS__E",
                "10",
                "customer_registry.visit_interval_days.e",
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
