//! X-4 and CR-9 for orders: an order's texts (streets, notes, the signer, exception
//! descriptions) are sealed in the database and in Redis and read in clear only through the
//! API; rows written before documents were sealed whole are read and sealed by the sweep;
//! after the active key changes the sweep re-seals everything under it, so the old key can be
//! retired; envelopes moved between rows never open; an erasure empties every text (CR-11).

use kefu_migrations::OrderTrackingMigrator;
use kefu_order_tracking::store::entity::orders;
use kefu_order_tracking::store::{
    self, SEALED, SEALED_DESCRIPTIONS, SEALED_DOCUMENTS, SEALED_STREETS,
};
use kefu_platform::config::{Secret, SecuritySettings};
use kefu_platform::hot::{HotStore as _, RedisHotStore};
use kefu_platform::pii::PiiCipher;
use kefu_platform::reseal::Sweep;
use kefu_proto::customer as cpb;
use kefu_proto::order as pb;
use kefu_testkit::redis_server::RedisServer;
use kefu_testkit::{holds, on_both, until};
use prost::Message as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, EntityTrait as _};
use sea_orm_migration::MigratorTrait as _;

use crate::support::{
    App, Backend, Hot, create, handover, move_to, order, redis_handle, spawn, spawn_with, to_packed,
};

const NEW_KEY: &str = "a2V5LXR3by1mb3ItdGhlLWNhbmFyeS10ZXN0LTAwMDA=";
const SIGNER: &str = "Canary Lin Xiaohong";
const NOTE: &str = "Canary note: left with the neighbour at no. 12";
const DESCRIPTION: &str = "Canary description: Mr Chen's carton crushed";
const STREET: &str = "1 Wusi Road";

fn cipher(keys: &[(&str, &str)], active: &str) -> PiiCipher {
    let defaults = kefu_platform::config::Settings::load_from(None, Some(Default::default()), &[])
        .unwrap()
        .security;
    let mut settings = SecuritySettings {
        pii_active_key: active.into(),
        pii_keys: Default::default(),
        lookup_key: defaults.lookup_key.clone(),
    };
    for (id, key) in keys {
        let key = match *key {
            "dev1" => defaults.pii_keys["dev1"].clone(),
            other => Secret::new(other),
        };
        settings.pii_keys.insert((*id).to_owned(), key);
    }
    PiiCipher::from_settings(&settings).unwrap()
}

/// One sweep of every column order-tracking seals, as its background task runs them.
async fn sweep(db: &DatabaseConnection, cipher: &PiiCipher) -> Sweep {
    let mut all = Sweep::default();
    for column in SEALED {
        let one = kefu_platform::reseal::sweep(db, cipher, column)
            .await
            .unwrap();
        all.scanned += one.scanned;
        all.resealed += one.resealed;
        all.unreadable += one.unreadable;
    }
    all
}

/// Everything order-tracking's database holds of its orders and exceptions.
async fn at_rest(app: &App) -> String {
    let mut dump = String::new();
    for table in ["orders", "order_exceptions"] {
        dump.push_str(&app.dump(kefu_order_tracking::SERVICE, table).await);
    }
    dump
}

