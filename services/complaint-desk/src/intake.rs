//! CD-1, CD-2: registration. A person registers a case from any channel: the customer and
//! the order are checked with their services (nothing is written when either cannot be
//! reached), the case takes the customer's tier, team and service-plan deadlines, and a
//! case number. order-tracking's exceptions open cases by themselves, one per exception.

use chrono::{Datelike as _, Utc};
use kefu_directory::{LookupError, PlanFacts};
use kefu_platform::idempotency::{self, Begun};
use sea_orm::ConnectionTrait;

use crate::cases::{Desk, Requester, Retry};
use crate::domain::case::{NewCase, PlanHours, Registration};
use crate::domain::{Case, CaseType, Category, Origin, SYSTEM, Severity, Source};
use crate::error::{Error, Result, invalid};
use crate::store;

/// What a case learns from customer-registry at registration.
struct CustomerTerms {
    tier: String,
    team_id: String,
    plan: PlanHours,
}

fn registry_down(e: LookupError) -> Error {
    Error::Unavailable {
        service: "customer-registry",
        why: e.to_string(),
    }
}

fn plan_hours(plan: PlanFacts) -> PlanHours {
    PlanHours {
        first_response: plan.first_response_hours,
        resolution: plan.resolution_hours,
    }
}

impl Desk {
    /// CD-1: a person registers a case.
    pub(crate) async fn register(
        &self,
        who: &Requester,
        retry: &Retry,
        new: NewCase,
    ) -> Result<Case> {
        new.check("complaint")?;
        if new.origin.is_some_and(Origin::is_automatic) {
            return Err(invalid(
                "complaint.origin",
                "order_exception and survey_answer cases are opened by complaint-desk itself; \
                 register hotline, email, web or visit cases",
            ));
        }
        // A retry is answered before the other services are asked again.
        if !retry.request_id.is_empty()
            && let Some(idempotency::Claim::Replay(id)) = idempotency::find(
                &self.db,
                &who.idempotency_scope(),
                &retry.request_id,
                &retry.fingerprint,
            )
            .await?
        {
            return self.read(who, &String::from_utf8_lossy(&id)).await;
        }
        let customer_id = new.customer_id.trim().to_owned();
        let customer = match self.customers.lookup(&customer_id).await {
            Ok(facts) => facts,
            Err(LookupError::NotFound) => {
                return Err(invalid("complaint.customer_id", "no such customer"));
            }
            Err(e) => return Err(registry_down(e)),
        };
        if !customer.active {
            return Err(Error::FailedPrecondition(format!(
                "customer {customer_id} is archived: reactivate it in customer-registry first"
            )));
        }
        let order_id = new.order_id.trim();
        if !order_id.is_empty() {
            match self.orders.lookup(order_id).await {
                Ok(order) if order.customer_id == customer_id => {}
                Ok(_) => {
                    return Err(invalid(
                        "complaint.order_id",
                        "an order of another customer",
                    ));
                }
                Err(LookupError::NotFound) => {
                    return Err(invalid("complaint.order_id", "no such order"));
                }
                Err(e) => {
                    return Err(Error::Unavailable {
                        service: "order-tracking",
                        why: e.to_string(),
                    });
                }
            }
        }
        let plan = self
            .customers
            .plan(&customer.tier)
            .await
            .map_err(registry_down)?;
        let terms = CustomerTerms {
            tier: customer.tier,
            team_id: customer.stewards.team_id,
            plan: plan_hours(plan),
        };
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.read(who, &String::from_utf8_lossy(&id)).await,
        };
        let (mut case, facts) = self
            .new_case(&mutation.txn, new, terms, None, &who.subject)
            .await?;
        // The agent who takes the call works the case (one person responsible).
        if who.agent {
            case.assignee_id = who.subject.clone();
        }
        self.insert(&mutation.txn, &case, &facts, &who.subject)
            .await?;
        mutation.commit(case.id.as_bytes()).await?;
        self.log.committed();
        tracing::info!(case_number = %case.case_number, origin = case.origin.code(), "case registered");
        Ok(case)
    }

    /// A case with the next number of the local year, in the caller's transaction.
    async fn new_case<C: ConnectionTrait>(
        &self,
        txn: &C,
        new: NewCase,
        terms: CustomerTerms,
        source: Option<Source>,
        actor: &str,
    ) -> Result<(Case, Vec<crate::domain::Fact>)> {
        let now = Utc::now();
        let year = now.with_timezone(&self.policy().calendar.offset()).year();
        let number = store::numbers::next(txn, year).await?;
        let registration = Registration {
            id: uuid::Uuid::now_v7().to_string(),
            case_number: store::numbers::format(&self.rules.case_number_prefix, year, number),
            source,
            tier: terms.tier,
            team_id: terms.team_id,
            plan: terms.plan,
            actor: actor.to_owned(),
            now,
        };
        Ok(Case::register(new, registration)?)
    }

    /// CD-1, OT-7: an order exception opens one case, in the consumer's transaction; the
    /// same exception again opens nothing.
    pub(crate) async fn open_from_exception<C: ConnectionTrait>(
        &self,
        txn: &C,
        exception: &OrderException,
    ) -> anyhow::Result<()> {
        let automatic = Automatic {
            source: Source::OrderException(exception.exception_id.clone()),
            origin: Origin::OrderException,
            customer_id: &exception.customer_id,
            order_id: &exception.order_id,
            category: exception.category,
            // A loss is the worst that can happen to a shipment.
            severity: if exception.category == Category::Loss {
                Severity::High
            } else {
                Severity::Medium
            },
            summary: format!("order exception: {}", exception.category),
        };
        self.open_automatic(txn, automatic).await
    }

    /// CD-1, SV-5: a survey answer that names a problem opens one case.
    pub(crate) async fn open_from_problem<C: ConnectionTrait>(
        &self,
        txn: &C,
        problem: &ReportedProblem,
    ) -> anyhow::Result<()> {
        let automatic = Automatic {
            source: Source::SurveyResponse(problem.response_id.clone()),
            origin: Origin::SurveyAnswer,
            customer_id: &problem.customer_id,
            order_id: &problem.order_id,
            category: problem.category,
            severity: Severity::Medium,
            summary: format!("survey answer: {}", problem.category),
        };
        self.open_automatic(txn, automatic).await
    }

    /// Opens a case from another service's event, once per source. The customer's tier and
    /// plan come from customer-registry; while it cannot answer, the event is retried.
    async fn open_automatic<C: ConnectionTrait>(
        &self,
        txn: &C,
        automatic: Automatic<'_>,
    ) -> anyhow::Result<()> {
        if store::has_source(txn, &automatic.source).await? {
            return Ok(());
        }
        let customer = match self.customers.lookup(automatic.customer_id).await {
            Ok(customer) => customer,
            Err(LookupError::NotFound) => {
                // The producing service checked the customer; one customer-registry does not
                // know is a fault to look into, not a case to open.
                tracing::error!(
                    source = %automatic.source.key(),
                    customer_id = %automatic.customer_id,
                    "event about a customer customer-registry does not know: no case opened"
                );
                return Ok(());
            }
            Err(e) => anyhow::bail!("customer-registry: {e}"),
        };
        let plan = self
            .customers
            .plan(&customer.tier)
            .await
            .map_err(|e| anyhow::anyhow!("customer-registry: {e}"))?;
        let new = NewCase {
            kind: Some(CaseType::Complaint),
            origin: Some(automatic.origin),
            contact_channel: None,
            category: Some(automatic.category),
            severity: Some(automatic.severity),
            customer_id: automatic.customer_id.to_owned(),
            order_id: automatic.order_id.to_owned(),
            staff_id: String::new(),
            summary: automatic.summary,
            description: String::new(),
        };
        let terms = CustomerTerms {
            tier: customer.tier,
            team_id: customer.stewards.team_id,
            plan: plan_hours(plan),
        };
        let source = automatic.source.clone();
        let (case, facts) = self.new_case(txn, new, terms, Some(source), SYSTEM).await?;
        if self.insert(txn, &case, &facts, SYSTEM).await? {
            tracing::info!(
                case_number = %case.case_number,
                source = %automatic.source.key(),
                "case opened automatically"
            );
        }
        Ok(())
    }
}

/// A case another service's event asks for.
struct Automatic<'a> {
    source: Source,
    origin: Origin,
    customer_id: &'a str,
    order_id: &'a str,
    category: Category,
    severity: Severity,
    summary: String,
}

/// What complaint-desk reads of survey's ProblemReported.
#[derive(Clone, Debug)]
pub(crate) struct ReportedProblem {
    pub(crate) response_id: String,
    pub(crate) customer_id: String,
    pub(crate) order_id: String,
    pub(crate) category: Category,
}

/// What complaint-desk reads of order-tracking's ExceptionRaised.
#[derive(Clone, Debug)]
pub(crate) struct OrderException {
    pub(crate) exception_id: String,
    pub(crate) order_id: String,
    pub(crate) customer_id: String,
    pub(crate) category: Category,
}
