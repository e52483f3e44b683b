//! Layered settings: embedded defaults, then a file, then `KEFU__SECTION__KEY` variables;
//! validated once at start-up with errors that name the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize, Serializer};

const DEFAULTS: &str = include_str!("defaults.toml");

/// A value that must never be printed: `Debug` and the `kefu config` dump show `<hidden>`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<hidden>")
    }
}

/// A connection URL (database, Redis): printed with its password hidden, everything else shown.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with any password replaced, safe for logs.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return url.clone();
        };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => match rest[..at].find(':') {
                Some(colon) => format!(
                    "{}://{}:<hidden>{}",
                    &url[..scheme_end],
                    &rest[..colon],
                    &rest[at..]
                ),
                None => url.clone(),
            },
            None => url.clone(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub redis: RedisSettings,
    pub security: SecuritySettings,
    pub events: EventSettings,
    pub database: DatabaseSettings,
    pub customer_registry: CustomerRegistrySettings,
    pub order_tracking: OrderTrackingSettings,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub request_timeout_ms: u64,
    pub max_concurrent_requests: usize,
    pub max_message_bytes: usize,
    pub shutdown_delay_ms: u64,
    pub drain_timeout_ms: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub hs256_secret: Secret,
    pub leeway_s: u64,
    pub dev_token_ttl_s: u64,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    pub log_filter: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: SecretUrl,
    pub command_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub pii_active_key: String,
    pub pii_keys: BTreeMap<String, Secret>,
    pub lookup_key: Secret,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    pub relay_interval_ms: u64,
    pub stream_poll_ms: u64,
    pub stream_batch: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
}

/// What every service section holds.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
}

/// customer-registry's section: the common service keys plus its rules' settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRegistrySettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
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

/// The factors of a grade's score (CR-3).
pub const GRADE_FACTORS: &[&str] = &["nature", "scale", "sales_volume", "growth_trend"];

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

impl CustomerRegistrySettings {
    /// The keys every service section has.
    pub fn service(&self) -> ServiceSettings {
        ServiceSettings {
            listen: self.listen,
            endpoint: self.endpoint.clone(),
            database_url: self.database_url.clone(),
            call_timeout_ms: self.call_timeout_ms,
        }
    }

    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.service().validate("customer_registry")?;
        if self.stale_after_days == 0 {
            return Err(invalid(
                "customer_registry.stale_after_days",
                "must be greater than 0",
            ));
        }
        let t = &self.tiers;
        if t.frequent_min_monthly_uses == 0 {
            return Err(invalid(
                "customer_registry.tiers.frequent_min_monthly_uses",
                "must be greater than 0",
            ));
        }
        if t.medium_min_annual_spend_cny <= 0 {
            return Err(invalid(
                "customer_registry.tiers.medium_min_annual_spend_cny",
                "must be greater than 0",
            ));
        }
        if t.large_min_annual_spend_cny <= t.medium_min_annual_spend_cny {
            return Err(invalid(
                "customer_registry.tiers.large_min_annual_spend_cny",
                "must be above medium_min_annual_spend_cny",
            ));
        }
        if !(-720..=840).contains(&t.month_utc_offset_minutes) {
            return Err(invalid(
                "customer_registry.tiers.month_utc_offset_minutes",
                "from -720 to 840",
            ));
        }
        Ok(())
    }
}

/// order-tracking's section: the common service keys plus its rules' settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderTrackingSettings {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub database_url: SecretUrl,
    pub call_timeout_ms: u64,
    pub delay_check_interval_ms: u64,
    pub hot_ttl_s: u64,
    pub breaker_failures: u32,
    pub breaker_open_ms: u64,
    pub report_utc_offset_minutes: i32,
    pub pricing: PricingSettings,
}

