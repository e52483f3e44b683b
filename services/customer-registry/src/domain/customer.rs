//! The customer record (CR-1), its field rules, masking (CR-9), and archiving and erasure
//! (CR-11).

use chrono::{DateTime, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::pii;

use super::{Refusal, formats, invalid};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The code stored in the database.
            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(
    /// CR-1.
    Kind { Personal = "personal", Enterprise = "enterprise", Government = "government" }
);
string_enum!(
    /// CR-11.
    State { Active = "active", Archived = "archived", Erased = "erased" }
);
string_enum!(
    /// CR-2.
    Tier {
        Frequent = "frequent",
        Occasional = "occasional",
        Large = "large",
        Medium = "medium",
        Small = "small",
        GovernmentA = "government_a",
        GovernmentB = "government_b",
        GovernmentC = "government_c",
    }
);
string_enum!(
    /// CR-2: a government or institution customer's registered level.
    GovernmentLevel { National = "national", Provincial = "provincial", Prefecture = "prefecture" }
);
string_enum!(
    /// CR-3.
    Grade { A = "a", B = "b", C = "c", D = "d" }
);

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    pub display_name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    pub label: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub street: String,
    pub postal_code: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub currency_code: String,
    pub minor_units: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contract {
    pub contract_number: String,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub payment_terms: String,
    pub credit_limit: Option<Money>,
}

/// What a caller may write: every input field of the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerFields {
    pub kind: Option<Kind>,
    pub display_name: String,
    pub phone: String,
    pub email: String,
    pub id_number: String,
    pub registration_number: String,
    pub contacts: Vec<Contact>,
    pub addresses: Vec<Address>,
    pub industry: String,
    pub needs: String,
    pub contract: Option<Contract>,
    pub government_level: Option<GovernmentLevel>,
    pub region: String,
    pub team_id: String,
}

/// A stored customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: String,
    pub kind: Kind,
    pub fields: CustomerFields,
    pub state: State,
    pub tier: Tier,
    pub tier_overridden: bool,
    pub grade: Option<Grade>,
    pub owner_id: String,
    pub visitor_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    pub version: i64,
    /// CR-11: why it was archived.
    pub archive_reason: String,
    /// CR-11: the lawful request its erasure honoured.
    pub erasure_reference: String,
    /// CR-4: why its visitor may be its local salesperson.
    pub owner_override_reason: String,
}

/// Longest archive reason, override reason or legal reference.
const MAX_REASON: usize = 500;
const MAX_REFERENCE: usize = 200;

/// Field paths a caller may name in an update mask.
pub const UPDATABLE_FIELDS: &[&str] = &[
    "display_name",
    "phone",
    "email",
    "id_number",
    "registration_number",
    "contacts",
    "addresses",
    "industry",
    "needs",
    "contract",
    "government_level",
    "region",
    "team_id",
];

/// Fields that hold personal data (CR-9): encrypted at rest, masked without the scope.
pub const PERSONAL_FIELDS: &[&str] = &["phone", "email", "id_number", "contacts", "addresses"];

const MAX_NAME: usize = 200;
const MAX_SHORT: usize = 100;
const MAX_LONG: usize = 4000;
const MAX_LIST: usize = 50;

impl CustomerFields {
    /// Normalises what has one normal form (phones, trimmed text) and checks every CR-1 rule,
    /// collecting each violation under `prefix` (e.g. "customer").
    pub fn normalize_and_validate(&mut self, prefix: &str) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        let path = |field: &str| format!("{prefix}.{field}");
        trim_all(self);

        let Some(kind) = self.kind else {
            v.add(path("kind"), "required: personal, enterprise or government");
            return Err(v.into_vec());
        };
        if self.display_name.is_empty() {
            v.add(path("display_name"), "required");
        }
        check_len(&mut v, &path("display_name"), &self.display_name, MAX_NAME);
        check_len(&mut v, &path("industry"), &self.industry, MAX_SHORT);
        check_len(&mut v, &path("region"), &self.region, 32);
        check_len(&mut v, &path("team_id"), &self.team_id, MAX_SHORT);
        check_len(&mut v, &path("needs"), &self.needs, MAX_LONG);

