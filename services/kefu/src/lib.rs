//! The suite as a library: the one list of services this build has. `kefu serve`, `kefu
//! migrate`, `kefu config`, the Helm chart's check and the end-to-end journeys all read it;
//! adding a service is one entry here plus its crate.

#![forbid(unsafe_code)]

pub mod samples;
pub mod soak;

use std::path::Path;

use kefu_platform::config::{ConfigError, Settings};
use kefu_platform::server::Lifecycle;
use kefu_platform::service::{Service, section_specs};
use kefu_platform::suite::{self, Suite};
use tokio::net::TcpListener;

/// The services this build serves, in start order.
pub const SERVICES: &[&'static dyn Service] = &[
    &kefu_customer_registry::CustomerRegistry,
    &kefu_order_tracking::OrderTracking,
    &kefu_complaint_desk::ComplaintDesk,
    &kefu_survey::Survey,
    &kefu_staff_kpi::StaffKpi,
];

/// The settings of this build: the platform's sections and every service's own.
pub fn load_settings(file: Option<&Path>) -> Result<Settings, ConfigError> {
    Settings::load(file, &section_specs(SERVICES))
}

/// As [`load_settings`], with the environment given as a map (tests).
pub fn load_settings_from(
    file: Option<&Path>,
    env: std::collections::HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    Settings::load_from(file, Some(env), &section_specs(SERVICES))
}

/// The services `--service` names: `all`, one name, or names separated by commas.
pub fn services(argument: &str) -> anyhow::Result<Vec<&'static dyn Service>> {
    suite::choose(SERVICES, argument)
}

/// Applies pending migrations of `services`; returns a line per service.
pub async fn migrate(
    settings: &Settings,
    services: &[&'static dyn Service],
) -> anyhow::Result<Vec<String>> {
    suite::migrate(settings, services).await
}

/// Serves `services` on `listener` until `lifecycle` stops.
pub async fn start(
    settings: &Settings,
    services: &[&'static dyn Service],
    listener: TcpListener,
    lifecycle: Lifecycle,
) -> anyhow::Result<Suite> {
    suite::start(settings, SERVICES, services, listener, lifecycle).await
}

/// What the Helm chart and other tools need to know of each service, as JSON
/// (`kefu services --json`; the chart keeps a copy in helm/kefu/services.json).
pub fn describe(settings: &Settings) -> serde_json::Value {
    let services: Vec<serde_json::Value> = SERVICES
        .iter()
        .map(|s| {
            let common = settings.service(s.name());
            serde_json::json!({
                "name": s.name(),
                "grpcService": s.grpc_service(),
                "section": s.settings().section,
                "port": common.map_or(0, |c| c.listen.port()),
                "consumes": s.consumes(),
            })
        })
        .collect();
    serde_json::json!({ "services": services })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(argument: &str) -> anyhow::Result<Vec<&'static str>> {
        services(argument).map(|s| s.iter().map(|s| s.name()).collect())
    }

    #[test]
    fn services_are_all_one_or_a_list_and_unknown_ones_are_refused() {
        assert_eq!(
            names("all").unwrap(),
            [
                "customer-registry",
                "order-tracking",
                "complaint-desk",
                "survey",
                "staff-kpi"
            ]
        );
        assert_eq!(names("order-tracking").unwrap(), ["order-tracking"]);
        assert_eq!(
            names("order-tracking, customer-registry,order-tracking").unwrap(),
            ["order-tracking", "customer-registry"]
        );
        assert!(names("nope").is_err());
    }

    /// Every service's consumed services are in the list, and names, sections, gRPC
    /// services and ports are each used once.
    #[test]
    fn the_list_is_whole_and_has_no_clashes() {
        let settings = load_settings_from(None, Default::default()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for service in SERVICES {
            for consumed in service.consumes() {
                assert!(
                    SERVICES.iter().any(|s| s.name() == *consumed),
                    "{} consumes {consumed}, not in SERVICES",
                    service.name()
                );
            }
            let port = settings.service(service.name()).unwrap().listen.port();
            // Each kind of key apart: a service's name and its section may be one word.
            for key in [
                format!("name {}", service.name()),
                format!("section {}", service.settings().section),
                format!("gRPC service {}", service.grpc_service()),
                format!("port {port}"),
                format!("rule prefix {}", service.rule_prefix()),
            ] {
                assert!(seen.insert(key.clone()), "{key} is used twice");
            }
        }
    }

    /// X-4 and ARCHITECTURE: events carry ids, codes and amounts, never free text or
    /// personal data. Every string in every event of every service of this build, nested
    /// ones included, must be an id (`..._id`) or one of the few codes below; a new free-text
    /// field fails here.
    #[test]
    fn events_carry_ids_codes_and_amounts_never_free_text() {
        use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};
        /// String fields that hold codes: field paths, a "YYYY-MM" month, ISO currencies, a
        /// case number, a sales region's code, a "YYYY-MM-DD" day.
        const CODES: &[&str] = &[
            "changed_fields",
            "month",
            "currency_code",
            "case_number",
            "sales_region",
            "effective_from_date",
        ];
        fn free_text(message: &MessageDescriptor, path: &str, found: &mut Vec<String>, depth: u8) {
            for field in message.fields() {
                let at = format!("{path}.{}", field.name());
                match field.kind() {
                    Kind::String
                        if !(field.name().ends_with("_id") || CODES.contains(&field.name())) =>
                    {
                        found.push(at)
                    }
                    Kind::Message(inner) if depth > 0 => free_text(&inner, &at, found, depth - 1),
                    _ => {}
                }
            }
        }
        let pool = DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut found = Vec::new();
        let mut checked = 0;
        for service in SERVICES {
            for event in service.event_types() {
                let message = pool.get_message_by_name(event).unwrap_or_else(|| {
                    panic!("{} lists {event}, which the contract lacks", service.name())
                });
                free_text(&message, event, &mut found, 3);
                checked += 1;
            }
        }
        assert!(
            checked >= 58,
            "every event of every service; checked {checked}"
        );
        assert!(found.is_empty(), "free text in events: {found:?}");
    }
}
