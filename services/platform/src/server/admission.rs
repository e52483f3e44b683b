//! Admission control: a bound on calls in flight that refuses the excess at once
//! (RESOURCE_EXHAUSTED) instead of queueing it, and a per-call deadline.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _};
use tokio::sync::Semaphore;
use tonic::Status;

/// Health checks pass untouched: a loaded server must still answer its probes, or the
/// orchestrator kills the pods that are doing the most work.
const UNLIMITED_PREFIX: &str = "/grpc.health.v1.Health/";

#[derive(Clone, Debug)]
pub struct AdmissionLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl AdmissionLayer {
    pub fn new(max_in_flight: usize, timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
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
            timeout: self.timeout,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AdmissionService<S> {
    inner: S,
    permits: Arc<Semaphore>,
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
            let status = Status::resource_exhausted("server overloaded; retry with backoff");
            return futures::future::ready(Ok(status.into_http())).boxed();
        };
        let deadline = client_deadline(request.headers())
            .map_or(self.timeout, |client| client.min(self.timeout));
        async move {
            // The permit covers the handler, not a streaming body: live streams must not
            // starve unary calls of permits.
            let result = tokio::time::timeout(deadline, inner.call(request)).await;
            drop(permit);
            match result {
                Ok(result) => result,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "deadline of {} ms exceeded",
                    deadline.as_millis()
                ))
                .into_http()),
            }
        }
        .boxed()
    }
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
