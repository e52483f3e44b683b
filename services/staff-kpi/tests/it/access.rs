//! Who may call what, and see whose figures. Every RPC of the contract against every role
//! (the matrix is written out here, apart from the service's policy, so an RPC opened by
//! mistake fails); and every RPC naming a person or their dispute, breach or training as
//! someone who does not supervise them: refused, changing nothing, while lists leave them out.

use chrono::Duration;
use futures::StreamExt as _;
use kefu_platform::auth::Role;
use kefu_proto::staff as pb;
use kefu_testkit::on_both;
use prost_reflect::DescriptorPool;
use tonic::Code;

use crate::support::{App, Backend, EMAIL, HOTLINE, ago, figure, spawn, this_month};

/// Who may call each RPC: agents, supervisors, managers, services.
const MATRIX: &[(&str, [bool; 4])] = &[
    ("CreateStaff", [false, false, true, true]),
    ("GetStaff", [true, true, true, true]),
    ("ListStaff", [true, true, true, true]),
    ("UpdateStaff", [false, false, true, true]),
    ("RecordStaffDeparture", [false, false, true, true]),
    ("CreateTeam", [false, false, true, true]),
    ("GetTeam", [true, true, true, true]),
    ("ListTeams", [true, true, true, true]),
    ("UpdateTeam", [false, false, true, true]),
    ("GetKpiDefinition", [true, true, true, true]),
    ("ListKpiDefinitions", [true, true, true, true]),
    ("AddKpiFormula", [false, false, true, false]),
    ("CreatePeriod", [false, false, true, true]),
    ("GetPeriod", [true, true, true, true]),
    ("ListPeriods", [true, true, true, true]),
    ("ClosePeriod", [false, false, true, true]),
    ("GetAssessment", [true, true, true, true]),
    ("ListAssessments", [true, true, true, true]),
    ("RecomputeAssessment", [false, true, true, true]),
    ("ListFigureSources", [true, true, true, true]),
    ("CreateDispute", [true, true, true, true]),
    ("GetDispute", [true, true, true, true]),
    ("ListDisputes", [true, true, true, true]),
    ("DecideDispute", [false, true, true, false]),
    ("CreateRewardRule", [false, false, true, false]),
    ("GetRewardRule", [true, true, true, true]),
    ("ListRewardRules", [true, true, true, true]),
    ("UpdateRewardRule", [false, false, true, false]),
    ("ListRewardPenalties", [true, true, true, true]),
    ("RecordConductBreach", [false, true, true, false]),
    ("GetConductBreach", [true, true, true, true]),
    ("ListConductBreaches", [true, true, true, true]),
    ("CreateTrainingPlan", [false, true, true, false]),
    ("GetTrainingPlan", [true, true, true, true]),
    ("ListTrainingPlans", [true, true, true, true]),
    ("RecordTrainingAttendance", [false, true, true, false]),
    ("ListTrainingRecords", [true, true, true, true]),
    ("GetBusinessReport", [false, true, true, false]),
    ("StreamEvents", [false, true, true, true]),
];

const ROLES: [Role; 4] = [Role::Agent, Role::Supervisor, Role::Manager, Role::Service];

async fn raw_call(
    app: &App,
    token: Option<String>,
    method: &prost_reflect::MethodDescriptor,
) -> Code {
    let mut grpc = tonic::client::Grpc::new(app.authed(token, None).await);
    grpc.ready().await.unwrap();
    let path = format!("/{}/{}", kefu_staff_kpi::GRPC_SERVICE, method.name())
        .parse()
        .unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    if method.is_server_streaming() {
        match grpc
            .server_streaming(tonic::Request::new(()), path, codec)
            .await
        {
            Ok(response) => {
                drop(response.into_inner().next());
                Code::Ok
            }
            Err(status) => status.code(),
        }
    } else {
        match grpc.unary(tonic::Request::new(()), path, codec).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }
}

