//! The bench's reference, run as its own process (`kefu bench-reference`): a bare tonic server,
//! no layers, that answers `OrderTrackingService/GetOrder` with one fixed order, decoding the
//! request and encoding the answer as generated code does. It is the ceiling Kefu's own stack
//! (auth, admission, tracing, the hot store) is measured against.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use futures::StreamExt as _;
use futures::future::{BoxFuture, Ready, ready};
use kefu_proto::order as opb;
use prost::Message as _;
use tonic::body::Body;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

const GET_ORDER: &str = "/kefu.order.v1.OrderTrackingService/GetOrder";

/// Answers GetOrder with `answer` and every other call with UNIMPLEMENTED.
#[derive(Clone, Debug)]
struct Reference {
    answer: Arc<opb::Order>,
}

impl NamedService for Reference {
    const NAME: &'static str = "kefu.order.v1.OrderTrackingService";
}

struct GetOrder(Arc<opb::Order>);

impl UnaryService<opb::GetOrderRequest> for GetOrder {
    type Response = opb::Order;
    type Future = Ready<Result<Response<opb::Order>, Status>>;

    fn call(&mut self, _request: Request<opb::GetOrderRequest>) -> Self::Future {
        ready(Ok(Response::new(opb::Order::clone(&self.0))))
    }
}

impl tower::Service<http::Request<Body>> for Reference {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let answer = self.answer.clone();
        Box::pin(async move {
            if request.uri().path() != GET_ORDER {
                return Ok(Status::unimplemented("the reference answers GetOrder only").into_http());
            }
            let mut grpc = Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(GetOrder(answer), request).await)
        })
    }
}

/// Serves the order encoded in `answer_file` on `listen` until the process is stopped.
pub(crate) async fn serve(listen: SocketAddr, answer_file: &Path) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(answer_file).with_context(|| format!("reading {}", answer_file.display()))?;
    let answer = Arc::new(opb::Order::decode(bytes.as_slice()).context("the answer file")?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "kefu bench-reference: listening on {}",
        listener.local_addr()?
    );
    // As Kefu's server does: without TCP_NODELAY, small answers wait on delayed ACKs.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|stream| {
        stream.inspect(|s| {
            let _ = s.set_nodelay(true);
        })
    });
    tonic::transport::Server::builder()
        .add_service(Reference { answer })
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
