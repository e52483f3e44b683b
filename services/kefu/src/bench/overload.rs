//! Overload from outside: survey's `CreateQuestionnaire` (a write bound by PostgreSQL) drawn
//! closed loop by h2load, a process of its own, then offered open loop on a timing script at
//! twice and ten times the most it served; goodput counted in survey's database, admitted and
//! refused calls timed by a light probe of the bench's own, health checked throughout.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use kefu_proto::survey as spb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use tokio_util::sync::CancellationToken;
use tonic_types::StatusExt as _;

use super::outside::{self, Call, Shape};
use super::suite::Suite;
use super::{
    Authed, Bearer, BenchArgs, Outcome, Table, WRITERS, clients, measure, ms, percent, verdict,
};

const PATH: &str = "/kefu.survey.v1.SurveyService/CreateQuestionnaire";

/// Calls in flight at which the method's curve is measured.
const CURVE: [u32; 5] = [1, 2, 4, 8, WRITERS as u32];

/// The probe's pause between calls: light beside the flood, often enough to time a few
/// hundred admitted calls in a run.
const PROBE_GAP: Duration = Duration::from_millis(2);

/// Each connection of the flood sends a call every millisecond, with room for every call the
/// server holds: the offer must not wait for answers. Many connections at a modest pace
/// rather than a few fast ones, as many independent callers would.
const CALLS_PER_CONNECTION: u32 = 1000;
const FLOOD_STREAMS: u32 = 256;

/// h2load runs a timing script about this much slower than written (measured here: 33% to
/// 47% at a call a millisecond a connection, the more the busier the machine), so the flood
/// opens this many more connections; the rate it reached is reported and checked.
const SCRIPT_LAG: f64 = 1.45;

fn request() -> spb::CreateQuestionnaireRequest {
    spb::CreateQuestionnaireRequest {
        questionnaire: Some(kefu::samples::questionnaire()),
        request_id: String::new(),
    }
}

async fn create(mut client: SurveyServiceClient<Authed>) -> Result<(), tonic::Status> {
    client.create_questionnaire(request()).await.map(|_| ())
}

/// Questionnaires in survey's database: what was served, whoever's call it was.
async fn questionnaires(db: &DatabaseConnection) -> anyhow::Result<i64> {
    Ok(db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM questionnaires",
        ))
        .await?
        .map_or(Ok(0), |row| row.try_get("", "n"))?)
}

/// What one h2load run came to, its warm-up left out.
struct Window {
    load: outside::Load,
    /// Questionnaires written a second, the probe's included.
    served: f64,
    /// Cores survey's process kept busy.
    survey_cores: f64,
    /// Cores PostgreSQL kept busy.
    postgres_cores: f64,
    /// Cores everything else kept busy: h2load, the bench's probe, whatever else runs here.
    rest_cores: f64,
    /// Share of the machine's cores busy, everything on it included.
    machine_busy: f64,
    /// The machine's cores.
    cores: f64,
}

/// A point in time as the processes' CPU counters saw it.
struct Snapshot {
    questionnaires: i64,
    survey_cpu: f64,
    postgres_cpu: f64,
    machine: (f64, f64),
    at: Instant,
}

async fn snapshot(suite: &Suite, db: &DatabaseConnection) -> anyhow::Result<Snapshot> {
    Ok(Snapshot {
        questionnaires: questionnaires(db).await?,
        survey_cpu: suite.cpu_seconds("survey")?,
        postgres_cpu: outside::postgres_cpu_seconds(),
        machine: outside::machine_cpu_seconds(),
        at: Instant::now(),
    })
}

