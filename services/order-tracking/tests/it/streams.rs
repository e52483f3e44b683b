//! OT-11: the order event stream other systems consume, and WatchOrder.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt as _;
use kefu_platform::auth::Role;
use kefu_proto::order as pb;
use prost::Message as _;
use rand::Rng as _;

use crate::support::{Backend, Hot, create, move_to, order, spawn, spawn_with, to_packed};
use kefu_testkit::redis_server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_cut_off_at_100_random_points_gets_every_event_once_in_order() {
    let redis = RedisServer::start();
    let app = spawn_with(Backend::Postgres, Hot::Redis(redis.url()), &[], None).await;
    let customer = app.customer().await;

    // Producers: 40 orders moved concurrently, ~10 events each.
    let mut producers = Vec::new();
    for p in 0..4 {
        let mut client = app.orders().await;
        let customer = customer.clone();
        producers.push(tokio::spawn(async move {
            for _ in 0..10 {
                let id = client
                    .create_order(create(order(&customer)))
                    .await
                    .unwrap()
                    .into_inner()
                    .id;
                to_packed(&mut client, &id).await;
                client
                    .move_order(move_to(&id, pb::OrderState::Dispatched))
                    .await
                    .unwrap();
            }
            p
        }));
    }

    let mut consumer = app.orders_as(Role::Service).await;
    let mut seen: Vec<kefu_proto::common::Event> = Vec::new();
    let mut cursor = 0;
    let mut cuts = 0;
    let mut flushed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer stuck at {} events",
            seen.len()
        );
        let producing = producers.iter().any(|p| !p.is_finished());
        let mut stream = consumer
            .stream_events(pb::StreamEventsRequest {
                after_position: cursor,
                filter: None,
            })
            .await
            .unwrap()
            .into_inner();
        let take = rand::rng().random_range(1..12);
        let mut got = 0;
        while got < take {
            match tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
                Ok(Some(Ok(item))) => {
                    let event = item.event.unwrap();
                    cursor = event.position;
                    seen.push(event);
                    got += 1;
                }
                Ok(other) => panic!("stream broke: {other:?}"),
                Err(_) => break,
            }
        }
        drop(stream);
        cuts += 1;
        if !flushed && seen.len() > 100 {
            // Losing everything Redis holds changes nothing for the stream.
            redis.flush_all();
            flushed = true;
        }
        if !producing && got == 0 && cuts >= 100 {
            break;
        }
    }
    for p in producers {
        p.await.unwrap();
    }
    assert!(cuts >= 100 && flushed);

    let ids: HashSet<&str> = seen.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), seen.len(), "an event arrived twice");
    assert!(
        seen.windows(2).all(|w| w[0].position < w[1].position),
        "out of order"
    );
    assert_eq!(
        seen.len() as i64,
        app.count("kefu_outbox").await,
        "every event arrived"
    );
    // Per order, versions only grow.
    let mut versions: HashMap<String, i64> = HashMap::new();
    for event in seen
        .iter()
        .filter(|e| e.r#type == "kefu.order.v1.OrderMoved")
    {
        let moved =
            pb::OrderMoved::decode(event.payload.as_ref().unwrap().value.as_slice()).unwrap();
        let last = versions
            .insert(moved.order_id.clone(), moved.version)
            .unwrap_or(0);
        assert!(
            moved.version > last,
            "order {} went back from {last} to {}",
            moved.order_id,
            moved.version
        );
    }
    assert_eq!(versions.len(), 40);
    // Consumers attribute an order to the tier it was taken at from the event alone.
    for event in seen
        .iter()
        .filter(|e| e.r#type == "kefu.order.v1.OrderCreated")
    {
        let created =
            pb::OrderCreated::decode(event.payload.as_ref().unwrap().value.as_slice()).unwrap();
        assert_eq!(created.customer_tier(), kefu_proto::customer::Tier::Small);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_order_follows_one_order_until_it_ends() {
    let app = spawn(Backend::Sqlite).await;
    let customer = app.customer().await;
    let mut client = app.orders().await;
    let id = client
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut watcher = app.orders().await;
    let mut watch = watcher
        .watch_order(pb::WatchOrderRequest {
            order_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.state(), pb::OrderState::Received);

    // Another order's changes are not this watch's business.
    let other = client
        .create_order(create(order(&customer)))
        .await
        .unwrap()
        .into_inner()
        .id;
    client
        .move_order(move_to(&other, pb::OrderState::Verified))
        .await
        .unwrap();

    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
    };
    client
        .move_order(move_to(&id, pb::OrderState::Verified))
        .await
        .unwrap();
    let verified = next().await.unwrap().unwrap();
    assert_eq!(
        (verified.id.as_str(), verified.state()),
        (id.as_str(), pb::OrderState::Verified)
    );
    client
        .move_order(move_to(&id, pb::OrderState::Cancelled))
        .await
        .unwrap();
    let cancelled = next().await.unwrap().unwrap();
    assert_eq!(cancelled.state(), pb::OrderState::Cancelled);
    assert!(cancelled.version > verified.version);
    assert!(next().await.is_none(), "the watch ends at a terminal state");
}
