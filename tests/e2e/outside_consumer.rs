//! another company system follows customer-registry's stream over gRPC with the
//! platform's consumer, is killed at random points, and still applies every event exactly
//! once, in order.

use std::sync::Arc;
use std::time::Duration;

use kefu_platform::auth::Role;
use kefu_platform::db::Migrator;
use kefu_platform::events::{Consumer, EventHandler, RemoteEvents};
use kefu_proto::common::Event;
use kefu_proto::customer as pb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_testkit::TestDatabase;
use kefu_tests::Suite;
use rand::Rng as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, Statement};
use tokio_util::sync::CancellationToken;

struct RecordCustomer;

#[async_trait::async_trait]
impl EventHandler for RecordCustomer {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "INSERT INTO seen (position, subject) VALUES ($1, $2)",
            [(event.position as i64).into(), event.subject.clone().into()],
        ))
        .await?;
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(())
    }
}

async fn seen(db: &DatabaseConnection) -> Vec<(i64, String)> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT position, subject FROM seen ORDER BY position",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.try_get("", "position").unwrap(),
            r.try_get("", "subject").unwrap(),
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outside_system_applies_every_customer_event_once_across_its_own_crashes() {
    let suite = Suite::on_postgres().await.unwrap();
    // The outside system keeps its own database.
    let own = TestDatabase::postgres().await.unwrap();
    let db = own.connect().await;
    // Its cursor lives in the platform's tables, made as in any Kefu service.
    Migrator::of::<kefu_migrations::EventLogMigrator>()
        .apply(&db)
        .await
        .unwrap();
    db.execute_unprepared("CREATE TABLE seen (position BIGINT NOT NULL, subject TEXT NOT NULL)")
        .await
        .unwrap();

    let writer = {
        let mut client = CustomerRegistryServiceClient::new(suite.channel(Role::Manager).unwrap());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..60 {
                let customer = pb::Customer {
                    kind: pb::CustomerKind::Personal as i32,
                    display_name: format!("Customer {n}"),
                    phone: "13812345678".into(),
                    ..Default::default()
                };
                let request = pb::CreateCustomerRequest {
                    customer: Some(customer),
                    request_id: format!("journey-{n}"),
                };
                ids.push(
                    client
                        .create_customer(request)
                        .await
                        .unwrap()
                        .into_inner()
                        .id,
                );
            }
            ids
        })
    };

    let source = Arc::new(
        RemoteEvents::new(
            suite.channel(Role::Service).unwrap(),
            "kefu.customer.v1.CustomerRegistryService",
        )
        .unwrap(),
    );
    let consumer = Consumer::new("outside-system", db.clone(), &suite.settings.events);
    let mut crashes = 0;
    let ids = loop {
        let (consumer, source) = (consumer.clone(), source.clone());
        let task = tokio::spawn(async move {
            consumer
                .run(source.as_ref(), &RecordCustomer, CancellationToken::new())
                .await
        });
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(5..60))).await;
        task.abort();
        let _ = task.await;
        crashes += 1;
        if writer.is_finished() && seen(&db).await.len() >= 60 {
            break writer.await.unwrap();
        }
        assert!(crashes < 3000, "no progress");
    };
    let seen = seen(&db).await;
    assert_eq!(seen.len(), 60, "every CustomerCreated applied exactly once");
    let subjects: Vec<String> = seen.iter().map(|(_, s)| s.clone()).collect();
    let expected: Vec<String> = ids.iter().map(|id| format!("customers/{id}")).collect();
    assert_eq!(subjects, expected, "in the order they were created");
    assert!(crashes > 3, "the consumer crashed {crashes} times");
}
