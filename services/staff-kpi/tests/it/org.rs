//! SK-1 through the API: people join with a role, a team and a manager, change with the
//! version they read, and leave once nobody depends on them; teams have a supervisor and a
//! parent; every change is an event carrying what other services route by, never a name,
//! and customer-registry checks CR-4's local-salesperson rule against it.

use futures::StreamExt as _;
use kefu_platform::auth::Role;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::staff as pb;
use kefu_testkit::on_both;
use tonic::Code;

use crate::support::{App, Backend, EMAIL, HOTLINE, Staff, person, spawn, until};

async fn get(staff: &mut Staff, id: &str) -> pb::Staff {
    staff
        .get_staff(pb::GetStaffRequest {
            staff_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn update(s: &pb::Staff, paths: &[&str], expected_version: i64) -> pb::UpdateStaffRequest {
    pb::UpdateStaffRequest {
        staff: Some(s.clone()),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
        expected_version,
        request_id: String::new(),
    }
}

fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// staff-kpi's events so far, decoded as `M`.
async fn events<M: prost::Message + prost::Name + Default>(app: &App) -> Vec<M> {
    let mut stream = app
        .staff()
        .await
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut found = Vec::new();
    while let Ok(Some(next)) =
        tokio::time::timeout(std::time::Duration::from_millis(700), stream.next()).await
    {
        let event = next.unwrap().event.unwrap();
        if event.r#type == M::full_name() {
            found.push(M::decode(event.payload.unwrap().value.as_slice()).unwrap());
        }
    }
    found
}

async fn sk1_people_join_change_and_leave_and_the_others_hear_it(backend: Backend) {
    let app = spawn(backend).await;
    app.organisation().await;
    let mut staff = app.staff().await;

    // A salesperson sells in a region; CR-4 reads it from the events.
    let mut seller = person("lin", pb::StaffRole::Salesperson, HOTLINE, "sue");
    seller.staff.as_mut().unwrap().sales_region = "350102".into();
    let lin = staff
        .create_staff(seller.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((lin.state(), lin.version), (pb::StaffState::Active, 1));
    let taken = staff.create_staff(seller).await.unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);

    // Bad input names its fields and writes nothing.
    let before = app.count("staff").await;
    let mut bad = person("lin two", pb::StaffRole::Salesperson, "nowhere", "nobody");
    bad.staff.as_mut().unwrap().display_name.clear();
    let refused = staff.create_staff(bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        violations(&refused),
        ["staff.id", "staff.display_name", "staff.sales_region"]
    );
    let unknown_links = staff
        .create_staff(person("lin2", pb::StaffRole::Agent, "nowhere", "nobody"))
        .await
        .unwrap_err();
    assert_eq!(
        violations(&unknown_links),
        ["staff.team_id", "staff.manager_id"]
    );
    assert_eq!(app.count("staff").await, before, "nothing written");

    // A move to another team, with the version read; a stale one is refused.
    let mut moved = lin.clone();
    moved.team_id = EMAIL.into();
    moved.manager_id = "dora".into();
    let stale = staff
        .update_staff(update(&moved, &["team_id", "manager_id"], 2))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let lin = staff
        .update_staff(update(&moved, &["team_id", "manager_id"], 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((lin.team_id.as_str(), lin.version), (EMAIL, 2));

    // No reporting loops: sue reporting to ann, who reports to sue.
    let mut sue = get(&mut staff, "sue").await;
    sue.manager_id = "ann".into();
    let looped = staff
        .update_staff(update(&sue, &["manager_id"], sue.version))
        .await
        .unwrap_err();
    assert_eq!(violations(&looped), ["staff.manager_id"]);

    // sue leads hotline and ann and bob report to her: she cannot leave before handing over.
    let sue_version = get(&mut staff, "sue").await.version;
    let held = staff
        .record_staff_departure(pb::RecordStaffDepartureRequest {
            staff_id: "sue".into(),
            expected_version: sue_version,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(held.code(), Code::FailedPrecondition);
    assert!(
        held.message().contains("team hotline"),
        "{}",
        held.message()
    );

    let left = staff
        .record_staff_departure(pb::RecordStaffDepartureRequest {
            staff_id: "lin".into(),
            expected_version: lin.version,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(left.state(), pb::StaffState::Left);
    assert!(left.leave_time.is_some());
    let again = staff
        .update_staff(update(&left, &["team_id"], left.version))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    // Nobody who left leads a team or manages anyone.
    let mut hotline = staff
        .get_team(pb::GetTeamRequest {
            team_id: HOTLINE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    hotline.supervisor_id = "lin".into();
    let gone = staff
        .update_team(pb::UpdateTeamRequest {
            team: Some(hotline.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["supervisor_id".into()],
            }),
            expected_version: hotline.version,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&gone), ["team.supervisor_id"]);

    // The events carry the profile other services route by, never a name.
    let joined = events::<pb::StaffJoined>(&app).await;
    let lin_joined = joined
        .iter()
        .find(|e| e.profile.as_ref().unwrap().staff_id == "lin")
        .unwrap();
    assert_eq!(lin_joined.profile.as_ref().unwrap().sales_region, "350102");
    let updated = events::<pb::StaffUpdated>(&app).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].changed_fields, ["team_id", "manager_id"]);
    assert_eq!(updated[0].profile.as_ref().unwrap().version, 2);
    let gone = events::<pb::StaffLeft>(&app).await;
    assert_eq!(gone.len(), 1);
    assert_eq!(
        gone[0].profile.as_ref().unwrap().state(),
        pb::StaffState::Left
    );

    // Lists page, and filter.
    let first = staff
        .list_staff(pb::ListStaffRequest {
            team_id: HOTLINE.into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.staff.len(), 1);
    let second = staff
        .list_staff(pb::ListStaffRequest {
            team_id: HOTLINE.into(),
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        [first.staff[0].id.as_str(), second.staff[0].id.as_str()],
        ["ann", "bob"]
    );
    let left_only = staff
        .list_staff(pb::ListStaffRequest {
            state: pb::StaffState::Left as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(left_only.staff.len(), 1);
}
on_both!(sk1_people_join_change_and_leave_and_the_others_hear_it);

async fn sk1_teams_nest_without_loops(backend: Backend) {
    let app = spawn(backend).await;
    app.organisation().await;
    let mut staff = app.staff().await;
    let service = staff
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "service".into(),
                display_name: "Customer service".into(),
                supervisor_id: "max".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut hotline = staff
        .get_team(pb::GetTeamRequest {
            team_id: HOTLINE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    hotline.parent_team_id = service.id.clone();
    let hotline = staff
        .update_team(pb::UpdateTeamRequest {
            team: Some(hotline.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["parent_team_id".into()],
            }),
            expected_version: hotline.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hotline.version, 2);
    let mut service = service;
    service.parent_team_id = HOTLINE.into();
    let looped = staff
        .update_team(pb::UpdateTeamRequest {
            team: Some(service.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["parent_team_id".into()],
            }),
            expected_version: service.version,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&looped), ["team.parent_team_id"]);
    // An agent cannot lead a team.
    let refused = staff
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "night".into(),
                display_name: "Night shift".into(),
                supervisor_id: "ann".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&refused), ["team.supervisor_id"]);
    let changed = events::<pb::TeamChanged>(&app).await;
    assert_eq!(
        changed.len(),
        4,
        "the organisation's two; here one made and one moved"
    );
}
on_both!(sk1_teams_nest_without_loops);

/// A customer of `region` in customer-registry.
async fn customer_in(app: &App, region: &str) -> String {
    CustomerRegistryServiceClient::new(app.as_role("max", Role::Manager, "").await)
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                kind: cpb::CustomerKind::Enterprise as i32,
                display_name: "Fuzhou Widgets".into(),
                registration_number: "91350100M000100Y43".into(),
                team_id: HOTLINE.into(),
                region: region.into(),
                contacts: vec![cpb::Contact {
                    display_name: "Li Si".into(),
                    phone: "0591-87654321".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id
}

fn assign(customer: &str, visitor: &str, region: &str, reason: &str) -> cpb::AssignOwnerRequest {
    cpb::AssignOwnerRequest {
        customer_id: customer.into(),
        owner_id: "ann".into(),
        visitor_id: visitor.into(),
        visitor_sales_region: region.into(),
        override_reason: reason.into(),
        ..Default::default()
    }
}

async fn cr4_where_a_visitor_sells_is_the_organisations_record(backend: Backend) {
    let app = spawn(backend).await;
    app.organisation().await;
    let mut staff = app.staff().await;
    let mut seller = person("lin", pb::StaffRole::Salesperson, HOTLINE, "sue");
    seller.staff.as_mut().unwrap().sales_region = "350102".into();
    let lin = staff.create_staff(seller).await.unwrap().into_inner();
    let (local, remote) = (
        customer_in(&app, "350102").await,
        customer_in(&app, "350200").await,
    );
    let mut registry =
        CustomerRegistryServiceClient::new(app.as_role("max", Role::Manager, "").await);

    // Once customer-registry has heard of lin, nobody needs to say where lin sells.
    until(30, "customer-registry knows lin", || {
        let mut registry = registry.clone();
        let remote = remote.clone();
        async move {
            registry
                .assign_owner(assign(&remote, "lin", "", ""))
                .await
                .ok()
        }
    })
    .await;
    // lin sells where the local customer is: only with a reason.
    let local_seller = registry
        .assign_owner(assign(&local, "lin", "", ""))
        .await
        .unwrap_err();
    assert_eq!(violations(&local_seller), ["override_reason"]);
    registry
        .assign_owner(assign(
            &local,
            "lin",
            "",
            "the only Mandarin and Minnan speaker",
        ))
        .await
        .unwrap();
    // Saying otherwise is refused, not believed.
    let claimed = registry
        .assign_owner(assign(&local, "lin", "350200", ""))
        .await
        .unwrap_err();
    assert_eq!(violations(&claimed), ["visitor_sales_region"]);

    // Once lin has left, lin visits nobody.
    staff
        .record_staff_departure(pb::RecordStaffDepartureRequest {
            staff_id: "lin".into(),
            expected_version: lin.version,
            ..Default::default()
        })
        .await
        .unwrap();
    let gone = until(30, "customer-registry heard lin left", || {
        let mut registry = registry.clone();
        let remote = remote.clone();
        async move {
            registry
                .assign_owner(assign(&remote, "lin", "", ""))
                .await
                .err()
        }
    })
    .await;
    assert_eq!(violations(&gone), ["visitor_id"]);
    // Someone staff-kpi does not know: the assigner's word, as before.
    registry
        .assign_owner(assign(&remote, "guest-7", "350999", ""))
        .await
        .unwrap();
}
on_both!(cr4_where_a_visitor_sells_is_the_organisations_record);
