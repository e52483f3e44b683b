//! Spawns customer-registry on 127.0.0.1:0 over a fresh database per test.

use std::net::SocketAddr;
use std::sync::Arc;

use kefu_customer_registry::CustomerRegistry;
use kefu_platform::auth::{Role, TokenKeys};
use kefu_platform::config::Settings;
use kefu_platform::server::{self, Lifecycle};
use kefu_platform::testing::TestDatabase;
use kefu_proto::customer as pb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

pub(crate) struct App {
    pub(crate) addr: SocketAddr,
    pub(crate) settings: Settings,
    pub(crate) db: DatabaseConnection,
    pub(crate) keys: TokenKeys,
    _database: Arc<TestDatabase>,
}

pub(crate) type Client = CustomerRegistryServiceClient<InterceptedService<Channel, Auth>>;

/// Adds a bearer token and, optionally, a purpose to every call.
#[derive(Clone)]
pub(crate) struct Auth {
    token: Option<String>,
    purpose: Option<String>,
}

impl tonic::service::Interceptor for Auth {
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

pub(crate) async fn spawn(backend: Backend) -> App {
    spawn_changed(backend, |_| {}).await
}

/// As [`spawn`], with settings changed by `change` first.
pub(crate) async fn spawn_changed(backend: Backend, change: impl FnOnce(&mut Settings)) -> App {
    let database = match backend {
        Backend::Postgres => TestDatabase::postgres()
            .await
            .expect("PostgreSQL on 127.0.0.1:5432"),
        Backend::Sqlite => TestDatabase::sqlite().expect("sqlite file"),
    };
    let mut settings = kefu_platform::testing::settings_with_database(&database.url);
    change(&mut settings);
    start(Arc::new(database), settings).await
}

impl App {
    /// Another server on the same database, with settings changed by `change`; the old one
    /// keeps running beside it, as a second replica would.
    pub(crate) async fn restart_with(self, change: impl FnOnce(&mut Settings)) -> App {
        let App {
            mut settings,
            _database: database,
            ..
        } = self;
        change(&mut settings);
        start(database, settings).await
    }

    /// A second replica on the same database, with settings changed by `change`; both serve.
    pub(crate) async fn replica(&self, change: impl FnOnce(&mut Settings)) -> App {
        let mut settings = self.settings.clone();
        change(&mut settings);
        start(self._database.clone(), settings).await
    }
}

async fn start(database: Arc<TestDatabase>, settings: Settings) -> App {
    let db = kefu_platform::db::connect(&database.url, &settings.database)
        .await
        .unwrap();
    kefu_platform::db::migrate(kefu_customer_registry::SERVICE, &db)
        .await
        .unwrap();
    let lifecycle = Lifecycle::new();
    let registry =
        CustomerRegistry::new(&settings, db.clone(), None, None, lifecycle.clone()).unwrap();
    registry.spawn_background(lifecycle.stopping());
    let routes = tonic::service::Routes::new(registry.grpc_service(&settings));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keys = TokenKeys::new(&settings.auth);
    let running = server::start(
        &settings,
        listener,
        routes,
        vec![registry.parts()],
        keys.clone(),
        lifecycle.clone(),
    )
    .await
    .unwrap();
    let addr = running.local_addr;
    tokio::spawn(running.wait());
    App {
        addr,
        settings,
        db,
        keys,
        _database: database,
    }
}

impl App {
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A client whose calls carry `token` (or none).
    pub(crate) async fn client_with_token(
        &self,
        token: Option<String>,
        purpose: Option<&str>,
    ) -> Client {
        CustomerRegistryServiceClient::with_interceptor(
            self.channel().await,
            Auth {
                token,
                purpose: purpose.map(str::to_owned),
            },
        )
    }

    pub(crate) fn token(&self, sub: &str, role: Role, scopes: &[&str], team: &str) -> String {
        self.keys.mint(sub, role, scopes, team, 300)
    }

    pub(crate) async fn client(&self, role: Role) -> Client {
        self.client_with_token(Some(self.token("tester", role, &[], "")), None)
            .await
    }

    pub(crate) async fn agent(&self, sub: &str, team: &str) -> Client {
        self.client_with_token(Some(self.token(sub, Role::Agent, &[], team)), None)
            .await
    }

    /// A manager allowed to see personal data, stating a purpose.
    pub(crate) async fn pii_reader(&self) -> Client {
        self.client_with_token(
            Some(self.token("auditor", Role::Manager, &["pii:read"], "")),
            Some("verify the record"),
        )
        .await
    }

    pub(crate) async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// Every value of every row of `table`, as text, for plaintext searches.
    pub(crate) async fn dump(&self, table: &str) -> String {
        let sql = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => format!("SELECT t::text AS row FROM {table} t"),
            _ => {
                let columns = self
                    .db
                    .query_all_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Sqlite,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| {
                        // Blobs as lowercase hex, as PostgreSQL prints bytea.
                        let c = r.try_get::<String>("", "name").unwrap();
                        format!(
                            "COALESCE(CASE WHEN typeof({c}) = 'blob' THEN lower(hex({c})) ELSE CAST({c} AS TEXT) END, '')"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                format!("SELECT {columns} AS row FROM {table}")
            }
        };
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap();
        rows.into_iter()
            .map(|r| r.try_get::<String>("", "row").unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Whether `dump` holds `secret`, in text or as the hex of its bytes (how blobs print).
pub(crate) fn holds(dump: &str, secret: &str) -> bool {
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    dump.contains(secret) || dump.to_ascii_lowercase().contains(&hex)
}

/// A complete, valid personal customer.
pub(crate) fn personal(name: &str) -> pb::Customer {
    pb::Customer {
        kind: pb::CustomerKind::Personal as i32,
        display_name: name.into(),
        phone: "13812345678".into(),
        email: "zhang.san@example.com".into(),
        id_number: "11010519491231002X".into(),
        addresses: vec![kefu_proto::common::Address {
            label: "home".into(),
            province: "Beijing".into(),
            city: "Beijing".into(),
            district: "Chaoyang".into(),
            street: "8 Jianguo Road".into(),
            postal_code: "100022".into(),
        }],
        team_id: "t1".into(),
        ..Default::default()
    }
}

/// A complete, valid enterprise customer.
pub(crate) fn enterprise(name: &str) -> pb::Customer {
    pb::Customer {
        kind: pb::CustomerKind::Enterprise as i32,
        display_name: name.into(),
        registration_number: "91350100M000100Y43".into(),
        contacts: vec![pb::Contact {
            display_name: "Li Si".into(),
            role: "logistics".into(),
            phone: "0591-87654321".into(),
            email: "li.si@widgets.example.cn".into(),
        }],
        team_id: "t1".into(),
        ..Default::default()
    }
}

pub(crate) fn create(customer: pb::Customer) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        customer: Some(customer),
        request_id: String::new(),
    }
}

/// Runs an async test body once on PostgreSQL and once on SQLite.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await;
            }
        }
    };
}
