//! The suite's metrics, exported over OTLP with the traces: named as OpenTelemetry's semantic
//! conventions name them (`rpc.*`, `db.client.*`, `messaging.*`) and under `kefu.*` where
//! they have no name. Instruments are made on first use, after telemetry set the provider; a
//! process without an exporter records into nothing.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, UpDownCounter};
use sea_orm::DatabaseConnection;

/// Every instrument of the suite.
#[derive(Debug)]
pub struct Metrics {
    /// Server calls by rpc.service, rpc.method and rpc.grpc.status_code, in seconds.
    pub rpc_server_duration: Histogram<f64>,
    /// Outbound calls, likewise.
    pub rpc_client_duration: Histogram<f64>,
    /// Database queries by db.system.name, db.operation.name and db.collection.name.
    pub db_operation_duration: Histogram<f64>,
    /// From an event's commit to its position in the stream, by kefu.source.
    pub relay_lag: Histogram<f64>,
    /// Relay rounds that failed, by kefu.source.
    pub relay_failures: Counter<u64>,
    /// The last position of each stream, by kefu.source.
    pub stream_head: Gauge<u64>,
    /// Open StreamEvents subscriptions, by kefu.source.
    pub stream_subscribers: UpDownCounter<i64>,
    /// Events a consumer applied, by messaging.consumer.group.name and kefu.source.
    pub consumed: Counter<u64>,
    /// A consumer's cursor, by messaging.consumer.group.name and kefu.source: with
    /// kefu.events.head, its lag in positions.
    pub consumer_position: Gauge<u64>,
    /// How old the last event a consumer applied was when applied, in seconds.
    pub consumer_lag: Gauge<f64>,
    /// Hot-state reads by kefu.hot_state.result: hit, miss, error or skipped (breaker open).
    pub hot_state_reads: Counter<u64>,
    /// 1 while the hot-state breaker is open.
    pub hot_state_breaker_open: Gauge<u64>,
    /// complaint-desk's deadline warnings and breaches, by kefu.deadline and kefu.outcome.
    pub complaint_deadlines: Counter<u64>,
    /// Surveys not sent, by kefu.reason (quiet_period, opted_out).
    pub surveys_skipped: Counter<u64>,
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether metrics leave the process: hot paths skip building attributes when they do not.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

pub(crate) fn set_exporting() {
    EXPORTING.store(true, Ordering::Relaxed);
}

/// The instruments, made the first time they are asked for.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| build(&opentelemetry::global::meter("kefu")))
}

fn build(meter: &Meter) -> Metrics {
    let seconds = |name: &'static str, description: &'static str| {
        meter
            .f64_histogram(name)
            .with_unit("s")
            .with_description(description)
            .with_boundaries(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0,
            ])
            .build()
    };
    Metrics {
        rpc_server_duration: seconds("rpc.server.call.duration", "gRPC calls served"),
        rpc_client_duration: seconds("rpc.client.call.duration", "gRPC calls made"),
        db_operation_duration: seconds("db.client.operation.duration", "database queries"),
        relay_lag: seconds(
            "kefu.events.relay.lag",
            "from an event's commit to its position in the stream",
        ),
        relay_failures: meter
            .u64_counter("kefu.events.relay.failures")
            .with_description("relay rounds that failed")
            .build(),
        stream_head: meter
            .u64_gauge("kefu.events.head")
            .with_description("the last position of the stream")
            .build(),
        stream_subscribers: meter
            .i64_up_down_counter("kefu.events.subscribers")
            .with_description("open StreamEvents subscriptions")
            .build(),
        consumed: meter
            .u64_counter("messaging.client.consumed.messages")
            .with_description("events a consumer applied")
            .build(),
        consumer_position: meter
            .u64_gauge("kefu.consumer.position")
            .with_description("the position of the last event a consumer applied")
            .build(),
        consumer_lag: meter
            .f64_gauge("kefu.consumer.lag")
            .with_unit("s")
            .with_description("how old the last event a consumer applied was")
            .build(),
        hot_state_reads: meter
            .u64_counter("kefu.hot_state.reads")
            .with_description("hot-state reads by result")
            .build(),
        hot_state_breaker_open: meter
            .u64_gauge("kefu.hot_state.breaker.open")
            .with_description("1 while the hot-state breaker is open")
            .build(),
        complaint_deadlines: meter
            .u64_counter("kefu.complaint.deadlines")
            .with_description("deadline warnings and breaches")
            .build(),
        surveys_skipped: meter
            .u64_counter("kefu.survey.skipped")
            .with_description("surveys not sent, by reason")
            .build(),
    }
}

