//! Telemetry set-up in one place: structured logs carrying trace ids, OTLP traces when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and a guard that flushes spans on shutdown.

use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, TelemetrySettings};

/// Keeps the tracer and meter providers alive; [`TelemetryGuard::shutdown`] flushes pending
/// spans and metrics.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    meters: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops the exporters. Called once, last, so no span of the drain is lost.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            eprintln!("telemetry: flushing spans failed: {e}");
        }
        if let Some(meters) = self.meters
            && let Err(e) = meters.shutdown_with_timeout(Duration::from_secs(5))
        {
            eprintln!("telemetry: flushing metrics failed: {e}");
        }
    }
}

/// Installs the global subscriber and tracer provider. `service` names the OTel resource.
///
/// A provider exists even without an exporter: it mints the trace ids that logs carry and
/// that events pass on, so correlation works the same with or without a collector.
pub fn init(settings: &TelemetrySettings, service: &str) -> anyhow::Result<TelemetryGuard> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(format!("kefu-{service}"))
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut meters = None;
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()?;
        builder = builder.with_batch_exporter(exporter);
        // Metrics go where traces go, every OTEL_METRIC_EXPORT_INTERVAL (60 s by default).
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()?;
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_periodic_exporter(exporter)
            .build();
        opentelemetry::global::set_meter_provider(provider.clone());
        crate::metrics::set_exporting();
        meters = Some(provider);
    }
    let provider = builder.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("kefu"));

    let filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.log_filter))?;
    let fmt = match settings.log_format {
        // Colour only for a person at a terminal: escape codes in a log file or a collector
        // are noise, and styling every span's fields cost a hot call about 1% of its CPU.
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(fmt)
        .try_init()?;
    Ok(TelemetryGuard { provider, meters })
}

/// The trace id of the current span, or empty when there is none.
pub fn current_trace_id() -> String {
    current_trace_id_of(&tracing::Span::current())
}

/// The trace id of `span`, or empty when it has none.
pub fn current_trace_id_of(span: &tracing::Span) -> String {
    let context = span.context();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        span_context.trace_id().to_string()
    } else {
        String::new()
    }
}

/// The W3C `traceparent` of the current span, for events and outbound calls.
pub fn current_traceparent() -> String {
    traceparent_of(&tracing::Span::current())
}

/// The W3C `traceparent` of `span`.
pub fn traceparent_of(span: &tracing::Span) -> String {
    let mut carrier = TraceparentCarrier(String::new());
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.0
}

/// Makes `span` continue the trace in `traceparent` (an event's producer) and link to the
/// producing span, as OpenTelemetry's messaging conventions ask of a consumer span.
pub fn continue_and_link(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier = TraceparentCarrier(traceparent.to_owned());
    let producer = TraceContextPropagator::new().extract(&carrier);
    let linked = producer.span().span_context().clone();
    // A span that already started cannot take a parent; that is harmless here.
    let _ = span.set_parent(producer);
    if linked.is_valid() {
        span.add_link(linked);
    }
}

struct TraceparentCarrier(String);

impl Injector for TraceparentCarrier {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = value;
        }
    }
}

impl Extractor for TraceparentCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// Reads W3C trace context out of HTTP headers (the server side).
pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes W3C trace context into gRPC metadata (the client side).
/// Writes W3C trace context into HTTP headers (the client side).
pub(crate) struct HeaderInjector<'a>(pub(crate) &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// A client span for one finished database query, at debug level (target `kefu::db`), so an
/// operator can turn them on (`telemetry.log_filter = "info,kefu::db=debug"`) without a
/// rebuild. The query is named by its operation and table only: the statement's text never
/// leaves, so no value in it can.
pub(crate) fn database_span(query: &sea_orm::metric::Info<'_>, system: &'static str) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
    let spans = tracing::enabled!(target: "kefu::db", tracing::Level::DEBUG);
    if !spans && !crate::metrics::exporting() {
        return;
    }
    let (operation, table) = query_summary(&query.statement.sql);
    crate::metrics::get().db_operation_duration.record(
        query.elapsed.as_secs_f64(),
        &[
            KeyValue::new("db.system.name", system),
            KeyValue::new("db.operation.name", operation.clone()),
            KeyValue::new("db.collection.name", table.clone()),
        ],
    );
    if !spans {
        return;
    }
    let end = std::time::SystemTime::now();
    let start = end.checked_sub(query.elapsed).unwrap_or(end);
    let tracer = opentelemetry::global::tracer("kefu");
    let parent = tracing::Span::current().context();
    let mut span = tracer
        .span_builder(format!("{operation} {table}").trim_end().to_owned())
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes(vec![
            KeyValue::new("db.system.name", system),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.collection.name", table),
        ])
        .start_with_context(&tracer, &parent);
    if query.failed {
        span.set_status(Status::error("query failed"));
    }
    span.end_with_timestamp(end);
}

/// "SELECT" and "kefu_outbox" of `SELECT ... FROM "kefu_outbox" ...`.
fn query_summary(sql: &str) -> (String, String) {
    let mut words = sql.split_whitespace();
    let operation = words.next().unwrap_or_default().to_ascii_uppercase();
    let mut previous = String::new();
    for word in sql.split_whitespace() {
        if matches!(previous.as_str(), "FROM" | "INTO" | "UPDATE") {
            let table = word.trim_matches(|c: char| c == '"' || c == '`' || c == '(');
            return (operation, table.to_owned());
        }
        previous = word.to_ascii_uppercase();
    }
    (operation, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_named_by_its_operation_and_table_only() {
        assert_eq!(
            query_summary(r#"SELECT "v" FROM "orders" WHERE "id" = $1"#),
            ("SELECT".to_owned(), "orders".to_owned())
        );
        assert_eq!(
            query_summary(r#"INSERT INTO "kefu_outbox" ("event_id") VALUES ($1)"#),
            ("INSERT".to_owned(), "kefu_outbox".to_owned())
        );
        assert_eq!(
            query_summary("update kefu_outbox set position = 1"),
            ("UPDATE".to_owned(), "kefu_outbox".to_owned())
        );
        assert_eq!(
            query_summary("SELECT 1"),
            ("SELECT".to_owned(), String::new())
        );
    }
}
