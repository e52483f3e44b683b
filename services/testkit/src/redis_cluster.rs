//! Replicated Redis of the test's own on loopback ports, as production runs it: a Redis
//! Cluster of three masters with a replica each, or a master and a replica watched by three
//! sentinels. A test kills a master and waits for its replica to take over.

// A fixture that cannot start stops the test that asked for it, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::free_port;

/// A failover is declared after this long without an answer.
const NODE_TIMEOUT_MS: u64 = 1000;

#[derive(Debug)]
struct Node {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    fn spawn(args: &[String]) -> Self {
        let port: u16 = args
            .iter()
            .position(|a| a == "--port")
            .map(|i| args[i + 1].parse().unwrap())
            .unwrap();
        let mut node = Self {
            port,
            args: args.to_vec(),
            child: None,
        };
        node.restart();
        node
    }

    /// Starts it again on its port, with what it keeps on disk (a cluster node its view of
    /// the cluster, a sentinel its configuration) and no data.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP or SIGCONT: a frozen node neither answers nor replicates.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn cut_off(replica: &Node, master: u16) {
    // Frozen first, so that it cannot connect again; then the master drops it, and what the
    // master takes from then on goes nowhere.
    replica.signal("-STOP");
    cli(master, &["CLIENT", "KILL", "TYPE", "replica"]);
}

/// What `redis-cli -p port args…` printed.
fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("redis-cli on PATH");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn until(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} within {seconds} s");
}

/// Three masters with a replica each.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kefu-redis-cluster-")
            .tempdir()
            .unwrap();
        let nodes: Vec<Node> = (0..6)
            .map(|_| {
                let port = free_port();
                Node::spawn(&[
                    "--port".into(),
                    port.to_string(),
                    "--bind".into(),
                    "127.0.0.1".into(),
                    "--save".into(),
                    String::new(),
                    "--appendonly".into(),
                    "no".into(),
                    "--dir".into(),
                    dir.path().display().to_string(),
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    format!("nodes-{port}.conf"),
                    "--cluster-node-timeout".into(),
                    NODE_TIMEOUT_MS.to_string(),
                    // A replica cut off for a while may still take over: this is a test.
                    "--cluster-replica-validity-factor".into(),
                    "0".into(),
                    // The other masters' slots stay served while one fails over.
                    "--cluster-require-full-coverage".into(),
                    "no".into(),
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli on PATH");
        assert!(created.success(), "redis-cli --cluster create");
        let cluster = Self { nodes, _dir: dir };
        cluster.wait_healthy();
        cluster
    }

    /// The first node, as `redis://`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[0].port)
    }

    /// The other nodes, `host:port`.
    pub fn other_nodes(&self) -> Vec<String> {
        self.nodes[1..]
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    fn any_alive(&self) -> u16 {
        self.nodes.iter().find(|n| n.alive()).unwrap().port
    }

    /// The port of the master that serves `key` now.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.any_alive();
        let slot: u16 = cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap();
        for line in cli(port, &["CLUSTER", "NODES"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let served = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).contains(&slot),
                None => range.parse::<u16>().is_ok_and(|s| s == slot),
            });
            if served {
                let address = fields[1].split('@').next().unwrap();
                return address.rsplit_once(':').unwrap().1.parse().unwrap();
            }
        }
        panic!("no master serves slot {slot}");
    }

    fn node(&mut self, port: u16) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.port == port).unwrap()
    }

    /// The port of the replica of the master on `port`.
    pub fn replica_of(&self, port: u16) -> u16 {
        let nodes = cli(self.any_alive(), &["CLUSTER", "NODES"]);
        let master_id = nodes
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| a.starts_with(&format!("127.0.0.1:{port}@")))
            })
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_owned();
        let replica = nodes
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some(master_id.as_str()))
            .unwrap();
        let address = replica.split_whitespace().nth(1).unwrap();
        address
            .split('@')
            .next()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .parse()
            .unwrap()
    }

    /// Kills the node on `port`, as a crash would.
    pub fn kill(&mut self, port: u16) {
        self.node(port).kill();
    }

    /// Starts the node on `port` again, empty; it rejoins as a replica of whoever took over.
    pub fn restart(&mut self, port: u16) {
        self.node(port).restart();
    }

    /// Freezes the replica on `port` (SIGSTOP) and has its `master` drop it, so that it misses
    /// what the master takes from now on. Freezing alone would not do: the kernel keeps
    /// receiving the replication stream for it.
    pub fn cut_off(&mut self, port: u16, master: u16) {
        cut_off(self.node(port), master);
    }

    /// Thaws the node on `port`.
    pub fn resume(&mut self, port: u16) {
        self.node(port).signal("-CONT");
    }

    /// Waits until every slot is served by a live master that has a replica in sync: after a
    /// kill, until a replica has taken over (and, with no spare, serves alone).
    pub fn wait_healthy(&self) {
        until("the cluster serves every slot", 30, || {
            self.nodes.iter().filter(|n| n.alive()).all(|n| {
                let info = cli(n.port, &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            })
        });
    }

    /// Waits until the cluster has marked the node on `port` failed and another serves
    /// every slot.
    pub fn wait_until_served_without(&self, port: u16) {
        until("a replica takes over from the failed master", 30, || {
            let nodes = cli(self.any_alive(), &["CLUSTER", "NODES"]);
            nodes.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 2
                    && f[1].starts_with(&format!("127.0.0.1:{port}@"))
                    && f[2].contains("fail")
            })
        });
        self.wait_healthy();
    }

    /// Waits until every live master has a replica in sync, so that writes can be WAITed on.
    pub fn wait_replicated(&self) {
        until("every master has a replica in sync", 30, || {
            self.nodes.iter().filter(|n| n.alive()).all(|n| {
                let info = cli(n.port, &["INFO", "replication"]);
                !info.contains("role:master") || info.contains("connected_slaves:1")
            })
        });
    }
}

