//! A survey's life as the README shows it, through the `kefu` binary on the SQLite defaults:
//! a delivered order triggers an online survey (SV-3), the customer answers with the token
//! and no staff login (SV-1), the low score opens a follow-up task and the problem a
//! complaint case (SV-5), and the score report counts it (SV-2, SV-4).

use std::time::Duration;

use serde_json::Value;

use crate::process::{Server, cli_customer, kefu_json, kefu_refused};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surveys_life_from_a_delivered_order_to_a_score_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, &[], &[("KEFU__SURVEY__SCHEDULE_INTERVAL_MS", "200")]).await;
    let questionnaire = kefu_json(
        &server,
        d,
        &[
            "surveys",
            "create-questionnaire",
            "--title",
            "After delivery",
            "--question",
            "csat:csat:How satisfied are you?:required",
            "--question",
            "nps:nps:Would you recommend us?",
            "--question",
            "comment:text:Anything else?",
            "--question",
            "problem:problem:Did something go wrong?",
            "--publish",
        ],
    )
    .await;
    assert_eq!(questionnaire["version"], 1);
    let q = questionnaire["id"].as_str().unwrap().to_owned();
    kefu_json(
        &server,
        d,
        &[
            "surveys",
            "create-trigger",
            "--kind",
            "after_delivery",
            "--questionnaire",
            &q,
        ],
    )
    .await;
    let customer = cli_customer(&server, d).await;
    let order = kefu_json(
        &server,
        d,
        &[
            "orders",
            "create",
            "--customer",
            &customer,
            "--channel",
            "phone",
            "--distance-km",
            "200",
            "--from",
            "Fujian,Fuzhou",
            "--to",
            "Fujian,Xiamen",
            "--line",
            "tea,3,12300,30000,50000",
        ],
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for args in [
        vec!["orders", "move", &order, "--to", "verified"],
        vec!["orders", "move", &order, "--to", "picking"],
        vec!["orders", "pick", &order, "--line", "0=3"],
        vec!["orders", "pack", &order, "--package", "P1:0:12300"],
        vec!["orders", "move", &order, "--to", "packed"],
        vec!["orders", "move", &order, "--to", "dispatched"],
        vec!["orders", "move", &order, "--to", "in_transit"],
        vec!["orders", "move", &order, "--to", "arrived"],
        vec!["orders", "move", &order, "--to", "out_for_delivery"],
        vec![
            "orders",
            "handover",
            &order,
            "--document",
            "WB-1",
            "--handed-by",
            "courier 7",
            "--signer",
            "Wang Wu",
            "--proof",
            "docs://p/1",
        ],
    ] {
        kefu_json(&server, d, &args).await;
    }
    // The trigger's survey goes out by itself.
    let mut invitations = Value::Null;
    for _ in 0..100 {
        invitations = kefu_json(
            &server,
            d,
            &["surveys", "invitations", "--customer", &customer],
        )
        .await;
        if invitations["invitations"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = &invitations["invitations"][0];
    assert_eq!(sent["orderId"], order.as_str());
    let token = sent["responseToken"].as_str().unwrap().to_owned();
    kefu_json(
        &server,
        d,
        &[
            "surveys",
            "answer-online",
            "--response-token",
            &token,
            "--answer",
            "csat=2",
            "--answer",
            "nps=4",
            "--answer",
            "comment=the tea was wet",
            "--answer",
            "problem=damage",
        ],
    )
    .await;
    let again = kefu_refused(
        &server,
        d,
        &[
            "surveys",
            "answer-online",
            "--response-token",
            &token,
            "--answer",
            "csat=5",
        ],
    )
    .await;
    assert!(again.contains("answered already"), "{again}");
    let tasks = kefu_json(&server, d, &["surveys", "tasks", "--state", "open"]).await;
    assert_eq!(tasks["followUpTasks"].as_array().map(Vec::len), Some(1));
    let scores = kefu_json(
        &server,
        d,
        &[
            "surveys",
            "scores",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
        ],
    )
    .await;
    assert_eq!(scores["rows"][0]["csat"]["valueTenths"], 0);
    assert_eq!(scores["rows"][0]["nps"]["valueTenths"], -1000);
    assert!(
        scores["rows"][0]["effort"].get("valueTenths").is_none(),
        "no data"
    );
    // complaint-desk opened the case from the answer.
    let mut cases = Value::Null;
    for _ in 0..100 {
        cases = kefu_json(&server, d, &["complaints", "list"]).await;
        if cases["complaints"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cases["complaints"][0]["origin"], "ORIGIN_SURVEY_ANSWER");
    assert_eq!(cases["complaints"][0]["orderId"], order.as_str());
    drop(server);
}