        match kind {
            Kind::Personal => {
                v.check(
                    !self.phone.is_empty(),
                    path("phone"),
                    "required for personal customers",
                );
                v.check(
                    self.registration_number.is_empty(),
                    path("registration_number"),
                    "only enterprise and government customers have one",
                );
            }
            Kind::Enterprise | Kind::Government => {
                v.check(
                    !self.registration_number.is_empty(),
                    path("registration_number"),
                    "required for enterprise and government customers",
                );
                v.check(
                    !self.contacts.is_empty(),
                    path("contacts"),
                    "at least one contact is required for enterprise and government customers",
                );
                v.check(
                    self.id_number.is_empty(),
                    path("id_number"),
                    "only personal customers have a resident identity number",
                );
            }
        }
        match (kind, self.government_level) {
            (Kind::Government, None) => v.add(
                path("government_level"),
                "required for government customers: national, provincial or prefecture",
            ),
            (Kind::Personal | Kind::Enterprise, Some(_)) => v.add(
                path("government_level"),
                "only government customers have one",
            ),
            _ => {}
        }

        normalize_phone_field(&mut v, &path("phone"), &mut self.phone);
        if !self.email.is_empty() && !formats::is_email(&self.email) {
            v.add(path("email"), "not an e-mail address");
        }
        if !self.id_number.is_empty() {
            self.id_number = self.id_number.to_ascii_uppercase();
            v.check(
                formats::is_resident_id(&self.id_number),
                path("id_number"),
                "not a valid 18-character resident identity card number (birth date or check character wrong)",
            );
        }
        if !self.registration_number.is_empty() {
            self.registration_number = self.registration_number.to_ascii_uppercase();
            v.check(
                formats::is_social_credit_code(&self.registration_number),
                path("registration_number"),
                "not a valid 18-character unified social credit code (check character wrong)",
            );
        }

        v.check(
            self.contacts.len() <= MAX_LIST,
            path("contacts"),
            format!("at most {MAX_LIST}"),
        );
        for (i, contact) in self.contacts.iter_mut().enumerate() {
            let at = |f: &str| format!("{prefix}.contacts[{i}].{f}");
            v.check(
                !contact.display_name.is_empty(),
                at("display_name"),
                "required",
            );
            check_len(&mut v, &at("display_name"), &contact.display_name, MAX_NAME);
            check_len(&mut v, &at("role"), &contact.role, MAX_SHORT);
            v.check(
                !(contact.phone.is_empty() && contact.email.is_empty()),
                at("phone"),
                "a contact needs a phone or an e-mail address",
            );
            normalize_phone_field(&mut v, &at("phone"), &mut contact.phone);
            if !contact.email.is_empty() && !formats::is_email(&contact.email) {
                v.add(at("email"), "not an e-mail address");
            }
        }

        v.check(
            self.addresses.len() <= MAX_LIST,
            path("addresses"),
            format!("at most {MAX_LIST}"),
        );
        for (i, address) in self.addresses.iter().enumerate() {
            let at = |f: &str| format!("{prefix}.addresses[{i}].{f}");
            v.check(!address.province.is_empty(), at("province"), "required");
            v.check(!address.city.is_empty(), at("city"), "required");
            check_len(&mut v, &at("street"), &address.street, 500);
            if !address.postal_code.is_empty() {
                v.check(
                    formats::is_postal_code(&address.postal_code),
                    at("postal_code"),
                    "six digits",
                );
            }
        }

