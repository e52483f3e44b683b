//! Schema migrations: one migrator per service, each with its own migration table, so that
//! services sharing a database server (or a schema, in a pinch) never see each other's history.
//! Each service's description hands its migrator to the platform; nothing here names services
//! to anyone else.

use sea_orm_migration::prelude::*;

mod complaint_desk;
mod customer_registry;
mod order_tracking;
mod platform;
mod staff_kpi;
mod survey;

/// The platform's tables alone (event log, request ids, consumer cursors): what the
/// platform's own tests run on.
#[derive(Debug)]
pub struct EventLogMigrator;

#[async_trait::async_trait]
impl MigratorTrait for EventLogMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(platform::m0001_event_log::Migration),
            Box::new(platform::m0002_waiting_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "kefu_migrations_event_log".into_iden()
    }
}

/// customer-registry's schema: the platform tables plus the customer archive.
#[derive(Debug)]
pub struct CustomerRegistryMigrator;

#[async_trait::async_trait]
impl MigratorTrait for CustomerRegistryMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(platform::m0001_event_log::Migration),
            Box::new(customer_registry::m0001_customers::Migration),
            Box::new(customer_registry::m0002_tiers::Migration),
            Box::new(customer_registry::m0003_visits::Migration),
            Box::new(customer_registry::m0004_monthly_reports::Migration),
            Box::new(customer_registry::m0005_key_rotations::Migration),
            Box::new(customer_registry::m0006_service_record::Migration),
            Box::new(customer_registry::m0007_record_texts::Migration),
            Box::new(customer_registry::m0008_staff_profiles::Migration),
            Box::new(platform::m0002_waiting_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "kefu_migrations_customer_registry".into_iden()
    }
}

/// order-tracking's schema: the platform tables plus orders.
#[derive(Debug)]
pub struct OrderTrackingMigrator;

#[async_trait::async_trait]
impl MigratorTrait for OrderTrackingMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(platform::m0001_event_log::Migration),
            Box::new(order_tracking::m0001_orders::Migration),
            Box::new(order_tracking::m0002_customer_access::Migration),
            Box::new(order_tracking::m0003_sealed_documents::Migration),
            Box::new(platform::m0002_waiting_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "kefu_migrations_order_tracking".into_iden()
    }
}

/// complaint-desk's schema: the platform tables plus cases and the knowledge base.
#[derive(Debug)]
pub struct ComplaintDeskMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ComplaintDeskMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(platform::m0001_event_log::Migration),
            Box::new(complaint_desk::m0001_cases::Migration),
            Box::new(platform::m0002_waiting_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "kefu_migrations_complaint_desk".into_iden()
    }
}

/// survey's schema: the platform tables plus questionnaires, invitations and responses.
#[derive(Debug)]
pub struct SurveyMigrator;

#[async_trait::async_trait]
impl MigratorTrait for SurveyMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(platform::m0001_event_log::Migration),
            Box::new(survey::m0001_surveys::Migration),
            Box::new(survey::m0002_scheduled_trace::Migration),
            Box::new(platform::m0002_waiting_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "kefu_migrations_survey".into_iden()
    }
}

/// staff-kpi's schema: the platform tables plus the organisation, facts and assessments.
#[derive(Debug)]
pub struct StaffKpiMigrator;

#[async_trait::async_trait]
impl MigratorTrait for StaffKpiMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(platform::m0001_event_log::Migration),
            Box::new(staff_kpi::m0001_staff::Migration),
            Box::new(staff_kpi::m0002_fact_customers::Migration),
            Box::new(platform::m0002_waiting_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "kefu_migrations_staff_kpi".into_iden()
    }
}
