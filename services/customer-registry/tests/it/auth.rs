//! Authentication and authorization before any handler runs: every bad token is refused
//! with UNAUTHENTICATED, every wrong role or foreign customer with PERMISSION_DENIED, and
//! nothing changes.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kefu_platform::auth::Role;
use kefu_proto::customer as pb;
use serde_json::json;
use tonic::Code;

use crate::on_both;
use crate::support::{App, Backend, create, personal, spawn};

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
        let mut client = app.client(role).await;
        let status = client
            .list_service_record(pb::ListServiceRecordRequest {
                customer_id: "x".into(),
                ..Default::default()
            })
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
