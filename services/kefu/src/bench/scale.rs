//! Reads and moves at scale: order-tracking's table is seeded to each `--scale` size in turn
//! through the bulk path (`kefu_order_tracking::store::insert_many`: copies of one order made
//! by intake, each with its own id and sealed document, 100 to a customer, no events), then
//! GetOrder of random stored orders (mostly not in the hot store), ListOrders' first page
//! filtered by customer and MoveOrder of random stored orders are loaded, and PostgreSQL's
//! plan names the index each query takes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kefu_order_tracking::store;
use kefu_platform::pii::PiiCipher;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use sea_orm::{ConnectionTrait as _, DatabaseConnection};

use super::suite::Suite;
use super::{Authed, Bearer, BenchArgs, Figures, Outcome, Table, WRITERS, clients, measure, ms};

/// Orders of one seeded customer: ListOrders' first page always has a next page.
const ORDERS_PER_CUSTOMER: u64 = 100;
/// Rows one seeding task writes before taking the next share.
const SEED_SHARE: usize = 20_000;

/// What one size measured.
struct AtSize {
    orders: u64,
    get: Figures,
    list: Figures,
    moves: Figures,
}

pub(crate) async fn run(suite: &Suite, args: &BenchArgs, table: &mut Table) -> anyhow::Result<()> {
    // `--scale 0` skips this part.
    let mut sizes: Vec<u64> = args.scale.iter().copied().filter(|n| *n > 0).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        return Ok(());
    }
    let duration = Duration::from_secs(args.seconds);
    let bearer = Bearer::new(&suite.token)?;
    let orders: Vec<OrderTrackingServiceClient<Authed>> = clients(
        suite.port("order-tracking")?,
        OrderTrackingServiceClient::with_interceptor,
        &bearer,
    )
    .await?;
    let customer = super::new_customer(suite, &bearer).await?;
    let made = super::new_orders(&orders, &customer, 1).await?.remove(0);
    let db = suite.db("order-tracking").await?;
    let cipher = PiiCipher::from_settings(&suite.settings.security)?;
    let template = store::get(&db, &cipher, &made)
        .await?
        .ok_or_else(|| anyhow::anyhow!("order {made} is not stored"))?;

    let mut seeded: Vec<String> = Vec::new();
    let moved: Arc<std::sync::Mutex<HashSet<String>>> = Arc::default();
    let mut measured = Vec::new();
    for size in sizes {
        let want = usize::try_from(size)?;
        if want > seeded.len() {
            seed(&db, &cipher, &template, &mut seeded, want).await?;
        }
        let ids = Arc::new(seeded.clone());
        let customers = (seeded.len() as u64).div_ceil(ORDERS_PER_CUSTOMER);
        let get = {
            let (orders, ids) = (orders.clone(), ids.clone());
            measure(WRITERS, duration, move |w| {
                let mut client = orders[w % orders.len()].clone();
                let order_id = ids[pick(ids.len())].clone();
                async move {
                    client
                        .get_order(opb::GetOrderRequest { order_id })
                        .await
                        .into()
                }
            })
            .await
        };
        let list = {
            let orders = orders.clone();
            measure(WRITERS, duration, move |w| {
                let mut client = orders[w % orders.len()].clone();
                let customer = seeded_customer(pick(customers as usize) as u64);
                async move {
                    client
                        .list_orders(opb::ListOrdersRequest {
                            customer_id: customer,
                            page_size: 20,
                            ..Default::default()
                        })
                        .await
                        .into()
                }
            })
            .await
        };
        let moves = {
            let (orders, ids, moved) = (orders.clone(), ids.clone(), moved.clone());
            measure(WRITERS, duration, move |w| {
                let mut client = orders[w % orders.len()].clone();
                let order_id = unmoved(&ids, &moved);
                async move {
                    let Some(order_id) = order_id else {
                        return Outcome::Exhausted;
                    };
                    client
                        .move_order(opb::MoveOrderRequest {
                            order_id,
                            to_state: opb::OrderState::Verified as i32,
                            ..Default::default()
                        })
                        .await
                        .into()
                }
            })
            .await
        };
        println!(
            "  at {size} orders: GetOrder p99 {}, ListOrders p99 {}, MoveOrder p99 {}",
            ms(get.percentile(99.0)),
            ms(list.percentile(99.0)),
            ms(moves.percentile(99.0))
        );
        measured.push(AtSize {
            orders: size,
            get,
            list,
            moves,
        });
    }

    let sizes = measured
        .iter()
        .map(|m| m.orders.to_string())
        .collect::<Vec<_>>()
        .join(" / ");
    let plans = plans(&db, &seeded).await?;
    for (what, figures, plan) in [
        (
            "GetOrder of random stored orders (mostly cold)",
            measured.iter().map(|m| &m.get).collect::<Vec<_>>(),
            &plans[0],
        ),
        (
            "ListOrders, first page of one customer",
            measured.iter().map(|m| &m.list).collect(),
            &plans[1],
        ),
        (
            "MoveOrder of random stored orders",
            measured.iter().map(|m| &m.moves).collect(),
            &plans[2],
        ),
    ] {
        let p99: Vec<Duration> = figures.iter().map(|f| f.percentile(99.0)).collect();
        let growth = p99.last().copied().unwrap_or_default().as_secs_f64()
            / p99
                .first()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                .max(1e-9);
        let refusals: String = figures.iter().map(|f| f.refusals()).collect();
        table.row(
            format!("{what}: p99 at {sizes} orders ({plan})"),
            format!(
                "{}{refusals}",
                p99.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(" / ")
            ),
            format!("the {} orders' p99", measured[0].orders),
            format!("{growth:.1}×"),
            super::verdict("≤ 2×", growth <= 2.0),
        );
    }
    Ok(())
}

