//! The gRPC face of customer-registry: protos in and out of the domain, and who may do what.

use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};
use kefu_platform::auth::{Caller, Role, SCOPE_PII_READ};
use kefu_platform::db::Exclusive;
use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::events::{self, EventLog};
use kefu_platform::idempotency::{self, Begun, Mutation};
use kefu_platform::paging;
use kefu_platform::pii::PiiCipher;
use kefu_platform::server::Lifecycle;
use kefu_proto::common as pc;
use kefu_proto::customer as pb;
use sea_orm::{DatabaseConnection, TransactionTrait as _};
use tonic::{Request, Response, Status};

use crate::domain::{self, Customer, CustomerFields, GovernmentLevel, Kind, State, Tier, Viewer};
use crate::error::{Error, Result};
use crate::rotation;
use crate::store::{self, ListFilter, UnmaskedRead};
use crate::tiers;
use crate::visits;

/// Metadata key in which a caller with the `pii:read` scope states why it reads (CR-9).
pub const PURPOSE_HEADER: &str = "x-kefu-purpose";
/// The lock of the scheduled tier and grade pass (and of recomputing every grade on demand).
const SCHEDULED_PASS: &str = "customer-registry.scheduled-pass";

#[derive(Clone, Debug)]
pub struct CustomerRegistryApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) cipher: PiiCipher,
    pub(crate) log: EventLog,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) tier_rules: crate::domain::tier::TierRules,
    /// Local time of a calendar month (CR-2).
    pub(crate) month_offset: chrono::FixedOffset,
    /// CR-10: records not confirmed for this long are stale.
    pub(crate) stale_after: chrono::Duration,
    /// CR-9: held while this process re-seals personal data.
    pub(crate) rotating: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// CR-5: grade code ("a".."d") -> days between visits.
    pub(crate) visit_interval_days: std::sync::Arc<std::collections::BTreeMap<String, u32>>,
    /// CR-3's scoring model.
    pub(crate) grades: std::sync::Arc<crate::settings::GradeSettings>,
    /// CR-12: tier code -> what the tier gets.
    pub(crate) service_plans:
        std::sync::Arc<std::collections::BTreeMap<String, crate::settings::ServicePlanSettings>>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::StreamEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::customer_registry_service_server::CustomerRegistryService for CustomerRegistryApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "CreateCustomer")?;
        let body = request.into_inner();
        Ok(Response::new(self.create(&context, body).await?))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "GetCustomer")?;
        let id = request.into_inner().customer_id;
        Ok(Response::new(self.current(&context, &id).await?))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let context = CallContext::of(&request, "ListCustomers")?;
        Ok(Response::new(
            self.list(&context, request.into_inner()).await?,
        ))
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "UpdateCustomer")?;
        Ok(Response::new(
            self.update(&context, request.into_inner()).await?,
        ))
    }

    async fn archive_customer(
        &self,
        request: Request<pb::ArchiveCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "ArchiveCustomer")?;
        Ok(Response::new(
            self.archive(&context, request.into_inner()).await?,
        ))
    }

    async fn lookup_customer_by_phone(
        &self,
        request: Request<pb::LookupCustomerByPhoneRequest>,
    ) -> Result<Response<pb::LookupCustomerByPhoneResponse>, Status> {
        let context = CallContext::of(&request, "LookupCustomerByPhone")?;
        let phone = request.into_inner().phone;
        let normalized = crate::domain::formats::normalize_phone(&phone)
            .ok_or_else(|| invalid("phone", "not a mainland phone number"))?;
        let hash = self.cipher.lookup_hash(&normalized);
        let viewer = context.viewer();
        let found: Vec<Customer> = store::find_by_phone_hash(&self.db, &self.cipher, &hash, 50)
            .await
            .map_err(Error::from)?
            .into_iter()
            .filter(|c| c.visible_to(&viewer))
            .collect();
        Ok(Response::new(pb::LookupCustomerByPhoneResponse {
            customers: self.render(&context, found).await?,
        }))
    }

    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> Result<Response<pb::ListAuditRecordsResponse>, Status> {
        let request = request.into_inner();
        let (page_size, after) =
            paging::parse(request.page_size, &request.page_token).map_err(Error::Invalid)?;
        // These tokens resume after a row number.
        let before = after
            .map(|id| {
                id.parse::<i64>()
                    .map_err(|_| invalid("page_token", "not a token this service gave out"))
            })
            .transpose()?;
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let rows = store::list_audit(
            &self.db,
            nonempty(&request.customer_id).as_deref(),
            nonempty(&request.actor_id).as_deref(),
            before,
            page_size + 1,
        )
        .await
        .map_err(Error::from)?;
        let rows: Vec<(String, pb::AuditRecord)> = rows
            .into_iter()
            .map(|r| {
                (
                    r.id.to_string(),
                    pb::AuditRecord {
                        id: r.id.to_string(),
                        actor_id: r.actor_id,
                        actor_role: r.actor_role,
                        customer_id: r.customer_id,
                        fields: r
                            .fields
                            .split(',')
                            .filter(|f| !f.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        purpose: r.purpose,
                        rpc: r.rpc,
                        read_time: Some(timestamp(r.read_at)),
                        trace_id: r.trace_id,
                    },
                )
            })
            .collect();
        let (page, next_page_token) = paging::finish_page(rows, page_size, |(id, _)| id.as_str());
        Ok(Response::new(pb::ListAuditRecordsResponse {
            audit_records: page.into_iter().map(|(_, record)| record).collect(),
            next_page_token,
        }))
    }

    async fn confirm_customer(
        &self,
        request: Request<pb::ConfirmCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "ConfirmCustomer")?;
        let mut body = request.into_inner();
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let answer = self
            .change_customer(
                &context,
                &body.customer_id,
                request_id,
                &fingerprint,
                |customer, now| {
                    customer.confirmed_at = now;
                    Ok((vec!["confirm_time".to_owned()], None))
                },
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_stale_customers(
        &self,
        request: Request<pb::ListStaleCustomersRequest>,
    ) -> Result<Response<pb::ListStaleCustomersResponse>, Status> {
        let context = CallContext::of(&request, "ListStaleCustomers")?;
        let request = request.into_inner();
        let (page_size, after_id) =
            paging::parse(request.page_size, &request.page_token).map_err(Error::Invalid)?;
        let filter = ListFilter {
            after_id,
            confirmed_before: Some(Utc::now() - self.stale_after),
            owner_id: (!request.owner_id.is_empty()).then_some(request.owner_id),
            ..Default::default()
        };
        let page = store::list(
            &self.db,
            &self.cipher,
            &context.viewer(),
            &filter,
            page_size + 1,
        )
        .await
        .map_err(Error::from)?;
        let (page, next_page_token) = paging::finish_page(page, page_size, |c| &c.id);
        Ok(Response::new(pb::ListStaleCustomersResponse {
            customers: self.render(&context, page).await?,
            next_page_token,
        }))
    }

    async fn assign_owner(
        &self,
        request: Request<pb::AssignOwnerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "AssignOwner")?;
        let mut body = request.into_inner();
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let mut violations = Violations::new();
        violations.check(
            !body.owner_id.trim().is_empty(),
            "owner_id",
            "required: the account owner (CR-4)",
        );
        violations.check(
            !body.visitor_id.trim().is_empty(),
            "visitor_id",
            "required: the visitor (CR-4)",
        );
        violations.check(
            body.override_reason.chars().count() <= 500,
            "override_reason",
            "at most 500 characters",
        );
        violations.finish().map_err(Error::Invalid)?;
        let answer = self
            .change_customer(&context, &body.customer_id, request_id, &fingerprint, |customer, _| {
                let region = customer.fields.region.trim();
                let local_salesperson = !region.is_empty() && body.visitor_sales_region.trim() == region;
                if local_salesperson && body.override_reason.trim().is_empty() {
                    // CR-4: the visitor should not be the customer's local salesperson.
                    return Err(invalid(
                        "override_reason",
                        "the visitor sells in the customer's own region; assigning them needs a reason",
                    ));
                }
                customer.owner_id = body.owner_id.trim().to_owned();
                customer.visitor_id = body.visitor_id.trim().to_owned();
                let assigned = pb::OwnerAssigned {
                    customer_id: customer.id.clone(),
                    owner_id: customer.owner_id.clone(),
                    visitor_id: customer.visitor_id.clone(),
                    override_reason: if local_salesperson { body.override_reason.trim().to_owned() } else { String::new() },
                };
                Ok((vec!["owner_id".to_owned(), "visitor_id".to_owned()], Some(assigned)))
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn erase_customer(
        &self,
        request: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "EraseCustomer")?;
        let mut body = request.into_inner();
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let reference = body.legal_reference.trim().to_owned();
        if reference.is_empty() || reference.chars().count() > 200 {
            return Err(invalid(
                "legal_reference",
                "required: the lawful request being honoured",
            )
            .into());
        }
        let mutation = match self
            .begin_mutation(&context, request_id, &fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => {
                return Ok(Response::new(
                    self.current(&context, &String::from_utf8_lossy(&id))
                        .await?,
                ));
            }
        };
        let txn = &mutation.txn;
        let current = self
            .load_visible_in(txn, &context, &body.customer_id)
            .await?;
        if current.state == State::Erased {
            return Err(Error::FailedPrecondition(format!(
                "customer {} was already erased",
                current.id
            ))
            .into());
        }
        // CR-11: the person's data goes; the anonymous history (kind, tier, counts, orders'
        // ids elsewhere) stays.
        let mut erased = current.clone();
        erased.erase_personal_data();
        let now = Utc::now();
        erased.updated_at = now;
        erased.archived_at = erased.archived_at.or(Some(now));
        erased.version = current.version + 1;
        if !store::update_if_version(txn, &self.cipher, &erased, current.version)
            .await
            .map_err(Error::from)?
        {
            return Err(Error::Aborted(format!(
                "customer {} changed meanwhile; try again",
                current.id
            ))
            .into());
        }
        events::append(
            txn,
            &subject(&current.id),
            &pb::CustomerErased {
                customer_id: current.id.clone(),
                legal_reference: reference,
            },
        )
        .await
        .map_err(Error::from)?;
        self.commit_mutation(mutation, &current.id).await?;
        tracing::info!(customer_id = %current.id, "customer erased");
        kefu_platform::db::forget_overwritten(&self.db).await;
        Ok(Response::new(self.render_one(&context, erased).await?))
    }

    async fn list_service_plans(
        &self,
        _request: Request<pb::ListServicePlansRequest>,
    ) -> Result<Response<pb::ListServicePlansResponse>, Status> {
        let service_plans = Tier::ALL
            .iter()
            .filter_map(|tier| self.service_plan(*tier))
            .collect();
        Ok(Response::new(pb::ListServicePlansResponse {
            service_plans,
        }))
    }

    async fn get_service_plan(
        &self,
        request: Request<pb::GetServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let tier = match tier_from_proto(request.into_inner().tier) {
            Some(Some(tier)) => tier,
            _ => return Err(invalid("tier", "required: a tier").into()),
        };
        let plan = self
            .service_plan(tier)
            .ok_or_else(|| Status::not_found(format!("no service plan for {}", tier.code())))?;
        Ok(Response::new(plan))
    }

    async fn create_visit_report(
        &self,
        request: Request<pb::CreateVisitReportRequest>,
    ) -> Result<Response<pb::VisitReport>, Status> {
        let context = CallContext::of(&request, "CreateVisitReport")?;
        let mut body = request.into_inner();
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let given = body.visit_report.unwrap_or_default();
        let now = Utc::now();
        let mut report = crate::domain::visits::VisitReport {
            customer_id: given.customer_id,
            visit_time: given.visit_time.as_ref().and_then(from_timestamp),
            customer_feedback: given.customer_feedback,
            market_intelligence: given.market_intelligence,
            visit_effect: given.visit_effect,
            matters_handled: given.matters_handled,
            other_matters: given.other_matters,
        };
        report
            .normalize_and_validate("visit_report", now)
            .map_err(Error::Invalid)?;
        let mutation = match self
            .begin_mutation(&context, request_id, &fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => {
                let id = String::from_utf8_lossy(&id).into_owned();
                return Ok(Response::new(self.visit_report(&context, &id).await?));
            }
        };
        let txn = &mutation.txn;
        // Only a customer the caller may see can be reported on.
        self.load_visible_in(txn, &context, &report.customer_id)
            .await?;
        let id = uuid::Uuid::now_v7().to_string();
        visits::insert_visit(txn, &id, &context.caller.subject, &report, now)
            .await
            .map_err(Error::from)?;
        events::append(
            txn,
            &subject(&report.customer_id),
            &pb::VisitReportFiled {
                visit_report_id: id.clone(),
                customer_id: report.customer_id.clone(),
                visitor_id: context.caller.subject.clone(),
                visit_time: report.visit_time.map(timestamp),
            },
        )
        .await
        .map_err(Error::from)?;
        mutation.commit(id.as_bytes()).await.map_err(Error::from)?;
        self.log.committed();
        Ok(Response::new(self.visit_report(&context, &id).await?))
    }

    async fn get_visit_report(
        &self,
        request: Request<pb::GetVisitReportRequest>,
    ) -> Result<Response<pb::VisitReport>, Status> {
        let context = CallContext::of(&request, "GetVisitReport")?;
        let id = request.into_inner().visit_report_id;
        Ok(Response::new(self.visit_report(&context, &id).await?))
    }

    async fn list_visit_reports(
        &self,
        request: Request<pb::ListVisitReportsRequest>,
    ) -> Result<Response<pb::ListVisitReportsResponse>, Status> {
        let context = CallContext::of(&request, "ListVisitReports")?;
        let request = request.into_inner();
        let (page_size, after_id) =
            paging::parse(request.page_size, &request.page_token).map_err(Error::Invalid)?;
        let between = match request.month.as_str() {
            "" => None,
            month => Some(
                self.month_bounds(month)
                    .ok_or_else(|| invalid("month", "a month as YYYY-MM"))?,
            ),
        };
        let mut visitor_id = (!request.visitor_id.is_empty()).then_some(request.visitor_id);
        let customer_id = (!request.customer_id.is_empty()).then_some(request.customer_id);
        if let Some(customer) = &customer_id {
            self.load_visible_in(&self.db, &context, customer).await?;
        } else if context.caller.role == Role::Agent {
            // An agent lists the reports of a customer it may see, or its own.
            match &visitor_id {
                Some(visitor) if *visitor != context.caller.subject => {
                    return Err(Error::PermissionDenied(
                        "agents list their own visit reports".into(),
                    )
                    .into());
                }
                _ => visitor_id = Some(context.caller.subject.clone()),
            }
        }
        let filter = visits::VisitFilter {
            customer_id,
            visitor_id,
            between,
            after_id,
        };
        let rows = visits::list_visits(&self.db, &filter, page_size + 1)
            .await
            .map_err(Error::from)?;
        let (visit_reports, next_page_token) = paging::finish_page(rows, page_size, |r| &r.id);
        Ok(Response::new(pb::ListVisitReportsResponse {
            visit_reports,
            next_page_token,
        }))
    }

    async fn create_urgent_report(
        &self,
        request: Request<pb::CreateUrgentReportRequest>,
    ) -> Result<Response<pb::UrgentReport>, Status> {
        let context = CallContext::of(&request, "CreateUrgentReport")?;
        let mut body = request.into_inner();
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let given = body.urgent_report.unwrap_or_default();
        let trigger = pb::UrgentTrigger::try_from(given.trigger).unwrap_or_default();
        crate::domain::visits::check_urgent_report(
            trigger != pb::UrgentTrigger::Unspecified,
            &given.description,
        )
        .map_err(Error::Invalid)?;
        let mutation = match self
            .begin_mutation(&context, request_id, &fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => {
                let id = String::from_utf8_lossy(&id).into_owned();
                let found = visits::get_urgent(&self.db, &id)
                    .await
                    .map_err(Error::from)?;
                return found
                    .map(Response::new)
                    .ok_or_else(|| Status::not_found(format!("urgent report {id}")));
            }
        };
        let txn = &mutation.txn;
        let customer_id = given.customer_id.trim().to_owned();
        if !customer_id.is_empty() {
            self.load_visible_in(txn, &context, &customer_id).await?;
        }
        let now = Utc::now();
        let report = pb::UrgentReport {
            id: uuid::Uuid::now_v7().to_string(),
            customer_id,
            trigger: trigger as i32,
            description: given.description.trim().to_owned(),
            reporter_id: context.caller.subject.clone(),
            create_time: Some(timestamp(now)),
        };
        visits::insert_urgent(txn, &report, now)
            .await
            .map_err(Error::from)?;
        // CR-8: raised at once; other systems see it on the stream.
        let subject = if report.customer_id.is_empty() {
            format!("urgent-reports/{}", report.id)
        } else {
            subject(&report.customer_id)
        };
        events::append(
            txn,
            &subject,
            &pb::UrgentReportRaised {
                urgent_report_id: report.id.clone(),
                customer_id: report.customer_id.clone(),
                trigger: report.trigger,
            },
        )
        .await
        .map_err(Error::from)?;
        mutation
            .commit(report.id.as_bytes())
            .await
            .map_err(Error::from)?;
        self.log.committed();
        tracing::warn!(urgent_report_id = %report.id, trigger = trigger.as_str_name(), "urgent report raised");
        Ok(Response::new(report))
    }

    async fn list_urgent_reports(
        &self,
        request: Request<pb::ListUrgentReportsRequest>,
    ) -> Result<Response<pb::ListUrgentReportsResponse>, Status> {
        let request = request.into_inner();
        let (page_size, before) =
            paging::parse(request.page_size, &request.page_token).map_err(Error::Invalid)?;
        let rows = visits::list_urgent(&self.db, before.as_deref(), page_size + 1)
            .await
            .map_err(Error::from)?;
        let (urgent_reports, next_page_token) = paging::finish_page(rows, page_size, |r| &r.id);
        Ok(Response::new(pb::ListUrgentReportsResponse {
            urgent_reports,
            next_page_token,
        }))
    }

    async fn explain_grade(
        &self,
        request: Request<pb::ExplainGradeRequest>,
    ) -> Result<Response<pb::GradeExplanation>, Status> {
        let context = CallContext::of(&request, "ExplainGrade")?;
        let customer = self
            .load_visible_in(&self.db, &context, &request.into_inner().customer_id)
            .await?;
        let now = Utc::now();
        let facts = tiers::grade_facts(&self.db, &customer.id, now)
            .await
            .map_err(Error::from)?;
        let scored = crate::domain::grade::score(
            customer.kind,
            customer.fields.government_level,
            customer.tier,
            &facts,
            &self.grades,
        );
        Ok(Response::new(pb::GradeExplanation {
            customer_id: customer.id,
            grade: grade_to_proto(Some(scored.grade)) as i32,
            total_score: scored.total,
            components: scored
                .components
                .into_iter()
                .map(|c| pb::ScoreComponent {
                    factor: c.factor.to_owned(),
                    score: c.score,
                    weight: c.weight,
                    contribution: c.contribution,
                    basis: c.basis,
                })
                .collect(),
            cutoffs: self.grades.cutoffs.clone(),
            compute_time: Some(timestamp(now)),
        }))
    }

    async fn recompute_grades(
        &self,
        request: Request<pb::RecomputeGradesRequest>,
    ) -> Result<Response<pb::RecomputeGradesResponse>, Status> {
        let context = CallContext::of(&request, "RecomputeGrades")?;
        let customer_id = request.into_inner().customer_id;
        let (recomputed, changed) = if customer_id.is_empty() {
            let Some(exclusive) = Exclusive::try_take(&self.db, SCHEDULED_PASS)
                .await
                .map_err(Error::from)?
            else {
                return Err(Status::aborted(
                    "grades are being recomputed on another replica; ask again when it ends",
                ));
            };
            let done = self.regrade_all().await;
            exclusive.release().await.map_err(Error::from)?;
            done?
        } else {
            self.load_visible_in(&self.db, &context, &customer_id)
                .await?;
            (1, i64::from(self.regrade(&customer_id).await?))
        };
        Ok(Response::new(pb::RecomputeGradesResponse {
            recomputed_count: recomputed,
            changed_count: changed,
        }))
    }

    async fn list_overdue_visits(
        &self,
        request: Request<pb::ListOverdueVisitsRequest>,
    ) -> Result<Response<pb::ListOverdueVisitsResponse>, Status> {
        let context = CallContext::of(&request, "ListOverdueVisits")?;
        let request = request.into_inner();
        let (page_size, after_id) =
            paging::parse(request.page_size, &request.page_token).map_err(Error::Invalid)?;
        let mut filter = ListFilter {
            after_id,
            ..Default::default()
        };
        let (overdue, next_page_token) = self
            .overdue(
                &context.viewer(),
                &request.visitor_id,
                &request.team_id,
                &mut filter,
                Some(page_size),
            )
            .await?;
        Ok(Response::new(pb::ListOverdueVisitsResponse {
            overdue_visits: overdue,
            next_page_token,
        }))
    }

    async fn generate_monthly_report(
        &self,
        request: Request<pb::GenerateMonthlyReportRequest>,
    ) -> Result<Response<pb::MonthlyReport>, Status> {
        let body = request.into_inner();
        let mut v = Violations::new();
        v.check(
            !body.team_id.trim().is_empty(),
            "team_id",
            "required: whose visits",
        );
        let bounds = self.month_bounds(&body.month);
        v.check(bounds.is_some(), "month", "a month as YYYY-MM");
        v.finish().map_err(Error::Invalid)?;
        let Some((start, end)) = bounds else {
            return Err(invalid("month", "a month as YYYY-MM").into());
        };
        let team = body.team_id.trim();
        let existing = visits::monthly_by(&self.db, "team_id", team, Some(&body.month))
            .await
            .map_err(Error::from)?;
        if let Some(existing) = &existing
            && existing.report.state() == pb::MonthlyReportState::Submitted
        {
            return Err(Error::FailedPrecondition(format!(
                "the {} report of team {team} was already submitted",
                body.month
            ))
            .into());
        }
        let day_reports = visits::team_visits(&self.db, team, start, end)
            .await
            .map_err(Error::from)?;
        let customers: std::collections::BTreeSet<&str> =
            day_reports.iter().map(|r| r.customer_id.as_str()).collect();
        let everyone = Viewer {
            subject: String::new(),
            restricted_to_own: false,
            team: String::new(),
        };
        let (overdue, _) = self
            .overdue(&everyone, "", team, &mut ListFilter::default(), None)
            .await?;
        let now = Utc::now();
        let row = visits::MonthlyRow {
            report: pb::MonthlyReport {
                id: existing.map_or_else(|| uuid::Uuid::now_v7().to_string(), |e| e.report.id),
                team_id: team.to_owned(),
                month: body.month.clone(),
                state: pb::MonthlyReportState::Draft as i32,
                visit_count: i32::try_from(day_reports.len()).unwrap_or(i32::MAX),
                customer_count: i32::try_from(customers.len()).unwrap_or(i32::MAX),
                overdue_count: i32::try_from(overdue.len()).unwrap_or(i32::MAX),
                visit_reports: vec![],
                supervisor_summary: String::new(),
                supervisor_id: String::new(),
                generate_time: Some(timestamp(now)),
                submit_time: None,
            },
            visit_report_ids: day_reports.iter().map(|r| r.id.clone()).collect(),
        };
        visits::save_monthly(&self.db, &row, now)
            .await
            .map_err(Error::from)?;
        let mut report = row.report;
        report.visit_reports = day_reports;
        Ok(Response::new(report))
    }

    async fn get_monthly_report(
        &self,
        request: Request<pb::GetMonthlyReportRequest>,
    ) -> Result<Response<pb::MonthlyReport>, Status> {
        let id = request.into_inner().monthly_report_id;
        Ok(Response::new(self.monthly_report(&id).await?))
    }

    async fn submit_monthly_report(
        &self,
        request: Request<pb::SubmitMonthlyReportRequest>,
    ) -> Result<Response<pb::MonthlyReport>, Status> {
        let context = CallContext::of(&request, "SubmitMonthlyReport")?;
        let body = request.into_inner();
        let summary = body.supervisor_summary.trim();
        if summary.is_empty() || summary.chars().count() > 8000 {
            return Err(invalid(
                "supervisor_summary",
                "required: the supervisor's review of the month",
            )
            .into());
        }
        let txn = self.db.begin().await.map_err(Error::from)?;
        let mut row = visits::monthly_by(&txn, "id", &body.monthly_report_id, None)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| {
                Status::not_found(format!("monthly report {}", body.monthly_report_id))
            })?;
        if row.report.state() == pb::MonthlyReportState::Submitted {
            return Err(Error::FailedPrecondition("already submitted".into()).into());
        }
        let now = Utc::now();
        row.report.state = pb::MonthlyReportState::Submitted as i32;
        row.report.supervisor_summary = summary.to_owned();
        row.report.supervisor_id = context.caller.subject.clone();
        row.report.submit_time = Some(timestamp(now));
        visits::save_monthly(&txn, &row, now)
            .await
            .map_err(Error::from)?;
        events::append(
            &txn,
            &format!("monthly-reports/{}", row.report.id),
            &pb::MonthlyReportSubmitted {
                monthly_report_id: row.report.id.clone(),
                team_id: row.report.team_id.clone(),
                month: row.report.month.clone(),
            },
        )
        .await
        .map_err(Error::from)?;
        txn.commit().await.map_err(Error::from)?;
        self.log.committed();
        Ok(Response::new(self.monthly_report(&row.report.id).await?))
    }

    async fn start_key_rotation(
        &self,
        _request: Request<pb::StartKeyRotationRequest>,
    ) -> Result<Response<pb::KeyRotation>, Status> {
        // One rotation at a time: a second call answers with the one under way, and resumes
        // it here if the replica that ran it died.
        let id = rotation::start(self).await.map_err(Error::from)?;
        rotation::resume(self, id.clone()).await;
        let rotation = rotation::get(self, &id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Status::internal("rotation vanished"))?;
        Ok(Response::new(rotation))
    }

    async fn get_key_rotation(
        &self,
        request: Request<pb::GetKeyRotationRequest>,
    ) -> Result<Response<pb::KeyRotation>, Status> {
        let id = request.into_inner().key_rotation_id;
        let rotation = rotation::get(self, &id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Status::not_found(format!("key rotation {id}")))?;
        Ok(Response::new(rotation))
    }

    async fn list_tier_changes(
        &self,
        request: Request<pb::ListTierChangesRequest>,
    ) -> Result<Response<pb::ListTierChangesResponse>, Status> {
        let context = CallContext::of(&request, "ListTierChanges")?;
        let request = request.into_inner();
        Ok(Response::new(self.tier_changes(&context, request).await?))
    }

    async fn list_service_record(
        &self,
        request: Request<pb::ListServiceRecordRequest>,
    ) -> Result<Response<pb::ListServiceRecordResponse>, Status> {
        let context = CallContext::of(&request, "ListServiceRecord")?;
        let request = request.into_inner();
        self.load_visible_in(&self.db, &context, &request.customer_id)
            .await?;
        let (page_size, before) =
            paging::parse(request.page_size, &request.page_token).map_err(Error::Invalid)?;
        let (entries, next_page_token) = crate::record::page(
            &self.db,
            crate::SERVICE,
            &request.customer_id,
            before.as_deref(),
            page_size,
        )
        .await
        .map_err(Error::from)?;
        Ok(Response::new(pb::ListServiceRecordResponse {
            entries,
            next_page_token,
        }))
    }

    async fn override_tier(
        &self,
        request: Request<pb::OverrideTierRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "OverrideTier")?;
        let mut body = request.into_inner();
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let tier = match tier_from_proto(body.tier) {
            Some(Some(tier)) => tier,
            _ => return Err(invalid("tier", "required: the tier to set").into()),
        };
        if body.reason.trim().is_empty() || body.reason.chars().count() > 500 {
            return Err(invalid(
                "reason",
                "required: why the facts do not decide (at most 500 characters)",
            )
            .into());
        }
        let reason = format!("manual override: {}", body.reason.trim());
        Ok(Response::new(
            self.set_tier(
                &context,
                &body.customer_id,
                &request_id,
                &fingerprint,
                Some((tier, reason)),
            )
            .await?,
        ))
    }

    async fn clear_tier_override(
        &self,
        request: Request<pb::ClearTierOverrideRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let context = CallContext::of(&request, "ClearTierOverride")?;
        let mut body = request.into_inner();
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        Ok(Response::new(
            self.set_tier(&context, &body.customer_id, &request_id, &fingerprint, None)
                .await?,
        ))
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let request = request.into_inner();
        let stream = self
            .log
            .stream(
                request.after_position,
                request.filter.unwrap_or_default(),
                self.lifecycle.stopping().clone(),
            )
            .map(|item| {
                item.map(|event| pb::StreamEventsResponse { event: Some(event) })
                    .map_err(Status::from)
            });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Who calls, through which RPC, and why (for the audit trail).
struct CallContext {
    caller: Caller,
    rpc: &'static str,
    purpose: String,
}

impl CallContext {
    fn of<T>(request: &Request<T>, rpc: &'static str) -> Result<Self, Status> {
        let caller = Caller::from_request(request)?.clone();
        let purpose = request
            .metadata()
            .get(PURPOSE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim()
            .chars()
            .take(200)
            .collect();
        Ok(Self {
            caller,
            rpc,
            purpose,
        })
    }

    fn viewer(&self) -> Viewer {
        Viewer {
            subject: self.caller.subject.clone(),
            restricted_to_own: self.caller.role == Role::Agent,
            team: self.caller.team.clone(),
        }
    }

    /// Personal data is shown only to a caller with the scope who says why.
    fn sees_personal_data(&self) -> bool {
        self.caller.has_scope(SCOPE_PII_READ) && !self.purpose.is_empty()
    }

    fn idempotency_scope(&self) -> String {
        format!("{}:{}", self.rpc, self.caller.subject)
    }
}

impl CustomerRegistryApi {
    /// A monthly report with its day-reports.
    async fn monthly_report(&self, id: &str) -> Result<pb::MonthlyReport> {
        let row = visits::monthly_by(&self.db, "id", id, None)
            .await?
            .ok_or_else(|| Error::NotFound(format!("monthly report {id}")))?;
        let mut report = row.report;
        for visit_id in &row.visit_report_ids {
            if let Some(visit) = visits::get_visit(&self.db, visit_id).await? {
                report.visit_reports.push(visit);
            }
        }
        Ok(report)
    }

    /// CR-5: customers past their grade's visit interval, scanning from `filter.after_id`;
    /// stops after `limit` of them (with a token to go on) or at the end.
    async fn overdue(
        &self,
        viewer: &Viewer,
        visitor_id: &str,
        team_id: &str,
        filter: &mut ListFilter,
        limit: Option<u64>,
    ) -> Result<(Vec<pb::OverdueVisit>, String)> {
        let now = Utc::now();
        let mut overdue = Vec::new();
        loop {
            let page = store::list(&self.db, &self.cipher, viewer, filter, 200).await?;
            let Some(last) = page.last().map(|c| c.id.clone()) else {
                return Ok((overdue, String::new()));
            };
            for customer in page {
                if (!visitor_id.is_empty() && customer.visitor_id != visitor_id)
                    || (!team_id.is_empty() && customer.fields.team_id != team_id)
                {
                    continue;
                }
                let Some(grade) = customer.grade else {
                    continue;
                };
                let days = self
                    .visit_interval_days
                    .get(grade.code())
                    .copied()
                    .unwrap_or(180);
                let last_visit = visits::last_visit(&self.db, &customer.id).await?;
                let since = last_visit.unwrap_or(customer.created_at);
                let due = since + chrono::Duration::days(i64::from(days));
                if due < now {
                    overdue.push(pb::OverdueVisit {
                        customer_id: customer.id.clone(),
                        visitor_id: customer.visitor_id.clone(),
                        team_id: customer.fields.team_id.clone(),
                        grade: grade_to_proto(Some(grade)) as i32,
                        last_visit_time: last_visit.map(timestamp),
                        due_time: Some(timestamp(due)),
                        days_overdue: i32::try_from((now - due).num_days()).unwrap_or(i32::MAX),
                    });
                    if limit.is_some_and(|l| overdue.len() as u64 == l) {
                        return Ok((overdue, paging::encode_token(&customer.id)));
                    }
                }
            }
            filter.after_id = Some(last);
        }
    }

    /// CR-3: scores one active customer now and stores a changed grade with GradeChanged.
    /// True when the grade changed.
    pub(crate) async fn regrade(&self, customer_id: &str) -> Result<bool> {
        let txn = self.db.begin().await?;
        let Some(mut customer) = store::get(&txn, &self.cipher, customer_id).await? else {
            return Err(Error::NotFound(customer_id.to_owned()));
        };
        if customer.state != State::Active {
            return Ok(false);
        }
        let now = Utc::now();
        let facts = tiers::grade_facts(&txn, customer_id, now).await?;
        let scored = crate::domain::grade::score(
            customer.kind,
            customer.fields.government_level,
            customer.tier,
            &facts,
            &self.grades,
        );
        if customer.grade == Some(scored.grade) {
            return Ok(false);
        }
        let old = customer.grade;
        let version = customer.version;
        customer.grade = Some(scored.grade);
        customer.version += 1;
        customer.updated_at = now;
        if !store::update_if_version(&txn, &self.cipher, &customer, version).await? {
            return Err(Error::Aborted(format!(
                "customer {customer_id} changed meanwhile; try again"
            )));
        }
        events::append(
            &txn,
            &subject(customer_id),
            &pb::GradeChanged {
                customer_id: customer_id.to_owned(),
                old_grade: grade_to_proto(old) as i32,
                new_grade: grade_to_proto(Some(scored.grade)) as i32,
                total_score: scored.total,
            },
        )
        .await?;
        txn.commit().await?;
        self.log.committed();
        Ok(true)
    }

    /// CR-3: regrades every active customer, a page at a time; (recomputed, changed).
    /// CR-2 and CR-3 on schedule, on one replica at a time: tiers time has lowered, every
    /// grade, and a key rotation whose runner died.
    pub(crate) async fn scheduled_pass(&self) {
        let exclusive = match Exclusive::try_take(&self.db, SCHEDULED_PASS).await {
            Ok(Some(exclusive)) => exclusive,
            Ok(None) => {
                tracing::debug!("another replica runs the scheduled pass");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "scheduled pass skipped; the next one retries");
                return;
            }
        };
        match crate::tiers::retier_due(
            &self.db,
            &self.cipher,
            &self.tier_rules,
            self.month_offset,
            Utc::now(),
        )
        .await
        {
            Ok((looked_at, changed)) => tracing::info!(looked_at, changed, "tiers recomputed"),
            Err(e) => tracing::warn!(error = %e, "recomputing tiers failed; the next pass retries"),
        }
        match self.regrade_all().await {
            Ok((recomputed, changed)) => tracing::info!(recomputed, changed, "grades recomputed"),
            Err(e) => tracing::warn!(error = %e, "regrading failed; the next pass retries"),
        }
        if let Err(e) = exclusive.release().await {
            tracing::warn!(error = %e, "scheduled pass lock not released; it ends with the connection");
        }
        self.resume_rotation().await;
    }

    /// Runs an unfinished key rotation here if no replica is running it.
    pub(crate) async fn resume_rotation(&self) {
        match rotation::running(&self.db).await {
            Ok(Some(id)) => rotation::resume(self, id).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot look for an unfinished key rotation"),
        }
    }

    pub(crate) async fn regrade_all(&self) -> Result<(i64, i64)> {
        let everyone = Viewer {
            subject: String::new(),
            restricted_to_own: false,
            team: String::new(),
        };
        let mut filter = ListFilter::default();
        let (mut recomputed, mut changed) = (0, 0);
        loop {
            let page = store::list(&self.db, &self.cipher, &everyone, &filter, 200).await?;
            let Some(last) = page.last().map(|c| c.id.clone()) else {
                break;
            };
            for customer in &page {
                recomputed += 1;
                changed += i64::from(self.regrade(&customer.id).await?);
            }
            filter.after_id = Some(last);
        }
        Ok((recomputed, changed))
    }

    /// A visit report, if the caller may see its customer.
    async fn visit_report(&self, context: &CallContext, id: &str) -> Result<pb::VisitReport> {
        let report = visits::get_visit(&self.db, id).await?.ok_or_else(|| {
            Error::PermissionDenied(format!("visit report {id} is not yours to see"))
        })?;
        self.load_visible_in(&self.db, context, &report.customer_id)
            .await?;
        Ok(report)
    }

    /// The UTC bounds of a local calendar month "YYYY-MM".
    fn month_bounds(&self, month: &str) -> Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> {
        use chrono::{Datelike as _, TimeZone as _};
        let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
        let next = if first.month() == 12 {
            chrono::NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
        } else {
            chrono::NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
        };
        let at = |d: chrono::NaiveDate| {
            self.month_offset
                .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
                .single()
                .map(|t| t.with_timezone(&Utc))
        };
        Some((at(first)?, at(next)?))
    }

    /// CR-12: the plan of one tier, from settings.
    fn service_plan(&self, tier: Tier) -> Option<pb::ServicePlan> {
        self.service_plans
            .get(tier.code())
            .map(|plan| pb::ServicePlan {
                tier: tier_to_proto(tier) as i32,
                services: plan.services.clone(),
                promised_delivery_hours: i32::try_from(plan.promised_delivery_hours)
                    .unwrap_or(i32::MAX),
                first_response_hours: i32::try_from(plan.first_response_hours).unwrap_or(i32::MAX),
                resolution_hours: i32::try_from(plan.resolution_hours).unwrap_or(i32::MAX),
            })
    }
}

fn invalid(field: &str, description: impl Into<String>) -> Error {
    Error::Invalid(vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }])
}