/// OT-3's rate table.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSettings {
    pub currency: String,
    pub volumetric_divisor: u64,
    /// "economy", "standard", "express" -> percent.
    pub service_level_percent: BTreeMap<String, u32>,
    pub bands: Vec<DistanceBand>,
    /// Special-cargo kind -> surcharge.
    pub surcharges: BTreeMap<String, SurchargeRule>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DistanceBand {
    pub name: String,
    pub max_km: u32,
    pub base_fen: i64,
    pub per_kg_fen: i64,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct SurchargeRule {
    pub percent: u32,
    pub fixed_fen: i64,
    pub declared_value_permille: u32,
}

/// Tier codes as customer-registry stores them.
pub const TIER_CODES: &[&str] = &[
    "frequent",
    "occasional",
    "large",
    "medium",
    "small",
    "government_a",
    "government_b",
    "government_c",
];
/// Special-cargo kinds that carry a surcharge.
pub const SPECIAL_CARGO_KINDS: &[&str] = &[
    "fragile",
    "perishable",
    "dangerous",
    "valuables",
    "human_remains",
];
pub const SERVICE_LEVELS: &[&str] = &["economy", "standard", "express"];

impl OrderTrackingSettings {
    /// The keys every service section has.
    pub fn service(&self) -> ServiceSettings {
        ServiceSettings {
            listen: self.listen,
            endpoint: self.endpoint.clone(),
            database_url: self.database_url.clone(),
            call_timeout_ms: self.call_timeout_ms,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.service().validate("order_tracking")?;
        for (key, value) in [
            (
                "order_tracking.delay_check_interval_ms",
                self.delay_check_interval_ms,
            ),
            ("order_tracking.hot_ttl_s", self.hot_ttl_s),
            (
                "order_tracking.breaker_failures",
                u64::from(self.breaker_failures),
            ),
            ("order_tracking.breaker_open_ms", self.breaker_open_ms),
            (
                "order_tracking.pricing.volumetric_divisor",
                self.pricing.volumetric_divisor,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if !(-720..=840).contains(&self.report_utc_offset_minutes) {
            return Err(invalid(
                "order_tracking.report_utc_offset_minutes",
                "from -720 to 840",
            ));
        }
        let pricing = &self.pricing;
        if !(pricing.currency.len() == 3
            && pricing.currency.chars().all(|c| c.is_ascii_uppercase()))
        {
            return Err(invalid(
                "order_tracking.pricing.currency",
                "three capital letters, e.g. CNY",
            ));
        }
        for level in SERVICE_LEVELS {
            if !pricing.service_level_percent.contains_key(*level) {
                return Err(invalid(
                    &format!("order_tracking.pricing.service_level_percent.{level}"),
                    "required",
                ));
            }
        }
        if pricing.bands.is_empty() {
            return Err(invalid(
                "order_tracking.pricing.bands",
                "at least one distance band",
            ));
        }
        let mut previous = 0;
        for (i, band) in pricing.bands.iter().enumerate() {
            if band.max_km <= previous {
                return Err(invalid(
                    &format!("order_tracking.pricing.bands[{i}].max_km"),
                    "bands ascend by max_km",
                ));
            }
            if band.base_fen < 0 || band.per_kg_fen < 0 {
                return Err(invalid(
                    &format!("order_tracking.pricing.bands[{i}]"),
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
                        &format!("order_tracking.pricing.surcharges.{kind}.fixed_fen"),
                        "must not be negative",
                    ));
                }
                None => {
                    return Err(invalid(
                        &format!("order_tracking.pricing.surcharges.{kind}"),
                        "required",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Why the settings were refused; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

impl Settings {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, None)
    }

    /// As [`Settings::load`], with the environment given as a map (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let environment = config::Environment::with_prefix("KEFU")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(env);
        let mut settings: Settings = builder.add_source(environment).build()?.try_deserialize()?;
        // Sources only add and replace keys; an empty value is how one takes a key id away
        // (the embedded development key, or a key retired after a rotation).
        settings
            .security
            .pii_keys
            .retain(|_, key| !key.expose().trim().is_empty());
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot: ranges, key material, URL schemes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            (
                "server.max_concurrent_requests",
                self.server.max_concurrent_requests as u64,
            ),
            (
                "server.max_message_bytes",
                self.server.max_message_bytes as u64,
            ),
            ("auth.dev_token_ttl_s", self.auth.dev_token_ttl_s),
            ("redis.command_timeout_ms", self.redis.command_timeout_ms),
            ("redis.connect_timeout_ms", self.redis.connect_timeout_ms),
            ("events.relay_interval_ms", self.events.relay_interval_ms),
            ("events.stream_poll_ms", self.events.stream_poll_ms),
            ("events.stream_batch", self.events.stream_batch),
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
            ),
            (
                "database.acquire_timeout_ms",
                self.database.acquire_timeout_ms,
            ),
            (
                "customer_registry.call_timeout_ms",
                self.customer_registry.call_timeout_ms,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if self.auth.hs256_secret.expose().len() < 32 {
            return Err(invalid("auth.hs256_secret", "must be at least 32 bytes"));
        }
        for (key, value) in [
            ("auth.issuer", &self.auth.issuer),
            ("auth.audience", &self.auth.audience),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(key, "must not be empty"));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_filter).is_err() {
            return Err(invalid(
                "telemetry.log_filter",
                "is not a valid tracing filter",
            ));
        }
        let url = self.redis.url.expose();
        if !(url.is_empty() || url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(invalid(
                "redis.url",
                "must be empty or start with redis:// or rediss://",
            ));
        }
        if !self
            .security
            .pii_keys
            .contains_key(&self.security.pii_active_key)
        {
            return Err(invalid(
                "security.pii_active_key",
                format!(
                    "names no key in security.pii_keys ({:?})",
                    self.security.pii_keys.keys().collect::<Vec<_>>()
                ),
            ));
        }
        for (id, key) in &self.security.pii_keys {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    &format!("security.pii_keys.{id}"),
                    "key ids are letters, digits, - and _",
                ));
            }
            decode_key(&format!("security.pii_keys.{id}"), key)?;
        }
        decode_key("security.lookup_key", &self.security.lookup_key)?;
        self.customer_registry.validate()?;
        self.order_tracking.validate()?;
        Ok(())
    }

    /// The effective settings as TOML, secrets hidden (`kefu config`).
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }

    /// Settings of the service named as `kefu serve --service` takes it.
    pub fn service(&self, name: &str) -> Option<ServiceSettings> {
        match name {
            "customer-registry" => Some(self.customer_registry.service()),
            "order-tracking" => Some(self.order_tracking.service()),
            _ => None,
        }
    }

    fn embedded_defaults() -> Option<Settings> {
        config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(config::Config::try_deserialize)
            .ok()
    }

    /// True while tokens are signed with the embedded, public development key: anyone can
    /// mint tokens then, so printing one at start-up gives nothing away.
    pub fn uses_development_signing_key(&self) -> bool {
        Self::embedded_defaults().is_some_and(|d| d.auth.hs256_secret == self.auth.hs256_secret)
    }

    /// True while any key (signing, encryption, lookup) is still an embedded development one.
    pub fn uses_development_keys(&self) -> bool {
        self.uses_development_signing_key()
            || Self::embedded_defaults().is_some_and(|d| {
                d.security.lookup_key == self.security.lookup_key
                    || self
                        .security
                        .pii_keys
                        .values()
                        .any(|k| d.security.pii_keys.values().any(|dk| dk == k))
            })
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.server.request_timeout_ms)
    }
}

impl ServiceSettings {
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return Err(invalid(
                &format!("{section}.endpoint"),
                "must start with http:// or https://",
            ));
        }
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                &format!("{section}.database_url"),
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        Ok(())
    }

    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
}

