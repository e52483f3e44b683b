//! Outbound gRPC channels: connect and call deadlines, a client span per call whose context
//! travels with it, and credentials: a given bearer token, or a service's own token minted
//! and renewed here, so no caller builds an authorization header by hand.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::auth::{Role, TokenKeys};
use crate::telemetry::HeaderInjector;

/// A channel wrapped with [`CallContext`] and a client span per call; what generated clients
/// are built on.
pub type KefuChannel = InterceptedService<ClientTrace<Channel>, CallContext>;

/// The deadline of a call that has none: a followed stream.
pub const NO_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Lifetime of a service's own token; renewed when less than a fifth of it is left.
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);

/// Who outbound calls speak for.
#[derive(Clone, Debug)]
pub enum Credentials {
    None,
    /// A token someone else minted (a person's, in the `kefu` client).
    Bearer(String),
    /// A Kefu service calling another: a `service` token for `subject`, minted with the
    /// suite's key and renewed before it expires.
    Service(Arc<ServiceToken>),
}

impl Credentials {
    pub fn service(keys: TokenKeys, subject: &'static str) -> Self {
        Credentials::Service(Arc::new(ServiceToken {
            keys,
            subject,
            current: Mutex::new(None),
        }))
    }
}

/// A service's own token, kept until it nears its expiry.
#[derive(Debug)]
pub struct ServiceToken {
    keys: TokenKeys,
    subject: &'static str,
    current: Mutex<Option<(MetadataValue<Ascii>, Instant)>>,
}

impl ServiceToken {
    fn header(&self) -> Result<MetadataValue<Ascii>, tonic::Status> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((header, renew_at)) = current.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(header.clone());
        }
        let token = self.keys.mint(
            self.subject,
            Role::Service,
            &[],
            "",
            SERVICE_TOKEN_TTL.as_secs(),
        );
        let header = bearer(&token)
            .map_err(|_| tonic::Status::internal("service token is not a header value"))?;
        *current = Some((header.clone(), Instant::now() + SERVICE_TOKEN_TTL * 4 / 5));
        Ok(header)
    }
}

fn bearer(
    token: &str,
) -> Result<MetadataValue<Ascii>, tonic::metadata::errors::InvalidMetadataValue> {
    format!("Bearer {token}").parse()
}

/// Adds trace context, a deadline and credentials to every outbound call.
#[derive(Clone, Debug)]
pub struct CallContext {
    deadline: Duration,
    credentials: Prepared,
}

/// Credentials ready to attach: a fixed header is parsed once, not per call.
#[derive(Clone, Debug)]
enum Prepared {
    None,
    Fixed(MetadataValue<Ascii>),
    Service(Arc<ServiceToken>),
}

impl tonic::service::Interceptor for CallContext {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        if !request.metadata().contains_key("grpc-timeout") {
            request.set_timeout(self.deadline);
        }
        let header = match &self.credentials {
            Prepared::None => None,
            Prepared::Fixed(header) => Some(header.clone()),
            Prepared::Service(token) => Some(token.header()?),
        };
        if let Some(header) = header {
            request.metadata_mut().insert("authorization", header);
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
    pub credentials: Credentials,
    /// TLS for an https:// endpoint; `None` there means the system's roots.
    pub tls: Option<tonic::transport::ClientTlsConfig>,
}

/// A lazily connecting channel: the first call connects, and a dead peer surfaces as
/// UNAVAILABLE on the call rather than as a start-up failure.
pub fn channel(options: &ChannelOptions) -> anyhow::Result<KefuChannel> {
    let endpoint = Endpoint::from_shared(options.endpoint.clone())?
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    let endpoint = if options.endpoint.starts_with("https://") {
        endpoint.tls_config(
            options
                .tls
                .clone()
                .unwrap_or_else(|| tonic::transport::ClientTlsConfig::new().with_native_roots()),
        )?
    } else {
        endpoint
    };
    let credentials = match &options.credentials {
        Credentials::None => Prepared::None,
        Credentials::Bearer(token) => Prepared::Fixed(bearer(token)?),
        Credentials::Service(token) => Prepared::Service(token.clone()),
    };
    Ok(InterceptedService::new(
        ClientTrace {
            inner: endpoint.connect_lazy(),
        },
        CallContext {
            deadline: options.call_deadline,
            credentials,
        },
    ))
}

/// One OpenTelemetry client span per outbound call, child of the caller's span; its context
/// is what the callee continues. Every status that arrives in the response headers (all
/// errors) is recorded on it.
#[derive(Clone, Debug)]
pub struct ClientTrace<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for ClientTrace<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        use futures::FutureExt as _;
        use tracing::Instrument as _;
        let path = request.uri().path().trim_start_matches('/').to_owned();
        let (service, method) = path.split_once('/').unwrap_or((path.as_str(), ""));
        let span = tracing::info_span!(
            "grpc.client",
            otel.name = %path,
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            server.address = request.uri().host().unwrap_or_default(),
            rpc.grpc.status_code = tracing::field::Empty,
        );
        TraceContextPropagator::new()
            .inject_context(&span.context(), &mut HeaderInjector(request.headers_mut()));
        // The ready service answers this call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let recorded = span.clone();
        let started = Instant::now();
        async move {
            let result = inner.call(request).await;
            let code = match &result {
                // Errors arrive trailers-only, their code in the headers.
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|c| c.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                // No answer at all: UNAVAILABLE, as the client sees it.
                Err(_) => "14".to_owned(),
            };
            recorded.record("rpc.grpc.status_code", code.as_str());
            if crate::metrics::exporting() {
                crate::metrics::get().rpc_client_duration.record(
                    started.elapsed().as_secs_f64(),
                    &crate::metrics::rpc_attributes(&path, &code),
                );
            }
            result
        }
        .instrument(span)
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthSettings, Secret};

    #[test]
    fn a_service_token_is_reused_until_it_nears_expiry_and_says_who_calls() {
        let keys = TokenKeys::new(&AuthSettings {
            issuer: "kefu".into(),
            audience: "kefu".into(),
            hs256_secret: Secret::new("0123456789abcdef0123456789abcdef"),
            leeway_s: 0,
            dev_token_ttl_s: 60,
            jwks_file: String::new(),
            jwks_issuer: String::new(),
            jwks_refresh_s: 300,
        });
        let Credentials::Service(token) = Credentials::service(keys.clone(), "order-tracking")
        else {
            unreachable!("service credentials")
        };
        let first = token.header().unwrap();
        assert_eq!(token.header().unwrap(), first, "cached");
        let text = first.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let caller = keys.verify(text).unwrap();
        assert_eq!(caller.subject, "order-tracking");
        assert_eq!(caller.role, Role::Service);
        // Pretend the renewal time passed.
        token.current.lock().unwrap().as_mut().unwrap().1 = Instant::now();
        assert!(
            keys.verify(
                token
                    .header()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .trim_start_matches("Bearer ")
            )
            .is_ok()
        );
    }
}
