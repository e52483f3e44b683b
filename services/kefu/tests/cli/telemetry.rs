//! Telemetry as an operator sees it: spans reach an OTLP collector, children of the caller's
//! trace, flushed at shutdown; JSON logs carry the same trace id; neither holds personal data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kefu_proto::customer as pb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::transport::Channel;

use crate::process::Server;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CANARY_PHONE: &str = "13912345678";
const CANARY_EMAIL: &str = "canary.person@example.com";

/// A collector that keeps every export it is sent.
#[derive(Clone, Default)]
pub(crate) struct Collector(pub(crate) Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

impl Collector {
    /// A collector listening on 127.0.0.1, and its endpoint for OTEL_EXPORTER_OTLP_ENDPOINT.
    pub(crate) async fn start() -> (Collector, String) {
        let collector = Collector::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        tokio::spawn(serve);
        (collector, format!("http://{addr}"))
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test]
async fn spans_reach_the_collector_in_the_callers_trace_and_logs_carry_its_id() {
    let (collector, endpoint) = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kefu.log");
    let mut server = Server::start_logging_to(
        dir.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("KEFU__TELEMETRY__LOG_FORMAT", "json"),
        ],
        Some(&log),
    )
    .await;

    let token = server.token.clone().unwrap();
    let channel = Channel::from_shared(server.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = CustomerRegistryServiceClient::with_interceptor(
        channel,
        move |mut r: tonic::Request<()>| {
            let headers = r.metadata_mut();
            headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
            headers.insert(
                "traceparent",
                format!("00-{TRACE_ID}-00f067aa0ba902b7-01")
                    .parse()
                    .unwrap(),
            );
            Ok(r)
        },
    );
    let customer = pb::Customer {
        kind: pb::CustomerKind::Personal as i32,
        display_name: "Canary".into(),
        phone: CANARY_PHONE.into(),
        email: CANARY_EMAIL.into(),
        ..Default::default()
    };
    client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: String::new(),
        })
        .await
        .unwrap();

    server.signal("TERM");
    let exit = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success());

    // Spans: flushed at shutdown, in the caller's trace, named after the RPC.
    let exports = collector.0.lock().unwrap().clone();
    let spans: Vec<_> = exports
        .iter()
        .flat_map(|e| &e.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let call = spans
        .iter()
        .find(|s| s.name.ends_with("CustomerRegistryService/CreateCustomer"))
        .unwrap_or_else(|| {
            panic!(
                "no CreateCustomer span among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        hex(&call.trace_id),
        TRACE_ID,
        "the server span continues the caller's trace"
    );
    let exported = format!("{exports:?}");
    assert!(exported.contains("kefu-all"), "resource names the service");
    for canary in [CANARY_PHONE, CANARY_EMAIL] {
        assert!(!exported.contains(canary), "personal data in spans");
    }

    // Logs: JSON lines; the handler's line carries the same trace id; no personal data.
    let logs = std::fs::read_to_string(&log).unwrap();
    let created = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "customer created")
        .unwrap_or_else(|| panic!("no 'customer created' line in {logs}"));
    assert_eq!(created["span"]["trace_id"], TRACE_ID, "{created}");
    for canary in [CANARY_PHONE, CANARY_EMAIL] {
        assert!(!logs.contains(canary), "personal data in logs");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
