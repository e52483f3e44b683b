//! request_id claims on PostgreSQL: concurrent retries make one change.

use std::sync::Arc;

use kefu_platform::idempotency::{self, Claim, IdempotencyError};
use kefu_testkit::TestDatabase;
use sea_orm::{ConnectionTrait, TransactionTrait};

/// a request retried, however often and at once, is recorded once and answered the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_id_make_one_change_and_replay_its_answer() {
    let db = TestDatabase::postgres().await.unwrap();
    let conn = crate::event_log::migrated(&db).await;
    conn.execute_unprepared("CREATE TABLE test_changes (n INT)")
        .await
        .unwrap();
    let conn = Arc::new(conn);

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            let txn = conn.begin().await.unwrap();
            match idempotency::claim(&txn, "Create:alice", "req-1", "hash-a")
                .await
                .unwrap()
            {
                Claim::New => {
                    txn.execute_unprepared("INSERT INTO test_changes VALUES (1)")
                        .await
                        .unwrap();
                    // Hold the claim a moment so the others really wait on it.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    idempotency::record(&txn, "Create:alice", "req-1", b"answer")
                        .await
                        .unwrap();
                    txn.commit().await.unwrap();
                    b"answer".to_vec()
                }
                Claim::Replay(bytes) => bytes,
            }
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), b"answer");
    }
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM test_changes",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);

    let txn = conn.begin().await.unwrap();
    let err = idempotency::claim(&txn, "Create:alice", "req-1", "hash-b")
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Mismatch));
    let txn2 = conn.begin().await.unwrap();
    assert_eq!(
        idempotency::claim(&txn2, "Create:bob", "req-1", "hash-b")
            .await
            .unwrap(),
        Claim::New,
        "another caller's id space is its own"
    );
}
