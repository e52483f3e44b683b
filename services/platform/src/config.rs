//! Layered settings: embedded defaults (the platform's, and each service's own), then a file,
//! then `KEFU__SECTION__KEY` variables; validated once at start-up with errors that name the key.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde::de::DeserializeOwned;
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

/// The settings of one process: the platform's own sections, and one section per service of
/// the suite, whose type and defaults that service's crate owns.
#[derive(Clone, Debug)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub redis: RedisSettings,
    pub security: SecuritySettings,
    pub events: EventSettings,
    pub database: DatabaseSettings,
    pub housekeeping: HousekeepingSettings,
    pub tls: TlsSettings,
    /// Service name ("customer-registry") -> its section.
    services: BTreeMap<&'static str, Section>,
}

/// The platform's sections as the sources give them. Each section refuses unknown keys;
/// unknown sections are refused by [`Settings::load_from`], which knows the services' too.
#[derive(Deserialize)]
struct PlatformSections {
    server: ServerSettings,
    auth: AuthSettings,
    telemetry: TelemetrySettings,
    redis: RedisSettings,
    security: SecuritySettings,
    events: EventSettings,
    database: DatabaseSettings,
    housekeeping: HousekeepingSettings,
    tls: TlsSettings,
}

const PLATFORM_SECTIONS: [&str; 9] = [
    "server",
    "auth",
    "telemetry",
    "redis",
    "security",
    "events",
    "database",
    "housekeeping",
    "tls",
];

/// A service's own settings: one section of the settings, read into the service's type.
pub trait ServiceConfig:
    Clone + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The keys every service section has.
    fn common(&self) -> ServiceSettings;
    /// Checks what types alone cannot; errors name their keys under `section`.
    fn validate(&self, section: &str) -> Result<(), ConfigError>;
}

/// How one service's section is read: the service, its section's name in the sources
/// (`customer_registry`), its embedded defaults (TOML, the section with its header), and its
/// type.
#[derive(Clone, Copy)]
pub struct SectionSpec {
    pub service: &'static str,
    pub section: &'static str,
    pub defaults: &'static str,
    read: ReadSection,
}

/// Reads one section of the sources into its service's type.
type ReadSection = fn(&config::Config, &str) -> Result<Box<dyn SectionValue>, ConfigError>;

impl fmt::Debug for SectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SectionSpec")
            .field("service", &self.service)
            .field("section", &self.section)
            .finish_non_exhaustive()
    }
}

impl SectionSpec {
    /// The section `section` of `service`, read as `T` over the defaults in `defaults`.
    pub fn of<T: ServiceConfig>(
        service: &'static str,
        section: &'static str,
        defaults: &'static str,
    ) -> Self {
        Self {
            service,
            section,
            defaults,
            read: read_section::<T>,
        }
    }
}

fn read_section<T: ServiceConfig>(
    config: &config::Config,
    section: &str,
) -> Result<Box<dyn SectionValue>, ConfigError> {
    // Through a Value, not `Config::get::<T>`: that names only the section in an error, and
    // this names the key within it.
    let raw: config::Value = config.get(section)?;
    let value = T::deserialize(raw).map_err(|error| ConfigError::Section {
        section: section.to_owned(),
        error: Box::new(error),
    })?;
    value.common().validate(section)?;
    value.validate(section)?;
    Ok(Box::new(value))
}

