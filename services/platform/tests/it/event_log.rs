//! The event log on PostgreSQL: commit-ordered positions, exactly-once resumable reading,
//! and consumers whose effects survive being killed at any point.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kefu_platform::config::DatabaseSettings;
use kefu_platform::config::EventSettings;
use kefu_platform::db::Migrator;
use kefu_platform::events::{self, Consumer, EventHandler, EventLog};
use kefu_proto::common::Event;
use kefu_proto::customer::CustomerArchived;
use kefu_testkit::TestDatabase;
use rand::Rng as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio_util::sync::CancellationToken;

fn event_settings() -> EventSettings {
    EventSettings {
        relay_interval_ms: 20,
        stream_poll_ms: 50,
        stream_batch: 37,
        consumer_takeover_ms: 100,
        retention_days: 0,
    }
}

pub(crate) fn database_settings() -> DatabaseSettings {
    DatabaseSettings {
        // As a service's pool under the test kit: the shared PostgreSQL has 100 for all.
        max_connections: 8,
        acquire_timeout_ms: 5000,
        statement_timeout_ms: 10000,
    }
}

/// A connection to `db` with the platform's tables.
pub(crate) async fn migrated(db: &TestDatabase) -> DatabaseConnection {
    let conn = kefu_platform::db::connect(&db.url, &database_settings())
        .await
        .unwrap();
    Migrator::of::<kefu_migrations::EventLogMigrator>()
        .apply(&conn)
        .await
        .unwrap();
    conn
}

fn payload(n: usize) -> CustomerArchived {
    CustomerArchived {
        customer_id: format!("c{n}"),
    }
}

async fn commit_one(log: &EventLog, n: usize) {
    let txn = log.db().begin().await.unwrap();
    events::append(&txn, &format!("customers/c{n}"), &payload(n))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    log.committed();
}

/// Reads until `expected` events arrived, failing after `limit`.
async fn collect(log: &EventLog, after: u64, expected: usize, limit: Duration) -> Vec<Event> {
    let mut stream = Box::pin(log.stream(after, Default::default(), CancellationToken::new()));
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while out.len() < expected {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(event))) => out.push(event),
            Ok(other) => panic!("stream ended early: {other:?}"),
            Err(_) => panic!("only {} of {expected} events within {limit:?}", out.len()),
        }
    }
    out
}

