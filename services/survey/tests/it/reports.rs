//! SV-2, SV-4 through the API: scores over hand-computed answers, no data reported as no
//! data; quality figures from order-tracking's and complaint-desk's events.

use kefu_platform::auth::Role;
use kefu_proto::common::Interval;
use kefu_proto::survey as pb;
use kefu_testkit::on_both;

use crate::support::{App, Backend, invitation, score, spawn, until};

fn today() -> Option<Interval> {
    let now = chrono::Utc::now();
    Some(Interval {
        start_time: Some(kefu_platform::time::to_timestamp(
            now - chrono::Duration::hours(1),
        )),
        end_time: Some(kefu_platform::time::to_timestamp(
            now + chrono::Duration::hours(1),
        )),
    })
}

async fn answer(app: &App, questionnaire: &str, answers: Vec<pb::Answer>) {
    let mut surveys = app.surveys().await;
    let customer = app.customer("t1").await;
    let sent = surveys
        .create_invitation(invitation(&customer, questionnaire, pb::Method::Phone))
        .await
        .unwrap()
        .into_inner();
    surveys
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id,
            answers,
            request_id: String::new(),
        })
        .await
        .unwrap();
}

// SV-2: CSAT 3 of 4 satisfied = 75.0%; NPS (1 promoter, 1 detractor, 1 passive of 3) = 0.0;
// effort unanswered: no data.
async fn sv2_scores_are_computed_as_defined_and_no_answers_is_no_data(backend: Backend) {
    let app = spawn(backend).await;
    let (day, _) = kefu_testkit::local_today().await;
    let questionnaire = app.questionnaire().await;
    for answers in [
        vec![score("csat", 5), score("nps", 10)],
        vec![score("csat", 4), score("nps", 3)],
        vec![score("csat", 4), score("nps", 8)],
        vec![score("csat", 2)],
    ] {
        answer(&app, &questionnaire.id, answers).await;
    }
    let report = app
        .surveys()
        .await
        .get_score_report(pb::GetScoreReportRequest {
            interval: today(),
            dimension: pb::ReportDimension::Overall as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let row = &report.rows[0];
    assert_eq!(row.response_count, 4);
    let csat = row.csat.unwrap();
    assert_eq!((csat.answer_count, csat.value_tenths), (4, Some(750)));
    let nps = row.nps.unwrap();
    assert_eq!((nps.answer_count, nps.value_tenths), (3, Some(0)));
    let effort = row.effort.unwrap();
    assert_eq!(
        (effort.answer_count, effort.value_tenths),
        (0, None),
        "no data, not zero"
    );
    // the day's business report computes the scores the same way.
    let business = app
        .surveys_as("sue", Role::Supervisor, "t1")
        .await
        .get_business_report(pb::GetBusinessReportRequest {
            period: kefu_proto::common::ReportPeriod::Day as i32,
            period_label: day,
        })
        .await
        .unwrap()
        .into_inner();
    for (group, metric, value) in [
        ("", "invitations_sent", Some(4.0)),
        ("method=phone", "invitations_sent", Some(4.0)),
        ("", "responses_received", Some(4.0)),
        ("", "csat_answers", Some(4.0)),
        ("", "csat_tenths", Some(750.0)),
        ("", "nps_tenths", Some(0.0)),
        ("", "effort_answers", Some(0.0)),
        ("", "effort_tenths", None),
    ] {
        assert_eq!(
            kefu_testkit::figure(&business, group, metric),
            value,
            "{group} {metric}"
        );
    }
    let refused = app
        .surveys_as("agent-1", Role::Agent, "t1")
        .await
        .get_score_report(pb::GetScoreReportRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}
on_both!(sv2_scores_are_computed_as_defined_and_no_answers_is_no_data);

// SV-4: satisfaction, complaint rate and delivery time from the other services' events.
async fn sv4_quality_joins_answers_with_orders_and_complaints(backend: Backend) {
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    answer(&app, &questionnaire.id, vec![score("csat", 5)]).await;
    let customer = app.customer("t1").await;
    for _ in 0..2 {
        app.delivered_order(&customer).await;
    }
    let order = app.delivered_order(&customer).await;
    let mut desk =
        kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient::new(
            app.as_role("tester", Role::Manager, "").await,
        );
    desk.create_complaint(kefu_proto::complaint::CreateComplaintRequest {
        complaint: Some(kefu_proto::complaint::Complaint {
            r#type: kefu_proto::complaint::CaseType::Complaint as i32,
            origin: kefu_proto::complaint::Origin::Hotline as i32,
            category: kefu_proto::complaint::Category::Damage as i32,
            severity: kefu_proto::complaint::Severity::Medium as i32,
            customer_id: customer.clone(),
            order_id: order,
            summary: "crushed".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    let row = until(20, "three orders and a complaint counted", || async {
        let report = app
            .surveys()
            .await
            .get_quality_report(pb::GetQualityReportRequest {
                interval: today(),
                dimension: pb::ReportDimension::Overall as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        report
            .rows
            .into_iter()
            .next()
            .filter(|r| r.order_count == 3 && r.complaint_count == 1)
    })
    .await;
    // One complaint per three orders: 333.3 per 1,000 -> 3333 tenths.
    assert_eq!(row.complaint_rate_tenths_per_mille, Some(3333));
    assert_eq!(row.csat.unwrap().value_tenths, Some(1000));
    assert!(
        row.median_delivery_time.is_some(),
        "every order was delivered"
    );
    let by_tier = app
        .surveys()
        .await
        .get_quality_report(pb::GetQualityReportRequest {
            interval: today(),
            dimension: pb::ReportDimension::Tier as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let small = by_tier
        .rows
        .iter()
        .find(|r| r.tier == kefu_proto::customer::Tier::Small as i32)
        .unwrap();
    assert_eq!(small.order_count, 3);
}
on_both!(sv4_quality_joins_answers_with_orders_and_complaints);
