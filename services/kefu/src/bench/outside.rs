//! Figures measured from outside: Kefu (`kefu serve`) and the bare reference
//! (`kefu bench-reference`) each run as a process of their own and are loaded in turn by
//! h2load (nghttp2's HTTP/2 load generator, which speaks gRPC when given its headers) from a
//! third, so that the server, not the client, is what limits the reference's figure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use prost::Message as _;
use tokio::process::{Child, Command};

use super::suite::Suite;
use super::{Bearer, BenchArgs, Table, channels, ms, percent, verdict};

/// Hot GetOrder (and Health/Check) of order-tracking's process against the bare reference
/// server, each loaded in turn by h2load, `--rounds` times; medians.
pub(crate) async fn hot_read(
    suite: &Suite,
    args: &BenchArgs,
    table: &mut Table,
) -> anyhow::Result<()> {
    let port = suite.port("order-tracking")?;
    let bearer = Bearer::new(&suite.token)?;
    let customer = super::new_customer(suite, &bearer).await?;
    let channel = channels(port, 1).await?.remove(0);
    let mut orders = OrderTrackingServiceClient::with_interceptor(channel.clone(), bearer);
    let id = super::new_orders(std::slice::from_ref(&orders), &customer, 1)
        .await?
        .remove(0);
    let request = opb::GetOrderRequest { order_id: id };
    let answer = orders.get_order(request.clone()).await?.into_inner();
    let answer_file = answer_file(&answer)?;
    let reference_port = free_port()?;
    let _reference = spawn_kefu(
        &[
            "bench-reference",
            "--listen",
            &format!("127.0.0.1:{reference_port}"),
            "--answer",
            &arg(answer_file.path()),
        ],
        &[],
    )?;
    listening(reference_port).await?;
    // h2load counts a gRPC error (status in the trailers) as a success: check both answer.
    let from_reference =
        OrderTrackingServiceClient::new(channels(reference_port, 1).await?.remove(0))
            .get_order(request.clone())
            .await?
            .into_inner();
    anyhow::ensure!(
        from_reference == answer,
        "the reference answers another order"
    );
    let health = tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    };
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(health.clone())
        .await?;

    let get = Call::new(
        "/kefu.order.v1.OrderTrackingService/GetOrder",
        &request,
        &answer,
    )?;
    let check = Call::new(
        "/grpc.health.v1.Health/Check",
        &health,
        &tonic_health::pb::HealthCheckResponse { status: 1 },
    )?;
    // Two client threads: with one, the client sometimes held the reference down.
    let shape = Shape {
        connections: 4,
        streams: 16,
        threads: 2,
        pace: None,
    };
    println!(
        "hot GetOrder and Health/Check against the reference: h2load {shape}, {} rounds",
        args.rounds
    );
    let (mut bare, mut hot, mut healthy) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        bare.push(h2load(reference_port, &get, None, shape, args.seconds).await?);
        hot.push(h2load(port, &get, Some(&suite.token), shape, args.seconds).await?);
        healthy.push(h2load(port, &check, None, shape, args.seconds).await?);
    }
    // The same 64 in flight over twice the connections: if the client were the limit, this
    // would lift the reference.
    let wider = Shape {
        connections: 8,
        streams: 8,
        threads: 2,
        pace: None,
    };
    let bare_wider = h2load(reference_port, &get, None, wider, args.seconds).await?;
    let (bare, hot, healthy) = (median(&bare), median(&hot), median(&healthy));
    let failed = |load: &Load| match (load.failed, load.refused) {
        (0, 0) => String::new(),
        (failed, 0) => format!(" ({failed} failed)"),
        (0, refused) => format!(" ({refused} refused, not counted)"),
        (failed, refused) => format!(" ({failed} failed, {refused} refused, not counted)"),
    };
    let p99_ratio = hot.p99.as_secs_f64() / bare.p99.as_secs_f64().max(1e-9);
    table.row(
        format!(
            "hot GetOrder, h2load {shape}: calls/s (median of {})",
            args.rounds
        ),
        format!("{:.0}{}", hot.rps, failed(&hot)),
        format!("{:.0} (bare tonic GetOrder{})", bare.rps, failed(&bare)),
        percent(hot.rps, bare.rps),
        verdict("≥ 50%", hot.rps >= 0.5 * bare.rps),
    );
    table.row(
        "hot GetOrder: p50 / p99",
        format!("{} / {}", ms(hot.p50), ms(hot.p99)),
        format!("{} / {}", ms(bare.p50), ms(bare.p99)),
        format!("p99 {p99_ratio:.1}×"),
        verdict("p99 ≤ 2×", p99_ratio <= 2.0),
    );
    table.row(
        "Health/Check through Kefu's stack: calls/s",
        format!("{:.0}{}", healthy.rps, failed(&healthy)),
        format!("{:.0}", bare.rps),
        percent(healthy.rps, bare.rps),
        "",
    );
    table.row(
        format!("the reference with h2load {wider}: calls/s"),
        "",
        format!("{:.0}", bare_wider.rps),
        percent(bare_wider.rps, bare.rps),
        if bare_wider.rps > bare.rps * 1.1 {
            "higher: the client held the reference down; read the ratios as too kind"
        } else {
            "not higher: the server is the limit"
        },
    );
    Ok(())
}

