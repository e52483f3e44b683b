//! CR-2 across processes: customer-registry killed mid-stream resumes from its cursor, and
//! every order still counts once.

use std::time::Duration;

use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::TestDatabase;
use sea_orm::ConnectionTrait as _;
use tonic::transport::Channel;

use crate::process::{Server, bearer, kefu};

fn order(customer: &str) -> opb::CreateOrderRequest {
    opb::CreateOrderRequest {
        order: Some(opb::Order {
            customer_id: customer.into(),
            channel: opb::Channel::Counter as i32,
            service_level: opb::ServiceLevel::Standard as i32,
            distance_km: 20,
            origin: Some(kefu_proto::common::Address {
                province: "Fujian".into(),
                city: "Fuzhou".into(),
                ..Default::default()
            }),
            destination: Some(kefu_proto::common::Address {
                province: "Fujian".into(),
                city: "Fuzhou".into(),
                ..Default::default()
            }),
            lines: vec![opb::CargoLine {
                description: "box".into(),
                pieces: 1,
                weight_grams: 1_000,
                volume_cm3: 1_000,
                declared_value: None,
                special: None,
            }],
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_killed_mid_stream_counts_every_order_once_after_restart() {
    let registry_db = TestDatabase::postgres().await.unwrap();
    let orders_db = TestDatabase::postgres().await.unwrap();
    let env = [
        (
            "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
            registry_db.url.expose(),
        ),
        ("KEFU__ORDER_TRACKING__DATABASE_URL", orders_db.url.expose()),
    ];
    assert!(
        kefu()
            .args(["migrate"])
            .envs(env)
            .output()
            .await
            .unwrap()
            .status
            .success()
    );
    let dir = tempfile::tempdir().unwrap();
    // Fixed ports: each process must find the other where it was before the restart.
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (registry_port, tracking_port) = (free(), free());
    let registry_listen = format!("127.0.0.1:{registry_port}");
    let tracking_listen = format!("127.0.0.1:{tracking_port}");
    let registry_url = format!("http://{registry_listen}");
    let tracking_url = format!("http://{tracking_listen}");
    let registry_env = [
        env[0],
        ("KEFU__CUSTOMER_REGISTRY__LISTEN", registry_listen.as_str()),
        ("KEFU__ORDER_TRACKING__ENDPOINT", tracking_url.as_str()),
    ];
    let tracking_env = [
        env[1],
        ("KEFU__ORDER_TRACKING__LISTEN", tracking_listen.as_str()),
        ("KEFU__CUSTOMER_REGISTRY__ENDPOINT", registry_url.as_str()),
    ];
    let mut registry = Server::start(
        dir.path(),
        &["--service", "customer-registry"],
        &registry_env,
    )
    .await;
    let tracking = Server::start(dir.path(), &["--service", "order-tracking"], &tracking_env).await;
    let token = registry.token.clone().unwrap();

    let customers = CustomerRegistryServiceClient::with_interceptor(
        Channel::from_shared(registry_url.clone())
            .unwrap()
            .connect_lazy(),
        bearer(token.clone()),
    );
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        let customer = cpb::Customer {
            kind: cpb::CustomerKind::Personal as i32,
            display_name: name.into(),
            phone: "13912345678".into(),
            ..Default::default()
        };
        ids.push(
            customers
                .clone()
                .create_customer(cpb::CreateCustomerRequest {
                    customer: Some(customer),
                    request_id: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    let mut orders = OrderTrackingServiceClient::with_interceptor(
        Channel::from_shared(tracking_url.clone())
            .unwrap()
            .connect_lazy(),
        bearer(token.clone()),
    );
    // Three orders each, then the registry dies at once, mid-stream.
    for _ in 0..3 {
        for id in &ids {
            orders.create_order(order(id)).await.unwrap();
        }
    }
    registry.signal("KILL");
    let _ = registry.child.wait().await;
    let registry = Server::start(
        dir.path(),
        &["--service", "customer-registry"],
        &registry_env,
    )
    .await;

    let db = registry_db.connect().await;
    let count = |sql: String| {
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
        if count("SELECT COUNT(*) AS n FROM tier_changes".into()).await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        let uses = count(format!(
            "SELECT CAST(SUM(uses) AS BIGINT) AS n FROM customer_usage WHERE customer_id = '{id}'"
        ))
        .await;
        assert_eq!(uses, 3, "customer {id}: every order once, none twice");
        let changes = count(format!(
            "SELECT COUNT(*) AS n FROM tier_changes WHERE customer_id = '{id}'"
        ))
        .await;
        assert_eq!(changes, 1, "customer {id}: one move to frequent");
    }
    drop((registry, tracking));
}
