//! OT-12 against a real Redis: killed and restarted during a run of moves, nothing
//! acknowledged is lost, no read fails, and Redis ends equal to PostgreSQL; racing writers
//! never leave Redis older than PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kefu_platform::hot::{HotEntry, HotStore, RedisHotStore};
use kefu_proto::order as pb;
use sea_orm::ConnectionTrait as _;

use crate::support::{
    App, Backend, Hot, create, handover, move_to, order, redis_handle, spawn_with,
};
use kefu_testkit::redis_cluster::{RedisCluster, RedisSentinels, SENTINEL_MASTER};
use kefu_testkit::redis_server::RedisServer;

/// Takes an acknowledged answer; its version must be above the last one.
fn step(version: &mut i64, answer: Result<tonic::Response<pb::Order>, tonic::Status>, what: &str) {
    let order = answer
        .unwrap_or_else(|s| panic!("{what} failed: {s:?}"))
        .into_inner();
    assert!(order.version > *version, "acknowledged versions only grow");
    *version = order.version;
}

/// Every order's version in PostgreSQL.
async fn database_versions(app: &App) -> HashMap<String, i64> {
    app.orders_db
        .query_all_raw(sea_orm::Statement::from_string(
            app.orders_db.get_database_backend(),
            "SELECT id, version FROM orders",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "version").unwrap(),
            )
        })
        .collect()
}

/// Orders Redis holds at a version other than PostgreSQL's, and orders it does not hold.
async fn differences(app: &App, redis: &RedisHotStore) -> (Vec<String>, Vec<String>) {
    let (mut stale, mut missing) = (Vec::new(), Vec::new());
    for (id, version) in database_versions(app).await {
        match redis.get(&kefu_order_tracking::store::hot::key(&id)).await {
            Ok(Some(entry)) if entry.version == version => {}
            Ok(Some(_)) => stale.push(id),
            _ => missing.push(id),
        }
    }
    (stale, missing)
}

