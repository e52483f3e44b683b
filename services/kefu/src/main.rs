//! `kefu`: one binary for every Kefu service (`serve`, `migrate`), its operators (`token`,
//! `config`) and its users (a typed client for every implemented RPC).

#![forbid(unsafe_code)]

mod bench;
mod call;
mod complaints;
mod connection;
mod customers;
mod events;
mod orders;
mod output;
mod report;
mod serve;
mod soak_command;
mod staff;
mod surveys;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kefu_platform::auth::{Grant, Role, TokenKeys};

// glibc's malloc and free were a fifth of a hot GetOrder's CPU under load (perf, h2load);
// mimalloc's thread-local free lists cost a fraction of that (see README, Benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "kefu",
    version,
    about = "Kefu: customer service for logistics companies"
)]
struct Cli {
    /// Settings file (TOML, or JSON when it ends in .json), applied over the embedded
    /// defaults; KEFU__SECTION__KEY environment variables apply over both.
    #[arg(long, global = true, env = "KEFU_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one service, or all of them in one process.
    Serve {
        /// A service of `kefu services`, a comma-separated list of them, or all.
        #[arg(long, default_value = "all")]
        service: String,
    },
    /// Applies pending database migrations of one service, a comma-separated list, or all.
    Migrate {
        #[arg(long, default_value = "all")]
        service: String,
    },
    /// Mints a development token signed with the configured key.
    Token {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Subject: the staff member or system the token speaks for.
        #[arg(long, default_value = "dev")]
        sub: String,
        /// Scopes, e.g. pii:read (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Team, for object-level checks on agents.
        #[arg(long, default_value = "")]
        team: String,
        /// Department, for object-level checks on supervisors (complaint-desk).
        #[arg(long, default_value = "")]
        dept: String,
        /// Lifetime in seconds; defaults to auth.dev_token_ttl_s.
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Prints the effective settings, secrets hidden.
    Config,
    /// Lists the services of this build: name, gRPC service, settings section, port.
    Services {
        /// As JSON (what the Helm chart's services.json holds).
        #[arg(long)]
        json: bool,
    },
    /// customer-registry: the customer archive.
    #[command(subcommand)]
    Customers(Box<customers::CustomersCommand>),
    /// order-tracking: orders from intake to signed handover.
    #[command(subcommand)]
    Orders(Box<orders::OrdersCommand>),
    /// complaint-desk: complaints and requests, on the clock, to the customer's confirmation.
    #[command(subcommand)]
    Complaints(Box<complaints::ComplaintsCommand>),
    /// survey: questionnaires, triggers, campaigns, answers and scores.
    #[command(subcommand)]
    Surveys(Box<surveys::SurveysCommand>),
    /// staff-kpi: the organisation, KPIs from events, assessments, disputes, rewards.
    #[command(subcommand)]
    Staff(Box<staff::StaffCommand>),
    /// A service's business report for a local day or month (`--csv` for a spreadsheet).
    Report(report::ReportArgs),
    /// Follows a service's event stream.
    Events(events::EventsArgs),
    /// Calls any RPC of a served service with a JSON request, e.g.
    /// `kefu call CustomerRegistryService/GetCustomer --data '{"customerId": "..."}'`.
    Call(call::CallArgs),
    /// Writes to every service of a running deployment for as long as asked, keeping a
    /// ledger of what was acknowledged, then reads every acknowledged write back.
    Soak(soak_command::SoakArgs),
    /// Measures order-tracking on PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379)
    /// against references in the same run; build with --release.
    Bench(bench::BenchArgs),
    /// The bench's reference: a bare tonic server answering GetOrder with the order in
    /// `--answer` (protobuf), started by `kefu bench` as a process of its own.
    #[command(hide = true)]
    BenchReference {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        answer: PathBuf,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// A service of this build, by the name `kefu services` lists.
pub(crate) fn service_name(s: &str) -> Result<String, String> {
    kefu::services(s)
        .map_err(|e| e.to_string())
        .and_then(|found| match found.as_slice() {
            [one] => Ok(one.name().to_owned()),
            _ => Err("one service".to_owned()),
        })
}

fn main() -> ExitCode {
    // `kefu orders list | head` closes stdout early; that ends the command, it is no crash.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(0);
        }
        report_panic(info);
    }));
    let cli = Cli::parse();
    let settings = match kefu::load_settings(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("kefu: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kefu: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { service } => serve::serve(settings, &service).await,
            Command::Migrate { service } => serve::migrate(&settings, &service).await,
            Command::Token {
                role,
                sub,
                scopes,
                team,
                dept,
                ttl,
            } => {
                let keys = TokenKeys::new(&settings.auth);
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                let grant = Grant {
                    subject: &sub,
                    role,
                    scopes: &scopes,
                    team: &team,
                    department: &dept,
                };
                println!(
                    "{}",
                    keys.mint_grant(&grant, ttl.unwrap_or(settings.auth.dev_token_ttl_s))
                );
                Ok(())
            }
            Command::Config => {
                print!("{}", settings.to_redacted_toml());
                Ok(())
            }
            Command::Services { json } => {
                let described = kefu::describe(&settings);
                if json {
                    println!("{}", serde_json::to_string_pretty(&described)?);
                } else {
                    for service in kefu::SERVICES {
                        let port = settings
                            .service(service.name())
                            .map_or(0, |s| s.listen.port());
                        println!(
                            "{:<18} {:<44} [{}] port {port}",
                            service.name(),
                            service.grpc_service(),
                            service.settings().section
                        );
                    }
                }
                Ok(())
            }
            Command::Customers(command) => customers::customers(&settings, *command).await,
            Command::Orders(command) => orders::orders(&settings, *command).await,
            Command::Complaints(command) => complaints::complaints(&settings, *command).await,
            Command::Surveys(command) => surveys::surveys(&settings, *command).await,
            Command::Staff(command) => staff::staff(&settings, *command).await,
            Command::Events(args) => events::events(&settings, args).await,
            Command::Call(args) => call::call(&settings, args).await,
            Command::Report(args) => report::report(&settings, args).await,
            Command::Soak(args) => soak_command::soak(&settings, args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::BenchReference { listen, answer } => {
                bench::serve_reference(listen, &answer).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kefu: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap checks a command line's definition only when it is parsed; every subcommand,
    /// however rarely typed, is checked here.
    #[test]
    fn every_subcommand_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// A subcommand without a doc comment of its own shows the doc of a struct it flattens
    /// ("Where and as whom the client calls") in `--help`.
    #[test]
    fn every_subcommand_says_what_it_does() {
        fn walk(command: &clap::Command, path: &str, found: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
                let borrowed = ["Where and as whom", "What every change takes"]
                    .iter()
                    .any(|b| about.starts_with(b));
                if about.is_empty() || borrowed {
                    found.push(format!("{name}: {about:?}"));
                }
                walk(sub, &name, found);
            }
        }
        let mut found = Vec::new();
        walk(&super::Cli::command(), "kefu", &mut found);
        found.retain(|f| !f.ends_with(" help: \"\""));
        assert!(found.is_empty(), "{found:#?}");
    }
}