fn assert_exactly_once_in_order(events: &[Event], expected_subjects: &HashSet<String>) {
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions not strictly increasing: {positions:?}"
    );
    let ids: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "an event arrived twice");
    let subjects: HashSet<String> = events.iter().map(|e| e.subject.clone()).collect();
    assert_eq!(&subjects, expected_subjects, "events missing or foreign");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_and_late_commits_reach_the_reader_once_in_position_order() {
    let db = TestDatabase::postgres().await.unwrap();
    let log = EventLog::new(
        migrated(&db).await,
        "customer-registry",
        &event_settings(),
        None,
    );
    let stop = CancellationToken::new();
    tokio::spawn(log.clone().run_relay(stop.clone()));

    // The late one takes the lowest id, then holds its transaction open while others commit.
    let late = log.db().begin().await.unwrap();
    events::append(&late, "customers/late", &payload(0))
        .await
        .unwrap();

    let reader = {
        let log = log.clone();
        tokio::spawn(async move { collect(&log, 0, 201, Duration::from_secs(30)).await })
    };
    let mut writers = Vec::new();
    for n in 1..=200 {
        let log = log.clone();
        writers.push(tokio::spawn(async move { commit_one(&log, n).await }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Let the relay position everything else before the late commit lands.
    tokio::time::sleep(Duration::from_millis(300)).await;
    late.commit().await.unwrap();
    log.committed();

    let events = reader.await.unwrap();
    let mut expected: HashSet<String> = (1..=200).map(|n| format!("customers/c{n}")).collect();
    expected.insert("customers/late".into());
    assert_exactly_once_in_order(&events, &expected);
    assert_eq!(
        events.last().unwrap().subject,
        "customers/late",
        "late commit gets a later position"
    );
    let payload = events[0].payload.as_ref().unwrap();
    assert_eq!(
        payload.type_url,
        "type.googleapis.com/kefu.customer.v1.CustomerArchived"
    );
    assert_eq!(events[0].source, "customer-registry");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_that_disconnects_at_random_points_gets_every_event_once() {
    let db = TestDatabase::postgres().await.unwrap();
    let log = EventLog::new(
        migrated(&db).await,
        "customer-registry",
        &event_settings(),
        None,
    );
    let stop = CancellationToken::new();
    tokio::spawn(log.clone().run_relay(stop.clone()));
    const TOTAL: usize = 400;
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for n in 0..TOTAL {
                commit_one(&log, n).await;
                if n % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    };

    let mut seen = Vec::new();
    let mut cursor = 0;
    let mut reconnects = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < TOTAL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} events",
            seen.len()
        );
        let take = rand::rng().random_range(1..=25);
        let mut stream = Box::pin(log.stream(cursor, Default::default(), CancellationToken::new()));
        for _ in 0..take {
            match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                Ok(Some(Ok(event))) => {
                    cursor = event.position;
                    seen.push(event);
                }
                Ok(other) => panic!("stream ended: {other:?}"),
                Err(_) => break,
            }
            if seen.len() == TOTAL {
                break;
            }
        }
        // Dropping the stream is the disconnect.
        drop(stream);
        reconnects += 1;
    }
    writer.await.unwrap();
    assert!(
        reconnects > 20,
        "the test should have reconnected often, did {reconnects}"
    );
    let expected: HashSet<String> = (0..TOTAL).map(|n| format!("customers/c{n}")).collect();
    assert_exactly_once_in_order(&seen, &expected);
    stop.cancel();
}

/// Records each event it is given in `test_effects`, then dawdles before the cursor is
/// written: the window in which the test kills it.
struct SlowEffect;

#[async_trait::async_trait]
impl EventHandler for SlowEffect {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        txn.execute_unprepared(&format!(
            "INSERT INTO test_effects (event_id) VALUES ('{}')",
            event.id
        ))
        .await?;
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok(())
    }
}

/// X-2: a fact another service needs arrives by event, its effect applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_killed_between_effect_and_ack_applies_each_effect_once() {
    let db = TestDatabase::postgres().await.unwrap();
    let conn = migrated(&db).await;
    conn.execute_unprepared("CREATE TABLE test_effects (event_id TEXT NOT NULL)")
        .await
        .unwrap();
    let log = EventLog::new(conn.clone(), "customer-registry", &event_settings(), None);
    let stop = CancellationToken::new();
    tokio::spawn(log.clone().run_relay(stop.clone()));
    const TOTAL: usize = 150;
    for n in 0..TOTAL {
        commit_one(&log, n).await;
    }
    let head = log.relay_once().await.unwrap();

    let consumer = Consumer::new("test-consumer", conn.clone(), &event_settings());
    let source: Arc<EventLog> = Arc::new(log.clone());
    let mut kills = 0;
    while consumer.cursor().await.unwrap() < head {
        let (consumer, source) = (consumer.clone(), source.clone());
        let task = tokio::spawn(async move {
            consumer
                .run(source.as_ref(), &SlowEffect, CancellationToken::new())
                .await;
        });
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(1..40))).await;
        task.abort();
        let _ = task.await;
        kills += 1;
        assert!(kills < 2000, "consumer made no progress");
    }
    assert!(
        kills > 3,
        "the consumer should have been killed mid-stream, was killed {kills} times"
    );

    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT event_id, COUNT(*) AS n FROM test_effects GROUP BY event_id",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), TOTAL, "every event applied");
    for row in rows {
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(n, 1, "an effect was applied {n} times");
    }
    stop.cancel();
}