/// h2load's shape of load: connections × streams in flight on each, over client threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub(crate) connections: u32,
    pub(crate) streams: u32,
    pub(crate) threads: u32,
    /// Calls a second on each connection, sent on a clock whatever the answers (open loop),
    /// from a timing script of h2load's; `None`: each stream sends its next call when the
    /// last is answered (closed loop).
    pub(crate) pace: Option<u32>,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}×{} on {} client thread{}",
            self.connections,
            self.streams,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )?;
        match self.pace {
            Some(pace) => write!(f, ", {pace} calls/s on each connection"),
            None => Ok(()),
        }
    }
}

/// What one h2load run measured.
#[derive(Clone, Debug)]
pub(crate) struct Load {
    /// Calls answered with a message, per second.
    pub(crate) rps: f64,
    /// Calls answered at all, refusals included, per second.
    pub(crate) completed_rps: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) failed: u64,
    /// Calls answered with a gRPC error (RESOURCE_EXHAUSTED when shed): h2load counts them
    /// as succeeded, so they are told from the answers by the bytes of data received.
    pub(crate) refused: u64,
}

/// A gRPC call as h2load sends it: the path, and the request framed (no compression).
pub(crate) struct Call {
    pub(crate) path: &'static str,
    body: tempfile::NamedTempFile,
    /// Bytes of the framed answer every served call receives.
    answer_bytes: u64,
}

impl Call {
    /// A call of `path` with `request`, every served one answered with `answer`.
    pub(crate) fn new<M: prost::Message, A: prost::Message>(
        path: &'static str,
        request: &M,
        answer: &A,
    ) -> anyhow::Result<Self> {
        let answer_bytes = 5 + answer.encoded_len() as u64;
        let message = request.encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
        frame.extend_from_slice(&message);
        let body = tempfile::NamedTempFile::new()?;
        std::fs::write(body.path(), frame)?;
        Ok(Self {
            path,
            body,
            answer_bytes,
        })
    }
}

/// h2load on PATH, installed from Debian's nghttp2-client when missing.
pub(crate) async fn ensure_h2load() -> anyhow::Result<()> {
    if Command::new("h2load")
        .arg("--version")
        .output()
        .await
        .is_ok()
    {
        return Ok(());
    }
    println!("kefu bench: installing h2load (nghttp2-client)");
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-q", "nghttp2-client"])
        .status()
        .await;
    match installed {
        Ok(status) if status.success() => Ok(()),
        _ => bail!("h2load is missing: install nghttp2-client (apt-get install nghttp2-client)"),
    }
}

