//! Authentication and authorization before any handler runs: every bad token is refused
//! with UNAUTHENTICATED, every wrong role or foreign customer with PERMISSION_DENIED, and
//! nothing changes.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kefu_platform::auth::Role;
use kefu_proto::customer as pb;
use serde_json::json;
use tonic::Code;

use crate::support::{App, Backend, Client, create, personal, spawn};
use kefu_testkit::on_both;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(app: &App) -> serde_json::Value {
    json!({
        "iss": app.settings.auth.issuer,
        "aud": app.settings.auth.audience,
        "sub": "mallory",
        "exp": now() + 300,
        "iat": now(),
        "role": "manager",
    })
}

async fn bad_tokens_are_refused_before_the_handler(backend: Backend) {
    let app = spawn(backend).await;
    let secret = app.settings.auth.hs256_secret.expose().to_owned();
    let with = |key: &str, value: serde_json::Value| {
        let mut c = claims(&app);
        c[key] = value;
        sign(c, &secret)
    };
    let unsigned = {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(claims(&app).to_string());
        format!("{header}.{body}.")
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("garbage", Some("not-a-jwt".into())),
        ("expired", Some(with("exp", json!(now() - 3600)))),
        ("wrong audience", Some(with("aud", json!("someone-else")))),
        ("wrong issuer", Some(with("iss", json!("evil")))),
        (
            "bad signature",
            Some(sign(claims(&app), "another-secret-of-32-bytes-or-more!!")),
        ),
        ("alg none", Some(unsigned)),
        ("unknown role", Some(with("role", json!("admin")))),
        ("no subject", Some(with("sub", json!("")))),
    ];
    for (name, token) in cases {
        let mut client = app.client_with_token(token, None).await;
        let status = client
            .create_customer(create(personal("x")))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{name}: {status:?}");
    }
    assert_eq!(
        app.count("customers").await,
        0,
        "no refused call reached the handler"
    );

    // Health and reflection need no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    let check = tonic_health::pb::HealthCheckRequest {
        service: kefu_customer_registry::GRPC_SERVICE.into(),
    };
    assert_eq!(health.check(check).await.unwrap().into_inner().status, 1);
}
on_both!(bad_tokens_are_refused_before_the_handler);

