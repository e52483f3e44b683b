//! Admission control: a limit on each method's calls in flight, learned from its latency, and
//! a hard bound on all of them, beyond which calls are refused at once (RESOURCE_EXHAUSTED
//! with the time to wait before retrying) instead of queueing; and a per-call deadline.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _};
use tokio::sync::Semaphore;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use super::limit::{Limits, Outcome};

/// Health checks pass untouched: a loaded server must still answer its probes, or the
/// orchestrator kills the pods that are doing the most work.
const UNLIMITED_PREFIX: &str = "/grpc.health.v1.Health/";

/// What a caller refused by the hard bound is told to wait.
const RETRY_WHEN_FULL: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
pub struct AdmissionLayer {
    permits: Arc<Semaphore>,
    limits: Arc<Limits>,
    timeout: Duration,
}

impl AdmissionLayer {
    /// At most `max_in_flight` calls at once, of each method at most as many as it has shown
    /// it serves without queueing; each cancelled after `timeout` unless it asks for less.
    pub fn new(max_in_flight: usize, timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            limits: Arc::new(Limits::new(max_in_flight)),
            timeout,
        }
    }
}

impl<S> tower::Layer<S> for AdmissionLayer {
    type Service = AdmissionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmissionService {
            inner,
            permits: self.permits.clone(),
            limits: self.limits.clone(),
            timeout: self.timeout,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AdmissionService<S> {
    inner: S,
    permits: Arc<Semaphore>,
    limits: Arc<Limits>,
    timeout: Duration,
}

impl<S, B> tower::Service<http::Request<B>> for AdmissionService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if request.uri().path().starts_with(UNLIMITED_PREFIX) {
            return inner.call(request).boxed();
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return futures::future::ready(Ok(overloaded(RETRY_WHEN_FULL).into_http())).boxed();
        };
        let admitted = match self.limits.admit(request.uri().path()) {
            Ok(admitted) => admitted,
            Err(retry_after) => {
                return futures::future::ready(Ok(overloaded(retry_after).into_http())).boxed();
            }
        };
        let deadline = client_deadline(request.headers())
            .map_or(self.timeout, |client| client.min(self.timeout));
        async move {
            // The permit covers the handler, not a streaming body: live streams must not
            // starve unary calls of permits.
            let result = tokio::time::timeout(deadline, inner.call(request)).await;
            drop(permit);
            match result {
                Ok(result) => {
                    admitted.finish(match &result {
                        Ok(response) if refused(response) => Outcome::Ignored,
                        Ok(_) => Outcome::Served,
                        Err(_) => Outcome::Ignored,
                    });
                    result
                }
                Err(_) => {
                    admitted.finish(Outcome::Dropped);
                    Ok(Status::deadline_exceeded(format!(
                        "deadline of {} ms exceeded",
                        deadline.as_millis()
                    ))
                    .into_http())
                }
            }
        }
        .boxed()
    }
}

/// RESOURCE_EXHAUSTED, with `google.rpc.RetryInfo` saying when to try again.
fn overloaded(retry_after: Duration) -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        format!(
            "server overloaded; retry after {} ms with backoff",
            retry_after.as_millis()
        ),
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

/// Whether the handler answered with an error status before any message: a refusal, whose
/// latency says nothing about load.
fn refused<B>(response: &http::Response<B>) -> bool {
    response
        .headers()
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() != b"0")
}

