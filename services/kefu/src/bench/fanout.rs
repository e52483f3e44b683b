//! Stream fan-out from outside: the bench's process commits `rate` moves a second to
//! order-tracking's process and reads them back on `--subscribers` StreamEvents streams. For
//! each delivered event it keeps two spans: from the event's time (set in the move's
//! transaction) to delivery, and from the move's acknowledgement to delivery, which is what
//! the relay and the streams add after the commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kefu_platform::time::from_timestamp;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use prost::Message as _;
use sea_orm::ConnectionTrait as _;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::suite::Suite;
use super::{Bearer, BenchArgs, Table, clients, ms, percentile, verdict};

/// When each move was acknowledged, by order and version.
type Acknowledged = Arc<std::sync::Mutex<HashMap<(String, i64), Instant>>>;

pub(crate) async fn run(
    suite: &Suite,
    args: &BenchArgs,
    rate: u64,
    table: &mut Table,
) -> anyhow::Result<()> {
    let bearer = Bearer::new(&suite.token)?;
    let orders = clients(
        suite.port("order-tracking")?,
        OrderTrackingServiceClient::with_interceptor,
        &bearer,
    )
    .await?;
    let customer = super::new_customer(suite, &bearer).await?;
    let moves = rate * args.seconds;
    // Three moves an order, each round over all orders, so one order's moves are far apart.
    let fresh = super::new_orders(&orders, &customer, moves.div_ceil(3) as usize).await?;
    let plan: Vec<(String, opb::OrderState)> = [
        opb::OrderState::Verified,
        opb::OrderState::Picking,
        opb::OrderState::Cancelled,
    ]
    .into_iter()
    .flat_map(|to| fresh.iter().map(move |id| (id.clone(), to)))
    .take(moves as usize)
    .collect();

    let db = suite.db("order-tracking").await?;
    // Every relay has positioned what intake wrote before subscribers start after the head.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let head: i64 = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COALESCE(MAX(position), 0) AS head FROM kefu_outbox",
        ))
        .await?
        .map_or(Ok(0), |row| row.try_get("", "head"))?;
    println!(
        "fan-out: {} moves/s for {} s to {} subscribers in the bench's process",
        rate, args.seconds, args.subscribers
    );

    let acknowledged: Acknowledged = Arc::default();
    let delivered = Arc::new(AtomicU64::new(0));
    let since_event: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let since_ack: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let stop = CancellationToken::new();
    let mut subscribers = Vec::new();
    for s in 0..args.subscribers {
        let mut stream = orders[s % orders.len()]
            .clone()
            .stream_events(opb::StreamEventsRequest {
                after_position: u64::try_from(head).unwrap_or(0),
                filter: Some(kefu_proto::common::EventFilter {
                    types: vec!["kefu.order.v1.OrderMoved".into()],
                    subjects: vec![],
                }),
            })
            .await?
            .into_inner();
        let (delivered, stop) = (delivered.clone(), stop.clone());
        let (since_event, since_ack, acknowledged) =
            (since_event.clone(), since_ack.clone(), acknowledged.clone());
        subscribers.push(tokio::spawn(async move {
            let (mut after_event, mut after_ack) = (Vec::new(), Vec::new());
            loop {
                let item = tokio::select! {
                    () = stop.cancelled() => break,
                    item = stream.next() => item,
                };
                let Some(Ok(answer)) = item else { break };
                let (now, wall) = (Instant::now(), chrono::Utc::now());
                delivered.fetch_add(1, Ordering::Relaxed);
                let event = answer.event.unwrap_or_default();
                if let Some(at) = event.occurred_at.as_ref().and_then(from_timestamp) {
                    after_event.push((wall - at).to_std().unwrap_or_default());
                }
                let moved = event
                    .payload
                    .and_then(|p| opb::OrderMoved::decode(p.value.as_slice()).ok());
                if let Some(moved) = moved {
                    let acked = acknowledged
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get(&(moved.order_id, moved.version))
                        .copied();
                    // Delivered before its acknowledgement reached the client: zero after it.
                    after_ack
                        .push(acked.map_or(Duration::ZERO, |a| now.saturating_duration_since(a)));
                }
            }
            since_event.lock().await.extend(after_event);
            since_ack.lock().await.extend(after_ack);
        }));
    }

    // Paced: one move a tick; a late tick catches up, so the rate holds on average.
    let tick = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut ticker = tokio::time::interval(tick);
    let (acked, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let mut in_flight = Vec::with_capacity(plan.len());
    for (n, (order_id, to)) in plan.into_iter().enumerate() {
        ticker.tick().await;
        let mut client = orders[n % orders.len()].clone();
        let (acked, refused, acknowledged) = (acked.clone(), refused.clone(), acknowledged.clone());
        in_flight.push(tokio::spawn(async move {
            let answer = client
                .move_order(opb::MoveOrderRequest {
                    order_id: order_id.clone(),
                    to_state: to as i32,
                    ..Default::default()
                })
                .await;
            match answer {
                Ok(order) => {
                    acknowledged
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert((order_id, order.get_ref().version), Instant::now());
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in in_flight {
        task.await?;
    }
    let produced = started.elapsed();
    let expected = acked.load(Ordering::Relaxed) * args.subscribers as u64;
    let drain = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected && drain.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    for subscriber in subscribers {
        subscriber.await?;
    }
    let (since_event, since_ack) = (since_event.lock().await, since_ack.lock().await);
    let p99 = percentile(&since_event, 99.0);
    let lost = expected.saturating_sub(delivered.load(Ordering::Relaxed));
    table.row(
        format!(
            "fan-out at {rate}/s ({:.0} moves/s made) to {} subscribers in another process: delivered/s",
            acked.load(Ordering::Relaxed) as f64 / produced.as_secs_f64(),
            args.subscribers
        ),
        format!(
            "{:.0}",
            delivered.load(Ordering::Relaxed) as f64 / produced.as_secs_f64()
        ),
        format!(
            "{:.0} (moves × subscribers)",
            expected as f64 / produced.as_secs_f64()
        ),
        super::percent(delivered.load(Ordering::Relaxed) as f64, expected as f64),
        match refused.load(Ordering::Relaxed) {
            0 => String::new(),
            n => format!("{n} moves refused"),
        },
    );
    table.row(
        format!("fan-out at {rate}/s: event time to delivery, p50 / p99"),
        format!("{} / {}", ms(percentile(&since_event, 50.0)), ms(p99)),
        "",
        "",
        if rate >= 1000 {
            verdict("p99 ≤ 10 ms", p99 <= Duration::from_millis(10))
        } else {
            "(below the target's rate)".to_owned()
        },
    );
    table.row(
        format!("fan-out at {rate}/s: the move's acknowledgement to delivery, p50 / p99"),
        format!(
            "{} / {}",
            ms(percentile(&since_ack, 50.0)),
            ms(percentile(&since_ack, 99.0))
        ),
        "",
        "",
        "",
    );
    table.row(
        format!("fan-out at {rate}/s: lost"),
        lost.to_string(),
        "",
        "",
        verdict("0", lost == 0),
    );
    Ok(())
}
