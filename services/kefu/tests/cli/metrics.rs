//! Metrics as an SRE's collector receives them over OTLP: RPC durations by method and
//! status, client calls between services, database queries and pools, the event relay's
//! lag and each stream's head, subscribers, each consumer's position and lag, hot-state reads
//! and surveys skipped by the quiet period, under OpenTelemetry's names.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kefu_proto::complaint as dpb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_proto::survey as spb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use crate::complaints::{QUICK_CLOCKS, channel, new_customer, new_order};
use crate::process::{Server, bearer};
use crate::telemetry::Collector;

/// A collector that keeps every metrics export it is sent.
#[derive(Clone, Default)]
struct Metrics(Arc<Mutex<Vec<ExportMetricsServiceRequest>>>);

#[tonic::async_trait]
impl MetricsService for Metrics {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

impl Metrics {
    /// Each metric's name with each of its data points' attributes as "key=value" lines.
    fn points(&self) -> BTreeSet<(String, String)> {
        let mut points = BTreeSet::new();
        for export in self.0.lock().unwrap().iter() {
            for resource in &export.resource_metrics {
                for scope in &resource.scope_metrics {
                    for metric in &scope.metrics {
                        let attributes: Vec<Vec<_>> = match &metric.data {
                            Some(Data::Sum(s)) => {
                                s.data_points.iter().map(|p| p.attributes.clone()).collect()
                            }
                            Some(Data::Gauge(g)) => {
                                g.data_points.iter().map(|p| p.attributes.clone()).collect()
                            }
                            Some(Data::Histogram(h)) => {
                                h.data_points.iter().map(|p| p.attributes.clone()).collect()
                            }
                            _ => Vec::new(),
                        };
                        for set in attributes {
                            let mut pairs: Vec<String> = set
                                .iter()
                                .map(|kv| {
                                    let value =
                                        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                            Some(Value::StringValue(s)) => s.clone(),
                                            Some(Value::IntValue(i)) => i.to_string(),
                                            Some(Value::BoolValue(b)) => b.to_string(),
                                            other => format!("{other:?}"),
                                        };
                                    format!("{}={value}", kv.key)
                                })
                                .collect();
                            pairs.sort();
                            points.insert((metric.name.clone(), pairs.join(",")));
                        }
                    }
                }
            }
        }
        points
    }

    /// Whether `name` has a data point whose attributes include every one of `having`.
    fn has(&self, name: &str, having: &[&str]) -> bool {
        self.points().iter().any(|(metric, attributes)| {
            metric == name
                && having
                    .iter()
                    .all(|h| attributes.split(',').any(|a| a == *h))
        })
    }
}

