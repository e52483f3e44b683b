//! `kefu bench`: the suite's figures beside references measured in the same run, all from
//! outside. Each service is `kefu serve --service <name>`, a process of its own on its own
//! PostgreSQL database (`suite`); the bench loads them from its own process: h2load for the
//! hot read against a bare tonic server (`outside`, `reference`), its own gRPC client for
//! writes against a plain transaction (`writes`), stream subscribers (`fanout`) and stored
//! orders at three sizes (`scale`). It prints figures; nothing here passes or fails on a
//! number.

mod fanout;
mod outside;
mod overload;
mod reference;
mod scale;
mod suite;
mod writes;

pub(crate) use reference::serve as serve_reference;

use suite::Suite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Subscribers of the fan-out measurement.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Moves per second committed while the subscribers read, one fan-out run for each.
    #[arg(long, value_delimiter = ',', default_value = "1000,250")]
    events_per_second: Vec<u64>,
    /// Runs of each h2load figure, loaded in turn; the bench prints their medians.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Stored orders to measure reads and moves at, seeded in turn through the bulk path.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    scale: Vec<u64>,
    /// Only these parts, by name: read, writes, fanout, scale, overload. Empty: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

impl BenchArgs {
    fn runs(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// Calls in flight for writes, moves and the scale figures.
const WRITERS: usize = 16;

/// A bearer token on every call; cheap to clone with the client.
#[derive(Clone, Debug)]
pub(crate) struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    fn new(token: &str) -> anyhow::Result<Self> {
        Ok(Self(format!("Bearer {token}").parse()?))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub(crate) type Authed = InterceptedService<Channel, Bearer>;

/// What one call of a measurement came to.
pub(crate) enum Outcome {
    Answered,
    Refused(tonic::Status),
    /// Nothing left to do for this worker.
    Exhausted,
}

impl<T> From<Result<T, tonic::Status>> for Outcome {
    fn from(result: Result<T, tonic::Status>) -> Self {
        match result {
            Ok(_) => Outcome::Answered,
            Err(status) => Outcome::Refused(status),
        }
    }
}

/// Latencies of the answered calls of one measurement, and what was refused.
pub(crate) struct Figures {
    elapsed: Duration,
    latencies: Vec<Duration>,
    refused: u64,
    first_refusal: Option<tonic::Status>,
}

impl Figures {
    pub(crate) fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    /// Says what was refused, once, so a figure never hides failures.
    fn refusals(&self) -> String {
        match &self.first_refusal {
            None => String::new(),
            Some(status) => format!(
                "; {} refused, first: {:?} {}",
                self.refused,
                status.code(),
                status.message()
            ),
        }
    }
}

pub(crate) fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Runs `op` from `concurrency` workers for `duration`, or until every worker is exhausted.
pub(crate) async fn measure<F, Fut>(concurrency: usize, duration: Duration, op: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Outcome> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let op = op.clone();
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut refused, mut first_refusal) = (Vec::new(), 0, None);
            while started.elapsed() < duration {
                let t = Instant::now();
                match op(w).await {
                    Outcome::Answered => latencies.push(t.elapsed()),
                    Outcome::Refused(status) => {
                        refused += 1;
                        first_refusal.get_or_insert(status);
                    }
                    Outcome::Exhausted => break,
                }
            }
            (latencies, refused, first_refusal)
        }));
    }
    let mut figures = Figures {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        refused: 0,
        first_refusal: None,
    };
    for worker in workers {
        if let Ok((latencies, refused, first)) = worker.await {
            figures.latencies.extend(latencies);
            figures.refused += refused;
            if figures.first_refusal.is_none() {
                figures.first_refusal = first;
            }
        }
    }
    figures.elapsed = started.elapsed();
    figures
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `n` connections to `port`, for workers to share round-robin.
pub(crate) async fn channels(port: u16, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..n {
        channels.push(
            Channel::from_shared(format!("http://127.0.0.1:{port}"))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }
    Ok(channels)
}

/// A new customer in `suite`'s customer-registry; its id.
pub(crate) async fn new_customer(suite: &Suite, bearer: &Bearer) -> anyhow::Result<String> {
    let channel = channels(suite.port("customer-registry")?, 1)
        .await?
        .remove(0);
    Ok(
        CustomerRegistryServiceClient::with_interceptor(channel, bearer.clone())
            .create_customer(cpb::CreateCustomerRequest {
                customer: Some(kefu::samples::customer()),
                request_id: String::new(),
            })
            .await?
            .into_inner()
            .id,
    )
}

/// Four clients of `port`, each on its own connection, for workers to share round-robin.
pub(crate) async fn clients<C>(
    port: u16,
    make: impl Fn(Channel, Bearer) -> C,
    bearer: &Bearer,
) -> anyhow::Result<Vec<C>> {
    Ok(channels(port, 4)
        .await?
        .into_iter()
        .map(|c| make(c, bearer.clone()))
        .collect())
}

/// Creates `n` orders of `customer`, `WRITERS` at a time; their ids.
pub(crate) async fn new_orders(
    orders: &[OrderTrackingServiceClient<Authed>],
    customer: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut creators = Vec::new();
    for w in 0..WRITERS {
        let mut client = orders[w % orders.len()].clone();
        let customer = customer.to_owned();
        let share = n / WRITERS + usize::from(w < n % WRITERS);
        creators.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                let created = client
                    .create_order(opb::CreateOrderRequest {
                        order: Some(kefu::samples::order(&customer)),
                        request_id: String::new(),
                    })
                    .await?;
                ids.push(created.into_inner().id);
            }
            Ok::<_, tonic::Status>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(n);
    for creator in creators {
        ids.extend(creator.await??);
    }
    Ok(ids)
}

/// The figures of one run, printed together at the end as the README shows them.
#[derive(Default)]
pub(crate) struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    pub(crate) fn row(
        &mut self,
        figure: impl Into<String>,
        kefu: impl Into<String>,
        reference: impl Into<String>,
        ratio: impl Into<String>,
        target: impl Into<String>,
    ) {
        self.rows.push([
            figure.into(),
            kefu.into(),
            reference.into(),
            ratio.into(),
            target.into(),
        ]);
    }

    fn print(&self) {
        println!("\n| figure | Kefu | reference | ratio | target |");
        println!("| --- | --- | --- | --- | --- |");
        for [figure, kefu, reference, ratio, target] in &self.rows {
            println!("| {figure} | {kefu} | {reference} | {ratio} | {target} |");
        }
    }
}

