//! `kefu bench`: order-tracking on PostgreSQL and Redis against references measured in the
//! same run. First from outside (`outside`): `kefu serve` and a bare tonic server
//! (`reference`) as processes of their own, loaded in turn by h2load. Then in-process figures,
//! labelled as such, with the same client for both sides: lifecycle moves against a plain
//! UPDATE + INSERT transaction, event fan-out to 100 stream subscribers. It prints figures;
//! nothing here passes or fails on a number.

mod outside;
mod reference;

pub(crate) use reference::serve as serve_reference;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt as _;
use kefu_platform::auth::{Role, TokenKeys};
use kefu_platform::events;
use kefu_platform::server::Lifecycle;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::TestDatabase;
use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
use tokio::sync::Mutex;
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
    /// Events per second the fan-out producer commits.
    #[arg(long, default_value_t = 1000)]
    events_per_second: u64,
    /// Runs of each outside figure, loaded in turn; the bench prints their medians.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Only the figures measured from outside (h2load), not the in-process ones.
    #[arg(long)]
    outside_only: bool,
}

type Bearer =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send + Sync>;
type Orders = OrderTrackingServiceClient<InterceptedService<Channel, Bearer>>;
/// One worker's moves still to make, the next one last.
type MoveQueue = Vec<(String, opb::OrderState)>;

/// Latencies and count of one measurement.
struct Figures {
    calls: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn rps(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank.min(sorted.len()) - 1]
    }
}

/// Runs `op` from `concurrency` workers for `duration` (or until `op` says it ran out).
async fn measure<F, Fut>(concurrency: usize, duration: Duration, op: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let op = op.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let t = Instant::now();
                if !op(w).await {
                    break;
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap_or_default());
    }
    Figures {
        calls: latencies.len() as u64,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn bearer(token: String) -> Bearer {
    Box::new(move |mut r: tonic::Request<()>| {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| tonic::Status::internal("token"))?;
        r.metadata_mut().insert("authorization", value);
        Ok(r)
    })
}

async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

fn order(customer: &str) -> opb::Order {
    opb::Order {
        customer_id: customer.into(),
        channel: opb::Channel::Api as i32,
        service_level: opb::ServiceLevel::Standard as i32,
        distance_km: 120,
        origin: Some(kefu_proto::common::Address {
            province: "Fujian".into(),
            city: "Fuzhou".into(),
            ..Default::default()
        }),
        destination: Some(kefu_proto::common::Address {
            province: "Fujian".into(),
            city: "Quanzhou".into(),
            ..Default::default()
        }),
        lines: vec![opb::CargoLine {
            description: "parts".into(),
            pieces: 2,
            weight_grams: 4_000,
            volume_cm3: 8_000,
            declared_value: None,
            special: None,
        }],
        ..Default::default()
    }
}

