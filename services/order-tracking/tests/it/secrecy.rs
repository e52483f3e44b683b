//! CR-9 for orders: after the active key changes, the sweep re-seals every order's streets
//! under it, so the old key can be retired; envelopes moved between rows never open.

use kefu_order_tracking::reseal::{Sweep, sweep};
use kefu_order_tracking::store;
use kefu_platform::config::{Secret, SecuritySettings};
use kefu_platform::pii::PiiCipher;
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};

use crate::support::{Backend, create, order, spawn};
use kefu_testkit::on_both;

const NEW_KEY: &str = "a2V5LXR3by1mb3ItdGhlLWNhbmFyeS10ZXN0LTAwMDA=";

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

async fn envelope(app: &crate::support::App, id: &str) -> String {
    let select = Query::select()
        .column("streets_ct")
        .from("orders")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let row = app.orders_db.query_one(&select).await.unwrap().unwrap();
    row.try_get("", "streets_ct").unwrap()
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
    let first = sweep(&app.orders_db, &both).await.unwrap();
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
    let again = sweep(&app.orders_db, &both).await.unwrap();
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
        .value("streets_ct", envelope(&app, &ids[1]).await)
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
    let swept = sweep(&app.orders_db, &newer).await.unwrap();
    assert_eq!((swept.resealed, swept.unreadable), (2, 1));

    // `_` is a LIKE wildcard: under an active key "k_", rows under "k3" still need sealing.
    let underscored = cipher(
        &[
            ("k3", "a2V5LXRocmVlLWZvci10aGUtY2FuYXJ5LXRlc3QtMDA="),
            ("k_", "dGhlLXJldGlyZWQta2V5LWlzLWdvbmUtMDAwMDAwMDA="),
        ],
        "k_",
    );
    let swept = sweep(&app.orders_db, &underscored).await.unwrap();
    assert_eq!((swept.resealed, swept.unreadable), (2, 1));
    assert!(envelope(&app, &ids[2]).await.starts_with("v1.k_."));
    assert_eq!(
        sweep(&app.orders_db, &underscored).await.unwrap(),
        Sweep {
            scanned: 1,
            resealed: 0,
            unreadable: 1
        },
        "only the row no key opens is read again"
    );
}
on_both!(a_new_active_key_reseals_every_order_and_the_old_one_can_go);
