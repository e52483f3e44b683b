//! CR-13: a customer's service record is one timeline of what customer-registry and
//! order-tracking did for the customer, newest first, paged, shown only to those who serve
//! the customer, and kept (anonymous) after a lawful erasure.

use std::time::Duration;

use kefu_platform::auth::Role;
use kefu_proto::common::Address;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_tests::Suite;
use tonic::Code;

fn an_order(customer_id: &str) -> opb::CreateOrderRequest {
    let place = |city: &str| Address {
        province: "Fujian".into(),
        city: city.into(),
        street: "1 Wusi Road".into(),
        ..Default::default()
    };
    opb::CreateOrderRequest {
        order: Some(opb::Order {
            customer_id: customer_id.into(),
            channel: opb::Channel::Web as i32,
            service_level: opb::ServiceLevel::Standard as i32,
            distance_km: 200,
            origin: Some(place("Fuzhou")),
            destination: Some(place("Xiamen")),
            lines: vec![opb::CargoLine {
                description: "tea".into(),
                pieces: 1,
                weight_grams: 2_000,
                volume_cm3: 3_000,
                declared_value: None,
                special: None,
            }],
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

/// Every page of the record, walked with `page_size`.
async fn whole_record(
    client: &mut CustomerRegistryServiceClient<kefu_platform::client::KefuChannel>,
    customer_id: &str,
    page_size: i32,
) -> Vec<cpb::ServiceRecordEntry> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_service_record(cpb::ListServiceRecordRequest {
                customer_id: customer_id.into(),
                page_size,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= page_size as usize);
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr13_one_timeline_across_registry_and_orders_survives_erasure() {
    let suite = Suite::on_postgres().await.unwrap();
    let mut customers = CustomerRegistryServiceClient::new(suite.channel(Role::Manager).unwrap());
    let mut orders = OrderTrackingServiceClient::new(suite.channel(Role::Manager).unwrap());
    let customer = customers
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                kind: cpb::CustomerKind::Personal as i32,
                display_name: "Lin Yi".into(),
                phone: "13912345678".into(),
                team_id: "team-east".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let order = orders
        .create_order(an_order(&customer.id))
        .await
        .unwrap()
        .into_inner();
    for to in [opb::OrderState::Verified, opb::OrderState::Cancelled] {
        orders
            .move_order(opb::MoveOrderRequest {
                order_id: order.id.clone(),
                to_state: to as i32,
                ..Default::default()
            })
            .await
            .unwrap();
    }

    // Order events reach the record through customer-registry's consumer: wait for them.
    let mut record = Vec::new();
    for _ in 0..200 {
        record = whole_record(&mut customers, &customer.id, 50).await;
        if record
            .iter()
            .filter(|e| e.source == "order-tracking")
            .count()
            == 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen: Vec<(&str, &str)> = record
        .iter()
        .map(|e| (e.source.as_str(), e.summary.as_str()))
        .collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        seen[..2],
        [
            ("order-tracking", "order moved from verified to cancelled"),
            ("order-tracking", "order moved from received to verified"),
        ],
        "newest first"
    );
    // The price is OT-3's business; the record says what it was.
    let placed = seen[2].1;
    assert!(
        seen[2].0 == "order-tracking"
            && placed.starts_with("order placed by web, ")
            && placed.ends_with(" CNY"),
        "{placed}"
    );
    assert_eq!(
        seen[3],
        ("customer-registry", "personal customer registered")
    );
    let order_subject = format!("orders/{}", order.id);
    assert!(
        record
            .iter()
            .filter(|e| e.source == "order-tracking")
            .all(|e| e.subject == order_subject && e.occur_time.is_some())
    );

    // Pages of one give the same timeline, each entry once.
    let paged = whole_record(&mut customers, &customer.id, 1).await;
    assert_eq!(paged, record);

    // An agent of another team may not read it, nor learn whether the customer exists.
    let mut stranger = CustomerRegistryServiceClient::new(suite.channel(Role::Agent).unwrap());
    let denied = stranger
        .list_service_record(cpb::ListServiceRecordRequest {
            customer_id: customer.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad_token = customers
        .list_service_record(cpb::ListServiceRecordRequest {
            customer_id: customer.id.clone(),
            page_size: 1,
            page_token: "forged".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);

    // CR-11: erasure removes the person, not the history.
    customers
        .erase_customer(cpb::EraseCustomerRequest {
            customer_id: customer.id.clone(),
            legal_reference: "PIPL-2026-7".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let after = whole_record(&mut customers, &customer.id, 50).await;
    assert_eq!(after.len(), record.len() + 1);
    assert_eq!(after[0].summary, "personal data erased");
    assert_eq!(&after[1..], &record[..]);
}
