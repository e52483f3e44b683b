//! Who sees which orders: an agent reaches the orders of the customers its team serves (or
//! that it owns or visits), through every RPC that names an order or a customer; a refused
//! call changes nothing. Supervisors, managers and systems reach every order. order-tracking
//! learns who serves a customer from customer-registry's answers and events.

use kefu_platform::auth::Role;
use kefu_proto::customer as cpb;
use kefu_proto::order as pb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use prost_reflect::{DescriptorPool, Kind};
use tonic::Code;

use crate::support::{App, Backend, Orders, create, handover, move_to, order, spawn, to_packed};
use kefu_testkit::on_both;

/// Every OrderTrackingService RPC whose request names an order, found in the contract: a new
/// one is in this list without anyone adding it.
fn rpcs_naming_an_order() -> Vec<String> {
    let pool = DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET).unwrap();
    let service = pool
        .get_service_by_name("kefu.order.v1.OrderTrackingService")
        .unwrap();
    service
        .methods()
        .filter(|m| {
            m.input().fields().any(|f| {
                matches!(f.name(), "order_id" | "original_order_id")
                    || matches!(f.kind(), Kind::Message(inner) if inner.get_field_by_name("customer_id").is_some())
            })
        })
        .map(|m| m.name().to_owned())
        .collect()
}

async fn agent(app: &App, subject: &str, team: &str) -> Orders {
    OrderTrackingServiceClient::new(
        app.authed(Some(app.token(subject, Role::Agent, &[], team)), None)
            .await,
    )
}

/// A customer of `team` with a delivered order (so every RPC has something to act on).
async fn customer_with_order(app: &App, team: &str) -> (String, String) {
    let customer = app
        .customers()
        .await
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                kind: cpb::CustomerKind::Enterprise as i32,
                display_name: format!("Team {team}'s customer"),
                registration_number: "91350100M000100Y43".into(),
                contacts: vec![cpb::Contact {
                    display_name: "Li Si".into(),
                    phone: "0591-87654321".into(),
                    ..Default::default()
                }],
                team_id: team.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut manager = app.orders().await;
    let id = manager
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    to_packed(&mut manager, &id).await;
    for to in [
        pb::OrderState::Dispatched,
        pb::OrderState::InTransit,
        pb::OrderState::Arrived,
        pb::OrderState::OutForDelivery,
    ] {
        manager.move_order(move_to(&id, to)).await.unwrap();
    }
    manager
        .record_handover(pb::RecordHandoverRequest {
            order_id: id.clone(),
            handover: Some(handover()),
            request_id: String::new(),
        })
        .await
        .unwrap();
    (customer, id)
}

