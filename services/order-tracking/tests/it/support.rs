//! Starts customer-registry and order-tracking on one server over fresh databases, the way
//! `kefu serve --service all` does, with a choice of hot store.

use std::net::SocketAddr;
use std::sync::Arc;

use kefu_customer_registry::CustomerRegistry;
use kefu_order_tracking::{HotChoice, OrderTracking};
use kefu_platform::auth::{Role, TokenKeys};
use kefu_platform::config::{RedisSettings, SecretUrl, Settings};
use kefu_platform::hot::{InProcessHotStore, RedisHotStore};
use kefu_platform::redis::RedisHandle;
use kefu_platform::server::{self, Lifecycle};
use kefu_platform::testing::TestDatabase;
use kefu_proto::common::{Address, Money};
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as pb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Clone, Debug)]
pub(crate) enum Hot {
    None,
    InProcess,
    Redis(String),
}

pub(crate) struct App {
    pub(crate) addr: SocketAddr,
    pub(crate) orders_db: DatabaseConnection,
    pub(crate) registry_db: DatabaseConnection,
    pub(crate) keys: TokenKeys,
    pub(crate) lifecycle: Lifecycle,
    _databases: Vec<TestDatabase>,
}

pub(crate) type Orders = OrderTrackingServiceClient<InterceptedService<Channel, Bearer>>;
pub(crate) type Customers = CustomerRegistryServiceClient<InterceptedService<Channel, Bearer>>;

#[derive(Clone)]
pub(crate) struct Bearer(String);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.0)
                .parse()
                .map_err(|_| tonic::Status::internal("token"))?,
        );
        Ok(request)
    }
}

async fn database(backend: Backend) -> TestDatabase {
    match backend {
        Backend::Postgres => TestDatabase::postgres()
            .await
            .expect("PostgreSQL on 127.0.0.1:5432"),
        Backend::Sqlite => TestDatabase::sqlite().expect("sqlite file"),
    }
}

/// Both services on one server; `customer_registry` overrides where order-tracking looks
/// customers up (a dead address makes customer-registry unreachable).
pub(crate) async fn spawn_with(
    backend: Backend,
    hot: Hot,
    env: &[(&str, &str)],
    customer_registry: Option<&str>,
) -> App {
    let registry_db = database(backend).await;
    let orders_db = database(backend).await;
    let mut settings = kefu_platform::testing::settings_for(&[
        ("customer-registry", &registry_db.url),
        ("order-tracking", &orders_db.url),
    ]);
    for (key, value) in env {
        apply(&mut settings, key, value);
    }
    let lifecycle = Lifecycle::new();
    let registry_conn = kefu_platform::db::connect(&registry_db.url, &settings.database)
        .await
        .unwrap();
    kefu_platform::db::migrate("customer-registry", &registry_conn)
        .await
        .unwrap();
    let orders_conn = kefu_platform::db::connect(&orders_db.url, &settings.database)
        .await
        .unwrap();
    kefu_platform::db::migrate("order-tracking", &orders_conn)
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = CustomerRegistry::new(
        &settings,
        registry_conn.clone(),
        None,
        Some(format!("http://{addr}")),
        lifecycle.clone(),
    )
    .unwrap();
    registry.spawn_background(lifecycle.stopping());
    let redis = match &hot {
        Hot::Redis(url) => redis_handle(url),
        _ => None,
    };
    let choice = match &hot {
        Hot::None => HotChoice::None,
        Hot::InProcess => HotChoice::SingleProcess(Arc::new(InProcessHotStore::new())),
        Hot::Redis(_) => HotChoice::Shared(Arc::new(RedisHotStore::new(
            redis.clone().unwrap(),
            "kefu:",
        ))),
    };
    let endpoint = customer_registry.map_or_else(|| format!("http://{addr}"), str::to_owned);
    let tracking = OrderTracking::new(
        &settings,
        orders_conn.clone(),
        redis,
        choice,
        &endpoint,
        lifecycle.clone(),
    )
    .unwrap();
    tracking.spawn_background(lifecycle.stopping());
    let routes = tonic::service::Routes::new(registry.grpc_service(&settings))
        .add_service(tracking.grpc_service(&settings));
    let keys = TokenKeys::new(&settings.auth);
    let running = server::start(
        &settings,
        listener,
        routes,
        vec![registry.parts(), tracking.parts()],
        keys.clone(),
        lifecycle.clone(),
    )
    .await
    .unwrap();
    tokio::spawn(running.wait());
    App {
        addr,
        orders_db: orders_conn,
        registry_db: registry_conn,
        keys,
        lifecycle,
        _databases: vec![registry_db, orders_db],
    }
}

pub(crate) async fn spawn(backend: Backend) -> App {
    spawn_with(backend, Hot::None, &[], None).await
}

/// Applies one test override to settings already loaded.
fn apply(settings: &mut Settings, key: &str, value: &str) {
    match key {
        "service_plans.small.promised_delivery_hours" => {
            if let Some(plan) = settings.customer_registry.service_plans.get_mut("small") {
                plan.promised_delivery_hours = value.parse().unwrap();
            }
        }
        "delay_check_interval_ms" => {
            settings.order_tracking.delay_check_interval_ms = value.parse().unwrap()
        }
        "breaker_open_ms" => settings.order_tracking.breaker_open_ms = value.parse().unwrap(),
        other => panic!("unknown test setting {other}"),
    }
}