/// h2load's `shape` for `seconds` after its second of warm-up.
async fn served(
    suite: &Suite,
    db: &DatabaseConnection,
    call: &Call,
    shape: Shape,
    seconds: u64,
) -> anyhow::Result<Window> {
    let after_warm_up = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        snapshot(suite, db).await
    };
    let (load, before) = tokio::join!(
        outside::h2load(
            suite.port("survey")?,
            call,
            Some(&suite.token),
            shape,
            seconds
        ),
        after_warm_up
    );
    let (before, after) = (before?, snapshot(suite, db).await?);
    // h2load's own clock may run past `seconds` (a paced script lags): divide by what passed.
    let wall = after.at.duration_since(before.at).as_secs_f64();
    let (busy, total) = (
        after.machine.0 - before.machine.0,
        after.machine.1 - before.machine.1,
    );
    let survey_cores = (after.survey_cpu - before.survey_cpu) / wall;
    let postgres_cores = (after.postgres_cpu - before.postgres_cpu) / wall;
    Ok(Window {
        load: load?,
        served: (after.questionnaires - before.questionnaires) as f64 / wall,
        survey_cores,
        postgres_cores,
        rest_cores: (busy / wall - survey_cores - postgres_cores).max(0.0),
        machine_busy: busy / total.max(1e-9),
        cores: total / wall,
    })
}

/// What the probe saw of the calls it sent while the flood ran.
#[derive(Default)]
struct Probed {
    admitted: Vec<Duration>,
    refused: Vec<Duration>,
    with_advice: u64,
    other: u64,
    first_other: Option<tonic::Status>,
}

/// One call at a time with a pause between, until `done`.
async fn probe(client: SurveyServiceClient<Authed>, done: CancellationToken) -> Probed {
    let mut probed = Probed::default();
    while !done.is_cancelled() {
        let sent = Instant::now();
        let answer = create(client.clone()).await;
        let took = sent.elapsed();
        match answer {
            Ok(()) => probed.admitted.push(took),
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                probed.refused.push(took);
                if status
                    .get_details_retry_info()
                    .is_some_and(|r| r.retry_delay.is_some())
                {
                    probed.with_advice += 1;
                }
            }
            Err(status) => {
                probed.other += 1;
                probed.first_other.get_or_insert(status);
            }
        }
        tokio::time::sleep(PROBE_GAP).await;
    }
    probed
}