fn seeded_customer(n: u64) -> String {
    format!("bench-scale-customer-{n}")
}

/// Adds copies of `template` until `seeded` holds `want` ids, `SEED_SHARE` rows a task, four
/// tasks at a time, printing progress.
async fn seed(
    db: &DatabaseConnection,
    cipher: &PiiCipher,
    template: &kefu_order_tracking::domain::Order,
    seeded: &mut Vec<String>,
    want: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let from = seeded.len();
    let mut tasks = tokio::task::JoinSet::new();
    let (mut next, mut written) = (from, 0);
    while next < want || !tasks.is_empty() {
        while next < want && tasks.len() < 4 {
            let share: Vec<_> = (next..want.min(next + SEED_SHARE))
                .map(|n| {
                    let mut order = template.clone();
                    order.id = uuid::Uuid::now_v7().to_string();
                    order.customer_id = seeded_customer(n as u64 / ORDERS_PER_CUSTOMER);
                    order
                })
                .collect();
            seeded.extend(share.iter().map(|o| o.id.clone()));
            next += share.len();
            let (db, cipher) = (db.clone(), cipher.clone());
            tasks.spawn(async move {
                store::insert_many(&db, &cipher, &share)
                    .await
                    .map(|()| share.len())
            });
        }
        if let Some(done) = tasks.join_next().await {
            let before = written;
            written += done??;
            if written / 100_000 > before / 100_000 {
                println!("  seeded {} of {want} orders", from + written);
            }
        }
    }
    // As autovacuum would soon: plans read the table's new size.
    db.execute_unprepared("ANALYZE orders").await?;
    println!(
        "  seeded {} orders in {:.1} s ({:.0} rows/s)",
        want - from,
        started.elapsed().as_secs_f64(),
        (want - from) as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A random index below `n`, without a random-number dependency.
fn pick(n: usize) -> usize {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() % n.max(1) as u64) as usize
}

/// A random stored order not moved yet, marked as moved.
fn unmoved(ids: &[String], moved: &std::sync::Mutex<HashSet<String>>) -> Option<String> {
    let mut moved = moved
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..64 {
        let id = &ids[pick(ids.len())];
        if moved.insert(id.clone()) {
            return Some(id.clone());
        }
    }
    None
}

/// The index PostgreSQL's plan takes for each of: an order by id, a customer's first page, a
/// move's row lock and update.
async fn plans(db: &DatabaseConnection, seeded: &[String]) -> anyhow::Result<Vec<String>> {
    let id = seeded.first().cloned().unwrap_or_default();
    let customer = seeded_customer(0);
    let mut named = Vec::new();
    for queries in [
        vec![format!("SELECT * FROM orders WHERE id = '{id}'")],
        vec![format!(
            "SELECT * FROM orders WHERE customer_id = '{customer}' ORDER BY id LIMIT 21"
        )],
        vec![
            format!("SELECT * FROM orders WHERE id = '{id}' FOR UPDATE"),
            format!("UPDATE orders SET version = version + 1 WHERE id = '{id}' AND version = 1"),
        ],
    ] {
        let mut indexes = Vec::new();
        for query in queries {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("EXPLAIN (FORMAT JSON) {query}"),
                ))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no plan for {query}"))?;
            let plan: serde_json::Value = row.try_get("", "QUERY PLAN")?;
            index_names(&plan, &mut indexes);
        }
        indexes.dedup();
        named.push(if indexes.is_empty() {
            "no index: a sequential scan".to_owned()
        } else {
            format!("index {}", indexes.join(", "))
        });
    }
    Ok(named)
}

fn index_names(plan: &serde_json::Value, into: &mut Vec<String>) {
    match plan {
        serde_json::Value::Object(node) => {
            for (key, value) in node {
                match (key.as_str(), value) {
                    ("Index Name", serde_json::Value::String(name)) => into.push(name.clone()),
                    _ => index_names(value, into),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| index_names(i, into)),
        _ => {}
    }
}
