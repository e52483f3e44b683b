//! The `orders` and `order_exceptions` tables as sea-orm entities.

pub mod orders {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub customer_id: String,
        pub channel: String,
        pub state: String,
        pub tier: String,
        pub service_level: String,
        pub payment_status: String,
        pub total_fen: i64,
        pub currency: String,
        pub promised_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
        pub delay_raised: bool,
        pub original_order_id: String,
        /// The contract's `Order` as hex protobuf, sealed.
        pub document_ct: String,
        /// Streets sealed apart, in rows written before documents were sealed whole.
        pub streets_ct: Option<String>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_exceptions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_exceptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub order_id: String,
        pub kind: String,
        pub description: String,
        pub reporter_id: String,
        pub raised_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
