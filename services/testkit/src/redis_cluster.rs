//! Replicated Redis of the test's own on loopback ports, as production runs it: a Redis
//! Cluster of three masters with a replica each, or a master and a replica watched by three
//! sentinels. A test kills a master and waits for its replica to take over.

// A fixture that cannot start stops the test that asked for it, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::{TLS_USER, free_port, only_the_acl_user, spawn_listening};

/// A failover is declared after this long without an answer.
const NODE_TIMEOUT_MS: u64 = 1000;

#[derive(Debug)]
struct Node {
    port: u16,
    args: Vec<String>,
    /// What redis-cli needs to reach it besides the port (TLS, the user).
    reach: Vec<String>,
    child: Option<Child>,
}

impl Node {
    fn spawn(port: u16, args: Vec<String>, reach: Vec<String>) -> Self {
        let mut node = Self {
            port,
            args,
            reach,
            child: None,
        };
        node.restart();
        node
    }

    /// What `redis-cli … args` printed against it.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(&self.reach)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("redis-cli on PATH");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts it again on its port, with what it keeps on disk (a cluster node its view of
    /// the cluster, a sentinel its configuration) and no data.
    fn restart(&mut self) {
        self.child = Some(spawn_listening(&self.args, self.port));
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

fn cut_off(replica: &Node, master: &Node) {
    // Frozen first, so that it cannot connect again; then the master drops it, and what the
    // master takes from then on goes nowhere.
    replica.signal("-STOP");
    master.cli(&["CLIENT", "KILL", "TYPE", "replica"]);
}

/// How the test's Redis processes are reached: in clear, or only over TLS (certificates for
/// 127.0.0.1 signed by a CA made here) with the data nodes knowing only the ACL user
/// [`TLS_USER`], replication and the cluster bus over TLS too.
#[derive(Debug)]
struct Security {
    tls: Option<tempfile::TempDir>,
}

impl Security {
    fn new(tls: bool) -> Self {
        Self {
            tls: tls.then(|| {
                let dir = tempfile::Builder::new()
                    .prefix("kefu-redis-tls-")
                    .tempdir()
                    .unwrap();
                crate::certificates::make(dir.path());
                dir
            }),
        }
    }

    fn file(&self, name: &str) -> String {
        let dir = self.tls.as_ref().expect("tls");
        dir.path().join(name).display().to_string()
    }

    /// The listening and TLS arguments of a process on `port`.
    fn listen(&self, port: u16) -> Vec<String> {
        let mut args = vec!["--bind".to_owned(), "127.0.0.1".to_owned()];
        match &self.tls {
            None => args.extend(["--port".into(), port.to_string()]),
            Some(_) => args.extend([
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                self.file("server.crt"),
                "--tls-key-file".into(),
                self.file("server.key"),
                "--tls-ca-cert-file".into(),
                self.file("ca.crt"),
                "--tls-auth-clients".into(),
                "no".into(),
                "--tls-replication".into(),
                "yes".into(),
            ]),
        }
        args
    }

    /// A data node's arguments: listening, no disk, and with TLS only the ACL user.
    fn data_node(&self, port: u16) -> Vec<String> {
        let mut args = self.listen(port);
        args.extend([
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            // A replica's first sync starts at once, not after 5 s of waiting for others.
            "--repl-diskless-sync-delay".into(),
            "0".into(),
        ]);
        if self.tls.is_some() {
            let (user, password) = TLS_USER;
            args.extend(only_the_acl_user());
            args.extend([
                "--masteruser".into(),
                user.into(),
                "--masterauth".into(),
                password.into(),
            ]);
        }
        args
    }

    /// What redis-cli needs for a data node, or for a sentinel (which has no user).
    fn reach(&self, data: bool) -> Vec<String> {
        let mut args = Vec::new();
        if self.tls.is_some() {
            args.extend(["--tls".into(), "--cacert".into(), self.file("ca.crt")]);
            if data {
                let (user, password) = TLS_USER;
                args.extend([
                    "--user".into(),
                    user.into(),
                    "--pass".into(),
                    password.into(),
                    "--no-auth-warning".into(),
                ]);
            }
        }
        args
    }

    /// Kefu's url for the process on `port`: over TLS, the ACL user's.
    fn url(&self, port: u16) -> String {
        match &self.tls {
            None => format!("redis://127.0.0.1:{port}"),
            Some(_) => {
                let (user, password) = TLS_USER;
                format!("rediss://{user}:{password}@127.0.0.1:{port}")
            }
        }
    }

    fn ca_file(&self) -> Option<std::path::PathBuf> {
        self.tls.as_ref().map(|dir| dir.path().join("ca.crt"))
    }
}

fn until(what: &str, seconds: u64, done: impl FnMut() -> bool) {
    if !within(seconds, done) {
        panic!("{what} within {seconds} s");
    }
}

/// Whether `done` comes true within `seconds`.
fn within(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Three masters with a replica each.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    security: Security,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        Self::start_with(Security::new(false))
    }

    /// One whose nodes speak only TLS (clients, replication and the cluster bus) and know
    /// only the ACL user [`TLS_USER`]; see [`RedisCluster::ca_file`].
    pub fn start_tls() -> Self {
        Self::start_with(Security::new(true))
    }

    fn start_with(security: Security) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kefu-redis-cluster-")
            .tempdir()
            .unwrap();
        let nodes: Vec<Node> = (0..6)
            .map(|_| {
                let port = free_port();
                let mut args = security.data_node(port);
                args.extend([
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
                ]);
                if security.tls.is_some() {
                    args.extend(["--tls-cluster".into(), "yes".into()]);
                }
                Node::spawn(port, args, security.reach(true))
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(security.reach(true))
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli on PATH");
        assert!(created.success(), "redis-cli --cluster create");
        let cluster = Self {
            nodes,
            security,
            _dir: dir,
        };
        cluster.wait_healthy();
        cluster.wait_replicated();
        cluster
    }

    /// The first node's url: `redis://`, or `rediss://` with the ACL user.
    pub fn url(&self) -> String {
        self.security.url(self.nodes[0].port)
    }

    /// The PEM of the CA that signed the nodes' certificates, when they speak TLS.
    pub fn ca_file(&self) -> Option<std::path::PathBuf> {
        self.security.ca_file()
    }

    /// The other nodes, `host:port`.
    pub fn other_nodes(&self) -> Vec<String> {
        self.nodes[1..]
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    fn any_alive(&self) -> &Node {
        self.nodes.iter().find(|n| n.alive()).unwrap()
    }

    /// The port of the master that serves `key` now.
    pub fn master_of(&self, key: &str) -> u16 {
        let node = self.any_alive();
        let slot: u16 = node
            .cli(&["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap();
        for line in node.cli(&["CLUSTER", "NODES"]).lines() {
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
        let nodes = self.any_alive().cli(&["CLUSTER", "NODES"]);
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
        let master = self.nodes.iter().find(|n| n.port == master).unwrap();
        cut_off(self.nodes.iter().find(|n| n.port == port).unwrap(), master);
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
                let info = n.cli(&["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            })
        });
    }

    /// Waits until the cluster has marked the node on `port` failed and another serves
    /// every slot.
    pub fn wait_until_served_without(&self, port: u16) {
        until("a replica takes over from the failed master", 30, || {
            let nodes = self.any_alive().cli(&["CLUSTER", "NODES"]);
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
                let info = n.cli(&["INFO", "replication"]);
                !info.contains("role:master") || info.contains(",state=online,")
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
    security: Security,
    _dir: tempfile::TempDir,
}

/// The name the sentinels know the master by.
pub const SENTINEL_MASTER: &str = "kefu";

impl RedisSentinels {
    pub fn start() -> Self {
        Self::start_with(Security::new(false))
    }

    /// One whose every process speaks only TLS and whose data nodes know only the ACL user
    /// [`TLS_USER`] (the sentinels log in to them as it; clients reach the sentinels over TLS
    /// without a user); see [`RedisSentinels::ca_file`].
    pub fn start_tls() -> Self {
        Self::start_with(Security::new(true))
    }

    fn start_with(security: Security) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kefu-redis-sentinel-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let master = Node::spawn(port, security.data_node(port), security.reach(true));
        let port = free_port();
        let mut replica_args = security.data_node(port);
        replica_args.extend([
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ]);
        let replica = Node::spawn(port, replica_args, security.reach(true));
        let sentinels = (0..3)
            .map(|i| {
                let port = free_port();
                let mut config = format!(
                    "sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_MASTER} {NODE_TIMEOUT_MS}\n\
                     sentinel failover-timeout {SENTINEL_MASTER} 5000\n\
                     sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
                    master.port
                );
                if security.tls.is_some() {
                    let (user, password) = TLS_USER;
                    config.push_str(&format!(
                        "sentinel auth-user {SENTINEL_MASTER} {user}\n\
                         sentinel auth-pass {SENTINEL_MASTER} {password}\n"
                    ));
                }
                // A sentinel rewrites its configuration file as it learns: one file each.
                let file = dir.path().join(format!("sentinel-{i}.conf"));
                std::fs::write(&file, config).unwrap();
                let mut args = vec![file.display().to_string(), "--sentinel".into()];
                args.extend(security.listen(port));
                Node::spawn(port, args, security.reach(false))
            })
            .collect();
        let sentinels = Self {
            master,
            replica,
            sentinels,
            security,
            _dir: dir,
        };
        until("the replica is in sync", 30, || {
            sentinels
                .master
                .cli(&["INFO", "replication"])
                .contains(",state=online,")
        });
        until("the sentinels see each other and the replica", 30, || {
            sentinels.sentinels.iter().all(|s| {
                let master = s.cli(&["SENTINEL", "MASTER", SENTINEL_MASTER]);
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

    /// The first sentinel's url: `redis://`, or `rediss://` with the data nodes' ACL user.
    pub fn url(&self) -> String {
        self.security.url(self.sentinels[0].port)
    }

    /// The PEM of the CA that signed every process's certificate, when they speak TLS.
    pub fn ca_file(&self) -> Option<std::path::PathBuf> {
        self.security.ca_file()
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
    /// They wait 8 s after it reports itself a master before they tell it otherwise, then it
    /// syncs. On CI's two loaded cores they have not done so within 60 s, twice: a sentinel
    /// whose timer runs late by 2 s goes into TILT and acts on nothing for 30 s. The tests
    /// are of Kefu, not of the sentinels' patience, so past 30 s the kit does what an
    /// operator would and makes the node a replica itself.
    pub fn restart_old_master(&mut self) {
        self.master.restart();
        let replica = &self.replica;
        let online = || {
            replica
                .cli(&["INFO", "replication"])
                .contains(",state=online,")
        };
        if !within(30, online) {
            self.master
                .cli(&["REPLICAOF", "127.0.0.1", &replica.port.to_string()]);
            until("the old master replicates the new one", 30, online);
        }
    }

    /// Cuts the replica off from the master and freezes it, as [`RedisCluster::cut_off`].
    pub fn cut_off_replica(&self) {
        cut_off(&self.replica, &self.master);
    }

    /// Thaws the replica.
    pub fn resume_replica(&self) {
        self.replica.signal("-CONT");
    }

    /// Waits until the sentinels name the replica as the master and it answers as one.
    pub fn wait_failed_over(&self) {
        until("the sentinels promote the replica", 30, || {
            let named =
                self.sentinels[0].cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER]);
            named.lines().nth(1) == Some(self.replica.port.to_string().as_str())
                && self.replica.cli(&["ROLE"]).starts_with("master")
        });
    }
}
