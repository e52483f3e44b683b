//! CD-1, CD-2: registering complaints and requests through the API: a case number, the
//! customer and order checked with their services, the tier and its deadlines taken, bad
//! input refused whole, retries answered once.

use kefu_platform::auth::Role;
use kefu_proto::complaint as pb;
use kefu_proto::customer as cpb;
use kefu_testkit::{Spawn, on_both};
use tonic::Code;

use crate::support::{App, Backend, SERVICES, complaint, create, registered, spawn, spawn_with};

async fn cd1_every_channel_registers_with_a_readable_case_number(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let mut desk = app.desk().await;
    let mut numbers = Vec::new();
    for (origin, kind) in [
        (pb::Origin::Hotline, pb::CaseType::Complaint),
        (pb::Origin::Email, pb::CaseType::Complaint),
        (pb::Origin::Web, pb::CaseType::Inquiry),
        (pb::Origin::Visit, pb::CaseType::HelpRequest),
    ] {
        let mut new = complaint(&customer, &order);
        new.origin = origin as i32;
        new.r#type = kind as i32;
        let case = desk
            .create_complaint(create(new))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(case.state(), pb::ComplaintState::Registered);
        assert_eq!(case.origin(), origin);
        numbers.push(case.case_number);
    }
    let year = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y");
    assert_eq!(
        numbers,
        (1..=4)
            .map(|n| format!("TS-{year}-{n:06}"))
            .collect::<Vec<_>>()
    );
    // The case number finds the case as well as its id.
    let by_number = desk
        .get_complaint(pb::GetComplaintRequest {
            complaint_id: numbers[2].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_number.r#type(), pb::CaseType::Inquiry);
    assert_eq!(
        app.events_of::<pb::ComplaintRegistered>().await.len(),
        4,
        "one event per case"
    );
}
on_both!(cd1_every_channel_registers_with_a_readable_case_number);

async fn cd2_a_case_takes_the_customers_tier_team_and_plan_deadlines(backend: Backend) {
    let app = spawn(backend).await;
    let case = registered(&app, "t1").await;
    assert_eq!(case.tier(), kefu_proto::customer::Tier::Small);
    assert_eq!(case.team_id, "t1");
    assert_eq!(case.version, 1);
    // The small tier's plan: 4 business hours to the first response, 24 to the resolution,
    // at 100% for a medium case.
    let first = case.first_response_deadline.unwrap();
    assert_eq!(first.allowed.unwrap().seconds, 4 * 3600);
    assert_eq!(
        case.resolution_deadline.unwrap().allowed.unwrap().seconds,
        24 * 3600
    );
    assert!(matches!(
        first.state(),
        pb::DeadlineState::Running | pb::DeadlineState::Paused
    ));
    assert!(first.due_time.is_some());
    assert_eq!(case.customer_contact_count, 1);
    let registered = app.events_of::<pb::ComplaintRegistered>().await;
    assert_eq!(registered[0].tier, case.tier);
    assert_eq!(registered[0].category, pb::Category::Damage as i32);
}
on_both!(cd2_a_case_takes_the_customers_tier_team_and_plan_deadlines);

async fn cd2_bad_input_is_refused_whole_and_names_every_field(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let status = desk
        .create_complaint(create(pb::Complaint {
            category: pb::Category::Loss as i32,
            severity: 42,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = tonic_types::StatusExt::get_details_bad_request(&status).unwrap();
    let fields: Vec<&str> = details
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    for field in [
        "complaint.type",
        "complaint.origin",
        "complaint.severity",
        "complaint.customer_id",
        "complaint.summary",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    // Cases opened automatically are not registered by hand.
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let mut automatic = complaint(&customer, &order);
    automatic.origin = pb::Origin::OrderException as i32;
    let status = desk.create_complaint(create(automatic)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("invalid") || !status.details().is_empty());
    // A loss names its order.
    let mut no_order = complaint(&customer, "");
    no_order.category = pb::Category::Loss as i32;
    assert_eq!(
        desk.create_complaint(create(no_order))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(app.count("complaints").await, 0, "nothing written");
}
on_both!(cd2_bad_input_is_refused_whole_and_names_every_field);

async fn cd2_the_customer_and_order_are_checked_with_their_services(backend: Backend) {
    let app = spawn(backend).await;
    let mut desk = app.desk().await;
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let other = app.customer("t2").await;
    let field_of = |status: tonic::Status| {
        tonic_types::StatusExt::get_details_bad_request(&status)
            .map(|d| d.field_violations[0].clone())
            .unwrap_or_default()
    };

    let mut about_nobody = complaint("no-such-customer", "");
    about_nobody.category = pb::Category::Billing as i32;
    let unknown = desk
        .create_complaint(create(about_nobody))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    let violation = field_of(unknown);
    assert_eq!(violation.field, "complaint.customer_id");
    assert_eq!(violation.description, "no such customer");

    let missing_order = desk
        .create_complaint(create(complaint(&customer, "no-such-order")))
        .await
        .unwrap_err();
    assert_eq!(field_of(missing_order).description, "no such order");

    let someone_elses = desk
        .create_complaint(create(complaint(&other, &order)))
        .await
        .unwrap_err();
    assert_eq!(
        field_of(someone_elses).description,
        "an order of another customer"
    );

    let mut customers = app.customers().await;
    customers
        .archive_customer(cpb::ArchiveCustomerRequest {
            customer_id: other.clone(),
            reason: "moved away".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut about_archived = complaint(&other, "");
    about_archived.category = pb::Category::Billing as i32;
    let archived = desk
        .create_complaint(create(about_archived))
        .await
        .unwrap_err();
    assert_eq!(archived.code(), Code::FailedPrecondition);
    assert!(
        archived.message().contains("archived"),
        "{}",
        archived.message()
    );
    assert_eq!(app.count("complaints").await, 0, "nothing written");
}
on_both!(cd2_the_customer_and_order_are_checked_with_their_services);

async fn cd2_an_unreachable_customer_registry_is_unavailable_and_writes_nothing(backend: Backend) {
    // complaint-desk served alone, its peers at a dead address.
    let app = spawn_with(
        Spawn::new(&SERVICES, backend)
            .serve_only(&[kefu_complaint_desk::SERVICE])
            .env("KEFU__CUSTOMER_REGISTRY__ENDPOINT", "http://127.0.0.1:9")
            .env("KEFU__ORDER_TRACKING__ENDPOINT", "http://127.0.0.1:9"),
    )
    .await;
    let status = app
        .desk()
        .await
        .create_complaint(create(complaint("c1", "o1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("customer-registry"));
    assert_eq!(app.count("complaints").await, 0);
    assert_eq!(app.count("case_numbers").await, 0, "no number taken");
}
on_both!(cd2_an_unreachable_customer_registry_is_unavailable_and_writes_nothing);

async fn a_retried_registration_registers_once(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let mut desk = app.desk().await;
    let request = pb::CreateComplaintRequest {
        complaint: Some(complaint(&customer, &order)),
        request_id: "call-1".into(),
    };
    let first = desk
        .create_complaint(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = desk
        .create_complaint(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, again.id);
    assert_eq!(app.count("complaints").await, 1);
    let mut changed = request;
    if let Some(c) = changed.complaint.as_mut() {
        c.summary = "something else".into();
    }
    assert_eq!(
        desk.create_complaint(changed).await.unwrap_err().code(),
        Code::InvalidArgument,
        "one request_id, another request"
    );
}
on_both!(a_retried_registration_registers_once);

async fn an_agent_who_registers_a_case_works_it(backend: Backend) {
    let app: App = spawn(backend).await;
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let mut agent = app.desk_as("agent-7", Role::Agent, "t9").await;
    let case = agent
        .create_complaint(create(complaint(&customer, &order)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.assignee_id, "agent-7");
    assert_eq!(case.team_id, "t1", "the case is the customer's team's");
    agent
        .get_complaint(pb::GetComplaintRequest {
            complaint_id: case.id,
        })
        .await
        .expect("its assignee sees it");
}
on_both!(an_agent_who_registers_a_case_works_it);
