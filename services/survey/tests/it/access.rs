//! Who may call what, and reach which customer's surveys. Every RPC of the contract against
//! every role (the matrix is written out here, apart from the service's policy, so an RPC
//! opened by mistake fails); and every RPC naming an invitation, a response, a task or a
//! customer as an agent of another team: refused, changing nothing.

use futures::StreamExt as _;
use kefu_platform::auth::Role;
use kefu_proto::survey as pb;
use kefu_testkit::on_both;
use prost_reflect::DescriptorPool;
use tonic::Code;

use crate::support::{App, Backend, Surveys, invitation, score, spawn};

/// Who may call each RPC: agents, supervisors, managers, services.
const MATRIX: &[(&str, [bool; 4])] = &[
    ("CreateQuestionnaire", [false, true, true, false]),
    ("GetQuestionnaire", [true, true, true, true]),
    ("ListQuestionnaires", [true, true, true, true]),
    ("UpdateQuestionnaire", [false, true, true, false]),
    ("PublishQuestionnaire", [false, true, true, false]),
    ("CreateCampaign", [false, true, true, false]),
    ("GetCampaign", [true, true, true, true]),
    ("ListCampaigns", [true, true, true, true]),
    ("CancelCampaign", [false, true, true, false]),
    ("CreateTrigger", [false, true, true, false]),
    ("GetTrigger", [true, true, true, true]),
    ("ListTriggers", [true, true, true, true]),
    ("SetTriggerEnabled", [false, true, true, false]),
    ("CreateInvitation", [true, true, true, true]),
    ("GetInvitation", [true, true, true, true]),
    ("ListInvitations", [true, true, true, true]),
    ("SubmitResponse", [true, true, true, true]),
    // Open to anyone: the one-time token is the credential.
    ("SubmitOnlineResponse", [true, true, true, true]),
    ("GetResponse", [true, true, true, true]),
    ("SetOptOut", [true, true, true, true]),
    ("GetOptOut", [true, true, true, true]),
    ("ListSkippedSurveys", [false, true, true, true]),
    ("GetScoreReport", [false, true, true, true]),
    ("GetQualityReport", [false, true, true, true]),
    ("GetFollowUpTask", [true, true, true, true]),
    ("ListFollowUpTasks", [true, true, true, true]),
    ("CompleteFollowUpTask", [true, true, true, true]),
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
    let path = format!("/{}/{}", kefu_survey::GRPC_SERVICE, method.name())
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
        .get_service_by_name(kefu_survey::GRPC_SERVICE)
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
            let code = raw_call(&app, Some(app.token("matrix", *role, &[], "t1")), &method).await;
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
        // Without a token only the online answer is let in (and wants its own token).
        let anonymous = raw_call(&app, None, &method).await;
        if method.name() == "SubmitOnlineResponse" {
            assert_eq!(anonymous, Code::InvalidArgument, "no token in the request");
        } else {
            assert_eq!(anonymous, Code::Unauthenticated, "{}", method.name());
        }
    }
}
on_both!(the_role_matrix_covers_every_rpc);