        if let Some(contract) = &self.contract {
            let at = |f: &str| format!("{prefix}.contract.{f}");
            check_len(
                &mut v,
                &at("contract_number"),
                &contract.contract_number,
                MAX_SHORT,
            );
            if let (Some(start), Some(end)) = (contract.start_time, contract.end_time) {
                v.check(end > start, at("end_time"), "must be after start_time");
            }
            if let Some(limit) = &contract.credit_limit {
                v.check(
                    limit.minor_units >= 0,
                    at("credit_limit.minor_units"),
                    "must not be negative",
                );
                v.check(
                    formats::is_currency_code(&limit.currency_code),
                    at("credit_limit.currency_code"),
                    "three capital letters, e.g. CNY",
                );
            }
        }
        v.finish()
    }

    /// Copies the fields named in `paths` from `other`; unknown and read-only paths are
    /// violations (under "update_mask").
    pub fn merge_masked(
        &mut self,
        other: CustomerFields,
        paths: &[String],
    ) -> Result<Vec<String>, Vec<FieldViolation>> {
        let mut v = Violations::new();
        if paths.is_empty() {
            v.add("update_mask", "required: name the fields to change");
        }
        let mut changed = Vec::new();
        for path in paths {
            match path.as_str() {
                "display_name" => self.display_name.clone_from(&other.display_name),
                "phone" => self.phone.clone_from(&other.phone),
                "email" => self.email.clone_from(&other.email),
                "id_number" => self.id_number.clone_from(&other.id_number),
                "registration_number" => self
                    .registration_number
                    .clone_from(&other.registration_number),
                "contacts" => self.contacts.clone_from(&other.contacts),
                "addresses" => self.addresses.clone_from(&other.addresses),
                "industry" => self.industry.clone_from(&other.industry),
                "needs" => self.needs.clone_from(&other.needs),
                "contract" => self.contract.clone_from(&other.contract),
                "government_level" => self.government_level = other.government_level,
                "region" => self.region.clone_from(&other.region),
                "team_id" => self.team_id.clone_from(&other.team_id),
                "kind" => {
                    v.add("update_mask", "kind cannot change after creation");
                    continue;
                }
                other_path => {
                    v.add(
                        "update_mask",
                        format!(
                            "{other_path:?} is not an updatable field (one of {})",
                            UPDATABLE_FIELDS.join(", ")
                        ),
                    );
                    continue;
                }
            }
            if !changed.contains(path) {
                changed.push(path.clone());
            }
        }
        v.finish().map(|()| changed)
    }

    /// The paths of the fields that differ in `new`, as CustomerUpdated names them.
    pub fn changed_fields(&self, new: &CustomerFields) -> Vec<String> {
        let old = self;
        let pairs: [(&str, bool); 13] = [
            ("display_name", old.display_name != new.display_name),
            ("phone", old.phone != new.phone),
            ("email", old.email != new.email),
            ("id_number", old.id_number != new.id_number),
            (
                "registration_number",
                old.registration_number != new.registration_number,
            ),
            ("contacts", old.contacts != new.contacts),
            ("addresses", old.addresses != new.addresses),
            ("industry", old.industry != new.industry),
            ("needs", old.needs != new.needs),
            ("contract", old.contract != new.contract),
            (
                "government_level",
                old.government_level != new.government_level,
            ),
            ("region", old.region != new.region),
            ("team_id", old.team_id != new.team_id),
        ];
        pairs
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// Replaces personal data with masks (CR-9).
    pub fn mask_personal_data(&mut self) {
        self.phone = pii::mask_phone(&self.phone);
        self.email = pii::mask_email(&self.email);
        self.id_number = pii::mask_id_number(&self.id_number);
        for contact in &mut self.contacts {
            contact.phone = pii::mask_phone(&contact.phone);
            contact.email = pii::mask_email(&contact.email);
        }
        for address in &mut self.addresses {
            address.street = pii::mask_all(&address.street);
        }
    }
}

fn trim_all(f: &mut CustomerFields) {
    for s in [
        &mut f.display_name,
        &mut f.phone,
        &mut f.email,
        &mut f.id_number,
        &mut f.registration_number,
        &mut f.industry,
        &mut f.needs,
        &mut f.region,
        &mut f.team_id,
    ] {
        *s = s.trim().to_owned();
    }
    for c in &mut f.contacts {
        for s in [&mut c.display_name, &mut c.role, &mut c.phone, &mut c.email] {
            *s = s.trim().to_owned();
        }
    }
    for a in &mut f.addresses {
        for s in [
            &mut a.label,
            &mut a.province,
            &mut a.city,
            &mut a.district,
            &mut a.street,
            &mut a.postal_code,
        ] {
            *s = s.trim().to_owned();
        }
    }
}

