//! The database gate: calls to a service whose database is known to be out of reach are
//! refused at once with UNAVAILABLE, so that callers retry elsewhere or later instead of each
//! waiting on the pool for a connection that cannot come.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::future::{BoxFuture, FutureExt as _};
use tonic::Status;

/// Whether a service's database answered its last probe. Shared by the prober that sets it
/// ([`crate::watch::database`]) and the layer that reads it.
#[derive(Clone, Debug, Default)]
pub struct DatabaseGate {
    down: Arc<AtomicBool>,
}

impl DatabaseGate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

/// Refuses calls to a service while its gate is down; other services of the process, and
/// health and reflection, are not touched.
#[derive(Clone, Debug)]
pub struct GateLayer {
    /// "/kefu.orders.v1.OrderTracking/" and the gate of that service's database.
    gates: Arc<[(String, String, DatabaseGate)]>,
}

impl GateLayer {
    /// `gates`: each fully-qualified gRPC service name with its database's gate.
    pub fn new(gates: impl IntoIterator<Item = (&'static str, DatabaseGate)>) -> Self {
        Self {
            gates: gates
                .into_iter()
                .map(|(service, gate)| (format!("/{service}/"), service.to_owned(), gate))
                .collect(),
        }
    }
}

impl<S> tower::Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            gates: self.gates.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct GateService<S> {
    inner: S,
    gates: Arc<[(String, String, DatabaseGate)]>,
}

impl<S, B> tower::Service<http::Request<B>> for GateService<S>
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
        let path = request.uri().path();
        if let Some((_, service, _)) = self
            .gates
            .iter()
            .find(|(prefix, _, gate)| path.starts_with(prefix.as_str()) && gate.is_down())
        {
            let status = Status::unavailable(format!(
                "database of {service} unreachable; retry with backoff"
            ));
            return futures::future::ready(Ok(status.into_http())).boxed();
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        inner.call(request).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer as _, ServiceExt as _};

    fn ok() -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future = futures::future::Ready<
            Result<http::Response<tonic::body::Body>, std::convert::Infallible>,
        >,
    > + Clone {
        tower::service_fn(|_req: http::Request<()>| {
            futures::future::ready(Ok(http::Response::new(tonic::body::Body::empty())))
        })
    }

    /// a call to a service whose database is gone is answered at once.
    #[tokio::test]
    async fn a_service_whose_database_is_down_is_refused_at_once_and_only_it() {
        let orders = DatabaseGate::new();
        let staff = DatabaseGate::new();
        let service = GateLayer::new([
            ("kefu.orders.v1.OrderTracking", orders.clone()),
            ("kefu.staff.v1.StaffKpi", staff.clone()),
        ])
        .layer(ok());
        let call = |path: &str| http::Request::builder().uri(path).body(()).unwrap();
        let grpc_status = |response: http::Response<tonic::body::Body>| {
            response
                .headers()
                .get("grpc-status")
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let path = "/kefu.orders.v1.OrderTracking/GetOrder";
        let answer = service.clone().oneshot(call(path)).await.unwrap();
        assert_eq!(grpc_status(answer), None, "served while the database is up");
        orders.set_down(true);
        let answer = service.clone().oneshot(call(path)).await.unwrap();
        assert_eq!(grpc_status(answer).as_deref(), Some("14"), "UNAVAILABLE");
        for other in [
            "/kefu.staff.v1.StaffKpi/GetStaff",
            "/grpc.health.v1.Health/Check",
        ] {
            let answer = service.clone().oneshot(call(other)).await.unwrap();
            assert_eq!(
                grpc_status(answer),
                None,
                "{other} does not share the outage"
            );
        }
        orders.set_down(false);
        let answer = service.oneshot(call(path)).await.unwrap();
        assert_eq!(grpc_status(answer), None, "served again once it is back");
    }
}
