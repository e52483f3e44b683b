//! X-1 over time: request_id records and events past their retention are pruned in batches,
//! never the newest event (positions count on from it), and a reader whose events were pruned
//! is refused rather than moved past them. On PostgreSQL and SQLite.

use futures::StreamExt as _;
use kefu_platform::config::{EventSettings, HousekeepingSettings};
use kefu_platform::events::{self, EventLog, StreamError};
use kefu_platform::housekeeping::{Pruned, prune};
use kefu_platform::idempotency::{self, Claim};
use kefu_proto::customer::CustomerArchived;
use kefu_testkit::{Backend, TestDatabase};
use sea_orm::sea_query::ExprTrait as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement, TransactionTrait as _};
use tokio_util::sync::CancellationToken;

use crate::event_log::migrated;

fn housekeeping(batch: u64) -> HousekeepingSettings {
    HousekeepingSettings {
        interval_s: 600,
        idempotency_retention_h: 72,
        batch,
    }
}

fn kept_for(days: u64) -> EventSettings {
    EventSettings {
        relay_interval_ms: 20,
        stream_poll_ms: 50,
        stream_batch: 100,
        consumer_takeover_ms: 100,
        retention_days: days,
    }
}

async fn set(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// `n` request_id records made `age_h` hours ago.
async fn records(db: &DatabaseConnection, prefix: &str, n: usize, age: chrono::Duration) {
    for i in 0..n {
        let txn = db.begin().await.unwrap();
        let id = format!("{prefix}-{i}");
        assert_eq!(
            idempotency::claim(&txn, "test/Write", &id, "f")
                .await
                .unwrap(),
            Claim::New
        );
        idempotency::record(&txn, "test/Write", &id, b"answer")
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
    let at = chrono::Utc::now() - age;
    let update = sea_orm::sea_query::Query::update()
        .table("kefu_idempotency")
        .value("created_at", at)
        .and_where(sea_orm::sea_query::Expr::col("request_id").like(format!("{prefix}-%")))
        .to_owned();
    db.execute(&update).await.unwrap();
}

async fn idempotency_records_expire_and_are_pruned_in_batches(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = migrated(&database).await;
    records(&db, "old", 5, chrono::Duration::hours(73)).await;
    records(&db, "new", 2, chrono::Duration::hours(71)).await;
    let pruned = prune(&db, &housekeeping(2), &kept_for(0), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        pruned,
        Pruned {
            idempotency_records: 5,
            events: 0
        },
        "five past 72 h, in batches of two"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM kefu_idempotency").await, 2);
    // A retry of a pruned id is a new request; one of a kept id still replays.
    let txn = db.begin().await.unwrap();
    assert_eq!(
        idempotency::claim(&txn, "test/Write", "old-0", "f")
            .await
            .unwrap(),
        Claim::New
    );
    assert_eq!(
        idempotency::claim(&txn, "test/Write", "new-0", "f")
            .await
            .unwrap(),
        Claim::Replay(b"answer".to_vec())
    );
}
kefu_testkit::on_both!(idempotency_records_expire_and_are_pruned_in_batches);

async fn events_past_their_retention_are_pruned_and_their_readers_refused(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = migrated(&database).await;
    let log = EventLog::new(db.clone(), "housekeeping-test", &kept_for(7), None);
    for n in 0..6 {
        let txn = db.begin().await.unwrap();
        events::append(
            &txn,
            &format!("customers/c{n}"),
            &CustomerArchived {
                customer_id: format!("c{n}"),
            },
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
    }
    assert_eq!(log.relay_once().await.unwrap(), 6);
    // Positions 1-4 are eight days old; 5 is too, but the newest must stay; 6 is new. An
    // event not yet positioned is never pruned, however old.
    let old = chrono::Utc::now() - chrono::Duration::days(8);
    let update = sea_orm::sea_query::Query::update()
        .table("kefu_outbox")
        .value("occurred_at", old)
        .and_where(sea_orm::sea_query::Expr::col("position").lte(5))
        .to_owned();
    db.execute(&update).await.unwrap();
    set(
        &db,
        "UPDATE kefu_outbox SET position = NULL WHERE position = 6",
    )
    .await;
    let pruned = prune(&db, &housekeeping(3), &kept_for(7), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        pruned.events, 4,
        "positions 1 to 4; 5 is the newest positioned"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM kefu_outbox").await, 2);
    assert_eq!(log.relay_once().await.unwrap(), 6, "positions go on from 5");
    assert_eq!(log.oldest_kept().await.unwrap(), Some(5));

    // A reader that had read up to 2 lost 3 and 4: refused, not moved past them.
    let mut behind = Box::pin(log.stream(2, Default::default(), CancellationToken::new()));
    match behind.next().await {
        Some(Err(StreamError::Pruned {
            after: 2,
            oldest: 5,
        })) => {}
        other => panic!("expected the pruned events named: {other:?}"),
    }
    let status = tonic::Status::from(StreamError::Pruned {
        after: 2,
        oldest: 5,
    });
    assert_eq!(status.code(), tonic::Code::OutOfRange);
    // One that had read up to 4 lost nothing.
    let mut current = Box::pin(log.stream(4, Default::default(), CancellationToken::new()));
    let next = current.next().await.unwrap().unwrap();
    assert_eq!(next.position, 5);
}
kefu_testkit::on_both!(events_past_their_retention_are_pruned_and_their_readers_refused);
