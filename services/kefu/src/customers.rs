//! `kefu customers ...`: customer-registry's daily flows as subcommands (CR-1 to CR-13).

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use kefu_platform::config::Settings;
use kefu_proto::common as pc;
use kefu_proto::customer as pb;

use crate::connection::{Connection, explain};
use crate::output::{self, enum_label};

#[derive(Debug, Subcommand)]
pub(crate) enum CustomersCommand {
    /// Registers a customer (CR-1).
    Create {
        #[command(flatten)]
        fields: CustomerFlags,
        /// The whole Customer as protobuf JSON, instead of or under the flags.
        #[arg(long)]
        body: Option<String>,
        /// Idempotency key: a retry with it returns the first answer.
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows one customer.
    Get {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists customers page by page.
    List {
        #[arg(long, value_parser = ["personal", "enterprise", "government"])]
        kind: Option<String>,
        /// frequent, occasional, large, medium, small, government_a, government_b, government_c.
        #[arg(long)]
        tier: Option<String>,
        /// Include archived and erased customers.
        #[arg(long)]
        archived: bool,
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Changes the fields given as flags, and nothing else.
    Update {
        id: String,
        #[command(flatten)]
        fields: CustomerFlags,
        /// Only if the customer is still at this version.
        #[arg(long, default_value_t = 0)]
        expected_version: i64,
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Archives a customer who left (CR-11).
    Archive {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// The tier history of one customer, newest first (CR-2).
    Tiers {
        id: String,
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// One customer's service record across the services, newest first (CR-13).
    Record {
        id: String,
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Sets a tier by hand, with a reason (managers only; CR-2).
    OverrideTier {
        id: String,
        /// frequent, occasional, large, medium, small, government_a, government_b, government_c.
        #[arg(long)]
        tier: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Hands the tier back to the facts (managers only; CR-2).
    ClearOverride {
        id: String,
        /// Why the facts decide again; kept with the tier change.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Sets the account owner and the visitor (CR-4).
    AssignOwner {
        id: String,
        #[arg(long)]
        owner: String,
        #[arg(long)]
        visitor: String,
        /// Region code the visitor sells in (CR-4 needs it, or --visitor-not-salesperson).
        #[arg(
            long,
            default_value = "",
            required_unless_present = "visitor_not_salesperson"
        )]
        visitor_sales_region: String,
        /// The visitor sells in no region.
        #[arg(long, conflicts_with = "visitor_sales_region")]
        visitor_not_salesperson: bool,
        /// Needed when the visitor sells in the customer's own region, or the customer has
        /// no region on record.
        #[arg(long, default_value = "")]
        override_reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records that the customer confirmed its record is up to date (CR-10).
    Confirm {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Records not confirmed within customer_registry.stale_after_days (CR-10).
    Stale {
        #[arg(long, default_value = "")]
        owner: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Erases a customer's personal data on a lawful request (managers only; CR-11).
    Erase {
        id: String,
        #[arg(long)]
        legal_reference: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Files a visit day-report with the seed's six parts (CR-6).
    ReportVisit {
        /// Part 1: the customer visited.
        id: String,
        /// Part 1: when, RFC 3339; default now.
        #[arg(long)]
        at: Option<String>,
        /// Part 2: the customer's opinions, suggestions and wishes.
        #[arg(long)]
        feedback: String,
        /// Part 3: the market, competitors' moves, other companies' logistics policies.
        #[arg(long)]
        market: String,
        /// Part 4: the effect of the visit.
        #[arg(long)]
        effect: String,
        /// Part 5: the main matters handled and their results.
        #[arg(long)]
        matters: String,
        /// Part 6: anything else to report.
        #[arg(long, default_value = "")]
        other: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists visit day-reports: of a customer, a visitor, a month (YYYY-MM).
    Visits {
        #[arg(long, default_value = "")]
        customer: String,
        #[arg(long, default_value = "")]
        visitor: String,
        #[arg(long, default_value = "")]
        month: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Raises an urgent report to the manager (CR-8): competitor_policy_change,
    /// competitor_new_move, own_service_problem or other.
    Urgent {
        #[arg(long)]
        trigger: String,
        #[arg(long)]
        description: String,
        #[arg(long, default_value = "")]
        customer: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Compiles a team's month of day-reports into a draft monthly report (CR-7).
    MonthlyGenerate {
        #[arg(long)]
        team: String,
        /// YYYY-MM.
        #[arg(long)]
        month: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Submits a monthly report to the manager with the supervisor's review (CR-7).
    MonthlySubmit {
        id: String,
        #[arg(long)]
        summary: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows a monthly report and its day-reports (CR-7).
    Monthly {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lists urgent reports, newest first (supervisors and managers).
    UrgentList {
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows a customer's grade and the parts of its score (CR-3).
    Grade {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Recomputes grades now: of one customer, or of all (supervisors, managers; CR-3).
    Regrade {
        #[arg(long, default_value = "")]
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Customers past their grade's visit interval (CR-5).
    Overdue {
        #[arg(long, default_value = "")]
        visitor: String,
        #[arg(long, default_value = "")]
        team: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Re-seals all personal data under the active key, in the background (managers; CR-9).
    RotateKeys {
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows a key rotation's progress (managers; CR-9).
    Rotation {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// The audit trail of unmasked reads, newest first (supervisors, managers; CR-9).
    Audit {
        /// Only reads of this customer.
        #[arg(long, default_value = "")]
        customer: String,
        /// Only reads by this subject.
        #[arg(long, default_value = "")]
        actor: String,
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// What each tier gets: services, promised delivery time, complaint deadlines (CR-12).
    Plans {
        #[command(flatten)]
        connection: Connection,
    },
    /// Finds customers by phone, through the keyed hash (CR-9).
    Lookup {
        phone: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Customer fields as flags; each flag given is also a path in an update's mask.
#[derive(Debug, Args)]
pub(crate) struct CustomerFlags {
    #[arg(long, value_parser = ["personal", "enterprise", "government"])]
    kind: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// Resident identity card number (personal customers).
    #[arg(long)]
    id_number: Option<String>,
    /// Unified social credit code (enterprise and government customers).
    #[arg(long)]
    registration_number: Option<String>,
    /// "name,role,phone,email" (repeatable).
    #[arg(long = "contact")]
    contacts: Vec<String>,
    /// "province,city,district,street,postal_code" (repeatable).
    #[arg(long = "address")]
    addresses: Vec<String>,
    #[arg(long)]
    industry: Option<String>,
    #[arg(long)]
    needs: Option<String>,
    #[arg(long, value_parser = ["national", "provincial", "prefecture"])]
    government_level: Option<String>,
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    team: Option<String>,
}

impl CustomerFlags {
    /// Writes the given flags into `c`; returns the mask paths they stand for.
    fn apply(self, c: &mut pb::Customer) -> Vec<String> {
        let mut paths = Vec::new();
        let mut set = |path: &str, value: Option<String>, field: &mut String| {
            if let Some(value) = value {
                *field = value;
                paths.push(path.to_owned());
            }
        };
        set("display_name", self.name, &mut c.display_name);
        set("phone", self.phone, &mut c.phone);
        set("email", self.email, &mut c.email);
        set("id_number", self.id_number, &mut c.id_number);
        set(
            "registration_number",
            self.registration_number,
            &mut c.registration_number,
        );
        set("industry", self.industry, &mut c.industry);
        set("needs", self.needs, &mut c.needs);
        set("region", self.region, &mut c.region);
        set("team_id", self.team, &mut c.team_id);
        if let Some(kind) = self.kind {
            c.kind = match kind.as_str() {
                "personal" => pb::CustomerKind::Personal,
                "enterprise" => pb::CustomerKind::Enterprise,
                _ => pb::CustomerKind::Government,
            } as i32;
        }
        if let Some(level) = self.government_level {
            c.government_level = match level.as_str() {
                "national" => pb::GovernmentLevel::National,
                "provincial" => pb::GovernmentLevel::Provincial,
                _ => pb::GovernmentLevel::Prefecture,
            } as i32;
            paths.push("government_level".into());
        }
        if !self.contacts.is_empty() {
            c.contacts = self
                .contacts
                .iter()
                .map(|s| {
                    let p = split(s, 4);
                    pb::Contact {
                        display_name: p[0].clone(),
                        role: p[1].clone(),
                        phone: p[2].clone(),
                        email: p[3].clone(),
                    }
                })
                .collect();
            paths.push("contacts".into());
        }
        if !self.addresses.is_empty() {
            c.addresses = self
                .addresses
                .iter()
                .map(|s| {
                    let p = split(s, 5);
                    pc::Address {
                        label: String::new(),
                        province: p[0].clone(),
                        city: p[1].clone(),
                        district: p[2].clone(),
                        street: p[3].clone(),
                        postal_code: p[4].clone(),
                    }
                })
                .collect();
            paths.push("addresses".into());
        }
        paths
    }
}

/// Splits "a,b,c" into exactly `n` trimmed parts, padding with empty strings.
fn split(s: &str, n: usize) -> Vec<String> {
    let mut parts: Vec<String> = s.splitn(n, ',').map(|p| p.trim().to_owned()).collect();
    parts.resize(n, String::new());
    parts
}

pub(crate) async fn customers(
    settings: &Settings,
    command: CustomersCommand,
) -> anyhow::Result<()> {
    match command {
        CustomersCommand::Create {
            fields,
            body,
            request_id,
            connection,
        } => {
            let mut customer: pb::Customer = match body {
                Some(json) => {
                    output::from_json(&json).context("--body is not a Customer in protobuf JSON")?
                }
                None => pb::Customer::default(),
            };
            fields.apply(&mut customer);
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: request_id.unwrap_or_default(),
            })?;
            let customer = client
                .create_customer(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::Get { id, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::GetCustomerRequest { customer_id: id })?;
            let customer = client
                .get_customer(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::List {
            kind,
            tier,
            archived,
            page_size,
            page_token,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let kind = match kind.as_deref() {
                Some("personal") => pb::CustomerKind::Personal,
                Some("enterprise") => pb::CustomerKind::Enterprise,
                Some(_) => pb::CustomerKind::Government,
                None => pb::CustomerKind::Unspecified,
            };
            let tier = match tier {
                Some(t) => pb::Tier::from_str_name(&format!("TIER_{}", t.to_ascii_uppercase()))
                    .with_context(|| format!("unknown tier {t:?}"))?,
                None => pb::Tier::Unspecified,
            };
            let request = connection.request(pb::ListCustomersRequest {
                page_size,
                page_token,
                kind: kind as i32,
                tier: tier as i32,
                show_archived: archived,
            })?;
            let page = client
                .list_customers(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page.customers.iter().map(customer_row).collect();
            output::table(
                &["ID", "KIND", "NAME", "TIER", "STATE", "PHONE", "TEAM"],
                &rows,
            );
            output::next_page(&page.next_page_token);
            Ok(())
        }
        CustomersCommand::Update {
            id,
            fields,
            expected_version,
            request_id,
            connection,
        } => {
            let mut customer = pb::Customer {
                id,
                ..Default::default()
            };
            let paths = fields.apply(&mut customer);
            if paths.is_empty() {
                bail!("nothing to update: give at least one field flag");
            }
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::UpdateCustomerRequest {
                customer: Some(customer),
                update_mask: Some(prost_types::FieldMask { paths }),
                expected_version,
                request_id: request_id.unwrap_or_default(),
            })?;
            let customer = client
                .update_customer(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::Archive {
            id,
            reason,
            request_id,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ArchiveCustomerRequest {
                customer_id: id,
                reason,
                request_id: request_id.unwrap_or_default(),
            })?;
            let customer = client
                .archive_customer(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::Tiers {
            id,
            page_size,
            page_token,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListTierChangesRequest {
                customer_id: id,
                page_size,
                page_token,
            })?;
            let page = client
                .list_tier_changes(request)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.tier_changes,
                &page.next_page_token,
                &["WHEN", "FROM", "TO", "BY", "REASON"],
                |c| {
                    vec![
                        output::time(c.change_time),
                        enum_label(c.old_tier().as_str_name(), "TIER_"),
                        enum_label(c.new_tier().as_str_name(), "TIER_"),
                        if c.manual_override {
                            format!("manual ({})", c.actor_id)
                        } else {
                            "facts".into()
                        },
                        c.reason.clone(),
                    ]
                },
            )
        }
        CustomersCommand::Audit {
            customer,
            actor,
            page_size,
            page_token,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListAuditRecordsRequest {
                customer_id: customer,
                actor_id: actor,
                page_size,
                page_token,
            })?;
            let page = client
                .list_audit_records(request)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.audit_records,
                &page.next_page_token,
                &["WHEN", "WHO", "CUSTOMER", "FIELDS", "PURPOSE", "RPC"],
                |r| {
                    vec![
                        output::time(r.read_time),
                        format!("{} ({})", r.actor_id, r.actor_role),
                        r.customer_id.clone(),
                        r.fields.join(","),
                        r.purpose.clone(),
                        r.rpc.clone(),
                    ]
                },
            )
        }
        CustomersCommand::Plans { connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListServicePlansRequest {})?;
            let plans = client
                .list_service_plans(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&plans)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = plans
                .service_plans
                .iter()
                .map(|p| {
                    vec![
                        enum_label(p.tier().as_str_name(), "TIER_"),
                        p.promised_delivery_hours.to_string(),
                        p.first_response_hours.to_string(),
                        p.resolution_hours.to_string(),
                        p.services.join(", "),
                    ]
                })
                .collect();
            output::table(
                &[
                    "TIER",
                    "DELIVERY H",
                    "FIRST RESPONSE H",
                    "RESOLUTION H",
                    "SERVICES",
                ],
                &rows,
            );
            Ok(())
        }
        CustomersCommand::Record {
            id,
            page_size,
            page_token,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListServiceRecordRequest {
                customer_id: id,
                page_size,
                page_token,
            })?;
            let page = client
                .list_service_record(request)
                .await
                .map_err(explain)?
                .into_inner();
            output::page(
                &page,
                connection.json,
                &page.entries,
                &page.next_page_token,
                &["WHEN", "SOURCE", "ABOUT", "WHAT"],
                |e| {
                    vec![
                        output::time(e.occur_time),
                        e.source.clone(),
                        e.subject.clone(),
                        e.summary.clone(),
                    ]
                },
            )
        }
        CustomersCommand::OverrideTier {
            id,
            tier,
            reason,
            connection,
        } => {
            let tier = pb::Tier::from_str_name(&format!("TIER_{}", tier.to_ascii_uppercase()))
                .with_context(|| format!("unknown tier {tier:?}"))?;
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::OverrideTierRequest {
                customer_id: id,
                tier: tier as i32,
                reason,
                request_id: String::new(),
            })?;
            let customer = client
                .override_tier(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::AssignOwner {
            id,
            owner,
            visitor,
            visitor_sales_region,
            visitor_not_salesperson,
            override_reason,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::AssignOwnerRequest {
                customer_id: id,
                owner_id: owner,
                visitor_id: visitor,
                visitor_sales_region,
                visitor_is_not_salesperson: visitor_not_salesperson,
                override_reason,
                request_id: String::new(),
            })?;
            let customer = client
                .assign_owner(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::Erase {
            id,
            legal_reference,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::EraseCustomerRequest {
                customer_id: id,
                legal_reference,
                request_id: String::new(),
            })?;
            let customer = client
                .erase_customer(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::ReportVisit {
            id,
            at,
            feedback,
            market,
            effect,
            matters,
            other,
            connection,
        } => {
            let at = match at {
                Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
                    .with_context(|| format!("--at {text:?} is not RFC 3339"))?
                    .with_timezone(&chrono::Utc),
                None => chrono::Utc::now(),
            };
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::CreateVisitReportRequest {
                visit_report: Some(pb::VisitReport {
                    customer_id: id,
                    visit_time: Some(prost_types::Timestamp {
                        seconds: at.timestamp(),
                        nanos: 0,
                    }),
                    customer_feedback: feedback,
                    market_intelligence: market,
                    visit_effect: effect,
                    matters_handled: matters,
                    other_matters: other,
                    ..Default::default()
                }),
                request_id: String::new(),
            })?;
            let report = client
                .create_visit_report(request)
                .await
                .map_err(explain)?
                .into_inner();
            println!(
                "{}",
                if connection.json {
                    output::json(&report)?
                } else {
                    format!("visit report {} filed", report.id)
                }
            );
            Ok(())
        }
        CustomersCommand::Visits {
            customer,
            visitor,
            month,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListVisitReportsRequest {
                customer_id: customer,
                visitor_id: visitor,
                month,
                ..Default::default()
            })?;
            let page = client
                .list_visit_reports(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page
                .visit_reports
                .iter()
                .map(|r| {
                    vec![
                        output::time(r.visit_time),
                        r.customer_id.clone(),
                        r.visitor_id.clone(),
                        r.visit_effect.clone(),
                    ]
                })
                .collect();
            output::table(&["VISITED", "CUSTOMER", "VISITOR", "EFFECT"], &rows);
            Ok(())
        }
        CustomersCommand::Urgent {
            trigger,
            description,
            customer,
            connection,
        } => {
            let trigger = pb::UrgentTrigger::from_str_name(&format!(
                "URGENT_TRIGGER_{}",
                trigger.to_ascii_uppercase()
            ))
            .with_context(|| format!("unknown trigger {trigger:?}"))?;
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::CreateUrgentReportRequest {
                urgent_report: Some(pb::UrgentReport {
                    customer_id: customer,
                    trigger: trigger as i32,
                    description,
                    ..Default::default()
                }),
                request_id: String::new(),
            })?;
            let report = client
                .create_urgent_report(request)
                .await
                .map_err(explain)?
                .into_inner();
            println!(
                "{}",
                if connection.json {
                    output::json(&report)?
                } else {
                    format!("urgent report {} raised", report.id)
                }
            );
            Ok(())
        }
        CustomersCommand::MonthlyGenerate {
            team,
            month,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::GenerateMonthlyReportRequest {
                team_id: team,
                month,
                request_id: String::new(),
            })?;
            let report = client
                .generate_monthly_report(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_monthly(&report, connection.json)
        }
        CustomersCommand::MonthlySubmit {
            id,
            summary,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::SubmitMonthlyReportRequest {
                monthly_report_id: id,
                supervisor_summary: summary,
                request_id: String::new(),
            })?;
            let report = client
                .submit_monthly_report(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_monthly(&report, connection.json)
        }
        CustomersCommand::Monthly { id, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::GetMonthlyReportRequest {
                monthly_report_id: id,
            })?;
            let report = client
                .get_monthly_report(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_monthly(&report, connection.json)
        }
        CustomersCommand::UrgentList { connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListUrgentReportsRequest::default())?;
            let page = client
                .list_urgent_reports(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page
                .urgent_reports
                .iter()
                .map(|r| {
                    vec![
                        output::time(r.create_time),
                        enum_label(r.trigger().as_str_name(), "URGENT_TRIGGER_"),
                        r.reporter_id.clone(),
                        r.description.clone(),
                    ]
                })
                .collect();
            output::table(&["RAISED", "TRIGGER", "BY", "DESCRIPTION"], &rows);
            Ok(())
        }
        CustomersCommand::Grade { id, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ExplainGradeRequest { customer_id: id })?;
            let grade = client
                .explain_grade(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&grade)? {
                return Ok(());
            }
            println!(
                "grade {} (score {:.1}; cut-offs {:?})",
                enum_label(grade.grade().as_str_name(), "GRADE_"),
                grade.total_score,
                grade.cutoffs
            );
            let rows: Vec<Vec<String>> = grade
                .components
                .iter()
                .map(|c| {
                    vec![
                        c.factor.clone(),
                        format!("{:.1}", c.score),
                        format!("{:.2}", c.weight),
                        format!("{:.1}", c.contribution),
                        c.basis.clone(),
                    ]
                })
                .collect();
            output::table(&["FACTOR", "SCORE", "WEIGHT", "PART", "FROM"], &rows);
            Ok(())
        }
        CustomersCommand::Regrade { id, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::RecomputeGradesRequest { customer_id: id })?;
            let done = client
                .recompute_grades(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.json {
                println!("{}", output::json(&done)?);
            } else {
                println!(
                    "{} recomputed, {} changed",
                    done.recomputed_count, done.changed_count
                );
            }
            Ok(())
        }
        CustomersCommand::Overdue {
            visitor,
            team,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListOverdueVisitsRequest {
                visitor_id: visitor,
                team_id: team,
                ..Default::default()
            })?;
            let page = client
                .list_overdue_visits(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page
                .overdue_visits
                .iter()
                .map(|o| {
                    vec![
                        o.customer_id.clone(),
                        enum_label(o.grade().as_str_name(), "GRADE_"),
                        o.visitor_id.clone(),
                        o.team_id.clone(),
                        o.days_overdue.to_string(),
                    ]
                })
                .collect();
            output::table(
                &["CUSTOMER", "GRADE", "VISITOR", "TEAM", "DAYS OVERDUE"],
                &rows,
            );
            Ok(())
        }
        CustomersCommand::RotateKeys { connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::StartKeyRotationRequest::default())?;
            let rotation = client
                .start_key_rotation(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_rotation(&rotation, connection.json)
        }
        CustomersCommand::Rotation { id, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::GetKeyRotationRequest {
                key_rotation_id: id,
            })?;
            let rotation = client
                .get_key_rotation(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_rotation(&rotation, connection.json)
        }
        CustomersCommand::Confirm { id, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ConfirmCustomerRequest {
                customer_id: id,
                request_id: String::new(),
            })?;
            let customer = client
                .confirm_customer(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
        CustomersCommand::Stale { owner, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ListStaleCustomersRequest {
                owner_id: owner,
                ..Default::default()
            })?;
            let page = client
                .list_stale_customers(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&page)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page.customers.iter().map(customer_row).collect();
            output::table(
                &["ID", "KIND", "NAME", "TIER", "STATE", "PHONE", "TEAM"],
                &rows,
            );
            Ok(())
        }
        CustomersCommand::Lookup { phone, connection } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::LookupCustomerByPhoneRequest { phone })?;
            let found = client
                .lookup_customer_by_phone(request)
                .await
                .map_err(explain)?
                .into_inner();
            if connection.printed_json(&found)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = found.customers.iter().map(customer_row).collect();
            output::table(
                &["ID", "KIND", "NAME", "TIER", "STATE", "PHONE", "TEAM"],
                &rows,
            );
            Ok(())
        }
        CustomersCommand::ClearOverride {
            id,
            reason,
            connection,
        } => {
            let mut client = connection.customers(settings)?;
            let request = connection.request(pb::ClearTierOverrideRequest {
                customer_id: id,
                reason,
                request_id: String::new(),
            })?;
            let customer = client
                .clear_tier_override(request)
                .await
                .map_err(explain)?
                .into_inner();
            print_customer(&customer, connection.json)
        }
    }
}

fn customer_row(c: &pb::Customer) -> Vec<String> {
    vec![
        c.id.clone(),
        enum_label(c.kind().as_str_name(), "CUSTOMER_KIND_"),
        c.display_name.clone(),
        enum_label(c.tier().as_str_name(), "TIER_"),
        enum_label(c.state().as_str_name(), "CUSTOMER_STATE_"),
        c.phone.clone(),
        c.team_id.clone(),
    ]
}

fn print_rotation(r: &pb::KeyRotation, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(r)?);
        return Ok(());
    }
    println!(
        "key rotation {} to key {}: {} ({} of {} customers){}",
        r.id,
        r.target_key_id,
        enum_label(r.state().as_str_name(), "KEY_ROTATION_STATE_"),
        r.done_rows,
        r.total_rows,
        if r.error.is_empty() {
            String::new()
        } else {
            format!(": {}", r.error)
        }
    );
    Ok(())
}

fn print_monthly(r: &pb::MonthlyReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(r)?);
        return Ok(());
    }
    println!(
        "monthly report {} of team {} for {}: {} ({} visits, {} customers, {} overdue)",
        r.id,
        r.team_id,
        r.month,
        enum_label(r.state().as_str_name(), "MONTHLY_REPORT_STATE_"),
        r.visit_count,
        r.customer_count,
        r.overdue_count
    );
    if !r.supervisor_summary.is_empty() {
        println!("review by {}: {}", r.supervisor_id, r.supervisor_summary);
    }
    for v in &r.visit_reports {
        println!("  {} {}: {}", v.customer_id, v.visitor_id, v.visit_effect);
    }
    Ok(())
}

fn print_customer(c: &pb::Customer, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", output::json(c)?);
        return Ok(());
    }
    let mut rows = vec![
        ("id", c.id.clone()),
        ("kind", enum_label(c.kind().as_str_name(), "CUSTOMER_KIND_")),
        ("name", c.display_name.clone()),
        (
            "state",
            enum_label(c.state().as_str_name(), "CUSTOMER_STATE_"),
        ),
        (
            "tier",
            format!(
                "{}{}",
                enum_label(c.tier().as_str_name(), "TIER_"),
                if c.tier_overridden {
                    " (set by a manager)"
                } else {
                    ""
                }
            ),
        ),
        ("phone", c.phone.clone()),
        ("email", c.email.clone()),
        ("id number", c.id_number.clone()),
        ("credit code", c.registration_number.clone()),
        ("team", c.team_id.clone()),
        ("owner", c.owner_id.clone()),
        ("visitor", c.visitor_id.clone()),
        ("why visitor", c.owner_override_reason.clone()),
        ("archived for", c.archive_reason.clone()),
        ("erased per", c.erasure_reference.clone()),
        ("grade", enum_label(c.grade().as_str_name(), "GRADE_")),
        ("version", c.version.to_string()),
        ("masked", c.personal_data_masked.to_string()),
    ];
    for (i, k) in c.contacts.iter().enumerate() {
        rows.push((
            "contact",
            format!(
                "#{i} {} ({}) {} {}",
                k.display_name, k.role, k.phone, k.email
            ),
        ));
    }
    for a in &c.addresses {
        rows.push((
            "address",
            format!(
                "{} {} {} {} {}",
                a.province, a.city, a.district, a.street, a.postal_code
            ),
        ));
    }
    for (key, value) in rows.into_iter().filter(|(_, v)| !v.is_empty()) {
        println!("{key:<12} {value}");
    }
    Ok(())
}
