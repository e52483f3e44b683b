//! The `complaints` and `knowledge_entries` tables as sea-orm entities.

pub mod complaints {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "complaints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub case_number: String,
        pub customer_id: String,
        pub order_id: String,
        pub team_id: String,
        pub assignee_id: String,
        pub state: String,
        pub case_type: String,
        pub category: String,
        pub severity: String,
        pub tier: String,
        pub origin: String,
        pub root_cause: Option<String>,
        pub source_key: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub closed_at: Option<DateTimeUtc>,
        pub investigated_at: Option<DateTimeUtc>,
        pub next_check_at: Option<DateTimeUtc>,
        pub clock_policy: String,
        pub first_response_met: Option<bool>,
        pub resolution_met: Option<bool>,
        pub resolution_seconds: Option<i64>,
        pub compensation_fen: i64,
        pub reopen_count: i32,
        pub escalation_level: i32,
        pub erased: bool,
        pub version: i64,
        #[sea_orm(column_type = "Text")]
        pub document: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod knowledge_entries {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "knowledge_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub state: String,
        pub category: String,
        pub author_id: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
        #[sea_orm(column_type = "Text")]
        pub document: String,
        #[sea_orm(column_type = "Text")]
        pub problem_words: String,
        #[sea_orm(column_type = "Text")]
        pub keyword_words: String,
        #[sea_orm(column_type = "Text")]
        pub solution_words: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
