//! customer-registry and order-tracking on one server over fresh databases, the way
//! `kefu serve --service all` runs them, with a choice of hot store; through the shared kit.

use std::ops::Deref;

use kefu_customer_registry::CustomerRegistry;
use kefu_order_tracking::OrderTracking;
use kefu_platform::auth::Role;
use kefu_platform::config::{RedisSettings, SecretUrl};
use kefu_platform::redis::RedisHandle;
use kefu_proto::common::{Address, Money};
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as pb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::{Authed, Spawn};
use sea_orm::{ConnectionTrait, DatabaseConnection};

pub(crate) use kefu_testkit::Backend;

#[derive(Clone, Debug)]
pub(crate) enum Hot {
    None,
    InProcess,
    Redis(String),
}

pub(crate) struct App {
    inner: kefu_testkit::App,
    pub(crate) orders_db: DatabaseConnection,
    pub(crate) registry_db: DatabaseConnection,
}

impl Deref for App {
    type Target = kefu_testkit::App;

    fn deref(&self) -> &kefu_testkit::App {
        &self.inner
    }
}

pub(crate) type Orders = OrderTrackingServiceClient<Authed>;
pub(crate) type Customers = CustomerRegistryServiceClient<Authed>;

/// Both services on one server; `env` are `KEFU__...` settings. `customer_registry` serves
/// order-tracking alone and has it look customers up there instead (a dead address makes
/// customer-registry unreachable).
pub(crate) async fn spawn_with(
    backend: Backend,
    hot: Hot,
    env: &[(&str, &str)],
    customer_registry: Option<&str>,
) -> App {
    let mut spawn = Spawn::new(&[&CustomerRegistry, &OrderTracking], backend);
    spawn = match &hot {
        Hot::None => spawn.env("KEFU__ORDER_TRACKING__HOT_STORE", "none"),
        Hot::InProcess => spawn.env("KEFU__ORDER_TRACKING__HOT_STORE", "in_process"),
        Hot::Redis(url) => spawn
            .env("KEFU__ORDER_TRACKING__HOT_STORE", "redis")
            .env("KEFU__REDIS__URL", url)
            .env("KEFU__REDIS__COMMAND_TIMEOUT_MS", "200")
            .env("KEFU__REDIS__CONNECT_TIMEOUT_MS", "200"),
    };
    for (key, value) in env {
        spawn = spawn.env(key, value);
    }
    if let Some(endpoint) = customer_registry {
        spawn = spawn
            .serve_only(&[kefu_order_tracking::SERVICE])
            .env("KEFU__CUSTOMER_REGISTRY__ENDPOINT", endpoint);
    }
    let inner = spawn.start().await;
    App {
        orders_db: inner.db(kefu_order_tracking::SERVICE).clone(),
        registry_db: inner.db(kefu_customer_registry::SERVICE).clone(),
        inner,
    }
}

pub(crate) async fn spawn(backend: Backend) -> App {
    spawn_with(backend, Hot::None, &[], None).await
}

pub(crate) fn redis_handle(url: &str) -> Option<RedisHandle> {
    RedisHandle::open(&RedisSettings {
        url: SecretUrl::new(url.to_owned()),
        mode: kefu_platform::config::RedisMode::Standalone,
        nodes: Vec::new(),
        sentinel_master: String::new(),
        replica_acks: 0,
        command_timeout_ms: 200,
        connect_timeout_ms: 200,
        tls_ca_file: String::new(),
    })
    .unwrap()
}

impl App {
    pub(crate) fn token_of(&self, role: Role) -> String {
        self.token("tester", role, &[], "")
    }

    pub(crate) async fn orders(&self) -> Orders {
        self.orders_as(Role::Manager).await
    }

    pub(crate) async fn orders_as(&self, role: Role) -> Orders {
        OrderTrackingServiceClient::new(self.authed(Some(self.token_of(role)), None).await)
    }

    pub(crate) async fn customers(&self) -> Customers {
        CustomerRegistryServiceClient::new(
            self.authed(Some(self.token_of(Role::Manager)), None).await,
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

    /// Rows of `table` in order-tracking's database.
    pub(crate) async fn count(&self, table: &str) -> i64 {
        self.inner.count(kefu_order_tracking::SERVICE, table).await
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
