//! gRPC over mutual TLS, configured by settings: clients and the services' calls to one
//! another present certificates of the suite's CA, nothing else gets in, and probes read
//! health in plaintext on a listener of their own.

use std::time::Duration;

use kefu_platform::auth::{Role, SCOPE_PII_READ};
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::{Backend, Spawn};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A channel to `endpoint`, over TLS when given a config; each call carries `token`.
async fn connect(endpoint: String, tls: Option<ClientTlsConfig>) -> Result<Channel, String> {
    let mut endpoint = Channel::from_shared(endpoint)
        .unwrap()
        .connect_timeout(Duration::from_secs(3));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    endpoint.connect().await.map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_and_between_services_run_over_mutual_tls_and_nothing_else_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    kefu_testkit::certificates::make(dir.path());
    let file = |name: &str| dir.path().join(name).display().to_string();
    let health_port = free_port();
    let app = Spawn::new(kefu::SERVICES, Backend::Sqlite)
        .env("KEFU__TLS__CERT_FILE", &file("server.crt"))
        .env("KEFU__TLS__KEY_FILE", &file("server.key"))
        .env("KEFU__TLS__CLIENT_CA_FILE", &file("ca.crt"))
        .env("KEFU__TLS__CA_FILE", &file("ca.crt"))
        .env(
            "KEFU__SERVER__HEALTH_LISTEN",
            &format!("127.0.0.1:{health_port}"),
        )
        .start()
        .await;
    let port = app.addr.port();
    let ca = Certificate::from_pem(std::fs::read(file("ca.crt")).unwrap());
    let identity = Identity::from_pem(
        std::fs::read(file("server.crt")).unwrap(),
        std::fs::read(file("server.key")).unwrap(),
    );
    let trusted = ClientTlsConfig::new().ca_certificate(ca.clone());

    let channel = connect(
        format!("https://localhost:{port}"),
        Some(trusted.clone().identity(identity)),
    )
    .await
    .unwrap();
    let token = app.token("tls", Role::Manager, &[SCOPE_PII_READ], "");
    let bearer = move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        Ok(request)
    };
    let mut customers =
        CustomerRegistryServiceClient::with_interceptor(channel.clone(), bearer.clone());
    let customer = customers
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(kefu::samples::customer()),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // Intake asks customer-registry: a call between services, over the same mutual TLS.
    let mut orders = OrderTrackingServiceClient::with_interceptor(channel, bearer);
    let order = orders
        .create_order(opb::CreateOrderRequest {
            order: Some(kefu::samples::order(&customer.id)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order.customer_id, customer.id);

    // Plaintext, TLS without a certificate, and TLS without trusting the suite's CA: none
    // gets as far as a call.
    let plaintext = connect(format!("http://127.0.0.1:{port}"), None).await;
    let plaintext_call = match plaintext {
        Ok(channel) => tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    assert!(plaintext_call.is_err(), "plaintext is refused");
    let anonymous = connect(format!("https://localhost:{port}"), Some(trusted)).await;
    let anonymous_call = match anonymous {
        Ok(channel) => tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    assert!(
        anonymous_call.is_err(),
        "a caller without a certificate is refused"
    );
    let untrusting = connect(
        format!("https://localhost:{port}"),
        Some(ClientTlsConfig::new()),
    )
    .await;
    assert!(
        untrusting.is_err(),
        "a server whose CA the client does not trust is refused"
    );

    // Probes speak plaintext gRPC to the health listener.
    let probe = connect(format!("http://127.0.0.1:{health_port}"), None)
        .await
        .unwrap();
    let status = tonic_health::pb::health_client::HealthClient::new(probe)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "kefu.order.v1.OrderTrackingService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, 1, "SERVING");
}