pub(crate) fn redis_handle(url: &str) -> Option<RedisHandle> {
    RedisHandle::open(&RedisSettings {
        url: SecretUrl::new(url.to_owned()),
        command_timeout_ms: 200,
        connect_timeout_ms: 200,
    })
    .unwrap()
}

impl App {
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub(crate) fn token(&self, role: Role) -> String {
        self.keys.mint("tester", role, &[], "", 600)
    }

    pub(crate) async fn orders(&self) -> Orders {
        OrderTrackingServiceClient::with_interceptor(
            self.channel().await,
            Bearer(self.token(Role::Manager)),
        )
    }

    pub(crate) async fn orders_as(&self, role: Role) -> Orders {
        OrderTrackingServiceClient::with_interceptor(self.channel().await, Bearer(self.token(role)))
    }

    pub(crate) async fn customers(&self) -> Customers {
        CustomerRegistryServiceClient::with_interceptor(
            self.channel().await,
            Bearer(self.token(Role::Manager)),
        )
    }

    /// A new active enterprise customer (tier small).
    pub(crate) async fn customer(&self) -> String {
        let customer = cpb::Customer {
            kind: cpb::CustomerKind::Enterprise as i32,
            display_name: "Fuzhou Widgets".into(),
            registration_number: "91350100M000100Y43".into(),
            contacts: vec![cpb::Contact {
                display_name: "Li Si".into(),
                role: "logistics".into(),
                phone: "0591-87654321".into(),
                email: String::new(),
            }],
            ..Default::default()
        };
        self.customers()
            .await
            .create_customer(cpb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .id
    }

    pub(crate) async fn count(&self, table: &str) -> i64 {
        let row = self
            .orders_db
            .query_one_raw(sea_orm::Statement::from_string(
                self.orders_db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.lifecycle.begin_shutdown(std::time::Duration::ZERO);
    }
}

pub(crate) fn money(fen: i64) -> Option<Money> {
    Some(Money {
        currency_code: "CNY".into(),
        minor_units: fen,
    })
}

/// A valid order for `customer_id`: 12.3 kg of tea over 200 km, standard service.
pub(crate) fn order(customer_id: &str) -> pb::Order {
    pb::Order {
        customer_id: customer_id.into(),
        channel: pb::Channel::Phone as i32,
        service_level: pb::ServiceLevel::Standard as i32,
        distance_km: 200,
        origin: Some(Address {
            province: "Fujian".into(),
            city: "Fuzhou".into(),
            street: "1 Wusi Road".into(),
            ..Default::default()
        }),
        destination: Some(Address {
            province: "Fujian".into(),
            city: "Xiamen".into(),
            street: "9 Lujiang Road".into(),
            ..Default::default()
        }),
        lines: vec![pb::CargoLine {
            description: "boxes of tea".into(),
            pieces: 3,
            weight_grams: 12_300,
            volume_cm3: 30_000,
            declared_value: money(50_000),
            special: None,
        }],
        ..Default::default()
    }
}

pub(crate) fn create(order: pb::Order) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        order: Some(order),
        request_id: String::new(),
    }
}

pub(crate) fn move_to(order_id: &str, to: pb::OrderState) -> pb::MoveOrderRequest {
    pb::MoveOrderRequest {
        order_id: order_id.into(),
        to_state: to as i32,
        location: "Fuzhou hub".into(),
        ..Default::default()
    }
}

/// Moves an order through picking and packing to PACKED (every step recorded).
pub(crate) async fn to_packed(client: &mut Orders, id: &str) {
    client
        .move_order(move_to(id, pb::OrderState::Verified))
        .await
        .unwrap();
    client
        .move_order(move_to(id, pb::OrderState::Picking))
        .await
        .unwrap();
    let order = client
        .get_order(pb::GetOrderRequest {
            order_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let picks = order
        .pick_lines
        .iter()
        .map(|p| pb::PickLine {
            line_number: p.line_number,
            pieces_picked: p.pieces_ordered,
            ..Default::default()
        })
        .collect();
    client
        .record_pick(pb::RecordPickRequest {
            order_id: id.into(),
            pick_lines: picks,
            request_id: String::new(),
        })
        .await
        .unwrap();
    let lines = order.pick_lines.iter().map(|p| p.line_number).collect();
    client
        .record_packing(pb::RecordPackingRequest {
            order_id: id.into(),
            packages: vec![pb::Package {
                package_id: "P1".into(),
                line_numbers: lines,
                weight_grams: 12_500,
            }],
            request_id: String::new(),
        })
        .await
        .unwrap();
    client
        .move_order(move_to(id, pb::OrderState::Packed))
        .await
        .unwrap();
}

pub(crate) fn handover() -> pb::Handover {
    pb::Handover {
        document_numbers: vec!["WB-0001".into()],
        handed_by: "courier 7".into(),
        signer_name: "Wang Wu".into(),
        sign_time: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp(),
            nanos: 0,
        }),
        proof_uri: "docs://proof/0001".into(),
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

impl App {
    /// Outbox rows of one event type.
    pub(crate) async fn count_events(&self, event_type: &str) -> i64 {
        let row = self
            .orders_db
            .query_one_raw(sea_orm::Statement::from_string(
                self.orders_db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM kefu_outbox WHERE event_type = '{event_type}'"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}