fn check_len(v: &mut Violations, path: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        v.add(path, format!("at most {max} characters"));
    }
}

fn normalize_phone_field(v: &mut Violations, path: &str, phone: &mut String) {
    if phone.is_empty() {
        return;
    }
    match formats::normalize_phone(phone) {
        Some(normal) => *phone = normal,
        None => v.add(
            path,
            "not a mainland phone number: an 11-digit mobile starting 13-19, or a landline with area code such as 010-12345678",
        ),
    }
}

/// CR-2: the tier a customer starts with, before any order: no uses and no spend yet, or the
/// registered level for government customers.
pub fn initial_tier(kind: Kind, level: Option<GovernmentLevel>) -> Tier {
    match (kind, level) {
        (Kind::Personal, _) => Tier::Occasional,
        (Kind::Enterprise, _) => Tier::Small,
        (Kind::Government, Some(GovernmentLevel::National)) => Tier::GovernmentA,
        (Kind::Government, Some(GovernmentLevel::Provincial)) => Tier::GovernmentB,
        (Kind::Government, Some(GovernmentLevel::Prefecture) | None) => Tier::GovernmentC,
    }
}

impl Customer {
    /// A new customer from checked `fields`, created by `now`, before any order or owner.
    pub fn new(id: String, fields: CustomerFields, now: DateTime<Utc>) -> Self {
        let kind = fields.kind.unwrap_or(Kind::Personal);
        Self {
            id,
            kind,
            tier: initial_tier(kind, fields.government_level),
            fields,
            state: State::Active,
            tier_overridden: false,
            grade: None,
            owner_id: String::new(),
            visitor_id: String::new(),
            created_at: now,
            updated_at: now,
            confirmed_at: now,
            archived_at: None,
            version: 1,
            archive_reason: String::new(),
            erasure_reference: String::new(),
            owner_override_reason: String::new(),
        }
    }

    /// CR-11: archived and erased customers refuse changes.
    pub fn ensure_active(&self) -> Result<(), Refusal> {
        match self.state {
            State::Active => Ok(()),
            State::Archived => Err(Refusal::Precondition(format!(
                "customer {} is archived",
                self.id
            ))),
            State::Erased => Err(Refusal::Precondition(format!(
                "customer {} was erased",
                self.id
            ))),
        }
    }

    /// New `fields`. A government customer's tier follows its registered level unless a
    /// manager set it (CR-2); the change of tier that makes, if any, `actor` made at `now`.
    pub fn set_fields(
        &mut self,
        fields: CustomerFields,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Option<super::tier::TierChange> {
        self.fields = fields;
        if self.kind != Kind::Government || self.tier_overridden {
            return None;
        }
        let level = self.fields.government_level;
        let tier = initial_tier(self.kind, level);
        if tier == self.tier {
            return None;
        }
        let change = super::tier::TierChange {
            customer_id: self.id.clone(),
            old: self.tier,
            new: tier,
            reason: format!(
                "registered level {}",
                level.map_or("unregistered", GovernmentLevel::code)
            ),
            manual: false,
            actor_id: actor.to_owned(),
            facts: super::tier::UsageFacts::default(),
            at: now,
        };
        self.tier = tier;
        Some(change)
    }

    /// Marks a change made at `now`: the next version.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
        self.version += 1;
    }

    /// CR-11: a customer who leaves is archived, not deleted: hidden from daily lists, still
    /// counted, the reason kept on the record.
    pub fn archive(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
        let reason = reason.trim();
        if reason.chars().count() > MAX_REASON {
            return Err(invalid(
                "reason",
                format!("at most {MAX_REASON} characters"),
            ));
        }
        self.ensure_active()?;
        self.state = State::Archived;
        self.archived_at = Some(now);
        self.archive_reason = reason.to_owned();
        self.touch(now);
        Ok(())
    }