impl CustomerRegistryApi {
    async fn create(
        &self,
        context: &CallContext,
        mut body: pb::CreateCustomerRequest,
    ) -> Result<pb::Customer> {
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let mut fields = fields_from_proto(body.customer.unwrap_or_default(), "customer")?;
        fields
            .normalize_and_validate("customer")
            .map_err(Error::Invalid)?;
        if context.caller.role == Role::Agent {
            // CR-4 until owners exist: an agent files customers for its own team only.
            if fields.team_id.is_empty() {
                fields.team_id.clone_from(&context.caller.team);
            } else if fields.team_id != context.caller.team {
                return Err(Error::PermissionDenied(
                    "agents create customers for their own team only".into(),
                ));
            }
        }

        let mutation = match self
            .begin_mutation(context, request_id, &fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.current(context, &String::from_utf8_lossy(&id)).await,
        };
        let txn = &mutation.txn;
        let now = Utc::now();
        let kind = fields.kind.unwrap_or(Kind::Personal);
        let customer = Customer {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            tier: domain::initial_tier(kind, fields.government_level),
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
        };
        store::insert(txn, &self.cipher, &customer).await?;
        events::append(
            txn,
            &subject(&customer.id),
            &pb::CustomerCreated {
                customer_id: customer.id.clone(),
                kind: kind_to_proto(kind) as i32,
                tier: tier_to_proto(customer.tier) as i32,
                team_id: customer.fields.team_id.clone(),
            },
        )
        .await?;
        self.commit_mutation(mutation, &customer.id).await?;
        tracing::info!(customer_id = %customer.id, kind = kind.code(), "customer created");
        self.render_one(context, customer).await
    }

