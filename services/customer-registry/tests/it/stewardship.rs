//! CR-4 and CR-10 through the API: one owner and a visitor per customer, the local
//! salesperson only with a reason; records unconfirmed too long listed as stale.

use kefu_platform::auth::Role;
use kefu_proto::customer as pb;
use sea_orm::ConnectionTrait as _;
use tonic::Code;

use crate::support::{Backend, create, personal, spawn};
use kefu_testkit::on_both;

async fn owners_and_visitors_are_assigned_with_the_local_salesperson_rule(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let customer = manager
        .create_customer(create(pb::Customer {
            team_id: "t2".into(),
            region: "350102".into(),
            ..personal("Zhang San")
        }))
        .await
        .unwrap()
        .into_inner();
    let assign = |region: &str, reason: &str| pb::AssignOwnerRequest {
        customer_id: customer.id.clone(),
        owner_id: "agent-1".into(),
        visitor_id: "sales-7".into(),
        visitor_sales_region: region.into(),
        override_reason: reason.into(),
        ..Default::default()
    };
    let mut agent = app.agent("agent-1", "t1").await;
    assert_eq!(
        agent
            .assign_owner(assign("350200", ""))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied,
        "assigning is a supervisor's or a manager's act"
    );
    let get = pb::GetCustomerRequest {
        customer_id: customer.id.clone(),
    };
    assert_eq!(
        agent.get_customer(get.clone()).await.unwrap_err().code(),
        Code::PermissionDenied,
        "not yet hers"
    );

    // CR-4: the local salesperson needs an override, and leaving the region out is no way
    // around the rule.
    let mut supervisor = app.client(Role::Supervisor).await;
    for (request, field) in [
        (assign("350102", ""), "override_reason"),
        (assign("", ""), "visitor_sales_region"),
        (
            pb::AssignOwnerRequest {
                owner_id: String::new(),
                ..assign("350200", "")
            },
            "owner_id",
        ),
    ] {
        let refused = supervisor.assign_owner(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().contains(field), "{}", refused.message());
    }
    let events_before = app.count("kefu_outbox").await;

    let reason = "only Fuzhou salesperson who speaks the customer's dialect";
    let assigned = supervisor
        .assign_owner(assign("350102", reason))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (assigned.owner_id.as_str(), assigned.visitor_id.as_str()),
        ("agent-1", "sales-7")
    );
    assert_eq!(
        assigned.owner_override_reason, reason,
        "the reason is kept on the record"
    );
    let read_back = agent.get_customer(get.clone()).await.unwrap().into_inner();
    assert_eq!(read_back.owner_id, "agent-1", "an owner sees her customer");
    assert_eq!(read_back.owner_override_reason, reason);
    assert_eq!(
        app.count("kefu_outbox").await,
        events_before + 2,
        "CustomerUpdated and OwnerAssigned; the refusals wrote nothing"
    );
    let events = app.dump("kefu_outbox").await;
    assert!(events.contains("kefu.customer.v1.OwnerAssigned"));
    assert!(
        !events.contains("dialect"),
        "the reason is not in the event"
    );

    // A visitor who sells nowhere needs no reason, and the old one no longer applies.
    let plain = supervisor
        .assign_owner(pb::AssignOwnerRequest {
            visitor_is_not_salesperson: true,
            ..assign("", "")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plain.owner_override_reason.is_empty());
}
on_both!(owners_and_visitors_are_assigned_with_the_local_salesperson_rule);

async fn records_unconfirmed_for_180_days_are_listed_as_stale(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let old = manager
        .create_customer(create(personal("Old")))
        .await
        .unwrap()
        .into_inner();
    manager
        .create_customer(create(personal("Fresh")))
        .await
        .unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(181);
    let sql = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!(
            "UPDATE customers SET confirmed_at = '{}' WHERE id = '{}'",
            long_ago.to_rfc3339(),
            old.id
        ),
        _ => format!(
            "UPDATE customers SET confirmed_at = '{}' WHERE id = '{}'",
            long_ago.format("%Y-%m-%d %H:%M:%S%.f%:z"),
            old.id
        ),
    };
    app.db.execute_unprepared(&sql).await.unwrap();

    let stale = |owner: &str| pb::ListStaleCustomersRequest {
        owner_id: owner.into(),
        ..Default::default()
    };
    let listed: Vec<String> = manager
        .list_stale_customers(stale(""))
        .await
        .unwrap()
        .into_inner()
        .customers
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&old.id));
    assert!(
        manager
            .list_stale_customers(stale("nobody"))
            .await
            .unwrap()
            .into_inner()
            .customers
            .is_empty()
    );

    let confirmed = manager
        .confirm_customer(pb::ConfirmCustomerRequest {
            customer_id: old.id.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(confirmed.confirm_time.unwrap().seconds > long_ago.timestamp());
    assert!(
        manager
            .list_stale_customers(stale(""))
            .await
            .unwrap()
            .into_inner()
            .customers
            .is_empty()
    );
    let mut stranger = app.agent("agent-9", "t9").await;
    let denied = stranger
        .confirm_customer(pb::ConfirmCustomerRequest {
            customer_id: old.id,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}
on_both!(records_unconfirmed_for_180_days_are_listed_as_stale);

// CR-12: what each tier gets is data other services read.
async fn every_tier_has_a_service_plan_others_can_read(backend: Backend) {
    let app = spawn(backend).await;
    let mut service = app.client(Role::Service).await;
    let plans = service
        .list_service_plans(pb::ListServicePlansRequest {})
        .await
        .unwrap()
        .into_inner()
        .service_plans;
    assert_eq!(plans.len(), 8, "one plan per tier");
    let large = service
        .get_service_plan(pb::GetServicePlanRequest {
            tier: pb::Tier::Large as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(large.promised_delivery_hours, 24);
    assert!(
        large.services.iter().any(|s| s == "route planning"),
        "enterprise: quotes, route planning, guarantee"
    );
    let none = service
        .get_service_plan(pb::GetServicePlanRequest { tier: 0 })
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::InvalidArgument);
}
on_both!(every_tier_has_a_service_plan_others_can_read);

// CR-3: grades are computed on demand, explained by their parts, and stored with an event.
async fn grades_are_recomputed_on_demand_and_explained(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let person = manager
        .create_customer(create(personal("Quiet Person")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        person.grade(),
        pb::Grade::Unspecified,
        "not graded before the first computation"
    );

    let mut agent = app.agent("agent-1", "t1").await;
    let explained = agent
        .explain_grade(pb::ExplainGradeRequest {
            customer_id: person.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.grade(), pb::Grade::D);
    assert_eq!(explained.components.len(), 4);
    assert!(
        (explained.total_score - 19.0).abs() < 1e-9,
        "0.2*30 + 0.3*10 + 0 + 0.2*50"
    );
    assert_eq!(explained.cutoffs, [75.0, 50.0, 25.0]);
    let denied = agent
        .recompute_grades(pb::RecomputeGradesRequest {
            customer_id: person.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let first = manager
        .recompute_grades(pb::RecomputeGradesRequest {
            customer_id: person.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.recomputed_count, first.changed_count), (1, 1));
    let again = manager
        .recompute_grades(pb::RecomputeGradesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.recomputed_count, again.changed_count),
        (1, 0),
        "all customers; nothing changed since"
    );
    let graded = manager
        .get_customer(pb::GetCustomerRequest {
            customer_id: person.id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(graded.grade(), pb::Grade::D);
    assert!(
        app.dump("kefu_outbox")
            .await
            .contains("kefu.customer.v1.GradeChanged")
    );
}
on_both!(grades_are_recomputed_on_demand_and_explained);
