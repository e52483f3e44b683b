//! `kefu staff`: staff-kpi's daily flows: the organisation (people, teams), KPI formulas,
//! periods and their close, assessments with the events behind each figure, disputes, reward
//! and penalty rules with their outcomes, conduct breaches and training. A change of a
//! versioned thing names the version just read, unless `--version` is given.

use anyhow::Context as _;
use clap::Subcommand;
use kefu_platform::client::KefuChannel;
use kefu_platform::config::Settings;
use kefu_proto::common::Money;
use kefu_proto::staff as pb;
use kefu_proto::staff::staff_kpi_service_client::StaffKpiServiceClient;

use crate::connection::{Connection, explain};
use crate::output::{self, enum_label, named, parse_time, yuan};

type Client = StaffKpiServiceClient<KefuChannel>;

#[derive(Debug, Subcommand)]
pub(crate) enum StaffCommand {
    /// A person joins (SK-1); their id is the subject their tokens carry.
    Join {
        id: String,
        #[arg(long)]
        name: String,
        /// agent, supervisor, manager or salesperson.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        team: String,
        #[arg(long, default_value = "")]
        manager: String,
        /// The region code a salesperson sells in (CR-4 reads it).
        #[arg(long, default_value = "")]
        region: String,
        /// When they joined (RFC 3339 or YYYY-MM-DD); now when left out.
        #[arg(long)]
        joined: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// One person.
    Show {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// People, of a team, role or state.
    List {
        #[arg(long, default_value = "")]
        team: String,
        #[arg(long)]
        role: Option<String>,
        /// active or left.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Changes a person's name, role, team, manager or region: only what is given.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        manager: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// A person leaves (SK-1); what they did stays on record.
    Leave {
        id: String,
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// A team, with its supervisor and the team it belongs to.
    CreateTeam {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        supervisor: String,
        #[arg(long, default_value = "")]
        parent: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists the teams.
    Teams {
        #[command(flatten)]
        connection: Connection,
    },
    /// Changes a team's name, supervisor or parent: only what is given.
    UpdateTeam {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        supervisor: Option<String>,
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// The KPIs and every version of their formulas (SK-2, SK-3).
    Kpis {
        #[command(flatten)]
        connection: Connection,
    },
    /// A new formula version of a KPI for periods from its date on (SK-3).
    AddFormula {
        /// first_response_met, resolution_time, follow_up_done, visits_on_plan, csat,
        /// complaints_against, first_contact_resolution, conduct or training.
        kpi: String,
        /// The first day it applies to, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        #[arg(long)]
        weight: i32,
        #[arg(long, default_value_t = 0)]
        target_minutes: i64,
        #[arg(long, default_value_t = 0)]
        limit_minutes: i64,
        #[arg(long, default_value_t = 0)]
        deduction_points: i32,
        #[arg(long, default_value_t = 0)]
        window_days: i32,
        #[arg(long)]
        count_deliveries: bool,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Opens a period: a month "2026-11", or a quarter "2026-Q4" with --quarterly.
    OpenPeriod {
        label: String,
        #[arg(long)]
        quarterly: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists the assessment periods.
    Periods {
        #[command(flatten)]
        connection: Connection,
    },
    /// Closes a period after its end; with --wait, until everyone is assessed.
    Close {
        period: String,
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// One person's assessment: the latest revision, or the one named.
    Assessment {
        staff: String,
        period: String,
        #[arg(long, default_value_t = 0)]
        revision: i32,
        #[command(flatten)]
        connection: Connection,
    },
    /// The latest assessment of each person in a period.
    Assessments {
        period: String,
        #[arg(long, default_value = "")]
        team: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Computes a person's assessment again from its events.
    Recompute {
        staff: String,
        period: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// The events behind a revision's figures.
    Sources {
        staff: String,
        period: String,
        #[arg(long)]
        kpi: Option<String>,
        #[arg(long, default_value_t = 0)]
        revision: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Disputes an event counted in one of your figures (SK-3).
    Dispute {
        #[arg(long)]
        staff: String,
        #[arg(long)]
        period: String,
        #[arg(long)]
        kpi: String,
        #[arg(long)]
        event: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists disputes, of a person, state or period.
    Disputes {
        #[arg(long, default_value = "")]
        staff: String,
        /// open, upheld or rejected.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value = "")]
        period: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Decides a dispute: --uphold or --reject, with a note.
    Decide {
        id: String,
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        uphold: bool,
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        note: String,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// A reward or penalty rule (SK-4): every --when must hold, e.g. "csat>=900",
    /// "first_response_met>=950", "grade>=B", "score<=600", "conduct>=2".
    CreateRule {
        #[arg(long)]
        name: String,
        #[arg(long, conflicts_with = "reward", required_unless_present = "reward")]
        penalty: bool,
        #[arg(long)]
        reward: bool,
        /// CNY fen.
        #[arg(long)]
        amount_fen: i64,
        #[arg(long = "when", required = true)]
        conditions: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists the reward and penalty rules.
    Rules {
        #[command(flatten)]
        connection: Connection,
    },
    /// A new version of a rule: its amount, conditions, or --disable / --enable.
    UpdateRule {
        id: String,
        #[arg(long)]
        amount_fen: Option<i64>,
        #[arg(long = "when")]
        conditions: Vec<String>,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Rewards and penalties decided, with the rule version that decided each.
    Outcomes {
        #[arg(long, default_value = "")]
        period: String,
        #[arg(long, default_value = "")]
        staff: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records a breach of conduct (SK-5): gift_accepted, privacy or other.
    Breach {
        #[arg(long)]
        staff: String,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        description: String,
        #[arg(long)]
        evidence: String,
        #[arg(long)]
        at: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists conduct breaches, of a person.
    Breaches {
        #[arg(long, default_value = "")]
        staff: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Plans a training session (SK-6).
    Plan {
        #[arg(long)]
        title: String,
        #[arg(long)]
        at: String,
        #[arg(long, default_value = "")]
        team: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records one person's attendance of a session: --score N, --absent or --excused.
    Attend {
        plan: String,
        staff: String,
        #[arg(long)]
        score: Option<i32>,
        #[arg(long, conflicts_with = "score")]
        absent: bool,
        #[arg(long, conflicts_with_all = ["score", "absent"])]
        excused: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Training records, of a person or a session.
    Training {
        #[arg(long, default_value = "")]
        staff: String,
        #[arg(long, default_value = "")]
        plan: String,
        #[command(flatten)]
        connection: Connection,
    },
}

fn client(settings: &Settings, connection: &Connection) -> anyhow::Result<Client> {
    Ok(StaffKpiServiceClient::new(
        connection.channel(settings, false)?,
    ))
}

fn kpi(text: &str) -> anyhow::Result<pb::Kpi> {
    named(text, "KPI_", pb::Kpi::from_str_name)
}

fn role(text: &str) -> anyhow::Result<pb::StaffRole> {
    named(text, "STAFF_ROLE_", pb::StaffRole::from_str_name)
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn cny(fen: i64) -> Option<Money> {
    Some(Money {
        currency_code: "CNY".into(),
        minor_units: fen,
    })
}

/// "csat>=900", "grade>=B", "score<=600": a KPI's value, the grade or the score, at least or
/// at most.
fn condition(text: &str) -> anyhow::Result<pb::RuleCondition> {
    let (left, comparison, right) = if let Some((l, r)) = text.split_once(">=") {
        (l, pb::Comparison::AtLeast, r)
    } else if let Some((l, r)) = text.split_once("<=") {
        (l, pb::Comparison::AtMost, r)
    } else {
        anyhow::bail!("--when {text:?}: subject>=value or subject<=value");
    };
    let (left, right) = (left.trim(), right.trim());
    let mut c = pb::RuleCondition {
        comparison: comparison as i32,
        ..Default::default()
    };
    match left {
        "grade" => {
            c.subject = pb::RuleSubject::Grade as i32;
            c.grade = named(right, "GRADE_", pb::Grade::from_str_name)? as i32;
        }
        "score" => {
            c.subject = pb::RuleSubject::Score as i32;
            c.threshold = right.parse().with_context(|| format!("--when {text:?}"))?;
        }
        other => {
            c.subject = pb::RuleSubject::Kpi as i32;
            c.kpi = kpi(other)? as i32;
            c.threshold = right.parse().with_context(|| format!("--when {text:?}"))?;
        }
    }
    Ok(c)
}

/// A value in its KPI's unit: a share "95.0%", minutes "130 min", a count, a mean score.
fn value(kpi: pb::Kpi, value: Option<i64>) -> String {
    let Some(v) = value else {
        return "no data".into();
    };
    match kpi {
        pb::Kpi::ResolutionTime => format!("{v} min"),
        pb::Kpi::ComplaintsAgainst | pb::Kpi::Conduct => v.to_string(),
        pb::Kpi::Training => format!("{}.{}", v / 10, v % 10),
        _ => format!("{}.{}%", v / 10, v % 10),
    }
}

fn tenths(score: Option<i32>) -> String {
    score.map_or_else(|| "-".into(), |s| format!("{}.{}", s / 10, s % 10))
}

fn print_staff(s: &pb::Staff, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(s)?);
        return Ok(());
    }
    println!("id        {}", s.id);
    println!("name      {}", s.display_name);
    println!(
        "role      {}",
        enum_label(s.role().as_str_name(), "STAFF_ROLE_")
    );
    println!("team      {}", s.team_id);
    println!("manager   {}", s.manager_id);
    if !s.sales_region.is_empty() {
        println!("region    {}", s.sales_region);
    }
    println!(
        "state     {}",
        enum_label(s.state().as_str_name(), "STAFF_STATE_")
    );
    println!("joined    {}", output::time(s.join_time));
    if s.leave_time.is_some() {
        println!("left      {}", output::time(s.leave_time));
    }
    println!("version   {}", s.version);
    Ok(())
}

fn print_assessment(a: &pb::Assessment, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(a)?);
        return Ok(());
    }
    println!(
        "{} in {}: revision {} ({}{}), score {}, grade {}",
        a.staff_id,
        a.period_id,
        a.revision,
        enum_label(a.cause().as_str_name(), "ASSESSMENT_CAUSE_"),
        if a.dispute_id.is_empty() {
            String::new()
        } else {
            format!(" by dispute {}", a.dispute_id)
        },
        tenths(a.score_tenths),
        match a.grade() {
            pb::Grade::Unspecified => "-".to_owned(),
            g => enum_label(g.as_str_name(), "GRADE_").to_uppercase(),
        }
    );
    let rows: Vec<Vec<String>> = a
        .figures
        .iter()
        .map(|f| {
            vec![
                enum_label(f.kpi().as_str_name(), "KPI_"),
                format!("v{}", f.formula_version),
                value(f.kpi(), f.value),
                format!("{}/{}", f.numerator, f.denominator),
                tenths(f.score_tenths),
                f.weight.to_string(),
                f.source_count.to_string(),
            ]
        })
        .collect();
    output::table(
        &["kpi", "formula", "value", "of", "score", "weight", "events"],
        &rows,
    );
    Ok(())
}

fn print_dispute(d: &pb::Dispute, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(d)?);
        return Ok(());
    }
    println!("id        {}", d.id);
    println!("staff     {} in {}", d.staff_id, d.period_id);
    println!("kpi       {}", enum_label(d.kpi().as_str_name(), "KPI_"));
    println!("event     {}", d.event_id);
    println!("reason    {}", d.reason);
    println!(
        "state     {}",
        enum_label(d.state().as_str_name(), "DISPUTE_STATE_")
    );
    if !d.decided_by.is_empty() {
        println!("decided   by {}: {}", d.decided_by, d.decision_note);
    }
    println!("version   {}", d.version);
    Ok(())
}

fn print_rule(r: &pb::RewardRule, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(r)?);
        return Ok(());
    }
    let when: Vec<String> = r
        .conditions
        .iter()
        .map(|c| {
            let op = if c.comparison() == pb::Comparison::AtMost {
                "<="
            } else {
                ">="
            };
            match c.subject() {
                pb::RuleSubject::Grade => {
                    format!(
                        "grade{op}{}",
                        enum_label(c.grade().as_str_name(), "GRADE_").to_uppercase()
                    )
                }
                pb::RuleSubject::Score => format!("score{op}{}", c.threshold),
                _ => format!(
                    "{}{op}{}",
                    enum_label(c.kpi().as_str_name(), "KPI_"),
                    c.threshold
                ),
            }
        })
        .collect();
    println!(
        "{}  v{}  {} {}  when {}{}  ({})",
        r.id,
        r.version,
        enum_label(r.kind().as_str_name(), "REWARD_PENALTY_KIND_"),
        yuan(r.amount.as_ref()),
        when.join(" and "),
        if r.disabled { "  [disabled]" } else { "" },
        r.display_name
    );
    Ok(())
}

async fn get_staff(c: &mut Client, connection: &Connection, id: &str) -> anyhow::Result<pb::Staff> {
    Ok(c.get_staff(connection.request(pb::GetStaffRequest {
        staff_id: id.to_owned(),
    })?)
    .await
    .map_err(explain)?
    .into_inner())
}

pub(crate) async fn staff(settings: &Settings, command: StaffCommand) -> anyhow::Result<()> {
    use StaffCommand as S;
    match command {
        S::Join {
            id,
            name,
            role: r,
            team,
            manager,
            region,
            joined,
            connection,
        } => {
            let s = client(settings, &connection)?
                .create_staff(connection.request(pb::CreateStaffRequest {
                    staff: Some(pb::Staff {
                        id,
                        display_name: name,
                        role: role(&r)? as i32,
                        team_id: team,
                        manager_id: manager,
                        sales_region: region,
                        join_time: joined.as_deref().map(parse_time).transpose()?,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_staff(&s, connection.json)
        }
        S::Show { id, connection } => {
            let mut c = client(settings, &connection)?;
            print_staff(&get_staff(&mut c, &connection, &id).await?, connection.json)
        }
        S::List {
            team,
            role: r,
            state,
            page_token,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_staff(
                    connection.request(pb::ListStaffRequest {
                        team_id: team,
                        role: r.as_deref().map(role).transpose()?.map_or(0, |r| r as i32),
                        state: state
                            .as_deref()
                            .map(|s| named(s, "STAFF_STATE_", pb::StaffState::from_str_name))
                            .transpose()?
                            .map_or(0, |s| s as i32),
                        page_size: 0,
                        page_token,
                    })?,
                )
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.staff,
                &page.next_page_token,
                &["id", "role", "team", "manager", "state", "name"],
                |s| {
                    vec![
                        s.id.clone(),
                        enum_label(s.role().as_str_name(), "STAFF_ROLE_"),
                        s.team_id.clone(),
                        s.manager_id.clone(),
                        enum_label(s.state().as_str_name(), "STAFF_STATE_"),
                        s.display_name.clone(),
                    ]
                },
            )
        }
        S::Update {
            id,
            name,
            role: r,
            team,
            manager,
            region,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let current = get_staff(&mut c, &connection, &id).await?;
            let mut next = current.clone();
            let mut paths = Vec::new();
            if let Some(name) = name {
                next.display_name = name;
                paths.push("display_name");
            }
            if let Some(r) = r {
                next.role = role(&r)? as i32;
                paths.push("role");
            }
            if let Some(team) = team {
                next.team_id = team;
                paths.push("team_id");
            }
            if let Some(manager) = manager {
                next.manager_id = manager;
                paths.push("manager_id");
            }
            if let Some(region) = region {
                next.sales_region = region;
                paths.push("sales_region");
            }
            let s = c
                .update_staff(connection.request(pb::UpdateStaffRequest {
                    staff: Some(next),
                    update_mask: mask(&paths),
                    expected_version: version.unwrap_or(current.version),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_staff(&s, connection.json)
        }
        S::Leave {
            id,
            at,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let expected = match version {
                Some(v) => v,
                None => get_staff(&mut c, &connection, &id).await?.version,
            };
            let s = c
                .record_staff_departure(connection.request(pb::RecordStaffDepartureRequest {
                    staff_id: id,
                    expected_version: expected,
                    leave_time: at.as_deref().map(parse_time).transpose()?,
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_staff(&s, connection.json)
        }
        S::CreateTeam {
            id,
            name,
            supervisor,
            parent,
            connection,
        } => {
            let t = client(settings, &connection)?
                .create_team(connection.request(pb::CreateTeamRequest {
                    team: Some(pb::Team {
                        id,
                        display_name: name,
                        supervisor_id: supervisor,
                        parent_team_id: parent,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_teams(&[t], connection.json)
        }
        S::Teams { connection } => {
            let page = client(settings, &connection)?
                .list_teams(connection.request(pb::ListTeamsRequest::default())?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            print_teams(&page.teams, false)?;
            output::next_page(&page.next_page_token);
            Ok(())
        }
        S::UpdateTeam {
            id,
            name,
            supervisor,
            parent,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let current = c
                .get_team(connection.request(pb::GetTeamRequest { team_id: id })?)
                .await
                .map_err(explain)?
                .into_inner();
            let mut next = current.clone();
            let mut paths = Vec::new();
            if let Some(name) = name {
                next.display_name = name;
                paths.push("display_name");
            }
            if let Some(supervisor) = supervisor {
                next.supervisor_id = supervisor;
                paths.push("supervisor_id");
            }
            if let Some(parent) = parent {
                next.parent_team_id = parent;
                paths.push("parent_team_id");
            }
            let t = c
                .update_team(connection.request(pb::UpdateTeamRequest {
                    team: Some(next),
                    update_mask: mask(&paths),
                    expected_version: version.unwrap_or(current.version),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_teams(&[t], connection.json)
        }
        S::Kpis { connection } => {
            let page = client(settings, &connection)?
                .list_kpi_definitions(connection.request(pb::ListKpiDefinitionsRequest::default())?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            let mut rows = Vec::new();
            for d in &page.kpi_definitions {
                for f in &d.formulas {
                    let mut params = Vec::new();
                    if f.target_minutes > 0 {
                        params.push(format!(
                            "target {} min, limit {} min",
                            f.target_minutes, f.limit_minutes
                        ));
                    }
                    if f.deduction_points > 0 {
                        params.push(format!("-{} per item", f.deduction_points));
                    }
                    if f.window_days > 0 {
                        params.push(format!("within {} days", f.window_days));
                    }
                    if f.count_deliveries {
                        params.push("deliveries count".into());
                    }
                    rows.push(vec![
                        enum_label(d.kpi().as_str_name(), "KPI_"),
                        format!("v{}", f.formula_version),
                        f.effective_from_date.clone(),
                        f.weight.to_string(),
                        params.join(", "),
                        d.version.to_string(),
                    ]);
                }
            }
            output::table(
                &["kpi", "formula", "from", "weight", "parameters", "version"],
                &rows,
            );
            Ok(())
        }
        S::AddFormula {
            kpi: k,
            from,
            weight,
            target_minutes,
            limit_minutes,
            deduction_points,
            window_days,
            count_deliveries,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let k = kpi(&k)?;
            let expected = match version {
                Some(v) => v,
                None => {
                    c.get_kpi_definition(
                        connection.request(pb::GetKpiDefinitionRequest { kpi: k as i32 })?,
                    )
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .version
                }
            };
            let d = c
                .add_kpi_formula(connection.request(pb::AddKpiFormulaRequest {
                    kpi: k as i32,
                    expected_version: expected,
                    formula: Some(pb::KpiFormula {
                        effective_from_date: from,
                        weight,
                        target_minutes,
                        limit_minutes,
                        deduction_points,
                        window_days,
                        count_deliveries,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&d)? {
                return Ok(());
            }
            let latest = d.formulas.last().map_or(0, |f| f.formula_version);
            println!(
                "{} formula v{latest} added; the definition is at version {}",
                enum_label(d.kpi().as_str_name(), "KPI_"),
                d.version
            );
            Ok(())
        }
        S::OpenPeriod {
            label: l,
            quarterly,
            connection,
        } => {
            let kind = if quarterly {
                pb::PeriodKind::Quarterly
            } else {
                pb::PeriodKind::Monthly
            };
            let p = client(settings, &connection)?
                .create_period(connection.request(pb::CreatePeriodRequest {
                    period: Some(pb::Period {
                        kind: kind as i32,
                        label: l,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_periods(&[p], connection.json)
        }
        S::Periods { connection } => {
            let page = client(settings, &connection)?
                .list_periods(connection.request(pb::ListPeriodsRequest::default())?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            print_periods(&page.periods, false)?;
            output::next_page(&page.next_page_token);
            Ok(())
        }
        S::Close {
            period,
            wait,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let mut p = c
                .close_period(connection.request(pb::ClosePeriodRequest {
                    period_id: period.clone(),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            while wait && p.state() != pb::PeriodState::Closed {
                if !connection.json {
                    eprintln!("assessed {} of {}", p.assessed_count, p.staff_count);
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                p = c
                    .get_period(connection.request(pb::GetPeriodRequest {
                        period_id: period.clone(),
                    })?)
                    .await
                    .map_err(explain)?
                    .into_inner();
            }
            print_periods(&[p], connection.json)
        }
        S::Assessment {
            staff,
            period,
            revision,
            connection,
        } => {
            let a = client(settings, &connection)?
                .get_assessment(connection.request(pb::GetAssessmentRequest {
                    staff_id: staff,
                    period_id: period,
                    revision,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_assessment(&a, connection.json)
        }
        S::Assessments {
            period,
            team,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_assessments(connection.request(pb::ListAssessmentsRequest {
                    period_id: period,
                    team_id: team,
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.assessments,
                &page.next_page_token,
                &["staff", "team", "revision", "cause", "score", "grade"],
                |a| {
                    vec![
                        a.staff_id.clone(),
                        a.team_id.clone(),
                        a.revision.to_string(),
                        enum_label(a.cause().as_str_name(), "ASSESSMENT_CAUSE_"),
                        tenths(a.score_tenths),
                        match a.grade() {
                            pb::Grade::Unspecified => "-".to_owned(),
                            g => enum_label(g.as_str_name(), "GRADE_").to_uppercase(),
                        },
                    ]
                },
            )
        }
        S::Recompute {
            staff,
            period,
            connection,
        } => {
            let a = client(settings, &connection)?
                .recompute_assessment(connection.request(pb::RecomputeAssessmentRequest {
                    staff_id: staff,
                    period_id: period,
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_assessment(&a, connection.json)
        }
        S::Sources {
            staff,
            period,
            kpi: k,
            revision,
            page_token,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_figure_sources(connection.request(pb::ListFigureSourcesRequest {
                    staff_id: staff,
                    period_id: period,
                    revision,
                    kpi: k.as_deref().map(kpi).transpose()?.map_or(0, |k| k as i32),
                    page_size: 0,
                    page_token,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.sources,
                &page.next_page_token,
                &["kpi", "event", "type", "about", "when", "counted", "amount"],
                |s| {
                    vec![
                        enum_label(s.kpi().as_str_name(), "KPI_"),
                        s.event_id.clone(),
                        s.event_type
                            .rsplit('.')
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                        s.subject_id.clone(),
                        output::time(s.occur_time),
                        if s.counted { "yes" } else { "no" }.to_owned(),
                        s.amount.to_string(),
                    ]
                },
            )
        }
        S::Dispute {
            staff,
            period,
            kpi: k,
            event,
            reason,
            connection,
        } => {
            let d = client(settings, &connection)?
                .create_dispute(connection.request(pb::CreateDisputeRequest {
                    dispute: Some(pb::Dispute {
                        staff_id: staff,
                        period_id: period,
                        kpi: kpi(&k)? as i32,
                        event_id: event,
                        reason,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_dispute(&d, connection.json)
        }
        S::Disputes {
            staff,
            state,
            period,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_disputes(
                    connection.request(pb::ListDisputesRequest {
                        staff_id: staff,
                        state: state
                            .as_deref()
                            .map(|s| named(s, "DISPUTE_STATE_", pb::DisputeState::from_str_name))
                            .transpose()?
                            .map_or(0, |s| s as i32),
                        period_id: period,
                        ..Default::default()
                    })?,
                )
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.disputes,
                &page.next_page_token,
                &["id", "staff", "period", "kpi", "state", "decided by"],
                |d| {
                    vec![
                        d.id.clone(),
                        d.staff_id.clone(),
                        d.period_id.clone(),
                        enum_label(d.kpi().as_str_name(), "KPI_"),
                        enum_label(d.state().as_str_name(), "DISPUTE_STATE_"),
                        d.decided_by.clone(),
                    ]
                },
            )
        }
        S::Decide {
            id,
            uphold,
            reject: _,
            note,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let expected = match version {
                Some(v) => v,
                None => {
                    c.get_dispute(connection.request(pb::GetDisputeRequest {
                        dispute_id: id.clone(),
                    })?)
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .version
                }
            };
            let decision = if uphold {
                pb::DisputeState::Upheld
            } else {
                pb::DisputeState::Rejected
            };
            let d = c
                .decide_dispute(connection.request(pb::DecideDisputeRequest {
                    dispute_id: id,
                    expected_version: expected,
                    decision: decision as i32,
                    decision_note: note,
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_dispute(&d, connection.json)
        }
        S::CreateRule {
            name,
            penalty,
            reward: _,
            amount_fen,
            conditions,
            connection,
        } => {
            let kind = if penalty {
                pb::RewardPenaltyKind::Penalty
            } else {
                pb::RewardPenaltyKind::Reward
            };
            let r = client(settings, &connection)?
                .create_reward_rule(
                    connection.request(pb::CreateRewardRuleRequest {
                        rule: Some(pb::RewardRule {
                            display_name: name,
                            kind: kind as i32,
                            amount: cny(amount_fen),
                            conditions: conditions
                                .iter()
                                .map(|c| condition(c))
                                .collect::<anyhow::Result<_>>()?,
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    })?,
                )
                .await
                .map_err(explain)?
                .into_inner();
            print_rule(&r, connection.json)
        }
        S::Rules { connection } => {
            let page = client(settings, &connection)?
                .list_reward_rules(connection.request(pb::ListRewardRulesRequest::default())?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            for r in &page.rules {
                print_rule(r, false)?;
            }
            output::next_page(&page.next_page_token);
            Ok(())
        }
        S::UpdateRule {
            id,
            amount_fen,
            conditions,
            disable,
            enable,
            version,
            connection,
        } => {
            let mut c = client(settings, &connection)?;
            let current = c
                .get_reward_rule(connection.request(pb::GetRewardRuleRequest {
                    rule_id: id,
                    version: 0,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            let mut next = current.clone();
            let mut paths = Vec::new();
            if let Some(fen) = amount_fen {
                next.amount = cny(fen);
                paths.push("amount");
            }
            if !conditions.is_empty() {
                next.conditions = conditions
                    .iter()
                    .map(|c| condition(c))
                    .collect::<anyhow::Result<_>>()?;
                paths.push("conditions");
            }
            if disable || enable {
                next.disabled = disable;
                paths.push("disabled");
            }
            let r = c
                .update_reward_rule(connection.request(pb::UpdateRewardRuleRequest {
                    rule: Some(next),
                    update_mask: mask(&paths),
                    expected_version: version.unwrap_or(current.version),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_rule(&r, connection.json)
        }
        S::Outcomes {
            period,
            staff,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_reward_penalties(connection.request(pb::ListRewardPenaltiesRequest {
                    period_id: period,
                    staff_id: staff,
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.reward_penalties,
                &page.next_page_token,
                &[
                    "staff", "period", "kind", "amount", "rule", "revision", "state",
                ],
                |o| {
                    vec![
                        o.staff_id.clone(),
                        o.period_id.clone(),
                        enum_label(o.kind().as_str_name(), "REWARD_PENALTY_KIND_"),
                        yuan(o.amount.as_ref()),
                        format!("{} v{}", o.rule_id, o.rule_version),
                        o.assessment_revision.to_string(),
                        enum_label(o.state().as_str_name(), "REWARD_PENALTY_STATE_"),
                    ]
                },
            )
        }
        S::Breach {
            staff,
            kind,
            description,
            evidence,
            at,
            connection,
        } => {
            let b = client(settings, &connection)?
                .record_conduct_breach(connection.request(pb::RecordConductBreachRequest {
                    breach: Some(pb::ConductBreach {
                        staff_id: staff,
                        kind: named(&kind, "BREACH_KIND_", pb::BreachKind::from_str_name)? as i32,
                        description,
                        evidence_reference: evidence,
                        occur_time: Some(parse_time(&at)?),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            print_breaches(&[b], connection.json)
        }
        S::Breaches { staff, connection } => {
            let page = client(settings, &connection)?
                .list_conduct_breaches(connection.request(pb::ListConductBreachesRequest {
                    staff_id: staff,
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            print_breaches(&page.breaches, false)?;
            output::next_page(&page.next_page_token);
            Ok(())
        }
        S::Plan {
            title,
            at,
            team,
            connection,
        } => {
            let p = client(settings, &connection)?
                .create_training_plan(connection.request(pb::CreateTrainingPlanRequest {
                    plan: Some(pb::TrainingPlan {
                        title,
                        session_time: Some(parse_time(&at)?),
                        team_id: team,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&p)? {
                return Ok(());
            }
            println!("{}  {}  {}", p.id, output::time(p.session_time), p.title);
            Ok(())
        }
        S::Attend {
            plan,
            staff,
            score,
            absent,
            excused,
            connection,
        } => {
            let attendance = match (score, absent, excused) {
                (Some(_), _, _) => pb::Attendance::Attended,
                (None, true, _) => pb::Attendance::Absent,
                (None, _, true) => pb::Attendance::Excused,
                _ => anyhow::bail!("--score N, --absent or --excused"),
            };
            let r = client(settings, &connection)?
                .record_training_attendance(connection.request(
                    pb::RecordTrainingAttendanceRequest {
                        record: Some(pb::TrainingRecord {
                            plan_id: plan,
                            staff_id: staff,
                            attendance: attendance as i32,
                            evaluation_score: score.unwrap_or(0),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                )?)
                .await
                .map_err(explain)?
                .into_inner();
            print_training(&[r], connection.json)
        }
        S::Training {
            staff,
            plan,
            connection,
        } => {
            let page = client(settings, &connection)?
                .list_training_records(connection.request(pb::ListTrainingRecordsRequest {
                    staff_id: staff,
                    plan_id: plan,
                    ..Default::default()
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            print_training(&page.training_records, false)?;
            output::next_page(&page.next_page_token);
            Ok(())
        }
    }
}

fn print_teams(teams: &[pb::Team], json: bool) -> anyhow::Result<()> {
    output::listing(
        teams,
        json,
        &["id", "supervisor", "parent", "version", "name"],
        |t| {
            vec![
                t.id.clone(),
                t.supervisor_id.clone(),
                t.parent_team_id.clone(),
                t.version.to_string(),
                t.display_name.clone(),
            ]
        },
    )
}

fn print_periods(periods: &[pb::Period], json: bool) -> anyhow::Result<()> {
    output::listing(
        periods,
        json,
        &["id", "kind", "from", "until", "state", "assessed"],
        |p| {
            let interval = p.interval.unwrap_or_default();
            vec![
                p.id.clone(),
                enum_label(p.kind().as_str_name(), "PERIOD_KIND_"),
                output::time(interval.start_time),
                output::time(interval.end_time),
                enum_label(p.state().as_str_name(), "PERIOD_STATE_"),
                format!("{}/{}", p.assessed_count, p.staff_count),
            ]
        },
    )
}

fn print_breaches(breaches: &[pb::ConductBreach], json: bool) -> anyhow::Result<()> {
    output::listing(
        breaches,
        json,
        &["id", "staff", "kind", "when", "event", "standing"],
        |b| {
            vec![
                b.id.clone(),
                b.staff_id.clone(),
                enum_label(b.kind().as_str_name(), "BREACH_KIND_"),
                output::time(b.occur_time),
                b.event_id.clone(),
                if b.upheld_dispute_id.is_empty() {
                    "counts".to_owned()
                } else {
                    format!("withdrawn by {}", b.upheld_dispute_id)
                },
            ]
        },
    )
}

fn print_training(records: &[pb::TrainingRecord], json: bool) -> anyhow::Result<()> {
    output::listing(
        records,
        json,
        &["plan", "staff", "attendance", "score", "session"],
        |r| {
            vec![
                r.plan_id.clone(),
                r.staff_id.clone(),
                enum_label(r.attendance().as_str_name(), "ATTENDANCE_"),
                r.evaluation_score.to_string(),
                output::time(r.session_time),
            ]
        },
    )
}