/// Hot GetOrder (and Health/Check) of `kefu serve`, against the bare reference server, each
/// its own process, loaded by h2load; resident memory idle and under that load.
async fn from_outside(args: &BenchArgs) -> anyhow::Result<()> {
    use outside::{Call, Shape, h2load, median};

    outside::ensure_h2load().await?;
    let registry_db = TestDatabase::postgres().await?;
    let orders_db = TestDatabase::postgres().await?;
    let redis = kefu_testkit::redis_url();
    let settings = kefu_testkit::settings(
        kefu::SERVICES,
        &[
            ("customer-registry", &registry_db.url),
            ("order-tracking", &orders_db.url),
        ],
        &[("KEFU__REDIS__URL", redis.as_str())],
    );
    let served = "customer-registry,order-tracking";
    kefu::migrate(&settings, &kefu::services(served)?).await?;
    let token = TokenKeys::new(&settings.auth).mint("bench", Role::Manager, &[], "", 3600);

    let port = outside::free_port()?;
    let env: Vec<(String, String)> = [
        (
            "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
            registry_db.url.expose().to_owned(),
        ),
        (
            "KEFU__ORDER_TRACKING__DATABASE_URL",
            orders_db.url.expose().to_owned(),
        ),
        ("KEFU__REDIS__URL", redis.clone()),
        ("KEFU__ORDER_TRACKING__HOT_STORE", "redis".to_owned()),
        ("KEFU__SERVER__LISTEN", format!("127.0.0.1:{port}")),
        (
            "KEFU__CUSTOMER_REGISTRY__ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("KEFU__SERVER__MAX_CONCURRENT_REQUESTS", "4096".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let server = outside::spawn_kefu(&["serve", "--service", served], &env)?;
    outside::listening(port).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = outside::resident_mib(server.id());

    let channel = connect(([127, 0, 0, 1], port).into()).await?;
    let customer =
        CustomerRegistryServiceClient::with_interceptor(channel.clone(), bearer(token.clone()))
            .create_customer(cpb::CreateCustomerRequest {
                customer: Some(bench_customer()),
                request_id: String::new(),
            })
            .await?
            .into_inner()
            .id;
    let mut orders = OrderTrackingServiceClient::with_interceptor(channel, bearer(token.clone()));
    let id = orders
        .create_order(opb::CreateOrderRequest {
            order: Some(order(&customer)),
            request_id: String::new(),
        })
        .await?
        .into_inner()
        .id;
    let request = opb::GetOrderRequest { order_id: id };
    let answer = orders.get_order(request.clone()).await?.into_inner();
    let answer_file = outside::answer_file(&answer)?;
    let reference_port = outside::free_port()?;
    let _reference = outside::spawn_kefu(
        &[
            "bench-reference",
            "--listen",
            &format!("127.0.0.1:{reference_port}"),
            "--answer",
            &outside::arg(answer_file.path()),
        ],
        &[],
    )?;
    outside::listening(reference_port).await?;
    // h2load counts a gRPC error (status in the trailers) as a success: check both answer.
    let from_reference =
        OrderTrackingServiceClient::new(connect(([127, 0, 0, 1], reference_port).into()).await?)
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
    tonic_health::pb::health_client::HealthClient::new(
        connect(([127, 0, 0, 1], port).into()).await?,
    )
    .check(health.clone())
    .await?;

    let get = Call::new("/kefu.order.v1.OrderTrackingService/GetOrder", &request)?;
    let check = Call::new("/grpc.health.v1.Health/Check", &health)?;
    // Two client threads: with one, the client sometimes held the reference down.
    let shape = Shape {
        connections: 4,
        streams: 16,
        threads: 2,
    };
    let (mut bare, mut hot, mut healthy) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        bare.push(h2load(reference_port, &get, None, shape, args.seconds).await?);
        hot.push(h2load(port, &get, Some(&token), shape, args.seconds).await?);
        healthy.push(h2load(port, &check, None, shape, args.seconds).await?);
    }
    let loaded = outside::resident_mib(server.id());
    // The same 64 in flight over twice the connections: if the client were the limit, this
    // would lift the reference.
    let wider = Shape {
        connections: 8,
        streams: 8,
        threads: 2,
    };
    let bare_wider = h2load(reference_port, &get, None, wider, args.seconds).await?;
    let (bare, hot, healthy) = (median(&bare), median(&hot), median(&healthy));

    println!(
        "\nFrom outside: h2load {shape}, each server its own process, medians of {} runs of {} s",
        args.rounds, args.seconds
    );
    let line = |what: &str, load: &outside::Load| {
        println!(
            "  {what:<46} {:>9.0} calls/s  p50 {}  p99 {}  {:>5.1}% of the reference, p99 {:.1}×{}",
            load.rps,
            ms(load.p50),
            ms(load.p99),
            100.0 * load.rps / bare.rps.max(1.0),
            load.p99.as_secs_f64() / bare.p99.as_secs_f64().max(1e-9),
            if load.failed > 0 {
                format!(", {} failed", load.failed)
            } else {
                String::new()
            }
        );
    };
    line("reference: bare tonic GetOrder", &bare);
    line("kefu serve: hot GetOrder (Redis)", &hot);
    line("kefu serve: grpc.health.v1.Health/Check", &healthy);
    println!(
        "  the reference with h2load {wider}: {:.0} calls/s ({})",
        bare_wider.rps,
        if bare_wider.rps > bare.rps * 1.1 {
            "higher: the client limited the reference, read the ratios as too kind"
        } else {
            "not higher: the server is the limit"
        }
    );
    println!(
        "  kefu serve --service {served}: resident {idle:.0} MiB idle, {loaded:.0} MiB after the GetOrder load"
    );
    Ok(())
}

fn bench_customer() -> cpb::Customer {
    cpb::Customer {
        kind: cpb::CustomerKind::Enterprise as i32,
        display_name: "Bench Logistics".into(),
        registration_number: "91350100M000100Y43".into(),
        contacts: vec![cpb::Contact {
            display_name: "Li".into(),
            phone: "0591-87654321".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    println!(
        "kefu bench: {} cores, {} s per figure, release={}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.seconds,
        !cfg!(debug_assertions)
    );
    from_outside(&args).await?;
    if args.outside_only {
        return Ok(());
    }
    println!("\nIn process: the bench's own client and the server share this process");
    let duration = Duration::from_secs(args.seconds);
    let registry_db = TestDatabase::postgres()
        .await
        .context("PostgreSQL for the bench (KEFU_TEST_POSTGRES)")?;
    let orders_db = TestDatabase::postgres().await?;
    let redis = kefu_testkit::redis_url();
    let settings = kefu_testkit::settings(
        kefu::SERVICES,
        &[
            ("customer-registry", &registry_db.url),
            ("order-tracking", &orders_db.url),
        ],
        &[
            ("KEFU__REDIS__URL", redis.as_str()),
            ("KEFU__SERVER__MAX_CONCURRENT_REQUESTS", "4096"),
        ],
    );
    kefu::migrate(&settings, kefu::SERVICES).await?;
    let lifecycle = Lifecycle::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let suite = kefu::start(&settings, kefu::SERVICES, listener, lifecycle.clone()).await?;
    let order_log = suite
        .logs
        .iter()
        .find(|(s, _)| *s == kefu_order_tracking::SERVICE)
        .map(|(_, log)| log.clone())
        .context("order-tracking's log")?;
    tokio::spawn(suite.server.wait());
    let token = TokenKeys::new(&settings.auth).mint("bench", Role::Manager, &[], "", 3600);

    let channel = connect(addr).await?;
    let customer =
        CustomerRegistryServiceClient::with_interceptor(channel.clone(), bearer(token.clone()))
            .create_customer(cpb::CreateCustomerRequest {
                customer: Some(bench_customer()),
                request_id: String::new(),
            })
            .await?
            .into_inner()
            .id;
    let orders = |channel: Channel| -> Orders {
        OrderTrackingServiceClient::with_interceptor(channel, bearer(token.clone()))
    };

    // 1. Hot GetOrder against a bare tonic server, 64 calls in flight over 4 connections.
    let mut hot_ids = Vec::new();
    for _ in 0..64 {
        let id = orders(channel.clone())
            .create_order(opb::CreateOrderRequest {
                order: Some(order(&customer)),
                request_id: String::new(),
            })
            .await?
            .into_inner()
            .id;
        orders(channel.clone())
            .get_order(opb::GetOrderRequest {
                order_id: id.clone(),
            })
            .await?;
        hot_ids.push(id);
    }
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(connect(addr).await?);
    }
    let clients: Arc<Vec<Mutex<Orders>>> = Arc::new(
        (0..64)
            .map(|w| Mutex::new(orders(channels[w % 4].clone())))
            .collect(),
    );
    let ids = Arc::new(hot_ids);
    let get = {
        let (clients, ids) = (clients.clone(), ids.clone());
        measure(64, duration, move |w| {
            let (clients, ids) = (clients.clone(), ids.clone());
            async move {
                let mut client = clients[w].lock().await;
                client
                    .get_order(opb::GetOrderRequest {
                        order_id: ids[w].clone(),
                    })
                    .await
                    .is_ok()
            }
        })
        .await
    };
    let echo_addr = {
        let (_, health) = tonic_health::server::health_reporter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let echo_addr = listener.local_addr()?;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        echo_addr
    };
    let mut echo_channels = Vec::new();
    for _ in 0..4 {
        echo_channels.push(connect(echo_addr).await?);
    }
    let echo_clients: Arc<Vec<Mutex<tonic_health::pb::health_client::HealthClient<Channel>>>> =
        Arc::new(
            (0..64)
                .map(|w| {
                    Mutex::new(tonic_health::pb::health_client::HealthClient::new(
                        echo_channels[w % 4].clone(),
                    ))
                })
                .collect(),
        );
    let echo = measure(64, duration, move |w| {
        let clients = echo_clients.clone();
        async move {
            let mut client = clients[w].lock().await;
            client
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
        }
    })
    .await;

    // 2. Lifecycle moves against a plain UPDATE + INSERT transaction, 16 in flight.
    let fresh: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let target = (get.rps().max(1.0) as usize / 4).clamp(300, 3000);
    let creators: Vec<_> = (0..16)
        .map(|w| {
            let mut client = orders(channels[w % 4].clone());
            let (fresh, customer) = (fresh.clone(), customer.clone());
            tokio::spawn(async move {
                for _ in 0..target / 16 {
                    if let Ok(created) = client
                        .create_order(opb::CreateOrderRequest {
                            order: Some(order(&customer)),
                            request_id: String::new(),
                        })
                        .await
                    {
                        fresh.lock().await.push(created.into_inner().id);
                    }
                }
            })
        })
        .collect();
    for c in creators {
        c.await?;
    }
    // Each order takes three legal moves: VERIFIED, PICKING, CANCELLED. Each worker owns
    // its orders, so an order's moves come one after another.
    let fresh = fresh.lock().await.clone();
    let queues: Arc<Vec<Mutex<MoveQueue>>> = Arc::new(
        (0..16)
            .map(|w| {
                Mutex::new(
                    fresh
                        .iter()
                        .skip(w)
                        .step_by(16)
                        .flat_map(|id| {
                            [
                                opb::OrderState::Cancelled,
                                opb::OrderState::Picking,
                                opb::OrderState::Verified,
                            ]
                            .map(|s| (id.clone(), s))
                        })
                        .collect(),
                )
            })
            .collect(),
    );
    let move_clients: Arc<Vec<Mutex<Orders>>> = Arc::new(
        (0..16)
            .map(|w| Mutex::new(orders(channels[w % 4].clone())))
            .collect(),
    );
    let failed_moves = Arc::new(AtomicUsize::new(0));
    let moves = {
        let failed = failed_moves.clone();
        measure(16, duration, move |w| {
            let (clients, queues, failed) = (move_clients.clone(), queues.clone(), failed.clone());
            async move {
                let Some(next) = queues[w].lock().await.pop() else {
                    return false;
                };
                let mut client = clients[w].lock().await;
                let request = opb::MoveOrderRequest {
                    order_id: next.0,
                    to_state: next.1 as i32,
                    ..Default::default()
                };
                if client.move_order(request).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
        })
        .await
    };
    let reference_db = kefu_platform::db::connect(&orders_db.url, &settings.database).await?;
    reference_db
        .execute_unprepared("CREATE TABLE bench_ref (id INT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    reference_db.execute_unprepared("CREATE TABLE bench_ref_log (id BIGSERIAL PRIMARY KEY, ref_id INT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())").await?;
    reference_db
        .execute_unprepared("INSERT INTO bench_ref SELECT g, 0 FROM generate_series(0, 1023) g")
        .await?;
    let reference = measure(16, duration, move |w| {
        let db = reference_db.clone();
        async move {
            let key = (w * 64 + rand_row()) % 1024;
            let txn = match db.begin().await {
                Ok(txn) => txn,
                Err(_) => return true,
            };
            let _ = txn
                .execute_unprepared(&format!("UPDATE bench_ref SET v = v + 1 WHERE id = {key}"))
                .await;
            let _ = txn
                .execute_unprepared(&format!(
                    "INSERT INTO bench_ref_log (ref_id) VALUES ({key})"
                ))
                .await;
            let _ = txn.commit().await;
            true
        }
    })
    .await;

    // 3. Fan-out: events/s committed to order-tracking's log, read by subscribers over gRPC.
    let head = order_log.head().await?;
    let delivered = Arc::new(AtomicU64::new(0));
    let lag: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut subscribers = Vec::new();
    for s in 0..args.subscribers {
        let mut client = orders(channels[s % 4].clone());
        let mut stream = client
            .stream_events(opb::StreamEventsRequest {
                after_position: head,
                filter: None,
            })
            .await?
            .into_inner();
        let (delivered, lag, stop) = (delivered.clone(), lag.clone(), stop.clone());
        subscribers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    item = stream.next() => match item {
                        Some(Ok(r)) => {
                            let event = r.event.unwrap_or_default();
                            if let Some(t) = event.occurred_at {
                                let at = std::time::UNIX_EPOCH + Duration::new(t.seconds as u64, t.nanos as u32);
                                mine.push(std::time::SystemTime::now().duration_since(at).unwrap_or_default());
                            }
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                }
            }
            lag.lock().await.extend(mine);
        }));
    }
    let produced = Arc::new(AtomicU64::new(0));
    let batch = (args.events_per_second / 100).max(1);
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    while started.elapsed() < duration {
        ticker.tick().await;
        let txn = order_log.db().begin().await?;
        for _ in 0..batch {
            let n = produced.fetch_add(1, Ordering::Relaxed);
            events::append(
                &txn,
                &format!("orders/bench-{n}"),
                &opb::OrderMoved {
                    order_id: format!("bench-{n}"),
                    ..Default::default()
                },
            )
            .await?;
        }
        txn.commit().await?;
        order_log.committed();
    }
    let produce_elapsed = started.elapsed();
    let expected = produced.load(Ordering::Relaxed) * args.subscribers as u64;
    let drain = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected && drain.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    for s in subscribers {
        s.await?;
    }
    let fan = Figures {
        calls: delivered.load(Ordering::Relaxed),
        elapsed: produce_elapsed,
        latencies: lag.lock().await.clone(),
    };

    println!();
    println!(
        "{:<44} {:>14} {:>14} {:>9}",
        "figure", "kefu", "reference", "ratio"
    );
    let row = |name: &str, kefu: String, reference: String, ratio: String| {
        println!("{name:<44} {kefu:>14} {reference:>14} {ratio:>9}");
    };
    row(
        "GetOrder hot, 64 in flight: RPS (vs echo)",
        format!("{:.0}", get.rps()),
        format!("{:.0}", echo.rps()),
        format!("{:.0}%", 100.0 * get.rps() / echo.rps()),
    );
    row(
        "GetOrder hot: p50",
        ms(get.percentile(50.0)),
        ms(echo.percentile(50.0)),
        String::new(),
    );
    row(
        "GetOrder hot: p99",
        ms(get.percentile(99.0)),
        ms(echo.percentile(99.0)),
        String::new(),
    );
    row(
        "moves, 16 in flight: RPS (vs UPDATE+INSERT)",
        format!("{:.0}", moves.rps()),
        format!("{:.0}", reference.rps()),
        format!("{:.0}%", 100.0 * moves.rps() / reference.rps()),
    );
    row(
        "moves: p99",
        ms(moves.percentile(99.0)),
        ms(reference.percentile(99.0)),
        String::new(),
    );
    row(
        &format!("fan-out to {}: delivered/s", args.subscribers),
        format!("{:.0}", fan.rps()),
        format!("{:.0}", expected as f64 / produce_elapsed.as_secs_f64()),
        format!("{:.0}%", 100.0 * fan.calls as f64 / expected.max(1) as f64),
    );
    row(
        "fan-out: p99 commit to delivery",
        ms(fan.percentile(99.0)),
        String::new(),
        String::new(),
    );
    row(
        "fan-out: lost",
        (expected.saturating_sub(fan.calls)).to_string(),
        String::new(),
        String::new(),
    );
    println!(
        "(moves refused: {}; orders moved: {} of {})",
        failed_moves.load(Ordering::Relaxed),
        moves.calls / 3,
        target
    );
    lifecycle.begin_shutdown(Duration::ZERO);
    Ok(())
}

/// A cheap spread of reference rows without a random-number dependency.
fn rand_row() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(7919, Ordering::Relaxed) % 1024
}
