//! Server-side trace context: one span per call, child of the caller's W3C context, carrying
//! the trace id that logs and error messages show.

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::{BoxFuture, FutureExt as _};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::telemetry::HeaderExtractor;

#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

#[derive(Clone, Debug)]
pub struct TraceService<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for TraceService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path.as_str(), ""));
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
        );
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
        let _ = span.set_parent(parent);
        span.record(
            "trace_id",
            crate::telemetry::current_trace_id_of(&span).as_str(),
        );

        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        let instrumented_span = span.clone();
        async move {
            let result = inner.call(request).await;
            if let Ok(response) = &result {
                // Trailers-only answers (every error) carry the code in the headers; a success's
                // code travels in trailers, after this span's work is done.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_owned();
                span.record("rpc.grpc.status_code", code.as_str());
                tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, grpc_status = %code, "call finished");
                if crate::metrics::exporting() {
                    crate::metrics::get().rpc_server_duration.record(
                        started.elapsed().as_secs_f64(),
                        &crate::metrics::rpc_attributes(&path, &code),
                    );
                }
            }
            result
        }
        .instrument(instrumented_span)
        .boxed()
    }
}