/// "met" or "not met", after a target's text.
pub(crate) fn verdict(target: &str, met: bool) -> String {
    format!("{target}: {}", if met { "met" } else { "not met" })
}

pub(crate) fn percent(part: f64, whole: f64) -> String {
    format!("{:.0}%", 100.0 * part / whole.max(1e-9))
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    println!(
        "kefu bench: {} cores, {} s per figure, release={}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.seconds,
        !cfg!(debug_assertions)
    );
    if cfg!(debug_assertions) {
        println!("  (a debug build: figures mean little; cargo run --release --bin kefu -- bench)");
    }
    outside::ensure_h2load().await?;
    let mut table = Table::default();
    let mut memory = Vec::new();
    {
        println!("customer-registry and order-tracking, each `kefu serve --service <name>`");
        let suite = Suite::start(&["customer-registry", "order-tracking"]).await?;
        if args.runs("read") {
            outside::hot_read(&suite, &args, &mut table).await?;
        }
        let writes = if args.runs("writes") {
            Some(writes::Writes::new(&suite, &args).await?)
        } else {
            None
        };
        if let Some(writes) = &writes {
            writes.orders(&suite, &mut table, "").await?;
            writes.customers(&suite, &mut table).await?;
        }
        if args.runs("fanout") {
            for rate in &args.events_per_second {
                fanout::run(&suite, &args, *rate, &mut table).await?;
            }
        }
        if args.runs("scale") {
            scale::run(&suite, &args, &mut table).await?;
        }
        memory.extend(suite.memory(&["customer-registry", "order-tracking"]));
        drop(suite);

        // Each other service with the services it calls, so that the two cores here are
        // not shared with consumers a deployment runs on other machines.
        if let Some(writes) = &writes {
            println!("complaint-desk with customer-registry and order-tracking");
            let desk =
                Suite::start(&["customer-registry", "order-tracking", "complaint-desk"]).await?;
            writes.complaints(&desk, &mut table).await?;
            memory.extend(desk.memory(&["complaint-desk"]));
            drop(desk);
        }
        if writes.is_some() || args.runs("overload") {
            println!("survey alone");
            let survey = Suite::start(&["survey"]).await?;
            if let Some(writes) = &writes {
                writes.questionnaires(&survey, &mut table).await?;
            }
            if args.runs("overload") {
                overload::run(&survey, &args, &mut table).await?;
            }
            memory.extend(survey.memory(&["survey"]));
            drop(survey);
        }
        if let Some(writes) = &writes {
            println!("staff-kpi alone");
            let staff = Suite::start(&["staff-kpi"]).await?;
            writes.staff(&staff, &mut table).await?;
            memory.extend(staff.memory(&["staff-kpi"]));
            drop(staff);

            // And what the same writes come to when all five share this machine's two cores.
            println!("all five services");
            let all: Vec<&str> = kefu::SERVICES.iter().map(|s| s.name()).collect();
            let five = Suite::start(&all).await?;
            writes
                .orders(&five, &mut table, ", all five services on these two cores")
                .await?;
        }
    }
    for (name, idle, loaded) in memory {
        table.row(
            format!("resident memory, {name}"),
            format!("{idle:.0} MB idle, {loaded:.0} MB after its loads"),
            "",
            "",
            verdict("idle ≤ 64 MB", idle <= 64.0),
        );
    }
    table.print();
    Ok(())
}
