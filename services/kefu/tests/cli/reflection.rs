//! A client we did not write: the buf CLI (npm @bufbuild/buf) calls the running suite through
//! server reflection, both v1 and v1alpha, and gets a customer back.

use crate::process::{Server, repo_root};

fn buf() -> std::path::PathBuf {
    let path = repo_root().join("node_modules/.bin/buf");
    assert!(
        path.exists(),
        "{} missing: run `npm ci` at the repository root",
        path.display()
    );
    path
}

async fn buf_curl(
    server: &Server,
    reflect_protocol: &str,
    method: &str,
    body: &str,
) -> serde_json::Value {
    let token = server.token.as_deref().expect("development token printed");
    let output = tokio::process::Command::new(buf())
        .args([
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--reflect-protocol",
            reflect_protocol,
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--header",
            "x-kefu-purpose: integration test",
            "--data",
            body,
            &format!(
                "{}/kefu.customer.v1.CustomerRegistryService/{method}",
                server.endpoint()
            ),
        ])
        .output()
        .await
        .expect("buf runs");
    assert!(
        output.status.success(),
        "buf curl {method} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("buf curl prints JSON")
}

#[tokio::test]
async fn buf_curl_creates_and_reads_a_customer_through_reflection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--service", "all"], &[]).await;
    let created = buf_curl(
        &server,
        "grpc-v1",
        "CreateCustomer",
        r#"{"customer": {"kind": "CUSTOMER_KIND_PERSONAL", "displayName": "Zhang San", "phone": "13812345678"}}"#,
    )
    .await;
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(created["tier"], "TIER_OCCASIONAL");

    // The PyPI grpcurl speaks only v1alpha; buf curl can too.
    let fetched = buf_curl(
        &server,
        "grpc-v1alpha",
        "GetCustomer",
        &format!(r#"{{"customerId": "{id}"}}"#),
    )
    .await;
    assert_eq!(fetched["displayName"], "Zhang San");
    assert_eq!(
        fetched["phone"], "13812345678",
        "the dev token holds pii:read and the call gave a purpose"
    );
}

#[tokio::test]
async fn reflection_describes_error_details_and_health_for_any_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]).await;
    for (protocol, symbol) in [
        ("v1", "google.rpc.BadRequest"),
        ("v1alpha", "google.rpc.BadRequest"),
        ("v1", "grpc.health.v1.Health"),
        ("v1alpha", "grpc.health.v1.Health"),
        ("v1", "kefu.customer.v1.CustomerCreated"),
    ] {
        let output = tokio::process::Command::new(buf())
            .args([
                "curl",
                "--protocol",
                "grpc",
                "--http2-prior-knowledge",
                "--reflect-protocol",
                &format!("grpc-{protocol}"),
                "--data",
                &format!(r#"{{"file_containing_symbol": "{symbol}"}}"#),
                &format!(
                    "{}/grpc.reflection.{protocol}.ServerReflection/ServerReflectionInfo",
                    server.endpoint()
                ),
            ])
            .output()
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        assert!(
            answer["fileDescriptorResponse"]["fileDescriptorProto"].is_array(),
            "{protocol} does not describe {symbol}: {answer}"
        );
    }
    // Every service of the suite is advertised, so any client can find its methods.
    let output = tokio::process::Command::new(buf())
        .args([
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--list-methods",
            &server.endpoint(),
        ])
        .output()
        .await
        .unwrap();
    let methods = String::from_utf8_lossy(&output.stdout);
    assert!(
        methods.contains("kefu.customer.v1.CustomerRegistryService/CreateCustomer"),
        "{methods}"
    );
    assert!(
        methods.contains("kefu.order.v1.OrderTrackingService/CreateOrder"),
        "{methods}"
    );
    assert!(
        methods.contains("kefu.complaint.v1.ComplaintDeskService/CreateComplaint"),
        "{methods}"
    );
    assert!(
        methods.contains("kefu.survey.v1.SurveyService/SubmitOnlineResponse"),
        "{methods}"
    );
    assert!(
        methods.contains("kefu.staff.v1.StaffKpiService/ListFigureSources"),
        "{methods}"
    );
}
