//! What customer-registry's use cases share: the handles and the rules' settings, who is
//! asking, a mutation's request_id, and the two steps every change of a customer takes
//! (loading it as the caller may see it, and writing it back with its events).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::FixedOffset;
use kefu_platform::events::EventLog;
use kefu_platform::idempotency::{self, Begun, Mutation};
use kefu_platform::pii::PiiCipher;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::Customer;
use crate::domain::access::Viewer;
use crate::domain::grade::GradeModel;
use crate::domain::secrecy;
use crate::domain::tier::TierRules;
use crate::error::{Error, Result, invalid};
use crate::settings::{CustomerRegistrySettings, ServicePlanSettings};
use crate::store;

/// The handles and settings every use case is built on. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Registry {
    pub(crate) db: DatabaseConnection,
    pub(crate) cipher: PiiCipher,
    pub(crate) log: EventLog,
    pub(crate) rules: Arc<Rules>,
    /// CR-9: held while this process re-seals personal data.
    pub(crate) rotating: Arc<tokio::sync::Mutex<()>>,
}

/// The rules' settings, read once at start.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) tiers: TierRules,
    /// Local time of a calendar month (CR-2, CR-7).
    pub(crate) month_offset: FixedOffset,
    /// CR-10: records not confirmed for this long are stale.
    pub(crate) stale_after: chrono::Duration,
    /// CR-5: grade code ("a".."d") -> days between visits.
    pub(crate) visit_interval_days: BTreeMap<String, u32>,
    /// CR-3's scoring model.
    pub(crate) grades: GradeModel,
    /// CR-12: tier code -> what the tier gets.
    pub(crate) service_plans: BTreeMap<String, ServicePlanSettings>,
}

impl Rules {
    pub(crate) fn from_settings(own: &CustomerRegistrySettings) -> anyhow::Result<Self> {
        let month_offset = FixedOffset::east_opt(own.tiers.month_utc_offset_minutes * 60)
            .ok_or_else(|| {
                anyhow::anyhow!("customer_registry.tiers.month_utc_offset_minutes out of range")
            })?;
        Ok(Self {
            tiers: TierRules::from(&own.tiers),
            month_offset,
            stale_after: chrono::Duration::days(i64::from(own.stale_after_days)),
            visit_interval_days: own.visit_interval_days.clone(),
            grades: GradeModel::from(&own.grades),
            service_plans: own.service_plans.clone(),
        })
    }
}

/// Who asks, through which RPC, and why: what the rules and the audit trail need to know
/// of a caller.
#[derive(Clone, Debug)]
pub(crate) struct Requester {
    pub(crate) subject: String,
    /// The caller's role as the audit trail records it ("agent", "manager", ...).
    pub(crate) role: &'static str,
    pub(crate) viewer: Viewer,
    /// The caller's token allows reading personal data (CR-9).
    pub(crate) may_read_personal_data: bool,
    /// Why it reads, as the caller stated it.
    pub(crate) purpose: String,
    pub(crate) rpc: &'static str,
}

impl Requester {
    /// CR-9: personal data unmasked only with the scope and a stated purpose.
    pub(crate) fn sees_personal_data(&self) -> bool {
        secrecy::sees_personal_data(self.may_read_personal_data, &self.purpose)
    }

    /// Where this caller's request_ids live: one caller's id never replays another's.
    fn idempotency_scope(&self) -> String {
        format!("{}:{}", self.rpc, self.subject)
    }
}

/// What a retried mutation is known by: its request_id (empty: none) and the fingerprint of
/// the rest of the request.
#[derive(Clone, Debug, Default)]
pub(crate) struct Retry {
    pub(crate) request_id: String,
    pub(crate) fingerprint: String,
}

/// A page of answers and the token of the next one (empty on the last).
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_page_token: String,
}

/// A page token that resumes after a row number.
pub(crate) fn row_number(token: &str) -> Result<i64> {
    token
        .parse::<i64>()
        .map_err(|_| invalid("page_token", "not a token this service gave out"))
}

