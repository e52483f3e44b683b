//! `kefu complaints`: the daily flows of complaint-desk, from registration to follow-up, the
//! knowledge base and the analysis. A change names the version it was made against: the one
//! given with `--version`, or else the one just read (the case as shown a moment ago).

use anyhow::Context as _;
use clap::Subcommand;
use kefu_platform::client::KefuChannel;
use kefu_platform::config::Settings;
use kefu_proto::common as pc;
use kefu_proto::complaint as pb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;

use crate::connection::{Connection, explain};
use crate::output::{self, enum_label, named, parse_time, yuan};

type Client = ComplaintDeskServiceClient<KefuChannel>;

#[derive(Debug, Subcommand)]
pub(crate) enum ComplaintsCommand {
    /// Registers a complaint or a request (CD-1, CD-2); the customer must be active.
    Create {
        #[arg(long)]
        customer: String,
        /// Required for damage, loss, delay and handover disputes.
        #[arg(long, default_value = "")]
        order: String,
        /// complaint, inquiry or help_request.
        #[arg(long = "type", default_value = "complaint")]
        kind: String,
        /// hotline, email, web or visit.
        #[arg(long, default_value = "hotline")]
        origin: String,
        /// damage, loss, delay, handover_dispute, staff_attitude, billing or other.
        #[arg(long)]
        category: String,
        /// low, medium, high or critical.
        #[arg(long, default_value = "medium")]
        severity: String,
        #[arg(long)]
        summary: String,
        #[arg(long, default_value = "")]
        description: String,
        /// How the customer wants to be reached: phone, email, sms, web, in_person.
        #[arg(long)]
        contact: Option<String>,
        /// For staff-attitude cases: who was complained about.
        #[arg(long, default_value = "")]
        staff: String,
        #[arg(long, default_value = "")]
        request_id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows a case (by id or case number) with its clocks.
    Get {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists cases, of a customer, assignee, team, state, category or root cause.
    List {
        #[arg(long, default_value = "")]
        customer: String,
        #[arg(long, default_value = "")]
        assignee: String,
        #[arg(long, default_value = "")]
        team: String,
        /// registered, in_progress, waiting_on_customer, resolved or closed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        root_cause: Option<String>,
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Changes the category, severity, type or order (CD-2).
    Reclassify {
        id: String,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        order: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Gives the case to an agent.
    Assign {
        id: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        team: String,
        #[command(flatten)]
        change: Change,
    },
    /// Records the first answer to the customer (CD-3).
    Respond {
        id: String,
        #[arg(long)]
        message: String,
        #[command(flatten)]
        change: Change,
    },
    /// Records that the customer came back about the case.
    Contact {
        id: String,
        /// phone, email, sms, web or in_person.
        #[arg(long)]
        channel: String,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        change: Change,
    },
    /// Stops the clocks while the case waits on the customer (CD-3).
    Pause {
        id: String,
        /// awaiting_information, awaiting_availability, awaiting_decision or other.
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        change: Change,
    },
    /// Starts the clocks again after a pause (CD-3).
    Resume {
        id: String,
        #[command(flatten)]
        change: Change,
    },
    /// Records the root cause and the corrective action (CD-4).
    Investigate {
        id: String,
        /// packaging, handling, sorting, routing, vehicle_or_carrier,
        /// weather_or_force_majeure, address_or_documents, staff_conduct, billing_error,
        /// system_error, customer_side or other.
        #[arg(long)]
        cause: String,
        #[arg(long, default_value = "")]
        detail: String,
        #[arg(long)]
        action: String,
        #[command(flatten)]
        change: Change,
    },
    /// Records the answer and any compensation (CD-5).
    Resolve {
        id: String,
        #[arg(long)]
        answer: String,
        /// Compensation in fen.
        #[arg(long, default_value_t = 0)]
        compensation_fen: i64,
        #[command(flatten)]
        change: Change,
    },
    /// Records a follow-up with the customer (CD-6): satisfied, not_satisfied or no_contact.
    FollowUp {
        id: String,
        #[arg(long)]
        outcome: String,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        change: Change,
    },
    /// Escalates one step by hand (CD-8).
    Escalate {
        id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Change,
    },
    /// Counts, rates and causes (CD-7), by category, tier, agent, day, week or month.
    Analysis {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "category")]
        by: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Root causes flagged for recurring (CD-10), with their cases.
    Causes {
        #[command(flatten)]
        connection: Connection,
    },
    /// The knowledge base (CD-9).
    #[command(subcommand)]
    Kb(KnowledgeCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum KnowledgeCommand {
    /// Proposes an entry from resolved cases.
    Propose {
        /// A resolved case it comes from (repeatable).
        #[arg(long = "case", required = true)]
        cases: Vec<String>,
        #[arg(long)]
        category: String,
        #[arg(long)]
        cause: Option<String>,
        #[arg(long)]
        problem: String,
        #[arg(long)]
        solution: String,
        #[arg(long = "keyword")]
        keywords: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Makes a proposal searchable (supervisors).
    Publish {
        id: String,
        #[command(flatten)]
        change: Change,
    },
    /// Takes an entry out of search (supervisors).
    Retire {
        id: String,
        #[command(flatten)]
        change: Change,
    },
    /// Shows one knowledge entry.
    Get {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists knowledge entries, of a state.
    List {
        /// proposed, published or retired.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Published entries, most relevant first, for a query in Chinese or English.
    Search {
        query: String,
        #[arg(long, default_value_t = 10)]
        page_size: i32,
        #[command(flatten)]
        connection: Connection,
    },
}

/// What every change takes besides its own fields.
#[derive(Debug, clap::Args)]
pub(crate) struct Change {
    /// The version the change is made against; without it, the version just read.
    #[arg(long)]
    version: Option<i64>,
    #[arg(long, default_value = "")]
    request_id: String,
    #[command(flatten)]
    connection: Connection,
}

fn client(settings: &Settings, connection: &Connection) -> anyhow::Result<Client> {
    Ok(ComplaintDeskServiceClient::new(
        connection.channel(settings, false)?,
    ))
}

/// The case's id and the version a change is made against.
async fn target(client: &mut Client, change: &Change, id: &str) -> anyhow::Result<(String, i64)> {
    let case = client
        .get_complaint(change.connection.request(pb::GetComplaintRequest {
            complaint_id: id.to_owned(),
        })?)
        .await
        .map_err(explain)?
        .into_inner();
    Ok((case.id, change.version.unwrap_or(case.version)))
}

fn duration(d: Option<prost_types::Duration>) -> String {
    let Some(d) = d else {
        return String::new();
    };
    let sign = if d.seconds < 0 { "-" } else { "" };
    let s = d.seconds.abs();
    format!("{sign}{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60)
}

fn deadline(name: &str, d: Option<&pb::Deadline>) {
    let Some(d) = d else { return };
    println!(
        "{name:<10} {} due {} (allowed {}, used {}, remaining {})",
        enum_label(d.state().as_str_name(), "DEADLINE_STATE_"),
        output::time(d.due_time),
        duration(d.allowed),
        duration(d.used),
        duration(d.remaining),
    );
}

fn print_case(case: &pb::Complaint, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(case)?);
        return Ok(());
    }
    let rows = [
        ("case", case.case_number.clone()),
        ("id", case.id.clone()),
        (
            "type",
            enum_label(case.r#type().as_str_name(), "CASE_TYPE_"),
        ),
        (
            "state",
            enum_label(case.state().as_str_name(), "COMPLAINT_STATE_"),
        ),
        ("origin", enum_label(case.origin().as_str_name(), "ORIGIN_")),
        (
            "category",
            enum_label(case.category().as_str_name(), "CATEGORY_"),
        ),
        (
            "severity",
            enum_label(case.severity().as_str_name(), "SEVERITY_"),
        ),
        ("customer", case.customer_id.clone()),
        ("order", case.order_id.clone()),
        ("tier", enum_label(case.tier().as_str_name(), "TIER_")),
        ("team", case.team_id.clone()),
        ("assignee", case.assignee_id.clone()),
        ("summary", case.summary.clone()),
        (
            "escalated",
            match case.escalation_level {
                0 => String::new(),
                level => format!("level {level}"),
            },
        ),
        (
            "closed",
            enum_label(case.close_reason().as_str_name(), "CLOSE_REASON_"),
        ),
        ("version", case.version.to_string()),
    ];
    for (key, value) in rows
        .into_iter()
        .filter(|(_, v)| !v.is_empty() && v != "unspecified")
    {
        println!("{key:<10} {value}");
    }
    deadline("respond", case.first_response_deadline.as_ref());
    deadline("resolve", case.resolution_deadline.as_ref());
    if let Some(i) = &case.investigation {
        println!(
            "cause      {}: {}",
            enum_label(i.root_cause().as_str_name(), "ROOT_CAUSE_"),
            i.corrective_action
        );
    }
    if let Some(r) = &case.resolution {
        println!("answer     {} {}", r.answer, yuan(r.compensation.as_ref()));
    }
    for f in &case.follow_ups {
        println!(
            "follow-up  #{} {}",
            f.attempt,
            enum_label(f.outcome().as_str_name(), "FOLLOW_UP_OUTCOME_")
        );
    }
    for e in &case.escalations {
        println!(
            "escalated  level {} to {} ({})",
            e.level,
            enum_label(e.target().as_str_name(), "ESCALATION_TARGET_"),
            if e.automatic {
                "deadline passed"
            } else {
                &e.reason
            }
        );
    }
    Ok(())
}

fn print_entry(entry: &pb::KnowledgeEntry, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(entry)?);
        return Ok(());
    }
    println!("id         {}", entry.id);
    println!(
        "state      {}",
        enum_label(entry.state().as_str_name(), "KNOWLEDGE_ENTRY_STATE_")
    );
    println!("problem    {}", entry.problem);
    println!("solution   {}", entry.solution);
    println!("cases      {}", entry.complaint_ids.join(", "));
    println!("version    {}", entry.version);
    Ok(())
}

fn interval(from: &str, to: &str) -> anyhow::Result<Option<pc::Interval>> {
    Ok(Some(pc::Interval {
        start_time: Some(parse_time(from)?),
        end_time: Some(parse_time(to)?),
    }))
}

pub(crate) async fn complaints(
    settings: &Settings,
    command: ComplaintsCommand,
) -> anyhow::Result<()> {
    use ComplaintsCommand as C;
    match command {
        C::Create {
            customer,
            order,
            kind,
            origin,
            category,
            severity,
            summary,
            description,
            contact,
            staff,
            request_id,
            connection,
        } => {
            let complaint = pb::Complaint {
                r#type: named(&kind, "CASE_TYPE_", pb::CaseType::from_str_name)? as i32,
                origin: named(&origin, "ORIGIN_", pb::Origin::from_str_name)? as i32,
                category: named(&category, "CATEGORY_", pb::Category::from_str_name)? as i32,
                severity: named(&severity, "SEVERITY_", pb::Severity::from_str_name)? as i32,
                contact_channel: match contact {
                    Some(c) => {
                        named(&c, "CONTACT_CHANNEL_", pb::ContactChannel::from_str_name)? as i32
                    }
                    None => 0,
                },
                customer_id: customer,
                order_id: order,
                staff_id: staff,
                summary,
                description,
                ..Default::default()
            };
            let case = client(settings, &connection)?
                .create_complaint(connection.request(pb::CreateComplaintRequest {
                    complaint: Some(complaint),
                    request_id,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, connection.json)
        }
        C::Get { id, connection } => {
            let case = client(settings, &connection)?
                .get_complaint(connection.request(pb::GetComplaintRequest { complaint_id: id })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, connection.json)
        }
        C::List {
            customer,
            assignee,
            team,
            state,
            category,
            root_cause,
            page_size,
            page_token,
            connection,
        } => {
            let parse = |value: Option<String>,
                         prefix: &str,
                         f: fn(&str) -> Option<i32>|
             -> anyhow::Result<i32> {
                value.map_or(Ok(0), |v| named(&v, prefix, f))
            };
            let request = pb::ListComplaintsRequest {
                page_size,
                page_token,
                customer_id: customer,
                assignee_id: assignee,
                team_id: team,
                state: parse(state, "COMPLAINT_STATE_", |s| {
                    pb::ComplaintState::from_str_name(s).map(|v| v as i32)
                })?,
                category: parse(category, "CATEGORY_", |s| {
                    pb::Category::from_str_name(s).map(|v| v as i32)
                })?,
                root_cause: parse(root_cause, "ROOT_CAUSE_", |s| {
                    pb::RootCause::from_str_name(s).map(|v| v as i32)
                })?,
                ..Default::default()
            };
            let page = client(settings, &connection)?
                .list_complaints(connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.complaints,
                &page.next_page_token,
                &[
                    "CASE", "STATE", "CATEGORY", "SEVERITY", "ASSIGNEE", "RESPONSE", "SUMMARY",
                ],
                |c| {
                    vec![
                        c.case_number.clone(),
                        enum_label(c.state().as_str_name(), "COMPLAINT_STATE_"),
                        enum_label(c.category().as_str_name(), "CATEGORY_"),
                        enum_label(c.severity().as_str_name(), "SEVERITY_"),
                        c.assignee_id.clone(),
                        c.first_response_deadline
                            .as_ref()
                            .map(|d| enum_label(d.state().as_str_name(), "DEADLINE_STATE_"))
                            .unwrap_or_default(),
                        c.summary.clone(),
                    ]
                },
            )
        }
        C::Reclassify {
            id,
            category,
            severity,
            kind,
            order,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let mut complaint = pb::Complaint {
                id,
                ..Default::default()
            };
            let mut paths = Vec::new();
            if let Some(v) = category {
                complaint.category = named(&v, "CATEGORY_", pb::Category::from_str_name)? as i32;
                paths.push("category".to_owned());
            }
            if let Some(v) = severity {
                complaint.severity = named(&v, "SEVERITY_", pb::Severity::from_str_name)? as i32;
                paths.push("severity".to_owned());
            }
            if let Some(v) = kind {
                complaint.r#type = named(&v, "CASE_TYPE_", pb::CaseType::from_str_name)? as i32;
                paths.push("type".to_owned());
            }
            if let Some(v) = order {
                complaint.order_id = v;
                paths.push("order_id".to_owned());
            }
            let request = pb::UpdateComplaintRequest {
                complaint: Some(complaint),
                update_mask: Some(prost_types::FieldMask { paths }),
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .update_complaint(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Assign {
            id,
            to,
            team,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::AssignComplaintRequest {
                complaint_id: id,
                assignee_id: to,
                team_id: team,
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .assign_complaint(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Respond {
            id,
            message,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::RecordFirstResponseRequest {
                complaint_id: id,
                message,
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .record_first_response(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Contact {
            id,
            channel,
            note,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::RecordCustomerContactRequest {
                complaint_id: id,
                channel: named(
                    &channel,
                    "CONTACT_CHANNEL_",
                    pb::ContactChannel::from_str_name,
                )? as i32,
                note,
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .record_customer_contact(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Pause {
            id,
            reason,
            note,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::PauseClockRequest {
                complaint_id: id,
                reason: named(&reason, "PAUSE_REASON_", pb::PauseReason::from_str_name)? as i32,
                note,
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .pause_clock(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Resume { id, change } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::ResumeClockRequest {
                complaint_id: id,
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .resume_clock(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Investigate {
            id,
            cause,
            detail,
            action,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::RecordInvestigationRequest {
                complaint_id: id,
                investigation: Some(pb::Investigation {
                    root_cause: named(&cause, "ROOT_CAUSE_", pb::RootCause::from_str_name)? as i32,
                    root_cause_detail: detail,
                    corrective_action: action,
                    ..Default::default()
                }),
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .record_investigation(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Resolve {
            id,
            answer,
            compensation_fen,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::ResolveComplaintRequest {
                complaint_id: id,
                resolution: Some(pb::Resolution {
                    answer,
                    compensation: Some(pc::Money {
                        currency_code: "CNY".into(),
                        minor_units: compensation_fen,
                    }),
                    ..Default::default()
                }),
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .resolve_complaint(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::FollowUp {
            id,
            outcome,
            note,
            change,
        } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::RecordFollowUpRequest {
                complaint_id: id,
                follow_up: Some(pb::FollowUp {
                    outcome: named(
                        &outcome,
                        "FOLLOW_UP_OUTCOME_",
                        pb::FollowUpOutcome::from_str_name,
                    )? as i32,
                    note,
                    ..Default::default()
                }),
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .record_follow_up(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Escalate { id, reason, change } => {
            let mut c = client(settings, &change.connection)?;
            let (id, version) = target(&mut c, &change, &id).await?;
            let request = pb::EscalateComplaintRequest {
                complaint_id: id,
                reason,
                expected_version: version,
                request_id: change.request_id.clone(),
            };
            let case = c
                .escalate_complaint(change.connection.request(request)?)
                .await
                .map_err(explain)?
                .into_inner();
            print_case(&case, change.connection.json)
        }
        C::Analysis {
            from,
            to,
            by,
            connection,
        } => analysis(settings, &from, &to, &by, connection).await,
        C::Causes { connection } => {
            let causes = client(settings, &connection)?
                .list_recurring_causes(
                    connection.request(pb::ListRecurringCausesRequest::default())?,
                )
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &causes,
                connection.json,
                &causes.causes,
                &causes.next_page_token,
                &["CAUSE", "PERIOD FROM", "COUNT", "CASES"],
                |c| {
                    vec![
                        enum_label(c.root_cause().as_str_name(), "ROOT_CAUSE_"),
                        output::time(c.period.and_then(|p| p.start_time)),
                        format!("{} (threshold {})", c.occurrence_count, c.threshold),
                        c.complaint_ids.join(" "),
                    ]
                },
            )
        }
        C::Kb(command) => knowledge(settings, command).await,
    }
}

async fn analysis(
    settings: &Settings,
    from: &str,
    to: &str,
    by: &str,
    connection: Connection,
) -> anyhow::Result<()> {
    let (dimension, period) = match by {
        "category" => (
            pb::AnalysisDimension::Category,
            pb::AnalysisPeriod::Unspecified,
        ),
        "tier" => (pb::AnalysisDimension::Tier, pb::AnalysisPeriod::Unspecified),
        "agent" => (
            pb::AnalysisDimension::Agent,
            pb::AnalysisPeriod::Unspecified,
        ),
        "day" => (pb::AnalysisDimension::Period, pb::AnalysisPeriod::Day),
        "week" => (pb::AnalysisDimension::Period, pb::AnalysisPeriod::Week),
        "month" => (pb::AnalysisDimension::Period, pb::AnalysisPeriod::Month),
        other => anyhow::bail!("--by {other:?}: category, tier, agent, day, week or month"),
    };
    let request = pb::GetComplaintAnalysisRequest {
        interval: interval(from, to)?,
        dimension: dimension as i32,
        period: period as i32,
        r#type: 0,
    };
    let analysis = client(settings, &connection)?
        .get_complaint_analysis(connection.request(request)?)
        .await
        .map_err(explain)?
        .into_inner();
    if connection.printed_json(&analysis)? {
        return Ok(());
    }
    let rows: Vec<Vec<String>> = analysis
        .rows
        .iter()
        .map(|r| {
            let group = match dimension {
                pb::AnalysisDimension::Category => {
                    enum_label(r.category().as_str_name(), "CATEGORY_")
                }
                pb::AnalysisDimension::Tier => enum_label(r.tier().as_str_name(), "TIER_"),
                pb::AnalysisDimension::Agent => r.agent_id.clone(),
                _ => output::time(r.period_start_time),
            };
            vec![
                group,
                r.case_count.to_string(),
                r.complaint_count.to_string(),
                r.closed_count.to_string(),
                format!("{}/{}", r.first_response_met_count, r.resolution_met_count),
                duration(r.median_resolution_time),
                r.top_causes
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {}",
                            enum_label(c.root_cause().as_str_name(), "ROOT_CAUSE_"),
                            c.count
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    output::table(
        &[
            "GROUP",
            "CASES",
            "COMPLAINTS",
            "CLOSED",
            "MET (RESPOND/RESOLVE)",
            "MEDIAN RESOLUTION",
            "TOP CAUSES",
        ],
        &rows,
    );
    println!(
        "{} complaints, {} orders: {:.2} per 1,000 orders",
        analysis.complaint_count, analysis.order_count, analysis.complaint_rate_per_mille
    );
    Ok(())
}

async fn knowledge(settings: &Settings, command: KnowledgeCommand) -> anyhow::Result<()> {
    use KnowledgeCommand as K;
    match command {
        K::Propose {
            cases,
            category,
            cause,
            problem,
            solution,
            keywords,
            connection,
        } => {
            let entry = pb::KnowledgeEntry {
                category: named(&category, "CATEGORY_", pb::Category::from_str_name)? as i32,
                root_cause: match cause {
                    Some(c) => named(&c, "ROOT_CAUSE_", pb::RootCause::from_str_name)? as i32,
                    None => 0,
                },
                problem,
                solution,
                keywords,
                complaint_ids: cases,
                ..Default::default()
            };
            let created = client(settings, &connection)?
                .create_knowledge_entry(connection.request(pb::CreateKnowledgeEntryRequest {
                    knowledge_entry: Some(entry),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_entry(&created, connection.json)
        }
        K::Publish { id, change } => {
            let mut c = client(settings, &change.connection)?;
            let version = entry_version(&mut c, &change, &id).await?;
            let entry = c
                .publish_knowledge_entry(change.connection.request(
                    pb::PublishKnowledgeEntryRequest {
                        knowledge_entry_id: id,
                        expected_version: version,
                        request_id: change.request_id.clone(),
                    },
                )?)
                .await
                .map_err(explain)?
                .into_inner();
            print_entry(&entry, change.connection.json)
        }
        K::Retire { id, change } => {
            let mut c = client(settings, &change.connection)?;
            let version = entry_version(&mut c, &change, &id).await?;
            let entry = c
                .retire_knowledge_entry(change.connection.request(
                    pb::RetireKnowledgeEntryRequest {
                        knowledge_entry_id: id,
                        expected_version: version,
                        request_id: change.request_id.clone(),
                    },
                )?)
                .await
                .map_err(explain)?
                .into_inner();
            print_entry(&entry, change.connection.json)
        }
        K::Get { id, connection } => {
            let entry = client(settings, &connection)?
                .get_knowledge_entry(connection.request(pb::GetKnowledgeEntryRequest {
                    knowledge_entry_id: id,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_entry(&entry, connection.json)
        }
        K::List { state, connection } => {
            let state = match state {
                Some(s) => named(
                    &s,
                    "KNOWLEDGE_ENTRY_STATE_",
                    pb::KnowledgeEntryState::from_str_name,
                )? as i32,
                None => 0,
            };
            let page = client(settings, &connection)?
                .list_knowledge_entries(connection.request(pb::ListKnowledgeEntriesRequest {
                    state,
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.knowledge_entries,
                &page.next_page_token,
                &["ID", "STATE", "CATEGORY", "PROBLEM"],
                |e| {
                    vec![
                        e.id.clone(),
                        enum_label(e.state().as_str_name(), "KNOWLEDGE_ENTRY_STATE_"),
                        enum_label(e.category().as_str_name(), "CATEGORY_"),
                        e.problem.clone(),
                    ]
                },
            )
        }
        K::Search {
            query,
            page_size,
            connection,
        } => {
            let found = client(settings, &connection)?
                .search_knowledge_entries(connection.request(
                    pb::SearchKnowledgeEntriesRequest {
                        query,
                        page_size,
                        ..Default::default()
                    },
                )?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&found)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = found
                .hits
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let e = h.knowledge_entry.clone().unwrap_or_default();
                    vec![(i + 1).to_string(), e.problem, e.solution, e.id]
                })
                .collect();
            // Scores compare only within one answer, so the rank is what is shown.
            output::table(&["RANK", "PROBLEM", "SOLUTION", "ID"], &rows);
            output::next_page(&found.next_page_token);
            Ok(())
        }
    }
}

/// The version a change to entry `id` is made against.
async fn entry_version(client: &mut Client, change: &Change, id: &str) -> anyhow::Result<i64> {
    if let Some(version) = change.version {
        return Ok(version);
    }
    let entry = client
        .get_knowledge_entry(change.connection.request(pb::GetKnowledgeEntryRequest {
            knowledge_entry_id: id.to_owned(),
        })?)
        .await
        .map_err(explain)
        .context("reading the entry's version")?
        .into_inner();
    Ok(entry.version)
}
