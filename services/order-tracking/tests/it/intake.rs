//! OT-1 to OT-3 and OT-8 through the API: verification naming every bad field, prices from
//! the rate table, promises from the customer's tier, and customer-registry's answers.

use kefu_proto::order as pb;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{Backend, Hot, create, money, order, spawn, spawn_with};
use kefu_testkit::on_both;

fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

// OT-2: bad orders are refused with every field named, and nothing is written.
async fn bad_orders_name_every_field_and_write_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let mut bad = order(&customer);
    bad.channel = 0;
    bad.lines[0].weight_grams = 0;
    bad.lines.push(pb::CargoLine {
        description: "acid".into(),
        pieces: 1,
        weight_grams: 1_000,
        volume_cm3: 1_000,
        declared_value: money(100),
        special: Some(pb::SpecialCargo {
            kind: Some(pb::special_cargo::Kind::Dangerous(pb::Dangerous {
                un_number: "1830".into(),
                hazard_class: "8".into(),
                packing_group: String::new(),
            })),
        }),
    });
    let status = client.create_order(create(bad)).await.unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "order.channel",
            "order.lines[0].weight_grams",
            "order.lines[1].special.dangerous.un_number"
        ]
    );
    let unknown = client
        .create_order(create(order("no-such-customer")))
        .await
        .unwrap_err();
    assert_eq!(fields(&unknown), ["order.customer_id"]);
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("kefu_outbox").await, 0);
}
on_both!(bad_orders_name_every_field_and_write_nothing);

// OT-1, OT-3, OT-8: the channel is kept, the price follows the rate table, the promise the tier.
async fn a_valid_order_is_priced_and_promised_by_tier(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let before = chrono::Utc::now().timestamp();
    let mut fragile = order(&customer);
    fragile.channel = pb::Channel::Fax as i32;
    fragile.lines[0].special = Some(pb::SpecialCargo {
        kind: Some(pb::special_cargo::Kind::Fragile(pb::Fragile {
            handling_instructions: "this side up".into(),
        })),
    });
    let created = client
        .create_order(create(fragile))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.channel(), pb::Channel::Fax);
    assert_eq!(created.state(), pb::OrderState::Received);
    assert_eq!(created.payment_status(), pb::PaymentStatus::Unpaid);
    let price = created.price.unwrap();
    // 13 kg regional: 1,500 + 13 * 400 = 6,700; fragile +20% = 1,340.
    assert_eq!(price.distance_band, "regional");
    assert_eq!(price.surcharges[0].reason, "fragile");
    assert_eq!(price.total.unwrap().minor_units, 8_040);
    let promised = created.promised_delivery_time.unwrap().seconds;
    let hours = (promised - before) as f64 / 3600.0;
    assert!(
        (71.9..=72.1).contains(&hours),
        "a small enterprise is promised 72 h, got {hours}"
    );
    assert_eq!(
        created.origin.unwrap().street,
        "***",
        "streets never leave unmasked"
    );

    let quote = client
        .quote_price(pb::QuotePriceRequest {
            lines: order(&customer).lines,
            distance_km: 200,
            service_level: pb::ServiceLevel::Express as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        quote.total.unwrap().minor_units,
        10_050,
        "express is 150% of 6,700"
    );
}
on_both!(a_valid_order_is_priced_and_promised_by_tier);

// OT-2: an archived customer cannot order.
async fn archived_customers_cannot_order(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    app.customers()
        .await
        .archive_customer(kefu_proto::customer::ArchiveCustomerRequest {
            customer_id: customer.clone(),
            reason: "left".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let status = app
        .orders()
        .await
        .create_order(create(order(&customer)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(app.count("orders").await, 0);
}
on_both!(archived_customers_cannot_order);

// OT-2: customer-registry unreachable means UNAVAILABLE, and no order.
#[tokio::test]
async fn customer_registry_down_gives_unavailable_and_no_order() {
    // Nothing listens on port 1.
    let app = spawn_with(
        Backend::Postgres,
        Hot::None,
        &[],
        Some("http://127.0.0.1:1"),
    )
    .await;
    let status = app
        .orders()
        .await
        .create_order(create(order("any-customer")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("customer-registry"),
        "{}",
        status.message()
    );
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("kefu_outbox").await, 0);
}

// Idempotent create: a retry returns the same order; another body under the id is refused.
async fn a_retried_create_makes_one_order(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let request = pb::CreateOrderRequest {
        order: Some(order(&customer)),
        request_id: "o-1".into(),
    };
    let first = client
        .create_order(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = client.create_order(request).await.unwrap().into_inner();
    assert_eq!(first.id, again.id);
    let mut other = order(&customer);
    other.distance_km = 10;
    let status = client
        .create_order(pb::CreateOrderRequest {
            order: Some(other),
            request_id: "o-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["request_id"]);
    assert_eq!(app.count("orders").await, 1);
}
on_both!(a_retried_create_makes_one_order);