    async fn list(
        &self,
        context: &CallContext,
        request: pb::ListCustomersRequest,
    ) -> Result<pb::ListCustomersResponse> {
        let paged = paging::parse(request.page_size, &request.page_token);
        let mut violations = paged.as_ref().err().cloned().unwrap_or_default();
        let kind = enum_filter(request.kind, "kind", kind_from_proto, &mut violations);
        let tier = enum_filter(request.tier, "tier", tier_from_proto, &mut violations);
        let (page_size, after_id) = match paged {
            Ok(paged) if violations.is_empty() => paged,
            _ => return Err(Error::Invalid(violations)),
        };
        let filter = ListFilter {
            kind,
            tier,
            show_archived: request.show_archived,
            after_id,
            ..Default::default()
        };
        // One extra row tells whether another page exists without a count query.
        let page = store::list(
            &self.db,
            &self.cipher,
            &context.viewer(),
            &filter,
            page_size + 1,
        )
        .await?;
        let (page, next_page_token) = paging::finish_page(page, page_size, |c| &c.id);
        Ok(pb::ListCustomersResponse {
            customers: self.render(context, page).await?,
            next_page_token,
        })
    }

    async fn update(
        &self,
        context: &CallContext,
        mut body: pb::UpdateCustomerRequest,
    ) -> Result<pb::Customer> {
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let incoming = body.customer.unwrap_or_default();
        let id = incoming.id.clone();
        if id.is_empty() {
            return Err(Error::Invalid(vec![FieldViolation {
                field: "customer.id".into(),
                description: "required".into(),
            }]));
        }
        let paths = body.update_mask.map(|m| m.paths).unwrap_or_default();
        let incoming = fields_from_proto(incoming, "customer")?;

        let mutation = match self
            .begin_mutation(context, request_id, &fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.current(context, &String::from_utf8_lossy(&id)).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible_in(txn, context, &id).await?;
        current.ensure_active().map_err(Error::FailedPrecondition)?;
        if body.expected_version != 0 && body.expected_version != current.version {
            return Err(Error::Aborted(format!(
                "customer {id} is at version {}, not {}; read it again",
                current.version, body.expected_version
            )));
        }
        let mut fields = current.fields.clone();
        fields
            .merge_masked(incoming, &paths)
            .map_err(Error::Invalid)?;
        fields
            .normalize_and_validate("customer")
            .map_err(Error::Invalid)?;
        if context.caller.role == Role::Agent && fields.team_id != current.fields.team_id {
            return Err(Error::PermissionDenied(
                "agents cannot move customers between teams".into(),
            ));
        }
        let changed = changed_fields(&current.fields, &fields);
        let mut updated = current.clone();
        updated.fields = fields;
        if changed.is_empty() {
            mutation.txn.rollback().await?;
            return self.render_one(context, current).await;
        }
        if updated.kind == Kind::Government && !updated.tier_overridden {
            // CR-2: a government customer's tier follows its registered level.
            updated.tier = domain::initial_tier(updated.kind, updated.fields.government_level);
        }
        updated.updated_at = Utc::now();
        updated.version = current.version + 1;
        if !store::update_if_version(txn, &self.cipher, &updated, current.version).await? {
            return Err(Error::Aborted(format!(
                "customer {id} changed meanwhile; read it again"
            )));
        }
        events::append(
            txn,
            &subject(&id),
            &pb::CustomerUpdated {
                customer_id: id.clone(),
                changed_fields: changed,
                version: updated.version,
            },
        )
        .await?;
        self.commit_mutation(mutation, &id).await?;
        self.render_one(context, updated).await
    }

    async fn archive(
        &self,
        context: &CallContext,
        mut body: pb::ArchiveCustomerRequest,
    ) -> Result<pb::Customer> {
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        if body.reason.chars().count() > 500 {
            return Err(Error::Invalid(vec![FieldViolation {
                field: "reason".into(),
                description: "at most 500 characters".into(),
            }]));
        }
        let mutation = match self
            .begin_mutation(context, request_id, &fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.current(context, &String::from_utf8_lossy(&id)).await,
        };
        let txn = &mutation.txn;
        let current = self
            .load_visible_in(txn, context, &body.customer_id)
            .await?;
        current.ensure_active().map_err(Error::FailedPrecondition)?;
        let mut archived = current.clone();
        let now = Utc::now();
        archived.state = State::Archived;
        archived.archived_at = Some(now);
        archived.updated_at = now;
        archived.version = current.version + 1;
        if !store::update_if_version(txn, &self.cipher, &archived, current.version).await? {
            return Err(Error::Aborted(format!(
                "customer {} changed meanwhile; try again",
                current.id
            )));
        }
        events::append(
            txn,
            &subject(&current.id),
            &pb::CustomerArchived {
                customer_id: current.id.clone(),
                reason: body.reason.trim().to_owned(),
            },
        )
        .await?;
        self.commit_mutation(mutation, &current.id).await?;
        self.render_one(context, archived).await
    }

    /// Opens a mutation's transaction and claims its request_id, or finds the id's first
    /// answer: the id of the customer it made or changed.
    async fn begin_mutation(
        &self,
        context: &CallContext,
        request_id: String,
        fingerprint: &str,
    ) -> Result<Begun> {
        Ok(idempotency::begin(
            &self.db,
            &context.idempotency_scope(),
            &request_id,
            fingerprint,
        )
        .await?)
    }

    /// Commits with the customer's id as the answer (never its personal data) and wakes the
    /// relay.
    async fn commit_mutation(&self, mutation: Mutation, customer_id: &str) -> Result<()> {
        mutation.commit(customer_id.as_bytes()).await?;
        self.log.committed();
        Ok(())
    }

    /// The customer as the caller may see it now.
    async fn current(&self, context: &CallContext, id: &str) -> Result<pb::Customer> {
        let customer = self.load_visible_in(&self.db, context, id).await?;
        self.render_one(context, customer).await
    }

    async fn render_one(&self, context: &CallContext, customer: Customer) -> Result<pb::Customer> {
        let mut rendered = self.render(context, vec![customer]).await?;
        rendered.pop().ok_or_else(|| Error::NotFound(String::new()))
    }

    async fn tier_changes(
        &self,
        context: &CallContext,
        request: pb::ListTierChangesRequest,
    ) -> Result<pb::ListTierChangesResponse> {
        self.load_visible_in(&self.db, context, &request.customer_id)
            .await?;
        let (page_size, after) =
            paging::parse(request.page_size, &request.page_token).map_err(Error::Invalid)?;
        // These tokens resume after a row number.
        let before = after
            .map(|id| {
                id.parse::<i64>()
                    .map_err(|_| invalid("page_token", "not a token this service gave out"))
            })
            .transpose()?;
        let rows = tiers::list(&self.db, &request.customer_id, before, page_size + 1).await?;
        let ids: Vec<String> = rows.iter().map(|(id, _)| id.to_string()).collect();
        let (page, next_page_token) =
            paging::finish_page(rows.into_iter().zip(ids).collect(), page_size, |(_, id)| {
                id.as_str()
            });
        Ok(pb::ListTierChangesResponse {
            tier_changes: page.into_iter().map(|((_, change), _)| change).collect(),
            next_page_token,
        })
    }

    /// A change of an active customer's bookkeeping (not its fields): claims the request_id,
    /// applies `change`, bumps the version, and emits CustomerUpdated with the changed paths
    /// plus `extra` when given.
    async fn change_customer<F>(
        &self,
        context: &CallContext,
        customer_id: &str,
        request_id: String,
        fingerprint: &str,
        change: F,
    ) -> Result<pb::Customer>
    where
        F: FnOnce(
            &mut Customer,
            chrono::DateTime<Utc>,
        ) -> Result<(Vec<String>, Option<pb::OwnerAssigned>)>,
    {
        let mutation = match self
            .begin_mutation(context, request_id, fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.current(context, &String::from_utf8_lossy(&id)).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible_in(txn, context, customer_id).await?;
        current.ensure_active().map_err(Error::FailedPrecondition)?;
        let now = Utc::now();
        let mut updated = current.clone();
        let (changed, extra) = change(&mut updated, now)?;
        updated.updated_at = now;
        updated.version = current.version + 1;
        if !store::update_if_version(txn, &self.cipher, &updated, current.version).await? {
            return Err(Error::Aborted(format!(
                "customer {customer_id} changed meanwhile; try again"
            )));
        }
        let subject = subject(customer_id);
        events::append(
            txn,
            &subject,
            &pb::CustomerUpdated {
                customer_id: customer_id.to_owned(),
                changed_fields: changed,
                version: updated.version,
            },
        )
        .await?;
        if let Some(extra) = extra {
            events::append(txn, &subject, &extra).await?;
        }
        self.commit_mutation(mutation, customer_id).await?;
        self.render_one(context, updated).await
    }

    /// CR-2: a manager sets the tier (`Some`) or hands it back to the facts (`None`); the
    /// change is recorded as manual, with the manager as actor.
    async fn set_tier(
        &self,
        context: &CallContext,
        customer_id: &str,
        request_id: &str,
        fingerprint: &str,
        set: Option<(Tier, String)>,
    ) -> Result<pb::Customer> {
        let mutation = match self
            .begin_mutation(context, request_id.to_owned(), fingerprint)
            .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.current(context, &String::from_utf8_lossy(&id)).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible_in(txn, context, customer_id).await?;
        current.ensure_active().map_err(Error::FailedPrecondition)?;
        let now = Utc::now();
        let facts = tiers::facts(txn, customer_id, now, self.month_offset).await?;
        let (tier, overridden, reason) = match set {
            Some((tier, reason)) => {
                if !crate::domain::tier::fits(current.kind, tier) {
                    return Err(invalid(
                        "tier",
                        format!("not a tier of a {} customer", current.kind.code()),
                    ));
                }
                (tier, true, reason)
            }
            None => {
                let (tier, facts_reason) = crate::domain::tier::tier_for(
                    current.kind,
                    current.fields.government_level,
                    facts,
                    &self.tier_rules,
                );
                (tier, false, format!("override cleared; {facts_reason}"))
            }
        };
        let mut updated = current.clone();
        updated.tier = tier;
        updated.tier_overridden = overridden;
        updated.updated_at = now;
        updated.version = current.version + 1;
        if !store::update_if_version(txn, &self.cipher, &updated, current.version).await? {
            return Err(Error::Aborted(format!(
                "customer {customer_id} changed meanwhile; try again"
            )));
        }
        let change = tiers::TierChangeRecord {
            customer_id: customer_id.to_owned(),
            old: current.tier,
            new: tier,
            reason,
            manual: true,
            actor_id: context.caller.subject.clone(),
            facts,
            at: now,
        };
        tiers::record(txn, &change).await?;
        self.commit_mutation(mutation, customer_id).await?;
        self.render_one(context, updated).await
    }

    /// AIP-211: a caller who may not see a customer hears PERMISSION_DENIED whether or not
    /// it exists, so ids cannot be probed.
    async fn load_visible_in<C: sea_orm::ConnectionTrait>(
        &self,
        db: &C,
        context: &CallContext,
        id: &str,
    ) -> Result<Customer> {
        let viewer = context.viewer();
        let denied = || Error::PermissionDenied(format!("customer {id} is not yours to see"));
        if id.is_empty() {
            return Err(Error::Invalid(vec![FieldViolation {
                field: "customer_id".into(),
                description: "required".into(),
            }]));
        }
        match store::get(db, &self.cipher, id).await? {
            Some(customer) if customer.visible_to(&viewer) => Ok(customer),
            Some(_) => Err(denied()),
            None if viewer.restricted_to_own => Err(denied()),
            None => Err(Error::NotFound(id.to_owned())),
        }
    }

    /// Masks personal data, or writes the audit trail of the unmasked read before it leaves.
    async fn render(
        &self,
        context: &CallContext,
        customers: Vec<Customer>,
    ) -> Result<Vec<pb::Customer>> {
        if !context.sees_personal_data() {
            return Ok(customers
                .into_iter()
                .map(|mut c| {
                    c.fields.mask_personal_data();
                    customer_to_proto(c, true)
                })
                .collect());
        }
        let shown: Vec<(&str, Vec<&str>)> = customers
            .iter()
            .map(|c| (c.id.as_str(), present_personal_fields(&c.fields)))
            .filter(|(_, fields)| !fields.is_empty())
            .collect();
        let trace_id = kefu_platform::telemetry::current_trace_id();
        store::audit_unmasked(
            &self.db,
            &UnmaskedRead {
                actor_id: &context.caller.subject,
                actor_role: context.caller.role.as_str(),
                purpose: &context.purpose,
                rpc: context.rpc,
                trace_id: &trace_id,
            },
            &shown,
        )
        .await?;
        Ok(customers
            .into_iter()
            .map(|c| customer_to_proto(c, false))
            .collect())
    }
}

fn present_personal_fields(f: &CustomerFields) -> Vec<&'static str> {
    let mut present = Vec::new();
    for (name, set) in [
        ("phone", !f.phone.is_empty()),
        ("email", !f.email.is_empty()),
        ("id_number", !f.id_number.is_empty()),
        ("contacts", !f.contacts.is_empty()),
        ("addresses", !f.addresses.is_empty()),
    ] {
        if set {
            present.push(name);
        }
    }
    present
}

fn changed_fields(old: &CustomerFields, new: &CustomerFields) -> Vec<String> {
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

fn subject(id: &str) -> String {
    format!("customers/{id}")
}

fn enum_filter<T>(
    value: i32,
    field: &str,
    convert: fn(i32) -> Option<Option<T>>,
    violations: &mut Vec<FieldViolation>,
) -> Option<T> {
    match convert(value) {
        Some(v) => v,
        None => {
            violations.push(FieldViolation {
                field: field.into(),
                description: format!("unknown value {value}"),
            });
            None
        }
    }
}

// Proto <-> domain.

/// Microseconds, the finest time PostgreSQL keeps, so a time reads back as it was written.
pub(crate) fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: (t.timestamp_subsec_micros() * 1000) as i32,
    }
}

fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// `Some(None)` for UNSPECIFIED, `None` for a number the enum does not have.
fn kind_from_proto(v: i32) -> Option<Option<Kind>> {
    match pb::CustomerKind::try_from(v).ok()? {
        pb::CustomerKind::Unspecified => Some(None),
        pb::CustomerKind::Personal => Some(Some(Kind::Personal)),
        pb::CustomerKind::Enterprise => Some(Some(Kind::Enterprise)),
        pb::CustomerKind::Government => Some(Some(Kind::Government)),
    }
}

fn kind_to_proto(k: Kind) -> pb::CustomerKind {
    match k {
        Kind::Personal => pb::CustomerKind::Personal,
        Kind::Enterprise => pb::CustomerKind::Enterprise,
        Kind::Government => pb::CustomerKind::Government,
    }
}

fn tier_from_proto(v: i32) -> Option<Option<Tier>> {
    Some(Some(match pb::Tier::try_from(v).ok()? {
        pb::Tier::Unspecified => return Some(None),
        pb::Tier::Frequent => Tier::Frequent,
        pb::Tier::Occasional => Tier::Occasional,
        pb::Tier::Large => Tier::Large,
        pb::Tier::Medium => Tier::Medium,
        pb::Tier::Small => Tier::Small,
        pb::Tier::GovernmentA => Tier::GovernmentA,
        pb::Tier::GovernmentB => Tier::GovernmentB,
        pb::Tier::GovernmentC => Tier::GovernmentC,
    }))
}

