//! The README's customer flows (CR-1 to CR-13) through the `kefu` binary, on the SQLite
//! default and on PostgreSQL, with canary personal data: afterwards no database byte, log
//! line or exported span holds a canary in clear (CR-9, X-4), and reads still open it after
//! a key rotation and a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kefu_testkit::TestDatabase;
use sea_orm::ConnectionTrait as _;
use serde_json::Value;

use crate::process::{Server, kefu};
use crate::telemetry::Collector;

const PHONE: &str = "13987654321";
const EMAIL: &str = "canary.7f3a@example.com";
const NEW_EMAIL: &str = "canary.second@example.com";
const ID_NUMBER: &str = "11010519491231002X";
const STREET: &str = "77 Canary Lane";
const ORDER_STREET: &str = "88 Canary Wharf";
/// A person's name: kept in clear while the customer is, gone after the erasure.
const NAME: &str = "Lin Yi";
const CANARIES: &[&str] = &[
    NAME,
    PHONE,
    EMAIL,
    NEW_EMAIL,
    ID_NUMBER,
    STREET,
    ORDER_STREET,
];

/// The second key the journey rotates to.
const SECOND_KEY: &str = "a2V5LXR3by1mb3ItdGhlLWNhbmFyeS10ZXN0LTAwMDA=";

/// A `kefu serve` the journey talks to, the environment it and the CLI share, and where
/// its logs go.
struct Journey {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    server: Option<Server>,
    logs: Vec<PathBuf>,
}

impl Journey {
    async fn start(&mut self) {
        let log = self
            .dir
            .path()
            .join(format!("kefu-{}.log", self.logs.len()));
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.server = Some(Server::start_logging_to(self.dir.path(), &[], &env, Some(&log)).await);
        self.logs.push(log);
    }

    /// SIGTERM, and the exit that flushes spans.
    async fn stop(&mut self) {
        let mut server = self.server.take().expect("running");
        server.signal("TERM");
        let exit = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(exit.success());
    }

