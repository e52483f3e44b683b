//! CR-6 and CR-8 through the API: day-reports with the seed's six parts, filed by those who
//! may see the customer; urgent reports raised at once as events.

use std::time::Duration;

use futures::StreamExt as _;
use kefu_platform::auth::Role;
use kefu_proto::customer as pb;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{Backend, create, personal, spawn};
use kefu_testkit::on_both;

pub(crate) fn report(customer_id: &str) -> pb::VisitReport {
    pb::VisitReport {
        customer_id: customer_id.into(),
        visit_time: Some(prost_types::Timestamp {
            seconds: kefu_testkit::earlier_today().timestamp(),
            nanos: 0,
        }),
        customer_feedback: "wants Saturday deliveries".into(),
        market_intelligence: "a competitor cut its Fuzhou-Xiamen rate by 10%".into(),
        visit_effect: "renewal agreed in principle".into(),
        matters_handled: "October billing dispute settled".into(),
        other_matters: String::new(),
        ..Default::default()
    }
}

async fn visitors_file_day_reports_with_six_parts(backend: Backend) {
    let app = spawn(backend).await;
    let (_, month) = kefu_testkit::local_today().await;
    let mut manager = app.client(Role::Manager).await;
    let ours = manager
        .create_customer(create(personal("Ours")))
        .await
        .unwrap()
        .into_inner();
    let theirs = manager
        .create_customer(create(pb::Customer {
            team_id: "t2".into(),
            ..personal("Theirs")
        }))
        .await
        .unwrap()
        .into_inner();
    let file = |r: pb::VisitReport| pb::CreateVisitReportRequest {
        visit_report: Some(r),
        request_id: String::new(),
    };

    let mut agent = app.agent("agent-1", "t1").await;
    let incomplete = agent
        .create_visit_report(file(pb::VisitReport {
            market_intelligence: String::new(),
            ..report(&ours.id)
        }))
        .await
        .unwrap_err();
    assert_eq!(incomplete.code(), Code::InvalidArgument);
    let bad = incomplete.get_details_bad_request().unwrap();
    assert_eq!(
        bad.field_violations[0].field,
        "visit_report.market_intelligence"
    );
    assert_eq!(
        agent
            .create_visit_report(file(report(&theirs.id)))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    let filed = agent
        .create_visit_report(file(report(&ours.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filed.visitor_id, "agent-1");
    assert_eq!(filed.visit_effect, "renewal agreed in principle");
    let got = agent
        .get_visit_report(pb::GetVisitReportRequest {
            visit_report_id: filed.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, filed);

    let list = |visitor: &str, month: &str| pb::ListVisitReportsRequest {
        visitor_id: visitor.into(),
        month: month.into(),
        ..Default::default()
    };
    let mine = agent
        .list_visit_reports(list("", &month))
        .await
        .unwrap()
        .into_inner()
        .visit_reports;
    assert_eq!(mine, vec![filed.clone()]);
    assert!(
        agent
            .list_visit_reports(list("", "1999-01"))
            .await
            .unwrap()
            .into_inner()
            .visit_reports
            .is_empty()
    );
    assert_eq!(
        agent
            .list_visit_reports(list("someone-else", ""))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        agent
            .list_visit_reports(list("", "November"))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert!(
        app.dump("kefu_outbox")
            .await
            .contains("kefu.customer.v1.VisitReportFiled")
    );
}
on_both!(visitors_file_day_reports_with_six_parts);

async fn urgent_reports_reach_the_stream_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let mut service = app.client(Role::Service).await;
    let mut stream = service
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap()
        .into_inner();

    let mut agent = app.agent("agent-1", "t1").await;
    let raise = |trigger: pb::UrgentTrigger, description: &str| pb::CreateUrgentReportRequest {
        urgent_report: Some(pb::UrgentReport {
            trigger: trigger as i32,
            description: description.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let no_trigger = agent
        .create_urgent_report(raise(pb::UrgentTrigger::Unspecified, "x"))
        .await
        .unwrap_err();
    assert_eq!(no_trigger.code(), Code::InvalidArgument);
    let raised = agent
        .create_urgent_report(raise(
            pb::UrgentTrigger::CompetitorPolicyChange,
            "competitor halves Xiamen rates from Monday",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(raised.reporter_id, "agent-1");

    let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .event
        .unwrap();
    assert_eq!(event.r#type, "kefu.customer.v1.UrgentReportRaised");
    let payload: pb::UrgentReportRaised = event.payload.unwrap().to_msg().unwrap();
    assert_eq!(payload.urgent_report_id, raised.id);
    assert_eq!(payload.trigger(), pb::UrgentTrigger::CompetitorPolicyChange);

    assert_eq!(
        agent
            .list_urgent_reports(pb::ListUrgentReportsRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let mut manager = app.client(Role::Manager).await;
    let listed = manager
        .list_urgent_reports(pb::ListUrgentReportsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.urgent_reports, vec![raised]);
}
on_both!(urgent_reports_reach_the_stream_at_once);

// CR-5: a customer past its grade's visit interval is listed for its visitor.
async fn customers_past_their_visit_interval_are_overdue(backend: Backend) {
    use sea_orm::ConnectionTrait as _;
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let unvisited = manager
        .create_customer(create(personal("Unvisited")))
        .await
        .unwrap()
        .into_inner();
    let visited = manager
        .create_customer(create(personal("Visited")))
        .await
        .unwrap()
        .into_inner();
    manager
        .recompute_grades(pb::RecomputeGradesRequest::default())
        .await
        .unwrap();
    // Both became customers 200 days ago; grade D is visited every 180 days.
    let long_ago = chrono::Utc::now() - chrono::Duration::days(200);
    let stamp = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => long_ago.to_rfc3339(),
        _ => long_ago.format("%Y-%m-%d %H:%M:%S%.f%:z").to_string(),
    };
    app.db
        .execute_unprepared(&format!("UPDATE customers SET created_at = '{stamp}'"))
        .await
        .unwrap();
    let mut agent = app.agent("agent-1", "t1").await;
    agent
        .create_visit_report(pb::CreateVisitReportRequest {
            visit_report: Some(report(&visited.id)),
            request_id: String::new(),
        })
        .await
        .unwrap();
    manager
        .assign_owner(pb::AssignOwnerRequest {
            customer_id: unvisited.id.clone(),
            owner_id: "agent-2".into(),
            visitor_id: "agent-1".into(),
            visitor_is_not_salesperson: true,
            ..Default::default()
        })
        .await
        .unwrap();

    let mut supervisor = app.client(Role::Supervisor).await;
    let due = supervisor
        .list_overdue_visits(pb::ListOverdueVisitsRequest {
            visitor_id: "agent-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .overdue_visits;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].customer_id, unvisited.id);
    assert_eq!(due[0].grade(), pb::Grade::D);
    assert!(
        (19..=21).contains(&due[0].days_overdue),
        "200 days since, 180 allowed: {}",
        due[0].days_overdue
    );
    assert!(due[0].last_visit_time.is_none());
    let mine = agent
        .list_overdue_visits(pb::ListOverdueVisitsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .overdue_visits;
    let ids: Vec<&str> = mine.iter().map(|o| o.customer_id.as_str()).collect();
    assert_eq!(ids, [unvisited.id.as_str()], "the visited one is not due");
    let team = supervisor
        .list_overdue_visits(pb::ListOverdueVisitsRequest {
            team_id: "t9".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(team.overdue_visits.is_empty());
}
on_both!(customers_past_their_visit_interval_are_overdue);

// CR-7: a month's day-reports of a team compiled for the manager, reviewed and submitted.
async fn a_supervisor_compiles_and_submits_the_monthly_report(backend: Backend) {
    let app = spawn(backend).await;
    let (_, month) = kefu_testkit::local_today().await;
    let mut manager = app.client(Role::Manager).await;
    let a = manager
        .create_customer(create(personal("A")))
        .await
        .unwrap()
        .into_inner();
    let b = manager
        .create_customer(create(personal("B")))
        .await
        .unwrap()
        .into_inner();
    let other = manager
        .create_customer(create(pb::Customer {
            team_id: "t2".into(),
            ..personal("C")
        }))
        .await
        .unwrap()
        .into_inner();
    let mut agent = app.agent("agent-1", "t1").await;
    let file = |id: &str| pb::CreateVisitReportRequest {
        visit_report: Some(report(id)),
        request_id: String::new(),
    };
    for id in [&a.id, &a.id, &b.id] {
        agent.create_visit_report(file(id)).await.unwrap();
    }
    manager.create_visit_report(file(&other.id)).await.unwrap();

    let mut supervisor = app.client(Role::Supervisor).await;
    let generate = || pb::GenerateMonthlyReportRequest {
        team_id: "t1".into(),
        month: month.clone(),
        request_id: String::new(),
    };
    let draft = supervisor
        .generate_monthly_report(generate())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(draft.state(), pb::MonthlyReportState::Draft);
    assert_eq!(
        (draft.visit_count, draft.customer_count),
        (3, 2),
        "team t1 only"
    );
    assert_eq!(draft.visit_reports.len(), 3);
    let bad = supervisor
        .generate_monthly_report(pb::GenerateMonthlyReportRequest {
            team_id: String::new(),
            month: "11/2026".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    let no_summary = supervisor
        .submit_monthly_report(pb::SubmitMonthlyReportRequest {
            monthly_report_id: draft.id.clone(),
            supervisor_summary: " ".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_summary.code(), Code::InvalidArgument);
    let submitted = supervisor
        .submit_monthly_report(pb::SubmitMonthlyReportRequest {
            monthly_report_id: draft.id.clone(),
            supervisor_summary: "Customers want Saturday deliveries; competitor rates falling."
                .into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.state(), pb::MonthlyReportState::Submitted);
    assert_eq!(submitted.visit_reports.len(), 3);
    assert_eq!(submitted.supervisor_id, "tester");
    let read = manager
        .get_monthly_report(pb::GetMonthlyReportRequest {
            monthly_report_id: draft.id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, submitted, "the manager reads what was submitted");
    let again = supervisor
        .generate_monthly_report(generate())
        .await
        .unwrap_err();
    assert_eq!(
        again.code(),
        Code::FailedPrecondition,
        "a submitted month is not regenerated"
    );
    assert_eq!(
        agent
            .generate_monthly_report(generate())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert!(
        app.dump("kefu_outbox")
            .await
            .contains("kefu.customer.v1.MonthlyReportSubmitted")
    );
}
on_both!(a_supervisor_compiles_and_submits_the_monthly_report);
