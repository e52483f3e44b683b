//! What complaint-desk makes of the other services' events, through their real streams in
//! one process: order exceptions open cases (OT-7, CD-1), orders count towards the complaint
//! rate (CD-7), an erasure in customer-registry reaches the cases (CR-11); and the causes
//! that recur (CD-10).

use kefu_proto::complaint as pb;
use kefu_proto::customer as cpb;
use kefu_proto::order as opb;
use kefu_testkit::{Spawn, on_both};

use crate::support::{
    Backend, SERVICES, complaint, create, opened_document, registered, spawn, spawn_with, until,
};

async fn cd1_ot7_each_order_exception_opens_one_case(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let mut orders = app.orders().await;
    let mut exception_ids = Vec::new();
    for kind in [opb::ExceptionKind::Damage, opb::ExceptionKind::Loss] {
        let raised = orders
            .raise_exception(opb::RaiseExceptionRequest {
                order_id: order.clone(),
                kind: kind as i32,
                description: "found at the hub".into(),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        exception_ids.push(raised.id);
    }
    let mut desk = app.desk().await;
    let cases = until(20, "a case per exception", || {
        let mut desk = desk.clone();
        let order = order.clone();
        async move {
            let cases = desk
                .list_complaints(pb::ListComplaintsRequest {
                    order_id: order,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .complaints;
            (cases.len() == 2).then_some(cases)
        }
    })
    .await;
    for (case, exception) in cases.iter().zip(&exception_ids) {
        assert_eq!(case.origin(), pb::Origin::OrderException);
        assert_eq!(case.r#type(), pb::CaseType::Complaint);
        assert_eq!(case.customer_id, customer);
        assert_eq!(case.team_id, "t1");
        assert_eq!(
            case.customer_contact_count, 0,
            "the customer has not called"
        );
        let source = case.source.as_ref().and_then(|s| s.source.clone());
        assert_eq!(
            source,
            Some(pb::source_reference::Source::OrderExceptionId(
                exception.clone()
            ))
        );
    }
    assert_eq!(cases[0].category(), pb::Category::Damage);
    assert_eq!(cases[1].category(), pb::Category::Loss);
    assert_eq!(cases[1].severity(), pb::Severity::High, "a loss is serious");
    let registered = app.events_of::<pb::ComplaintRegistered>().await;
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0].actor_id, "system");
    // Nothing more arrives however long one waits.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.count("complaints").await, 2);
    let _ = desk
        .get_complaint(pb::GetComplaintRequest {
            complaint_id: cases[0].id.clone(),
        })
        .await
        .unwrap();
}
on_both!(cd1_ot7_each_order_exception_opens_one_case);

async fn cd7_counts_rates_and_causes_with_order_volume_from_events(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer("t1").await;
    let mut orders = Vec::new();
    for _ in 0..4 {
        orders.push(app.order(&customer).await);
    }
    let mut desk = app.desk().await;
    for order in &orders[..2] {
        desk.create_complaint(create(complaint(&customer, order)))
            .await
            .unwrap();
    }
    let mut inquiry = complaint(&customer, "");
    inquiry.r#type = pb::CaseType::Inquiry as i32;
    inquiry.category = pb::Category::Billing as i32;
    desk.create_complaint(create(inquiry)).await.unwrap();
    let now = chrono::Utc::now();
    let interval = Some(kefu_proto::common::Interval {
        start_time: Some(kefu_platform::time::to_timestamp(
            now - chrono::Duration::hours(1),
        )),
        end_time: Some(kefu_platform::time::to_timestamp(
            now + chrono::Duration::hours(1),
        )),
    });
    let analysis = until(20, "four orders counted", || {
        let mut desk = desk.clone();
        async move {
            let analysis = desk
                .get_complaint_analysis(pb::GetComplaintAnalysisRequest {
                    interval,
                    dimension: pb::AnalysisDimension::Category as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (analysis.order_count == 4).then_some(analysis)
        }
    })
    .await;
    assert_eq!(
        analysis.complaint_count, 2,
        "the inquiry is not a complaint"
    );
    assert_eq!(analysis.complaint_rate_per_mille, 500.0);
    let categories: Vec<(i32, i64, i64)> = analysis
        .rows
        .iter()
        .map(|r| (r.category, r.case_count, r.complaint_count))
        .collect();
    assert_eq!(
        categories,
        vec![
            (pb::Category::Damage as i32, 2, 2),
            (pb::Category::Billing as i32, 1, 0),
        ]
    );
    let by_day = desk
        .get_complaint_analysis(pb::GetComplaintAnalysisRequest {
            interval,
            dimension: pb::AnalysisDimension::Period as i32,
            period: pb::AnalysisPeriod::Day as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let days: i64 = by_day.rows.iter().map(|r| r.case_count).sum();
    assert_eq!(days, 3);
    assert_eq!(by_day.rows.iter().map(|r| r.order_count).sum::<i64>(), 4);
    let refused = desk
        .get_complaint_analysis(pb::GetComplaintAnalysisRequest {
            interval,
            dimension: pb::AnalysisDimension::Period as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::InvalidArgument,
        "a period needs its length"
    );
}
on_both!(cd7_counts_rates_and_causes_with_order_volume_from_events);

async fn cd10_a_recurring_cause_is_flagged_once_and_listed_with_its_cases(backend: Backend) {
    let app = spawn_with(
        Spawn::new(&SERVICES, backend).env("KEFU__COMPLAINT_DESK__RECURRING__THRESHOLD", "2"),
    )
    .await;
    let mut desk = app.desk().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let case = registered(&app, "t1").await;
        desk.record_investigation(pb::RecordInvestigationRequest {
            complaint_id: case.id.clone(),
            investigation: Some(pb::Investigation {
                root_cause: pb::RootCause::Packaging as i32,
                corrective_action: "double-wall cartons".into(),
                ..Default::default()
            }),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap();
        ids.push(case.id);
    }
    let flagged = app.events_of::<pb::RecurringCauseFlagged>().await;
    assert_eq!(flagged.len(), 1, "flagged once, at the second occurrence");
    assert_eq!(flagged[0].root_cause, pb::RootCause::Packaging as i32);
    assert_eq!(flagged[0].occurrence_count, 2);
    assert_eq!(flagged[0].threshold, 2);
    let listed = desk
        .list_recurring_causes(pb::ListRecurringCausesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .causes;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].occurrence_count, 3, "counted as of now");
    let mut cases = listed[0].complaint_ids.clone();
    cases.sort();
    ids.sort();
    assert_eq!(cases, ids);
    let period = listed[0].period.unwrap();
    assert!(period.start_time.unwrap().seconds < period.end_time.unwrap().seconds);
    // The cases of a cause are a filter of the list too.
    let by_cause = desk
        .list_complaints(pb::ListComplaintsRequest {
            root_cause: pb::RootCause::Packaging as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .complaints;
    assert_eq!(by_cause.len(), 3);
}
on_both!(cd10_a_recurring_cause_is_flagged_once_and_listed_with_its_cases);

// CR-11, X-4: an erasure in customer-registry empties the texts of the customer's cases and
// keeps them, anonymous, for the statistics.
async fn an_erased_customers_cases_keep_their_codes_and_lose_their_texts(backend: Backend) {
    let app = spawn(backend).await;
    let case = registered(&app, "t1").await;
    let mut desk = app.desk().await;
    desk.record_customer_contact(pb::RecordCustomerContactRequest {
        complaint_id: case.id.clone(),
        channel: pb::ContactChannel::Phone as i32,
        note: "Mr Li called from 138 0013 8000".into(),
        expected_version: case.version,
        request_id: String::new(),
    })
    .await
    .unwrap();
    app.customers()
        .await
        .erase_customer(cpb::EraseCustomerRequest {
            customer_id: case.customer_id.clone(),
            legal_reference: "PIPL-2026-17".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let erased = until(20, "the case erased", || {
        let mut desk = desk.clone();
        let id = case.id.clone();
        async move {
            let now = desk
                .get_complaint(pb::GetComplaintRequest { complaint_id: id })
                .await
                .unwrap()
                .into_inner();
            now.erased.then_some(now)
        }
    })
    .await;
    assert!(erased.summary.is_empty() && erased.description.is_empty());
    assert!(erased.contacts[0].note.is_empty());
    assert_eq!(erased.category(), pb::Category::Damage, "codes stay");
    assert_eq!(erased.customer_contact_count, 2);
    let dump = app.dump(kefu_complaint_desk::SERVICE, "complaints").await;
    // Sealed at rest, so the dump alone proves little: the document, opened, holds
    // none of the texts either.
    let opened = opened_document(&app, &case.id).await;
    for text in ["138 0013 8000", "crushed", "Mr Li"] {
        assert!(
            !kefu_testkit::holds(&dump, text) && !opened.contains(text),
            "{text} left in the table"
        );
    }
    let events = app.events_of::<pb::ComplaintErased>().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].complaint_id, case.id);
}
on_both!(an_erased_customers_cases_keep_their_codes_and_lose_their_texts);
