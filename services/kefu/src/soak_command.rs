//! `kefu soak`: the fault tests' write load against a running deployment, for as long as
//! asked, with progress as it goes; then every acknowledged write is read back.

use std::time::Duration;

use clap::Args;
use kefu_platform::config::Settings;

use crate::connection::Connection;

#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// How long to write, in seconds.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Clients per kind of write (a customer, an order, a complaint, a questionnaire, a
    /// staff member), each writing one after another.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10)]
    every: u64,
    /// Where one service is when the services are deployed apart, e.g.
    /// `--service-endpoint order-tracking=https://kefu-order-tracking:50062` (repeatable);
    /// the others are at `--endpoint`.
    #[arg(long = "service-endpoint", value_parser = service_endpoint)]
    service_endpoints: Vec<(String, String)>,
    #[command(flatten)]
    connection: Connection,
}

/// `name=url`, the name one of `kefu services`.
fn service_endpoint(s: &str) -> Result<(String, String), String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| "service=url, e.g. order-tracking=http://127.0.0.1:50062".to_owned())?;
    Ok((crate::service_name(name)?, url.to_owned()))
}

pub(crate) async fn soak(settings: &Settings, args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.seconds > 0, "--seconds: at least 1");
    anyhow::ensure!(args.clients > 0, "--clients: at least 1");
    anyhow::ensure!(args.every > 0, "--every: at least 1");
    let mut channels = std::collections::BTreeMap::new();
    for write in kefu::soak::Write::ALL {
        let service = write.service();
        let channel = match args.service_endpoints.iter().find(|(s, _)| s == service) {
            Some((_, endpoint)) => args
                .connection
                .channel_at(settings, endpoint.clone(), false)?,
            None => args.connection.channel(settings, false)?,
        };
        channels.insert(service, channel);
    }
    eprintln!(
        "soak: {} clients writing for {} s; every write is kept in a ledger and read back at the end",
        args.clients * kefu::soak::Write::ALL.len(),
        args.seconds
    );
    let findings = kefu::soak::soak(
        |service| channels[service].clone(),
        args.clients,
        Duration::from_secs(args.seconds),
        Duration::from_secs(args.every),
        |elapsed, ledger| {
            let mut refused = std::collections::BTreeMap::<String, usize>::new();
            for refusal in &ledger.refused {
                *refused.entry(format!("{:?}", refusal.code)).or_default() += 1;
            }
            eprintln!(
                "soak: {:>5} s  {} acknowledged, {} refused {refused:?}",
                elapsed.as_secs(),
                ledger.acknowledged.len(),
                ledger.refused.len(),
            );
        },
    )
    .await?;
    println!(
        "soak: {} writes acknowledged, {} read back, {} lost, {} given up; refusals {:?}; \
         acknowledged in {} ms median, {} ms p99",
        findings.acknowledged,
        findings.read_back,
        findings.lost.len(),
        findings.abandoned,
        findings.refused_by_code,
        findings.p50.as_millis(),
        findings.p99.as_millis(),
    );
    for (write, id, why) in &findings.lost {
        println!("lost: {write:?} {id}: {why}");
    }
    for refusal in &findings.undocumented {
        println!("undocumented refusal: {refusal}");
    }
    anyhow::ensure!(
        findings.clean(),
        "the soak found writes lost or given up, or refusals the API does not document"
    );
    Ok(())
}
