//! `kefu call` against a running `kefu serve`: any RPC from JSON, refusals with their fields
//! named, and a stream printed one answer a line.

use crate::process::{Server, kefu};

async fn call(dir: &std::path::Path, server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = kefu()
        .current_dir(dir)
        .arg("call")
        .args(args)
        .args(["--endpoint", &server.endpoint()])
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_rpc_is_called_from_json_and_streams_print_one_answer_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]).await;

    let (ok, out, err) = call(
        dir.path(),
        &server,
        &[
            "CustomerRegistryService/CreateCustomer",
            "--data",
            r#"{"customer": {"kind": "CUSTOMER_KIND_PERSONAL", "displayName": "Wang Wu", "phone": "139 0000 1111", "teamId": "t1"}}"#,
        ],
    )
    .await;
    assert!(ok, "{err}");
    let created: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["phone"], "139****1111",
        "masked: no purpose was stated"
    );

    let (ok, out, err) = call(
        dir.path(),
        &server,
        &[
            "kefu.customer.v1.CustomerRegistryService/GetCustomer",
            "--data",
            &format!(r#"{{"customer_id": "{id}"}}"#),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("\"displayName\":\"Wang Wu\""), "{out}");

    // A refusal names its fields, decoded from the status details.
    let (ok, _, err) = call(
        dir.path(),
        &server,
        &[
            "CustomerRegistryService/CreateCustomer",
            "--data",
            r#"{"customer": {"kind": "CUSTOMER_KIND_PERSONAL", "phone": "123"}}"#,
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("InvalidArgument"), "{err}");
    assert!(err.contains("customer.display_name: required"), "{err}");
    assert!(err.contains("customer.phone"), "{err}");

    // A stream: every event so far, one JSON answer a line, then quiet.
    let (ok, out, err) = call(
        dir.path(),
        &server,
        &["CustomerRegistryService/StreamEvents", "--data", "{}"],
    )
    .await;
    assert!(ok, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{out}");
    assert_eq!(
        events[0]["event"]["type"],
        "kefu.customer.v1.CustomerCreated"
    );

    // Names and data the contract does not have are refused before any call.
    for (args, says) in [
        (vec!["CustomerRegistryService/Nope"], "has no method Nope"),
        (vec!["Nope/Get"], "no service Nope"),
        (
            vec![
                "CustomerRegistryService/GetCustomer",
                "--data",
                r#"{"customerIdd": "x"}"#,
            ],
            "not a kefu.customer.v1.GetCustomerRequest",
        ),
    ] {
        let (ok, _, err) = call(dir.path(), &server, &args).await;
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
}
