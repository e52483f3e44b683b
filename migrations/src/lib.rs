//! Schema migrations: one migrator per service, each with its own migration table, so that
//! services sharing a database server (or a schema, in a pinch) never see each other's history.

use sea_orm_migration::prelude::*;

mod customer_registry;
mod order_tracking;
mod platform;

/// The services that own a database, by the name `kefu serve --service` takes.
pub const SERVICES_WITH_DATABASE: &[&str] = &["customer-registry", "order-tracking"];

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
        ]
    }

    fn migration_table_name() -> DynIden {
        "kefu_migrations_order_tracking".into_iden()
    }
}

/// Applies every pending migration of `service` on `db`; returns the names applied.
pub async fn migrate(
    service: &str,
    db: &sea_orm::DatabaseConnection,
) -> Result<Vec<String>, DbErr> {
    match service {
        "customer-registry" => apply::<CustomerRegistryMigrator>(db).await,
        "order-tracking" => apply::<OrderTrackingMigrator>(db).await,
        other => Err(DbErr::Custom(format!(
            "no migrations for service {other:?}"
        ))),
    }
}

/// Names of `service`'s migrations not yet applied on `db`.
pub async fn pending(
    service: &str,
    db: &sea_orm::DatabaseConnection,
) -> Result<Vec<String>, DbErr> {
    let migrations = match service {
        "customer-registry" => CustomerRegistryMigrator::get_pending_migrations(db).await?,
        "order-tracking" => OrderTrackingMigrator::get_pending_migrations(db).await?,
        other => {
            return Err(DbErr::Custom(format!(
                "no migrations for service {other:?}"
            )));
        }
    };
    Ok(migrations.iter().map(|m| m.name().to_owned()).collect())
}

async fn apply<M: MigratorTrait>(db: &sea_orm::DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let pending: Vec<String> = M::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    M::up(db, None).await?;
    Ok(pending)
}