async fn the_role_matrix_covers_every_rpc(backend: Backend) {
    let app = spawn(backend).await;
    let service = DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .get_service_by_name(kefu_staff_kpi::GRPC_SERVICE)
        .unwrap();
    let methods: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
    let listed: Vec<&str> = MATRIX.iter().map(|(m, _)| *m).collect();
    assert_eq!(
        methods, listed,
        "the matrix lists every RPC, in the contract's order"
    );
    for method in service.methods() {
        let (_, allowed) = MATRIX.iter().find(|(m, _)| *m == method.name()).unwrap();
        for (role, allowed) in ROLES.iter().zip(allowed) {
            let code = raw_call(
                &app,
                Some(app.token("matrix", *role, &[], HOTLINE)),
                &method,
            )
            .await;
            if *allowed {
                assert_ne!(
                    code,
                    Code::PermissionDenied,
                    "{} as {role:?}",
                    method.name()
                );
            } else {
                assert_eq!(
                    code,
                    Code::PermissionDenied,
                    "{} as {role:?}",
                    method.name()
                );
            }
        }
        assert_eq!(
            raw_call(&app, None, &method).await,
            Code::Unauthenticated,
            "{}",
            method.name()
        );
    }
}
on_both!(the_role_matrix_covers_every_rpc);

/// Rows of every table a refused call might have written.
async fn written(app: &App) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "assessments",
        "assessment_sources",
        "disputes",
        "exclusions",
        "breaches",
        "training_records",
        "facts",
        "kefu_outbox",
    ] {
        counts.push(app.count(table).await);
    }
    counts
}

