//! CR-2 end to end: orders taken by order-tracking move a customer across a tier in
//! customer-registry, once, with the facts recorded as the reason.

use std::time::Duration;

use kefu_proto::customer as cpb;

use sea_orm::ConnectionTrait as _;

use crate::support::{App, Backend, create, order, spawn};
use kefu_testkit::on_both;

async fn rows(app: &App, sql: &str) -> Vec<sea_orm::QueryResult> {
    app.registry_db
        .query_all_raw(sea_orm::Statement::from_string(
            app.registry_db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
}

async fn tier_after(app: &App, customer: &str, expected: cpb::Tier) -> cpb::Tier {
    let mut client = app.customers().await;
    let mut tier = cpb::Tier::Unspecified;
    for _ in 0..100 {
        tier = client
            .get_customer(cpb::GetCustomerRequest {
                customer_id: customer.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .tier();
        if tier == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tier
}

// CR-2: the third order in a calendar month makes a personal customer frequent.
async fn the_third_order_of_a_month_makes_a_personal_customer_frequent(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app
        .customers()
        .await
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                kind: cpb::CustomerKind::Personal as i32,
                display_name: "Zhang San".into(),
                phone: "13812345678".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut orders = app.orders().await;
    for _ in 0..2 {
        orders.create_order(create(order(&customer))).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        tier_after(&app, &customer, cpb::Tier::Occasional).await,
        cpb::Tier::Occasional,
        "two uses stay occasional"
    );
    orders.create_order(create(order(&customer))).await.unwrap();
    assert_eq!(
        tier_after(&app, &customer, cpb::Tier::Frequent).await,
        cpb::Tier::Frequent
    );
    orders.create_order(create(order(&customer))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let changes = rows(
        &app,
        "SELECT old_tier, new_tier, reason, manual, monthly_uses FROM tier_changes",
    )
    .await;
    assert_eq!(changes.len(), 1, "one change, not one per order");
    let change = &changes[0];
    assert_eq!(
        change.try_get::<String>("", "old_tier").unwrap(),
        "occasional"
    );
    assert_eq!(
        change.try_get::<String>("", "new_tier").unwrap(),
        "frequent"
    );
    // CR-2: the month is the calendar month in Asia/Shanghai.
    let month = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m");
    assert_eq!(
        change.try_get::<String>("", "reason").unwrap(),
        format!("3 uses in {month} (frequent from 3)")
    );
    assert!(!change.try_get::<bool>("", "manual").unwrap());
    let events = rows(
        &app,
        "SELECT event_type FROM kefu_outbox WHERE event_type = 'kefu.customer.v1.TierChanged'",
    )
    .await;
    assert_eq!(events.len(), 1);
    let uses = rows(&app, "SELECT uses FROM customer_usage").await;
    assert_eq!(
        uses[0].try_get::<i32>("", "uses").unwrap(),
        4,
        "every order counted once"
    );
}
on_both!(the_third_order_of_a_month_makes_a_personal_customer_frequent);

// CR-2: an enterprise becomes medium when its year's spend reaches 100,000 CNY.
async fn spend_past_100000_cny_makes_an_enterprise_medium(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut orders = app.orders().await;
    let heavy = || {
        let mut o = order(&customer);
        // 12,500 kg over 200 km: 1,500 + 12,500 x 400 fen = 50,015.00 CNY.
        o.lines[0].weight_grams = 12_500_000;
        o
    };
    let first = orders
        .create_order(create(heavy()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.price.unwrap().total.unwrap().minor_units, 5_001_500);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        tier_after(&app, &customer, cpb::Tier::Small).await,
        cpb::Tier::Small
    );
    orders.create_order(create(heavy())).await.unwrap();
    assert_eq!(
        tier_after(&app, &customer, cpb::Tier::Medium).await,
        cpb::Tier::Medium
    );
    let changes = rows(&app, "SELECT reason FROM tier_changes").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].try_get::<String>("", "reason").unwrap(),
        "annual logistics spend 100030.00 CNY"
    );
}
on_both!(spend_past_100000_cny_makes_an_enterprise_medium);
