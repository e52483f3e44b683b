//! Overload from outside: survey's `CreateQuestionnaire` (a write bound by PostgreSQL) offered
//! at ten times the rate it serves, open-loop from the bench's process, against its capacity
//! and its latency without load; health probed throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kefu_proto::survey as spb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use tokio::sync::Mutex;

use super::suite::Suite;
use super::{
    Authed, Bearer, BenchArgs, Outcome, Table, WRITERS, clients, measure, ms, percent, verdict,
};

/// Calls the bench keeps open at once, so that its own memory stays bounded whatever the
/// server does.
const MAX_OUTSTANDING: usize = 20_000;

async fn create(mut client: SurveyServiceClient<Authed>) -> Result<(), tonic::Status> {
    client
        .create_questionnaire(spb::CreateQuestionnaireRequest {
            questionnaire: Some(kefu::samples::questionnaire()),
            request_id: String::new(),
        })
        .await
        .map(|_| ())
}

/// What the open-loop offer came to.
#[derive(Default)]
struct Offered {
    sent: u64,
    served: Vec<Duration>,
    shed: Vec<Duration>,
    with_advice: u64,
    other: u64,
    /// The first failure that was not a refusal, so the figure names what it hides.
    first_other: Option<tonic::Status>,
    skipped: u64,
}

pub(crate) async fn run(suite: &Suite, args: &BenchArgs, table: &mut Table) -> anyhow::Result<()> {
    let port = suite.port("survey")?;
    let bearer = Bearer::new(&suite.token)?;
    let survey = clients(port, SurveyServiceClient::with_interceptor, &bearer).await?;
    let duration = Duration::from_secs(args.seconds);

    let unloaded = {
        let survey = survey.clone();
        measure(1, duration, move |_| {
            let client = survey[0].clone();
            async move { Outcome::from(create(client).await) }
        })
        .await
    };
    let capacity = {
        let survey = survey.clone();
        measure(WRITERS, duration, move |w| {
            let client = survey[w % survey.len()].clone();
            async move { Outcome::from(create(client).await) }
        })
        .await
    };
    let rate = 10.0 * capacity.rps();
    println!(
        "overload: CreateQuestionnaire serves {:.0}/s at {WRITERS} in flight; offering {rate:.0}/s open-loop for {} s",
        capacity.rps(),
        args.seconds
    );

    let health = tonic_health::pb::health_client::HealthClient::new(
        super::channels(port, 1).await?.remove(0),
    );
    let probing = tokio_util::sync::CancellationToken::new();
    let probe = {
        let (mut health, probing) = (health, probing.clone());
        tokio::spawn(async move {
            let (mut answered, mut failed, mut slowest) = (0u64, 0u64, Duration::ZERO);
            while !probing.is_cancelled() {
                let sent = Instant::now();
                let mut request =
                    tonic::Request::new(tonic_health::pb::HealthCheckRequest::default());
                request.set_timeout(Duration::from_secs(1));
                match health.check(request).await {
                    Ok(_) => answered += 1,
                    Err(_) => failed += 1,
                }
                slowest = slowest.max(sent.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (answered, failed, slowest)
        })
    };

    let before_mb = suite.memory(&["survey"]).first().map_or(0.0, |m| m.2);
    let offered = Arc::new(Mutex::new(Offered::default()));
    let outstanding = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut due = 0.0;
    let mut calls = Vec::new();
    let mut n = 0usize;
    while started.elapsed() < duration {
        tick.tick().await;
        due += rate / 1000.0;
        while due >= 1.0 {
            due -= 1.0;
            if outstanding.load(Ordering::Relaxed) >= MAX_OUTSTANDING {
                offered.lock().await.skipped += 1;
                continue;
            }
            outstanding.fetch_add(1, Ordering::Relaxed);
            let (client, offered, outstanding) = (
                survey[n % survey.len()].clone(),
                offered.clone(),
                outstanding.clone(),
            );
            n += 1;
            calls.push(tokio::spawn(async move {
                let sent = Instant::now();
                let answer = create(client).await;
                let took = sent.elapsed();
                let mut offered = offered.lock().await;
                offered.sent += 1;
                match answer {
                    Ok(()) => offered.served.push(took),
                    Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                        use tonic_types::StatusExt as _;
                        offered.shed.push(took);
                        if status.get_details_retry_info().is_some() {
                            offered.with_advice += 1;
                        }
                    }
                    Err(status) => {
                        offered.other += 1;
                        offered.first_other.get_or_insert(status);
                    }
                }
                outstanding.fetch_sub(1, Ordering::Relaxed);
            }));
        }
    }
    let loaded_mb = suite.memory(&["survey"]).first().map_or(0.0, |m| m.2);
    for call in calls {
        let _ = call.await;
    }
    let elapsed = started.elapsed();
    probing.cancel();
    let (answered, failed, slowest_probe) = probe.await?;
    let offered = Arc::try_unwrap(offered)
        .map_err(|_| anyhow::anyhow!("calls outlived the offer"))?
        .into_inner();

    let goodput = offered.served.len() as f64 / elapsed.as_secs_f64();
    let admitted_p99 = super::percentile(&offered.served, 99.0);
    let unloaded_p99 = unloaded.percentile(99.0);
    let shed_p99 = super::percentile(&offered.shed, 99.0);
    table.row(
        format!("CreateQuestionnaire at 10× capacity ({rate:.0}/s offered): goodput"),
        format!("{goodput:.0}/s"),
        format!("{:.0}/s at {WRITERS} in flight", capacity.rps()),
        percent(goodput, capacity.rps()),
        verdict("≥ 80%", goodput >= 0.8 * capacity.rps()),
    );
    table.row(
        "… admitted calls: p99",
        ms(admitted_p99),
        format!("{} (one client, no load)", ms(unloaded_p99)),
        format!(
            "{:.1}×",
            admitted_p99.as_secs_f64() / unloaded_p99.as_secs_f64().max(1e-9)
        ),
        verdict("≤ 3×", admitted_p99 <= unloaded_p99 * 3),
    );
    table.row(
        "… refused: RESOURCE_EXHAUSTED, p99 to refuse",
        format!(
            "{} of {} ({} with retry advice), {}; {} other failures{}{}",
            offered.shed.len(),
            offered.sent,
            offered.with_advice,
            ms(shed_p99),
            offered.other,
            offered
                .first_other
                .as_ref()
                .map_or(String::new(), |s| format!(
                    " (first: {:?} {})",
                    s.code(),
                    s.message()
                )),
            if offered.skipped > 0 {
                format!("; {} not sent (bench at its own limit)", offered.skipped)
            } else {
                String::new()
            }
        ),
        "",
        "",
        "",
    );
    table.row(
        "… health checks, memory",
        format!(
            "{answered} answered, {failed} failed, slowest {}; {before_mb:.0} → {loaded_mb:.0} MB",
            ms(slowest_probe)
        ),
        "",
        "",
        verdict("all answered", failed == 0),
    );
    Ok(())
}