/// The caller's `grpc-timeout` header: digits then a unit (H, M, S, m, u, n).
fn client_deadline(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer as _, ServiceExt as _};

    /// An inner service that takes `delay` to answer OK.
    fn slow(
        delay: Duration,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future = BoxFuture<
            'static,
            Result<http::Response<tonic::body::Body>, std::convert::Infallible>,
        >,
    > + Clone {
        tower::service_fn(move |_req: http::Request<()>| {
            async move {
                tokio::time::sleep(delay).await;
                Ok(http::Response::new(tonic::body::Body::empty()))
            }
            .boxed()
        })
    }

    /// An inner service of `workers` that each take `service_time` a call; calls beyond them
    /// queue.
    fn busy(
        workers: Arc<Semaphore>,
        service_time: Duration,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future = BoxFuture<
            'static,
            Result<http::Response<tonic::body::Body>, std::convert::Infallible>,
        >,
    > + Clone {
        tower::service_fn(move |_req: http::Request<()>| {
            let workers = workers.clone();
            async move {
                let _worker = workers.acquire_owned().await;
                tokio::time::sleep(service_time).await;
                Ok(http::Response::new(tonic::body::Body::empty()))
            }
            .boxed()
        })
    }

    fn grpc_status(response: &http::Response<tonic::body::Body>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    fn call(path: &str) -> http::Request<()> {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    #[tokio::test]
    async fn calls_beyond_the_limit_are_shed_at_once_but_health_is_not() {
        let layer = AdmissionLayer::new(1, Duration::from_secs(5));
        let service = layer.layer(slow(Duration::from_millis(300)));
        let first = tokio::spawn(service.clone().oneshot(call("/kefu.x.v1.S/Slow")));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let shed = service
            .clone()
            .oneshot(call("/kefu.x.v1.S/Slow"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&shed), Some("8"), "RESOURCE_EXHAUSTED");
        assert!(
            !first.is_finished(),
            "refused at once, not after waiting for the permit"
        );
        let health = service
            .clone()
            .oneshot(call("/grpc.health.v1.Health/Check"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&health), None, "probes pass a full server");
        assert_eq!(grpc_status(&first.await.unwrap().unwrap()), None);
        let after = service.oneshot(call("/kefu.x.v1.S/Slow")).await.unwrap();
        assert_eq!(grpc_status(&after), None, "the permit came back");
    }

    /// callers who go away mid-call (a reset stream, a closed connection) drop the call's
    /// future before it finishes; their places come back, or a method that lost its callers a
    /// limit's worth of times would refuse every call for ever (found from outside: after
    /// h2load runs ended with calls in flight, an idle survey refused CreateQuestionnaire).
    #[tokio::test(start_paused = true)]
    async fn calls_whose_callers_went_away_give_their_places_back() {
        let service =
            AdmissionLayer::new(512, Duration::from_secs(60)).layer(slow(Duration::from_secs(30)));
        let abandoned: Vec<_> = (0..super::super::limit::INITIAL_LIMIT as usize)
            .map(|_| tokio::spawn(service.clone().oneshot(call("/kefu.x.v1.S/Slow"))))
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let full = service
            .clone()
            .oneshot(call("/kefu.x.v1.S/Slow"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&full), Some("8"), "the method is at its limit");
        for call in &abandoned {
            call.abort();
        }
        for call in abandoned {
            assert!(call.await.unwrap_err().is_cancelled());
        }
        let after = tokio::time::timeout(
            Duration::from_secs(1),
            service.oneshot(call("/kefu.x.v1.S/Slow")),
        )
        .await;
        assert!(
            after.is_err(),
            "admitted and still running, not refused: {:?}",
            after.map(|r| grpc_status(&r.unwrap()).map(str::to_owned))
        );
    }

    /// every request is answered within its deadline.
    #[tokio::test]
    async fn calls_past_their_deadline_end_with_deadline_exceeded() {
        let service =
            AdmissionLayer::new(4, Duration::from_millis(50)).layer(slow(Duration::from_secs(5)));
        let response = service
            .clone()
            .oneshot(call("/kefu.x.v1.S/Slow"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&response), Some("4"), "DEADLINE_EXCEEDED");
        let mut shorter = call("/kefu.x.v1.S/Slow");
        shorter
            .headers_mut()
            .insert("grpc-timeout", "10m".parse().unwrap());
        let started = std::time::Instant::now();
        let response = AdmissionLayer::new(4, Duration::from_secs(5))
            .layer(slow(Duration::from_secs(5)))
            .oneshot(shorter)
            .await
            .unwrap();
        assert_eq!(grpc_status(&response), Some("4"));
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the caller's shorter deadline wins over 5 s"
        );
    }

    /// Overload on a simulated server of 16 workers taking 10 ms a call (1,600 calls/s), on
    /// a paused clock: ten times its capacity offered for four seconds. After the first
    /// second, in which the limit is learned, admitted calls stay within 3× of the latency
    /// without load, goodput stays at 80% of capacity or more, and every other call is
    /// refused at once with RESOURCE_EXHAUSTED and the time to wait.
    #[tokio::test(start_paused = true)]
    async fn ten_times_capacity_keeps_latency_bounded_and_goodput_high() {
        use tonic_types::StatusExt as _;
        const WORKERS: usize = 16;
        const SERVICE_TIME: Duration = Duration::from_millis(10);
        const CAPACITY: f64 = WORKERS as f64 / 0.010;
        let workers = Arc::new(Semaphore::new(WORKERS));
        let inner = busy(workers, SERVICE_TIME);
        let service = AdmissionLayer::new(512, Duration::from_secs(10)).layer(inner);
        let offered_every = Duration::from_secs_f64(1.0 / (10.0 * CAPACITY));
        let start = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(offered_every);
        let mut calls = Vec::new();
        while start.elapsed() < Duration::from_secs(4) {
            tick.tick().await;
            let service = service.clone();
            calls.push(tokio::spawn(async move {
                let sent = tokio::time::Instant::now();
                let response = service.oneshot(call("/kefu.x.v1.S/Work")).await.unwrap();
                (sent, sent.elapsed(), response)
            }));
        }
        let steady = start + Duration::from_secs(1);
        let (mut served, mut refused, mut latencies) = (0usize, 0usize, Vec::new());
        for call in calls {
            let (sent, took, response) = call.await.unwrap();
            if sent < steady {
                continue;
            }
            match grpc_status(&response) {
                None => {
                    served += 1;
                    latencies.push(took);
                }
                Some("8") => {
                    refused += 1;
                    assert_eq!(took, Duration::ZERO, "refused at once");
                    let status = tonic::Status::from_header_map(response.headers()).unwrap();
                    let retry = status.get_details_retry_info().expect("retry advice");
                    assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
                }
                other => panic!("unexpected status {other:?}"),
            }
        }
        latencies.sort();
        let p99 = latencies[latencies.len() * 99 / 100];
        let goodput = served as f64 / 3.0;
        println!(
            "overload at 10x: goodput {goodput:.0} calls/s of {CAPACITY:.0} ({:.0}%), \
             admitted p99 {p99:?} (unloaded {SERVICE_TIME:?}), {refused} refused at once",
            100.0 * goodput / CAPACITY
        );
        assert!(goodput >= 0.8 * CAPACITY, "goodput {goodput:.0}/s");
        assert!(p99 <= SERVICE_TIME * 3, "admitted p99 {p99:?}");
        assert!(refused > served, "most of ten times capacity is refused");
    }

    #[test]
    fn grpc_timeout_header_parses_every_unit_and_refuses_garbage() {
        let cases = [
            ("1H", Some(Duration::from_secs(3600))),
            ("2M", Some(Duration::from_secs(120))),
            ("3S", Some(Duration::from_secs(3))),
            ("250m", Some(Duration::from_millis(250))),
            ("7u", Some(Duration::from_micros(7))),
            ("9n", Some(Duration::from_nanos(9))),
            ("m", None),
            ("123456789S", None),
            ("5x", None),
            ("", None),
        ];
        for (value, expected) in cases {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            assert_eq!(client_deadline(&headers), expected, "{value:?}");
        }
    }
}
