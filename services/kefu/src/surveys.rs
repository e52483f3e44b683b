//! `kefu surveys`: the daily flows of survey: questionnaires, triggers and campaigns, the call
//! list and the answers, opt-outs, skips, follow-up tasks and the score and quality reports.
//! A change of a versioned thing names the version just read, unless `--version` is given.

use anyhow::Context as _;
use clap::Subcommand;
use kefu_platform::client::KefuChannel;
use kefu_platform::config::Settings;
use kefu_proto::common as pc;
use kefu_proto::complaint as cpb;
use kefu_proto::survey as pb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;

use crate::connection::{Connection, explain};
use crate::output::{self, enum_label, named, parse_time};

type Client = SurveyServiceClient<KefuChannel>;

#[derive(Debug, Subcommand)]
pub(crate) enum SurveysCommand {
    /// Creates a questionnaire draft (SV-2) and, with --publish, publishes it as version 1.
    CreateQuestionnaire {
        #[arg(long)]
        title: String,
        /// "id:kind:text[:required]" with kind csat, nps, effort, single_choice,
        /// multiple_choice, text or problem; choices add ":opt1|opt2" (repeatable).
        #[arg(long = "question", required = true)]
        questions: Vec<String>,
        #[arg(long)]
        publish: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Publishes a questionnaire's draft as its next version.
    Publish {
        id: String,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows a questionnaire: its draft, or a published version.
    Questionnaire {
        id: String,
        #[arg(long, default_value_t = 0)]
        version: i32,
        #[command(flatten)]
        connection: Connection,
    },
    /// Surveys customers a while after another service's event (SV-3).
    CreateTrigger {
        /// after_delivery or after_complaint_closed.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        questionnaire: String,
        /// phone, online, questionnaire or visit.
        #[arg(long, default_value = "online")]
        method: String,
        /// Seconds after the event.
        #[arg(long, default_value_t = 0)]
        delay_s: i64,
        #[command(flatten)]
        connection: Connection,
    },
    /// Surveys every active customer of the tiers once between the dates (SV-3).
    CreateCampaign {
        #[arg(long)]
        title: String,
        #[arg(long)]
        questionnaire: String,
        #[arg(long, default_value = "phone")]
        method: String,
        /// large, medium, small, frequent, occasional, government_a ... (repeatable).
        #[arg(long = "tier", required = true)]
        tiers: Vec<String>,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows one campaign with how many it reached and skipped.
    Campaign {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Surveys one customer now; inside the quiet period or opted out, says so (SV-3).
    Invite {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        questionnaire: String,
        #[arg(long, default_value = "phone")]
        method: String,
        #[arg(long, default_value = "")]
        order: String,
        #[arg(long, default_value = "")]
        agent: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Invitations: the call list with --method phone --state sent.
    Invitations {
        #[arg(long, default_value = "")]
        customer: String,
        #[arg(long)]
        method: Option<String>,
        /// sent, answered or expired.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records the answers of a phone call, a paper questionnaire or a visit (SV-1).
    Answer {
        invitation: String,
        /// "question_id=value": a score, a choice, choices "a|b", text, or a problem category
        /// (repeatable).
        #[arg(long = "answer", required = true)]
        answers: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Answers online with the invitation's token, as the customer would: no staff token.
    AnswerOnline {
        /// The invitation's response token.
        #[arg(long)]
        response_token: String,
        #[arg(long = "answer", required = true)]
        answers: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Opts a customer out of surveys (or back in with --back-in).
    OptOut {
        customer: String,
        #[arg(long)]
        back_in: bool,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Surveys skipped for the quiet period or an opt-out.
    Skipped {
        #[arg(long, default_value = "")]
        customer: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Follow-up tasks of low scores (SV-5).
    Tasks {
        /// open or done.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records what a follow-up achieved: settled, escalated or unreachable.
    CompleteTask {
        id: String,
        #[arg(long)]
        outcome: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// CSAT, NPS and effort (SV-2), overall or by day, week, month, tier or agent.
    Scores {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "overall")]
        by: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Satisfaction, complaint rate and service time (SV-4).
    Quality {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "overall")]
        by: String,
        #[command(flatten)]
        connection: Connection,
    },
}

fn client(settings: &Settings, connection: &Connection) -> anyhow::Result<Client> {
    Ok(SurveyServiceClient::new(
        connection.channel(settings, false)?,
    ))
}

fn question(text: &str) -> anyhow::Result<pb::Question> {
    let parts: Vec<&str> = text.splitn(5, ':').collect();
    let [id, kind, question, rest @ ..] = parts.as_slice() else {
        anyhow::bail!("--question {text:?}: id:kind:text[:required][:options]");
    };
    let mut required = false;
    let mut options = Vec::new();
    for part in rest {
        if *part == "required" {
            required = true;
        } else {
            options = part.split('|').map(str::to_owned).collect();
        }
    }
    Ok(pb::Question {
        question_id: (*id).to_owned(),
        kind: named(kind, "QUESTION_KIND_", pb::QuestionKind::from_str_name)? as i32,
        text: (*question).to_owned(),
        options,
        required,
    })
}

/// "id=value": a number is a score, "a|b" choices, a complaint category name a problem
/// (for a question named "problem"), anything else a choice or text as the questionnaire
/// says; the server checks.
fn answer(text: &str) -> anyhow::Result<pb::Answer> {
    use pb::answer::Value;
    let (id, value) = text
        .split_once('=')
        .with_context(|| format!("--answer {text:?}: question_id=value"))?;
    let value = if let Ok(score) = value.parse::<i32>() {
        Value::Score(score)
    } else if let Some(category) = (id == "problem")
        .then(|| cpb::Category::from_str_name(&format!("CATEGORY_{}", value.to_ascii_uppercase())))
        .flatten()
    {
        Value::Problem(category as i32)
    } else if value.contains('|') {
        Value::Choices(pb::Choices {
            options: value.split('|').map(str::to_owned).collect(),
        })
    } else if id.starts_with("comment") || value.contains(' ') {
        Value::Text(value.to_owned())
    } else {
        Value::Choice(value.to_owned())
    };
    Ok(pb::Answer {
        question_id: id.to_owned(),
        value: Some(value),
    })
}

fn interval(from: &str, to: &str) -> anyhow::Result<Option<pc::Interval>> {
    Ok(Some(pc::Interval {
        start_time: Some(parse_time(from)?),
        end_time: Some(parse_time(to)?),
    }))
}

fn dimension(by: &str) -> anyhow::Result<(pb::ReportDimension, pb::ReportPeriodLength)> {
    use pb::ReportDimension as D;
    use pb::ReportPeriodLength as P;
    Ok(match by {
        "overall" => (D::Overall, P::Unspecified),
        "tier" => (D::Tier, P::Unspecified),
        "agent" => (D::Agent, P::Unspecified),
        "day" => (D::Period, P::Day),
        "week" => (D::Period, P::Week),
        "month" => (D::Period, P::Month),
        other => anyhow::bail!("--by {other:?}: overall, tier, agent, day, week or month"),
    })
}

fn score(s: Option<&pb::Score>) -> String {
    match s.and_then(|s| s.value_tenths.map(|v| (v, s.answer_count))) {
        Some((v, n)) => format!("{}.{} ({n})", v / 10, (v % 10).abs()),
        None => "no data".into(),
    }
}

fn group(period: Option<prost_types::Timestamp>, tier: i32, agent: &str) -> String {
    if let Some(t) = period {
        return output::time(Some(t));
    }
    if tier != 0 {
        return enum_label(
            kefu_proto::customer::Tier::try_from(tier)
                .unwrap_or_default()
                .as_str_name(),
            "TIER_",
        );
    }
    if agent.is_empty() {
        "all".into()
    } else {
        agent.to_owned()
    }
}

fn print_invitation(i: &pb::Invitation, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(i)?);
        return Ok(());
    }
    println!("id         {}", i.id);
    println!("customer   {}", i.customer_id);
    println!(
        "method     {}",
        enum_label(i.method().as_str_name(), "METHOD_")
    );
    println!(
        "state      {}",
        enum_label(i.state().as_str_name(), "INVITATION_STATE_")
    );
    println!("expires    {}", output::time(i.expire_time));
    if !i.response_token.is_empty() {
        println!("token      {}", i.response_token);
    }
    Ok(())
}

pub(crate) async fn surveys(settings: &Settings, command: SurveysCommand) -> anyhow::Result<()> {
    use SurveysCommand as S;
    match command {
        S::CreateQuestionnaire {
            title,
            questions,
            publish,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let questions = questions
                .iter()
                .map(|q| question(q))
                .collect::<anyhow::Result<_>>()?;
            let mut q = c
                .create_questionnaire(connection.request(pb::CreateQuestionnaireRequest {
                    questionnaire: Some(pb::Questionnaire {
                        title,
                        questions,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if publish {
                q = c
                    .publish_questionnaire(connection.request(pb::PublishQuestionnaireRequest {
                        questionnaire_id: q.id.clone(),
                        expected_version: q.draft_version,
                        request_id: String::new(),
                    })?)
                    .await
                    .map_err(explain)?
                    .into_inner();
            }
            print_questionnaire(&q, connection.json)
        }
        S::Publish {
            id,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let expected = match version {
                Some(v) => v,
                None => {
                    c.get_questionnaire(connection.request(pb::GetQuestionnaireRequest {
                        questionnaire_id: id.clone(),
                        version: 0,
                    })?)
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .draft_version
                }
            };
            let q = c
                .publish_questionnaire(connection.request(pb::PublishQuestionnaireRequest {
                    questionnaire_id: id,
                    expected_version: expected,
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_questionnaire(&q, connection.json)
        }
        S::Questionnaire {
            id,
            version,
            connection,
        } => {
            let q = client(settings, &connection)?
                .get_questionnaire(connection.request(pb::GetQuestionnaireRequest {
                    questionnaire_id: id,
                    version,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_questionnaire(&q, connection.json)
        }
        S::CreateTrigger {
            kind,
            questionnaire,
            method,
            delay_s,
            connection,
        } => {
            let t = client(settings, &connection)?
                .create_trigger(connection.request(pb::CreateTriggerRequest {
                    trigger: Some(pb::Trigger {
                        kind: named(&kind, "TRIGGER_KIND_", pb::TriggerKind::from_str_name)? as i32,
                        questionnaire_id: questionnaire,
                        method: named(&method, "METHOD_", pb::Method::from_str_name)? as i32,
                        delay: Some(prost_types::Duration {
                            seconds: delay_s,
                            nanos: 0,
                        }),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if !connection.printed_json(&t)? {
                println!(
                    "trigger {} ({})",
                    t.id,
                    enum_label(t.kind().as_str_name(), "TRIGGER_KIND_")
                );
            }
            Ok(())
        }
        S::CreateCampaign {
            title,
            questionnaire,
            method,
            tiers,
            from,
            to,
            connection,
        } => {
            let tiers = tiers
                .iter()
                .map(|t| {
                    named(t, "TIER_", kefu_proto::customer::Tier::from_str_name).map(|t| t as i32)
                })
                .collect::<anyhow::Result<_>>()?;
            let campaign = client(settings, &connection)?
                .create_campaign(connection.request(pb::CreateCampaignRequest {
                    campaign: Some(pb::Campaign {
                        title,
                        questionnaire_id: questionnaire,
                        method: named(&method, "METHOD_", pb::Method::from_str_name)? as i32,
                        tiers,
                        interval: interval(&from, &to)?,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_campaign(&campaign, connection.json)
        }
        S::Campaign { id, connection } => {
            let campaign = client(settings, &connection)?
                .get_campaign(connection.request(pb::GetCampaignRequest { campaign_id: id })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_campaign(&campaign, connection.json)
        }
        S::Invite {
            customer,
            questionnaire,
            method,
            order,
            agent,
            connection,
        } => {
            let i = client(settings, &connection)?
                .create_invitation(connection.request(pb::CreateInvitationRequest {
                    invitation: Some(pb::Invitation {
                        customer_id: customer,
                        questionnaire_id: questionnaire,
                        method: named(&method, "METHOD_", pb::Method::from_str_name)? as i32,
                        order_id: order,
                        agent_id: agent,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_invitation(&i, connection.json)
        }
        S::Invitations {
            customer,
            method,
            state,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_invitations(connection.request(pb::ListInvitationsRequest {
                    customer_id: customer,
                    method: match method {
                        Some(m) => named(&m, "METHOD_", pb::Method::from_str_name)? as i32,
                        None => 0,
                    },
                    state: match state {
                        Some(s) => {
                            named(&s, "INVITATION_STATE_", pb::InvitationState::from_str_name)?
                                as i32
                        }
                        None => 0,
                    },
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.invitations,
                &page.next_page_token,
                &["ID", "CUSTOMER", "METHOD", "STATE", "EXPIRES"],
                |i| {
                    vec![
                        i.id.clone(),
                        i.customer_id.clone(),
                        enum_label(i.method().as_str_name(), "METHOD_"),
                        enum_label(i.state().as_str_name(), "INVITATION_STATE_"),
                        output::time(i.expire_time),
                    ]
                },
            )
        }
        S::Answer {
            invitation,
            answers,
            connection,
        } => {
            let answers = answers
                .iter()
                .map(|a| answer(a))
                .collect::<anyhow::Result<_>>()?;
            let r = client(settings, &connection)?
                .submit_response(connection.request(pb::SubmitResponseRequest {
                    invitation_id: invitation,
                    answers,
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if !connection.printed_json(&r)? {
                println!("response {} recorded", r.id);
            }
            Ok(())
        }
        S::AnswerOnline {
            response_token,
            answers,
            connection,
        } => {
            let answers = answers
                .iter()
                .map(|a| answer(a))
                .collect::<anyhow::Result<_>>()?;
            // No staff token: the response token is the only credential.
            let mut c = SurveyServiceClient::new(connection.anonymous_channel(settings)?);
            let r = c
                .submit_online_response(pb::SubmitOnlineResponseRequest {
                    response_token,
                    answers,
                })
                .await
                .map_err(explain)?
                .into_inner();
            if !connection.printed_json(&r)? {
                println!("response {} recorded", r.id);
            }
            Ok(())
        }
        S::OptOut {
            customer,
            back_in,
            reason,
            connection,
        } => {
            let o = client(settings, &connection)?
                .set_opt_out(connection.request(pb::SetOptOutRequest {
                    customer_id: customer,
                    opted_out: !back_in,
                    reason,
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if !connection.printed_json(&o)? {
                println!(
                    "{} {}",
                    o.customer_id,
                    if o.opted_out {
                        "opted out"
                    } else {
                        "may be surveyed"
                    }
                );
            }
            Ok(())
        }
        S::Skipped {
            customer,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_skipped_surveys(connection.request(pb::ListSkippedSurveysRequest {
                    customer_id: customer,
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.skipped_surveys,
                &page.next_page_token,
                &["WHEN", "CUSTOMER", "REASON", "ASK AGAIN FROM"],
                |s| {
                    vec![
                        output::time(s.skip_time),
                        s.customer_id.clone(),
                        enum_label(s.reason().as_str_name(), "SKIP_REASON_"),
                        output::time(s.quiet_until),
                    ]
                },
            )
        }
        S::Tasks { state, connection } => {
            let page = client(settings, &connection)?
                .list_follow_up_tasks(connection.request(pb::ListFollowUpTasksRequest {
                    state: match state {
                        Some(s) => named(
                            &s,
                            "FOLLOW_UP_TASK_STATE_",
                            pb::FollowUpTaskState::from_str_name,
                        )? as i32,
                        None => 0,
                    },
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.follow_up_tasks,
                &page.next_page_token,
                &["ID", "CUSTOMER", "TEAM", "STATE", "DUE"],
                |t| {
                    vec![
                        t.id.clone(),
                        t.customer_id.clone(),
                        t.team_id.clone(),
                        enum_label(t.state().as_str_name(), "FOLLOW_UP_TASK_STATE_"),
                        output::time(t.due_time),
                    ]
                },
            )
        }
        S::CompleteTask {
            id,
            outcome,
            note,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let expected = match version {
                Some(v) => v,
                None => {
                    c.get_follow_up_task(connection.request(pb::GetFollowUpTaskRequest {
                        follow_up_task_id: id.clone(),
                    })?)
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .version
                }
            };
            let t = c
                .complete_follow_up_task(connection.request(pb::CompleteFollowUpTaskRequest {
                    follow_up_task_id: id,
                    outcome: named(
                        &outcome,
                        "FOLLOW_UP_TASK_OUTCOME_",
                        pb::FollowUpTaskOutcome::from_str_name,
                    )? as i32,
                    outcome_note: note,
                    expected_version: expected,
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if !connection.printed_json(&t)? {
                println!("task {} done", t.id);
            }
            Ok(())
        }
        S::Scores {
            from,
            to,
            by,
            connection,
        } => {
            let (dimension, period) = dimension(&by)?;
            let report = client(settings, &connection)?
                .get_score_report(connection.request(pb::GetScoreReportRequest {
                    interval: interval(&from, &to)?,
                    dimension: dimension as i32,
                    period: period as i32,
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&report)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = report
                .rows
                .iter()
                .map(|r| {
                    vec![
                        group(r.period_start_time, r.tier, &r.agent_id),
                        r.response_count.to_string(),
                        score(r.csat.as_ref()),
                        score(r.nps.as_ref()),
                        score(r.effort.as_ref()),
                    ]
                })
                .collect();
            output::table(
                &[
                    "GROUP",
                    "RESPONSES",
                    "CSAT % (n)",
                    "NPS (n)",
                    "EFFORT % (n)",
                ],
                &rows,
            );
            Ok(())
        }
        S::Quality {
            from,
            to,
            by,
            connection,
        } => {
            let (dimension, period) = dimension(&by)?;
            let report = client(settings, &connection)?
                .get_quality_report(connection.request(pb::GetQualityReportRequest {
                    interval: interval(&from, &to)?,
                    dimension: dimension as i32,
                    period: period as i32,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&report)? {
                return Ok(());
            }
            let seconds = |d: Option<prost_types::Duration>| {
                d.map_or_else(
                    || "no data".into(),
                    |d| format!("{}h{:02}m", d.seconds / 3600, d.seconds % 3600 / 60),
                )
            };
            let rows: Vec<Vec<String>> = report
                .rows
                .iter()
                .map(|r| {
                    vec![
                        group(r.period_start_time, r.tier, &r.agent_id),
                        score(r.csat.as_ref()),
                        score(r.nps.as_ref()),
                        format!("{}/{}", r.complaint_count, r.order_count),
                        r.complaint_rate_tenths_per_mille
                            .map_or_else(|| "no data".into(), |v| format!("{}.{}", v / 10, v % 10)),
                        seconds(r.median_delivery_time),
                        seconds(r.median_resolution_time),
                    ]
                })
                .collect();
            output::table(
                &[
                    "GROUP",
                    "CSAT %",
                    "NPS",
                    "COMPLAINTS/ORDERS",
                    "PER 1,000",
                    "MEDIAN DELIVERY",
                    "MEDIAN RESOLUTION",
                ],
                &rows,
            );
            Ok(())
        }
    }
}

fn print_questionnaire(q: &pb::Questionnaire, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(q)?);
        return Ok(());
    }
    println!("id         {}", q.id);
    println!("title      {}", q.title);
    println!(
        "version    {} (published: {}; draft version {})",
        if q.version == 0 {
            "draft".to_owned()
        } else {
            q.version.to_string()
        },
        q.published_version,
        q.draft_version
    );
    for question in &q.questions {
        println!(
            "question   {} {}: {}",
            question.question_id,
            enum_label(question.kind().as_str_name(), "QUESTION_KIND_"),
            question.text
        );
    }
    Ok(())
}

fn print_campaign(c: &pb::Campaign, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(c)?);
        return Ok(());
    }
    println!("id         {}", c.id);
    println!("title      {}", c.title);
    println!(
        "state      {}",
        enum_label(c.state().as_str_name(), "CAMPAIGN_STATE_")
    );
    println!(
        "progress   {} invited, {} skipped, {} answered",
        c.invited_count, c.skipped_count, c.answered_count
    );
    Ok(())
}