/// A customer as the caller may see it.
#[derive(Clone, Debug)]
pub(crate) struct Shown {
    pub(crate) customer: Customer,
    /// Its personal data is masked in this answer.
    pub(crate) masked: bool,
}

impl Registry {
    /// Opens a mutation's transaction and claims its request_id, or finds the id's first
    /// answer: the id of what it made or changed.
    pub(crate) async fn begin(&self, who: &Requester, retry: &Retry) -> Result<Begun> {
        Ok(idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?)
    }

    /// Commits with `answer_id` (never personal data) as the request_id's answer, and wakes
    /// the relay.
    pub(crate) async fn commit(&self, mutation: Mutation, answer_id: &str) -> Result<()> {
        mutation.commit(answer_id.as_bytes()).await?;
        self.log.committed();
        Ok(())
    }

    /// AIP-211: a caller who may not see a customer hears PERMISSION_DENIED whether or not
    /// it exists, so ids cannot be probed.
    pub(crate) async fn load_visible<C: ConnectionTrait>(
        &self,
        db: &C,
        who: &Requester,
        id: &str,
    ) -> Result<Customer> {
        if id.is_empty() {
            return Err(invalid("customer_id", "required"));
        }
        let viewer = &who.viewer;
        let denied = || Error::PermissionDenied(format!("customer {id} is not yours to see"));
        match store::get(db, &self.cipher, id).await? {
            Some(customer) if customer.visible_to(viewer) => Ok(customer),
            Some(_) => Err(denied()),
            None if viewer.restricted_to_own => Err(denied()),
            None => Err(Error::NotFound(format!("customer {id}"))),
        }
    }

    /// Writes `updated` over the stored row if it is still at `expected_version`.
    pub(crate) async fn write_back<C: ConnectionTrait>(
        &self,
        db: &C,
        updated: &Customer,
        expected_version: i64,
    ) -> Result<()> {
        if store::update_if_version(db, &self.cipher, updated, expected_version).await? {
            Ok(())
        } else {
            Err(Error::Aborted(format!(
                "customer {} changed meanwhile; read it again",
                updated.id
            )))
        }
    }

    /// Masks personal data, or writes the audit trail of the unmasked read before it leaves.
    pub(crate) async fn show(
        &self,
        who: &Requester,
        customers: Vec<Customer>,
    ) -> Result<Vec<Shown>> {
        if !who.sees_personal_data() {
            return Ok(customers
                .into_iter()
                .map(|mut customer| {
                    customer.fields.mask_personal_data();
                    Shown {
                        customer,
                        masked: true,
                    }
                })
                .collect());
        }
        let shown: Vec<(&str, Vec<&str>)> = customers
            .iter()
            .map(|c| (c.id.as_str(), secrecy::present_personal_fields(&c.fields)))
            .filter(|(_, fields)| !fields.is_empty())
            .collect();
        let trace_id = kefu_platform::telemetry::current_trace_id();
        store::audit::append(
            &self.db,
            &store::audit::UnmaskedRead {
                actor_id: &who.subject,
                actor_role: who.role,
                purpose: &who.purpose,
                rpc: who.rpc,
                trace_id: &trace_id,
            },
            &shown,
        )
        .await?;
        Ok(customers
            .into_iter()
            .map(|customer| Shown {
                customer,
                masked: false,
            })
            .collect())
    }

    pub(crate) async fn show_one(&self, who: &Requester, customer: Customer) -> Result<Shown> {
        self.show(who, vec![customer])
            .await?
            .pop()
            .ok_or_else(|| Error::Internal("a shown customer went missing".into()))
    }

    /// The customer as the caller may see it now.
    pub(crate) async fn current(&self, who: &Requester, id: &str) -> Result<Shown> {
        let customer = self.load_visible(&self.db, who, id).await?;
        self.show_one(who, customer).await
    }

    /// The first answer of a replayed mutation: the customer it made or changed, as now.
    pub(crate) async fn replayed(&self, who: &Requester, answer: &[u8]) -> Result<Shown> {
        self.current(who, &String::from_utf8_lossy(answer)).await
    }
}