#[tokio::test]
async fn the_log_works_the_same_on_sqlite() {
    let db = TestDatabase::sqlite().unwrap();
    let log = EventLog::new(
        migrated(&db).await,
        "customer-registry",
        &event_settings(),
        None,
    );
    let stop = CancellationToken::new();
    tokio::spawn(log.clone().run_relay(stop.clone()));
    for n in 0..120 {
        commit_one(&log, n).await;
    }
    let events = collect(&log, 0, 120, Duration::from_secs(20)).await;
    let expected: HashSet<String> = (0..120).map(|n| format!("customers/c{n}")).collect();
    assert_exactly_once_in_order(&events, &expected);
    let tail = collect(&log, events[59].position, 60, Duration::from_secs(5)).await;
    assert_eq!(
        tail[0].id, events[60].id,
        "resuming from a cursor starts right after it"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_wakes_readers_on_another_replica_before_their_poll() {
    wakes_readers_on_another_replica(
        kefu_platform::config::RedisSettings {
            url: kefu_platform::config::SecretUrl::new(kefu_testkit::redis_url()),
            mode: kefu_platform::config::RedisMode::Standalone,
            nodes: Vec::new(),
            sentinel_master: String::new(),
            replica_acks: 0,
            command_timeout_ms: 500,
            connect_timeout_ms: 1000,
            tls_ca_file: String::new(),
        },
        None,
    )
    .await;
}

/// The same through a Redis that speaks only TLS and knows only an ACL user.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_over_tls_wakes_readers_on_another_replica() {
    let server = kefu_testkit::redis_server::RedisServer::start_tls();
    wakes_readers_on_another_replica(
        kefu_platform::config::RedisSettings {
            url: kefu_platform::config::SecretUrl::new(server.url()),
            mode: kefu_platform::config::RedisMode::Standalone,
            nodes: Vec::new(),
            sentinel_master: String::new(),
            replica_acks: 0,
            command_timeout_ms: 500,
            connect_timeout_ms: 1000,
            tls_ca_file: server.ca_file().unwrap().display().to_string(),
        },
        None,
    )
    .await;
}

async fn wakes_readers_on_another_replica(
    redis_settings: kefu_platform::config::RedisSettings,
    fail_over: Option<Box<dyn FnOnce() + Send>>,
) {
    let db = TestDatabase::postgres().await.unwrap();
    let conn = migrated(&db).await;
    // A source of its own keeps other tests' announcements off this channel.
    let source: &'static str =
        Box::leak(format!("wakeup-test-{}", uuid::Uuid::new_v4()).into_boxed_str());
    // Polls so slow that only a wake-up can deliver within the test's deadline.
    let slow = EventSettings {
        relay_interval_ms: 60_000,
        stream_poll_ms: 60_000,
        stream_batch: 100,
        consumer_takeover_ms: 60_000,
        retention_days: 0,
    };
    let replica = |conn| {
        let redis = kefu_platform::redis::RedisHandle::open(&redis_settings).unwrap();
        EventLog::new(conn, source, &slow, redis)
    };
    let writer = replica(conn.clone());
    let reader = replica(conn.clone());
    let stop = CancellationToken::new();
    tokio::spawn(writer.clone().run_relay(stop.clone()));
    tokio::spawn(reader.clone().run_wakeups(stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await; // the subscription is in place

    let mut stream = Box::pin(reader.stream(0, Default::default(), CancellationToken::new()));
    let (delivered, mut received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            if delivered.send(event).is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await; // the reader is waiting
    commit_one(&writer, 1).await;
    let event = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("woken by the other replica's announcement, not by a 60 s poll")
        .unwrap()
        .unwrap();
    assert_eq!(event.subject, "customers/c1");

    if let Some(fail_over) = fail_over {
        // The subscription and the publisher's connection both die with the master.
        tokio::task::spawn_blocking(fail_over).await.unwrap();
        // Announcements made while the reader subscribes again are lost, as wake-ups may
        // be: a new event each second until one wakes it, long before its 60 s poll.
        let mut woken = None;
        for n in 2..20 {
            commit_one(&writer, n).await;
            if let Ok(event) = tokio::time::timeout(Duration::from_secs(1), received.recv()).await {
                woken = event;
                break;
            }
        }
        let event = woken.expect("woken after the failover").unwrap();
        assert!(event.subject.starts_with("customers/c"), "{event:?}");
    }
    stop.cancel();
}

fn settings_for(
    url: String,
    mode: kefu_platform::config::RedisMode,
    nodes: Vec<String>,
    sentinel_master: &str,
    ca_file: Option<std::path::PathBuf>,
) -> kefu_platform::config::RedisSettings {
    kefu_platform::config::RedisSettings {
        url: kefu_platform::config::SecretUrl::new(url),
        mode,
        nodes,
        sentinel_master: sentinel_master.to_owned(),
        replica_acks: 1,
        command_timeout_ms: 500,
        connect_timeout_ms: 1000,
        tls_ca_file: ca_file.map(|f| f.display().to_string()).unwrap_or_default(),
    }
}

/// The same through a Redis Cluster that speaks only TLS and knows only an ACL user: a
/// PUBLISH on any node reaches a subscriber on any other; the subscriber's node killed, it
/// listens at the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_cluster_over_tls_wakes_readers_on_another_replica_through_a_failover() {
    let cluster = kefu_testkit::redis_cluster::RedisCluster::start_tls();
    let settings = settings_for(
        cluster.url(),
        kefu_platform::config::RedisMode::Cluster,
        cluster.other_nodes(),
        "",
        cluster.ca_file(),
    );
    // The node subscribers listen at first.
    let port: u16 = cluster.url().rsplit_once(':').unwrap().1.parse().unwrap();
    // The test keeps the cluster alive past the failover it hands over.
    let kept = std::sync::Arc::new(std::sync::Mutex::new(cluster));
    let cluster = kept.clone();
    wakes_readers_on_another_replica(
        settings,
        Some(Box::new(move || {
            let mut cluster = cluster.lock().unwrap();
            cluster.kill(port);
            cluster.wait_until_served_without(port);
        })),
    )
    .await;
    drop(kept);
}

/// The same through sentinels, every process speaking only TLS and the data nodes knowing
/// only an ACL user: the master killed, both sides follow the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinels_over_tls_wake_readers_on_another_replica_through_a_failover() {
    let sentinels = kefu_testkit::redis_cluster::RedisSentinels::start_tls();
    let settings = settings_for(
        sentinels.url(),
        kefu_platform::config::RedisMode::Sentinel,
        sentinels.other_sentinels(),
        kefu_testkit::redis_cluster::SENTINEL_MASTER,
        sentinels.ca_file(),
    );
    let kept = std::sync::Arc::new(std::sync::Mutex::new(sentinels));
    let sentinels = kept.clone();
    wakes_readers_on_another_replica(
        settings,
        Some(Box::new(move || {
            let mut sentinels = sentinels.lock().unwrap();
            sentinels.kill_master();
            sentinels.wait_failed_over();
        })),
    )
    .await;
    drop(kept);
}

/// Counts each event it is given under the replica's name in `test_applied`.
struct CountAs(&'static str);

#[async_trait::async_trait]
impl EventHandler for CountAs {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        txn.execute_unprepared(&format!(
            "INSERT INTO test_applied (position, replica) VALUES ({}, '{}')",
            event.position, self.0
        ))
        .await?;
        Ok(())
    }
}

/// The table `CountAs` writes each applied event to.
async fn applied_table(conn: &DatabaseConnection) {
    conn.execute_unprepared(
        "CREATE TABLE test_applied (position BIGINT NOT NULL, replica TEXT NOT NULL)",
    )
    .await
    .unwrap();
}

/// Events at positions 1 to `n`, as a stream would deliver them.
fn numbered(n: u64) -> Vec<Event> {
    (1..=n)
        .map(|position| Event {
            id: format!("e{position}"),
            position,
            ..Default::default()
        })
        .collect()
}

async fn applied(conn: &DatabaseConnection) -> Vec<(i64, String)> {
    conn.query_all_raw(sea_orm::Statement::from_string(
        conn.get_database_backend(),
        "SELECT position, replica FROM test_applied ORDER BY position",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.try_get("", "position").unwrap(),
            r.try_get("", "replica").unwrap(),
        )
    })
    .collect()
}

async fn wait_for_applied(
    conn: &DatabaseConnection,
    count: usize,
    limit: Duration,
) -> Vec<(i64, String)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let rows = applied(conn).await;
        if rows.len() >= count || tokio::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two copies of one consumer that start together, before its cursor row exists, must not
/// both apply the first events: the row is made before it is locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_consumers_of_one_name_started_together_count_each_event_once() {
    let db = TestDatabase::postgres().await.unwrap();
    let conn = migrated(&db).await;
    applied_table(&conn).await;
    let events = numbered(5);
    // Many names, so the race on the first event is run many times.
    for round in 0..20 {
        let name = format!("together-{round}");
        let replicas: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|replica| {
                let consumer = Consumer::new(name.clone(), conn.clone(), &event_settings());
                let events = events.clone();
                tokio::spawn(async move {
                    for event in &events {
                        consumer.apply(&CountAs(replica), event).await.unwrap();
                    }
                })
            })
            .collect();
        for replica in replicas {
            replica.await.unwrap();
        }
        conn.execute_unprepared("UPDATE test_applied SET replica = 'done' WHERE replica <> 'done'")
            .await
            .unwrap();
    }
    let rows = applied(&conn).await;
    assert_eq!(
        rows.len(),
        20 * events.len(),
        "each event once per round: {rows:?}"
    );
}

