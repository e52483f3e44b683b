//! The `customers` and `pii_audit` tables as sea-orm entities.

pub mod customers {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "customers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        pub display_name: String,
        pub state: String,
        pub phone_ct: Option<String>,
        pub email_ct: Option<String>,
        pub id_number_ct: Option<String>,
        pub contacts_ct: Option<String>,
        pub addresses_ct: Option<String>,
        pub phone_hash: Option<String>,
        pub registration_number: String,
        pub industry: String,
        pub needs: String,
        pub contract_json: String,
        pub government_level: String,
        pub region: String,
        pub tier: String,
        pub tier_overridden: bool,
        pub grade: String,
        pub owner_id: String,
        pub visitor_id: String,
        pub team_id: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub confirmed_at: DateTimeUtc,
        pub archived_at: Option<DateTimeUtc>,
        pub version: i64,
        pub archive_reason: String,
        pub erasure_reference: String,
        pub owner_override_reason: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pii_audit {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "pii_audit")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub actor_id: String,
        pub actor_role: String,
        pub customer_id: String,
        pub fields: String,
        pub purpose: String,
        pub rpc: String,
        pub trace_id: String,
        pub read_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
