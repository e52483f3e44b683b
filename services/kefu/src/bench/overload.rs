//! Overload from outside: survey's `CreateQuestionnaire` (a write bound by PostgreSQL) offered
//! open-loop by h2load, a process of its own, at twice and at ten times what it serves at 16
//! calls in flight; goodput counted in survey's database, admitted and refused calls timed by a light
//! probe of the bench's own, health checked throughout.

use std::time::{Duration, Instant};

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

/// The probe's pause between calls: light beside the flood, often enough to time a few
/// hundred admitted calls in a run.
const PROBE_GAP: Duration = Duration::from_millis(2);

/// Connections of the flood, each paced at its share of the offered rate, with room for
/// every call the server holds: the offer must not wait for answers.
const FLOOD_CONNECTIONS: u32 = 16;
const FLOOD_STREAMS: u32 = 1024;

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
    /// Share of the machine's cores busy, everything on it included.
    machine_busy: f64,
}

/// A point in time as the processes' CPU counters saw it.
struct Snapshot {
    questionnaires: i64,
    survey_cpu: f64,
    machine: (f64, f64),
    at: Instant,
}

async fn snapshot(suite: &Suite, db: &DatabaseConnection) -> anyhow::Result<Snapshot> {
    Ok(Snapshot {
        questionnaires: questionnaires(db).await?,
        survey_cpu: suite.cpu_seconds("survey")?,
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
    let wall = after.at.duration_since(before.at).as_secs_f64();
    let (busy, total) = (
        after.machine.0 - before.machine.0,
        after.machine.1 - before.machine.1,
    );
    Ok(Window {
        load: load?,
        served: (after.questionnaires - before.questionnaires) as f64 / seconds as f64,
        survey_cores: (after.survey_cpu - before.survey_cpu) / wall,
        machine_busy: busy / total.max(1e-9),
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
    let capacity_shape = Shape {
        connections: 4,
        streams: (WRITERS / 4) as u32,
        threads: 2,
        pace: None,
    };
    let capacity_window = served(suite, &db, &call, capacity_shape, args.seconds).await?;
    let capacity = capacity_window.served;
    let offering = |rate: f64| Shape {
        connections: FLOOD_CONNECTIONS,
        streams: FLOOD_STREAMS,
        threads: 2,
        pace: Some((rate / f64::from(FLOOD_CONNECTIONS)).ceil() as u32),
    };
    // Twice capacity first: the cores have room for the refusals there, so what goodput
    // loses is the admission limit's doing.
    let twice = served(suite, &db, &call, offering(2.0 * capacity), args.seconds).await?;
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

    let admitted_p99 = super::percentile(&probed.admitted, 99.0);
    let unloaded_p99 = unloaded.percentile(99.0);
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
            "… at 2× capacity instead ({:.0}/s offered): goodput",
            2.0 * capacity
        ),
        format!(
            "{:.0}/s; survey {:.2} cores, machine {:.0}% busy",
            twice.served,
            twice.survey_cores,
            100.0 * twice.machine_busy
        ),
        "",
        percent(twice.served, capacity),
        verdict("≥ 80%", twice.served >= 0.8 * capacity),
    );
    table.row(
        format!("… offered by h2load {flood}"),
        format!(
            "{:.0}/s answered ({:.1}× capacity); {} answered with a message, {} refused, {} failed",
            flood_load.completed_rps,
            flood_load.completed_rps / capacity.max(1e-9),
            (flood_load.rps * args.seconds as f64).round(),
            flood_load.refused,
            flood_load.failed
        ),
        "",
        "",
        verdict("≥ 9.5×", flood_load.completed_rps >= 9.5 * capacity),
    );
    table.row(
        format!(
            "… admitted calls, the probe's ({} of {} admitted): p99",
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
        "… where the cores went",
        format!(
            "survey {:.2} cores, machine {:.0}% busy; a refused call costs survey {:.0} µs",
            flooded.survey_cores,
            100.0 * flooded.machine_busy,
            per_refused * 1e6
        ),
        format!(
            "survey {:.2} cores, machine {:.0}% busy; a served call costs survey {:.0} µs",
            capacity_window.survey_cores,
            100.0 * capacity_window.machine_busy,
            per_served * 1e6
        ),
        format!(
            "{:.0} refusals a served call's CPU",
            per_served / per_refused.max(1e-9)
        ),
        "",
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
