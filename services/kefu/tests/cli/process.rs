//! Starts `kefu` as a child process and reads what it prints.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub(crate) fn kefu() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kefu"));
    // Many tests share two cores and one PostgreSQL: a pooled connection can take seconds to
    // come, where the deployment's default acquire timeout (1 s) would call that an outage;
    // and that PostgreSQL's 100 connections must go round, as under the test kit.
    command
        .env_remove("KEFU_CONFIG")
        .env("KEFU__DATABASE__ACQUIRE_TIMEOUT_MS", "5000")
        .env("KEFU__DATABASE__MAX_CONNECTIONS", "8")
        .kill_on_drop(true);
    command
}

/// A running `kefu serve`.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) token: Option<String>,
    pub(crate) started_in: Duration,
}

impl Server {
    /// Starts `kefu serve` with `args` and `env` in `dir`, waiting until it prints its address.
    pub(crate) async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_logging_to(dir, args, env, None).await
    }

    /// As [`Server::start`], with the server's stderr (its logs) written to `log`.
    pub(crate) async fn start_logging_to(
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Server {
        let started = Instant::now();
        let mut command = kefu();
        command
            .arg("serve")
            .args(args)
            .current_dir(dir)
            .env("KEFU__SERVER__LISTEN", "127.0.0.1:0")
            .env("KEFU__SERVER__SHUTDOWN_DELAY_MS", "1500")
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
                None if std::env::var_os("TEST_LOG").is_some() => Stdio::inherit(),
                None => Stdio::null(),
            });
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("kefu starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        let mut token = None;
        let mut expect_token = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while addr.is_none() || (expect_token && token.is_none()) {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .expect("kefu printed its address in time")
                .expect("stdout readable")
                .expect("kefu exited before it was ready");
            if let Some(rest) = line.strip_prefix("kefu: serving ") {
                addr = rest.rsplit(" on ").next().map(str::to_owned);
                expect_token = true;
            } else if line.starts_with("kefu: development token") {
                expect_token = true;
            } else if line.starts_with("kefu: mint tokens") {
                expect_token = false;
            } else if line.starts_with("eyJ") {
                token = Some(line);
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            addr: addr.unwrap_or_default(),
            token,
            started_in: started.elapsed(),
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Runs `kefu <args> --json` against `server` from `dir`; its answer, or a panic with its
/// stderr.
pub(crate) async fn kefu_json(server: &Server, dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = kefu()
        .args(args)
        .arg("--json")
        .current_dir(dir)
        .env("KEFU_ENDPOINT", server.endpoint())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "kefu {args:?} failed:\n{}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Creates the enterprise customer the CLI tests share through `kefu customers create`; its id.
pub(crate) async fn cli_customer(server: &Server, dir: &Path) -> String {
    kefu_json(
        server,
        dir,
        &[
            "customers",
            "create",
            "--kind",
            "enterprise",
            "--name",
            "Fuzhou Widgets Ltd",
            "--registration-number",
            "91350100M000100Y43",
            "--contact",
            "Li Si,logistics,0591-87654321,",
        ],
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs `kefu <args>` against `server` and expects it to succeed; its stdout as it is.
pub(crate) async fn kefu_text(server: &Server, dir: &Path, args: &[&str]) -> String {
    let output = kefu()
        .args(args)
        .current_dir(dir)
        .env("KEFU_ENDPOINT", server.endpoint())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "kefu {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `kefu <args>` against `server`, expecting it to fail; its stderr.
pub(crate) async fn kefu_refused(server: &Server, dir: &Path, args: &[&str]) -> String {
    let output = kefu()
        .args(args)
        .current_dir(dir)
        .env("KEFU_ENDPOINT", server.endpoint())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success(), "kefu {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An interceptor that sends `token` as the bearer of every call.
pub(crate) fn bearer(
    token: String,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |mut r: tonic::Request<()>| {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        Ok(r)
    }
}

/// The repository root, where node_modules/ holds the buf CLI.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}
