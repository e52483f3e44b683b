//! Who may call what, and see which case. Every RPC of the contract against every role
//! (the matrix below is written out here, apart from the service's own policy, so that an
//! RPC opened by mistake fails); and every RPC naming a case as an agent of another team, a
//! supervisor of another department, and those who may see it: a refused call changes
//! nothing.

use futures::StreamExt as _;
use kefu_platform::auth::Role;
use kefu_proto::complaint as pb;
use kefu_testkit::{Spawn, on_both};
use prost_reflect::{DescriptorPool, Kind};
use tonic::Code;

use crate::support::{App, Backend, Desk, SERVICES, registered, spawn_with};

/// Who may call each RPC: agents, supervisors, managers, services.
const MATRIX: &[(&str, [bool; 4])] = &[
    ("CreateComplaint", [true, true, true, true]),
    ("GetComplaint", [true, true, true, true]),
    ("ListComplaints", [true, true, true, true]),
    ("UpdateComplaint", [true, true, true, true]),
    ("AssignComplaint", [true, true, true, true]),
    ("RecordFirstResponse", [true, true, true, true]),
    ("RecordCustomerContact", [true, true, true, true]),
    ("PauseClock", [true, true, true, true]),
    ("ResumeClock", [true, true, true, true]),
    ("RecordInvestigation", [true, true, true, true]),
    ("ResolveComplaint", [true, true, true, true]),
    ("RecordFollowUp", [true, true, true, true]),
    ("EscalateComplaint", [true, true, true, true]),
    ("GetComplaintAnalysis", [false, true, true, true]),
    ("ListRecurringCauses", [false, true, true, true]),
    ("CreateKnowledgeEntry", [true, true, true, true]),
    ("GetKnowledgeEntry", [true, true, true, true]),
    ("ListKnowledgeEntries", [true, true, true, true]),
    ("UpdateKnowledgeEntry", [true, true, true, true]),
    ("PublishKnowledgeEntry", [false, true, true, false]),
    ("RetireKnowledgeEntry", [false, true, true, false]),
    ("SearchKnowledgeEntries", [true, true, true, true]),
    ("GetBusinessReport", [false, true, true, false]),
    ("StreamEvents", [false, true, true, true]),
];

const ROLES: [Role; 4] = [Role::Agent, Role::Supervisor, Role::Manager, Role::Service];

fn service() -> prost_reflect::ServiceDescriptor {
    DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .get_service_by_name(kefu_complaint_desk::GRPC_SERVICE)
        .unwrap()
}

/// Calls `method` with an empty request (zero bytes is every message's empty form); the
/// answer's code.
async fn raw_call(app: &App, role: Role, method: &prost_reflect::MethodDescriptor) -> Code {
    let channel = app.as_role("matrix", role, "t1").await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = format!("/{}/{}", kefu_complaint_desk::GRPC_SERVICE, method.name())
        .parse()
        .unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let request = tonic::Request::new(());
    if method.is_server_streaming() {
        match grpc.server_streaming(request, path, codec).await {
            Ok(response) => {
                // A stream that opened was let in.
                drop(response.into_inner().next());
                Code::Ok
            }
            Err(status) => status.code(),
        }
    } else {
        match grpc.unary(request, path, codec).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }
}

// Every RPC, every role: denied before any handler runs, or let through.
async fn the_role_matrix_covers_every_rpc(backend: Backend) {
    let app = spawn_with(Spawn::new(&SERVICES, backend)).await;
    let service = service();
    let methods: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
    let listed: Vec<&str> = MATRIX.iter().map(|(m, _)| *m).collect();
    assert_eq!(
        methods.iter().map(String::as_str).collect::<Vec<_>>(),
        listed,
        "the matrix lists every RPC of the contract, in its order"
    );
    for method in service.methods() {
        let (_, allowed) = MATRIX.iter().find(|(m, _)| *m == method.name()).unwrap();
        for (role, allowed) in ROLES.iter().zip(allowed) {
            let code = raw_call(&app, *role, &method).await;
            if *allowed {
                assert_ne!(
                    code,
                    Code::PermissionDenied,
                    "{} as {role:?}",
                    method.name()
                );
                assert_ne!(code, Code::Unauthenticated, "{} as {role:?}", method.name());
            } else {
                assert_eq!(
                    code,
                    Code::PermissionDenied,
                    "{} as {role:?}",
                    method.name()
                );
            }
        }
    }
}
on_both!(the_role_matrix_covers_every_rpc);

