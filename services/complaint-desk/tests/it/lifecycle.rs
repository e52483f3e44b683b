//! CD-3 to CD-6 through the API: first response, pauses, investigation, resolution and
//! follow-up, with the versions every change names and the events it writes.

use kefu_proto::common::Money;
use kefu_proto::complaint as pb;
use kefu_testkit::on_both;
use tonic::Code;

use crate::support::{Backend, Desk, registered, spawn};

async fn get(desk: &mut Desk, id: &str) -> pb::Complaint {
    desk.get_complaint(pb::GetComplaintRequest {
        complaint_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn investigate(desk: &mut Desk, case: &pb::Complaint) -> pb::Complaint {
    desk.record_investigation(pb::RecordInvestigationRequest {
        complaint_id: case.id.clone(),
        investigation: Some(pb::Investigation {
            root_cause: pb::RootCause::Packaging as i32,
            root_cause_detail: "single-wall cartons on a wet route".into(),
            corrective_action: "double-wall cartons for tea from December".into(),
            ..Default::default()
        }),
        expected_version: case.version,
        request_id: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

fn resolution(case: &pb::Complaint, fen: i64) -> pb::ResolveComplaintRequest {
    pb::ResolveComplaintRequest {
        complaint_id: case.id.clone(),
        resolution: Some(pb::Resolution {
            answer: "freight refunded and the tea replaced".into(),
            compensation: Some(Money {
                currency_code: "CNY".into(),
                minor_units: fen,
            }),
            ..Default::default()
        }),
        expected_version: case.version,
        request_id: String::new(),
    }
}

fn follow_up(case: &pb::Complaint, outcome: pb::FollowUpOutcome) -> pb::RecordFollowUpRequest {
    pb::RecordFollowUpRequest {
        complaint_id: case.id.clone(),
        follow_up: Some(pb::FollowUp {
            outcome: outcome as i32,
            ..Default::default()
        }),
        expected_version: case.version,
        request_id: String::new(),
    }
}

async fn cd4_cd5_no_resolution_without_root_cause_and_corrective_action(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let case = registered(&app, "t1").await;
    let refused = desk
        .resolve_complaint(resolution(&case, 0))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("root cause"),
        "{}",
        refused.message()
    );
    assert_eq!(get(&mut desk, &case.id).await.version, 1, "nothing changed");

    // CD-4 recorded, CD-5 may follow.
    let investigated = investigate(&mut desk, &case).await;
    assert_eq!(
        investigated.investigation.as_ref().unwrap().root_cause(),
        pb::RootCause::Packaging
    );
    let resolved = desk
        .resolve_complaint(resolution(&investigated, 12_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.state(), pb::ComplaintState::Resolved);
    assert_eq!(
        resolved
            .resolution
            .as_ref()
            .unwrap()
            .compensation
            .as_ref()
            .unwrap()
            .minor_units,
        12_000
    );
    // The answer was the first the customer heard: it met the first-response deadline too.
    assert!(resolved.first_response.is_some());
    assert_eq!(
        resolved.first_response_deadline.unwrap().state(),
        pb::DeadlineState::Met
    );
    let event = &app.events_of::<pb::ComplaintResolved>().await[0];
    assert!(event.deadline_met);
    assert_eq!(event.compensation.as_ref().unwrap().minor_units, 12_000);
    assert_eq!(event.root_cause, pb::RootCause::Packaging as i32);
    assert_eq!(event.customer_contact_count, 1);
}
on_both!(cd4_cd5_no_resolution_without_root_cause_and_corrective_action);

async fn cd6_a_case_closes_only_after_resolution_confirmed(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let case = registered(&app, "t1").await;
    // Not resolved: a follow-up (and so a closing) is refused.
    let refused = desk
        .record_follow_up(follow_up(&case, pb::FollowUpOutcome::Satisfied))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let case = investigate(&mut desk, &case).await;
    let case = desk
        .resolve_complaint(resolution(&case, 0))
        .await
        .unwrap()
        .into_inner();
    let closed = desk
        .record_follow_up(follow_up(&case, pb::FollowUpOutcome::Satisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state(), pb::ComplaintState::Closed);
    assert_eq!(closed.close_reason(), pb::CloseReason::Confirmed);
    assert!(closed.close_time.is_some());
    let event = &app.events_of::<pb::ComplaintClosed>().await[0];
    assert_eq!(event.reason, pb::CloseReason::Confirmed as i32);
    assert_eq!(event.order_id, closed.order_id);
    assert!(!event.order_id.is_empty());

    // the case's local day in the business report (Asia/Shanghai, the default calendar).
    let local = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let day_of = |t: &prost_types::Timestamp| {
        chrono::DateTime::from_timestamp(t.seconds, 0)
            .unwrap()
            .with_timezone(&local)
            .format("%Y-%m-%d")
            .to_string()
    };
    let day = day_of(closed.create_time.as_ref().unwrap());
    let report = app
        .desk_as("sue", kefu_platform::auth::Role::Supervisor, "t1")
        .await
        .get_business_report(pb::GetBusinessReportRequest {
            period: kefu_proto::common::ReportPeriod::Day as i32,
            period_label: day.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut expected = vec![
        ("", "cases_registered", 1.0),
        ("type=complaint", "cases_registered", 1.0),
        ("", "resolution_on_time_share", 1.0),
    ];
    // The rest happened moments later: on the same local day unless midnight fell between.
    if day_of(closed.close_time.as_ref().unwrap()) == day {
        expected.extend([
            ("", "cases_resolved", 1.0),
            ("", "cases_closed", 1.0),
            ("", "deadline_breaches", 0.0),
        ]);
    }
    for (group, metric, value) in expected {
        assert_eq!(
            kefu_testkit::figure(&report, group, metric),
            Some(value),
            "{group} {metric}: {report:?}"
        );
    }
}
on_both!(cd6_a_case_closes_only_after_resolution_confirmed);

async fn cd6_an_unhappy_customer_reopens_the_case_with_a_new_clock(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let case = registered(&app, "t1").await;
    let case = investigate(&mut desk, &case).await;
    let case = desk
        .resolve_complaint(resolution(&case, 0))
        .await
        .unwrap()
        .into_inner();
    let reopened = desk
        .record_follow_up(follow_up(&case, pb::FollowUpOutcome::NotSatisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reopened.state(), pb::ComplaintState::InProgress);
    assert_eq!(reopened.previous_rounds.len(), 1, "the round is kept");
    let round = &reopened.previous_rounds[0];
    assert!(round.resolution.is_some() && round.reopen_time.is_some());
    assert_eq!(
        round.follow_ups[0].outcome(),
        pb::FollowUpOutcome::NotSatisfied
    );
    assert!(reopened.resolution.is_none());
    let clock = reopened.resolution_deadline.unwrap();
    assert_eq!(
        clock.used.unwrap().seconds,
        0,
        "the resolution clock restarts"
    );
    assert_eq!(
        app.events_of::<pb::ComplaintReopened>().await[0].reopen_count,
        1
    );
    // Resolved again, and this time confirmed.
    let again = desk
        .resolve_complaint(resolution(&reopened, 5_000))
        .await
        .unwrap()
        .into_inner();
    let closed = desk
        .record_follow_up(follow_up(&again, pb::FollowUpOutcome::Satisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state(), pb::ComplaintState::Closed);
    assert_eq!(
        app.events_of::<pb::ComplaintResolved>().await[1].reopen_count,
        1
    );
}
on_both!(cd6_an_unhappy_customer_reopens_the_case_with_a_new_clock);

async fn cd6_the_third_failed_follow_up_closes_the_case_as_unreachable(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let case = registered(&app, "t1").await;
    let case = investigate(&mut desk, &case).await;
    let mut case = desk
        .resolve_complaint(resolution(&case, 0))
        .await
        .unwrap()
        .into_inner();
    for attempt in 1..=3 {
        case = desk
            .record_follow_up(follow_up(&case, pb::FollowUpOutcome::NoContact))
            .await
            .unwrap()
            .into_inner();
        let expected = if attempt < 3 {
            pb::ComplaintState::Resolved
        } else {
            pb::ComplaintState::Closed
        };
        assert_eq!(case.state(), expected, "after attempt {attempt}");
    }
    assert_eq!(case.close_reason(), pb::CloseReason::FollowUpExhausted);
    assert_eq!(case.follow_ups.len(), 3);
    let closed = app.events_of::<pb::ComplaintClosed>().await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].reason, pb::CloseReason::FollowUpExhausted as i32);
}
on_both!(cd6_the_third_failed_follow_up_closes_the_case_as_unreachable);

async fn cd3_a_paused_clock_shows_paused_and_its_reason(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let case = registered(&app, "t1").await;
    let paused = desk
        .pause_clock(pb::PauseClockRequest {
            complaint_id: case.id.clone(),
            reason: pb::PauseReason::AwaitingInformation as i32,
            note: "photos of the cartons".into(),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paused.state(), pb::ComplaintState::WaitingOnCustomer);
    assert_eq!(
        paused.first_response_deadline.as_ref().unwrap().state(),
        pb::DeadlineState::Paused
    );
    assert!(paused.first_response_deadline.unwrap().due_time.is_none());
    assert_eq!(
        paused.pauses[0].reason(),
        pb::PauseReason::AwaitingInformation
    );
    let resumed = desk
        .resume_clock(pb::ResumeClockRequest {
            complaint_id: case.id.clone(),
            expected_version: paused.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.state(), pb::ComplaintState::Registered);
    assert!(resumed.pauses[0].end_time.is_some());
    assert!(resumed.first_response_deadline.unwrap().due_time.is_some());
    let paused_events = app.events_of::<pb::ClockPaused>().await;
    assert_eq!(
        paused_events[0].reason,
        pb::PauseReason::AwaitingInformation as i32
    );
    assert_eq!(app.events_of::<pb::ClockResumed>().await.len(), 1);
}
on_both!(cd3_a_paused_clock_shows_paused_and_its_reason);

async fn every_change_names_the_version_it_read(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let case = registered(&app, "t1").await;
    let answered = desk
        .record_first_response(pb::RecordFirstResponseRequest {
            complaint_id: case.id.clone(),
            message: "we are looking into it".into(),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.version, 2);
    assert_eq!(answered.state(), pb::ComplaintState::InProgress);
    // The version read before the answer is stale now.
    let stale = desk
        .record_customer_contact(pb::RecordCustomerContactRequest {
            complaint_id: case.id.clone(),
            channel: pb::ContactChannel::Phone as i32,
            note: "called again".into(),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let missing = desk
        .record_customer_contact(pb::RecordCustomerContactRequest {
            complaint_id: case.id.clone(),
            channel: pb::ContactChannel::Phone as i32,
            expected_version: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    let contacted = desk
        .record_customer_contact(pb::RecordCustomerContactRequest {
            complaint_id: case.id.clone(),
            channel: pb::ContactChannel::Phone as i32,
            note: "called again".into(),
            expected_version: answered.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(contacted.customer_contact_count, 2);
    assert_eq!(contacted.contacts[0].note, "called again");
}
on_both!(every_change_names_the_version_it_read);

async fn cd2_reclassifying_changes_the_deadlines_and_is_announced(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let case = registered(&app, "t1").await;
    let updated = desk
        .update_complaint(pb::UpdateComplaintRequest {
            complaint: Some(pb::Complaint {
                id: case.id.clone(),
                severity: pb::Severity::Critical as i32,
                summary: "cartons crushed, tea ruined".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["severity".into(), "summary".into()],
            }),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.severity(), pb::Severity::Critical);
    // Critical: a quarter of the small tier's 4 hours.
    assert_eq!(
        updated
            .first_response_deadline
            .unwrap()
            .allowed
            .unwrap()
            .seconds,
        3600
    );
    let event = &app.events_of::<pb::ComplaintReclassified>().await[0];
    assert_eq!(event.severity, pb::Severity::Critical as i32);
    let refused = desk
        .update_complaint(pb::UpdateComplaintRequest {
            complaint: Some(pb::Complaint {
                id: case.id.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["case_number".into()],
            }),
            expected_version: updated.version,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}
on_both!(cd2_reclassifying_changes_the_deadlines_and_is_announced);