/// An order that has every kind of text: streets, a note, an exception, a signer.
async fn delivered_with_texts(app: &App) -> pb::Order {
    let customer = app.customer().await;
    let mut orders = app.orders().await;
    let id = orders
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    orders
        .raise_exception(pb::RaiseExceptionRequest {
            order_id: id.clone(),
            kind: pb::ExceptionKind::Damage as i32,
            description: DESCRIPTION.into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    to_packed(&mut orders, &id).await;
    for state in [
        pb::OrderState::Dispatched,
        pb::OrderState::InTransit,
        pb::OrderState::Arrived,
        pb::OrderState::OutForDelivery,
    ] {
        let note = if state == pb::OrderState::Arrived {
            NOTE
        } else {
            ""
        };
        orders
            .move_order(pb::MoveOrderRequest {
                note: note.into(),
                ..move_to(&id, state)
            })
            .await
            .unwrap();
    }
    orders
        .record_handover(pb::RecordHandoverRequest {
            order_id: id,
            handover: Some(pb::Handover {
                signer_name: SIGNER.into(),
                ..handover()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// An order's document as order-tracking kept it before documents were sealed whole: in
/// clear, without its streets, which are returned apart.
async fn as_before_sealing(
    db: &DatabaseConnection,
    cipher: &PiiCipher,
    id: &str,
) -> (pb::Order, Vec<String>) {
    let row = orders::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let clear = SEALED_DOCUMENTS.open(cipher, id, &row.document_ct).unwrap();
    let mut document = pb::Order::decode(hex::decode(clear).unwrap().as_slice()).unwrap();
    let streets = [document.origin.as_mut(), document.destination.as_mut()]
        .into_iter()
        .map(|place| std::mem::take(&mut place.unwrap().street))
        .collect();
    (document, streets)
}

/// The descriptions of an order's exceptions as the store reads them.
async fn descriptions(db: &DatabaseConnection, cipher: &PiiCipher, id: &str) -> Vec<String> {
    let filter = store::ExceptionFilter {
        viewer: kefu_platform::access::Viewer::everyone(),
        order_id: Some(id.to_owned()),
        kind: None,
        after_id: None,
    };
    store::list_exceptions(db, cipher, &filter, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.description)
        .collect()
}

fn texts_of(order: &pb::Order) -> (String, String, bool) {
    (
        order.handover.clone().unwrap_or_default().signer_name,
        order
            .exceptions
            .first()
            .map(|e| e.description.clone())
            .unwrap_or_default(),
        order.history.iter().any(|c| c.note == NOTE),
    )
}

async fn x4_order_texts_are_sealed_at_rest_and_in_redis_and_read_in_clear_through_the_api(
    backend: Backend,
) {
    let redis = RedisServer::start();
    let app = spawn_with(backend, Hot::Redis(redis.url()), &[], None).await;
    let delivered = delivered_with_texts(&app).await;
    let id = delivered.id.clone();
    let read = app
        .orders()
        .await
        .get_order(pb::GetOrderRequest {
            order_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        texts_of(&read),
        (SIGNER.to_owned(), DESCRIPTION.to_owned(), true),
        "those allowed read every text"
    );
    let dump = at_rest(&app).await;
    for text in [SIGNER, NOTE, DESCRIPTION, STREET, "boxes of tea"] {
        assert!(!holds(&dump, text), "{text} in clear at rest");
    }
    let hot = RedisHotStore::new(redis_handle(&redis.url()).unwrap(), "kefu:");
    // A hot write that timed out on a busy machine is repaired in the background.
    let entry = until(10, "Redis holds the order's newest state", || async {
        let entry = hot
            .get(&kefu_order_tracking::store::hot::key(&id))
            .await
            .ok()
            .flatten()?;
        (entry.version == read.version).then_some(entry)
    })
    .await;
    let in_redis = String::from_utf8_lossy(&entry.value);
    for text in [SIGNER, NOTE, DESCRIPTION, "boxes of tea"] {
        assert!(!holds(&in_redis, text), "{text} in clear in Redis");
    }

    // An entry from before entries were sealed, at the current version: read as a miss,
    // dropped, and refilled sealed, rather than missed until its TTL.
    let key = kefu_order_tracking::store::hot::key(&id);
    hot.remove(&key).await.unwrap();
    let legacy = kefu_platform::hot::HotEntry {
        version: read.version,
        value: read.encode_to_vec(),
    };
    assert!(hot.put_if_newer(&key, &legacy, None).await.unwrap());
    let mut orders = app.orders().await;
    for _ in 0..2 {
        let again = orders
            .get_order(pb::GetOrderRequest {
                order_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(texts_of(&again), texts_of(&read));
    }
    let refilled = hot.get(&key).await.unwrap().unwrap();
    assert_eq!(refilled.version, read.version);
    assert!(refilled.value.starts_with(b"v1."), "the refill is sealed");
}
on_both!(x4_order_texts_are_sealed_at_rest_and_in_redis_and_read_in_clear_through_the_api);

// a database whose orders predate sealed documents (document in clear, streets sealed
// apart, descriptions in clear) upgrades with every order read back the same, and the sweep
// then seals what the migration could only move.
async fn x4_orders_from_before_sealed_documents_survive_the_upgrade(backend: Backend) {
    let app = spawn(backend).await;
    let id = delivered_with_texts(&app).await.id;
    let cipher = PiiCipher::from_settings(&app.settings.security).unwrap();
    let current = store::get(&app.orders_db, &cipher, &id)
        .await
        .unwrap()
        .unwrap();
    let row = orders::Entity::find_by_id(id.clone())
        .one(&app.orders_db)
        .await
        .unwrap()
        .unwrap();
    let (legacy, streets) = as_before_sealing(&app.orders_db, &cipher, &id).await;

    let database = kefu_testkit::TestDatabase::new(backend).await;
    let db = database.connect().await;
    // The event log, orders, customer access: the schema before documents were sealed.
    OrderTrackingMigrator::up(&db, Some(3)).await.unwrap();
    db.execute(
        &Query::insert()
            .into_table("orders")
            .columns([
                "id",
                "customer_id",
                "channel",
                "state",
                "tier",
                "service_level",
                "payment_status",
                "total_fen",
                "currency",
                "promised_at",
                "delivered_at",
                "delay_raised",
                "original_order_id",
                "document",
                "streets_ct",
                "version",
                "created_at",
                "updated_at",
            ])
            .values_panic([
                row.id.clone().into(),
                row.customer_id.into(),
                row.channel.into(),
                row.state.into(),
                row.tier.into(),
                row.service_level.into(),
                row.payment_status.into(),
                row.total_fen.into(),
                row.currency.into(),
                row.promised_at.into(),
                row.delivered_at.into(),
                row.delay_raised.into(),
                row.original_order_id.into(),
                legacy.encode_to_vec().into(),
                SEALED_STREETS.seal_json(&cipher, &id, &streets).into(),
                row.version.into(),
                row.created_at.into(),
                row.updated_at.into(),
            ])
            .to_owned(),
    )
    .await
    .unwrap();
    let exception = &current.exceptions[0];
    db.execute(
        &Query::insert()
            .into_table("order_exceptions")
            .columns([
                "id",
                "order_id",
                "kind",
                "description",
                "reporter_id",
                "raised_at",
            ])
            .values_panic([
                exception.id.clone().into(),
                id.clone().into(),
                "EXCEPTION_KIND_DAMAGE".into(),
                DESCRIPTION.into(),
                exception.reporter_id.clone().into(),
                exception.raised_at.into(),
            ])
            .to_owned(),
    )
    .await
    .unwrap();

    OrderTrackingMigrator::up(&db, None).await.unwrap();
    let upgraded = store::get(&db, &cipher, &id).await.unwrap().unwrap();
    assert_eq!(upgraded, current, "the order reads back the same");
    let row = orders::Entity::find_by_id(id.clone())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        holds(&row.document_ct, SIGNER),
        "moved in clear: a migration holds no key"
    );
    assert_eq!(descriptions(&db, &cipher, &id).await, [DESCRIPTION]);
    let swept = sweep(&db, &cipher).await;
    assert_eq!((swept.resealed, swept.unreadable), (2, 0));
    let row = orders::Entity::find_by_id(id.clone())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.document_ct.starts_with("v1.dev1."),
        "sealed by the sweep"
    );
    assert_eq!(
        store::get(&db, &cipher, &id).await.unwrap().unwrap(),
        current
    );
    assert_eq!(descriptions(&db, &cipher, &id).await, [DESCRIPTION]);
}
on_both!(x4_orders_from_before_sealed_documents_survive_the_upgrade);

// CR-11: customer-registry's CustomerErased empties every text of the customer's orders, in
// the database and in the hot copy, and keeps the order's codes, amounts and history.
async fn cr11_an_erased_customers_orders_keep_no_text(backend: Backend) {
    let redis = RedisServer::start();
    let app = spawn_with(backend, Hot::Redis(redis.url()), &[], None).await;
    let delivered = delivered_with_texts(&app).await;
    let id = delivered.id.clone();
    app.customers()
        .await
        .erase_customer(cpb::EraseCustomerRequest {
            customer_id: delivered.customer_id.clone(),
            legal_reference: "PIPL-2026-17".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let orders = app.orders().await;
    let erased = until(20, "the order's texts erased", || {
        let mut orders = orders.clone();
        let id = id.clone();
        async move {
            let order = orders
                .get_order(pb::GetOrderRequest { order_id: id })
                .await
                .unwrap()
                .into_inner();
            (order.version > delivered.version).then_some(order)
        }
    })
    .await;
    assert_eq!(texts_of(&erased), (String::new(), String::new(), false));
    assert!(erased.lines.iter().all(|l| l.description.is_empty()));
    assert!(erased.origin.as_ref().unwrap().street.is_empty());
    assert_eq!(erased.origin.as_ref().unwrap().city, "Fuzhou");
    assert_eq!(erased.history.len(), delivered.history.len());
    assert_eq!(erased.price, delivered.price);
    assert_eq!(erased.state(), pb::OrderState::Delivered);
    let listed = orders
        .clone()
        .list_exceptions(pb::ListExceptionsRequest {
            order_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.exceptions[0].description, "");

    // The hot copy was rewritten once the erasure committed, not left to expire.
    let hot = RedisHotStore::new(redis_handle(&redis.url()).unwrap(), "kefu:");
    let entry = hot
        .get(&kefu_order_tracking::store::hot::key(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.version, erased.version);
    let cipher = PiiCipher::from_settings(&app.settings.security).unwrap();
    let stored = store::get(&app.orders_db, &cipher, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, erased.version);
    assert!(stored.handover.unwrap().signer_name.is_empty());
    let exception_id = listed.exceptions[0].id.as_str();
    let row = app
        .orders_db
        .query_one(
            &Query::select()
                .column("description")
                .from("order_exceptions")
                .and_where(Expr::col("id").eq(exception_id))
                .to_owned(),
        )
        .await
        .unwrap()
        .unwrap();
    let description: String = row.try_get("", "description").unwrap();
    assert_eq!(
        SEALED_DESCRIPTIONS
            .open(&cipher, exception_id, &description)
            .unwrap(),
        "",
        "the stored description is empty, not only the answer"
    );
}
on_both!(cr11_an_erased_customers_orders_keep_no_text);

async fn envelope(app: &crate::support::App, id: &str) -> String {
    let select = Query::select()
        .column("document_ct")
        .from("orders")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let row = app.orders_db.query_one(&select).await.unwrap().unwrap();
    row.try_get("", "document_ct").unwrap()
}

async fn a_new_active_key_reseals_every_order_and_the_old_one_can_go(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.customer().await;
    let mut orders = app.orders().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            orders
                .create_order(create(order(&customer)))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    assert!(envelope(&app, &ids[0]).await.starts_with("v1.dev1."));

    let both = cipher(&[("dev1", "dev1"), ("k2", NEW_KEY)], "k2");
    let first = sweep(&app.orders_db, &both).await;
    assert_eq!(
        first,
        Sweep {
            scanned: 3,
            resealed: 3,
            unreadable: 0
        }
    );
    for id in &ids {
        assert!(envelope(&app, id).await.starts_with("v1.k2."), "{id}");
    }
    let again = sweep(&app.orders_db, &both).await;
    assert_eq!(again, Sweep::default(), "a second sweep reads nothing");

    let only_new = cipher(&[("k2", NEW_KEY)], "k2");
    for id in &ids {
        let stored = store::get(&app.orders_db, &only_new, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.origin.street, "1 Wusi Road");
    }

    // Another row's envelope does not open here, and the sweep leaves it for a person.
    let moved = Query::update()
        .table("orders")
        .value("document_ct", envelope(&app, &ids[1]).await)
        .and_where(Expr::col("id").eq(ids[0].as_str()))
        .to_owned();
    app.orders_db.execute(&moved).await.unwrap();
    assert!(
        store::get(&app.orders_db, &only_new, &ids[0])
            .await
            .is_err()
    );
    let newer = cipher(
        &[
            ("k2", NEW_KEY),
            ("k3", "a2V5LXRocmVlLWZvci10aGUtY2FuYXJ5LXRlc3QtMDA="),
        ],
        "k3",
    );
    let swept = sweep(&app.orders_db, &newer).await;
    assert_eq!((swept.resealed, swept.unreadable), (2, 1));

    // `_` is a LIKE wildcard: under an active key "k_", rows under "k3" still need sealing.
    let underscored = cipher(
        &[
            ("k3", "a2V5LXRocmVlLWZvci10aGUtY2FuYXJ5LXRlc3QtMDA="),
            ("k_", "dGhlLXJldGlyZWQta2V5LWlzLWdvbmUtMDAwMDAwMDA="),
        ],
        "k_",
    );
    let swept = sweep(&app.orders_db, &underscored).await;
    assert_eq!((swept.resealed, swept.unreadable), (2, 1));
    assert!(envelope(&app, &ids[2]).await.starts_with("v1.k_."));
    assert_eq!(
        sweep(&app.orders_db, &underscored).await,
        Sweep {
            scanned: 1,
            resealed: 0,
            unreadable: 1
        },
        "only the row no key opens is read again"
    );
}
on_both!(a_new_active_key_reseals_every_order_and_the_old_one_can_go);