/// A service section behind its type, so the platform can hold, copy and print sections of
/// types it does not know.
trait SectionValue: Any + fmt::Debug + Send + Sync {
    fn clone_box(&self) -> Box<dyn SectionValue>;
    fn common(&self) -> ServiceSettings;
    fn to_toml(&self) -> Result<toml::Value, toml::ser::Error>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: ServiceConfig> SectionValue for T {
    fn clone_box(&self) -> Box<dyn SectionValue> {
        Box::new(self.clone())
    }

    fn common(&self) -> ServiceSettings {
        ServiceConfig::common(self)
    }

    fn to_toml(&self) -> Result<toml::Value, toml::ser::Error> {
        toml::Value::try_from(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[derive(Debug)]
struct Section {
    section: &'static str,
    value: Box<dyn SectionValue>,
}

impl Clone for Section {
    fn clone(&self) -> Self {
        Self {
            section: self.section,
            value: self.value.clone_box(),
        }
    }
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
    /// A second, plaintext listener serving only gRPC health, for probes that cannot speak
    /// TLS (Kubernetes' gRPC probes); empty: none.
    pub health_listen: String,
}

/// gRPC over TLS: this process's certificate and whom it trusts. Empty files: plaintext.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain and key this server presents (and, under mutual TLS, its calls
    /// to other services too).
    pub cert_file: String,
    pub key_file: String,
    /// PEM of the CA whose certificates every caller must present; empty: callers need none.
    pub client_ca_file: String,
    /// PEM of the CA trusted when calling other services over https://; empty: the system's.
    pub ca_file: String,
}

impl TlsSettings {
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub hs256_secret: Secret,
    pub leeway_s: u64,
    pub dev_token_ttl_s: u64,
    /// A JWKS file of the company identity provider's public keys; empty: none.
    pub jwks_file: String,
    /// The `iss` of the provider's tokens; empty: `issuer`.
    pub jwks_issuer: String,
    /// How often the JWKS file is looked at again for rotated keys.
    pub jwks_refresh_s: u64,
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
    /// Where Redis is first reached (the server, one cluster node, or one sentinel), with the
    /// scheme, user and password Kefu logs in to the data nodes with.
    pub url: SecretUrl,
    pub mode: RedisMode,
    /// More places to reach it, `host:port`: further cluster nodes, or further sentinels.
    pub nodes: Vec<String>,
    /// The name the sentinels know the master by, in `sentinel` mode.
    pub sentinel_master: String,
    /// In `cluster` and `sentinel` mode, a hot write counts only once this many replicas
    /// have it (WAIT), so that a failover never promotes a replica that lacks it; 0 for a
    /// deployment without replicas.
    pub replica_acks: u32,
    pub command_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// PEM of the CA that signed Redis's certificate, for `rediss://`; empty: the system's.
    pub tls_ca_file: String,
}

/// How Redis is deployed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One server (or a proxy in front of several).
    #[default]
    Standalone,
    /// Redis Cluster: keys spread over masters by slot, each master with replicas.
    Cluster,
    /// A master and replicas watched by sentinels, which name the master after a failover.
    Sentinel,
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
    /// How often a replica that does not hold a consumer's lease tries to take it over.
    pub consumer_takeover_ms: u64,
    /// Events are kept in each stream this long; 0: forever.
    pub retention_days: u64,
}

impl EventSettings {
    /// `None` when events are kept forever.
    pub fn retention(&self) -> Option<chrono::Duration> {
        (self.retention_days > 0)
            .then(|| chrono::Duration::days(self.retention_days.min(MAX_RETENTION_DAYS) as i64))
    }
}

/// What each service's database keeps, and for how long.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeepingSettings {
    /// How often a replica looks for what to prune (one replica at a time does it).
    pub interval_s: u64,
    /// request_id records are kept this long: a retry later than this makes a new change.
    pub idempotency_retention_h: u64,
    /// Rows deleted per statement, so that pruning never holds a long transaction.
    pub batch: u64,
}

impl HousekeepingSettings {
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.interval_s)
    }

    pub fn idempotency_retention(&self) -> chrono::Duration {
        chrono::Duration::hours(self.idempotency_retention_h.min(MAX_RETENTION_DAYS * 24) as i64)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
}