pub(crate) fn tier_to_proto(t: Tier) -> pb::Tier {
    match t {
        Tier::Frequent => pb::Tier::Frequent,
        Tier::Occasional => pb::Tier::Occasional,
        Tier::Large => pb::Tier::Large,
        Tier::Medium => pb::Tier::Medium,
        Tier::Small => pb::Tier::Small,
        Tier::GovernmentA => pb::Tier::GovernmentA,
        Tier::GovernmentB => pb::Tier::GovernmentB,
        Tier::GovernmentC => pb::Tier::GovernmentC,
    }
}

fn level_from_proto(v: i32) -> Option<Option<GovernmentLevel>> {
    Some(Some(match pb::GovernmentLevel::try_from(v).ok()? {
        pb::GovernmentLevel::Unspecified => return Some(None),
        pb::GovernmentLevel::National => GovernmentLevel::National,
        pb::GovernmentLevel::Provincial => GovernmentLevel::Provincial,
        pb::GovernmentLevel::Prefecture => GovernmentLevel::Prefecture,
    }))
}

fn level_to_proto(l: Option<GovernmentLevel>) -> pb::GovernmentLevel {
    match l {
        None => pb::GovernmentLevel::Unspecified,
        Some(GovernmentLevel::National) => pb::GovernmentLevel::National,
        Some(GovernmentLevel::Provincial) => pb::GovernmentLevel::Provincial,
        Some(GovernmentLevel::Prefecture) => pb::GovernmentLevel::Prefecture,
    }
}

