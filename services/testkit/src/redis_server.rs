//! A redis-server of the test's own, on a free port, that the test can kill and restart;
//! plain, or speaking only TLS with an ACL user, as production runs it.

// A fixture that cannot start stops the test that asked for it, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// Arguments beyond the port and the defaults: TLS and users.
    extra: Vec<String>,
    /// Where its certificates live, when it speaks TLS.
    tls: Option<tempfile::TempDir>,
}

/// The ACL user of [`RedisServer::start_tls`] and its password.
pub const TLS_USER: (&str, &str) = ("kefu", "kefu-test-password");

/// redis-server arguments that turn the default user off and let in [`TLS_USER`] alone.
pub(crate) fn only_the_acl_user() -> Vec<String> {
    let (user, password) = TLS_USER;
    vec![
        "--user".into(),
        "default".into(),
        "off".into(),
        "--user".into(),
        user.into(),
        "on".into(),
        format!(">{password}"),
        "~*".into(),
        "&*".into(),
        "+@all".into(),
    ]
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server started with `args`, once it accepts connections on `port`.
pub(crate) fn spawn_listening(args: &[String], port: u16) -> Child {
    let mut child = Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start on {port}");
}

impl RedisServer {
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
            extra: Vec::new(),
            tls: None,
        };
        server.restart();
        server
    }

    /// One that speaks only TLS, with a certificate for 127.0.0.1 signed by a CA made here
    /// ([`RedisServer::ca_file`]), and only the ACL user [`TLS_USER`]: the default user is off.
    pub fn start_tls() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kefu-redis-tls-")
            .tempdir()
            .unwrap();
        crate::certificates::make(dir.path());
        let file = |name: &str| dir.path().join(name).display().to_string();
        let mut extra = vec![
            "--tls-cert-file".into(),
            file("server.crt"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        extra.extend(only_the_acl_user());
        let mut server = Self {
            port: free_port(),
            child: None,
            extra,
            tls: Some(dir),
        };
        server.restart();
        server
    }

    /// `redis://` for a plain one; `rediss://` with the ACL user for one that speaks TLS.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}", self.port),
            Some(_) => {
                let (user, password) = TLS_USER;
                format!("rediss://{user}:{password}@127.0.0.1:{}", self.port)
            }
        }
    }

    /// The PEM of the CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|dir| dir.path().join("ca.crt"))
    }

    /// Starts it again on the same port, empty (it keeps nothing on disk).
    pub fn restart(&mut self) {
        let port = self.port.to_string();
        // A TLS server listens on its TLS port alone.
        let ports: Vec<&str> = if self.tls.is_some() {
            vec!["--port", "0", "--tls-port", &port]
        } else {
            vec!["--port", &port]
        };
        let mut args: Vec<String> = ports.into_iter().map(str::to_owned).collect();
        args.extend(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"].map(str::to_owned));
        args.extend(self.extra.iter().cloned());
        self.child = Some(spawn_listening(&args, self.port));
    }

    /// Kills it outright, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process ignores SIGKILL only until it is thawed.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes it (SIGSTOP): connections hang, data stays, as under a network partition.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws it (SIGCONT) with whatever it held when frozen.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

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

    pub fn flush_all(&self) {
        assert!(self.tls.is_none(), "flush a TLS server through its client");
        let status = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "FLUSHALL"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli on PATH");
        assert!(status.success());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