/// complaint-desk's quick clocks with the small tier's plan at 1 hour to the first response:
/// a critical case is warned about at 1.8 s and breached at 3.6 s.
fn quick_clocks() -> String {
    format!(
        "[customer_registry.service_plans.small]\nfirst_response_hours = 1\nresolution_hours = 2\n{QUICK_CLOCKS}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sre_metrics_arrive_over_otlp_under_their_conventional_names() {
    let metrics = Metrics::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(metrics.clone()))
            .add_service(TraceServiceServer::new(Collector::default()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quick-clocks.toml");
    std::fs::write(&config, quick_clocks()).unwrap();
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("KEFU_CONFIG", config.to_str().unwrap()),
        ],
    )
    .await;
    let token = server.token.clone().unwrap();

    let customer = new_customer(&server).await;
    let order = new_order(&server, &token, &customer).await;
    // A critical complaint on quick clocks: warned and breached within seconds.
    ComplaintDeskServiceClient::with_interceptor(channel(&server).await, bearer(token.clone()))
        .create_complaint(dpb::CreateComplaintRequest {
            complaint: Some(dpb::Complaint {
                r#type: dpb::CaseType::Complaint as i32,
                origin: dpb::Origin::Hotline as i32,
                contact_channel: dpb::ContactChannel::Phone as i32,
                category: dpb::Category::Damage as i32,
                severity: dpb::Severity::Critical as i32,
                customer_id: customer.clone(),
                order_id: order.clone(),
                summary: "carton crushed".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let mut orders =
        OrderTrackingServiceClient::with_interceptor(channel(&server).await, bearer(token.clone()));
    for _ in 0..2 {
        orders
            .get_order(opb::GetOrderRequest {
                order_id: order.clone(),
            })
            .await
            .unwrap();
    }
    let missing = orders
        .get_order(opb::GetOrderRequest {
            order_id: "no-such-order".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // A second survey inside the quiet period is skipped.
    let mut surveys =
        SurveyServiceClient::with_interceptor(channel(&server).await, bearer(token.clone()));
    let draft = surveys
        .create_questionnaire(spb::CreateQuestionnaireRequest {
            questionnaire: Some(spb::Questionnaire {
                title: "How did we do?".into(),
                questions: vec![spb::Question {
                    question_id: "csat".into(),
                    kind: spb::QuestionKind::Csat as i32,
                    text: "Satisfied?".into(),
                    options: vec![],
                    required: true,
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    surveys
        .publish_questionnaire(spb::PublishQuestionnaireRequest {
            questionnaire_id: draft.id.clone(),
            expected_version: draft.draft_version,
            request_id: String::new(),
        })
        .await
        .unwrap();
    for _ in 0..2 {
        let _ = surveys
            .create_invitation(spb::CreateInvitationRequest {
                invitation: Some(spb::Invitation {
                    customer_id: customer.clone(),
                    questionnaire_id: draft.id.clone(),
                    method: spb::Method::Phone as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await;
    }
    // customer-registry's record follows the order's events: its consumer reads them.
    let mut customers =
        CustomerRegistryServiceClient::with_interceptor(channel(&server).await, bearer(token));
    for _ in 0..100 {
        let record = customers
            .list_service_record(cpb::ListServiceRecordRequest {
                customer_id: customer.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if !record.entries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let expected: &[(&str, &[&str])] = &[
        (
            "rpc.server.call.duration",
            &[
                "rpc.method=GetOrder",
                "rpc.grpc.status_code=0",
                "rpc.system=grpc",
            ],
        ),
        (
            "rpc.server.call.duration",
            &["rpc.method=GetOrder", "rpc.grpc.status_code=5"],
        ),
        (
            "rpc.client.call.duration",
            &[
                "rpc.service=kefu.customer.v1.CustomerRegistryService",
                "rpc.method=GetCustomer",
            ],
        ),
        (
            "db.client.operation.duration",
            &["db.operation.name=SELECT", "db.collection.name=orders"],
        ),
        (
            "db.client.connection.count",
            &[
                "db.client.connection.pool.name=order-tracking",
                "db.client.connection.state=idle",
            ],
        ),
        (
            "db.client.connection.max",
            &["db.client.connection.pool.name=survey"],
        ),
        ("kefu.events.relay.lag", &["kefu.source=order-tracking"]),
        ("kefu.events.head", &["kefu.source=order-tracking"]),
        ("kefu.events.subscribers", &["kefu.source=order-tracking"]),
        (
            "messaging.client.consumed.messages",
            &[
                "messaging.consumer.group.name=customer-registry.order-facts",
                "kefu.source=order-tracking",
            ],
        ),
        (
            "kefu.consumer.position",
            &["messaging.consumer.group.name=customer-registry.order-facts"],
        ),
        (
            "kefu.consumer.lag",
            &["messaging.consumer.group.name=customer-registry.order-facts"],
        ),
        ("kefu.hot_state.reads", &["kefu.hot_state.result=hit"]),
        ("kefu.survey.skipped", &["kefu.reason=quiet_period"]),
        (
            "kefu.complaint.deadlines",
            &["kefu.deadline=first_response", "kefu.outcome=warning"],
        ),
        (
            "kefu.complaint.deadlines",
            &["kefu.deadline=first_response", "kefu.outcome=breach"],
        ),
    ];
    for _ in 0..100 {
        if expected
            .iter()
            .all(|(name, having)| metrics.has(name, having))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<_> = expected
        .iter()
        .filter(|(name, having)| !metrics.has(name, having))
        .collect();
    panic!(
        "missing {missing:?}; received: {:#?}",
        metrics
            .points()
            .iter()
            .map(|(n, a)| format!("{n} {a}"))
            .collect::<Vec<_>>()
    );
}
