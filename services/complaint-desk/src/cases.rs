//! What complaint-desk's use cases share: the handles and the rules, who asks, and the one
//! write path of a case (claim the request_id, lock the row, check who may see it and the
//! version it was read at, apply the rule, bump the version, write row, events and the
//! figures stored beside it in one transaction) with the one read path beside it. A
//! person's change, the clock pass and the consumers all go through [`Desk::apply`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kefu_directory::{CustomerDirectory, OrderDirectory};
use kefu_platform::events::EventLog;
use kefu_platform::idempotency::{self, Begun};
use kefu_platform::paging;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::access::CaseViewer;
use crate::domain::clock::DeadlineState;
use crate::domain::policy::Policy;
use kefu_platform::pii::PiiCipher;

use crate::domain::recurring::Recurrence;
use crate::domain::{Case, DeadlineKind, Fact, Refusal, SYSTEM};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store::{self, Derived, ListFilter};

/// The handles and rules every use case is built on. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Desk {
    pub(crate) db: DatabaseConnection,
    pub(crate) log: EventLog,
    pub(crate) customers: CustomerDirectory,
    pub(crate) orders: OrderDirectory,
    pub(crate) rules: Arc<Rules>,
    /// Seals each case's document at rest.
    pub(crate) cipher: PiiCipher,
}

/// The rules' settings, read once at start.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) policy: Policy,
    pub(crate) recurrence: Recurrence,
    pub(crate) case_number_prefix: String,
    /// Department -> its teams.
    pub(crate) departments: BTreeMap<String, Vec<String>>,
}

/// Who asks, through which RPC.
#[derive(Clone, Debug)]
pub(crate) struct Requester {
    pub(crate) subject: String,
    pub(crate) viewer: CaseViewer,
    /// A supervisor, manager or system: edits any knowledge entry, publishes, retires.
    pub(crate) supervises: bool,
    /// An agent: the cases it registers are its own to work.
    pub(crate) agent: bool,
    pub(crate) rpc: &'static str,
}

impl Requester {
    /// complaint-desk itself: the clock pass, the consumers.
    pub(crate) fn system(rpc: &'static str) -> Self {
        Self {
            subject: SYSTEM.to_owned(),
            viewer: CaseViewer::Everyone,
            supervises: true,
            agent: false,
            rpc,
        }
    }