/// What every service section holds.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Where `serve --service <this one>` listens.
    pub listen: SocketAddr,
    /// Where other services reach this one when it runs in another process.
    pub endpoint: String,
    pub database_url: SecretUrl,
    /// Deadline of other services' calls to this one.
    pub call_timeout_ms: u64,
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
        if self.call_timeout_ms == 0 {
            return Err(invalid(
                &format!("{section}.call_timeout_ms"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }

    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
}

/// Why the settings were refused; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration section `{section}`: {error}")]
    Section {
        section: String,
        error: Box<config::ConfigError>,
    },
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

/// The refusal of `key`, for a check the types could not make.
pub fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// Refuses a zero in any of `(key, value)`.
/// The longest retention taken: a century. More is refused by [`Settings::validate`]; the
/// accessors clamp to it as well, since a time past it would overflow date arithmetic.
const MAX_RETENTION_DAYS: u64 = 36_500;

pub fn positive(values: &[(&str, u64)]) -> Result<(), ConfigError> {
    match values.iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(invalid(key, "must be greater than 0")),
        None => Ok(()),
    }
}

/// Refuses a UTC offset no time zone has.
pub fn utc_offset(key: &str, minutes: i32) -> Result<(), ConfigError> {
    if (-720..=840).contains(&minutes) {
        Ok(())
    } else {
        Err(invalid(key, "from -720 to 840"))
    }
}

impl Settings {
    /// Defaults, then `file` if given, then the process environment; `services` are the
    /// sections besides the platform's own.
    pub fn load(file: Option<&Path>, services: &[SectionSpec]) -> Result<Self, ConfigError> {
        Self::load_from(file, None, services)
    }

    /// As [`Settings::load`], with the environment given as a map (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
        services: &[SectionSpec],
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        for spec in services {
            builder = builder.add_source(config::File::from_str(
                spec.defaults,
                config::FileFormat::Toml,
            ));
        }
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let environment = config::Environment::with_prefix("KEFU")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            // KEFU__REDIS__NODES=a:6379,b:6379, as a chart sets it.
            .list_separator(",")
            .with_list_parse_key("redis.nodes")
            .source(env);
        let config = builder.add_source(environment).build()?;
        let known: Vec<&str> = PLATFORM_SECTIONS
            .iter()
            .copied()
            .chain(services.iter().map(|s| s.section))
            .collect();
        let sections: BTreeMap<String, config::Value> = config.clone().try_deserialize()?;
        if let Some(unknown) = sections.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(invalid(
                unknown,
                format!("unknown section; the sections are {}", known.join(", ")),
            ));
        }
        let platform: PlatformSections = config.clone().try_deserialize()?;
        let mut settings = Settings {
            server: platform.server,
            auth: platform.auth,
            telemetry: platform.telemetry,
            redis: platform.redis,
            security: platform.security,
            events: platform.events,
            database: platform.database,
            housekeeping: platform.housekeeping,
            tls: platform.tls,
            services: BTreeMap::new(),
        };
        // Sources only add and replace keys; an empty value is how one takes a key id away
        // (the embedded development key, or a key retired after a rotation).
        settings
            .security
            .pii_keys
            .retain(|_, key| !key.expose().trim().is_empty());
        settings.validate()?;
        for spec in services {
            let value = (spec.read)(&config, spec.section)?;
            settings.services.insert(
                spec.service,
                Section {
                    section: spec.section,
                    value,
                },
            );
        }
        Ok(settings)
    }

    /// Checks what the platform sections' types alone cannot: ranges, key material, URL
    /// schemes. Each service's section was checked by its own rules when it was read.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive(&[
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
            ("auth.jwks_refresh_s", self.auth.jwks_refresh_s),
            ("housekeeping.interval_s", self.housekeeping.interval_s),
            (
                "housekeeping.idempotency_retention_h",
                self.housekeeping.idempotency_retention_h,
            ),
            ("housekeeping.batch", self.housekeeping.batch),
            ("redis.command_timeout_ms", self.redis.command_timeout_ms),
            ("redis.connect_timeout_ms", self.redis.connect_timeout_ms),
            ("events.relay_interval_ms", self.events.relay_interval_ms),
            ("events.stream_poll_ms", self.events.stream_poll_ms),
            ("events.stream_batch", self.events.stream_batch),
            (
                "events.consumer_takeover_ms",
                self.events.consumer_takeover_ms,
            ),
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
            ),
            (
                "database.acquire_timeout_ms",
                self.database.acquire_timeout_ms,
            ),
        ])?;
        if self.housekeeping.idempotency_retention_h > MAX_RETENTION_DAYS * 24 {
            return Err(invalid(
                "housekeeping.idempotency_retention_h",
                "at most a century (876000)",
            ));
        }
        if self.events.retention_days > MAX_RETENTION_DAYS {
            return Err(invalid(
                "events.retention_days",
                "at most a century (36500), or 0 to keep events forever",
            ));
        }
        if self.redis.mode == RedisMode::Sentinel && self.redis.sentinel_master.trim().is_empty() {
            return Err(invalid(
                "redis.sentinel_master",
                "sentinel mode needs the name the sentinels know the master by",
            ));
        }
        if let Some(bad) = self.redis.nodes.iter().find(|n| {
            !n.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        }) {
            return Err(invalid("redis.nodes", format!("{bad:?} is not host:port")));
        }
        if self.redis.mode == RedisMode::Standalone && !self.redis.nodes.is_empty() {
            return Err(invalid(
                "redis.nodes",
                "only for cluster or sentinel mode (redis.mode)",
            ));
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            return Err(invalid(
                "tls.key_file",
                "tls.cert_file and tls.key_file go together",
            ));
        }
        if !self.tls.enabled() && !self.tls.client_ca_file.is_empty() {
            return Err(invalid(
                "tls.client_ca_file",
                "needs tls.cert_file: callers can only present certificates over TLS",
            ));
        }
        if !self.server.health_listen.is_empty()
            && self.server.health_listen.parse::<SocketAddr>().is_err()
        {
            return Err(invalid(
                "server.health_listen",
                "an address such as 0.0.0.0:8081, or empty",
            ));
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
        Ok(())
    }

    /// The effective settings as TOML, secrets hidden (`kefu config`).
    pub fn to_redacted_toml(&self) -> String {
        let mut table = toml::Table::new();
        let platform = [
            ("server", toml::Value::try_from(&self.server)),
            ("auth", toml::Value::try_from(&self.auth)),
            ("telemetry", toml::Value::try_from(&self.telemetry)),
            ("redis", toml::Value::try_from(&self.redis)),
            ("security", toml::Value::try_from(&self.security)),
            ("events", toml::Value::try_from(&self.events)),
            ("database", toml::Value::try_from(&self.database)),
            ("housekeeping", toml::Value::try_from(&self.housekeeping)),
            ("tls", toml::Value::try_from(&self.tls)),
        ];
        let services = self
            .services
            .values()
            .map(|s| (s.section, s.value.to_toml()));
        for (name, value) in platform.into_iter().chain(services) {
            match value {
                Ok(value) => {
                    table.insert(name.to_owned(), value);
                }
                Err(e) => return format!("# cannot render [{name}]: {e}\n"),
            }
        }
        toml::to_string_pretty(&table)
            .unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }

    /// The keys every service section has, of the service named as `kefu serve --service`
    /// takes it; `None` for a service these settings were not read with.
    pub fn service(&self, name: &str) -> Option<ServiceSettings> {
        self.services.get(name).map(|s| s.value.common())
    }

    /// The section of `service`, as the type that service reads it into.
    pub fn section<T: ServiceConfig>(&self, service: &str) -> Option<&T> {
        self.services
            .get(service)
            .and_then(|s| s.value.as_any().downcast_ref())
    }

    /// As [`Settings::section`], to change (tests, and tools that derive settings).
    pub fn section_mut<T: ServiceConfig>(&mut self, service: &str) -> Option<&mut T> {
        self.services
            .get_mut(service)
            .and_then(|s| s.value.as_any_mut().downcast_mut())
    }

    /// The embedded development keys, to tell whether a configured key is one of them.
    fn embedded_keys() -> Option<(AuthSettings, SecuritySettings)> {
        #[derive(Deserialize)]
        struct Keys {
            auth: AuthSettings,
            security: SecuritySettings,
        }
        let keys: Keys = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(config::Config::try_deserialize)
            .ok()?;
        Some((keys.auth, keys.security))
    }

    /// True while tokens are signed with the embedded, public development key: anyone can
    /// mint tokens then, so printing one at start-up gives nothing away.
    pub fn uses_development_signing_key(&self) -> bool {
        Self::embedded_keys().is_some_and(|(auth, _)| auth.hs256_secret == self.auth.hs256_secret)
    }

    /// True while any key (signing, encryption, lookup) is still an embedded development one.
    pub fn uses_development_keys(&self) -> bool {
        self.uses_development_signing_key()
            || Self::embedded_keys().is_some_and(|(_, security)| {
                security.lookup_key == self.security.lookup_key
                    || self
                        .security
                        .pii_keys
                        .values()
                        .any(|k| security.pii_keys.values().any(|dk| dk == k))
            })
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.server.request_timeout_ms)
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

    /// A service of the tests' own: the platform knows no real one.
    #[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Widgets {
        listen: SocketAddr,
        endpoint: String,
        database_url: SecretUrl,
        call_timeout_ms: u64,
        max_widgets: u32,
        shapes: BTreeMap<String, u32>,
    }

    impl ServiceConfig for Widgets {
        fn common(&self) -> ServiceSettings {
            ServiceSettings {
                listen: self.listen,
                endpoint: self.endpoint.clone(),
                database_url: self.database_url.clone(),
                call_timeout_ms: self.call_timeout_ms,
            }
        }

        fn validate(&self, section: &str) -> Result<(), ConfigError> {
            positive(&[(
                &format!("{section}.max_widgets"),
                u64::from(self.max_widgets),
            )])
        }
    }

    const WIDGETS: &str = r#"