// Agents reach the surveys of their team's customers only; the rest is PERMISSION_DENIED,
// found or not, and changes nothing.
async fn agents_reach_their_teams_customers_surveys_only(backend: Backend) {
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    let theirs = app.customer("t1").await;
    let mut manager = app.surveys().await;
    let sent = manager
        .create_invitation(invitation(&theirs, &questionnaire.id, pb::Method::Phone))
        .await
        .unwrap()
        .into_inner();
    let response = manager
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id.clone(),
            answers: vec![score("csat", 1)],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let task = manager
        .list_follow_up_tasks(pb::ListFollowUpTasksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .follow_up_tasks
        .remove(0);
    let second = app.customer("t1").await;
    let unanswered = manager
        .create_invitation(invitation(&second, &questionnaire.id, pb::Method::Phone))
        .await
        .unwrap()
        .into_inner();

    let mut outsider: Surveys = app.surveys_as("agent-3", Role::Agent, "t3").await;
    let before = (
        app.dump(kefu_survey::SERVICE, "invitations").await,
        app.dump(kefu_survey::SERVICE, "survey_responses").await,
        app.dump(kefu_survey::SERVICE, "follow_up_tasks").await,
        app.dump(kefu_survey::SERVICE, "survey_customers").await,
    );
    let events = app.count("kefu_outbox").await;
    let codes = [
        (
            "GetInvitation",
            outsider
                .get_invitation(pb::GetInvitationRequest {
                    invitation_id: sent.id.clone(),
                })
                .await
                .map(drop),
        ),
        (
            "SubmitResponse",
            outsider
                .submit_response(pb::SubmitResponseRequest {
                    invitation_id: unanswered.id.clone(),
                    answers: vec![score("csat", 5)],
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        (
            "GetResponse",
            outsider
                .get_response(pb::GetResponseRequest {
                    response_id: response.id.clone(),
                })
                .await
                .map(drop),
        ),
        (
            "GetFollowUpTask",
            outsider
                .get_follow_up_task(pb::GetFollowUpTaskRequest {
                    follow_up_task_id: task.id.clone(),
                })
                .await
                .map(drop),
        ),
        (
            "CompleteFollowUpTask",
            outsider
                .complete_follow_up_task(pb::CompleteFollowUpTaskRequest {
                    follow_up_task_id: task.id.clone(),
                    outcome: pb::FollowUpTaskOutcome::Settled as i32,
                    expected_version: task.version,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        (
            "SetOptOut",
            outsider
                .set_opt_out(pb::SetOptOutRequest {
                    customer_id: theirs.clone(),
                    opted_out: true,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        (
            "GetOptOut",
            outsider
                .get_opt_out(pb::GetOptOutRequest {
                    customer_id: theirs.clone(),
                })
                .await
                .map(drop),
        ),
        (
            "CreateInvitation",
            outsider
                .create_invitation(invitation(&second, &questionnaire.id, pb::Method::Phone))
                .await
                .map(drop),
        ),
        (
            "GetInvitation (missing)",
            outsider
                .get_invitation(pb::GetInvitationRequest {
                    invitation_id: "no-such-invitation".into(),
                })
                .await
                .map(drop),
        ),
    ];
    for (rpc, result) in codes {
        assert_eq!(
            result.err().map(|s| s.code()),
            Some(Code::PermissionDenied),
            "{rpc} on another team's customer"
        );
    }
    let after = (
        app.dump(kefu_survey::SERVICE, "invitations").await,
        app.dump(kefu_survey::SERVICE, "survey_responses").await,
        app.dump(kefu_survey::SERVICE, "follow_up_tasks").await,
        app.dump(kefu_survey::SERVICE, "survey_customers").await,
    );
    assert_eq!(before, after, "a refused call changed something");
    assert_eq!(app.count("kefu_outbox").await, events, "no event");
    for listed in [
        outsider
            .list_invitations(pb::ListInvitationsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .invitations
            .len(),
        outsider
            .list_follow_up_tasks(pb::ListFollowUpTasksRequest::default())
            .await
            .unwrap()
            .into_inner()
            .follow_up_tasks
            .len(),
    ] {
        assert_eq!(listed, 0);
    }
    // The customer's own team reaches all of it.
    let mut insider = app.surveys_as("agent-1", Role::Agent, "t1").await;
    insider
        .get_response(pb::GetResponseRequest {
            response_id: response.id,
        })
        .await
        .unwrap();
    insider
        .complete_follow_up_task(pb::CompleteFollowUpTaskRequest {
            follow_up_task_id: task.id,
            outcome: pb::FollowUpTaskOutcome::Settled as i32,
            expected_version: task.version,
            ..Default::default()
        })
        .await
        .unwrap();
}
on_both!(agents_reach_their_teams_customers_surveys_only);
