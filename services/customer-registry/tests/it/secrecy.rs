//! CR-9 through the API: ciphertext at rest, masks without the scope, and an audit row for
//! every unmasked read.

use kefu_platform::auth::Role;
use kefu_proto::customer as pb;
use sea_orm::ConnectionTrait as _;

use crate::support::{Backend, create, enterprise, personal, spawn};
use kefu_testkit::on_both;

const PLAINTEXTS: &[&str] = &[
    "13812345678",
    "zhang.san@example.com",
    "11010519491231002X",
    "8 Jianguo Road",
    "0591-87654321",
    "li.si@widgets.example.cn",
];

async fn personal_data_is_ciphertext_in_every_table(backend: Backend) {
    let app = spawn(backend).await;
    let mut client = app.pii_reader().await;
    let request = pb::CreateCustomerRequest {
        customer: Some(personal("Zhang San")),
        request_id: "r-1".into(),
    };
    client.create_customer(request).await.unwrap();
    client
        .create_customer(create(enterprise("Widgets")))
        .await
        .unwrap();
    for table in ["customers", "kefu_outbox", "kefu_idempotency", "pii_audit"] {
        let dump = app.dump(table).await;
        assert!(
            !dump.is_empty() || table == "pii_audit",
            "{table} should have rows"
        );
        for plain in PLAINTEXTS {
            assert!(
                !crate::support::holds(&dump, plain),
                "plaintext {plain:?} found in {table}: {dump}"
            );
        }
    }
    let customers = app.dump("customers").await;
    assert!(
        customers.contains("v1.dev1."),
        "personal fields are sealed envelopes"
    );
}
on_both!(personal_data_is_ciphertext_in_every_table);

async fn answers_are_masked_unless_the_caller_has_the_scope_and_a_purpose(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let created = manager
        .create_customer(create(personal("Zhang San")))
        .await
        .unwrap()
        .into_inner();
    assert!(created.personal_data_masked);
    assert_eq!(created.phone, "138****5678");
    assert_eq!(created.email, "z***@example.com");
    assert_eq!(created.id_number, "1101**********002X");
    assert_eq!(created.addresses[0].street, "***");
    assert_eq!(created.addresses[0].city, "Beijing");
    assert_eq!(
        app.count("pii_audit").await,
        0,
        "masked answers are not audited reads"
    );

    let get = || pb::GetCustomerRequest {
        customer_id: created.id.clone(),
    };
    let scope_without_purpose = app.token("auditor", Role::Manager, &["pii:read"], "");
    let mut no_purpose = app
        .client_with_token(Some(scope_without_purpose), None)
        .await;
    let answer = no_purpose.get_customer(get()).await.unwrap().into_inner();
    assert!(
        answer.personal_data_masked,
        "a read without a stated purpose stays masked"
    );

    let purpose_without_scope = app.token("agent", Role::Manager, &[], "");
    let mut no_scope = app
        .client_with_token(Some(purpose_without_scope), Some("curious"))
        .await;
    assert!(
        no_scope
            .get_customer(get())
            .await
            .unwrap()
            .into_inner()
            .personal_data_masked
    );

    let mut reader = app.pii_reader().await;
    let answer = reader.get_customer(get()).await.unwrap().into_inner();
    assert!(!answer.personal_data_masked);
    assert_eq!(answer.phone, "13812345678");
    assert_eq!(answer.id_number, "11010519491231002X");
    assert_eq!(answer.addresses[0].street, "8 Jianguo Road");

    let audit = app.dump("pii_audit").await;
    assert_eq!(app.count("pii_audit").await, 1, "one audited read: {audit}");
    for expected in [
        "auditor",
        "manager",
        created.id.as_str(),
        "phone,email,id_number,addresses",
        "verify the record",
        "GetCustomer",
    ] {
        assert!(
            audit.contains(expected),
            "audit row lacks {expected:?}: {audit}"
        );
    }
    reader
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap();
    assert_eq!(
        app.count("pii_audit").await,
        2,
        "an unmasked list is audited per customer"
    );
}
on_both!(answers_are_masked_unless_the_caller_has_the_scope_and_a_purpose);