    /// Makes `customer`'s record look last confirmed `days` ago, as time would.
    async fn age(&self, customer: &str, days: i64) {
        let url = self
            .env
            .iter()
            .find(|(k, _)| k == "KEFU__CUSTOMER_REGISTRY__DATABASE_URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                format!(
                    "sqlite://{}/data/customer-registry.db",
                    self.dir.path().display()
                )
            });
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let long_ago = chrono::Utc::now() - chrono::Duration::days(days);
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE customers SET confirmed_at = $1 WHERE id = $2",
            [long_ago.into(), customer.into()],
        ))
        .await
        .unwrap();
        db.close().await.unwrap();
    }

    /// Runs `kefu <args>` against the server; its stdout, or a panic with its stderr.
    async fn kefu(&self, args: &[&str]) -> String {
        let endpoint = self.server.as_ref().expect("running").endpoint();
        let output = kefu()
            .args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KEFU_ENDPOINT", endpoint)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "kefu {args:?} failed:\n{}{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.kefu(&args).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Polls `kefu <args> --json` until `done` holds.
    async fn until(&self, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            last = self.json(args).await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("kefu {args:?} never got there: {last}");
    }
}

/// Every CR through the CLI; returns the spans exported meanwhile, for the canary search.
async fn the_customer_flows(journey: &mut Journey) -> String {
    let (collector, otlp) = Collector::start().await;
    journey.env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), otlp),
        ("KEFU__TELEMETRY__LOG_FORMAT".into(), "json".into()),
        // CR-5: every grade due at once, so a customer registered now is overdue now.
        (
            "KEFU__CUSTOMER_REGISTRY__VISIT_INTERVAL_DAYS__A".into(),
            "0".into(),
        ),
        (
            "KEFU__CUSTOMER_REGISTRY__VISIT_INTERVAL_DAYS__B".into(),
            "0".into(),
        ),
        (
            "KEFU__CUSTOMER_REGISTRY__VISIT_INTERVAL_DAYS__C".into(),
            "0".into(),
        ),
        (
            "KEFU__CUSTOMER_REGISTRY__VISIT_INTERVAL_DAYS__D".into(),
            "0".into(),
        ),
        // As verbose as an operator chasing a bug would make it.
        (
            "KEFU__TELEMETRY__LOG_FILTER".into(),
            "debug,h2=info,hyper=info,tower=info,rustls=info".into(),
        ),
    ]);
    journey.start().await;
    let j = &*journey;

    // CR-1: a complete record, refused whole when wrong.
    let customer = j
        .json(&[
            "customers",
            "create",
            "--kind",
            "personal",
            "--name",
            NAME,
            "--phone",
            "139 8765 4321",
            "--email",
            EMAIL,
            "--id-number",
            ID_NUMBER,
            "--address",
            &format!("Fujian,Fuzhou,Gulou,{STREET},350001"),
            "--team",
            "t1",
        ])
        .await;
    let c = customer["id"].as_str().unwrap().to_owned();
    assert_eq!(customer["phone"], "139****4321", "masked without a purpose");
    let unmasked = j
        .json(&["customers", "get", &c, "--purpose", "confirm the address"])
        .await;
    assert_eq!(unmasked["phone"], PHONE);
    assert_eq!(unmasked["addresses"][0]["street"], STREET);
    j.json(&["customers", "update", &c, "--email", NEW_EMAIL])
        .await;
    let found = j.json(&["customers", "lookup", "139 8765 4321"]).await;
    assert_eq!(found["customers"][0]["id"], c.as_str());
    let audit = j.json(&["customers", "audit", "--customer", &c]).await;
    assert_eq!(audit["auditRecords"][0]["purpose"], "confirm the address");

    // CR-12: plans are data; CR-2: three orders in a month make a person frequent.
    let plans = j.json(&["customers", "plans"]).await;
    assert!(
        plans["servicePlans"].as_array().unwrap().len() >= 8,
        "{plans}"
    );
    let mut order = String::new();
    for _ in 0..3 {
        let created = j
            .json(&[
                "orders",
                "create",
                "--customer",
                &c,
                "--channel",
                "phone",
                "--distance-km",
                "200",
                "--from",
                &format!("Fujian,Fuzhou,Gulou,{ORDER_STREET}"),
                "--to",
                "Fujian,Xiamen",
                "--line",
                "tea,3,12300,30000,50000",
            ])
            .await;
        order = created["id"].as_str().unwrap().to_owned();
    }
    let tiers = j
        .until(&["customers", "tiers", &c], |t| {
            t["tierChanges"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(tiers["tierChanges"][0]["newTier"], "TIER_FREQUENT");
    j.json(&[
        "customers",
        "override-tier",
        &c,
        "--tier",
        "occasional",
        "--reason",
        "trial account",
    ])
    .await;
    let cleared = j.json(&["customers", "clear-override", &c]).await;
    assert_eq!(cleared["tier"], "TIER_FREQUENT", "back to the facts");

    // CR-3, CR-4, CR-5, CR-6, CR-8, CR-10.
    let grade = j.json(&["customers", "grade", &c]).await;
    assert!(
        grade["components"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "{grade}"
    );
    let regraded = j.json(&["customers", "regrade"]).await;
    assert!(
        regraded["recomputedCount"]
            .as_str()
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|n| n >= 1),
        "{regraded}"
    );
    let graded = j.json(&["customers", "get", &c]).await;
    assert_eq!(
        graded["grade"], grade["grade"],
        "CR-3: the grade explained is the grade kept"
    );
    let assigned = j
        .json(&[
            "customers",
            "assign-owner",
            &c,
            "--owner",
            "agent-1",
            "--visitor",
            "agent-1",
            "--visitor-not-salesperson",
        ])
        .await;
    assert_eq!(
        (&assigned["ownerId"], &assigned["visitorId"]),
        (&Value::from("agent-1"), &Value::from("agent-1")),
        "CR-4"
    );
    let overdue = j
        .json(&["customers", "overdue", "--visitor", "agent-1"])
        .await;
    assert_eq!(
        overdue["overdueVisits"][0]["customerId"],
        c.as_str(),
        "never visited, and due at once"
    );
    let visit = j
        .json(&[
            "customers",
            "report-visit",
            &c,
            "--feedback",
            "wants Saturday deliveries",
            "--market",
            "a competitor cut its rate by 10%",
            "--effect",
            "renewal agreed",
            "--matters",
            "billing dispute settled",
        ])
        .await;
    let month = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m")
        .to_string();
    let visits = j.json(&["customers", "visits", "--month", &month]).await;
    assert_eq!(visits["visitReports"][0]["id"], visit["id"]);
    j.json(&[
        "customers",
        "urgent",
        "--trigger",
        "competitor_policy_change",
        "--description",
        "competitor halves Xiamen rates",
        "--customer",
        &c,
    ])
    .await;
    let urgent = j.json(&["customers", "urgent-list"]).await;
    assert_eq!(urgent["urgentReports"][0]["customerId"], c.as_str());
    // CR-10: unconfirmed for longer than stale_after_days, listed; confirmed, not any more.
    j.age(&c, 181).await;
    let stale = j.json(&["customers", "stale"]).await;
    assert_eq!(stale["customers"][0]["id"], c.as_str(), "{stale}");
    let confirmed = j.json(&["customers", "confirm", &c]).await;
    assert!(
        confirmed["confirmTime"].as_str() > confirmed["createTime"].as_str(),
        "confirmed now: {confirmed}"
    );
    let stale = j.json(&["customers", "stale"]).await;
    assert!(stale.get("customers").is_none(), "{stale}");

    // CR-7: the supervisor compiles and submits the month.
    let supervisor = j
        .kefu(&["token", "--role", "supervisor", "--sub", "sup-1"])
        .await;
    let draft = j
        .json(&[
            "customers",
            "monthly-generate",
            "--team",
            "t1",
            "--month",
            &month,
        ])
        .await;
    let report = draft["id"].as_str().unwrap().to_owned();
    j.json(&[
        "customers",
        "monthly-submit",
        &report,
        "--summary",
        "customers want Saturday deliveries",
        "--token",
        supervisor.trim(),
    ])
    .await;
    let submitted = j.json(&["customers", "monthly", &report]).await;
    assert_eq!(submitted["state"], "MONTHLY_REPORT_STATE_SUBMITTED");
    assert_eq!(submitted["visitReports"].as_array().unwrap().len(), 1);

    // CR-11: a second customer leaves; the first later asks to be forgotten.
    let leaving = j
        .json(&[
            "customers",
            "create",
            "--kind",
            "personal",
            "--name",
            "Chen Er",
            "--phone",
            "13700001111",
            "--team",
            "t1",
        ])
        .await;
    let leaving = leaving["id"].as_str().unwrap().to_owned();
    j.json(&["customers", "archive", &leaving, "--reason", "moved away"])
        .await;
    let listed = j.json(&["customers", "list"]).await;
    assert!(
        !listed.to_string().contains(&leaving),
        "archived customers leave daily lists"
    );

    // CR-9: the key is rotated after a restart with a new active key; reads go on.
    journey.stop().await;
    journey.env.extend([
        (
            "KEFU__SECURITY__PII_KEYS__CANARY2".into(),
            SECOND_KEY.into(),
        ),
        ("KEFU__SECURITY__PII_ACTIVE_KEY".into(), "canary2".into()),
    ]);
    journey.start().await;
    let j = &*journey;
    let rotation = j.json(&["customers", "rotate-keys"]).await;
    let rotation = rotation["id"].as_str().unwrap().to_owned();
    j.until(&["customers", "rotation", &rotation], |r| {
        r["state"] == "KEY_ROTATION_STATE_DONE"
    })
    .await;
    let after = j
        .json(&["customers", "get", &c, "--purpose", "check after rotation"])
        .await;
    assert_eq!(
        (after["phone"].as_str(), after["email"].as_str()),
        (Some(PHONE), Some(NEW_EMAIL))
    );
    // Streets are sealed in the row and masked in every answer: the answer proves the
    // row still opens.
    let order_after = j.json(&["orders", "get", &order]).await;
    assert_eq!(order_after["origin"]["street"], "***");
    assert_eq!(order_after["origin"]["city"], "Fuzhou");

    // Both services have re-sealed everything: with the old key gone (replaced by a wrong
    // one), every read still opens.
    journey.stop().await;
    journey.env.push((
        "KEFU__SECURITY__PII_KEYS__DEV1".into(),
        "dGhlLXJldGlyZWQta2V5LWlzLWdvbmUtMDAwMDAwMDA=".into(),
    ));
    journey.start().await;
    let j = &*journey;
    let retired = j
        .json(&["customers", "get", &c, "--purpose", "old key retired"])
        .await;
    assert_eq!(retired["phone"], PHONE);
    let listed = j.json(&["orders", "list", "--customer", &c]).await;
    assert_eq!(listed["orders"].as_array().unwrap().len(), 3, "{listed}");

    // CR-13: one timeline across both services, kept after erasure.
    let record = j
        .until(&["customers", "record", &c], |r| {
            r["entries"]
                .as_array()
                .is_some_and(|e| e.iter().filter(|e| e["source"] == "order-tracking").count() >= 3)
        })
        .await;
    let summaries = record.to_string();
    assert!(summaries.contains("order placed by phone"), "{record}");
    assert!(
        summaries.contains("tier occasional -> frequent"),
        "{record}"
    );
    j.json(&[
        "customers",
        "erase",
        &c,
        "--legal-reference",
        "PIPL-2026-17",
    ])
    .await;
    let erased = j
        .json(&["customers", "get", &c, "--purpose", "after erasure"])
        .await;
    assert_eq!(erased["state"], "CUSTOMER_STATE_ERASED");
    assert!(!erased.to_string().contains(PHONE));
    let record = j.json(&["customers", "record", &c]).await;
    assert_eq!(record["entries"][0]["summary"], "personal data erased");

    journey.stop().await;
    let exports = collector.0.lock().unwrap().clone();
    assert!(!exports.is_empty(), "spans were exported");
    format!("{exports:?}")
}

/// Whether `haystack` holds `canary` in clear, as text or as the hex of its bytes.
fn leaks(haystack: &str, canary: &str) -> bool {
    let hex: String = canary.bytes().map(|b| format!("{b:02x}")).collect();
    haystack.contains(canary) || haystack.to_ascii_lowercase().contains(&hex)
}

fn assert_no_canary(place: &str, haystack: &str) {
    for canary in CANARIES {
        assert!(!leaks(haystack, canary), "{canary} in clear in {place}");
    }
}

fn assert_logs_and_spans_clean(journey: &Journey, spans: &str) {
    assert_no_canary("exported spans", spans);
    for log in &journey.logs {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.lines().count() > 10, "{} is a real log", log.display());
        assert_no_canary(&log.display().to_string(), &text);
    }
}

/// Every byte of every file under `dir`, lossily as text.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr1_to_cr13_through_the_binary_on_the_sqlite_default_leave_no_canary() {
    let mut journey = Journey {
        dir: tempfile::tempdir().unwrap(),
        env: Vec::new(),
        server: None,
        logs: Vec::new(),
    };
    let spans = the_customer_flows(&mut journey).await;
    assert_logs_and_spans_clean(&journey, &spans);
    let files = files_under(&journey.dir.path().join("data"));
    assert!(files.len() >= 2, "both services' databases");
    for (path, content) in files {
        assert_no_canary(&path.display().to_string(), &content);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr1_to_cr13_through_the_binary_on_postgres_leave_no_canary() {
    let registry = TestDatabase::postgres().await.unwrap();
    let orders = TestDatabase::postgres().await.unwrap();
    let env = vec![
        (
            "KEFU__CUSTOMER_REGISTRY__DATABASE_URL".to_owned(),
            registry.url.expose().to_owned(),
        ),
        (
            "KEFU__ORDER_TRACKING__DATABASE_URL".to_owned(),
            orders.url.expose().to_owned(),
        ),
    ];
    let migrated = kefu()
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(migrated.status.success());
    let mut journey = Journey {
        dir: tempfile::tempdir().unwrap(),
        env,
        server: None,
        logs: Vec::new(),
    };
    let spans = the_customer_flows(&mut journey).await;
    assert_logs_and_spans_clean(&journey, &spans);
    for database in [&registry, &orders] {
        let db = database.connect().await;
        let tables = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = 'public'",
            ))
            .await
            .unwrap();
        assert!(tables.len() >= 5);
        for table in tables {
            let table: String = table.try_get("", "name").unwrap();
            let rows = db
                .query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT t::text AS row FROM \"{table}\" t"),
                ))
                .await
                .unwrap();
            let dump: Vec<String> = rows
                .into_iter()
                .map(|r| r.try_get::<String>("", "row").unwrap())
                .collect();
            assert_no_canary(&format!("table {table}"), &dump.join("\n"));
        }
    }
}