fn state_to_proto(s: State) -> pb::CustomerState {
    match s {
        State::Active => pb::CustomerState::Active,
        State::Archived => pb::CustomerState::Archived,
        State::Erased => pb::CustomerState::Erased,
    }
}

fn grade_to_proto(g: Option<domain::Grade>) -> pb::Grade {
    match g {
        None => pb::Grade::Unspecified,
        Some(domain::Grade::A) => pb::Grade::A,
        Some(domain::Grade::B) => pb::Grade::B,
        Some(domain::Grade::C) => pb::Grade::C,
        Some(domain::Grade::D) => pb::Grade::D,
    }
}

/// The input fields of a proto customer; enum numbers the contract lacks are violations.
fn fields_from_proto(c: pb::Customer, prefix: &str) -> Result<CustomerFields> {
    let mut violations = Vec::new();
    let kind = enum_filter(
        c.kind,
        &format!("{prefix}.kind"),
        kind_from_proto,
        &mut violations,
    );
    let government_level = enum_filter(
        c.government_level,
        &format!("{prefix}.government_level"),
        level_from_proto,
        &mut violations,
    );
    let contract = c.contract.map(|k| domain::Contract {
        contract_number: k.contract_number,
        start_time: k.start_time.as_ref().and_then(from_timestamp),
        end_time: k.end_time.as_ref().and_then(from_timestamp),
        payment_terms: k.payment_terms,
        credit_limit: k.credit_limit.map(|m| domain::Money {
            currency_code: m.currency_code,
            minor_units: m.minor_units,
        }),
    });
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    Ok(CustomerFields {
        kind,
        display_name: c.display_name,
        phone: c.phone,
        email: c.email,
        id_number: c.id_number,
        registration_number: c.registration_number,
        contacts: c
            .contacts
            .into_iter()
            .map(|k| domain::Contact {
                display_name: k.display_name,
                role: k.role,
                phone: k.phone,
                email: k.email,
            })
            .collect(),
        addresses: c
            .addresses
            .into_iter()
            .map(|a| domain::Address {
                label: a.label,
                province: a.province,
                city: a.city,
                district: a.district,
                street: a.street,
                postal_code: a.postal_code,
            })
            .collect(),
        industry: c.industry,
        needs: c.needs,
        contract,
        government_level,
        region: c.region,
        team_id: c.team_id,
    })
}