/// Health checks every 100 ms until `done`: answered, failed, slowest.
async fn check_health(port: u16, done: CancellationToken) -> anyhow::Result<(u64, u64, Duration)> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        super::channels(port, 1).await?.remove(0),
    );
    let (mut answered, mut failed, mut slowest) = (0u64, 0u64, Duration::ZERO);
    while !done.is_cancelled() {
        let sent = Instant::now();
        let mut request = tonic::Request::new(tonic_health::pb::HealthCheckRequest::default());
        request.set_timeout(Duration::from_secs(1));
        match health.check(request).await {
            Ok(_) => answered += 1,
            Err(_) => failed += 1,
        }
        slowest = slowest.max(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((answered, failed, slowest))
}

pub(crate) async fn run(suite: &Suite, args: &BenchArgs, table: &mut Table) -> anyhow::Result<()> {
    outside::ensure_h2load().await?;
    let port = suite.port("survey")?;
    let bearer = Bearer::new(&suite.token)?;
    let survey = clients(port, SurveyServiceClient::with_interceptor, &bearer).await?;
    let db = suite.db("survey").await?;
    let duration = Duration::from_secs(args.seconds);

    let unloaded = {
        let client = survey[0].clone();
        measure(1, duration, move |_| {
            let client = client.clone();
            async move { Outcome::from(create(client).await) }
        })
        .await
    };
    let answer = survey[0]
        .clone()
        .create_questionnaire(request())
        .await?
        .into_inner();
    let call = Call::new(PATH, &request(), &answer)?;
    // The method's own curve, before any flood has taught its limit anything: what it serves
    // and how slowly, closed loop, at each number of calls in flight. The point that serves
    // most is its capacity; the best point within 3× of one call's p99 is the most any
    // admission could keep while holding admitted calls to that bound.
    let mut curve = Vec::new();
    for in_flight in CURVE {
        let connections = in_flight.min(4);
        let shape = Shape {
            connections,
            streams: in_flight / connections,
            threads: connections.min(2),
            pace: None,
        };
        curve.push((
            in_flight,
            shape,
            served(suite, &db, &call, shape, args.seconds).await?,
        ));
    }
    let (capacity_in_flight, capacity_shape, capacity_window) = curve
        .iter()
        .max_by(|a, b| a.2.served.total_cmp(&b.2.served))
        .context("a curve")?;
    let (capacity_shape, capacity) = (*capacity_shape, capacity_window.served);
    let alone_p99 = curve[0].2.load.p99;
    let within_bound = curve
        .iter()
        .filter(|(_, _, w)| w.load.p99 <= alone_p99 * 3)
        .map(|(n, _, w)| (*n, w.served))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let offering = |rate: f64| Shape {
        connections: (rate * SCRIPT_LAG / f64::from(CALLS_PER_CONNECTION)).ceil() as u32,
        streams: FLOOD_STREAMS,
        threads: 2,
        pace: Some(CALLS_PER_CONNECTION),
    };
    // Twice capacity first: the cores have more room for the refusals there, so what goodput
    // and latency lose is more the admission limit's doing.
    let done = CancellationToken::new();
    let probing = tokio::spawn(probe(survey[1].clone(), done.clone()));
    let twice = served(suite, &db, &call, offering(2.0 * capacity), args.seconds).await;
    done.cancel();
    let (twice, probed_twice) = (twice?, probing.await?);
    let rate = 10.0 * capacity;
    let flood = offering(rate);
    println!(
        "overload: CreateQuestionnaire serves {capacity:.0}/s with h2load {capacity_shape}; \
         offering {rate:.0}/s open-loop with h2load {flood} for {} s",
        args.seconds
    );

    let before_mb = suite.memory(&["survey"]).first().map_or(0.0, |m| m.2);
    let done = CancellationToken::new();
    let probing = tokio::spawn(probe(survey[1].clone(), done.clone()));
    let checking = tokio::spawn(check_health(port, done.clone()));
    let flooded = served(suite, &db, &call, flood, args.seconds).await;
    let loaded_mb = suite.memory(&["survey"]).first().map_or(0.0, |m| m.2);
    done.cancel();
    let probed = probing.await?;
    let (answered, failed, slowest_check) = checking.await??;
    let flooded = flooded?;
    let (flood_load, goodput) = (&flooded.load, flooded.served);

    let unloaded_p99 = unloaded.percentile(99.0);
    let cores = |w: &Window| {
        format!(
            "survey {:.2}, PostgreSQL {:.2}, h2load and the rest {:.2} of {:.0} cores ({:.0}% busy)",
            w.survey_cores,
            w.postgres_cores,
            w.rest_cores,
            w.cores,
            100.0 * w.machine_busy
        )
    };

    table.row(
        "CreateQuestionnaire closed loop, h2load: calls in flight → served, p99",
        curve
            .iter()
            .map(|(n, _, w)| format!("{n} → {:.0}/s, {}", w.served, ms(w.load.p99)))
            .collect::<Vec<_>>()
            .join("; "),
        "",
        "",
        "",
    );
    table.row(
        "… the most it serves with its p99 within 3× of one call in flight's",
        within_bound.map_or("none".into(), |(n, served)| {
            format!("{served:.0}/s at {n} in flight")
        }),
        format!("{capacity:.0}/s at {capacity_in_flight} in flight (capacity)"),
        within_bound.map_or(String::new(), |(_, served)| percent(served, capacity)),
        verdict(
            "≥ 80%: a limit could hold both targets",
            within_bound.is_some_and(|(_, served)| served >= 0.8 * capacity),
        ),
    );
    table.row(
        format!("CreateQuestionnaire at 10× capacity ({rate:.0}/s offered): goodput"),
        format!("{goodput:.0}/s"),
        format!(
            "{capacity:.0}/s with h2load {capacity_shape} ({} refused, {} failed)",
            capacity_window.load.refused, capacity_window.load.failed
        ),
        percent(goodput, capacity),
        verdict("≥ 80%", goodput >= 0.8 * capacity),
    );
    table.row(
        format!(
            "… at 2× capacity instead ({:.0}/s offered, {:.0}/s reached): goodput",
            2.0 * capacity,
            twice.load.completed_rps
        ),
        format!("{:.0}/s; {}", twice.served, cores(&twice)),
        "",
        percent(twice.served, capacity),
        verdict("≥ 80%", twice.served >= 0.8 * capacity),
    );
    table.row(
        format!("… offered by h2load {flood}"),
        format!(
            "{:.0}/s answered ({:.1}× capacity), {:.0}/s of them with a message; {} refused, {} failed",
            flood_load.completed_rps,
            flood_load.completed_rps / capacity.max(1e-9),
            flood_load.rps,
            flood_load.refused,
            flood_load.failed
        ),
        "",
        "",
        verdict("≥ 9.5×", flood_load.completed_rps >= 9.5 * capacity),
    );
    for (at, probed) in [("10×", &probed), ("2×", &probed_twice)] {
        let admitted_p99 = super::percentile(&probed.admitted, 99.0);
        table.row(
            format!(
                "… admitted calls at {at}, the probe's ({} of {} admitted): p99",
                probed.admitted.len(),
                probed.admitted.len() + probed.refused.len() + probed.other as usize
            ),
            ms(admitted_p99),
            format!("{} (the probe alone, no load)", ms(unloaded_p99)),
            format!(
                "{:.1}×",
                admitted_p99.as_secs_f64() / unloaded_p99.as_secs_f64().max(1e-9)
            ),
            verdict(
                "≤ 3×",
                !probed.admitted.is_empty() && admitted_p99 <= unloaded_p99 * 3,
            ),
        );
    }
    let refused_p99 = super::percentile(&probed.refused, 99.0);
    table.row(
        "… the probe's refused calls: p99 to refuse",
        format!(
            "{} ({} refused, {} with retry advice; {} other failures{})",
            ms(refused_p99),
            probed.refused.len(),
            probed.with_advice,
            probed.other,
            probed
                .first_other
                .as_ref()
                .map_or(String::new(), |s| format!(
                    ", first: {:?} {}",
                    s.code(),
                    s.message()
                )),
        ),
        "",
        "",
        verdict(
            "RESOURCE_EXHAUSTED with advice, no other failure",
            probed.other == 0 && probed.with_advice == probed.refused.len() as u64,
        ),
    );
    // survey's CPU a served call when serving is all it does; what the flood's calls cost
    // it on top, each.
    let per_served = capacity_window.survey_cores / capacity.max(1e-9);
    let refused_rate = (flood_load.completed_rps - goodput).max(1e-9);
    let per_refused = (flooded.survey_cores - goodput * per_served).max(0.0) / refused_rate;
    table.row(
        "… where the cores went at 10×",
        format!(
            "{}; a refused call costs survey {:.0} µs",
            cores(&flooded),
            per_refused * 1e6
        ),
        format!(
            "{}; a served call costs survey {:.0} µs",
            cores(capacity_window),
            per_served * 1e6
        ),
        format!(
            "{:.0} refusals a served call's CPU",
            per_served / per_refused.max(1e-9)
        ),
        "",
    );
    // What serving at capacity took of survey and PostgreSQL, against what the flood's
    // generator left them: the goodput these cores allow even were refusing free.
    let serving_cores = capacity_window.survey_cores + capacity_window.postgres_cores;
    let left = (flooded.cores - flooded.rest_cores).max(0.0);
    let room = capacity * (left / serving_cores.max(1e-9)).min(1.0);
    table.row(
        "… goodput these cores leave room for at 10×, were refusals free",
        format!(
            "{room:.0}/s: h2load and the rest leave {left:.2} cores, serving {capacity:.0}/s took {serving_cores:.2}"
        ),
        "",
        percent(room, capacity),
        verdict(
            "≥ 80%: the generator's share alone does not rule the target out",
            room >= 0.8 * capacity,
        ),
    );
    // What is left once 80% of capacity is served, shared by the calls refused meanwhile.
    let to_refuse = (flood_load.completed_rps - 0.8 * capacity).max(1e-9);
    let budget = (left - 0.8 * serving_cores).max(0.0) / to_refuse;
    table.row(
        "… what survey may spend refusing a call, for 80% at 10× on these cores",
        format!("{:.0} µs", budget * 1e6),
        format!("{:.0} µs spent", per_refused * 1e6),
        if budget > 0.0 {
            format!("{:.1}×", per_refused / budget)
        } else {
            "no budget left".into()
        },
        verdict("spent ≤ budget", per_refused <= budget),
    );
    table.row(
        "… health checks, memory",
        format!(
            "{answered} answered, {failed} failed, slowest {}; {before_mb:.0} → {loaded_mb:.0} MB",
            ms(slowest_check)
        ),
        "",
        "",
        verdict("all answered", failed == 0),
    );
    Ok(())
}
