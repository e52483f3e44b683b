//! Start and stop: the embedded default comes up on its own, PostgreSQL needs `kefu migrate`
//! first, and SIGTERM turns health to NOT_SERVING before in-flight calls finish, which succeed.

use std::time::Duration;

use kefu_proto::customer as pb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_testkit::TestDatabase;
use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::process::{Server, kefu};

async fn health(endpoint: &str) -> Result<i32, tonic::Status> {
    // A fresh connection each time, as a load balancer's probe makes.
    let channel = Channel::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let request = HealthCheckRequest {
        service: "kefu.customer.v1.CustomerRegistryService".into(),
    };
    Ok(HealthClient::new(channel)
        .check(request)
        .await?
        .into_inner()
        .status)
}

#[tokio::test]
async fn the_embedded_default_migrates_itself_and_serves_from_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]).await;
    println!("embedded default ready after {:?}", server.started_in);
    assert_eq!(
        health(&server.endpoint()).await.unwrap(),
        ServingStatus::Serving as i32
    );
    assert!(
        dir.path().join("data/customer-registry.db").exists(),
        "SQLite file under ./data"
    );
    assert!(server.token.is_some(), "a development token is printed");
}

#[tokio::test]
async fn postgres_is_migrated_by_kefu_migrate_never_at_start() {
    let db = TestDatabase::postgres().await.unwrap();
    let orders = TestDatabase::postgres().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("KEFU__CUSTOMER_REGISTRY__DATABASE_URL", db.url.expose()),
        ("KEFU__ORDER_TRACKING__DATABASE_URL", orders.url.expose()),
    ];
    let refused = kefu()
        .args(["serve", "--service", "customer-registry"])
        .env("KEFU__CUSTOMER_REGISTRY__LISTEN", "127.0.0.1:0")
        .envs(env)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("kefu migrate --service customer-registry"),
        "{stderr}"
    );

    // The services without a database here migrate their SQLite defaults, in the test's
    // own directory.
    let migrated = kefu()
        .args(["migrate", "--service", "all"])
        .envs(env)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(
        String::from_utf8_lossy(&migrated.stdout)
            .contains("applied m0001_event_log, m0001_customers")
    );
    let again = kefu()
        .args(["migrate", "--service", "customer-registry"])
        .envs(env)
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
}

#[tokio::test]
async fn sigterm_says_not_serving_first_and_lets_in_flight_calls_finish() {
    let db = TestDatabase::postgres().await.unwrap();
    let env = [("KEFU__CUSTOMER_REGISTRY__DATABASE_URL", db.url.expose())];
    let migrated = kefu()
        .args(["migrate", "--service", "customer-registry"])
        .envs(env)
        .output()
        .await
        .unwrap();
    assert!(migrated.status.success());
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &["--service", "customer-registry"],
        &[env[0], ("KEFU__CUSTOMER_REGISTRY__LISTEN", "127.0.0.1:0")],
    )
    .await;
    assert_eq!(
        health(&server.endpoint()).await.unwrap(),
        ServingStatus::Serving as i32
    );

    // Hold the customers table so a create stays in flight until the test lets it go.
    let conn = db.connect().await;
    let lock = conn.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let token = server.token.clone().unwrap();
    let channel = Channel::from_shared(server.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = CustomerRegistryServiceClient::with_interceptor(
        channel,
        move |mut r: tonic::Request<()>| {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            Ok(r)
        },
    );
    let mut follower = client.clone();
    let mut live = follower
        .stream_events(pb::StreamEventsRequest {
            after_position: 0,
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    let in_flight = tokio::spawn(async move {
        let customer = pb::Customer {
            kind: pb::CustomerKind::Personal as i32,
            display_name: "In Flight".into(),
            phone: "13812345678".into(),
            ..Default::default()
        };
        client
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: String::new(),
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.is_finished(), "the create waits on the lock");

    server.signal("TERM");
    let mut status = health(&server.endpoint()).await;
    for _ in 0..50 {
        if status
            .as_ref()
            .is_ok_and(|s| *s == ServingStatus::NotServing as i32)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = health(&server.endpoint()).await;
    }
    assert_eq!(
        status.unwrap(),
        ServingStatus::NotServing as i32,
        "health flips while the call is still in flight"
    );
    assert!(
        !in_flight.is_finished(),
        "NOT_SERVING came before the in-flight call finished"
    );

    lock.rollback().await.unwrap();
    let created = in_flight
        .await
        .unwrap()
        .expect("the in-flight call succeeds")
        .into_inner();
    assert_eq!(created.display_name, "In Flight");

    // A live stream ends when the drain starts, telling its reader to resume elsewhere,
    // instead of holding the process until the drain times out.
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match futures::StreamExt::next(&mut live).await {
                Some(Ok(_)) => continue,
                Some(Err(status)) => return Some(status.code()),
                None => return None,
            }
        }
    })
    .await
    .expect("the live stream ends with the drain");
    assert_eq!(ended, Some(tonic::Code::Unavailable));
    let exit = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        exit.success(),
        "kefu exits cleanly after draining: {exit:?}"
    );
}

#[tokio::test]
async fn a_jwks_file_that_cannot_be_read_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("jwks.json");
    let refused = kefu()
        .args(["serve", "--service", "staff-kpi"])
        .env("KEFU__STAFF_KPI__LISTEN", "127.0.0.1:0")
        .env("KEFU__AUTH__JWKS_FILE", &missing)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("auth.jwks_file"), "{stderr}");
}

/// `kefu` commands read `[tls]` as the server does: with the suite's CA and a certificate of
/// it they reach a server that speaks only mutual TLS; without, they do not.
#[tokio::test]
async fn the_cli_reaches_a_server_that_speaks_only_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    kefu_testkit::certificates::make(dir.path());
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let tls = [
        ("KEFU__TLS__CERT_FILE", cert.as_str()),
        ("KEFU__TLS__KEY_FILE", key.as_str()),
        ("KEFU__TLS__CLIENT_CA_FILE", ca.as_str()),
        ("KEFU__TLS__CA_FILE", ca.as_str()),
    ];
    let server = Server::start(dir.path(), &["--service", "customer-registry"], &tls).await;
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let create = |with_tls: bool| {
        let mut command = kefu();
        command
            .args([
                "customers",
                "create",
                "--kind",
                "personal",
                "--name",
                "Over TLS",
                "--phone",
                "13812345678",
                "--json",
            ])
            .env("KEFU_ENDPOINT", format!("https://localhost:{port}"))
            .current_dir(dir.path());
        if with_tls {
            command.envs(tls);
        }
        command.output()
    };
    let made = create(true).await.unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let refused = create(false).await.unwrap();
    assert!(
        !refused.status.success(),
        "without the CA and a certificate the CLI does not get in"
    );
}