async fn roles_and_teams_bound_what_a_caller_reaches(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let mine = manager
        .create_customer(create(personal("Team one's")))
        .await
        .unwrap()
        .into_inner();
    let theirs = manager
        .create_customer(create(pb::Customer {
            team_id: "t2".into(),
            ..personal("Team two's")
        }))
        .await
        .unwrap()
        .into_inner();

    let mut agent = app.agent("agent-1", "t1").await;
    let get = |id: &str| pb::GetCustomerRequest {
        customer_id: id.to_owned(),
    };
    assert_eq!(
        agent
            .get_customer(get(&mine.id))
            .await
            .unwrap()
            .into_inner()
            .id,
        mine.id
    );
    assert_eq!(
        agent
            .get_customer(get(&theirs.id))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        agent
            .get_customer(get("no-such-customer"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied,
        "an agent cannot tell a missing id from a foreign one"
    );
    let listed: Vec<String> = agent
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .customers
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&mine.id));
    let update = pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            id: theirs.id.clone(),
            email: "x@example.com".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["email".into()],
        }),
        expected_version: 0,
        request_id: String::new(),
    };
    assert_eq!(
        agent.update_customer(update).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let foreign = agent
        .create_customer(create(pb::Customer {
            team_id: "t2".into(),
            ..personal("x")
        }))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::PermissionDenied);
    let own = agent
        .create_customer(create(pb::Customer {
            team_id: String::new(),
            ..personal("x")
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        own.team_id, "t1",
        "an agent's customer joins the agent's team"
    );
    assert_eq!(
        manager
            .get_customer(get("no-such-customer"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
}
on_both!(roles_and_teams_bound_what_a_caller_reaches);

async fn rpcs_without_an_access_rule_are_closed_to_everyone(backend: Backend) {
    let app = spawn(backend).await;
    for role in Role::ALL {
        let mut grpc = tonic::client::Grpc::new(app.as_role("matrix", role, "t1").await);
        grpc.ready().await.unwrap();
        // A path the policy has no rule for, as a newly added RPC would be.
        let path = format!("/{}/NoSuchMethod", kefu_customer_registry::GRPC_SERVICE)
            .parse()
            .unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let status = grpc
            .unary(tonic::Request::new(()), path, codec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
    }
}
on_both!(rpcs_without_an_access_rule_are_closed_to_everyone);

/// Every RPC of the contract has an access rule or is refused to everyone; none is open by
/// accident. A new RPC with a rule must be added here.
#[test]
fn every_rpc_of_the_contract_is_in_the_access_matrix() {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(kefu_proto::FILE_DESCRIPTOR_SET).unwrap();
    let service = set
        .file
        .iter()
        .flat_map(|f| f.service.iter().map(move |s| (f.package(), s)))
        .find(|(p, s)| format!("{p}.{}", s.name()) == kefu_customer_registry::GRPC_SERVICE)
        .unwrap()
        .1;
    let policy = kefu_customer_registry::access_policy();
    let expected: &[(&str, &[Role])] = &[
        (
            "CreateCustomer",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "GetCustomer",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "ListCustomers",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "UpdateCustomer",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        ("ArchiveCustomer", &[Role::Supervisor, Role::Manager]),
        (
            "StreamEvents",
            &[Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "ListTierChanges",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "ListServiceRecord",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        ("OverrideTier", &[Role::Manager]),
        ("ClearTierOverride", &[Role::Manager]),
        (
            "LookupCustomerByPhone",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        ("ListAuditRecords", &[Role::Supervisor, Role::Manager]),
        (
            "ConfirmCustomer",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "ListStaleCustomers",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        ("AssignOwner", &[Role::Supervisor, Role::Manager]),
        ("EraseCustomer", &[Role::Manager]),
        (
            "ListServicePlans",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "GetServicePlan",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        (
            "ExplainGrade",
            &[Role::Agent, Role::Supervisor, Role::Manager, Role::Service],
        ),
        ("RecomputeGrades", &[Role::Supervisor, Role::Manager]),
        ("StartKeyRotation", &[Role::Manager]),
        ("GetKeyRotation", &[Role::Manager]),
        ("GenerateMonthlyReport", &[Role::Supervisor, Role::Manager]),
        ("GetMonthlyReport", &[Role::Supervisor, Role::Manager]),
        ("SubmitMonthlyReport", &[Role::Supervisor]),
        (
            "ListOverdueVisits",
            &[Role::Agent, Role::Supervisor, Role::Manager],
        ),
        (
            "CreateVisitReport",
            &[Role::Agent, Role::Supervisor, Role::Manager],
        ),
        (
            "GetVisitReport",
            &[Role::Agent, Role::Supervisor, Role::Manager],
        ),
        (
            "ListVisitReports",
            &[Role::Agent, Role::Supervisor, Role::Manager],
        ),
        (
            "CreateUrgentReport",
            &[Role::Agent, Role::Supervisor, Role::Manager],
        ),
        ("ListUrgentReports", &[Role::Supervisor, Role::Manager]),
        ("GetBusinessReport", &[Role::Supervisor, Role::Manager]),
    ];
    for method in &service.method {
        let path = format!(
            "/{}/{}",
            kefu_customer_registry::GRPC_SERVICE,
            method.name()
        );
        let rule = expected
            .iter()
            .find(|(m, _)| *m == method.name())
            .map(|(_, r)| *r);
        assert_eq!(policy.roles_for(&path), rule, "{path}");
    }
}

/// What a matrix call aims at: a customer, and that customer's visit report.
struct Target {
    customer_id: String,
    team_id: String,
    visit_report_id: String,
}

/// Calls `rpc` about `target`; `None` for an RPC the matrix does not know yet.
async fn call_about(rpc: &str, client: &mut Client, target: &Target) -> Option<Code> {
    let id = target.customer_id.clone();
    let result = match rpc {
        "CreateCustomer" => client
            .create_customer(create(pb::Customer {
                team_id: target.team_id.clone(),
                ..personal("Matrix")
            }))
            .await
            .map(drop),
        "GetCustomer" => client
            .get_customer(pb::GetCustomerRequest { customer_id: id })
            .await
            .map(drop),
        "UpdateCustomer" => client
            .update_customer(pb::UpdateCustomerRequest {
                customer: Some(pb::Customer {
                    id,
                    email: "new.address@example.com".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["email".into()],
                }),
                expected_version: 0,
                request_id: String::new(),
            })
            .await
            .map(drop),
        "ArchiveCustomer" => client
            .archive_customer(pb::ArchiveCustomerRequest {
                customer_id: id,
                reason: "moved away".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "EraseCustomer" => client
            .erase_customer(pb::EraseCustomerRequest {
                customer_id: id,
                legal_reference: "PIPL-1".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "ConfirmCustomer" => client
            .confirm_customer(pb::ConfirmCustomerRequest {
                customer_id: id,
                request_id: String::new(),
            })
            .await
            .map(drop),
        "ListTierChanges" => client
            .list_tier_changes(pb::ListTierChangesRequest {
                customer_id: id,
                ..Default::default()
            })
            .await
            .map(drop),
        "OverrideTier" => client
            .override_tier(pb::OverrideTierRequest {
                customer_id: id,
                tier: pb::Tier::Frequent as i32,
                reason: "key account".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "ClearTierOverride" => client
            .clear_tier_override(pb::ClearTierOverrideRequest {
                customer_id: id,
                ..Default::default()
            })
            .await
            .map(drop),
        "ExplainGrade" => client
            .explain_grade(pb::ExplainGradeRequest { customer_id: id })
            .await
            .map(drop),
        "RecomputeGrades" => client
            .recompute_grades(pb::RecomputeGradesRequest { customer_id: id })
            .await
            .map(drop),
        "AssignOwner" => client
            .assign_owner(pb::AssignOwnerRequest {
                customer_id: id,
                owner_id: "agent-1".into(),
                visitor_id: "agent-1".into(),
                visitor_is_not_salesperson: true,
                ..Default::default()
            })
            .await
            .map(drop),
        "CreateVisitReport" => client
            .create_visit_report(pb::CreateVisitReportRequest {
                visit_report: Some(crate::visits::report(&id)),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "GetVisitReport" => client
            .get_visit_report(pb::GetVisitReportRequest {
                visit_report_id: target.visit_report_id.clone(),
            })
            .await
            .map(drop),
        "ListVisitReports" => client
            .list_visit_reports(pb::ListVisitReportsRequest {
                customer_id: id,
                ..Default::default()
            })
            .await
            .map(drop),
        "CreateUrgentReport" => client
            .create_urgent_report(pb::CreateUrgentReportRequest {
                urgent_report: Some(pb::UrgentReport {
                    customer_id: id,
                    trigger: pb::UrgentTrigger::OwnServiceProblem as i32,
                    description: "three late deliveries this week".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "ListAuditRecords" => client
            .list_audit_records(pb::ListAuditRecordsRequest {
                customer_id: id,
                ..Default::default()
            })
            .await
            .map(drop),
        "ListServiceRecord" => client
            .list_service_record(pb::ListServiceRecordRequest {
                customer_id: id,
                ..Default::default()
            })
            .await
            .map(drop),
        _ => return None,
    };
    Some(match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    })
}

/// The RPCs whose request names a customer: a `customer_id` field, or a `Customer`, at the
/// top or one message down.
fn rpcs_taking_a_customer() -> Vec<String> {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(kefu_proto::FILE_DESCRIPTOR_SET).unwrap();
    let messages: std::collections::HashMap<String, &prost_types::DescriptorProto> = set
        .file
        .iter()
        .flat_map(|f| {
            f.message_type
                .iter()
                .map(move |m| (format!(".{}.{}", f.package(), m.name()), m))
        })
        .collect();
    let names_a_customer = |message: &str, depth: u8| {
        fn walk(
            messages: &std::collections::HashMap<String, &prost_types::DescriptorProto>,
            message: &str,
            depth: u8,
        ) -> bool {
            let Some(m) = messages.get(message) else {
                return false;
            };
            m.field.iter().any(|f| {
                f.name() == "customer_id"
                    || f.type_name() == ".kefu.customer.v1.Customer"
                    || (depth > 0 && walk(messages, f.type_name(), depth - 1))
            })
        }
        walk(&messages, message, depth)
    };
    let service = set
        .file
        .iter()
        .flat_map(|f| f.service.iter().map(move |s| (f.package(), s)))
        .find(|(p, s)| format!("{p}.{}", s.name()) == kefu_customer_registry::GRPC_SERVICE)
        .unwrap()
        .1;
    service
        .method
        .iter()
        .filter(|m| names_a_customer(m.input_type(), 1))
        .map(|m| m.name().to_owned())
        .collect()
}

/// A customer of `team` with one visit report, made by a manager.
async fn target(manager: &mut Client, team: &str) -> Target {
    let customer = manager
        .create_customer(create(pb::Customer {
            team_id: team.to_owned(),
            ..personal("Matrix")
        }))
        .await
        .unwrap()
        .into_inner();
    let visit = manager
        .create_visit_report(pb::CreateVisitReportRequest {
            visit_report: Some(crate::visits::report(&customer.id)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    Target {
        customer_id: customer.id,
        team_id: team.to_owned(),
        visit_report_id: visit.id,
    }
}

const TABLES: &[&str] = &[
    "customers",
    "tier_changes",
    "visit_reports",
    "urgent_reports",
    "pii_audit",
    "kefu_idempotency",
];

/// CR-9: an agent reaches only the customers it owns or visits, or its team's, through every
/// RPC that names a customer; a refused call changes nothing. RPCs closed to agents refuse
/// them by role. An RPC that names a customer and is missing here fails the test.
async fn every_rpc_naming_a_customer_refuses_another_teams(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let theirs = target(&mut manager, "t2").await;
    let ours = target(&mut manager, "t1").await;
    let mut rpcs = rpcs_taking_a_customer();
    // Names a customer's resource rather than the customer.
    rpcs.push("GetVisitReport".into());
    assert!(rpcs.len() >= 17, "found {rpcs:?}");

    let policy = kefu_customer_registry::access_policy();
    let mut agent = app.agent("agent-1", "t1").await;
    let mut before = Vec::new();
    for table in TABLES {
        before.push(app.dump(table).await);
    }
    // The relay positions outbox rows meanwhile; what counts is that none were added.
    let events_before = app.count("kefu_outbox").await;
    for rpc in &rpcs {
        let code = call_about(rpc, &mut agent, &theirs)
            .await
            .unwrap_or_else(|| panic!("{rpc} names a customer: add it to the matrix"));
        assert_eq!(
            code,
            Code::PermissionDenied,
            "{rpc} on another team's customer"
        );
    }
    for (table, before) in TABLES.iter().zip(before) {
        assert_eq!(
            app.dump(table).await,
            before,
            "{table}: a refused call changed it"
        );
    }
    assert_eq!(app.count("kefu_outbox").await, events_before, "no event");

    // The same calls about the agent's own team's customer pass the check: the refusals
    // above were about whose customer it is.
    for rpc in &rpcs {
        let path = format!("/{}/{rpc}", kefu_customer_registry::GRPC_SERVICE);
        let open_to_agents = policy
            .roles_for(&path)
            .is_some_and(|roles| roles.contains(&Role::Agent));
        let code = call_about(rpc, &mut agent, &ours).await.unwrap();
        if open_to_agents {
            assert_ne!(
                code,
                Code::PermissionDenied,
                "{rpc} on the agent's own team's customer"
            );
        } else {
            assert_eq!(code, Code::PermissionDenied, "{rpc} is closed to agents");
        }
    }
}
on_both!(every_rpc_naming_a_customer_refuses_another_teams);
