//! OT-8 across processes: two order-tracking processes on one database raise the delay
//! exception of each late order exactly once.

use std::time::Duration;

use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::TestDatabase;
use sea_orm::ConnectionTrait as _;
use tonic::transport::Channel;

use crate::process::{Server, bearer, kefu};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_order_tracking_processes_raise_each_delay_once() {
    let registry_db = TestDatabase::postgres().await.unwrap();
    let orders_db = TestDatabase::postgres().await.unwrap();
    let env = [
        (
            "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
            registry_db.url.expose(),
        ),
        ("KEFU__ORDER_TRACKING__DATABASE_URL", orders_db.url.expose()),
    ];
    let migrated = kefu()
        .args(["migrate", "--service", "customer-registry,order-tracking"])
        .envs(env)
        .output()
        .await
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let registry = Server::start(
        dir.path(),
        &["--service", "customer-registry"],
        &[
            env[0],
            ("KEFU__CUSTOMER_REGISTRY__LISTEN", "127.0.0.1:0"),
            // CR-12: small enterprises are promised delivery at intake, so every order is late.
            (
                "KEFU__CUSTOMER_REGISTRY__SERVICE_PLANS__SMALL__PROMISED_DELIVERY_HOURS",
                "0",
            ),
        ],
    )
    .await;
    let endpoint = registry.endpoint();
    let tracking_env = [
        env[1],
        ("KEFU__ORDER_TRACKING__LISTEN", "127.0.0.1:0"),
        ("KEFU__CUSTOMER_REGISTRY__ENDPOINT", endpoint.as_str()),
        // Both processes look for late orders all the time.
        ("KEFU__ORDER_TRACKING__DELAY_CHECK_INTERVAL_MS", "10"),
    ];
    let first = Server::start(dir.path(), &["--service", "order-tracking"], &tracking_env).await;
    let second = Server::start(dir.path(), &["--service", "order-tracking"], &tracking_env).await;

    let token = registry.token.clone().unwrap();
    let channel = Channel::from_shared(registry.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut customers =
        CustomerRegistryServiceClient::with_interceptor(channel, bearer(token.clone()));
    let customer = customers
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                kind: cpb::CustomerKind::Enterprise as i32,
                display_name: "Late Cargo Ltd".into(),
                registration_number: "91350100M000100Y43".into(),
                contacts: vec![cpb::Contact {
                    display_name: "Li".into(),
                    phone: "0591-87654321".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;

    const ORDERS: usize = 30;
    for n in 0..ORDERS {
        let server = if n % 2 == 0 { &first } else { &second };
        let channel = Channel::from_shared(server.endpoint())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut orders =
            OrderTrackingServiceClient::with_interceptor(channel, bearer(token.clone()));
        let order = opb::Order {
            customer_id: customer.clone(),
            channel: opb::Channel::Web as i32,
            service_level: opb::ServiceLevel::Standard as i32,
            distance_km: 30,
            origin: Some(kefu_proto::common::Address {
                province: "Fujian".into(),
                city: "Fuzhou".into(),
                ..Default::default()
            }),
            destination: Some(kefu_proto::common::Address {
                province: "Fujian".into(),
                city: "Putian".into(),
                ..Default::default()
            }),
            lines: vec![opb::CargoLine {
                description: "parts".into(),
                pieces: 1,
                weight_grams: 2_000,
                volume_cm3: 1_000,
                declared_value: None,
                special: None,
            }],
            ..Default::default()
        };
        orders
            .create_order(opb::CreateOrderRequest {
                order: Some(order),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }

    let db = orders_db.connect().await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql,
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    for _ in 0..200 {
        if count("SELECT COUNT(*) AS n FROM orders WHERE delay_raised").await == ORDERS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both processes keep looking a while longer; nothing more may be raised.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM orders WHERE delay_raised").await,
        ORDERS as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM order_exceptions WHERE kind = 'EXCEPTION_KIND_DELAY'")
            .await,
        ORDERS as i64,
        "one delay exception per late order"
    );
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM kefu_outbox WHERE event_type = 'kefu.order.v1.ExceptionRaised'").await,
        ORDERS as i64
    );
    drop((first, second, registry));
}