/// Refuses the event at one position, as a handler meeting a fault would.
struct FailAt(u64);

#[async_trait::async_trait]
impl EventHandler for FailAt {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        anyhow::ensure!(event.position != self.0, "refused {}", event.position);
        CountAs("burst").handle(txn, event).await
    }
}

/// X-2: a burst applied in one transaction commits all its effects with the cursor at its last
/// event, or none of them; events the cursor already passed are skipped.
#[tokio::test]
async fn a_burst_of_events_applies_all_or_nothing_with_its_cursor() {
    let db = TestDatabase::postgres().await.unwrap();
    let conn = migrated(&db).await;
    applied_table(&conn).await;
    let events = numbered(6);
    let consumer = Consumer::new("burst", conn.clone(), &event_settings());

    assert!(
        consumer.apply_all(&FailAt(3), &events[..4]).await.is_err(),
        "the third event's fault fails the burst"
    );
    assert!(
        applied(&conn).await.is_empty(),
        "no effect of a failed burst"
    );
    assert_eq!(consumer.cursor().await.unwrap(), 0);

    assert_eq!(
        consumer.apply_all(&FailAt(0), &events[..4]).await.unwrap(),
        4
    );
    assert_eq!(consumer.cursor().await.unwrap(), 4);
    // A replay overlapping what was applied applies only what is new.
    assert_eq!(
        consumer.apply_all(&FailAt(0), &events[2..]).await.unwrap(),
        2
    );
    assert_eq!(
        consumer.apply_all(&FailAt(0), &events[..]).await.unwrap(),
        0
    );
    let positions: Vec<i64> = applied(&conn).await.into_iter().map(|(p, _)| p).collect();
    assert_eq!(positions, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(consumer.cursor().await.unwrap(), 6);
}

/// One replica per consumer name reads the stream; when it dies, another takes over within
/// the takeover interval and goes on from the cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_replica_holds_a_consumer_and_another_takes_over_when_it_dies() {
    let db = TestDatabase::postgres().await.unwrap();
    let conn = migrated(&db).await;
    applied_table(&conn).await;
    let log = EventLog::new(conn.clone(), "lease-test", &event_settings(), None);
    let relay_stop = CancellationToken::new();
    tokio::spawn(log.clone().run_relay(relay_stop.clone()));

    // Each replica has its own pool, as separate processes would.
    let replica = |name: &'static str| {
        let db_url = db.url.clone();
        let log = log.clone();
        let stop = CancellationToken::new();
        let task_stop = stop.clone();
        let task = tokio::spawn(async move {
            let own = kefu_platform::db::connect(&db_url, &database_settings())
                .await
                .unwrap();
            Consumer::new("leased", own, &event_settings())
                .run(&log, &CountAs(name), task_stop)
                .await;
        });
        (stop, task)
    };
    let (first_stop, first) = replica("first");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (second_stop, second) = replica("second");
    for n in 0..20 {
        commit_one(&log, n).await;
    }
    let rows = wait_for_applied(&conn, 20, Duration::from_secs(10)).await;
    assert_eq!(rows.len(), 20);
    assert!(
        rows.iter().all(|(_, replica)| replica == "first"),
        "only the lease holder reads the stream: {rows:?}"
    );

    // The holder's connection dies under it: the lease goes with it.
    let key = kefu_platform::db::advisory_key("kefu.consumer.leased");
    conn.execute_unprepared(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
         AND ((classid::bigint << 32) | objid::bigint) = {key}"
    ))
    .await
    .unwrap();
    first_stop.cancel();
    first.await.unwrap();
    let died = tokio::time::Instant::now();
    for n in 20..40 {
        commit_one(&log, n).await;
    }
    let rows = wait_for_applied(&conn, 40, Duration::from_secs(10)).await;
    assert!(
        died.elapsed() < Duration::from_secs(5),
        "taken over in {:?}",
        died.elapsed()
    );
    let positions: HashSet<i64> = rows.iter().map(|(p, _)| *p).collect();
    assert_eq!(rows.len(), 40, "each event applied once: {rows:?}");
    assert_eq!(positions.len(), 40);
    assert!(
        rows[20..].iter().all(|(_, replica)| replica == "second"),
        "the survivor took over: {rows:?}"
    );
    second_stop.cancel();
    second.await.unwrap();
    relay_stop.cancel();
}