/// Waits for background repairs; returns the orders still stale in Redis.
async fn converge(app: &App, redis: &RedisHotStore) -> Vec<String> {
    let mut stale = Vec::new();
    for _ in 0..100 {
        stale = differences(app, redis).await.0;
        if stale.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stale
}

const ORDERS: usize = 250;
const WORKERS: usize = 16;
/// Lifecycle moves per order: VERIFIED, PICKING, PACKED, DISPATCHED, IN_TRANSIT, ARRIVED,
/// OUT_FOR_DELIVERY, and DELIVERED by handover: 2,000 moves in all.
const MOVES_PER_ORDER: usize = 8;

/// WORKERS clients carry `ids` through the lifecycle to their handover, each reading its
/// order after every move from dispatch on: a read older than an acknowledged move fails the
/// test. Each worker answers the last acknowledged version of its orders.
async fn carry(
    app: &App,
    ids: &[String],
    moves: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<HashMap<String, i64>>> {
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let mine: Vec<String> = ids.iter().skip(w).step_by(WORKERS).cloned().collect();
        let mut client = app.orders().await;
        let moves = moves.clone();
        workers.push(tokio::spawn(async move {
            let mut acknowledged = HashMap::new();
            for id in mine {
                let mut version = 0;
                for state in [pb::OrderState::Verified, pb::OrderState::Picking] {
                    step(
                        &mut version,
                        client.move_order(move_to(&id, state)).await,
                        "move",
                    );
                    moves.fetch_add(1, Ordering::Relaxed);
                }
                let pick = pb::RecordPickRequest {
                    order_id: id.clone(),
                    pick_lines: vec![pb::PickLine {
                        line_number: 0,
                        pieces_picked: 3,
                        ..Default::default()
                    }],
                    request_id: String::new(),
                };
                step(&mut version, client.record_pick(pick).await, "pick");
                let pack = pb::RecordPackingRequest {
                    order_id: id.clone(),
                    packages: vec![pb::Package {
                        package_id: "P1".into(),
                        line_numbers: vec![0],
                        weight_grams: 12_500,
                    }],
                    request_id: String::new(),
                };
                step(&mut version, client.record_packing(pack).await, "packing");
                for state in [
                    pb::OrderState::Packed,
                    pb::OrderState::Dispatched,
                    pb::OrderState::InTransit,
                    pb::OrderState::Arrived,
                    pb::OrderState::OutForDelivery,
                ] {
                    step(
                        &mut version,
                        client.move_order(move_to(&id, state)).await,
                        "move",
                    );
                    moves.fetch_add(1, Ordering::Relaxed);
                    // Read your own write, through Redis or around it.
                    let read = client
                        .get_order(pb::GetOrderRequest {
                            order_id: id.clone(),
                        })
                        .await;
                    let read = read
                        .unwrap_or_else(|s| panic!("read failed: {s:?}"))
                        .into_inner();
                    assert!(
                        read.version >= version,
                        "a read returned state older than an acknowledged move"
                    );
                }
                let delivered = pb::RecordHandoverRequest {
                    order_id: id.clone(),
                    handover: Some(handover()),
                    request_id: String::new(),
                };
                step(
                    &mut version,
                    client.record_handover(delivered).await,
                    "handover",
                );
                moves.fetch_add(1, Ordering::Relaxed);
                acknowledged.insert(id, version);
            }
            acknowledged
        }));
    }

    workers
}

/// Returns once `moves` reached `n`.
async fn reach(moves: &AtomicUsize, n: usize) {
    while moves.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// ORDERS orders of one customer, created.
async fn orders(app: &App) -> Vec<String> {
    let customer = app.customer().await;
    let mut ids = Vec::new();
    let mut client = app.orders().await;
    for _ in 0..ORDERS {
        ids.push(
            client
                .create_order(create(order(&customer)))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_during_2000_moves_loses_nothing_and_fails_no_read() {
    let mut redis = RedisServer::start();
    let app = spawn_with(
        Backend::Postgres,
        Hot::Redis(redis.url()),
        &[("KEFU__ORDER_TRACKING__BREAKER_OPEN_MS", "200")],
        None,
    )
    .await;
    let ids = orders(&app).await;
    let mut client = app.orders().await;

    let moves = Arc::new(AtomicUsize::new(0));
    let workers = carry(&app, &ids, &moves).await;

    // Freeze Redis (data kept, writes time out) from 1/6 to 2/6 of the run, so it wakes up
    // holding stale states; kill it at 3/6 and start it again, empty, at 4/6.
    let total = ORDERS * MOVES_PER_ORDER;
    reach(&moves, total / 6).await;
    redis.pause();
    reach(&moves, 2 * total / 6).await;
    redis.resume();
    reach(&moves, 3 * total / 6).await;
    redis.kill();
    let killed_at = moves.load(Ordering::Relaxed);
    reach(&moves, 4 * total / 6).await;
    redis.restart();
    let restarted_at = moves.load(Ordering::Relaxed);

    let mut acknowledged = HashMap::new();
    for worker in workers {
        acknowledged.extend(worker.await.unwrap());
    }
    assert_eq!(moves.load(Ordering::Relaxed), total);
    assert!(
        restarted_at > killed_at,
        "moves went on while Redis was down ({killed_at}..{restarted_at})"
    );

    // Nothing acknowledged was lost: PostgreSQL holds every acknowledged version.
    let stored = database_versions(&app).await;
    for (id, version) in &acknowledged {
        assert_eq!(stored.get(id), Some(version), "order {id}");
    }
    // Once Redis is back, repairs and later writes leave nothing in it older than PostgreSQL.
    let store = RedisHotStore::new(redis_handle(&redis.url()).unwrap(), "kefu:");
    let stale = converge(&app, &store).await;
    assert!(
        stale.is_empty(),
        "{} orders are stale in Redis",
        stale.len()
    );
    // What the restart lost, a read puts back: then Redis equals PostgreSQL for every order.
    let (_, missing) = differences(&app, &store).await;
    for id in &missing {
        client
            .get_order(pb::GetOrderRequest {
                order_id: id.clone(),
            })
            .await
            .unwrap();
    }
    let (stale, missing) = differences(&app, &store).await;
    assert!(
        stale.is_empty() && missing.is_empty(),
        "{} stale, {} missing after reads",
        stale.len(),
        missing.len()
    );
}

/// How a replicated Redis is made to fail over: the master's replica is cut off for a moment
/// (so the latest writes reach only the master), then the master is killed and the replica,
/// lacking those writes, takes over.
trait Failover {
    fn url(&self) -> String;
    fn settings(&self) -> Vec<(&'static str, String)>;
    fn hot_store(&self) -> RedisHotStore;
    fn freeze_replica(&mut self, key: &str);
    fn kill_master(&mut self);
    fn thaw_replica(&mut self);
    fn wait_failed_over(&mut self);
    fn bring_back_old_master(&mut self);
}

fn handle(failover: &dyn Failover) -> kefu_platform::redis::RedisHandle {
    // Read as Kefu reads them, so that the list in KEFU__REDIS__NODES is parsed the same way.
    let mut env: HashMap<String, String> = failover
        .settings()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.insert("KEFU__REDIS__URL".into(), failover.url());
    let settings = kefu_platform::config::Settings::load_from(None, Some(env), &[]).unwrap();
    kefu_platform::redis::RedisHandle::open(&settings.redis)
        .unwrap()
        .unwrap()
}

struct Cluster {
    cluster: RedisCluster,
    master: u16,
    replica: u16,
}

impl Failover for Cluster {
    fn url(&self) -> String {
        self.cluster.url()
    }
    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KEFU__REDIS__MODE", "cluster".into()),
            ("KEFU__REDIS__NODES", self.cluster.other_nodes().join(",")),
        ]
    }
    fn hot_store(&self) -> RedisHotStore {
        RedisHotStore::new(handle(self), "kefu:")
    }
    fn freeze_replica(&mut self, key: &str) {
        self.master = self.cluster.master_of(key);
        self.replica = self.cluster.replica_of(self.master);
        self.cluster.cut_off(self.replica, self.master);
    }
    fn kill_master(&mut self) {
        self.cluster.kill(self.master);
    }
    fn thaw_replica(&mut self) {
        self.cluster.resume(self.replica);
    }
    fn wait_failed_over(&mut self) {
        let killed = self.master;
        self.cluster.wait_until_served_without(killed);
    }
    fn bring_back_old_master(&mut self) {
        self.cluster.restart(self.master);
        self.cluster.wait_healthy();
        self.cluster.wait_replicated();
    }
}

struct Sentinels(RedisSentinels);

impl Failover for Sentinels {
    fn url(&self) -> String {
        self.0.url()
    }
    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KEFU__REDIS__MODE", "sentinel".into()),
            ("KEFU__REDIS__NODES", self.0.other_sentinels().join(",")),
            ("KEFU__REDIS__SENTINEL_MASTER", SENTINEL_MASTER.into()),
        ]
    }
    fn hot_store(&self) -> RedisHotStore {
        RedisHotStore::new(handle(self), "kefu:")
    }
    fn freeze_replica(&mut self, _key: &str) {
        self.0.cut_off_replica();
    }
    fn kill_master(&mut self) {
        self.0.kill_master();
    }
    fn thaw_replica(&mut self) {
        self.0.resume_replica();
    }
    fn wait_failed_over(&mut self) {
        self.0.wait_failed_over();
    }
    fn bring_back_old_master(&mut self) {
        self.0.restart_old_master();
    }
}

/// 2,000 moves through a failover: writes the replica missed, the master killed, the replica
/// promoted, the old master back as its replica. No acknowledged move is lost, no read
/// returns a state older than an acknowledged move, and Redis ends equal to PostgreSQL.
async fn a_failover_during_moves_loses_nothing_and_serves_no_stale_read(
    mut redis: Box<dyn Failover>,
) {
    let settings = redis.settings();
    let mut env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("KEFU__ORDER_TRACKING__BREAKER_OPEN_MS", "200"));
    let app = spawn_with(Backend::Postgres, Hot::Redis(redis.url()), &env, None).await;
    let ids = orders(&app).await;
    let moves = Arc::new(AtomicUsize::new(0));
    let workers = carry(&app, &ids, &moves).await;

    let total = ORDERS * MOVES_PER_ORDER;
    reach(&moves, total / 5).await;
    redis.freeze_replica(&kefu_order_tracking::store::hot::key(&ids[0]));
    let frozen_at = moves.load(Ordering::Relaxed);
    reach(&moves, frozen_at + 100).await;
    redis.kill_master();
    redis.thaw_replica();
    let killed_at = moves.load(Ordering::Relaxed);
    redis.wait_failed_over();
    let promoted_at = moves.load(Ordering::Relaxed);
    redis.bring_back_old_master();
    let back_at = moves.load(Ordering::Relaxed);

    let mut acknowledged = HashMap::new();
    for worker in workers {
        acknowledged.extend(worker.await.unwrap());
    }
    println!(
        "failover: replica frozen at move {frozen_at}, master killed at {killed_at}, replica \
         serving at {promoted_at}, old master back at {back_at}, of {total}"
    );
    assert_eq!(moves.load(Ordering::Relaxed), total);
    assert!(
        promoted_at < total,
        "moves went on after the replica took over"
    );
    let stored = database_versions(&app).await;
    for (id, version) in &acknowledged {
        assert_eq!(stored.get(id), Some(version), "order {id}");
    }
    // Every order read now, through Redis where it holds the order, shows its last state.
    let mut client = app.orders().await;
    let mut stale_reads = 0;
    for (id, version) in &stored {
        let read = client
            .get_order(pb::GetOrderRequest {
                order_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if read.version != *version {
            stale_reads += 1;
        }
    }
    assert_eq!(
        stale_reads, 0,
        "reads older than PostgreSQL after the failover"
    );
    let store = redis.hot_store();
    let stale = converge(&app, &store).await;
    assert!(
        stale.is_empty(),
        "{} orders are stale in Redis",
        stale.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ot12_a_cluster_failover_during_moves_loses_nothing_and_serves_no_stale_read() {
    a_failover_during_moves_loses_nothing_and_serves_no_stale_read(Box::new(Cluster {
        cluster: RedisCluster::start(),
        master: 0,
        replica: 0,
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ot12_a_sentinel_failover_during_moves_loses_nothing_and_serves_no_stale_read() {
    a_failover_during_moves_loses_nothing_and_serves_no_stale_read(Box::new(Sentinels(
        RedisSentinels::start(),
    )))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_never_leave_redis_older_than_postgres() {
    let redis = RedisServer::start();
    let app = spawn_with(Backend::Postgres, Hot::Redis(redis.url()), &[], None).await;
    let customer = app.customer().await;
    let id = app
        .orders()
        .await
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let mut client = app.orders().await;
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..10 {
                let status = if (t + n) % 2 == 0 {
                    pb::PaymentStatus::Paid
                } else {
                    pb::PaymentStatus::OnAccount
                };
                client
                    .update_payment_status(pb::UpdatePaymentStatusRequest {
                        order_id: id.clone(),
                        payment_status: status as i32,
                        amount: None,
                        request_id: String::new(),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = RedisHotStore::new(redis_handle(&redis.url()).unwrap(), "kefu:");
    assert!(converge(&app, &store).await.is_empty());
    assert!(differences(&app, &store).await.1.is_empty());
    let key = kefu_order_tracking::store::hot::key(&id);
    let newest = store.get(&key).await.unwrap().unwrap();
    assert_eq!(newest.version, 161);
    // A writer that read version 100 long ago arrives now: refused.
    let stale = HotEntry {
        version: 100,
        value: b"old state".to_vec(),
    };
    assert!(!store.put_if_newer(&key, &stale, None).await.unwrap());
    assert_eq!(store.get(&key).await.unwrap().unwrap(), newest);
}