    /// Where this caller's request_ids live: one caller's id never replays another's.
    pub(crate) fn idempotency_scope(&self) -> String {
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

impl Desk {
    pub(crate) fn policy(&self) -> &Policy {
        &self.rules.policy
    }

    /// What is stored beside `case`: its figures under the policy in force.
    pub(crate) fn derived(&self, case: &Case, now: DateTime<Utc>) -> Derived {
        let policy = self.policy();
        let met = |kind| case.standing(kind, policy, now).state == DeadlineState::Met;
        Derived {
            next_check_at: case.next_check(policy, now),
            clock_policy: policy.fingerprint.clone(),
            first_response_met: case
                .first_response
                .as_ref()
                .map(|_| met(DeadlineKind::FirstResponse)),
            resolution_met: case
                .round
                .resolution
                .as_ref()
                .map(|_| met(DeadlineKind::Resolution)),
            resolution_seconds: case.resolution_business_seconds(policy),
        }
    }

    /// AIP-211: a restricted viewer who may not see a case hears PERMISSION_DENIED whether
    /// or not it exists, so ids cannot be probed.
    pub(crate) fn check_visible(
        &self,
        who: &Requester,
        id: &str,
        case: Option<&Case>,
    ) -> Result<()> {
        let denied = || Error::PermissionDenied(format!("case {id} is not yours to see"));
        match (case, &who.viewer) {
            (None, CaseViewer::Everyone) => Err(Error::NotFound(format!("case {id}"))),
            (None, CaseViewer::Restricted { .. }) => Err(denied()),
            (Some(case), viewer) if viewer.sees(&case.team_id, &case.assignee_id) => Ok(()),
            (Some(_), _) => Err(denied()),
        }
    }

    /// A case the caller may see, by id or case number.
    pub(crate) async fn read(&self, who: &Requester, id: &str) -> Result<Case> {
        if id.trim().is_empty() {
            return Err(invalid("complaint_id", "required"));
        }
        let case = store::get(&self.db, &self.cipher, id.trim()).await?;
        self.check_visible(who, id, case.as_ref())?;
        case.ok_or_else(|| Error::NotFound(format!("case {id}")))
    }

    /// Cases the caller may see, page by page.
    pub(crate) async fn list(&self, filter: ListFilter, page_size: u64) -> Result<Page<Case>> {
        let rows = store::list(&self.db, &self.cipher, &filter, page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |c| &c.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// One change to one case: claims the request_id, then [`Desk::apply`] in its
    /// transaction, then commits. A replayed request answers the case as it is now.
    pub(crate) async fn change<F>(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: Option<i64>,
        change: F,
    ) -> Result<Case>
    where
        F: FnOnce(&mut Case, &Policy, DateTime<Utc>) -> Result<Vec<Fact>, Refusal>,
    {
        if id.trim().is_empty() {
            return Err(invalid("complaint_id", "required"));
        }
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(_) => return self.read(who, id).await,
        };
        let (case, written) = self
            .apply(&mutation.txn, who, id.trim(), expected_version, change)
            .await?;
        if written {
            mutation.commit(case.id.as_bytes()).await?;
            self.log.committed();
        } else {
            mutation.txn.rollback().await?;
        }
        Ok(case)
    }

    /// The one write path, in the caller's transaction: locks the case, checks who may see
    /// it and the version it was read at, lets `change` apply the rules, and, when
    /// something happened, bumps the version and writes row, events and stored figures
    /// (and counts a recorded root cause, CD-10). With nothing happened, only figures gone
    /// stale under a new policy are rewritten. Whether anything was written.
    pub(crate) async fn apply<C, F>(
        &self,
        txn: &C,
        who: &Requester,
        id: &str,
        expected_version: Option<i64>,
        change: F,
    ) -> Result<(Case, bool)>
    where
        C: ConnectionTrait,
        F: FnOnce(&mut Case, &Policy, DateTime<Utc>) -> Result<Vec<Fact>, Refusal>,
    {
        let locked = store::lock(txn, &self.cipher, id).await?;
        self.check_visible(who, id, locked.as_ref().map(|(case, _)| case))?;
        let Some((mut case, stored)) = locked else {
            return Err(Error::NotFound(format!("case {id}")));
        };
        if let Some(expected) = expected_version {
            case.check_version(expected)?;
        }
        let now = Utc::now();
        let facts = change(&mut case, self.policy(), now)?;
        if facts.is_empty() {
            let derived = self.derived(&case, now);
            if derived == stored {
                return Ok((case, false));
            }
            store::update_derived(txn, &case.id, &derived).await?;
            return Ok((case, true));
        }
        case.version += 1;
        case.updated_at = now;
        store::update(txn, &self.cipher, &case, &self.derived(&case, now)).await?;
        for fact in &facts {
            events::append_fact(txn, &case, fact, &who.subject).await?;
        }
        if facts.contains(&Fact::Investigated) {
            self.count_cause(txn, &case, now).await?;
        }
        Ok((case, true))
    }

    /// Writes a new case and its events in the caller's transaction; `false` when a case
    /// of the same source exists (nothing written).
    pub(crate) async fn insert<C: ConnectionTrait>(
        &self,
        txn: &C,
        case: &Case,
        facts: &[Fact],
        actor: &str,
    ) -> Result<bool> {
        if !store::insert(
            txn,
            &self.cipher,
            case,
            &self.derived(case, case.created_at),
        )
        .await?
        {
            return Ok(false);
        }
        for fact in facts {
            events::append_fact(txn, case, fact, actor).await?;
        }
        Ok(true)
    }

    /// CD-10: counts the complaints whose investigation names this case's root cause in
    /// its period, and flags the cause once when they reach the threshold.
    async fn count_cause<C: ConnectionTrait>(
        &self,
        txn: &C,
        case: &Case,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(investigation) = &case.investigation else {
            return Ok(());
        };
        if case.kind != crate::domain::CaseType::Complaint {
            return Ok(());
        }
        let rule = &self.rules.recurrence;
        let cause = investigation.root_cause;
        let (start, end) = rule.period_of(investigation.at);
        let threshold = i64::from(rule.threshold);
        store::recurring::take(txn, cause, start, end, threshold).await?;
        let count = store::count_with_cause(txn, cause, start, end).await?;
        let flagged =
            store::recurring::record(txn, cause, start, count, threshold, rule.recurs(count), now)
                .await?;
        if flagged {
            events::cause_flagged(txn, cause, (start, end), count, threshold).await?;
            tracing::info!(root_cause = cause.code(), count, "recurring cause flagged");
        }
        Ok(())
    }
}
