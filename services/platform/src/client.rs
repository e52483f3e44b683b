//! Outbound gRPC channels: connect and call deadlines, trace context injected into every
//! call, and an optional bearer token.

use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::telemetry::MetadataInjector;

/// A channel wrapped with [`CallContext`]; what generated clients are built on.
pub type KefuChannel = InterceptedService<Channel, CallContext>;

/// Adds trace context, a deadline and credentials to every outbound call.
#[derive(Clone, Debug)]
pub struct CallContext {
    deadline: Duration,
    bearer: Option<MetadataValue<Ascii>>,
}

impl tonic::service::Interceptor for CallContext {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new()
            .inject_context(&context, &mut MetadataInjector(request.metadata_mut()));
        if !request.metadata().contains_key("grpc-timeout") {
            request.set_timeout(self.deadline);
        }
        if let Some(bearer) = &self.bearer {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
        }
        Ok(request)
    }
}

/// Options of one outbound channel.
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    pub endpoint: String,
    pub connect_timeout: Duration,
    /// Deadline of each call unless the caller sets a shorter one.
    pub call_deadline: Duration,
    pub bearer_token: Option<String>,
}

/// A lazily connecting channel: the first call connects, and a dead peer surfaces as
/// UNAVAILABLE on the call rather than as a start-up failure.
pub fn channel(options: &ChannelOptions) -> anyhow::Result<KefuChannel> {
    let endpoint = Endpoint::from_shared(options.endpoint.clone())?
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    let bearer = match &options.bearer_token {
        Some(token) => Some(format!("Bearer {token}").parse::<MetadataValue<Ascii>>()?),
        None => None,
    };
    Ok(InterceptedService::new(
        endpoint.connect_lazy(),
        CallContext {
            deadline: options.call_deadline,
            bearer,
        },
    ))
}
