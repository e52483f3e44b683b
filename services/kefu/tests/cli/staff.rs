//! staff-kpi as operators meet it: the README's month, from the other services' events to an
//! assessment, a dispute and a reward, through `kefu staff` on the embedded defaults; and
//! across processes, each service its own `kefu serve` on its own PostgreSQL database, where
//! complaint-desk's events become staff-kpi's facts exactly once although staff-kpi is killed
//! mid-stream and started again (SK-2).

use std::path::Path;
use std::time::Duration;

use chrono::{Datelike as _, FixedOffset, TimeZone as _, Utc};
use kefu_platform::time::to_timestamp;
use kefu_proto::complaint as dpb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::staff as pb;
use kefu_proto::staff::staff_kpi_service_client::StaffKpiServiceClient;
use serde_json::Value;

use crate::complaints::{
    Databases, channel, complaint_desk, count, new_customer, new_order, peers, wait_for,
};
use crate::process::{Server, bearer, cli_customer, kefu, kefu_json, kefu_refused};

/// Asia/Shanghai, as the defaults have it.
fn local() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// This local month's label and last month's with an instant in its middle, waiting out the
/// last minutes of a month so that the test's facts fall in the month it reads.
async fn months() -> (String, String, String) {
    let now = Utc::now().with_timezone(&local());
    let next = if now.month() == 12 {
        local().with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        local().with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .unwrap();
    let left = next.signed_duration_since(now);
    if left < chrono::Duration::minutes(5) {
        tokio::time::sleep(left.to_std().unwrap() + Duration::from_secs(1)).await;
    }
    let now = Utc::now().with_timezone(&local());
    let (year, month) = if now.month() == 1 {
        (now.year() - 1, 12)
    } else {
        (now.year(), now.month() - 1)
    };
    let middle = local().with_ymd_and_hms(year, month, 15, 12, 0, 0).unwrap();
    (
        format!("{:04}-{:02}", now.year(), now.month()),
        format!("{year:04}-{month:02}"),
        middle.to_rfc3339(),
    )
}

/// A development token for `sub` in `role` of `team`, as `kefu token` mints it.
async fn token(dir: &Path, role: &str, sub: &str, team: &str) -> String {
    let out = kefu()
        .args(["token", "--role", role, "--sub", sub, "--team", team])
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `kefu <args> --json` as the holder of `token`.
async fn as_(server: &Server, dir: &Path, token: &str, args: &[&str]) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--token", token]);
    kefu_json(server, dir, &all).await
}

fn figure<'a>(assessment: &'a Value, kpi: &str) -> &'a Value {
    assessment["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kpi"] == kpi)
        .unwrap_or_else(|| panic!("no {kpi} in {assessment}"))
}