/// A 32-byte key given as base64.
pub(crate) fn decode_key(key: &str, value: &Secret) -> Result<[u8; 32], ConfigError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.expose().trim())
        .map_err(|_| invalid(key, "is not valid base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| invalid(key, format!("must decode to 32 bytes, not {}", bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.server.listen.port(), 50051);
        assert!(s.customer_registry.database_url.is_sqlite());
        assert!(s.redis.url.expose().is_empty());
    }

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kefu.toml");
        std::fs::write(
            &path,
            "[server]\nrequest_timeout_ms = 1234\nmax_concurrent_requests = 7\n[auth]\nissuer = \"from-file\"\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&path),
            env(&[
                ("KEFU__SERVER__REQUEST_TIMEOUT_MS", "999"),
                (
                    "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
                    "postgres://kefu:pw@db:5432/cr",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.request_timeout_ms, 999, "environment beats file");
        assert_eq!(s.server.max_concurrent_requests, 7, "file beats defaults");
        assert_eq!(s.auth.issuer, "from-file");
        assert_eq!(s.auth.audience, "kefu", "untouched keys keep their default");
        assert_eq!(
            s.customer_registry.database_url.expose(),
            "postgres://kefu:pw@db:5432/cr"
        );
    }

    /// What the Helm chart mounts: JSON, because Helm renders every number in values as a
    /// float and TOML would then hold `3000.0` where an integer belongs.
    #[test]
    fn a_json_file_is_read_like_a_toml_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kefu.json");
        std::fs::write(
            &path,
            r#"{"server": {"shutdown_delay_ms": 5000}, "customer_registry": {"listen": "0.0.0.0:50061", "tiers": {"frequent_min_monthly_uses": 4}}}"#,
        )
        .unwrap();
        let s = Settings::load_from(Some(&path), env(&[])).unwrap();
        assert_eq!(s.server.shutdown_delay_ms, 5000);
        assert_eq!(s.customer_registry.listen.to_string(), "0.0.0.0:50061");
        assert_eq!(s.customer_registry.tiers.frequent_min_monthly_uses, 4);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "KEFU__SERVER__REQUEST_TIMEOUT_MS",
                "soon",
                "request_timeout_ms",
            ),
            (
                "KEFU__SERVER__REQUEST_TIMEOUT_MS",
                "0",
                "server.request_timeout_ms",
            ),
            ("KEFU__SERVER__LISTEN", "not-an-address", "listen"),
            ("KEFU__AUTH__HS256_SECRET", "short", "auth.hs256_secret"),
            ("KEFU__REDIS__URL", "http://x", "redis.url"),
            (
                "KEFU__SECURITY__PII_ACTIVE_KEY",
                "nope",
                "security.pii_active_key",
            ),
            ("KEFU__SECURITY__LOOKUP_KEY", "AAAA", "security.lookup_key"),
            (
                "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
                "mysql://x",
                "customer_registry.database_url",
            ),
            ("KEFU__TELEMETRY__LOG_FORMAT", "xml", "log_format"),
            (
                "KEFU__TELEMETRY__LOG_FILTER",
                "info,[[[",
                "telemetry.log_filter",
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
        ];
        for (var, value, key) in cases {
            let err = Settings::load_from(None, env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(key),
                "{var}={value}: error {err:?} should name {key}"
            );
        }
    }

    #[test]
    fn development_keys_are_recognised() {
        assert!(
            Settings::load_from(None, env(&[]))
                .unwrap()
                .uses_development_keys()
        );
        let own = Settings::load_from(
            None,
            env(&[
                (
                    "KEFU__AUTH__HS256_SECRET",
                    "a-production-secret-of-enough-length-0001",
                ),
                (
                    "KEFU__SECURITY__LOOKUP_KEY",
                    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                ),
                (
                    "KEFU__SECURITY__PII_KEYS__DEV1",
                    "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
                ),
            ]),
        )
        .unwrap();
        assert!(!own.uses_development_keys());
        let half = Settings::load_from(
            None,
            env(&[(
                "KEFU__AUTH__HS256_SECRET",
                "a-production-secret-of-enough-length-0001",
            )]),
        )
        .unwrap();
        assert!(!half.uses_development_signing_key());
        assert!(
            half.uses_development_keys(),
            "the PII keys are still the development ones"
        );
    }

    #[test]
    fn an_empty_key_retires_its_id() {
        let production = Settings::load_from(
            None,
            env(&[
                (
                    "KEFU__AUTH__HS256_SECRET",
                    "a-production-secret-of-enough-length-0001",
                ),
                (
                    "KEFU__SECURITY__LOOKUP_KEY",
                    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                ),
                (
                    "KEFU__SECURITY__PII_KEYS__PROD1",
                    "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
                ),
                ("KEFU__SECURITY__PII_ACTIVE_KEY", "prod1"),
                ("KEFU__SECURITY__PII_KEYS__DEV1", ""),
            ]),
        )
        .unwrap();
        assert_eq!(
            production.security.pii_keys.keys().collect::<Vec<_>>(),
            ["prod1"]
        );
        assert!(!production.uses_development_keys());
        let nothing_left =
            Settings::load_from(None, env(&[("KEFU__SECURITY__PII_KEYS__DEV1", "")]));
        assert!(
            matches!(nothing_left, Err(ConfigError::Invalid { ref key, .. }) if key == "security.pii_active_key"),
            "{nothing_left:?}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Settings::load_from(None, env(&[("KEFU__SERVER__LISTN", "127.0.0.1:1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn printed_settings_hide_secrets() {
        let s = Settings::load_from(
            None,
            env(&[(
                "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
                "postgres://kefu:s3cr3t-pw@db/cr",
            )]),
        )
        .unwrap();
        let printed = s.to_redacted_toml();
        assert!(!printed.contains("s3cr3t-pw"), "{printed}");
        assert!(
            printed.contains("postgres://kefu:<hidden>@db/cr"),
            "{printed}"
        );
        assert!(!printed.contains(s.auth.hs256_secret.expose()), "{printed}");
        assert!(
            !printed.contains(s.security.lookup_key.expose()),
            "{printed}"
        );
        assert!(printed.contains("hs256_secret = \"<hidden>\""), "{printed}");
        assert_eq!(format!("{:?}", s.auth.hs256_secret), "<hidden>");
    }
}
