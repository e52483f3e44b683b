//! CR-1 and CR-11 through the API: field rules, idempotent creates, masked updates,
//! archiving, paging, and the events each change emits.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt as _;
use kefu_platform::auth::Role;
use kefu_proto::customer as pb;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{Backend, create, enterprise, personal, spawn};
use kefu_testkit::on_both;

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

// CR-1: each rule, through gRPC; a refused create changes nothing.
async fn every_field_rule_is_enforced_and_bad_input_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let mut client = app.client(Role::Manager).await;
    type Case = (fn() -> pb::Customer, &'static str);
    let cases: &[Case] = &[
        (
            || pb::Customer {
                kind: 0,
                ..personal("x")
            },
            "customer.kind",
        ),
        (
            || pb::Customer {
                kind: 99,
                ..personal("x")
            },
            "customer.kind",
        ),
        (
            || pb::Customer {
                display_name: " ".into(),
                ..personal("x")
            },
            "customer.display_name",
        ),
        (
            || pb::Customer {
                phone: String::new(),
                ..personal("x")
            },
            "customer.phone",
        ),
        (
            || pb::Customer {
                phone: "1234567".into(),
                ..personal("x")
            },
            "customer.phone",
        ),
        (
            || pb::Customer {
                email: "no-at-sign".into(),
                ..personal("x")
            },
            "customer.email",
        ),
        (
            || pb::Customer {
                id_number: "110105194912310021".into(),
                ..personal("x")
            },
            "customer.id_number",
        ),
        (
            || pb::Customer {
                registration_number: "91350100M000100Y43".into(),
                ..personal("x")
            },
            "customer.registration_number",
        ),
        (
            || {
                let mut c = personal("x");
                c.addresses[0].postal_code = "12".into();
                c
            },
            "customer.addresses[0].postal_code",
        ),
        (
            || {
                let mut c = personal("x");
                c.addresses[0].city.clear();
                c
            },
            "customer.addresses[0].city",
        ),
        (
            || pb::Customer {
                registration_number: String::new(),
                ..enterprise("y")
            },
            "customer.registration_number",
        ),
        (
            || pb::Customer {
                registration_number: "91350100M000100Y44".into(),
                ..enterprise("y")
            },
            "customer.registration_number",
        ),
        (
            || pb::Customer {
                contacts: vec![],
                ..enterprise("y")
            },
            "customer.contacts",
        ),
        (
            || {
                let mut c = enterprise("y");
                c.contacts[0].phone = "555".into();
                c
            },
            "customer.contacts[0].phone",
        ),
        (
            || {
                let mut c = enterprise("y");
                c.contacts[0].email = "li@".into();
                c
            },
            "customer.contacts[0].email",
        ),
        (
            || pb::Customer {
                kind: pb::CustomerKind::Government as i32,
                ..enterprise("z")
            },
            "customer.government_level",
        ),
        (
            || pb::Customer {
                government_level: pb::GovernmentLevel::National as i32,
                ..enterprise("z")
            },
            "customer.government_level",
        ),
    ];
    for (make, field) in cases {
        let status = client.create_customer(create(make())).await.unwrap_err();
        let fields = violated_fields(&status);
        assert!(
            fields.iter().any(|f| f == field),
            "expected {field} in {fields:?}"
        );
    }
    assert_eq!(app.count("customers").await, 0);
    assert_eq!(app.count("kefu_outbox").await, 0);

    let created = client
        .create_customer(create(enterprise("Fuzhou Widgets")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.tier(),
        pb::Tier::Small,
        "CR-2: an enterprise starts small"
    );
    assert_eq!(created.state(), pb::CustomerState::Active);
    assert_eq!(created.version, 1);
    let gov = pb::Customer {
        kind: pb::CustomerKind::Government as i32,
        government_level: pb::GovernmentLevel::Provincial as i32,
        ..enterprise("Provincial Bureau")
    };
    let gov = client
        .create_customer(create(gov))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        gov.tier(),
        pb::Tier::GovernmentB,
        "CR-2: a provincial body is tier B"
    );
}
on_both!(every_field_rule_is_enforced_and_bad_input_changes_nothing);

