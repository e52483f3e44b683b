//! X-3 as operators meet it: `kefu report` reads the business report of every service of the
//! suite for a local day or month, as JSON and as CSV, on the embedded defaults; only
//! supervisors and managers get one; a bad or future period is refused naming the field.

use std::time::Duration;

use serde_json::Value;

use crate::process::{Server, cli_customer, kefu, kefu_json, kefu_refused, kefu_text};

/// The value of `metric` in `group` ("" for the total); none when the report has no such row.
fn figure(report: &Value, group: &str, metric: &str) -> Option<f64> {
    report["rows"]
        .as_array()?
        .iter()
        .find(|r| r["metric"] == metric && r["group"].as_str().unwrap_or_default() == group)
        .map(|r| r["value"].as_f64().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x3_every_service_reports_its_day_and_month_as_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, &[], &[]).await;
    let (day, month) = kefu_testkit::local_today().await;

    let customer = cli_customer(&server, d).await;
    let mut order = String::new();
    for _ in 0..2 {
        order = kefu_json(
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
                "Fujian,Fuzhou,Gulou,1 Wusi Rd",
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
    }
    kefu_json(
        &server,
        d,
        &[
            "complaints",
            "create",
            "--customer",
            &customer,
            "--category",
            "damage",
            "--order",
            &order,
            "--summary",
            "crushed box",
        ],
    )
    .await;
    kefu_json(
        &server,
        d,
        &[
            "staff",
            "join",
            "sue",
            "--name",
            "Sue Lin",
            "--role",
            "supervisor",
            "--joined",
            "2025-01-01",
        ],
    )
    .await;

    let report = |service: &'static str, period: &'static str, label: String| {
        let server = &server;
        async move { kefu_json(server, d, &["report", "--service", service, period, &label]).await }
    };
    let orders = report("order-tracking", "--day", day.clone()).await;
    assert_eq!(orders["source"], "order-tracking");
    assert_eq!(orders["period"], "REPORT_PERIOD_DAY");
    assert_eq!(orders["periodLabel"], day.as_str());
    assert_eq!(figure(&orders, "", "orders_received"), Some(2.0));
    assert_eq!(
        figure(&orders, "channel=phone", "orders_received"),
        Some(2.0)
    );
    assert_eq!(figure(&orders, "", "orders_delivered"), Some(0.0));
    assert_eq!(
        figure(&orders, "", "delivered_on_time_share"),
        None,
        "a share of no deliveries is no figure"
    );
    let registry = report("customer-registry", "--month", month.clone()).await;
    assert_eq!(registry["period"], "REPORT_PERIOD_MONTH");
    assert_eq!(figure(&registry, "", "customers_registered"), Some(1.0));
    assert_eq!(
        figure(&registry, "kind=enterprise", "customers_registered"),
        Some(1.0)
    );
    // Complaint-desk counts the orders it heard of from order-tracking's stream.
    let mut complaints = Value::Null;
    for _ in 0..100 {
        complaints = report("complaint-desk", "--day", day.clone()).await;
        if figure(&complaints, "", "orders_seen") == Some(2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(figure(&complaints, "", "cases_registered"), Some(1.0));
    assert_eq!(
        figure(&complaints, "category=damage", "cases_registered"),
        Some(1.0)
    );
    assert_eq!(figure(&complaints, "", "orders_seen"), Some(2.0));
    assert_eq!(
        figure(&complaints, "", "complaints_per_1000_orders"),
        Some(500.0)
    );
    let surveys = report("survey", "--day", day.clone()).await;
    assert_eq!(figure(&surveys, "", "responses_received"), Some(0.0));
    assert_eq!(figure(&surveys, "", "csat_tenths"), None);
    let staff = report("staff-kpi", "--day", day.clone()).await;
    // Joined long before the day, active on it.
    assert_eq!(figure(&staff, "", "staff_joined"), Some(0.0));
    assert_eq!(figure(&staff, "role=supervisor", "active_staff"), Some(1.0));

    // CSV for a spreadsheet: a header, then one line per figure.
    let table = kefu_text(
        &server,
        d,
        &[
            "report",
            "--service",
            "order-tracking",
            "--day",
            &day,
            "--csv",
        ],
    )
    .await;
    let mut lines = table.lines();
    assert_eq!(
        lines.next(),
        Some("source,period,period_label,group,metric,value")
    );
    assert!(
        table.contains(&format!("order-tracking,day,{day},,orders_received,2\r\n")),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "order-tracking,day,{day},channel=phone,orders_received,2\r\n"
        )),
        "{table}"
    );

    // Reports are for the people who run the department.
    let agent = String::from_utf8(
        kefu()
            .args(["token", "--role", "agent", "--sub", "ann"])
            .current_dir(d)
            .output()
            .await
            .unwrap()
            .stdout,
    )
    .unwrap();
    let refused = kefu_refused(
        &server,
        d,
        &[
            "report",
            "--service",
            "survey",
            "--day",
            &day,
            "--token",
            agent.trim(),
        ],
    )
    .await;
    assert!(refused.contains("PermissionDenied"), "{refused}");
    let refused = kefu_refused(
        &server,
        d,
        &["report", "--service", "staff-kpi", "--month", "2026-13"],
    )
    .await;
    assert!(refused.contains("period_label"), "{refused}");
    let refused = kefu_refused(
        &server,
        d,
        &["report", "--service", "staff-kpi", "--day", "2999-01-01"],
    )
    .await;
    assert!(refused.contains("has not begun"), "{refused}");
    let refused = kefu_refused(
        &server,
        d,
        &["report", "--service", "billing", "--day", &day],
    )
    .await;
    assert!(
        refused.contains("staff-kpi"),
        "names the services there are: {refused}"
    );
}
