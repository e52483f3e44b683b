//! Test support shared by every Kefu crate's tests: a fresh PostgreSQL database or SQLite file
//! per test, any set of the suite's services served on 127.0.0.1:0 the way `kefu serve` serves
//! them, tokens and authenticated clients, and the macro that runs a test on both backends.
//! Never part of a running service.

#![forbid(unsafe_code)]

pub mod certificates;
pub mod postgres_server;
pub mod redis_cluster;
pub mod redis_server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kefu_platform::auth::{Role, TokenKeys};
use kefu_platform::config::{SecretUrl, Settings};
use kefu_platform::server::Lifecycle;
use kefu_platform::service::{Service, section_specs};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Server that tests create their databases on; `KEFU_TEST_POSTGRES` overrides it.
pub fn postgres_admin_url() -> String {
    std::env::var("KEFU_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Redis that tests use; `KEFU_TEST_REDIS` overrides it.
pub fn redis_url() -> String {
    std::env::var("KEFU_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database of its own for one test, dropped when the value is.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: SecretUrl,
    name: Option<String>,
    /// The server's `postgres` database, where this one is dropped from.
    admin_url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        let made = match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Self::sqlite(),
        };
        match made {
            Ok(database) => database,
            Err(e) => panic!("test database on {backend:?}: {e:#} (PostgreSQL on 127.0.0.1:5432?)"),
        }
    }

    /// A new, empty PostgreSQL database on the test server.
    pub async fn postgres() -> anyhow::Result<Self> {
        Self::postgres_on(&postgres_admin_url()).await
    }

    /// A new, empty PostgreSQL database on the server of `admin_url`.
    pub async fn postgres_on(admin_url: &str) -> anyhow::Result<Self> {
        let admin_url = admin_url.to_owned();
        let name = format!("kefu_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        Ok(Self {
            url: SecretUrl::new(format!("{base}/{name}")),
            name: Some(name),
            admin_url,
            _dir: None,
        })
    }

    /// A pool on this database, as a service would open it.
    pub async fn connect(&self) -> DatabaseConnection {
        // A test's own reads (dumps, counts) come one after another; its services hold the
        // rest of the server's connections.
        let settings = kefu_platform::config::DatabaseSettings {
            max_connections: 2,
            acquire_timeout_ms: 5000,
            statement_timeout_ms: 10_000,
        };
        match kefu_platform::db::connect(&self.url, &settings).await {
            Ok(db) => db,
            Err(e) => panic!("connecting to {}: {e:#}", self.url.redacted()),
        }
    }

    /// A new SQLite file in a directory of its own.
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("kefu-test-").tempdir()?;
        Ok(Self {
            url: SecretUrl::new(format!(
                "sqlite://{}/test.db?mode=rwc",
                dir.path().display()
            )),
            name: None,
            admin_url: String::new(),
            _dir: Some(dir),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else { return };
        // Drop runs outside any runtime we may block; a thread of its own can.
        let admin_url = std::mem::take(&mut self.admin_url);
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Embedded defaults with quick timings for tests, read with the sections of `catalog`,
/// each named service on its database, then `env` (`KEFU__...` pairs). Services not named
/// keep their default database (a SQLite file under ./data): name every service a test
/// starts.
pub fn settings(
    catalog: &[&'static dyn Service],
    databases: &[(&str, &SecretUrl)],
    env: &[(&str, &str)],
) -> Settings {
    let mut vars: Vec<(String, String)> = [
        ("KEFU__SERVER__LISTEN", "127.0.0.1:0"),
        ("KEFU__SERVER__SHUTDOWN_DELAY_MS", "200"),
        // A dropped suite's pools live until its relays' last pass, after the drain: a
        // short drain hands their connections back before other tests need them.
        ("KEFU__SERVER__DRAIN_TIMEOUT_MS", "2000"),
        ("KEFU__EVENTS__RELAY_INTERVAL_MS", "50"),
        ("KEFU__EVENTS__STREAM_POLL_MS", "100"),
        ("KEFU__EVENTS__CONSUMER_TAKEOVER_MS", "300"),
        // Tests run many suites at once on two cores: a pooled connection can take seconds
        // to come, where a deployment's default (1 s) would call that an outage. Tests of
        // outages set the default back.
        ("KEFU__DATABASE__ACQUIRE_TIMEOUT_MS", "5000"),
        // Two tests run at once, one of them up to five services with the test's own reads
        // beside: at the default 16 connections a service, their idle pools alone once
        // reached 99 of the shared PostgreSQL's 100 and the next service's pool timed out.
        // Eight leave a service its consumers' leases and calls to serve.
        ("KEFU__DATABASE__MAX_CONNECTIONS", "8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (service, url) in databases {
        let section = service.replace('-', "_").to_ascii_uppercase();
        vars.push((
            format!("KEFU__{section}__DATABASE_URL"),
            url.expose().to_owned(),
        ));
    }
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let services: Vec<&dyn Service> = catalog.iter().map(|s| *s as &dyn Service).collect();
    match Settings::load_from(
        None,
        Some(vars.into_iter().collect()),
        &section_specs(&services),
    ) {
        Ok(settings) => settings,
        Err(e) => panic!("test settings invalid: {e}"),
    }
}

/// How to spawn an [`App`].
pub struct Spawn {
    catalog: Vec<&'static dyn Service>,
    serve: Option<Vec<&'static str>>,
    backend: Backend,
    /// The PostgreSQL server to make the databases on, when not the shared test server.
    postgres: Option<String>,
    env: Vec<(String, String)>,
    change: Option<ChangeSettings>,
}

/// A change to the settings a test makes once they are read.
type ChangeSettings = Box<dyn FnOnce(&mut Settings) + Send>;

impl std::fmt::Debug for Spawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawn")
            .field("catalog", &self.catalog)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Spawn {
    /// Every service of `catalog` in one server, each on a fresh database of `backend`.
    pub fn new(catalog: &[&'static dyn Service], backend: Backend) -> Self {
        Self {
            catalog: catalog.to_vec(),
            serve: None,
            backend,
            postgres: None,
            env: Vec::new(),
            change: None,
        }
    }

    /// Serves only these services; the others of the catalog are peers found at their
    /// configured endpoints (e.g. a dead address, to test an unreachable peer).
    pub fn serve_only(mut self, names: &[&'static str]) -> Self {
        self.serve = Some(names.to_vec());
        self
    }

    /// Makes the databases on the PostgreSQL server of `admin_url` (e.g. a
    /// [`postgres_server::PostgresServer`] the test crashes) instead of the shared one.
    pub fn postgres_at(mut self, admin_url: String) -> Self {
        self.backend = Backend::Postgres;
        self.postgres = Some(admin_url);
        self
    }

    /// A `KEFU__SECTION__KEY` setting.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Changes the settings once read.
    pub fn change(mut self, change: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.change = Some(Box::new(change));
        self
    }

    pub async fn start(self) -> App {
        let mut databases = Vec::new();
        for service in &self.catalog {
            let database = match &self.postgres {
                Some(admin_url) => match TestDatabase::postgres_on(admin_url).await {
                    Ok(database) => database,
                    Err(e) => panic!("test database on {admin_url}: {e:#}"),
                },
                None => TestDatabase::new(self.backend).await,
            };
            databases.push((service.name(), database));
        }
        let urls: Vec<(&str, &SecretUrl)> = databases.iter().map(|(n, d)| (*n, &d.url)).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut settings = settings(&self.catalog, &urls, &env);
        if let Some(change) = self.change {
            change(&mut settings);
        }
        let mut connections = Vec::new();
        for (service, (name, _)) in self.catalog.iter().zip(&databases) {
            let db = connect(&settings, name).await;
            if let Err(e) = service.migrator().apply(&db).await {
                panic!("migrating {name}: {e}");
            }
            connections.push((*name, db));
        }
        let served: Vec<&'static dyn Service> = match &self.serve {
            Some(names) => self
                .catalog
                .iter()
                .filter(|s| names.contains(&s.name()))
                .copied()
                .collect(),
            None => self.catalog.clone(),
        };
        let shared = Arc::new(Shared {
            catalog: self.catalog,
            databases,
            connections,
        });
        App::serve(shared, served, settings).await
    }
}

async fn connect(settings: &Settings, service: &str) -> DatabaseConnection {
    let Some(own) = settings.service(service) else {
        panic!("no settings of {service}")
    };
    // The test's own reads (dumps, counts) come one after another; two suites side by side
    // must leave PostgreSQL's 100 connections to their services.
    let reads = kefu_platform::config::DatabaseSettings {
        max_connections: 2,
        ..settings.database.clone()
    };
    match kefu_platform::db::connect(&own.database_url, &reads).await {
        Ok(db) => db,
        Err(e) => panic!("connecting to {service}'s database: {e:#}"),
    }
}

/// What replicas of one test share: the services and their databases.
struct Shared {
    catalog: Vec<&'static dyn Service>,
    databases: Vec<(&'static str, TestDatabase)>,
    connections: Vec<(&'static str, DatabaseConnection)>,
}

/// A running server over test databases, as `kefu serve` runs it.
pub struct App {
    pub addr: SocketAddr,
    pub settings: Settings,
    pub keys: TokenKeys,
    pub lifecycle: Lifecycle,
    /// Cancelled once the server has drained and stopped, as the process would exit.
    drained: tokio_util::sync::CancellationToken,
    served: Vec<&'static dyn Service>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Every service of `catalog` on fresh databases of `backend`.
    pub async fn spawn(catalog: &[&'static dyn Service], backend: Backend) -> App {
        Spawn::new(catalog, backend).start().await
    }

    async fn serve(
        shared: Arc<Shared>,
        served: Vec<&'static dyn Service>,
        settings: Settings,
    ) -> App {
        let lifecycle = Lifecycle::new();
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("binding 127.0.0.1:0: {e}"),
        };
        let suite = match kefu_platform::suite::start(
            &settings,
            &shared.catalog,
            &served,
            listener,
            lifecycle.clone(),
        )
        .await
        {
            Ok(suite) => suite,
            Err(e) => panic!("starting the suite: {e:#}"),
        };
        let addr = suite.server.local_addr;
        let drained = tokio_util::sync::CancellationToken::new();
        let done = drained.clone();
        tokio::spawn(async move {
            if let Err(e) = suite.server.wait().await {
                eprintln!("server failed: {e:#}");
            }
            done.cancel();
        });
        App {
            addr,
            drained,
            keys: TokenKeys::new(&settings.auth),
            settings,
            lifecycle,
            served,
            shared,
        }
    }

    /// Another server on the same databases with settings changed by `change`, as a second
    /// replica would run; this one keeps serving.
    pub async fn replica(&self, change: impl FnOnce(&mut Settings)) -> App {
        let mut settings = self.settings.clone();
        change(&mut settings);
        Self::serve(self.shared.clone(), self.served.clone(), settings).await
    }

    /// The test's own connection to `service`'s database.
    pub fn db(&self, service: &str) -> &DatabaseConnection {
        match self.shared.connections.iter().find(|(n, _)| *n == service) {
            Some((_, db)) => db,
            None => panic!("no database of {service}"),
        }
    }

    /// `service`'s database URL.
    pub fn database_url(&self, service: &str) -> &SecretUrl {
        match self.shared.databases.iter().find(|(n, _)| *n == service) {
            Some((_, database)) => &database.url,
            None => panic!("no database of {service}"),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self, subject: &str, role: Role, scopes: &[&str], team: &str) -> String {
        self.keys.mint(subject, role, scopes, team, 600)
    }

    /// A token carrying every claim of `grant`.
    pub fn token_for(&self, grant: &kefu_platform::auth::Grant<'_>) -> String {
        self.keys.mint_grant(grant, 600)
    }

    /// A supervisor's token limited to `department`.
    pub fn supervisor_of(&self, subject: &str, department: &str) -> String {
        self.keys.mint_grant(
            &kefu_platform::auth::Grant {
                subject,
                role: Role::Supervisor,
                scopes: &[],
                team: "",
                department,
            },
            600,
        )
    }

    pub async fn channel(&self) -> Channel {
        match Channel::from_shared(self.endpoint()) {
            Ok(endpoint) => match endpoint.connect().await {
                Ok(channel) => channel,
                Err(e) => panic!("connecting to {}: {e}", self.addr),
            },
            Err(e) => panic!("endpoint {}: {e}", self.addr),
        }
    }

    /// A channel whose calls carry `token` (none: unauthenticated) and, for personal data,
    /// a stated purpose.
    pub async fn authed(&self, token: Option<String>, purpose: Option<&str>) -> Authed {
        InterceptedService::new(
            self.channel().await,
            Bearer {
                token,
                purpose: purpose.map(str::to_owned),
            },
        )
    }

    /// A channel as `subject` in `role` of `team`.
    pub async fn as_role(&self, subject: &str, role: Role, team: &str) -> Authed {
        self.authed(Some(self.token(subject, role, &[], team)), None)
            .await
    }

    /// The tables of `service`'s database (PostgreSQL's `public` schema, or SQLite's).
    pub async fn tables(&self, service: &str) -> Vec<String> {
        let db = self.db(service);
        let sql = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "SELECT table_name::text AS t FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            }
            _ => "SELECT name AS t FROM sqlite_master WHERE type = 'table'",
        };
        match db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
        {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|r| r.try_get::<String>("", "t").ok())
                .collect(),
            Err(e) => panic!("listing the tables of {service}: {e}"),
        }
    }

    /// Rows of `table` in `service`'s database.
    pub async fn count(&self, service: &str, table: &str) -> i64 {
        let db = self.db(service);
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await;
        match row {
            Ok(Some(row)) => row.try_get::<i64>("", "n").unwrap_or(-1),
            other => panic!("counting {table}: {other:?}"),
        }
    }

    /// Every value of every row of `table`, as text, for plaintext searches and for checks
    /// that nothing changed. Rows come sorted: a row rewritten with the values it had (a
    /// consumer applying an event again) moves in the heap, and is no change.
    pub async fn dump(&self, service: &str, table: &str) -> String {
        let db = self.db(service);
        let sql = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => format!("SELECT t::text AS row FROM {table} t"),
            backend => {
                let columns = db
                    .query_all_raw(sea_orm::Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.try_get::<String>("", "name").ok())
                    .map(|c| {
                        // Blobs as lowercase hex, as PostgreSQL prints bytea.
                        format!(
                            "COALESCE(CASE WHEN typeof({c}) = 'blob' THEN lower(hex({c})) ELSE CAST({c} AS TEXT) END, '')"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                format!("SELECT {columns} AS row FROM {table}")
            }
        };
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await;
        match rows {
            Ok(rows) => {
                let mut rows: Vec<String> = rows
                    .into_iter()
                    .filter_map(|r| r.try_get::<String>("", "row").ok())
                    .collect();
                rows.sort_unstable();
                rows.join("\n")
            }
            Err(e) => panic!("dumping {table}: {e}"),
        }
    }

    /// Returns once the server has drained and stopped, as `kefu serve` would exit.
    pub async fn drained(&self) {
        self.drained.cancelled().await;
    }

    /// Stops this server: health first, then the drain.
    pub fn stop(&self) {
        self.lifecycle.begin_shutdown(Duration::ZERO);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Today's local day ("2026-11-30") and month ("2026-11") in Asia/Shanghai, where the
/// defaults count reports; in a day's last three minutes it waits for the next, so that what
/// a test does next falls in the day it reads.
pub async fn local_today() -> (String, String) {
    let Some(local) = chrono::FixedOffset::east_opt(8 * 3600) else {
        unreachable!("eight hours is a valid offset")
    };
    let now = chrono::Utc::now().with_timezone(&local);
    let midnight = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(local).single());
    if let Some(midnight) = midnight {
        let left = midnight.signed_duration_since(now);
        if left < chrono::Duration::minutes(3) {
            let wait = left.to_std().unwrap_or_default() + Duration::from_secs(1);
            tokio::time::sleep(wait).await;
        }
    }
    let now = chrono::Utc::now().with_timezone(&local);
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y-%m").to_string(),
    )
}

/// A moment earlier today in Asia/Shanghai: an hour ago, or the local midnight when that was
/// less than an hour ago, so that something dated with it counts in today's local day and month.
pub fn earlier_today() -> chrono::DateTime<chrono::Utc> {
    let Some(local) = chrono::FixedOffset::east_opt(8 * 3600) else {
        unreachable!("eight hours is a valid offset")
    };
    let now = chrono::Utc::now();
    let midnight = now
        .with_timezone(&local)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(local).single())
        .map(|t| t.with_timezone(&chrono::Utc));
    let hour_ago = now - chrono::Duration::hours(1);
    midnight.map_or(hour_ago, |midnight| hour_ago.max(midnight))
}

/// A business report's figure: `metric` of `group` ("" for the whole service).
pub fn figure(
    report: &kefu_proto::common::BusinessReport,
    group: &str,
    metric: &str,
) -> Option<f64> {
    report
        .rows
        .iter()
        .find(|r| r.group == group && r.metric == metric)
        .map(|r| r.value)
}

/// Polls `attempt` until it gives a value, or fails after `seconds`.
pub async fn until<T, F, Fut>(seconds: u64, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if let Some(value) = attempt().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within {seconds} s: {what}");
}

/// Whether `dump` holds `secret`, in text or as the hex of its bytes (how blobs print).
pub fn holds(dump: &str, secret: &str) -> bool {
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    dump.contains(secret) || dump.to_ascii_lowercase().contains(&hex)
}

/// A channel that sends a bearer token and, optionally, a purpose with every call.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Adds a bearer token and, optionally, a purpose (`x-kefu-purpose`) to every call.
#[derive(Clone, Debug)]
pub struct Bearer {
    token: Option<String>,
    purpose: Option<String>,
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.token {
            let value: MetadataValue<_> = format!("Bearer {token}")
                .parse()
                .map_err(|_| tonic::Status::internal("token"))?;
            request.metadata_mut().insert("authorization", value);
        }
        if let Some(purpose) = &self.purpose {
            let value: MetadataValue<_> = purpose
                .parse()
                .map_err(|_| tonic::Status::internal("purpose"))?;
            request.metadata_mut().insert("x-kefu-purpose", value);
        }
        Ok(request)
    }
}

/// Runs an async test body, `fn name(backend: Backend)`, once on PostgreSQL and once on
/// SQLite.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await;
            }
        }
    };
}