/// A master and a replica, watched by three sentinels that fail over after a second.
#[derive(Debug)]
pub struct RedisSentinels {
    master: Node,
    replica: Node,
    sentinels: Vec<Node>,
    dir: tempfile::TempDir,
}

/// The name the sentinels know the master by.
pub const SENTINEL_MASTER: &str = "kefu";

impl RedisSentinels {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kefu-redis-sentinel-")
            .tempdir()
            .unwrap();
        let data = |port: u16| -> Vec<String> {
            vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
            ]
        };
        let master = Node::spawn(&data(free_port()));
        let mut replica_args = data(free_port());
        replica_args.extend([
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ]);
        let replica = Node::spawn(&replica_args);
        let sentinels = (0..3)
            .map(|i| {
                let port = free_port();
                // A sentinel rewrites its configuration file as it learns: one file each.
                let config = dir.path().join(format!("sentinel-{i}.conf"));
                std::fs::write(
                    &config,
                    format!(
                        "port {port}\nbind 127.0.0.1\n\
                         sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {} 2\n\
                         sentinel down-after-milliseconds {SENTINEL_MASTER} {NODE_TIMEOUT_MS}\n\
                         sentinel failover-timeout {SENTINEL_MASTER} 5000\n\
                         sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
                        master.port
                    ),
                )
                .unwrap();
                Node::spawn(&[
                    config.display().to_string(),
                    "--sentinel".into(),
                    "--port".into(),
                    port.to_string(),
                ])
            })
            .collect();
        let sentinels = Self {
            master,
            replica,
            sentinels,
            dir,
        };
        until("the replica is in sync", 30, || {
            cli(sentinels.master.port, &["INFO", "replication"]).contains("connected_slaves:1")
        });
        until("the sentinels see each other and the replica", 30, || {
            sentinels.sentinels.iter().all(|s| {
                let master = cli(s.port, &["SENTINEL", "MASTER", SENTINEL_MASTER]);
                let numbers: Vec<&str> = master.lines().collect();
                let field = |name: &str| {
                    numbers
                        .iter()
                        .position(|l| *l == name)
                        .and_then(|i| numbers.get(i + 1))
                        .and_then(|v| v.parse::<u32>().ok())
                };
                field("num-other-sentinels") == Some(2) && field("num-slaves") == Some(1)
            })
        });
        sentinels
    }

    /// The first sentinel, as `redis://`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.sentinels[0].port)
    }

    /// The other sentinels, `host:port`.
    pub fn other_sentinels(&self) -> Vec<String> {
        self.sentinels[1..]
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    /// Kills the master, as a crash would.
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// Starts the old master again, empty; the sentinels make it a replica of the new one.
    pub fn restart_old_master(&mut self) {
        self.master.restart();
        until("the old master replicates the new one", 30, || {
            cli(self.replica.port, &["INFO", "replication"]).contains("connected_slaves:1")
        });
    }

    /// Cuts the replica off from the master and freezes it, as [`RedisCluster::cut_off`].
    pub fn cut_off_replica(&self) {
        cut_off(&self.replica, self.master.port);
    }

    /// Thaws the replica.
    pub fn resume_replica(&self) {
        self.replica.signal("-CONT");
    }

    /// Waits until the sentinels name the replica as the master and it answers as one.
    pub fn wait_failed_over(&self) {
        until("the sentinels promote the replica", 30, || {
            let named = cli(
                self.sentinels[0].port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
            );
            named.lines().nth(1) == Some(self.replica.port.to_string().as_str())
                && cli(self.replica.port, &["ROLE"]).starts_with("master")
        });
    }

    /// Where the sentinels' files are, for a look after a failed test.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
