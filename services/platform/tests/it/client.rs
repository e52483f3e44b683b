//! The outbound channel: every call carries the caller's trace context, a deadline and the
//! bearer token, without the calling code touching metadata.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use kefu_platform::client::{ChannelOptions, Credentials, channel};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Records the headers of every request it passes on.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<http::HeaderMap>>>);

impl<S> tower::Layer<S> for Recorder {
    type Service = Recorded<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Recorded {
            inner,
            seen: self.clone(),
        }
    }
}

#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    seen: Recorder,
}

impl<S, B> tower::Service<http::Request<B>> for Recorded<S>
where
    S: tower::Service<http::Request<B>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.seen.0.lock().unwrap().push(request.headers().clone());
        Box::pin(self.inner.call(request))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn calls_carry_trace_context_deadline_and_token() {
    let recorder = Recorder::default();
    let (_, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(recorder.clone())
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let channel = channel(&ChannelOptions {
        endpoint: format!("http://{addr}"),
        connect_timeout: Duration::from_secs(2),
        call_deadline: Duration::from_millis(1500),
        credentials: Credentials::Bearer("t0ken".into()),
        tls: None,
    })
    .unwrap();
    let span = tracing::info_span!("caller");
    let trace_id = span.context().span().span_context().trace_id().to_string();
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    client
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .instrument(span)
        .await
        .unwrap();

    let seen = recorder.0.lock().unwrap().clone();
    let headers = seen.last().expect("the call reached the server");
    let traceparent = headers
        .get("traceparent")
        .expect("traceparent sent")
        .to_str()
        .unwrap();
    assert!(
        traceparent.contains(&trace_id),
        "{traceparent} continues trace {trace_id}"
    );
    let timeout = headers
        .get("grpc-timeout")
        .expect("deadline sent")
        .to_str()
        .unwrap();
    let (digits, unit) = timeout.split_at(timeout.len() - 1);
    let n: u64 = digits.parse().unwrap();
    let deadline = match unit {
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        other => panic!("unexpected unit {other}"),
    };
    assert!(
        deadline > Duration::ZERO && deadline <= Duration::from_millis(1500),
        "{timeout}"
    );
    assert_eq!(headers.get("authorization").unwrap(), "Bearer t0ken");
}