    /// CR-11: a lawful erasure request removes the personal data and keeps the anonymous
    /// record (kind, tier, grade, dates, the orders' ids elsewhere) with the request's
    /// reference. An archived customer can be erased; an erased one cannot be again.
    pub fn erase(&mut self, legal_reference: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
        let reference = legal_reference.trim();
        if reference.is_empty() || reference.chars().count() > MAX_REFERENCE {
            return Err(invalid(
                "legal_reference",
                format!(
                    "required: the lawful request being honoured (at most {MAX_REFERENCE} characters)"
                ),
            ));
        }
        if self.state == State::Erased {
            return Err(Refusal::Precondition(format!(
                "customer {} was already erased",
                self.id
            )));
        }
        self.erase_personal_data();
        self.erasure_reference = reference.to_owned();
        self.archived_at = self.archived_at.or(Some(now));
        self.touch(now);
        Ok(())
    }

    /// CR-11: removes every personal field, the name of a person, and the free texts that
    /// may hold either, for good.
    fn erase_personal_data(&mut self) {
        let f = &mut self.fields;
        f.phone.clear();
        f.email.clear();
        f.id_number.clear();
        f.contacts.clear();
        f.addresses.clear();
        f.needs.clear();
        if self.kind == Kind::Personal {
            f.display_name = "(erased)".to_owned();
        }
        self.archive_reason.clear();
        self.owner_override_reason.clear();
        self.state = State::Erased;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn personal() -> CustomerFields {
        CustomerFields {
            kind: Some(Kind::Personal),
            display_name: "Zhang San".into(),
            phone: "138 1234 5678".into(),
            email: "zhang@example.com".into(),
            id_number: "11010519491231002x".into(),
            registration_number: String::new(),
            contacts: vec![],
            addresses: vec![Address {
                label: "home".into(),
                province: "Beijing".into(),
                city: "Beijing".into(),
                district: "Chaoyang".into(),
                street: "8 Jianguo Rd".into(),
                postal_code: "100022".into(),
            }],
            industry: String::new(),
            needs: String::new(),
            contract: None,
            government_level: None,
            region: "110105".into(),
            team_id: "t1".into(),
        }
    }

    fn enterprise() -> CustomerFields {
        CustomerFields {
            kind: Some(Kind::Enterprise),
            display_name: "Fuzhou Widgets Ltd".into(),
            phone: String::new(),
            id_number: String::new(),
            registration_number: "91350100m000100y43".into(),
            contacts: vec![Contact {
                display_name: "Li Si".into(),
                role: "logistics manager".into(),
                phone: "0591-87654321".into(),
                email: String::new(),
            }],
            ..personal()
        }
    }

    fn fields_of(result: Result<(), Vec<FieldViolation>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn cr1_valid_records_pass_and_come_out_normalised() {
        let mut p = personal();
        p.normalize_and_validate("customer").unwrap();
        assert_eq!(p.phone, "13812345678");
        assert_eq!(p.id_number, "11010519491231002X");
        let mut e = enterprise();
        e.normalize_and_validate("customer").unwrap();
        assert_eq!(e.registration_number, "91350100M000100Y43");
    }

    #[test]
    fn cr1_every_field_rule_names_its_field() {
        type Case = (&'static str, fn(&mut CustomerFields), &'static str);
        let cases: &[Case] = &[
            ("kind missing", |f| f.kind = None, "customer.kind"),
            (
                "name missing",
                |f| f.display_name = "  ".into(),
                "customer.display_name",
            ),
            (
                "name too long",
                |f| f.display_name = "x".repeat(201),
                "customer.display_name",
            ),
            (
                "personal phone missing",
                |f| f.phone.clear(),
                "customer.phone",
            ),
            (
                "phone malformed",
                |f| f.phone = "12345".into(),
                "customer.phone",
            ),
            (
                "email malformed",
                |f| f.email = "zhang@".into(),
                "customer.email",
            ),
            (
                "id checksum",
                |f| f.id_number = "110105194912310021".into(),
                "customer.id_number",
            ),
            (
                "personal with credit code",
                |f| f.registration_number = "91350100M000100Y43".into(),
                "customer.registration_number",
            ),
            (
                "personal with level",
                |f| f.government_level = Some(GovernmentLevel::National),
                "customer.government_level",
            ),
            (
                "address without city",
                |f| f.addresses[0].city.clear(),
                "customer.addresses[0].city",
            ),
            (
                "address without province",
                |f| f.addresses[0].province.clear(),
                "customer.addresses[0].province",
            ),
            (
                "postal code",
                |f| f.addresses[0].postal_code = "1000".into(),
                "customer.addresses[0].postal_code",
            ),
            (
                "contract ends first",
                |f| {
                    f.contract = Some(Contract {
                        start_time: Some(Utc::now()),
                        end_time: Some(Utc::now() - chrono::Duration::days(1)),
                        ..Default::default()
                    })
                },
                "customer.contract.end_time",
            ),
            (
                "negative credit",
                |f| {
                    f.contract = Some(Contract {
                        credit_limit: Some(Money {
                            currency_code: "CNY".into(),
                            minor_units: -1,
                        }),
                        ..Default::default()
                    })
                },
                "customer.contract.credit_limit.minor_units",
            ),
            (
                "currency code",
                |f| {
                    f.contract = Some(Contract {
                        credit_limit: Some(Money {
                            currency_code: "yuan".into(),
                            minor_units: 1,
                        }),
                        ..Default::default()
                    })
                },
                "customer.contract.credit_limit.currency_code",
            ),
        ];
        for (name, mutate, field) in cases {
            let mut f = personal();
            mutate(&mut f);
            let fields = fields_of(f.normalize_and_validate("customer"));
            assert!(
                fields.iter().any(|x| x == field),
                "{name}: expected {field} in {fields:?}"
            );
        }
    }

    #[test]
    fn cr1_organisation_rules() {
        type Case = (&'static str, fn(&mut CustomerFields), &'static str);
        let cases: &[Case] = &[
            (
                "credit code missing",
                |f| f.registration_number.clear(),
                "customer.registration_number",
            ),
            (
                "credit code checksum",
                |f| f.registration_number = "91350100M000100Y44".into(),
                "customer.registration_number",
            ),
            ("no contacts", |f| f.contacts.clear(), "customer.contacts"),
            (
                "contact without name",
                |f| f.contacts[0].display_name.clear(),
                "customer.contacts[0].display_name",
            ),
            (
                "contact unreachable",
                |f| f.contacts[0].phone.clear(),
                "customer.contacts[0].phone",
            ),
            (
                "contact phone malformed",
                |f| f.contacts[0].phone = "999".into(),
                "customer.contacts[0].phone",
            ),
            (
                "contact email malformed",
                |f| f.contacts[0].email = "li@@x.cn".into(),
                "customer.contacts[0].email",
            ),
            (
                "organisation with resident id",
                |f| f.id_number = "11010519491231002X".into(),
                "customer.id_number",
            ),
            (
                "government without level",
                |f| f.kind = Some(Kind::Government),
                "customer.government_level",
            ),
        ];
        for (name, mutate, field) in cases {
            let mut f = enterprise();
            mutate(&mut f);
            let fields = fields_of(f.normalize_and_validate("customer"));
            assert!(
                fields.iter().any(|x| x == field),
                "{name}: expected {field} in {fields:?}"
            );
        }
    }

    #[test]
    fn cr1_all_violations_are_reported_at_once() {
        let mut f = personal();
        f.phone = "1".into();
        f.email = "x".into();
        f.id_number = "2".into();
        assert_eq!(
            fields_of(f.normalize_and_validate("c")),
            ["c.phone", "c.email", "c.id_number"]
        );
    }

    #[test]
    fn cr2_first_tier_follows_kind_and_registered_level() {
        assert_eq!(initial_tier(Kind::Personal, None), Tier::Occasional);
        assert_eq!(initial_tier(Kind::Enterprise, None), Tier::Small);
        assert_eq!(
            initial_tier(Kind::Government, Some(GovernmentLevel::National)),
            Tier::GovernmentA
        );
        assert_eq!(
            initial_tier(Kind::Government, Some(GovernmentLevel::Provincial)),
            Tier::GovernmentB
        );
        assert_eq!(
            initial_tier(Kind::Government, Some(GovernmentLevel::Prefecture)),
            Tier::GovernmentC
        );
    }

    #[test]
    fn update_masks_copy_named_fields_and_refuse_the_rest() {
        let mut current = personal();
        let mut incoming = personal();
        incoming.email = "new@example.com".into();
        incoming.display_name = "ignored".into();
        let changed = current
            .merge_masked(incoming.clone(), &["email".into()])
            .unwrap();
        assert_eq!(changed, ["email"]);
        assert_eq!(current.email, "new@example.com");
        assert_eq!(current.display_name, "Zhang San", "unnamed fields stay");
        for bad in [
            vec![],
            vec!["kind".to_owned()],
            vec!["tier".to_owned()],
            vec!["nope".to_owned()],
        ] {
            assert!(
                personal().merge_masked(incoming.clone(), &bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cr11_erasure_leaves_no_personal_data_and_keeps_the_anonymous_record() {
        let mut fields = personal();
        fields.normalize_and_validate("c").unwrap();
        let mut customer = Customer {
            id: "c1".into(),
            kind: Kind::Personal,
            fields,
            state: State::Active,
            tier: Tier::Frequent,
            tier_overridden: false,
            grade: None,
            owner_id: "o".into(),
            visitor_id: "v".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            confirmed_at: Utc::now(),
            archived_at: None,
            version: 3,
            archive_reason: "moved to 8 Jianguo Rd".into(),
            erasure_reference: String::new(),
            owner_override_reason: "Zhang's cousin sells there".into(),
        };
        let now = Utc::now();
        let missing = customer.erase("  ", now).unwrap_err();
        assert!(
            matches!(&missing, Refusal::Invalid(v) if v[0].field == "legal_reference"),
            "{missing:?}"
        );
        assert_eq!(customer.version, 3, "a refused erasure changes nothing");
        customer.erase("PIPL-2026-17", now).unwrap();
        let f = &customer.fields;
        assert!(f.phone.is_empty() && f.email.is_empty() && f.id_number.is_empty());
        assert!(f.contacts.is_empty() && f.addresses.is_empty());
        assert_eq!(f.display_name, "(erased)");
        assert!(customer.archive_reason.is_empty() && customer.owner_override_reason.is_empty());
        assert_eq!(customer.erasure_reference, "PIPL-2026-17");
        assert_eq!(customer.state, State::Erased);
        assert_eq!((customer.archived_at, customer.version), (Some(now), 4));
        assert_eq!(customer.tier, Tier::Frequent, "the anonymous facts stay");
        assert!(
            matches!(customer.erase("again", now), Err(Refusal::Precondition(_))),
            "erased once"
        );
    }

    #[test]
    fn cr11_archiving_keeps_the_record_and_its_reason_and_happens_once() {
        let mut fields = personal();
        fields.normalize_and_validate("c").unwrap();
        let now = Utc::now();
        let mut customer = Customer::new("c1".into(), fields, now);
        assert!(matches!(
            customer.archive(&"x".repeat(501), now),
            Err(Refusal::Invalid(_))
        ));
        customer.archive(" moved away ", now).unwrap();
        assert_eq!(customer.state, State::Archived);
        assert_eq!(customer.archive_reason, "moved away");
        assert_eq!(
            customer.fields.phone, "13812345678",
            "nothing personal goes"
        );
        assert!(matches!(
            customer.archive("again", now),
            Err(Refusal::Precondition(_))
        ));
        customer.erase("court order 7", now).unwrap();
        assert_eq!(
            customer.state,
            State::Erased,
            "an archived customer can be erased"
        );
    }

    #[test]
    fn cr9_masking_hides_every_personal_field() {
        let mut f = personal();
        f.normalize_and_validate("c").unwrap();
        f.contacts.push(Contact {
            display_name: "Wang".into(),
            role: String::new(),
            phone: "13900001111".into(),
            email: "wang@example.com".into(),
        });
        f.mask_personal_data();
        assert_eq!(f.phone, "138****5678");
        assert_eq!(f.email, "z***@example.com");
        assert_eq!(f.id_number, "1101**********002X");
        assert_eq!(f.addresses[0].street, "***");
        assert_eq!(f.contacts[0].phone, "139****1111");
        assert_eq!(f.contacts[0].email, "w***@example.com");
        assert_eq!(f.addresses[0].city, "Beijing", "city is not personal data");
    }
}
