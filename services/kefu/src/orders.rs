//! `kefu orders`: a subcommand for every order-tracking RPC, `watch` following one order live.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use futures::StreamExt as _;
use kefu_platform::config::Settings;
use kefu_proto::common as pc;
use kefu_proto::order as pb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;

use crate::connection::{Connection, explain};
use crate::output::{self, enum_label, named, parse_time, yuan};

#[derive(Debug, Subcommand)]
pub(crate) enum OrdersCommand {
    /// Takes an order (OT-1, OT-2); the customer must be active.
    Create {
        #[arg(long)]
        customer: String,
        /// counter, phone, fax, web, email or api.
        #[arg(long, default_value = "api")]
        channel: String,
        /// economy, standard or express.
        #[arg(long, default_value = "standard")]
        service_level: String,
        #[arg(long)]
        distance_km: i32,
        /// "province,city[,district,street,postal_code]".
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// "description,pieces,weight_grams,volume_cm3[,declared_value_fen]" (repeatable).
        #[arg(long = "line")]
        lines: Vec<String>,
        /// The whole Order as protobuf JSON, instead of the flags.
        #[arg(long)]
        body: Option<String>,
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows one order, its price, picks, packages, handover, exceptions and history.
    Get {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists orders, of a customer or in a state.
    List {
        #[arg(long)]
        customer: Option<String>,
        /// received, verified, ..., completed, cancelled.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Prices cargo without taking an order (OT-3).
    Quote {
        #[arg(long = "line")]
        lines: Vec<String>,
        #[arg(long)]
        distance_km: i32,
        #[arg(long, default_value = "standard")]
        service_level: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// One lifecycle move (OT-4), e.g. --to verified.
    Move {
        id: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        location: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long, default_value_t = 0)]
        expected_version: i64,
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records payment (OT-3): unpaid, paid, on_account, refunded.
    Pay {
        id: String,
        #[arg(long)]
        status: String,
        #[arg(long)]
        amount_fen: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records what was picked (OT-5): --line LINE=PIECES (repeatable).
    Pick {
        id: String,
        #[arg(long = "line")]
        lines: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Settles a short pick (OT-5).
    ResolveShort {
        id: String,
        #[arg(long)]
        line: i32,
        #[arg(long)]
        resolution: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records the packing list (OT-5): --package "ID:LINE,LINE:WEIGHT_GRAMS" (repeatable).
    Pack {
        id: String,
        #[arg(long = "package")]
        packages: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// The signed handover (OT-6); delivers the order and notifies the customer.
    Handover {
        id: String,
        #[arg(long = "document")]
        documents: Vec<String>,
        #[arg(long)]
        handed_by: String,
        #[arg(long)]
        signer: String,
        #[arg(long)]
        proof: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records damage, loss, delay or handover_dispute (OT-7).
    Exception {
        id: String,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        description: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists exceptions, of one order or all.
    Exceptions {
        /// One order's; without it, those of every order the caller may see.
        #[arg(long)]
        order: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// A return order linked to a delivered one (OT-9): reason discrepancy, damage, shortage.
    Return {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long = "line")]
        lines: Vec<String>,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Cycle time RECEIVED to DELIVERED per channel, tier and period (OT-10).
    Report {
        /// RFC 3339 or a date, e.g. 2026-11-01.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// day, week or month.
        #[arg(long, default_value = "day")]
        period: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Follows one order live until it completes or is cancelled (OT-11).
    Watch {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

fn place(text: &str) -> pc::Address {
    let parts: Vec<String> = text.splitn(5, ',').map(|p| p.trim().to_owned()).collect();
    let part = |i: usize| parts.get(i).cloned().unwrap_or_default();
    pc::Address {
        label: String::new(),
        province: part(0),
        city: part(1),
        district: part(2),
        street: part(3),
        postal_code: part(4),
    }
}

fn cargo_line(text: &str) -> anyhow::Result<pb::CargoLine> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() < 4 {
        bail!("--line {text:?}: description,pieces,weight_grams,volume_cm3[,declared_value_fen]");
    }
    Ok(pb::CargoLine {
        description: parts[0].to_owned(),
        pieces: parts[1]
            .parse()
            .with_context(|| format!("pieces in {text:?}"))?,
        weight_grams: parts[2]
            .parse()
            .with_context(|| format!("weight in {text:?}"))?,
        volume_cm3: parts[3]
            .parse()
            .with_context(|| format!("volume in {text:?}"))?,
        declared_value: match parts.get(4) {
            Some(fen) => Some(pc::Money {
                currency_code: "CNY".into(),
                minor_units: fen.parse().with_context(|| format!("value in {text:?}"))?,
            }),
            None => None,
        },
        special: None,
    })
}

fn print_order(order: &pb::Order, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(order)?);
        return Ok(());
    }
    let promised = output::time(order.promised_delivery_time);
    let rows = [
        ("id", order.id.clone()),
        ("customer", order.customer_id.clone()),
        (
            "state",
            enum_label(order.state().as_str_name(), "ORDER_STATE_"),
        ),
        (
            "channel",
            enum_label(order.channel().as_str_name(), "CHANNEL_"),
        ),
        (
            "price",
            yuan(order.price.as_ref().and_then(|p| p.total.as_ref())),
        ),
        (
            "payment",
            enum_label(order.payment_status().as_str_name(), "PAYMENT_STATUS_"),
        ),
        ("promised", promised),
        ("version", order.version.to_string()),
        ("return of", order.original_order_id.clone()),
    ];
    for (key, value) in rows.into_iter().filter(|(_, v)| !v.is_empty()) {
        println!("{key:<10} {value}");
    }
    for pick in &order.pick_lines {
        let short = if pick.short {
            format!(" SHORT {}", pick.resolution)
        } else {
            String::new()
        };
        println!(
            "pick       line {}: {}/{}{short}",
            pick.line_number, pick.pieces_picked, pick.pieces_ordered
        );
    }
    for package in &order.packages {
        println!(
            "package    {} lines {:?} {} g",
            package.package_id, package.line_numbers, package.weight_grams
        );
    }
    if let Some(h) = &order.handover {
        println!(
            "handover   signed by {} (handed by {}), proof {}",
            h.signer_name, h.handed_by, h.proof_uri
        );
    }
    for e in &order.exceptions {
        println!(
            "exception  {} {}",
            enum_label(e.kind().as_str_name(), "EXCEPTION_KIND_"),
            e.description
        );
    }
    for change in &order.history {
        let at = output::time(change.change_time);
        println!(
            "history    {at} {} by {} {} {}",
            enum_label(change.to_state().as_str_name(), "ORDER_STATE_"),
            change.actor_id,
            change.location,
            change.note
        );
    }
    Ok(())
}

pub(crate) async fn orders(settings: &Settings, command: OrdersCommand) -> anyhow::Result<()> {
    let client = |connection: &Connection,
                  streaming: bool|
     -> anyhow::Result<OrderTrackingServiceClient<_>> {
        Ok(OrderTrackingServiceClient::new(
            connection.channel(settings, streaming)?,
        ))
    };
    match command {
        OrdersCommand::Create {
            customer,
            channel,
            service_level,
            distance_km,
            from,
            to,
            lines,
            body,
            request_id,
            connection,
        } => {
            let order = match body {
                Some(json) => {
                    output::from_json(&json).context("--body is not an Order in protobuf JSON")?
                }
                None => pb::Order {
                    customer_id: customer,
                    channel: named(&channel, "CHANNEL_", pb::Channel::from_str_name)? as i32,
                    service_level: named(
                        &service_level,
                        "SERVICE_LEVEL_",
                        pb::ServiceLevel::from_str_name,
                    )? as i32,
                    distance_km,
                    origin: Some(place(&from)),
                    destination: Some(place(&to)),
                    lines: lines
                        .iter()
                        .map(|l| cargo_line(l))
                        .collect::<anyhow::Result<_>>()?,
                    ..Default::default()
                },
            };
            let request = connection.request(pb::CreateOrderRequest {
                order: Some(order),
                request_id: request_id.unwrap_or_default(),
            })?;
            let order = client(&connection, false)?
                .create_order(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::Get { id, connection } => {
            let request = connection.request(pb::GetOrderRequest { order_id: id })?;
            let order = client(&connection, false)?
                .get_order(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::List {
            customer,
            state,
            page_size,
            page_token,
            connection,
        } => {
            let state = match state {
                Some(s) => named(&s, "ORDER_STATE_", pb::OrderState::from_str_name)? as i32,
                None => 0,
            };
            let request = connection.request(pb::ListOrdersRequest {
                page_size,
                page_token,
                customer_id: customer.unwrap_or_default(),
                state,
                channel: 0,
            })?;
            let page = client(&connection, false)?
                .list_orders(request)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.orders,
                &page.next_page_token,
                &["ID", "CUSTOMER", "STATE", "CHANNEL", "PRICE", "VERSION"],
                |o| {
                    vec![
                        o.id.clone(),
                        o.customer_id.clone(),
                        enum_label(o.state().as_str_name(), "ORDER_STATE_"),
                        enum_label(o.channel().as_str_name(), "CHANNEL_"),
                        yuan(o.price.as_ref().and_then(|p| p.total.as_ref())),
                        o.version.to_string(),
                    ]
                },
            )
        }
        OrdersCommand::Quote {
            lines,
            distance_km,
            service_level,
            connection,
        } => {
            let request = connection.request(pb::QuotePriceRequest {
                lines: lines
                    .iter()
                    .map(|l| cargo_line(l))
                    .collect::<anyhow::Result<_>>()?,
                distance_km,
                service_level: named(
                    &service_level,
                    "SERVICE_LEVEL_",
                    pb::ServiceLevel::from_str_name,
                )? as i32,
            })?;
            let price = client(&connection, false)?
                .quote_price(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&price)? {
                return Ok(());
            }
            println!(
                "chargeable  {} g, band {}",
                price.chargeable_weight_grams, price.distance_band
            );
            println!("base        {}", yuan(price.base.as_ref()));
            println!("weight      {}", yuan(price.weight_charge.as_ref()));
            println!("level       {}", yuan(price.service_level_charge.as_ref()));
            for s in &price.surcharges {
                println!("{:<11} {}", s.reason, yuan(s.amount.as_ref()));
            }
            println!("total       {}", yuan(price.total.as_ref()));
            Ok(())
        }
        OrdersCommand::Move {
            id,
            to,
            location,
            note,
            expected_version,
            request_id,
            connection,
        } => {
            let request = connection.request(pb::MoveOrderRequest {
                order_id: id,
                to_state: named(&to, "ORDER_STATE_", pb::OrderState::from_str_name)? as i32,
                expected_version,
                location,
                note,
                request_id: request_id.unwrap_or_default(),
            })?;
            let order = client(&connection, false)?
                .move_order(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::Pay {
            id,
            status,
            amount_fen,
            connection,
        } => {
            let request = connection.request(pb::UpdatePaymentStatusRequest {
                order_id: id,
                payment_status: named(&status, "PAYMENT_STATUS_", pb::PaymentStatus::from_str_name)?
                    as i32,
                amount: amount_fen.map(|fen| pc::Money {
                    currency_code: "CNY".into(),
                    minor_units: fen,
                }),
                request_id: String::new(),
            })?;
            let order = client(&connection, false)?
                .update_payment_status(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::Pick {
            id,
            lines,
            connection,
        } => {
            let pick_lines = lines
                .iter()
                .map(|l| {
                    let (line, pieces) = l
                        .split_once('=')
                        .with_context(|| format!("--line {l:?}: LINE=PIECES"))?;
                    Ok(pb::PickLine {
                        line_number: line.trim().parse()?,
                        pieces_picked: pieces.trim().parse()?,
                        ..Default::default()
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let request = connection.request(pb::RecordPickRequest {
                order_id: id,
                pick_lines,
                request_id: String::new(),
            })?;
            let order = client(&connection, false)?
                .record_pick(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::ResolveShort {
            id,
            line,
            resolution,
            connection,
        } => {
            let request = connection.request(pb::ResolveShortPickRequest {
                order_id: id,
                line_number: line,
                resolution,
                request_id: String::new(),
            })?;
            let order = client(&connection, false)?
                .resolve_short_pick(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::Pack {
            id,
            packages,
            connection,
        } => {
            let packages = packages
                .iter()
                .map(|p| {
                    let parts: Vec<&str> = p.split(':').collect();
                    if parts.len() != 3 {
                        bail!("--package {p:?}: ID:LINE,LINE:WEIGHT_GRAMS");
                    }
                    let line_numbers = parts[1]
                        .split(',')
                        .map(|n| n.trim().parse())
                        .collect::<Result<_, _>>()?;
                    Ok(pb::Package {
                        package_id: parts[0].to_owned(),
                        line_numbers,
                        weight_grams: parts[2].trim().parse()?,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let request = connection.request(pb::RecordPackingRequest {
                order_id: id,
                packages,
                request_id: String::new(),
            })?;
            let order = client(&connection, false)?
                .record_packing(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::Handover {
            id,
            documents,
            handed_by,
            signer,
            proof,
            connection,
        } => {
            let handover = pb::Handover {
                document_numbers: documents,
                handed_by,
                signer_name: signer,
                sign_time: Some(prost_types::Timestamp {
                    seconds: chrono::Utc::now().timestamp(),
                    nanos: 0,
                }),
                proof_uri: proof,
            };
            let request = connection.request(pb::RecordHandoverRequest {
                order_id: id,
                handover: Some(handover),
                request_id: String::new(),
            })?;
            let order = client(&connection, false)?
                .record_handover(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::Exception {
            id,
            kind,
            description,
            connection,
        } => {
            let request = connection.request(pb::RaiseExceptionRequest {
                order_id: id,
                kind: named(&kind, "EXCEPTION_KIND_", pb::ExceptionKind::from_str_name)? as i32,
                description,
                request_id: String::new(),
            })?;
            let exception = client(&connection, false)?
                .raise_exception(request)
                .await
                .map_err(explain)?
                .into_inner();
            println!(
                "{}",
                if connection.json {
                    output::json(&exception)?
                } else {
                    format!("exception {} recorded", exception.id)
                }
            );
            Ok(())
        }
        OrdersCommand::Exceptions { order, connection } => {
            let request = connection.request(pb::ListExceptionsRequest {
                order_id: order.unwrap_or_default(),
                ..Default::default()
            })?;
            let page = client(&connection, false)?
                .list_exceptions(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page
                .exceptions
                .iter()
                .map(|e| {
                    vec![
                        e.order_id.clone(),
                        enum_label(e.kind().as_str_name(), "EXCEPTION_KIND_"),
                        e.reporter_id.clone(),
                        e.description.clone(),
                    ]
                })
                .collect();
            output::table(&["ORDER", "KIND", "REPORTER", "DESCRIPTION"], &rows);
            Ok(())
        }
        OrdersCommand::Return {
            id,
            reason,
            lines,
            note,
            connection,
        } => {
            let request = connection.request(pb::CreateReturnRequest {
                original_order_id: id,
                reason: named(&reason, "RETURN_REASON_", pb::ReturnReason::from_str_name)? as i32,
                lines: lines
                    .iter()
                    .map(|l| cargo_line(l))
                    .collect::<anyhow::Result<_>>()?,
                note,
                request_id: String::new(),
            })?;
            let order = client(&connection, false)?
                .create_return(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_order(&order, connection.json)
        }
        OrdersCommand::Report {
            from,
            to,
            period,
            connection,
        } => {
            let request = connection.request(pb::GetCycleTimeReportRequest {
                interval: Some(pc::Interval {
                    start_time: Some(parse_time(&from)?),
                    end_time: Some(parse_time(&to)?),
                }),
                period: named(
                    &period,
                    "CYCLE_TIME_PERIOD_",
                    pb::CycleTimePeriod::from_str_name,
                )? as i32,
            })?;
            let report = client(&connection, false)?
                .get_cycle_time_report(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&report)? {
                return Ok(());
            }
            let hours = |s: i64| format!("{:.1} h", s as f64 / 3600.0);
            let rows: Vec<Vec<String>> = report
                .rows
                .iter()
                .map(|r| {
                    vec![
                        output::time(r.period_start_time),
                        enum_label(r.channel().as_str_name(), "CHANNEL_"),
                        enum_label(&r.tier, "TIER_"),
                        r.order_count.to_string(),
                        hours(r.median_seconds),
                        hours(r.p90_seconds),
                    ]
                })
                .collect();
            output::table(
                &["PERIOD", "CHANNEL", "TIER", "ORDERS", "MEDIAN", "P90"],
                &rows,
            );
            Ok(())
        }
        OrdersCommand::Watch { id, connection } => {
            let request = connection.request(pb::WatchOrderRequest { order_id: id })?;
            let mut states = client(&connection, true)?
                .watch_order(request)
                .await
                .map_err(explain)?
                .into_inner();
            while let Some(order) = states.next().await {
                let order = order.map_err(explain)?;
                if connection.json {
                    println!("{}", output::json(&order)?);
                } else {
                    println!(
                        "{}  {}  version {}",
                        chrono::Utc::now().to_rfc3339(),
                        enum_label(order.state().as_str_name(), "ORDER_STATE_"),
                        order.version
                    );
                }
            }
            Ok(())
        }
    }
}