/// Live readers continue from the relay's shared batch. With Redis waking replicas, the
/// relay hears its own announcement too: sent before the batch was shared, it woke every
/// reader to query the log for what the relay was about to hand them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_readers_take_the_relays_batch_instead_of_querying() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const READERS: usize = 20;
    const EVENTS: usize = 30;
    let db = TestDatabase::postgres().await.unwrap();
    let mut conn = migrated(&db).await;
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = reads.clone();
    conn.set_metric_callback(move |query| {
        let sql = &query.statement.sql;
        if sql.starts_with("SELECT") && sql.contains(r#"FROM "kefu_outbox" WHERE "position" >"#) {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    let redis = kefu_platform::redis::RedisHandle::open(&kefu_platform::config::RedisSettings {
        url: kefu_platform::config::SecretUrl::new(kefu_testkit::redis_url()),
        mode: kefu_platform::config::RedisMode::Standalone,
        nodes: Vec::new(),
        sentinel_master: String::new(),
        replica_acks: 0,
        command_timeout_ms: 1000,
        connect_timeout_ms: 1000,
        tls_ca_file: String::new(),
    })
    .unwrap();
    let source = format!("wake-test-{}", uuid::Uuid::new_v4().simple());
    let log = EventLog::new(conn, source.leak(), &event_settings(), redis);
    let stop = CancellationToken::new();
    tokio::spawn(log.clone().run_relay(stop.clone()));
    tokio::spawn(log.clone().run_wakeups(stop.clone()));
    // The wake-up subscription is in place once an announcement comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move { collect(&log, 0, EVENTS, Duration::from_secs(20)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at_start = reads.load(Ordering::Relaxed);
    for n in 0..EVENTS {
        commit_one(&log, n).await;
        // One relay pass each, so that each pass is a chance to wake readers early.
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    for reader in readers {
        assert_eq!(reader.await.unwrap().len(), EVENTS);
    }
    stop.cancel();
    // The relay reads each pass's batch once to share it; readers need not read at all.
    let after_start = reads.load(Ordering::Relaxed) - at_start;
    assert!(
        after_start <= 2 * EVENTS,
        "{after_start} reads of the log for {EVENTS} events relayed to {READERS} live readers"
    );
}