/// One hot-state read, by its result: hit, miss, error or skipped.
pub fn hot_state_read(result: &'static str) {
    if exporting() {
        get()
            .hot_state_reads
            .add(1, &[KeyValue::new("kefu.hot_state.result", result)]);
    }
}

/// The hot-state breaker opened (true) or closed.
pub fn hot_state_breaker(open: bool) {
    get().hot_state_breaker_open.record(u64::from(open), &[]);
}

/// A complaint-desk deadline (first_response, resolution, ...) warned or breached.
pub fn complaint_deadline(deadline: &str, outcome: &'static str) {
    get().complaint_deadlines.add(
        1,
        &[
            KeyValue::new("kefu.deadline", deadline.to_owned()),
            KeyValue::new("kefu.outcome", outcome),
        ],
    );
}

/// A survey not sent, by reason (quiet_period, opted_out).
pub fn survey_skipped(reason: &str) {
    get()
        .surveys_skipped
        .add(1, &[KeyValue::new("kefu.reason", reason.to_owned())]);
}

/// The attributes of one call's duration: rpc.system, rpc.service, rpc.method and
/// rpc.grpc.status_code, from its path ("kefu.order.v1.OrderTrackingService/GetOrder").
pub fn rpc_attributes(path: &str, status: &str) -> [KeyValue; 4] {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    [
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", service.to_owned()),
        KeyValue::new("rpc.method", method.to_owned()),
        KeyValue::new("rpc.grpc.status_code", status.parse::<i64>().unwrap_or(2)),
    ]
}

/// Observes the connection pool of `service`'s database: `db.client.connection.count` by
/// state (idle, used) and `db.client.connection.max`.
pub fn observe_pool(db: &DatabaseConnection, service: &'static str) {
    let meter = opentelemetry::global::meter("kefu");
    let counted = db.clone();
    let pool = KeyValue::new("db.client.connection.pool.name", service);
    let name = pool.clone();
    // The provider keeps the callbacks; the handles need not live.
    let _counts = meter
        .i64_observable_up_down_counter("db.client.connection.count")
        .with_description("connections of the pool by state")
        .with_callback(move |observer| {
            let (size, idle) = pool_size(&counted);
            let used = size.saturating_sub(idle);
            observer.observe(
                i64::from(idle),
                &[
                    name.clone(),
                    KeyValue::new("db.client.connection.state", "idle"),
                ],
            );
            observer.observe(
                i64::from(used),
                &[
                    name.clone(),
                    KeyValue::new("db.client.connection.state", "used"),
                ],
            );
        })
        .build();
    let max = db.clone();
    let _limit = meter
        .i64_observable_up_down_counter("db.client.connection.max")
        .with_description("the most connections the pool opens")
        .with_callback(move |observer| {
            observer.observe(i64::from(pool_max(&max)), std::slice::from_ref(&pool));
        })
        .build();
}

fn pool_size(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(0))
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(0))
        }
    }
}

fn pool_max(db: &DatabaseConnection) -> u32 {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => db
            .get_postgres_connection_pool()
            .options()
            .get_max_connections(),
        _ => db
            .get_sqlite_connection_pool()
            .options()
            .get_max_connections(),
    }
}