async fn people_see_their_own_supervisors_their_teams_and_nobody_else(backend: Backend) {
    let app = spawn(backend).await;
    app.organisation().await;
    let month = this_month().await;
    app.period(pb::PeriodKind::Monthly, &month).await;
    let hour_ago = ago(Duration::hours(1));
    // ann has a breach, training, an assessment and a dispute.
    let breach = app.breach("sue", "ann", hour_ago).await;
    app.training(hour_ago, &[("ann", pb::Attendance::Attended, 70)])
        .await;
    let assessed = app
        .assessed_when("ann", &month, "ann's facts", |a| {
            figure(a, pb::Kpi::Training).denominator == 1
        })
        .await;
    let dispute = app
        .staff_as("ann", Role::Agent, HOTLINE)
        .await
        .create_dispute(pb::CreateDisputeRequest {
            dispute: Some(pb::Dispute {
                staff_id: "ann".into(),
                period_id: month.clone(),
                kpi: pb::Kpi::Conduct as i32,
                event_id: breach.event_id.clone(),
                reason: "not me".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let plan = app
        .staff()
        .await
        .list_training_plans(pb::ListTrainingPlansRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plans
        .remove(0);
    let before = written(&app).await;

    // carl (an agent of another team) and dora (its supervisor) reach none of it.
    for (who, role) in [
        ("carl", Role::Agent),
        ("dora", Role::Supervisor),
        ("bob", Role::Agent),
    ] {
        let mut other = app.staff_as(who, role, EMAIL).await;
        let refused: Vec<(&str, Code)> = vec![
            (
                "GetAssessment",
                other
                    .get_assessment(pb::GetAssessmentRequest {
                        staff_id: "ann".into(),
                        period_id: month.clone(),
                        revision: 0,
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "ListFigureSources",
                other
                    .list_figure_sources(pb::ListFigureSourcesRequest {
                        staff_id: "ann".into(),
                        period_id: month.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "RecomputeAssessment",
                other
                    .recompute_assessment(pb::RecomputeAssessmentRequest {
                        staff_id: "ann".into(),
                        period_id: month.clone(),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "CreateDispute",
                other
                    .create_dispute(pb::CreateDisputeRequest {
                        dispute: Some(pb::Dispute {
                            staff_id: "ann".into(),
                            period_id: month.clone(),
                            kpi: pb::Kpi::Training as i32,
                            event_id: "e".into(),
                            reason: "for her".into(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "GetDispute",
                other
                    .get_dispute(pb::GetDisputeRequest {
                        dispute_id: dispute.id.clone(),
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "DecideDispute",
                other
                    .decide_dispute(pb::DecideDisputeRequest {
                        dispute_id: dispute.id.clone(),
                        expected_version: dispute.version,
                        decision: pb::DisputeState::Upheld as i32,
                        decision_note: "fine".into(),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "RecordConductBreach",
                other
                    .record_conduct_breach(pb::RecordConductBreachRequest {
                        breach: Some(pb::ConductBreach {
                            staff_id: "ann".into(),
                            kind: pb::BreachKind::Privacy as i32,
                            description: "read a customer file aloud".into(),
                            evidence_reference: "HR-9".into(),
                            occur_time: Some(kefu_platform::time::to_timestamp(hour_ago)),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "GetConductBreach",
                other
                    .get_conduct_breach(pb::GetConductBreachRequest {
                        breach_id: breach.id.clone(),
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
            (
                "RecordTrainingAttendance",
                other
                    .record_training_attendance(pb::RecordTrainingAttendanceRequest {
                        record: Some(pb::TrainingRecord {
                            plan_id: plan.id.clone(),
                            staff_id: "ann".into(),
                            attendance: pb::Attendance::Attended as i32,
                            evaluation_score: 100,
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap_err()
                    .code(),
            ),
        ];
        for (rpc, code) in refused {
            assert_eq!(code, Code::PermissionDenied, "{rpc} as {who}");
        }
        // Lists leave ann out.
        let assessments = other
            .list_assessments(pb::ListAssessmentsRequest {
                period_id: month.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .assessments;
        assert!(assessments.iter().all(|a| a.staff_id != "ann"), "{who}");
        let disputes = other
            .list_disputes(pb::ListDisputesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .disputes;
        assert!(disputes.is_empty(), "{who}");
        let breaches = other
            .list_conduct_breaches(pb::ListConductBreachesRequest {
                staff_id: "ann".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .breaches;
        assert!(breaches.is_empty(), "{who}");
        let records = other
            .list_training_records(pb::ListTrainingRecordsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .training_records;
        assert!(records.iter().all(|r| r.staff_id != "ann"), "{who}");
        let outcomes = other
            .list_reward_penalties(pb::ListRewardPenaltiesRequest {
                staff_id: "ann".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .reward_penalties;
        assert!(outcomes.is_empty(), "{who}");
    }
    assert_eq!(written(&app).await, before, "nothing was written");

    // ann sees her own; sue, who supervises hotline, sees hers; so does max.
    for (who, role) in [
        ("ann", Role::Agent),
        ("sue", Role::Supervisor),
        ("max", Role::Manager),
    ] {
        let mut viewer = app.staff_as(who, role, HOTLINE).await;
        let seen = viewer
            .get_assessment(pb::GetAssessmentRequest {
                staff_id: "ann".into(),
                period_id: month.clone(),
                revision: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen, assessed, "{who}");
        viewer
            .get_dispute(pb::GetDisputeRequest {
                dispute_id: dispute.id.clone(),
            })
            .await
            .unwrap();
        viewer
            .get_conduct_breach(pb::GetConductBreachRequest {
                breach_id: breach.id.clone(),
            })
            .await
            .unwrap();
    }
    // An agent records no breach, not even of another; a supervisor none of her own.
    let own = app
        .staff_as("sue", Role::Supervisor, "")
        .await
        .record_conduct_breach(pb::RecordConductBreachRequest {
            breach: Some(pb::ConductBreach {
                staff_id: "sue".into(),
                kind: pb::BreachKind::Other as i32,
                description: "late".into(),
                evidence_reference: "HR-1".into(),
                occur_time: Some(kefu_platform::time::to_timestamp(hour_ago)),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(own.code(), Code::PermissionDenied);
}
on_both!(people_see_their_own_supervisors_their_teams_and_nobody_else);

// SK-6, X-4: a supervisor plans training for the teams they lead (or for everyone), not for
// another supervisor's team; the manager plans for any.
async fn supervisors_plan_training_for_their_own_teams(backend: Backend) {
    let app = spawn(backend).await;
    app.organisation().await;
    let plan = |team: &str| pb::CreateTrainingPlanRequest {
        plan: Some(pb::TrainingPlan {
            title: "Handling an angry caller".into(),
            session_time: Some(kefu_platform::time::to_timestamp(ago(Duration::hours(1)))),
            team_id: team.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let plans_before = app.count("training_plans").await;
    let refused = app
        .staff_as("dora", Role::Supervisor, EMAIL)
        .await
        .create_training_plan(plan(HOTLINE))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(app.count("training_plans").await, plans_before);
    for (who, role, team) in [
        ("sue", Role::Supervisor, HOTLINE),
        ("dora", Role::Supervisor, ""),
        ("max", Role::Manager, EMAIL),
    ] {
        app.staff_as(who, role, "")
            .await
            .create_training_plan(plan(team))
            .await
            .unwrap_or_else(|e| panic!("{who} planning for {team:?}: {e:?}"));
    }
}
on_both!(supervisors_plan_training_for_their_own_teams);
