//! A PostgreSQL cluster of the test's own (initdb in a temporary directory, its own port on
//! loopback), which the test can crash and start again without touching the shared server.

// A fixture that cannot start stops the test that asked for it, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct PostgresServer {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl PostgresServer {
    /// A new cluster, started, accepting user postgres with trust auth on 127.0.0.1.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("kefu-pg-")
            .tempdir()
            .unwrap();
        // PostgreSQL refuses to run as root; tests on CI machines often are.
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres", &path(dir.path())]));
        }
        let data = dir.path().join("data");
        run(as_postgres(&bin.join("initdb")).args([
            "-D",
            &path(&data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        let server = Self {
            port: crate::redis_server::free_port(),
            bin,
            dir,
        };
        server.restart();
        server
    }

    /// The URL of its `postgres` database, for creating test databases on.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts it (after a crash: with crash recovery) and waits until it accepts connections.
    pub fn restart(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            self.port,
            path(self.dir.path())
        );
        run(as_postgres(&self.bin.join("pg_ctl")).args([
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            &path(&self.data()),
            "-l",
            &path(&self.dir.path().join("log")),
            "-o",
            &options,
        ]));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "postgres did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it as a crash would (`pg_ctl stop -m immediate`: every backend killed, no
    /// checkpoint; the next start recovers from the write-ahead log).
    pub fn crash(&self) {
        run(as_postgres(&self.bin.join("pg_ctl")).args([
            "stop",
            "-m",
            "immediate",
            "-D",
            &path(&self.data()),
        ]));
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D", &path(&self.data())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest installed server's programs: Debian keeps them off PATH, one directory per
/// major version; `KEFU_TEST_PG_BIN` overrides.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("KEFU_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL server programs under /usr/lib/postgresql/<version>/bin (or set KEFU_TEST_PG_BIN)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path(p: &Path) -> String {
    p.display().to_string()
}