fn customer_to_proto(c: Customer, masked: bool) -> pb::Customer {
    let f = c.fields;
    pb::Customer {
        id: c.id,
        kind: kind_to_proto(c.kind) as i32,
        display_name: f.display_name,
        state: state_to_proto(c.state) as i32,
        phone: f.phone,
        email: f.email,
        id_number: f.id_number,
        registration_number: f.registration_number,
        contacts: f
            .contacts
            .into_iter()
            .map(|k| pb::Contact {
                display_name: k.display_name,
                role: k.role,
                phone: k.phone,
                email: k.email,
            })
            .collect(),
        addresses: f
            .addresses
            .into_iter()
            .map(|a| pc::Address {
                label: a.label,
                province: a.province,
                city: a.city,
                district: a.district,
                street: a.street,
                postal_code: a.postal_code,
            })
            .collect(),
        industry: f.industry,
        needs: f.needs,
        contract: f.contract.map(|k| pb::ContractTerms {
            contract_number: k.contract_number,
            start_time: k.start_time.map(timestamp),
            end_time: k.end_time.map(timestamp),
            payment_terms: k.payment_terms,
            credit_limit: k.credit_limit.map(|m| pc::Money {
                currency_code: m.currency_code,
                minor_units: m.minor_units,
            }),
        }),
        government_level: level_to_proto(f.government_level) as i32,
        region: f.region,
        tier: tier_to_proto(c.tier) as i32,
        tier_overridden: c.tier_overridden,
        grade: grade_to_proto(c.grade) as i32,
        owner_id: c.owner_id,
        visitor_id: c.visitor_id,
        team_id: f.team_id,
        personal_data_masked: masked,
        create_time: Some(timestamp(c.created_at)),
        update_time: Some(timestamp(c.updated_at)),
        confirm_time: Some(timestamp(c.confirmed_at)),
        archive_time: c.archived_at.map(timestamp),
        version: c.version,
    }
}
