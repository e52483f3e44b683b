//! Logs an operator can follow: on an already migrated PostgreSQL start-up is quiet; a Redis
//! outage makes one line when it starts and one when it ends, from the probe and from order
//! hot state's breaker, however many calls it meets; a consumer cut off from its stream says
//! so once and says again when it reads it.

use std::path::Path;
use std::time::Duration;

use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::redis_server::RedisServer;

use crate::complaints::{Databases, channel, new_customer, new_order};
use crate::process::{Server, bearer};

/// The messages of a JSON log so far.
fn messages(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line["fields"]["message"].as_str().map(str::to_owned))
        .collect()
}

fn count(log: &Path, message: &str) -> usize {
    messages(log).iter().filter(|m| *m == message).count()
}

/// Waits until `message` is in the log.
async fn logged(log: &Path, message: &str) {
    for _ in 0..150 {
        if count(log, message) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never logged {message:?}: {:#?}", messages(log));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_are_logged_once_at_each_edge_and_start_up_is_quiet() {
    let dbs = Databases::migrated().await;
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tracking_port = free_port().to_string();
    let tracking_endpoint = format!("http://127.0.0.1:{tracking_port}");

    // customer-registry alone: order-tracking, whose stream it follows, is not up yet.
    let registry_log = d.join("registry.log");
    let registry = Server::start_logging_to(
        d,
        &["--service", "customer-registry"],
        &[
            dbs.env()[0],
            ("KEFU__CUSTOMER_REGISTRY__LISTEN", "127.0.0.1:0"),
            ("KEFU__ORDER_TRACKING__ENDPOINT", tracking_endpoint.as_str()),
            ("KEFU__TELEMETRY__LOG_FORMAT", "json"),
            ("KEFU__REDIS__URL", redis.url().as_str()),
        ],
        Some(&registry_log),
    )
    .await;
    let cut_off = "consumer customer-registry.order-facts cannot read its stream";
    logged(&registry_log, cut_off).await;
    // Its retries back off over several attempts; the line stays one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&registry_log, cut_off),
        1,
        "{:#?}",
        messages(&registry_log)
    );

    let tracking_log = d.join("tracking.log");
    let tracking = Server::start_logging_to(
        d,
        &["--service", "order-tracking"],
        &[
            dbs.env()[1],
            (
                "KEFU__SERVER__LISTEN",
                &format!("127.0.0.1:{tracking_port}"),
            ),
            (
                "KEFU__ORDER_TRACKING__LISTEN",
                &format!("127.0.0.1:{tracking_port}"),
            ),
            (
                "KEFU__CUSTOMER_REGISTRY__ENDPOINT",
                registry.endpoint().as_str(),
            ),
            ("KEFU__TELEMETRY__LOG_FORMAT", "json"),
            ("KEFU__REDIS__URL", redis.url().as_str()),
        ],
        Some(&tracking_log),
    )
    .await;
    logged(
        &registry_log,
        "consumer customer-registry.order-facts reads its stream again",
    )
    .await;
    // Start-up on migrated databases says nothing of tables that already exist.
    for log in [&registry_log, &tracking_log] {
        let noise: Vec<String> = messages(log)
            .into_iter()
            .filter(|m| m.contains("already exists"))
            .collect();
        assert!(noise.is_empty(), "{noise:#?}");
    }

    // Redis goes away while orders are read: one line from the probe, one from the breaker.
    let token = tracking.token.clone().unwrap();
    let customer = new_customer(&registry).await;
    let order = new_order(&tracking, &token, &customer).await;
    let orders =
        OrderTrackingServiceClient::with_interceptor(channel(&tracking).await, bearer(token));
    // Reads keep answering through the outage, from the database.
    let read = |mut orders: OrderTrackingServiceClient<_>| {
        let order = order.clone();
        async move {
            orders
                .get_order(opb::GetOrderRequest { order_id: order })
                .await
                .unwrap()
        }
    };
    redis.kill();
    for _ in 0..20 {
        read(orders.clone()).await;
    }
    logged(&tracking_log, "redis unreachable").await;
    logged(
        &tracking_log,
        "hot state breaker open: Redis calls failing, orders read from the database",
    )
    .await;
    // Probes and calls go on failing; nothing more is said.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for _ in 0..20 {
        read(orders.clone()).await;
    }
    assert_eq!(count(&tracking_log, "redis unreachable"), 1);
    assert_eq!(
        count(
            &tracking_log,
            "hot state breaker open: Redis calls failing, orders read from the database"
        ),
        1
    );

    redis.restart();
    logged(&tracking_log, "redis back").await;
    for _ in 0..50 {
        read(orders.clone()).await;
        if count(
            &tracking_log,
            "hot state breaker closed: Redis answers again",
        ) > 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    logged(
        &tracking_log,
        "hot state breaker closed: Redis answers again",
    )
    .await;
    assert_eq!(count(&tracking_log, "redis back"), 1);
    drop(registry);
}