#[tokio::test]
async fn ciphertext_moved_to_another_row_does_not_open() {
    use sea_orm::ConnectionTrait as _;
    let app = spawn(Backend::Postgres).await;
    let mut client = app.pii_reader().await;
    let a = client
        .create_customer(create(personal("A")))
        .await
        .unwrap()
        .into_inner();
    let mut other = personal("B");
    other.phone = "13900001111".into();
    let b = client
        .create_customer(create(other))
        .await
        .unwrap()
        .into_inner();
    app.db
        .execute_unprepared(&format!(
            "UPDATE customers SET phone_ct = (SELECT phone_ct FROM customers WHERE id = '{}') WHERE id = '{}'",
            a.id, b.id
        ))
        .await
        .unwrap();
    let status = client
        .get_customer(pb::GetCustomerRequest { customer_id: b.id })
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::Internal,
        "a swapped envelope is refused, never shown as B's phone"
    );
    assert!(!status.message().contains("13812345678"));
}

// CR-9: a phone finds its customers through the keyed hash, within what the caller may see.
async fn customers_are_found_by_phone_without_plaintext_lookups(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let ours = manager
        .create_customer(create(personal("Ours")))
        .await
        .unwrap()
        .into_inner();
    let theirs = manager
        .create_customer(create(pb::Customer {
            team_id: "t2".into(),
            ..personal("Theirs")
        }))
        .await
        .unwrap()
        .into_inner();
    let mut other = personal("Other");
    other.phone = "13900001111".into();
    manager.create_customer(create(other)).await.unwrap();

    let lookup = |phone: &str| pb::LookupCustomerByPhoneRequest {
        phone: phone.into(),
    };
    let mut agent = app.agent("agent-1", "t1").await;
    let found = agent
        .lookup_customer_by_phone(lookup("+86 138 1234 5678"))
        .await
        .unwrap()
        .into_inner()
        .customers;
    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [ours.id.as_str()],
        "only the agent's own team's customer"
    );
    assert!(found[0].personal_data_masked);

    let mut reader = app.pii_reader().await;
    let found = reader
        .lookup_customer_by_phone(lookup("13812345678"))
        .await
        .unwrap()
        .into_inner()
        .customers;
    let mut ids: Vec<String> = found.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    let mut expected = vec![ours.id.clone(), theirs.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        app.count("pii_audit").await,
        2,
        "each unmasked customer audited"
    );

    let bad = reader
        .lookup_customer_by_phone(lookup("12"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
}
on_both!(customers_are_found_by_phone_without_plaintext_lookups);

// CR-9: the audit trail can be read, by those who answer for it.
async fn the_audit_trail_is_readable_by_supervisors_and_managers_only(backend: Backend) {
    let app = spawn(backend).await;
    let mut reader = app.pii_reader().await;
    let a = reader
        .create_customer(create(personal("A")))
        .await
        .unwrap()
        .into_inner();
    let b = reader
        .create_customer(create(personal("B")))
        .await
        .unwrap()
        .into_inner();
    reader
        .get_customer(pb::GetCustomerRequest {
            customer_id: a.id.clone(),
        })
        .await
        .unwrap();

    let mut supervisor = app.client(Role::Supervisor).await;
    let all = supervisor
        .list_audit_records(pb::ListAuditRecordsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.audit_records.len(), 2);
    assert!(!all.next_page_token.is_empty(), "three reads: another page");
    let newest = &all.audit_records[0];
    assert_eq!(
        (newest.customer_id.as_str(), newest.rpc.as_str()),
        (a.id.as_str(), "GetCustomer")
    );
    assert_eq!(newest.actor_id, "auditor");
    assert_eq!(newest.purpose, "verify the record");
    assert!(newest.fields.contains(&"phone".to_owned()));
    assert!(newest.read_time.is_some());

    let of_b = supervisor
        .list_audit_records(pb::ListAuditRecordsRequest {
            customer_id: b.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        of_b.audit_records.len(),
        1,
        "B was read once, at its creation"
    );
    assert_eq!(of_b.audit_records[0].rpc, "CreateCustomer");

    let mut agent = app.agent("agent-1", "t1").await;
    let denied = agent
        .list_audit_records(pb::ListAuditRecordsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
}
on_both!(the_audit_trail_is_readable_by_supervisors_and_managers_only);

// CR-11: a lawful erasure removes the personal data and keeps the anonymous record.
async fn erasure_removes_personal_data_and_keeps_the_anonymous_record(backend: Backend) {
    let app = spawn(backend).await;
    let mut reader = app.pii_reader().await;
    let customer = reader
        .create_customer(create(personal("Zhang San")))
        .await
        .unwrap()
        .into_inner();
    let erase = |reference: &str| pb::EraseCustomerRequest {
        customer_id: customer.id.clone(),
        legal_reference: reference.into(),
        request_id: String::new(),
    };
    let mut supervisor = app.client(Role::Supervisor).await;
    assert_eq!(
        supervisor
            .erase_customer(erase("PIPL-2026-17"))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        reader.erase_customer(erase(" ")).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );

    let erased = reader
        .erase_customer(erase("PIPL-2026-17"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erased.state(), pb::CustomerState::Erased);
    assert_eq!(erased.display_name, "(erased)");
    assert!(
        erased.phone.is_empty()
            && erased.email.is_empty()
            && erased.id_number.is_empty()
            && erased.addresses.is_empty()
    );
    assert_eq!(erased.tier(), customer.tier(), "the anonymous facts stay");

    let row = app.dump("customers").await;
    for plain in PLAINTEXTS.iter().chain(["Zhang San"].iter()) {
        assert!(
            !crate::support::holds(&row, plain),
            "{plain} left in the table"
        );
    }
    assert!(
        !row.contains("v1.dev1."),
        "no ciphertext left either: nothing to decrypt with a leaked key"
    );
    let again = reader
        .get_customer(pb::GetCustomerRequest {
            customer_id: customer.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.state(),
        pb::CustomerState::Erased,
        "later reads say the data was erased"
    );
    let lookup = reader
        .lookup_customer_by_phone(pb::LookupCustomerByPhoneRequest {
            phone: "13812345678".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(lookup.customers.is_empty(), "the lookup hash went too");
    assert_eq!(
        reader
            .erase_customer(erase("PIPL-2026-17"))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::FailedPrecondition
    );
    assert!(
        app.dump("kefu_outbox")
            .await
            .contains("kefu.customer.v1.CustomerErased")
    );
}
on_both!(erasure_removes_personal_data_and_keeps_the_anonymous_record);

// CR-9: a new key takes over without downtime; every row ends sealed under it, and reads work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_reseals_everything_and_reads_go_on() {
    use kefu_platform::config::Secret;
    let app = spawn(Backend::Postgres).await;
    let mut reader = app.pii_reader().await;
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        ids.push(
            reader
                .create_customer(create(personal(name)))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    assert!(app.dump("customers").await.contains("v1.dev1."));

    // The new key comes in; the old one stays to open what it sealed.
    let app = app
        .restart_with(|s| {
            s.security.pii_keys.insert(
                "k2".into(),
                Secret::new("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
            );
            s.security.pii_active_key = "k2".into();
        })
        .await;
    let mut reader = app.pii_reader().await;
    let before = reader
        .get_customer(pb::GetCustomerRequest {
            customer_id: ids[0].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        before.phone, "13812345678",
        "old envelopes open with the old key"
    );

    let mut agent = app.agent("a", "t1").await;
    let denied = agent
        .start_key_rotation(pb::StartKeyRotationRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let mut manager = app.client(Role::Manager).await;
    let started = manager
        .start_key_rotation(pb::StartKeyRotationRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (started.target_key_id.as_str(), started.total_rows),
        ("k2", 3)
    );
    let mut rotation = started.clone();
    for _ in 0..100 {
        rotation = manager
            .get_key_rotation(pb::GetKeyRotationRequest {
                key_rotation_id: started.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if rotation.state() != pb::KeyRotationState::Running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rotation.state(), pb::KeyRotationState::Done, "{rotation:?}");
    assert_eq!(rotation.done_rows, 3);
    let dump = app.dump("customers").await;
    assert!(!dump.contains("v1.dev1."), "nothing left under the old key");
    assert!(dump.contains("v1.k2."));
    for id in &ids {
        let after = reader
            .get_customer(pb::GetCustomerRequest {
                customer_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.phone, "13812345678");
        assert_eq!(after.version, 1, "re-sealing is not a change of the record");
    }
}

// CR-9: two replicas asked at once start one rotation, and one of them runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_asked_at_once_run_one_rotation() {
    use kefu_platform::config::Secret;
    let with_k2 = |s: &mut kefu_platform::config::Settings| {
        s.security.pii_keys.insert(
            "k2".into(),
            Secret::new("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
        );
        s.security.pii_active_key = "k2".into();
    };
    let a = spawn(Backend::Postgres).await;
    let mut manager = a.client(Role::Manager).await;
    for n in 0..20 {
        manager
            .create_customer(create(personal(&format!("C{n}"))))
            .await
            .unwrap();
    }
    let a = a.restart_with(with_k2).await;
    let b = a.replica(|_| {}).await;
    let (mut on_a, mut on_b) = (a.client(Role::Manager).await, b.client(Role::Manager).await);
    let (first, second) = tokio::join!(
        on_a.start_key_rotation(pb::StartKeyRotationRequest::default()),
        on_b.start_key_rotation(pb::StartKeyRotationRequest::default()),
    );
    let (first, second) = (first.unwrap().into_inner(), second.unwrap().into_inner());
    assert_eq!(first.id, second.id, "one rotation");
    assert_eq!(a.count("key_rotations").await, 1);
    let mut rotation = first;
    for _ in 0..100 {
        rotation = on_b
            .get_key_rotation(pb::GetKeyRotationRequest {
                key_rotation_id: rotation.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if rotation.state() != pb::KeyRotationState::Running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rotation.state(), pb::KeyRotationState::Done, "{rotation:?}");
    assert_eq!(rotation.done_rows, 20);
    assert!(!a.dump("customers").await.contains("v1.dev1."));
}

// CR-3: recomputing every grade is one replica's work at a time; the scheduled pass and an
// operator's request do not overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recomputing_all_grades_waits_for_the_replica_doing_it() {
    let app = spawn(Backend::Postgres).await;
    let mut manager = app.client(Role::Manager).await;
    manager
        .create_customer(create(personal("Graded")))
        .await
        .unwrap();
    // Another replica's scheduled pass, as far as the lock can tell.
    let held = kefu_platform::db::Exclusive::try_take(&app.db, "customer-registry.scheduled-pass")
        .await
        .unwrap()
        .unwrap();
    let busy = manager
        .recompute_grades(pb::RecomputeGradesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(busy.code(), tonic::Code::Aborted, "{busy:?}");
    held.release().await.unwrap();
    let done = manager
        .recompute_grades(pb::RecomputeGradesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.recomputed_count, 1);
}

// CR-9: while another replica runs a rotation, asking for one answers at once with it;
// a rotation whose runner died (its row still says RUNNING, nobody holds its lock) is taken
// up by the next replica that starts, or that is asked, and finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_runner_died_is_finished_by_the_next_replica() {
    let app = spawn(Backend::Postgres).await;
    let mut manager = app.client(Role::Manager).await;
    manager
        .create_customer(create(personal("Sealed")))
        .await
        .unwrap();
    // Another replica runs it, as far as the lock can tell; taken before the row exists, so
    // this replica's own start-up cannot take the rotation up first.
    let running_elsewhere =
        kefu_platform::db::Exclusive::try_take(&app.db, "customer-registry.key-rotation.run")
            .await
            .unwrap()
            .unwrap();
    app.db
        .execute_unprepared(
            "INSERT INTO key_rotations (id, target_key_id, state, total_rows, done_rows, \
             started_at, ended_at, error) VALUES ('orphan', 'dev1', 'KEY_ROTATION_STATE_RUNNING', \
             1, 0, now(), NULL, '')",
        )
        .await
        .unwrap();
    let state = |client: &mut crate::support::Client| {
        let mut client = client.clone();
        async move {
            client
                .get_key_rotation(pb::GetKeyRotationRequest {
                    key_rotation_id: "orphan".into(),
                })
                .await
                .unwrap()
                .into_inner()
                .state()
        }
    };

    let replica = app.replica(|_| {}).await;
    let mut manager = replica.client(Role::Manager).await;
    let asked = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        manager.start_key_rotation(pb::StartKeyRotationRequest::default()),
    )
    .await
    .expect("answers at once while another replica runs the rotation")
    .unwrap()
    .into_inner();
    assert_eq!(asked.id, "orphan");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        state(&mut manager).await,
        pb::KeyRotationState::Running,
        "left to the replica running it"
    );

    // That replica dies; the next one to start finishes the rotation.
    running_elsewhere.release().await.unwrap();
    let next = app.replica(|_| {}).await;
    let mut manager = next.client(Role::Manager).await;
    let mut now = pb::KeyRotationState::Running;
    for _ in 0..100 {
        now = state(&mut manager).await;
        if now != pb::KeyRotationState::Running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(now, pb::KeyRotationState::Done);
}
