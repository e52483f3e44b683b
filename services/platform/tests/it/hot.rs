//! The hot store, in-process and on a real Redis: a write lands only when newer, whatever
//! order concurrent writers arrive in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kefu_platform::config::{RedisSettings, SecretUrl};
use kefu_platform::hot::{HotEntry, HotStore, InProcessHotStore, RedisHotStore};
use kefu_platform::redis::RedisHandle;
use rand::seq::SliceRandom as _;

fn redis_store() -> RedisHotStore {
    let settings = RedisSettings {
        url: SecretUrl::new(kefu_testkit::redis_url()),
        mode: kefu_platform::config::RedisMode::Standalone,
        nodes: Vec::new(),
        sentinel_master: String::new(),
        replica_acks: 0,
        command_timeout_ms: 1000,
        connect_timeout_ms: 1000,
        tls_ca_file: String::new(),
    };
    let redis = RedisHandle::open(&settings).unwrap().unwrap();
    RedisHotStore::new(redis, format!("kefu-test:{}:", uuid::Uuid::new_v4()))
}

fn entry(version: i64) -> HotEntry {
    HotEntry {
        version,
        value: format!("state at {version}").into_bytes(),
    }
}

async fn older_writes_never_replace_newer(store: Arc<dyn HotStore>) {
    assert_eq!(store.get("o1").await.unwrap(), None);
    assert!(store.put_if_newer("o1", &entry(1), None).await.unwrap());
    assert!(store.put_if_newer("o1", &entry(3), None).await.unwrap());
    assert!(
        !store.put_if_newer("o1", &entry(2), None).await.unwrap(),
        "older refused"
    );
    assert!(
        !store.put_if_newer("o1", &entry(3), None).await.unwrap(),
        "same version refused"
    );
    assert_eq!(store.get("o1").await.unwrap(), Some(entry(3)));

    // 200 writers racing in random order: the newest always wins.
    let mut versions: Vec<i64> = (1..=200).collect();
    versions.shuffle(&mut rand::rng());
    let writers: Vec<_> = versions
        .into_iter()
        .map(|v| {
            let store = store.clone();
            tokio::spawn(async move { store.put_if_newer("o2", &entry(v), None).await.unwrap() })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(store.get("o2").await.unwrap(), Some(entry(200)));

    store.remove("o2").await.unwrap();
    assert_eq!(store.get("o2").await.unwrap(), None);
    assert!(
        store
            .put_if_newer("o3", &entry(1), Some(Duration::from_millis(50)))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.get("o3").await.unwrap(), None, "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_store_keeps_the_newest_version() {
    older_writes_never_replace_newer(Arc::new(InProcessHotStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_keeps_the_newest_version() {
    older_writes_never_replace_newer(Arc::new(redis_store())).await;
}

#[tokio::test]
async fn a_dead_redis_fails_fast_instead_of_hanging() {
    let settings = RedisSettings {
        // Nothing listens on port 1.
        url: SecretUrl::new("redis://127.0.0.1:1".to_owned()),
        mode: kefu_platform::config::RedisMode::Standalone,
        nodes: Vec::new(),
        sentinel_master: String::new(),
        replica_acks: 0,
        command_timeout_ms: 200,
        connect_timeout_ms: 200,
        tls_ca_file: String::new(),
    };
    let redis = RedisHandle::open(&settings).unwrap().unwrap();
    let store = RedisHotStore::new(redis, "kefu-test:");
    let started = std::time::Instant::now();
    assert!(store.get("x").await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "timeouts bound the call: {:?}",
        started.elapsed()
    );
}

/// Redis as production runs it: TLS only, an ACL user with a password, the CA from a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_state_works_over_tls_with_an_acl_user_and_nothing_else_gets_in() {
    let server = kefu_testkit::redis_server::RedisServer::start_tls();
    let ca = server.ca_file().unwrap().display().to_string();
    let settings = |url: String, tls_ca_file: String| RedisSettings {
        url: SecretUrl::new(url),
        mode: kefu_platform::config::RedisMode::Standalone,
        nodes: Vec::new(),
        sentinel_master: String::new(),
        replica_acks: 0,
        command_timeout_ms: 1000,
        connect_timeout_ms: 1000,
        tls_ca_file,
    };
    let redis = RedisHandle::open(&settings(server.url(), ca.clone()))
        .unwrap()
        .unwrap();
    older_writes_never_replace_newer(Arc::new(RedisHotStore::new(redis, "kefu-test:"))).await;

    let (user, _) = kefu_testkit::redis_server::TLS_USER;
    let wrong_password = format!("rediss://{user}:guess@127.0.0.1:{}", server.port);
    let plain = format!("redis://{user}@127.0.0.1:{}", server.port);
    for (what, refused) in [
        ("a wrong password", settings(wrong_password, ca.clone())),
        ("no TLS", settings(plain, String::new())),
        // The test's CA is not among the system's roots.
        ("a CA not trusted", settings(server.url(), String::new())),
    ] {
        let redis = RedisHandle::open(&refused).unwrap().unwrap();
        let store = RedisHotStore::new(redis, "kefu-test:");
        assert!(store.get("o1").await.is_err(), "{what} is refused");
    }
}

// OT-12: the hot store on the replicated Redis production runs.
/// The same on a Redis Cluster and behind sentinels, both speaking only TLS with an ACL user:
/// keys spread over the masters, each write WAITed on by a replica; a wrong password is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_state_works_on_a_tls_cluster_and_behind_tls_sentinels() {
    use kefu_platform::config::RedisMode;
    use kefu_testkit::redis_cluster::{RedisCluster, RedisSentinels, SENTINEL_MASTER};
    let cluster = RedisCluster::start_tls();
    let sentinels = RedisSentinels::start_tls();
    let settings = |url: String, mode: RedisMode, nodes: Vec<String>, ca: PathBuf| RedisSettings {
        url: SecretUrl::new(url),
        mode,
        nodes,
        sentinel_master: SENTINEL_MASTER.to_owned(),
        replica_acks: 1,
        command_timeout_ms: 1000,
        connect_timeout_ms: 1000,
        tls_ca_file: ca.display().to_string(),
    };
    let deployments = [
        (
            "cluster",
            settings(
                cluster.url(),
                RedisMode::Cluster,
                cluster.other_nodes(),
                cluster.ca_file().unwrap(),
            ),
        ),
        (
            "sentinels",
            settings(
                sentinels.url(),
                RedisMode::Sentinel,
                sentinels.other_sentinels(),
                sentinels.ca_file().unwrap(),
            ),
        ),
    ];
    for (what, settings) in deployments {
        let redis = RedisHandle::open(&settings).unwrap().unwrap();
        let store = Arc::new(RedisHotStore::new(redis, "kefu-test:"));
        older_writes_never_replace_newer(store.clone()).await;
        // Many keys, so that a cluster's every master takes some.
        for n in 0..50 {
            let entry = HotEntry {
                version: 1,
                value: vec![n],
            };
            assert!(
                store
                    .put_if_newer(&format!("k{n}"), &entry, None)
                    .await
                    .unwrap(),
                "{what}"
            );
            assert_eq!(store.get(&format!("k{n}")).await.unwrap(), Some(entry));
        }
        let (user, _) = kefu_testkit::redis_server::TLS_USER;
        let wrong = settings_with_password(&settings, &format!("{user}:guess"));
        let refused = RedisHotStore::new(RedisHandle::open(&wrong).unwrap().unwrap(), "kefu-test:");
        assert!(refused.get("k1").await.is_err(), "{what}: a wrong password");
    }
}

/// `settings` with the url's user and password replaced by `credentials`.
fn settings_with_password(settings: &RedisSettings, credentials: &str) -> RedisSettings {
    let url = settings.url.expose();
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    RedisSettings {
        url: SecretUrl::new(format!("{scheme}://{credentials}@{host}")),
        ..settings.clone()
    }
}
