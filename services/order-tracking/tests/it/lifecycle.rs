//! OT-4 to OT-10 through the API: an order's whole life, the gates on its moves, concurrent
//! moves, exceptions, returns, payment and the cycle-time report.

use std::time::Duration;

use sea_orm::ConnectionTrait as _;

use kefu_platform::auth::Role;
use kefu_proto::common::Interval;
use kefu_proto::order as pb;
use tonic::Code;

use crate::support::{
    App, Backend, Hot, Orders, create, handover, move_to, order, spawn, spawn_with, to_packed,
};
use kefu_testkit::{figure, on_both};

// OT-4, OT-5, OT-6: the whole life of an order, with every gate tried on the way.
async fn an_order_lives_from_intake_to_completion(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let id = client
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    let get = |id: &str| pb::GetOrderRequest {
        order_id: id.into(),
    };

    let skip = client
        .move_order(move_to(&id, pb::OrderState::Packed))
        .await
        .unwrap_err();
    assert_eq!(
        skip.code(),
        Code::FailedPrecondition,
        "RECEIVED cannot jump to PACKED"
    );
    client
        .move_order(move_to(&id, pb::OrderState::Verified))
        .await
        .unwrap();
    client
        .move_order(move_to(&id, pb::OrderState::Picking))
        .await
        .unwrap();
    let picking = client.get_order(get(&id)).await.unwrap().into_inner();
    assert_eq!(
        picking.pick_lines.len(),
        1,
        "OT-5: the pick list is made at PICKING"
    );
    assert_eq!(picking.pick_lines[0].pieces_ordered, 3);

    // OT-5: a short pick blocks packing until resolved.
    let short = pb::RecordPickRequest {
        order_id: id.clone(),
        pick_lines: vec![pb::PickLine {
            line_number: 0,
            pieces_picked: 2,
            ..Default::default()
        }],
        request_id: String::new(),
    };
    let picked = client.record_pick(short).await.unwrap().into_inner();
    assert!(picked.pick_lines[0].short);
    let package = || pb::RecordPackingRequest {
        order_id: id.clone(),
        packages: vec![pb::Package {
            package_id: "P1".into(),
            line_numbers: vec![0],
            weight_grams: 8_000,
        }],
        request_id: String::new(),
    };
    assert_eq!(
        client.record_packing(package()).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        client
            .move_order(move_to(&id, pb::OrderState::Packed))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    client
        .resolve_short_pick(pb::ResolveShortPickRequest {
            order_id: id.clone(),
            line_number: 0,
            resolution: "customer accepts two boxes".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    client.record_packing(package()).await.unwrap();
    for state in [
        pb::OrderState::Packed,
        pb::OrderState::Dispatched,
        pb::OrderState::InTransit,
        pb::OrderState::Arrived,
        pb::OrderState::OutForDelivery,
    ] {
        client.move_order(move_to(&id, state)).await.unwrap();
    }
    let cancel = client
        .move_order(move_to(&id, pb::OrderState::Cancelled))
        .await
        .unwrap_err();
    assert_eq!(
        cancel.code(),
        Code::FailedPrecondition,
        "OT-4: no cancelling after DISPATCHED"
    );

    // OT-6: delivery only through a signed handover.
    let direct = client
        .move_order(move_to(&id, pb::OrderState::Delivered))
        .await
        .unwrap_err();
    assert_eq!(direct.code(), Code::FailedPrecondition);
    let unsigned = pb::Handover {
        signer_name: String::new(),
        ..handover()
    };
    let refused = client
        .record_handover(pb::RecordHandoverRequest {
            order_id: id.clone(),
            handover: Some(unsigned),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let delivered = client
        .record_handover(pb::RecordHandoverRequest {
            order_id: id.clone(),
            handover: Some(handover()),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(delivered.state(), pb::OrderState::Delivered);
    assert_eq!(delivered.handover.unwrap().signer_name, "Wang Wu");
    let done = client
        .move_order(move_to(&id, pb::OrderState::Completed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.state(), pb::OrderState::Completed);
    let back = client
        .move_order(move_to(&id, pb::OrderState::Received))
        .await
        .unwrap_err();
    assert_eq!(
        back.code(),
        Code::FailedPrecondition,
        "nothing leaves COMPLETED"
    );

    // One event per accepted move, each move with actor, location and time (OT-4).
    let history = &done.history;
    assert_eq!(history.len(), 10, "received + 9 moves");
    assert!(
        history[1..]
            .iter()
            .all(|c| c.actor_id == "tester" && c.change_time.is_some())
    );
    assert_eq!(history[1].location, "Fuzhou hub");
    let moved = app.count_events("kefu.order.v1.OrderMoved").await;
    assert_eq!(moved, 9);
    assert_eq!(app.count_events("kefu.order.v1.HandoverSigned").await, 1);
    // Created at 1; 9 moves, a pick, a resolution and a packing list: one version each.
    assert_eq!(done.version, 13);
}
on_both!(an_order_lives_from_intake_to_completion);

// OT-4: concurrent moves on one order are serialized: exactly one of them wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_moves_on_one_order_apply_once() {
    let app = spawn(Backend::Postgres).await;
    let customer = app.customer().await;
    let id = app
        .orders()
        .await
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut client = app.orders().await;
        let request = move_to(&id, pb::OrderState::Verified);
        tasks.push(tokio::spawn(async move {
            client
                .move_order(request)
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(code) => assert_eq!(code, Code::FailedPrecondition),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(app.count_events("kefu.order.v1.OrderMoved").await, 1);
    let order = app
        .orders()
        .await
        .get_order(pb::GetOrderRequest { order_id: id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order.version, 2);
}

// OT-7, OT-9, OT-3: exceptions on the order and as events, returns linked to the original,
// payment status.
async fn exceptions_returns_and_payments(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let id = client
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    let raised = client
        .raise_exception(pb::RaiseExceptionRequest {
            order_id: id.clone(),
            kind: pb::ExceptionKind::Damage as i32,
            description: "box crushed at the hub".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(raised.kind(), pb::ExceptionKind::Damage);
    let listed = client
        .list_exceptions(pb::ListExceptionsRequest {
            order_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.exceptions, vec![raised.clone()]);
    assert_eq!(app.count_events("kefu.order.v1.ExceptionRaised").await, 1);
    let no_kind = client
        .raise_exception(pb::RaiseExceptionRequest {
            order_id: id.clone(),
            kind: 0,
            description: "x".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_kind.code(), Code::InvalidArgument);

    let paid = client
        .update_payment_status(pb::UpdatePaymentStatusRequest {
            order_id: id.clone(),
            payment_status: pb::PaymentStatus::Paid as i32,
            amount: crate::support::money(6_700),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paid.payment_status(), pb::PaymentStatus::Paid);

    // OT-9: only a delivered order comes back, and the original stays as it was.
    let mut lines = order(&customer).lines;
    lines[0].pieces = 1;
    let ret = |lines: Vec<pb::CargoLine>| pb::CreateReturnRequest {
        original_order_id: id.clone(),
        reason: pb::ReturnReason::Damage as i32,
        lines,
        note: "crushed box".into(),
        request_id: String::new(),
    };
    assert_eq!(
        client
            .create_return(ret(lines.clone()))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    to_packed(&mut client, &id).await;
    for state in [
        pb::OrderState::Dispatched,
        pb::OrderState::InTransit,
        pb::OrderState::Arrived,
        pb::OrderState::OutForDelivery,
    ] {
        client.move_order(move_to(&id, state)).await.unwrap();
    }
    let delivered = client
        .record_handover(pb::RecordHandoverRequest {
            order_id: id.clone(),
            handover: Some(crate::support::handover()),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut too_many = lines.clone();
    too_many[0].pieces = 9;
    assert_eq!(
        client
            .create_return(ret(too_many))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let returned = client.create_return(ret(lines)).await.unwrap().into_inner();
    assert_eq!(returned.original_order_id, id);
    assert_eq!(returned.return_reason(), pb::ReturnReason::Damage);
    assert_eq!(returned.state(), pb::OrderState::Received);
    assert_eq!(
        returned.origin.as_ref().unwrap().city,
        "Xiamen",
        "goods go back"
    );
    let original = client
        .get_order(pb::GetOrderRequest {
            order_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        original.history, delivered.history,
        "the original's history is intact"
    );
    assert_eq!(app.count_events("kefu.order.v1.ReturnCreated").await, 1);
}
on_both!(exceptions_returns_and_payments);

/// A new order of `customer` taken all the way to a signed handover.
async fn delivered_order(client: &mut Orders, customer: &str) -> String {
    let id = client
        .create_order(create(order(customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    to_packed(client, &id).await;
    for state in [
        pb::OrderState::Dispatched,
        pb::OrderState::InTransit,
        pb::OrderState::Arrived,
        pb::OrderState::OutForDelivery,
    ] {
        client.move_order(move_to(&id, state)).await.unwrap();
    }
    client
        .record_handover(pb::RecordHandoverRequest {
            order_id: id.clone(),
            handover: Some(crate::support::handover()),
            request_id: String::new(),
        })
        .await
        .unwrap();
    id
}

// OT-10: delivered orders appear in the cycle-time report by channel, tier and period.
async fn delivered_orders_show_in_the_cycle_time_report(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let mut delivered = Vec::new();
    for _ in 0..3 {
        delivered.push(delivered_order(&mut client, &customer).await);
    }
    client.create_order(create(order(&customer))).await.unwrap();
    // Deliveries that took 1, 2 and 10 hours, so the median and the 90th percentile are
    // told apart: as if each handover had come that long after intake.
    for (id, hours) in delivered.iter().zip([1, 10, 2]) {
        let received = client
            .get_order(pb::GetOrderRequest {
                order_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .create_time
            .unwrap();
        let received =
            chrono::DateTime::from_timestamp(received.seconds, received.nanos as u32).unwrap();
        let db = &app.orders_db;
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE orders SET delivered_at = $1 WHERE id = $2",
            [
                (received + chrono::Duration::hours(hours)).into(),
                id.as_str().into(),
            ],
        ))
        .await
        .unwrap();
    }
    let now = chrono::Utc::now().timestamp();
    let interval = Interval {
        start_time: Some(prost_types::Timestamp {
            seconds: now - 3600,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: now + 3600,
            nanos: 0,
        }),
    };
    let mut supervisor = app.orders_as(Role::Supervisor).await;
    let report = supervisor
        .get_cycle_time_report(pb::GetCycleTimeReportRequest {
            interval: Some(interval),
            period: pb::CycleTimePeriod::Day as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.rows.len(), 1);
    let row = &report.rows[0];
    assert_eq!(
        (row.channel(), row.tier.as_str(), row.order_count),
        (pb::Channel::Phone, "TIER_SMALL", 3)
    );
    assert_eq!(
        row.median_seconds,
        2 * 3600,
        "the middle of 1, 2 and 10 hours"
    );
    assert_eq!(row.p90_seconds, 10 * 3600, "nearest rank: the 3rd of 3");
    let mut agent = app.orders_as(Role::Agent).await;
    let denied = agent
        .get_cycle_time_report(pb::GetCycleTimeReportRequest {
            interval: Some(interval),
            period: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = supervisor
        .get_cycle_time_report(pb::GetCycleTimeReportRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}
on_both!(delivered_orders_show_in_the_cycle_time_report);

/// Moves an order's times to `received` (UTC), delivered `hours` later and promised five
/// hours after intake, as if it had lived on that day; its exceptions raised an hour in.
async fn lived_on(app: &App, id: &str, received: &str, hours: Option<i64>) {
    let received: chrono::DateTime<chrono::Utc> = received.parse().unwrap();
    let db = &app.orders_db;
    let delivered = hours.map(|h| received + chrono::Duration::hours(h));
    for (sql, values) in [
        (
            "UPDATE orders SET created_at = $1, promised_at = $2, delivered_at = $3 WHERE id = $4",
            vec![
                received.into(),
                (received + chrono::Duration::hours(5)).into(),
                delivered.into(),
                id.into(),
            ],
        ),
        (
            "UPDATE order_exceptions SET raised_at = $1 WHERE order_id = $2",
            vec![(received + chrono::Duration::hours(1)).into(), id.into()],
        ),
    ] {
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await
        .unwrap();
    }
}

// a local day's orders by channel and state, deliveries on time, cycle times and
// exceptions; a month holds its days; supervisors and managers read it, agents do not.
async fn x3_the_business_report_sums_up_a_local_day_of_orders(backend: Backend) {
    use kefu_proto::common::ReportPeriod;
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    // 2026-01-15 in Shanghai is [2026-01-14T16:00Z, 2026-01-15T16:00Z).
    let mut ids = Vec::new();
    for hours in [1, 10, 2] {
        let id = delivered_order(&mut client, &customer).await;
        lived_on(&app, &id, "2026-01-15T01:00:00Z", Some(hours)).await;
        ids.push(id);
    }
    client
        .raise_exception(pb::RaiseExceptionRequest {
            order_id: ids[1].clone(),
            kind: pb::ExceptionKind::Damage as i32,
            description: "box crushed at the hub".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    lived_on(&app, &ids[1], "2026-01-15T01:00:00Z", Some(10)).await;
    let waiting = client
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    lived_on(&app, &waiting, "2026-01-14T16:00:00Z", None).await;
    let outside = client
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    lived_on(&app, &outside, "2026-01-15T16:00:00Z", None).await;

    let mut supervisor = app.orders_as(Role::Supervisor).await;
    let day = supervisor
        .get_business_report(pb::GetBusinessReportRequest {
            period: ReportPeriod::Day as i32,
            period_label: "2026-01-15".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(day.source, "order-tracking");
    let expected = [
        ("", "orders_received", 4.0),
        ("channel=phone", "orders_received", 4.0),
        ("state=delivered", "orders_received", 3.0),
        ("state=received", "orders_received", 1.0),
        ("", "returns_received", 0.0),
        ("", "orders_delivered", 3.0),
        ("", "cycle_time_median_seconds", 7200.0),
        ("", "cycle_time_p90_seconds", 36000.0),
        ("", "exceptions_raised", 1.0),
        ("kind=damage", "exceptions_raised", 1.0),
    ];
    for (group, metric, value) in expected {
        assert_eq!(figure(&day, group, metric), Some(value), "{group} {metric}");
    }
    // Delivered within the promised five hours: 1 and 2 hours of 1, 10 and 2.
    let on_time = figure(&day, "", "delivered_on_time_share").unwrap();
    assert!((on_time - 2.0 / 3.0).abs() < 1e-9, "{on_time}");

    let month = supervisor
        .get_business_report(pb::GetBusinessReportRequest {
            period: ReportPeriod::Month as i32,
            period_label: "2026-01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(figure(&month, "", "orders_received"), Some(5.0));
    assert_eq!(figure(&month, "", "orders_delivered"), Some(3.0));

    let mut agent = app.orders_as(Role::Agent).await;
    let denied = agent
        .get_business_report(pb::GetBusinessReportRequest {
            period: ReportPeriod::Day as i32,
            period_label: "2026-01-15".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = supervisor
        .get_business_report(pb::GetBusinessReportRequest {
            period: ReportPeriod::Day as i32,
            period_label: "15/01/2026".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}
on_both!(x3_the_business_report_sums_up_a_local_day_of_orders);

// OT-8: a passed promise raises one delay exception by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_promise_raises_one_delay_by_itself() {
    let app = spawn_with(
        Backend::Postgres,
        Hot::InProcess,
        &[
            (
                "KEFU__CUSTOMER_REGISTRY__SERVICE_PLANS__SMALL__PROMISED_DELIVERY_HOURS",
                "0",
            ),
            ("KEFU__ORDER_TRACKING__DELAY_CHECK_INTERVAL_MS", "50"),
        ],
        None,
    )
    .await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let id = client
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut delays = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let order = client
            .get_order(pb::GetOrderRequest {
                order_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        delays = order
            .exceptions
            .iter()
            .filter(|e| e.kind() == pb::ExceptionKind::Delay)
            .count();
        if delays > 0 {
            break;
        }
    }
    assert_eq!(delays, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.count("order_exceptions").await,
        1,
        "raised once, not every pass"
    );
    assert_eq!(app.count_events("kefu.order.v1.ExceptionRaised").await, 1);
}
