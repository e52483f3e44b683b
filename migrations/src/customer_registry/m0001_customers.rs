//! The customer archive (CR-1) with personal data as ciphertext (CR-9), and the audit trail of
//! unmasked reads.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("customers")
                    .col(string("id").primary_key())
                    .col(string("kind"))
                    .col(string("display_name"))
                    .col(string("state"))
                    // Personal data: AES-256-GCM envelopes "v1.<key id>.<nonce+ciphertext>".
                    .col(text_null("phone_ct"))
                    .col(text_null("email_ct"))
                    .col(text_null("id_number_ct"))
                    .col(text_null("contacts_ct"))
                    .col(text_null("addresses_ct"))
                    // Keyed hash of the normalised phone, for lookup without plaintext.
                    .col(string_null("phone_hash"))
                    .col(string("registration_number"))
                    .col(string("industry"))
                    .col(text("needs"))
                    .col(text("contract_json"))
                    .col(string("government_level"))
                    .col(string("region"))
                    .col(string("tier"))
                    .col(boolean("tier_overridden"))
                    .col(string("grade"))
                    .col(string("owner_id"))
                    .col(string("visitor_id"))
                    .col(string("team_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone("confirmed_at"))
                    .col(timestamp_with_time_zone_null("archived_at"))
                    .col(big_integer("version"))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("customers_list", &["state", "created_at", "id"][..]),
            ("customers_phone_hash", &["phone_hash"][..]),
            ("customers_team", &["team_id"][..]),
        ] {
            let mut index = Index::create().name(name).table("customers").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("pii_audit")
                    .col(big_pk_auto("id"))
                    .col(string("actor_id"))
                    .col(string("actor_role"))
                    .col(string("customer_id"))
                    .col(text("fields"))
                    .col(string("purpose"))
                    .col(string("rpc"))
                    .col(string("trace_id"))
                    .col(timestamp_with_time_zone("read_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("pii_audit_customer")
                    .table("pii_audit")
                    .col("customer_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["pii_audit", "customers"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