/// Recomputes until `ready` holds.
async fn recomputed(
    server: &Server,
    dir: &Path,
    who: &str,
    period: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..100 {
        let a = kefu_json(server, dir, &["staff", "recompute", who, period]).await;
        if ready(&a) {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{who}'s assessment in {period} never got ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_from_events_to_an_assessment_a_dispute_and_a_reward() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, &[], &[("KEFU__STAFF_KPI__CLOSE_INTERVAL_MS", "200")]).await;
    let (this, last, middle) = months().await;
    let ann = token(d, "agent", "ann", "hotline").await;
    let bob = token(d, "agent", "bob", "hotline").await;
    let sue = token(d, "supervisor", "sue", "").await;

    // SK-1: the department.
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
    kefu_json(
        &server,
        d,
        &[
            "staff",
            "create-team",
            "hotline",
            "--name",
            "Hotline",
            "--supervisor",
            "sue",
        ],
    )
    .await;
    for who in ["ann", "bob"] {
        let joined = kefu_json(
            &server,
            d,
            &[
                "staff",
                "join",
                who,
                "--name",
                who,
                "--role",
                "agent",
                "--team",
                "hotline",
                "--manager",
                "sue",
                "--joined",
                "2025-01-01",
            ],
        )
        .await;
        assert_eq!(joined["state"], "STAFF_STATE_ACTIVE");
    }
    kefu_json(&server, d, &["staff", "open-period", &this]).await;
    kefu_json(&server, d, &["staff", "open-period", &last]).await;

    // The other services' work: a customer complains about ann; bob answers and resolves.
    let customer = cli_customer(&server, d).await;
    let case = kefu_json(
        &server,
        d,
        &[
            "complaints",
            "create",
            "--customer",
            &customer,
            "--category",
            "staff_attitude",
            "--staff",
            "ann",
            "--summary",
            "rude on the phone",
        ],
    )
    .await["caseNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    kefu_json(
        &server,
        d,
        &[
            "complaints",
            "assign",
            &case,
            "--to",
            "bob",
            "--team",
            "hotline",
        ],
    )
    .await;
    as_(
        &server,
        d,
        &bob,
        &[
            "complaints",
            "respond",
            &case,
            "--message",
            "we are sorry; we will call back today",
        ],
    )
    .await;
    as_(
        &server,
        d,
        &bob,
        &[
            "complaints",
            "investigate",
            &case,
            "--cause",
            "staff_conduct",
            "--action",
            "coaching on calls",
        ],
    )
    .await;
    as_(
        &server,
        d,
        &bob,
        &[
            "complaints",
            "resolve",
            &case,
            "--answer",
            "apologised and coached",
        ],
    )
    .await;

    // SK-2: the figures follow the events.
    let before = recomputed(&server, d, "ann", &this, |a| {
        figure(a, "KPI_COMPLAINTS_AGAINST")["value"] == "1"
    })
    .await;
    let bobs = recomputed(&server, d, "bob", &this, |a| {
        figure(a, "KPI_FIRST_RESPONSE_MET")["denominator"] == "1"
    })
    .await;
    assert_eq!(
        figure(&bobs, "KPI_FIRST_CONTACT_RESOLUTION")["value"],
        "1000"
    );
    let sources = as_(
        &server,
        d,
        &ann,
        &[
            "staff",
            "sources",
            "ann",
            &this,
            "--kpi",
            "complaints_against",
        ],
    )
    .await;
    let event = sources["sources"][0]["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sources["sources"][0]["source"], "complaint-desk");

    // SK-3: ann disputes it; bob may not; sue upholds.
    let refused = kefu_refused(
        &server,
        d,
        &[
            "staff",
            "dispute",
            "--staff",
            "ann",
            "--period",
            &this,
            "--kpi",
            "complaints_against",
            "--event",
            &event,
            "--reason",
            "on her behalf",
            "--token",
            &bob,
        ],
    )
    .await;
    assert!(refused.contains("PermissionDenied"), "{refused}");
    let dispute = as_(
        &server,
        d,
        &ann,
        &[
            "staff",
            "dispute",
            "--staff",
            "ann",
            "--period",
            &this,
            "--kpi",
            "complaints_against",
            "--event",
            &event,
            "--reason",
            "the caller asked for bob; I never spoke to them",
        ],
    )
    .await;
    let id = dispute["id"].as_str().unwrap().to_owned();
    as_(
        &server,
        d,
        &sue,
        &[
            "staff",
            "decide",
            &id,
            "--uphold",
            "--note",
            "the call log shows bob took the call",
        ],
    )
    .await;
    let after = as_(&server, d, &ann, &["staff", "assessment", "ann", &this]).await;
    assert_eq!(after["cause"], "ASSESSMENT_CAUSE_DISPUTE_UPHELD");
    assert_eq!(figure(&after, "KPI_COMPLAINTS_AGAINST")["value"], "0");
    let old = as_(
        &server,
        d,
        &ann,
        &[
            "staff",
            "assessment",
            "ann",
            &this,
            "--revision",
            &before["revision"].to_string(),
        ],
    )
    .await;
    assert_eq!(figure(&old, "KPI_COMPLAINTS_AGAINST")["value"], "1");

    // SK-6, SK-4: last month's training, a reward rule, and the month closed.
    let plan = as_(
        &server,
        d,
        &sue,
        &[
            "staff",
            "plan",
            "--title",
            "Calls that calm",
            "--at",
            &middle,
        ],
    )
    .await;
    let plan = plan["id"].as_str().unwrap().to_owned();
    as_(
        &server,
        d,
        &sue,
        &["staff", "attend", &plan, "ann", "--score", "95"],
    )
    .await;
    as_(
        &server,
        d,
        &sue,
        &["staff", "attend", &plan, "bob", "--score", "70"],
    )
    .await;
    let rule = kefu_json(
        &server,
        d,
        &[
            "staff",
            "create-rule",
            "--name",
            "Trained and graded B or better",
            "--reward",
            "--amount-fen",
            "50000",
            "--when",
            "training>=900",
            "--when",
            "grade>=B",
        ],
    )
    .await;
    assert_eq!(rule["version"], "1");
    let closed = kefu_json(&server, d, &["staff", "close", &last, "--wait"]).await;
    assert_eq!(closed["state"], "PERIOD_STATE_CLOSED");
    let outcomes = kefu_json(&server, d, &["staff", "outcomes", "--period", &last]).await;
    let decided = outcomes["rewardPenalties"].as_array().unwrap();
    assert_eq!(decided.len(), 1, "{outcomes}");
    assert_eq!(decided[0]["staffId"], "ann");
    assert_eq!(decided[0]["kind"], "REWARD_PENALTY_KIND_REWARD");
    assert_eq!(decided[0]["ruleVersion"], "1");

    // SK-3: a formula from next month on; SK-5: a breach bob sees.
    let next_month = {
        let (y, m) = this.split_once('-').unwrap();
        let (y, m): (i32, u32) = (y.parse().unwrap(), m.parse().unwrap());
        if m == 12 {
            format!("{}-01-01", y + 1)
        } else {
            format!("{y:04}-{:02}-01", m + 1)
        }
    };
    let csat = kefu_json(
        &server,
        d,
        &[
            "staff",
            "add-formula",
            "csat",
            "--from",
            &next_month,
            "--weight",
            "25",
        ],
    )
    .await;
    assert_eq!(csat["formulas"].as_array().unwrap().len(), 2);
    as_(
        &server,
        d,
        &sue,
        &[
            "staff",
            "breach",
            "--staff",
            "bob",
            "--kind",
            "privacy",
            "--description",
            "read a customer's address aloud in the lobby",
            "--evidence",
            "HR-2026-7",
            "--at",
            &Utc::now().to_rfc3339(),
        ],
    )
    .await;
    let seen = as_(&server, d, &bob, &["staff", "breaches", "--staff", "bob"]).await;
    assert_eq!(seen["breaches"].as_array().unwrap().len(), 1);
    let hidden = as_(&server, d, &ann, &["staff", "breaches", "--staff", "bob"]).await;
    assert!(hidden.get("breaches").is_none(), "{hidden}");
}

/// staff-kpi as a process of its own, reading the other processes' streams.
async fn staff_kpi(
    dir: &Path,
    dbs: &Databases,
    desk: &Server,
    registry: &Server,
    tracking: &Server,
) -> Server {
    let (desk, registry, tracking) = (desk.endpoint(), registry.endpoint(), tracking.endpoint());
    Server::start(
        dir,
        &["--service", "staff-kpi"],
        &[
            dbs.env()[4],
            ("KEFU__STAFF_KPI__LISTEN", "127.0.0.1:0"),
            ("KEFU__COMPLAINT_DESK__ENDPOINT", desk.as_str()),
            ("KEFU__CUSTOMER_REGISTRY__ENDPOINT", registry.as_str()),
            ("KEFU__ORDER_TRACKING__ENDPOINT", tracking.as_str()),
            // Not run here: its stream is tried at a closed port.
            ("KEFU__SURVEY__ENDPOINT", "http://127.0.0.1:9"),
            ("KEFU__EVENTS__CONSUMER_TAKEOVER_MS", "200"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sk2_every_fact_is_counted_once_across_processes_and_a_kill() {
    let dbs = Databases::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let (this, _, _) = months().await;
    let (registry, tracking) = peers(dir.path(), &dbs, ("4", "24")).await;
    let desk = complaint_desk(dir.path(), &dbs, &registry, &tracking, &[]).await;
    let mut staff = staff_kpi(dir.path(), &dbs, &desk, &registry, &tracking).await;
    let manager = registry.token.clone().unwrap();
    let customer = new_customer(&registry).await;
    let order = new_order(&tracking, &manager, &customer).await;
    let ann = token(dir.path(), "agent", "ann", "t1").await;
    let mut as_manager =
        ComplaintDeskServiceClient::with_interceptor(channel(&desk).await, bearer(manager.clone()));
    let mut as_ann =
        ComplaintDeskServiceClient::with_interceptor(channel(&desk).await, bearer(ann));
    let facts = dbs.staff.connect().await;

    const CASES: i64 = 12;
    for n in 0..CASES {
        let case = as_manager
            .create_complaint(dpb::CreateComplaintRequest {
                complaint: Some(dpb::Complaint {
                    r#type: dpb::CaseType::Complaint as i32,
                    origin: dpb::Origin::Hotline as i32,
                    category: dpb::Category::Damage as i32,
                    severity: dpb::Severity::Medium as i32,
                    customer_id: customer.clone(),
                    order_id: order.clone(),
                    summary: format!("damaged parcel {n}"),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let case = as_manager
            .assign_complaint(dpb::AssignComplaintRequest {
                complaint_id: case.id.clone(),
                assignee_id: "ann".into(),
                team_id: "t1".into(),
                expected_version: case.version,
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        as_ann
            .record_first_response(dpb::RecordFirstResponseRequest {
                complaint_id: case.id.clone(),
                message: "we are on it".into(),
                expected_version: case.version,
                request_id: String::new(),
            })
            .await
            .unwrap();
        if n == CASES / 2 {
            // Killed while it reads the stream: no goodbye, no drain.
            wait_for(&facts, "SELECT COUNT(*) AS n FROM facts", 1, 20).await;
            staff.child.kill().await.unwrap();
        }
    }
    staff = staff_kpi(dir.path(), &dbs, &desk, &registry, &tracking).await;
    wait_for(&facts, "SELECT COUNT(*) AS n FROM facts", 2 * CASES, 30).await;
    // It keeps reading a while; nothing is counted twice.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (kind, want) in [("complaint", CASES), ("first_response", CASES)] {
        assert_eq!(
            count(
                &facts,
                &format!("SELECT COUNT(*) AS n FROM facts WHERE kind = '{kind}'")
            )
            .await,
            want,
            "{kind} facts"
        );
    }

    // And the figure counts each once.
    let mut kpi = StaffKpiServiceClient::with_interceptor(channel(&staff).await, bearer(manager));
    kpi.create_team(pb::CreateTeamRequest {
        team: Some(pb::Team {
            id: "t1".into(),
            display_name: "Hotline".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    kpi.create_staff(pb::CreateStaffRequest {
        staff: Some(pb::Staff {
            id: "ann".into(),
            display_name: "Ann".into(),
            role: pb::StaffRole::Agent as i32,
            team_id: "t1".into(),
            join_time: Some(to_timestamp(Utc::now() - chrono::Duration::days(400))),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    kpi.create_period(pb::CreatePeriodRequest {
        period: Some(pb::Period {
            kind: pb::PeriodKind::Monthly as i32,
            label: this.clone(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    let assessed = kpi
        .recompute_assessment(pb::RecomputeAssessmentRequest {
            staff_id: "ann".into(),
            period_id: this,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let met = assessed
        .figures
        .iter()
        .find(|f| f.kpi() == pb::Kpi::FirstResponseMet)
        .unwrap();
    assert_eq!((met.numerator, met.denominator), (CASES, CASES));
    drop((staff, desk, tracking, registry));
}