/// Calls `rpc` about `order_id` of `customer_id`; `None` for an RPC the matrix lacks.
async fn call_about(
    rpc: &str,
    client: &mut Orders,
    customer_id: &str,
    order_id: &str,
) -> Option<Code> {
    let id = order_id.to_owned();
    let code = |r: Result<(), tonic::Status>| r.err().map_or(Code::Ok, |s| s.code());
    Some(match rpc {
        "CreateOrder" => code(
            client
                .create_order(create(order(customer_id)))
                .await
                .map(drop),
        ),
        "GetOrder" => code(
            client
                .get_order(pb::GetOrderRequest { order_id: id })
                .await
                .map(drop),
        ),
        "UpdatePaymentStatus" => code(
            client
                .update_payment_status(pb::UpdatePaymentStatusRequest {
                    order_id: id,
                    payment_status: pb::PaymentStatus::Paid as i32,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        "MoveOrder" => code(
            client
                .move_order(move_to(&id, pb::OrderState::Completed))
                .await
                .map(drop),
        ),
        "RecordPick" => code(
            client
                .record_pick(pb::RecordPickRequest {
                    order_id: id,
                    pick_lines: vec![pb::PickLine {
                        line_number: 0,
                        pieces_picked: 1,
                        ..Default::default()
                    }],
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        "ResolveShortPick" => code(
            client
                .resolve_short_pick(pb::ResolveShortPickRequest {
                    order_id: id,
                    line_number: 0,
                    resolution: "found".into(),
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        "RecordPacking" => code(
            client
                .record_packing(pb::RecordPackingRequest {
                    order_id: id,
                    packages: vec![pb::Package {
                        package_id: "P9".into(),
                        line_numbers: vec![0],
                        weight_grams: 1,
                    }],
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        "RecordHandover" => code(
            client
                .record_handover(pb::RecordHandoverRequest {
                    order_id: id,
                    handover: Some(handover()),
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        "RaiseException" => code(
            client
                .raise_exception(pb::RaiseExceptionRequest {
                    order_id: id,
                    kind: pb::ExceptionKind::Damage as i32,
                    description: "box dented".into(),
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        "ListExceptions" => code(
            client
                .list_exceptions(pb::ListExceptionsRequest {
                    order_id: id,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        "CreateReturn" => code(
            client
                .create_return(pb::CreateReturnRequest {
                    original_order_id: id,
                    reason: pb::ReturnReason::Damage as i32,
                    lines: order(customer_id).lines,
                    note: String::new(),
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        "WatchOrder" => code(
            client
                .watch_order(pb::WatchOrderRequest { order_id: id })
                .await
                .map(drop),
        ),
        _ => return None,
    })
}

const TABLES: &[&str] = &["orders", "order_exceptions", "kefu_idempotency"];

// OT-11, X-4: an agent reaches its team's customers' orders, through every RPC naming one.
async fn agents_reach_only_their_teams_customers_orders(backend: Backend) {
    let app = spawn(backend).await;
    let (their_customer, theirs) = customer_with_order(&app, "t2").await;
    let (our_customer, ours) = customer_with_order(&app, "t1").await;
    let rpcs = rpcs_naming_an_order();
    assert!(rpcs.len() >= 12, "found {rpcs:?}");

    let mut agent_1 = agent(&app, "agent-1", "t1").await;
    let mut before = Vec::new();
    for table in TABLES {
        before.push(app.dump(kefu_order_tracking::SERVICE, table).await);
    }
    let events_before = app.count("kefu_outbox").await;
    for rpc in &rpcs {
        let code = call_about(rpc, &mut agent_1, &their_customer, &theirs)
            .await
            .unwrap_or_else(|| panic!("{rpc} names an order: add it to the matrix"));
        assert_eq!(
            code,
            Code::PermissionDenied,
            "{rpc} on another team's order"
        );
    }
    for (table, before) in TABLES.iter().zip(before) {
        assert_eq!(
            app.dump(kefu_order_tracking::SERVICE, table).await,
            before,
            "{table}: a refused call changed it"
        );
    }
    assert_eq!(app.count("kefu_outbox").await, events_before, "no event");
    let missing = agent_1
        .get_order(pb::GetOrderRequest {
            order_id: "no-such-order".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing.code(),
        Code::PermissionDenied,
        "ids cannot be probed"
    );

    // The same calls on the agent's own team's order are not refused for whose it is.
    for rpc in &rpcs {
        let code = call_about(rpc, &mut agent_1, &our_customer, &ours)
            .await
            .unwrap();
        assert_ne!(
            code,
            Code::PermissionDenied,
            "{rpc} on the agent's own team's order"
        );
    }

    // Lists show an agent only what it may see; a supervisor sees everything.
    let listed = agent_1
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .orders;
    assert!(!listed.is_empty() && listed.iter().all(|o| o.customer_id == our_customer));
    let exceptions = agent_1
        .list_exceptions(pb::ListExceptionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .exceptions;
    assert!(
        exceptions.iter().all(|e| e.order_id != theirs),
        "{exceptions:?}"
    );
    let everything = app
        .orders_as(Role::Supervisor)
        .await
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .orders;
    assert!(everything.iter().any(|o| o.id == theirs));

    // An agent of no team who owns the other customer sees its orders once
    // customer-registry's event says so.
    let mut owner = agent(&app, "agent-9", "").await;
    assert_eq!(
        owner
            .get_order(pb::GetOrderRequest {
                order_id: theirs.clone()
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    app.customers()
        .await
        .assign_owner(cpb::AssignOwnerRequest {
            customer_id: their_customer.clone(),
            owner_id: "agent-9".into(),
            visitor_id: "sales-2".into(),
            visitor_is_not_salesperson: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut seen = None;
    for _ in 0..100 {
        match owner
            .get_order(pb::GetOrderRequest {
                order_id: theirs.clone(),
            })
            .await
        {
            Ok(order) => {
                seen = Some(order.into_inner());
                break;
            }
            Err(status) => assert_eq!(status.code(), Code::PermissionDenied),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen.map(|o| o.id),
        Some(theirs),
        "the owner's access arrived by event"
    );
}
on_both!(agents_reach_only_their_teams_customers_orders);