/// Loads `port` with `call` for `seconds` after a second of warm-up.
pub(crate) async fn h2load(
    port: u16,
    call: &Call,
    token: Option<&str>,
    shape: Shape,
    seconds: u64,
) -> anyhow::Result<Load> {
    let log = tempfile::NamedTempFile::new()?;
    let script = tempfile::NamedTempFile::new()?;
    let url = format!("http://127.0.0.1:{port}{}", call.path);
    let mut command = Command::new("h2load");
    command
        .args(["-c", &shape.connections.to_string()])
        .args(["-m", &shape.streams.to_string()])
        .args(["-t", &shape.threads.to_string()])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("-d")
        .arg(call.body.path())
        .arg(format!("--log-file={}", log.path().display()));
    match shape.pace {
        // A script's times rather than `--rps`: `--rps` sends a hundred bursts a second
        // (measured here: ~70 calls within a millisecond, then 10 ms of nothing), and no
        // server answers such bursts within a latency bound without refusing most of each.
        Some(pace) => {
            let every_ms = 1000.0 / f64::from(pace.max(1));
            let calls = u64::from(pace) * (seconds + 1);
            let lines: String = (0..calls)
                .map(|n| format!("{:.3}\t{url}\n", n as f64 * every_ms))
                .collect();
            std::fs::write(script.path(), lines)?;
            command.arg(format!("--timing-script-file={}", script.path().display()));
        }
        None => {
            command
                .arg(&url)
                .args(["-D", &seconds.to_string(), "--warm-up-time=1"]);
        }
    }
    if let Some(token) = token {
        command.args(["-H", &format!("authorization: Bearer {token}")]);
    }
    let out = command.output().await.context("running h2load")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "h2load failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.strip_suffix(" req/s"))
        .and_then(|r| r.parse::<f64>().ok())
        .with_context(|| format!("no rate in h2load's output: {stdout}"))?;
    // "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
    let failed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .map_or(0, |l| {
            l.split(", ")
                .filter(|part| {
                    part.ends_with("failed")
                        || part.ends_with("errored")
                        || part.ends_with("timeout")
                })
                .filter_map(|part| part.split(' ').next()?.parse::<u64>().ok())
                .sum()
        });
    // "requests: N total, N started, N done, N succeeded, ..." and "traffic: ... , X (N) data".
    let succeeded = stdout
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .and_then(|l| l.split(", ").find(|p| p.ends_with(" succeeded")))
        .and_then(|p| p.split(' ').next()?.parse::<u64>().ok())
        .with_context(|| format!("no count of requests in h2load's output: {stdout}"))?;
    let data = stdout
        .lines()
        .find_map(|l| l.strip_prefix("traffic: "))
        .and_then(|l| l.split(", ").find(|p| p.ends_with(" data")))
        .and_then(|p| p.split_once('(')?.1.split_once(')')?.0.parse::<u64>().ok())
        .with_context(|| format!("no data bytes in h2load's output: {stdout}"))?;
    let answered = (data / call.answer_bytes).min(succeeded);
    let refused = succeeded - answered;
    let completed_rps = rps;
    let rps = if succeeded == 0 {
        0.0
    } else {
        rps * answered as f64 / succeeded as f64
    };
    // One line a request: start (µs since the epoch), HTTP status, µs to the response's end.
    let mut latencies: Vec<u64> = std::fs::read_to_string(log.path())?
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    latencies.sort_unstable();
    let at = |p: f64| {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil().max(1.0) as usize;
        Duration::from_micros(latencies[rank.min(latencies.len()) - 1])
    };
    Ok(Load {
        rps,
        completed_rps,
        p50: at(50.0),
        p99: at(99.0),
        failed,
        refused,
    })
}

/// The median of each figure over several runs (this machine is shared and noisy).
pub(crate) fn median(runs: &[Load]) -> Load {
    let pick = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or_default()
    };
    let secs = |f: fn(&Load) -> Duration| {
        Duration::from_secs_f64(pick(runs.iter().map(|r| f(r).as_secs_f64()).collect()))
    };
    Load {
        rps: pick(runs.iter().map(|r| r.rps).collect()),
        completed_rps: pick(runs.iter().map(|r| r.completed_rps).collect()),
        p50: secs(|r| r.p50),
        p99: secs(|r| r.p99),
        failed: runs.iter().map(|r| r.failed).sum(),
        refused: runs.iter().map(|r| r.refused).sum(),
    }
}

/// A port nobody listens on now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// This binary as a child process, killed when dropped.
pub(crate) fn spawn_kefu(args: &[&str], env: &[(String, String)]) -> anyhow::Result<Child> {
    let exe: PathBuf = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .env_remove("KEFU_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    Ok(command.spawn()?)
}

/// Waits until `port` accepts connections.
pub(crate) async fn listening(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing listens on {port} after a minute")
}

/// Resident memory of process `pid`, in MB (10^6 bytes, as the targets are written; Linux).
pub(crate) fn resident_mb(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib * 1024.0 / 1e6)
}

/// CPU time process `pid` has used, in seconds (Linux: `/proc/<pid>/stat` counts in the
/// ABI's fixed 100 ticks a second).
pub(crate) fn cpu_seconds(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat_cpu_seconds(&stat))
        .unwrap_or(0.0)
}

/// CPU time, user and system, of one line of `/proc/<pid>/stat`.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name, in parentheses, may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// CPU time used so far by the processes named `postgres` (the server and its backends,
/// those that still run), in seconds.
pub(crate) fn postgres_cpu_seconds() -> f64 {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    processes
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("stat")).ok())
        .filter(|stat| stat.contains(" (postgres) "))
        .filter_map(|stat| stat_cpu_seconds(&stat))
        .sum()
}

/// The machine's CPU time so far, busy and in all, in seconds summed over its cores
/// (`/proc/stat`; idle and waiting for I/O are not busy).
pub(crate) fn machine_cpu_seconds() -> (f64, f64) {
    let ticks: Vec<f64> = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let line = stat.lines().next()?.strip_prefix("cpu ")?.to_owned();
            Some(
                line.split_whitespace()
                    .filter_map(|t| t.parse().ok())
                    .collect(),
            )
        })
        .unwrap_or_default();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    ((total - idle) / 100.0, total / 100.0)
}

/// Writes `order` where the reference reads its answer.
pub(crate) fn answer_file(order: &opb::Order) -> anyhow::Result<tempfile::NamedTempFile> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), order.encode_to_vec())?;
    Ok(file)
}

/// The path of a temporary file, as an argument.
pub(crate) fn arg(path: &Path) -> String {
    path.display().to_string()
}