/// Every RPC whose request names a case, found in the contract.
fn rpcs_naming_a_case() -> Vec<String> {
    service()
        .methods()
        .filter(|m| {
            m.input().fields().any(|f| {
                matches!(f.name(), "complaint_id" | "complaint_ids")
                    || matches!(f.kind(), Kind::Message(inner)
                        if inner.full_name() == "kefu.complaint.v1.Complaint"
                            && m.name() != "CreateComplaint")
                    // A new entry names the cases it comes from; an edit cannot change them.
                    || matches!(f.kind(), Kind::Message(inner)
                        if inner.get_field_by_name("complaint_ids").is_some()
                            && m.name().starts_with("Create"))
            })
        })
        .map(|m| m.name().to_owned())
        .collect()
}

/// Calls `rpc` about `case`; `None` for an RPC this test does not know.
async fn call_about(rpc: &str, desk: &mut Desk, case: &pb::Complaint) -> Option<Code> {
    let id = case.id.clone();
    let version = case.version;
    let code = |r: Result<(), tonic::Status>| r.err().map_or(Code::Ok, |s| s.code());
    Some(match rpc {
        "GetComplaint" => code(
            desk.get_complaint(pb::GetComplaintRequest { complaint_id: id })
                .await
                .map(drop),
        ),
        "UpdateComplaint" => code(
            desk.update_complaint(pb::UpdateComplaintRequest {
                complaint: Some(pb::Complaint {
                    id,
                    severity: pb::Severity::High as i32,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["severity".into()],
                }),
                expected_version: version,
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        "AssignComplaint" => code(
            desk.assign_complaint(pb::AssignComplaintRequest {
                complaint_id: id,
                assignee_id: "intruder".into(),
                expected_version: version,
                ..Default::default()
            })
            .await
            .map(drop),
        ),
        "RecordFirstResponse" => code(
            desk.record_first_response(pb::RecordFirstResponseRequest {
                complaint_id: id,
                message: "hello".into(),
                expected_version: version,
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        "RecordCustomerContact" => code(
            desk.record_customer_contact(pb::RecordCustomerContactRequest {
                complaint_id: id,
                channel: pb::ContactChannel::Phone as i32,
                expected_version: version,
                ..Default::default()
            })
            .await
            .map(drop),
        ),
        "PauseClock" => code(
            desk.pause_clock(pb::PauseClockRequest {
                complaint_id: id,
                reason: pb::PauseReason::Other as i32,
                expected_version: version,
                ..Default::default()
            })
            .await
            .map(drop),
        ),
        "ResumeClock" => code(
            desk.resume_clock(pb::ResumeClockRequest {
                complaint_id: id,
                expected_version: version,
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        "RecordInvestigation" => code(
            desk.record_investigation(pb::RecordInvestigationRequest {
                complaint_id: id,
                investigation: Some(pb::Investigation {
                    root_cause: pb::RootCause::Other as i32,
                    corrective_action: "none".into(),
                    ..Default::default()
                }),
                expected_version: version,
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        "ResolveComplaint" => code(
            desk.resolve_complaint(pb::ResolveComplaintRequest {
                complaint_id: id,
                resolution: Some(pb::Resolution {
                    answer: "done".into(),
                    ..Default::default()
                }),
                expected_version: version,
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        "RecordFollowUp" => code(
            desk.record_follow_up(pb::RecordFollowUpRequest {
                complaint_id: id,
                follow_up: Some(pb::FollowUp {
                    outcome: pb::FollowUpOutcome::Satisfied as i32,
                    ..Default::default()
                }),
                expected_version: version,
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        "EscalateComplaint" => code(
            desk.escalate_complaint(pb::EscalateComplaintRequest {
                complaint_id: id,
                reason: "because".into(),
                expected_version: version,
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        "CreateKnowledgeEntry" => code(
            desk.create_knowledge_entry(pb::CreateKnowledgeEntryRequest {
                knowledge_entry: Some(pb::KnowledgeEntry {
                    category: pb::Category::Damage as i32,
                    problem: "crushed cartons".into(),
                    solution: "double-wall cartons".into(),
                    complaint_ids: vec![id],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(drop),
        ),
        _ => return None,
    })
}

// Agents see their team's cases, supervisors with a department its teams' cases: through
// every RPC naming a case, a case out of reach is PERMISSION_DENIED, existing or not, and
// changes nothing.
async fn cases_are_seen_by_their_team_and_department_only(backend: Backend) {
    let app = spawn_with(Spawn::new(&SERVICES, backend).change(|settings| {
        let own = settings
            .section_mut::<kefu_complaint_desk::settings::ComplaintDeskSettings>(
                kefu_complaint_desk::SERVICE,
            )
            .unwrap();
        own.departments
            .insert("north".into(), vec!["t1".into(), "t2".into()]);
        own.departments.insert("south".into(), vec!["t3".into()]);
    }))
    .await;
    let theirs = registered(&app, "t1").await;
    let rpcs = rpcs_naming_a_case();
    assert!(rpcs.len() >= 12, "found {rpcs:?}");

    let outsiders = [
        app.desk_as("agent-3", Role::Agent, "t3").await,
        app.desk_with(app.supervisor_of("sup-south", "south")).await,
    ];
    let events_before = app.count("kefu_outbox").await;
    let rows_before = app.dump(kefu_complaint_desk::SERVICE, "complaints").await;
    for mut outsider in outsiders {
        for rpc in &rpcs {
            let code = call_about(rpc, &mut outsider, &theirs)
                .await
                .unwrap_or_else(|| panic!("{rpc} names a case: add it to the test"));
            assert_eq!(code, Code::PermissionDenied, "{rpc} on another team's case");
        }
        let missing = outsider
            .get_complaint(pb::GetComplaintRequest {
                complaint_id: "no-such-case".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            missing.code(),
            Code::PermissionDenied,
            "ids cannot be probed"
        );
        let listed = outsider
            .list_complaints(pb::ListComplaintsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .complaints;
        assert!(listed.is_empty(), "{listed:?}");
    }
    assert_eq!(app.count("kefu_outbox").await, events_before, "no event");
    assert_eq!(
        app.dump(kefu_complaint_desk::SERVICE, "complaints").await,
        rows_before,
        "a refused call changed a case"
    );

    // The team's agent and the department's supervisor reach it.
    let mut insiders = [
        app.desk_as("agent-1", Role::Agent, "t1").await,
        app.desk_with(app.supervisor_of("sup-north", "north")).await,
    ];
    for insider in &mut insiders {
        let seen = insider
            .get_complaint(pb::GetComplaintRequest {
                complaint_id: theirs.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen.id, theirs.id);
        let listed = insider
            .list_complaints(pb::ListComplaintsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .complaints;
        assert_eq!(listed.len(), 1);
    }
    let mut agent = app.desk_as("agent-1", Role::Agent, "t1").await;
    for rpc in &rpcs {
        let current = app
            .desk()
            .await
            .get_complaint(pb::GetComplaintRequest {
                complaint_id: theirs.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let code = call_about(rpc, &mut agent, &current).await.unwrap();
        assert_ne!(code, Code::PermissionDenied, "{rpc} on its own team's case");
    }
    // An agent may not hand a case to another team.
    let current = app
        .desk()
        .await
        .get_complaint(pb::GetComplaintRequest {
            complaint_id: theirs.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let handed = agent
        .assign_complaint(pb::AssignComplaintRequest {
            complaint_id: current.id,
            assignee_id: "agent-3".into(),
            team_id: "t3".into(),
            expected_version: current.version,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(handed.code(), Code::PermissionDenied);
}
on_both!(cases_are_seen_by_their_team_and_department_only);