// Idempotent create: concurrent retries make one customer; a different body is refused.
async fn retries_with_one_request_id_make_one_customer(backend: Backend) {
    let app = spawn(backend).await;
    let request = pb::CreateCustomerRequest {
        customer: Some(personal("Zhang San")),
        request_id: "create-42".into(),
    };
    let mut answers = Vec::new();
    for _ in 0..3 {
        let mut client = app.client(Role::Manager).await;
        let request = request.clone();
        answers.push(tokio::spawn(async move {
            client.create_customer(request).await
        }));
    }
    let mut ids = HashSet::new();
    for answer in answers {
        ids.insert(answer.await.unwrap().unwrap().into_inner().id);
    }
    assert_eq!(ids.len(), 1, "every retry answers with the same customer");
    assert_eq!(app.count("customers").await, 1);
    assert_eq!(app.count("kefu_outbox").await, 1, "one CustomerCreated");

    let mut client = app.client(Role::Manager).await;
    let other = pb::CreateCustomerRequest {
        customer: Some(personal("Li Si")),
        request_id: "create-42".into(),
    };
    let status = client.create_customer(other).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["request_id"]);
    assert_eq!(app.count("customers").await, 1);
}
on_both!(retries_with_one_request_id_make_one_customer);

// CR-1: an update changes exactly the fields in its mask, and refuses what it cannot do.
async fn updates_follow_the_field_mask(backend: Backend) {
    let app = spawn(backend).await;
    let mut client = app.pii_reader().await;
    let created = client
        .create_customer(create(personal("Zhang San")))
        .await
        .unwrap()
        .into_inner();
    let update =
        |paths: &[&str], customer: pb::Customer, expected_version: i64| pb::UpdateCustomerRequest {
            customer: Some(customer),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
            expected_version,
            request_id: String::new(),
        };
    let change = pb::Customer {
        id: created.id.clone(),
        email: "new@example.com".into(),
        display_name: "must not change".into(),
        ..Default::default()
    };
    let updated = client
        .update_customer(update(&["email"], change.clone(), 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.email, "new@example.com");
    assert_eq!(updated.display_name, "Zhang San");
    assert_eq!(updated.phone, "13812345678", "fields outside the mask stay");
    assert_eq!(updated.version, 2);

    let stale = client
        .update_customer(update(&["email"], change.clone(), 1))
        .await
        .unwrap_err();
    assert_eq!(
        stale.code(),
        Code::Aborted,
        "an old expected_version is a lost race"
    );
    for paths in [
        &[][..],
        &["kind"][..],
        &["tier"][..],
        &["no_such_field"][..],
    ] {
        let status = client
            .update_customer(update(paths, change.clone(), 0))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["update_mask"], "{paths:?}");
    }
    let bad_phone = pb::Customer {
        id: created.id.clone(),
        phone: "12".into(),
        ..Default::default()
    };
    let status = client
        .update_customer(update(&["phone"], bad_phone, 0))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["customer.phone"]);
    let missing = pb::Customer {
        id: "no-such-id".into(),
        ..Default::default()
    };
    assert_eq!(
        client
            .update_customer(update(&["email"], missing, 0))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let current = client
        .get_customer(pb::GetCustomerRequest {
            customer_id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 2, "refused updates changed nothing");
    assert_eq!(current.email, "new@example.com");
}
on_both!(updates_follow_the_field_mask);

// CR-11: archived customers leave daily lists, stay readable, and refuse changes.
async fn archiving_hides_from_lists_and_freezes_the_record(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let kept = manager
        .create_customer(create(personal("Stays")))
        .await
        .unwrap()
        .into_inner();
    let gone = manager
        .create_customer(create(personal("Leaves")))
        .await
        .unwrap()
        .into_inner();

    let mut agent = app.agent("agent-1", "t1").await;
    let refused = agent
        .archive_customer(pb::ArchiveCustomerRequest {
            customer_id: gone.id.clone(),
            reason: "moved".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "agents may not archive"
    );

    let archived = manager
        .archive_customer(pb::ArchiveCustomerRequest {
            customer_id: gone.id.clone(),
            reason: "moved away".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(archived.state(), pb::CustomerState::Archived);
    assert!(archived.archive_time.is_some());

    let list = |show_archived| pb::ListCustomersRequest {
        show_archived,
        ..Default::default()
    };
    let daily: Vec<String> = manager
        .list_customers(list(false))
        .await
        .unwrap()
        .into_inner()
        .customers
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(daily, std::slice::from_ref(&kept.id));
    let all = manager
        .list_customers(list(true))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(all.len(), 2, "archived customers still count");

    let again = manager
        .archive_customer(pb::ArchiveCustomerRequest {
            customer_id: gone.id.clone(),
            reason: String::new(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let update = pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            id: gone.id.clone(),
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
        manager.update_customer(update).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
}
on_both!(archiving_hides_from_lists_and_freezes_the_record);

async fn lists_page_through_everything_once_and_filter(backend: Backend) {
    let app = spawn(backend).await;
    let mut client = app.client(Role::Manager).await;
    let mut created = HashSet::new();
    for n in 0..5 {
        created.insert(
            client
                .create_customer(create(personal(&format!("P{n}"))))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    client
        .create_customer(create(enterprise("E")))
        .await
        .unwrap();

    let mut seen = HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_customers(pb::ListCustomersRequest {
                page_size: 2,
                page_token: token.clone(),
                kind: pb::CustomerKind::Personal as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.customers.len() <= 2);
        for c in page.customers {
            assert!(seen.insert(c.id), "a customer appeared on two pages");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, created);
    assert_eq!(pages, 3);
    let by_tier = pb::ListCustomersRequest {
        tier: pb::Tier::Small as i32,
        ..Default::default()
    };
    assert_eq!(
        client
            .list_customers(by_tier)
            .await
            .unwrap()
            .into_inner()
            .customers
            .len(),
        1
    );
    let bad = pb::ListCustomersRequest {
        page_size: -1,
        page_token: "garbage".into(),
        ..Default::default()
    };
    let status = client.list_customers(bad).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["page_size", "page_token"]);
}
on_both!(lists_page_through_everything_once_and_filter);

// Every change is an event on the service's stream, in order, catch-up then live.
async fn changes_arrive_on_the_event_stream(backend: Backend) {
    let app = spawn(backend).await;
    let mut client = app.client(Role::Manager).await;
    let created = client
        .create_customer(create(personal("Zhang San")))
        .await
        .unwrap()
        .into_inner();
    let mut service = app.client(Role::Service).await;
    let mut stream = service
        .stream_events(pb::StreamEventsRequest {
            after_position: 0,
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await;
    assert_eq!(first.r#type, "kefu.customer.v1.CustomerCreated");
    assert_eq!(first.subject, format!("customers/{}", created.id));
    let payload: pb::CustomerCreated = first.payload.unwrap().to_msg().unwrap();
    assert_eq!(payload.customer_id, created.id);

    // Live: these happen after the reader caught up.
    let update = pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            id: created.id.clone(),
            email: "new@example.com".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["email".into()],
        }),
        expected_version: 0,
        request_id: String::new(),
    };
    client.update_customer(update).await.unwrap();
    client
        .archive_customer(pb::ArchiveCustomerRequest {
            customer_id: created.id.clone(),
            reason: "left".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let updated = next(&mut stream).await;
    assert_eq!(updated.r#type, "kefu.customer.v1.CustomerUpdated");
    let payload: pb::CustomerUpdated = updated.payload.unwrap().to_msg().unwrap();
    assert_eq!(payload.changed_fields, ["email"]);
    assert_eq!(payload.version, 2);
    let archived = next(&mut stream).await;
    assert_eq!(archived.r#type, "kefu.customer.v1.CustomerArchived");
    assert!(first.position < updated.position && updated.position < archived.position);

    // Events never carry personal data (ARCHITECTURE: other services get ids).
    let outbox = app.dump("kefu_outbox").await;
    for secret in [
        "13812345678",
        "new@example.com",
        "zhang.san@example.com",
        "11010519491231002X",
    ] {
        assert!(
            !crate::support::holds(&outbox, secret),
            "{secret} in the outbox"
        );
    }
    let mut agent = app.agent("a", "t1").await;
    let refused = agent
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}
on_both!(changes_arrive_on_the_event_stream);

async fn next(
    stream: &mut tonic::Streaming<pb::StreamEventsResponse>,
) -> kefu_proto::common::Event {
    let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s");
    item.expect("stream open")
        .expect("no error")
        .event
        .expect("an event")
}

// request_id on updates and archives: a retry changes nothing more.
async fn retried_updates_and_archives_apply_once(backend: Backend) {
    let app = spawn(backend).await;
    let mut client = app.client(Role::Manager).await;
    let created = client
        .create_customer(create(personal("Zhang San")))
        .await
        .unwrap()
        .into_inner();
    let update = pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            id: created.id.clone(),
            industry: "textiles".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["industry".into()],
        }),
        expected_version: 1,
        request_id: "update-1".into(),
    };
    let first = client
        .update_customer(update.clone())
        .await
        .unwrap()
        .into_inner();
    let retry = client
        .update_customer(update.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.version, 2);
    assert_eq!(
        retry.version, 2,
        "the retry did not apply again (its expected_version is stale by now)"
    );
    let archive = pb::ArchiveCustomerRequest {
        customer_id: created.id.clone(),
        reason: "left".into(),
        request_id: "archive-1".into(),
    };
    client.archive_customer(archive.clone()).await.unwrap();
    let again = client.archive_customer(archive).await.unwrap().into_inner();
    assert_eq!(
        again.state(),
        pb::CustomerState::Archived,
        "a retried archive answers, not FAILED_PRECONDITION"
    );
    assert_eq!(
        app.count("kefu_outbox").await,
        3,
        "created, updated, archived: once each"
    );
}
on_both!(retried_updates_and_archives_apply_once);

// the day's customers by kind, archives, and the active customers by tier; a month
// holds its days.
async fn x3_the_business_report_counts_the_days_customers(backend: Backend) {
    use kefu_proto::common::ReportPeriod;
    use kefu_testkit::figure;
    let app = spawn(backend).await;
    let (day, month) = kefu_testkit::local_today().await;
    let mut manager = app.client(Role::Manager).await;
    let mut ids = Vec::new();
    for customer in [
        personal("Zhang San"),
        personal("Li Si"),
        enterprise("Widgets"),
    ] {
        ids.push(
            manager
                .create_customer(create(customer))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    manager
        .archive_customer(pb::ArchiveCustomerRequest {
            customer_id: ids[1].clone(),
            reason: "moved away".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();

    let mut supervisor = app.client(Role::Supervisor).await;
    for (period, label) in [(ReportPeriod::Day, day), (ReportPeriod::Month, month)] {
        let report = supervisor
            .get_business_report(pb::GetBusinessReportRequest {
                period: period as i32,
                period_label: label.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(report.source, "customer-registry");
        assert_eq!(report.period_label, label);
        for (group, metric, value) in [
            ("", "customers_registered", 3.0),
            ("kind=personal", "customers_registered", 2.0),
            ("kind=enterprise", "customers_registered", 1.0),
            ("", "customers_archived", 1.0),
            ("", "active_customers", 2.0),
            ("tier=small", "active_customers", 1.0),
            ("", "visits_made", 0.0),
            ("", "visits_overdue", 0.0),
        ] {
            assert_eq!(
                figure(&report, group, metric),
                Some(value),
                "{label}: {group} {metric}"
            );
        }
    }
    let mut agent = app.agent("agent-1", "t1").await;
    let denied = agent
        .get_business_report(pb::GetBusinessReportRequest {
            period: ReportPeriod::Day as i32,
            period_label: "2026-01-15".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}
on_both!(x3_the_business_report_counts_the_days_customers);
