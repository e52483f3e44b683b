//! `kefu events`: a service's event stream from a position, caught up or followed live.

use std::time::Duration;

use clap::Args;
use futures::StreamExt as _;
use kefu_platform::config::Settings;
use kefu_platform::events::{EventSource as _, RemoteEvents};

use crate::connection::{Connection, explain};
use crate::output;

#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// The producing service (see `kefu services`).
    #[arg(long, default_value = "customer-registry", value_parser = crate::service_name)]
    service: String,
    /// Start after this position (0: from the beginning).
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Keep following live events; without it, stop once caught up.
    #[arg(long)]
    follow: bool,
    /// Only these event types (repeatable), e.g. kefu.customer.v1.CustomerCreated.
    #[arg(long = "type")]
    types: Vec<String>,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) async fn events(settings: &Settings, args: EventsArgs) -> anyhow::Result<()> {
    let producer = kefu::services(&args.service)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no service {}", args.service))?;
    let types: Vec<&str> = args.types.iter().map(String::as_str).collect();
    let source = RemoteEvents::new(
        args.connection.channel(settings, true)?,
        producer.grpc_service(),
    )?
    .only(&types);
    let mut stream = source.subscribe(args.after).await.map_err(explain)?;
    // Without --follow, a quiet second means caught up.
    let idle = if args.follow {
        Duration::MAX
    } else {
        Duration::from_secs(1)
    };
    if !args.connection.json {
        println!("POSITION  TYPE  SUBJECT  OCCURRED");
    }
    loop {
        let next = match tokio::time::timeout(idle, stream.next()).await {
            Ok(next) => next,
            Err(_) => return Ok(()),
        };
        let Some(item) = next else { return Ok(()) };
        let event = item.map_err(explain)?;
        if args.connection.json {
            println!("{}", output::json(&event)?);
        } else {
            let occurred = event
                .occurred_at
                .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            println!(
                "{}  {}  {}  {}",
                event.position, event.r#type, event.subject, occurred
            );
        }
    }
}
