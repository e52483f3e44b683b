//! `kefu report`: any service's business report for a local day or month, as a table,
//! protobuf JSON or CSV for a spreadsheet. The call goes through the contract's descriptors,
//! so every service of the list is reachable without code of its own here.

use clap::Args;
use kefu_platform::config::Settings;
use kefu_proto::common as pc;
use prost_reflect::DynamicMessage;

use crate::call::DynamicCodec;
use crate::connection::{Connection, explain};
use crate::output;

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The service whose report, a name of `kefu services`.
    #[arg(long)]
    service: String,
    /// A local day, YYYY-MM-DD.
    #[arg(long, conflicts_with = "month", required_unless_present = "month")]
    day: Option<String>,
    /// A local month, YYYY-MM.
    #[arg(long)]
    month: Option<String>,
    /// Comma-separated values under a header line, for spreadsheets.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) async fn report(settings: &Settings, args: ReportArgs) -> anyhow::Result<()> {
    let service = kefu::SERVICES
        .iter()
        .find(|s| s.name() == args.service)
        .ok_or_else(|| {
            let names: Vec<&str> = kefu::SERVICES.iter().map(|s| s.name()).collect();
            anyhow::anyhow!(
                "no service {}; this build has {}",
                args.service,
                names.join(", ")
            )
        })?;
    let method = output::pool()?
        .get_service_by_name(service.grpc_service())
        .and_then(|s| s.methods().find(|m| m.name() == "GetBusinessReport"))
        .ok_or_else(|| anyhow::anyhow!("{} has no GetBusinessReport", service.name()))?;
    let (period, label) = match (&args.day, &args.month) {
        (Some(day), _) => (pc::ReportPeriod::Day, day.clone()),
        (None, Some(month)) => (pc::ReportPeriod::Month, month.clone()),
        (None, None) => anyhow::bail!("give --day YYYY-MM-DD or --month YYYY-MM"),
    };
    let mut body = DynamicMessage::new(method.input());
    body.try_set_field_by_name("period", prost_reflect::Value::EnumNumber(period as i32))?;
    body.try_set_field_by_name("period_label", prost_reflect::Value::String(label))?;

    let mut grpc = tonic::client::Grpc::new(args.connection.channel(settings, false)?);
    grpc.ready()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the server: {e}"))?;
    let path = format!("/{}/GetBusinessReport", service.grpc_service()).parse()?;
    let answer = grpc
        .unary(
            args.connection.request(body)?,
            path,
            DynamicCodec(method.output()),
        )
        .await
        .map_err(explain)?
        .into_inner();
    let report: pc::BusinessReport = answer.transcode_to()?;
    if args.connection.printed_json(&report)? {
        return Ok(());
    }
    if args.csv {
        print!("{}", csv(&report));
        return Ok(());
    }
    println!(
        "{} {} (local), from {} to {}",
        report.source,
        report.period_label,
        time(report.interval.as_ref().and_then(|i| i.start_time.as_ref())),
        time(report.interval.as_ref().and_then(|i| i.end_time.as_ref())),
    );
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                r.metric.clone(),
                if r.group.is_empty() {
                    "all".to_owned()
                } else {
                    r.group.clone()
                },
                shown(r.value),
            ]
        })
        .collect();
    output::table(&["metric", "group", "value"], &rows);
    Ok(())
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(kefu_platform::time::from_timestamp).map_or_else(
        || "-".to_owned(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// A count as a whole number, anything else to four places.
fn shown(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// RFC 4180: a header, then one line per figure, values at full precision.
fn csv(report: &pc::BusinessReport) -> String {
    let period = output::enum_label(
        pc::ReportPeriod::try_from(report.period)
            .unwrap_or_default()
            .as_str_name(),
        "REPORT_PERIOD_",
    );
    let mut out = String::from("source,period,period_label,group,metric,value\r\n");
    for row in &report.rows {
        let cells = [
            report.source.as_str(),
            period.as_str(),
            report.period_label.as_str(),
            row.group.as_str(),
            row.metric.as_str(),
            &row.value.to_string(),
        ];
        let quoted: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    }
    out
}

fn field(cell: &str) -> String {
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_keeps_full_precision() {
        let report = pc::BusinessReport {
            source: "order-tracking".into(),
            period: pc::ReportPeriod::Month as i32,
            period_label: "2026-11".into(),
            rows: vec![
                pc::BusinessReportRow {
                    group: String::new(),
                    metric: "orders_received".into(),
                    value: 3.0,
                },
                pc::BusinessReportRow {
                    group: "kind=a,\"b\"".into(),
                    metric: "on_time_share".into(),
                    value: 2.0 / 3.0,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            csv(&report),
            "source,period,period_label,group,metric,value\r\n\
             order-tracking,month,2026-11,,orders_received,3\r\n\
             order-tracking,month,2026-11,\"kind=a,\"\"b\"\"\",on_time_share,0.6666666666666666\r\n"
        );
        assert_eq!(shown(3.0), "3");
        assert_eq!(shown(2.0 / 3.0), "0.6667");
    }
}