[widgets]
listen = "127.0.0.1:50099"
endpoint = "http://127.0.0.1:50099"
database_url = "sqlite://./data/widgets.db?mode=rwc"
call_timeout_ms = 2000
max_widgets = 3
shapes = { round = 1 }
"#;

    fn specs() -> [SectionSpec; 1] {
        [SectionSpec::of::<Widgets>(
            "widget-works",
            "widgets",
            WIDGETS,
        )]
    }

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(None, env(pairs), &specs())
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let s = load(&[]).unwrap();
        assert_eq!(s.server.listen.port(), 50051);
        assert!(s.redis.url.expose().is_empty());
        let widgets = s.section::<Widgets>("widget-works").unwrap();
        assert_eq!(widgets.max_widgets, 3);
        assert!(s.service("widget-works").unwrap().database_url.is_sqlite());
        assert!(s.service("nothing").is_none());
    }

    #[test]
    fn a_service_section_is_read_into_its_own_type_and_can_be_changed() {
        let mut s = load(&[("KEFU__WIDGETS__SHAPES__SQUARE", "4")]).unwrap();
        assert_eq!(
            s.section::<Widgets>("widget-works").unwrap().shapes["square"],
            4
        );
        s.section_mut::<Widgets>("widget-works")
            .unwrap()
            .max_widgets = 9;
        assert_eq!(
            s.clone()
                .section::<Widgets>("widget-works")
                .unwrap()
                .max_widgets,
            9
        );
    }

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kefu.toml");
        std::fs::write(
            &path,
            "[server]\nrequest_timeout_ms = 1234\nmax_concurrent_requests = 7\n[auth]\nissuer = \"from-file\"\n[widgets]\nmax_widgets = 5\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&path),
            env(&[
                ("KEFU__SERVER__REQUEST_TIMEOUT_MS", "999"),
                (
                    "KEFU__WIDGETS__DATABASE_URL",
                    "postgres://kefu:pw@db:5432/w",
                ),
            ]),
            &specs(),
        )
        .unwrap();
        assert_eq!(s.server.request_timeout_ms, 999, "environment beats file");
        assert_eq!(s.server.max_concurrent_requests, 7, "file beats defaults");
        assert_eq!(s.auth.issuer, "from-file");
        assert_eq!(s.auth.audience, "kefu", "untouched keys keep their default");
        assert_eq!(s.section::<Widgets>("widget-works").unwrap().max_widgets, 5);
        assert_eq!(
            s.service("widget-works").unwrap().database_url.expose(),
            "postgres://kefu:pw@db:5432/w"
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
            r#"{"server": {"shutdown_delay_ms": 5000}, "widgets": {"listen": "0.0.0.0:50099", "shapes": {"star": 4}}}"#,
        )
        .unwrap();
        let s = Settings::load_from(Some(&path), env(&[]), &specs()).unwrap();
        assert_eq!(s.server.shutdown_delay_ms, 5000);
        assert_eq!(
            s.service("widget-works").unwrap().listen.to_string(),
            "0.0.0.0:50099"
        );
        assert_eq!(
            s.section::<Widgets>("widget-works").unwrap().shapes["star"],
            4
        );
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
            (
                "KEFU__HOUSEKEEPING__IDEMPOTENCY_RETENTION_H",
                "99999999999999",
                "housekeeping.idempotency_retention_h",
            ),
            (
                "KEFU__EVENTS__RETENTION_DAYS",
                "99999999999",
                "events.retention_days",
            ),
            ("KEFU__TLS__CERT_FILE", "/etc/kefu/tls.crt", "tls.key_file"),
            ("KEFU__REDIS__URL", "http://x", "redis.url"),
            (
                "KEFU__SECURITY__PII_ACTIVE_KEY",
                "nope",
                "security.pii_active_key",
            ),
            ("KEFU__SECURITY__LOOKUP_KEY", "AAAA", "security.lookup_key"),
            ("KEFU__TELEMETRY__LOG_FORMAT", "xml", "log_format"),
            (
                "KEFU__TELEMETRY__LOG_FILTER",
                "info,[[[",
                "telemetry.log_filter",
            ),
            (
                "KEFU__EVENTS__CONSUMER_TAKEOVER_MS",
                "0",
                "events.consumer_takeover_ms",
            ),
            // A service's common keys are checked by the platform ...
            (
                "KEFU__WIDGETS__DATABASE_URL",
                "mysql://x",
                "widgets.database_url",
            ),
            ("KEFU__WIDGETS__ENDPOINT", "127.0.0.1:1", "widgets.endpoint"),
            (
                "KEFU__WIDGETS__CALL_TIMEOUT_MS",
                "0",
                "widgets.call_timeout_ms",
            ),
            // ... its own by its rules, and its types by serde, with the key's path.
            ("KEFU__WIDGETS__MAX_WIDGETS", "0", "widgets.max_widgets"),
            ("KEFU__WIDGETS__MAX_WIDGETS", "many", "max_widgets"),
            ("KEFU__WIDGETS__SHAPES__OVAL", "x", "oval"),
        ];
        for (var, value, key) in cases {
            let err = load(&[(var, value)]).unwrap_err().to_string();
            assert!(
                err.contains(key),
                "{var}={value}: error {err:?} should name {key}"
            );
        }
    }

    #[test]
    fn development_keys_are_recognised() {
        assert!(load(&[]).unwrap().uses_development_keys());
        let own = load(&[
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
        ])
        .unwrap();
        assert!(!own.uses_development_keys());
        let half = load(&[(
            "KEFU__AUTH__HS256_SECRET",
            "a-production-secret-of-enough-length-0001",
        )])
        .unwrap();
        assert!(!half.uses_development_signing_key());
        assert!(
            half.uses_development_keys(),
            "the PII keys are still the development ones"
        );
    }

    #[test]
    fn an_empty_key_retires_its_id() {
        let production = load(&[
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
        ])
        .unwrap();
        assert_eq!(
            production.security.pii_keys.keys().collect::<Vec<_>>(),
            ["prod1"]
        );
        assert!(!production.uses_development_keys());
        let nothing_left = load(&[("KEFU__SECURITY__PII_KEYS__DEV1", "")]);
        assert!(
            matches!(nothing_left, Err(ConfigError::Invalid { ref key, .. }) if key == "security.pii_active_key"),
            "{nothing_left:?}"
        );
    }

    // OT-12: the Redis that holds hot state, as the chart describes it.
    #[test]
    fn redis_topologies_are_read_from_the_environment_and_checked() {
        let s = load(&[
            ("KEFU__REDIS__URL", "rediss://kefu:pw@redis-0:6379"),
            ("KEFU__REDIS__MODE", "cluster"),
            ("KEFU__REDIS__NODES", "redis-1:6379,redis-2:6379"),
        ])
        .unwrap();
        assert_eq!(s.redis.mode, RedisMode::Cluster);
        assert_eq!(s.redis.nodes, ["redis-1:6379", "redis-2:6379"]);
        assert_eq!(s.redis.replica_acks, 1, "replicated writes by default");
        let one = load(&[
            ("KEFU__REDIS__MODE", "sentinel"),
            ("KEFU__REDIS__NODES", "sentinel-1:26379"),
            ("KEFU__REDIS__SENTINEL_MASTER", "kefu"),
        ])
        .unwrap();
        assert_eq!(one.redis.nodes, ["sentinel-1:26379"], "one is a list too");
        for (pairs, key) in [
            (
                &[("KEFU__REDIS__MODE", "sentinel")][..],
                "redis.sentinel_master",
            ),
            (
                &[
                    ("KEFU__REDIS__MODE", "cluster"),
                    ("KEFU__REDIS__NODES", "redis-1"),
                ][..],
                "redis.nodes",
            ),
            (&[("KEFU__REDIS__NODES", "redis-1:6379")][..], "redis.nodes"),
            (&[("KEFU__REDIS__MODE", "ring")][..], "ring"),
        ] {
            let err = load(pairs).unwrap_err().to_string();
            assert!(err.contains(key), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_sections_are_refused() {
        let err = load(&[("KEFU__SERVER__LISTN", "127.0.0.1:1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listn"), "{err}");
        let err = load(&[("KEFU__WIDGETS__MAX_WIDGTES", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_widgtes"), "{err}");
        // A section no service of this build owns: a typo, or a service not built yet.
        let err = load(&[("KEFU__GADGETS__LISTEN", "127.0.0.1:1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`gadgets`") && err.contains("widgets"),
            "{err}"
        );
    }

    #[test]
    fn printed_settings_hide_secrets() {
        let s = load(&[(
            "KEFU__WIDGETS__DATABASE_URL",
            "postgres://kefu:s3cr3t-pw@db/w",
        )])
        .unwrap();
        let printed = s.to_redacted_toml();
        assert!(!printed.contains("s3cr3t-pw"), "{printed}");
        assert!(
            printed.contains("postgres://kefu:<hidden>@db/w"),
            "{printed}"
        );
        assert!(
            printed.contains("[widgets]") && printed.contains("max_widgets = 3"),
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
