//! customer-registry's gRPC face. Each RPC learns who asks (the platform's auth layer has
//! already checked the role), decodes its request into the domain's terms, calls one use
//! case, and maps the answer back; every error goes through error.rs.

pub mod convert;

use kefu_platform::auth::{Caller, SCOPE_PII_READ};
use kefu_platform::error::Violations;
use kefu_platform::events::EventResponses;
use kefu_platform::idempotency;
use kefu_platform::paging;
use kefu_platform::report::requested_period;
use kefu_platform::server::Lifecycle;
use kefu_proto::customer as pb;
use tonic::{Request, Response, Status};

use crate::customers::{CustomerQuery, FieldChange};
use crate::domain::access::Viewer;
use crate::domain::secrecy::MAX_PURPOSE;
use crate::domain::stewardship::{Assignment, VisitorSales};
use crate::domain::tier::TierOverride;
use crate::error::{Error, Result, invalid};
use crate::registry::{Registry, Requester, Retry};
use crate::visits::VisitQuery;

/// Metadata key in which a caller with the `pii:read` scope states why it reads (CR-9).
pub const PURPOSE_HEADER: &str = "x-kefu-purpose";

/// The gRPC service over the use cases.
#[derive(Clone, Debug)]
pub struct CustomerRegistryApi {
    pub(crate) registry: Registry,
    pub(crate) lifecycle: Lifecycle,
}

/// Who asks, from the verified caller and the stated purpose.
fn requester<T>(request: &Request<T>, rpc: &'static str) -> Result<Requester, Status> {
    let caller: &Caller = Caller::from_request(request)?;
    let purpose = request
        .metadata()
        .get(PURPOSE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_PURPOSE)
        .collect();
    let restricted_to_own = caller.role == kefu_platform::auth::Role::Agent;
    Ok(Requester {
        subject: caller.subject.clone(),
        role: caller.role.as_str(),
        viewer: Viewer {
            subject: caller.subject.clone(),
            restricted_to_own,
            team: caller.team.clone(),
        },
        may_read_personal_data: caller.has_scope(SCOPE_PII_READ),
        purpose,
        rpc,
    })
}

/// The request_id taken out of `body`, and the fingerprint of the rest.
fn retry<M: prost::Message>(
    body: &mut M,
    field: impl FnOnce(&mut M) -> &mut String,
) -> Result<Retry> {
    let (request_id, fingerprint) = idempotency::retry_keys(body, field)?;
    Ok(Retry {
        request_id,
        fingerprint,
    })
}

/// A page size and the id a page token resumes after.
fn page(size: i32, token: &str) -> Result<(u64, Option<String>)> {
    Ok(paging::parse(size, token)?)
}

fn nonempty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The gRPC answer of a use case's result.
fn answer<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl pb::customer_registry_service_server::CustomerRegistryService for CustomerRegistryApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "CreateCustomer")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let fields = convert::fields(body.customer.unwrap_or_default(), "customer")?;
                let shown = self.registry.create_customer(&who, fields, &retry).await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "GetCustomer")?;
        let id = request.into_inner().customer_id;
        answer(
            self.registry
                .get_customer(&who, &id)
                .await
                .map(convert::customer),
        )
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let who = requester(&request, "ListCustomers")?;
        let request = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(request.page_size, &request.page_token));
                let kind = v.absorb(convert::kind(request.kind, "kind").map_err(|e| vec![e]));
                let tier = v.absorb(convert::tier(request.tier, "tier").map_err(|e| vec![e]));
                v.finish()?;
                let (page_size, after_id) = paged.unwrap_or((paging::DEFAULT_PAGE_SIZE, None));
                let page = self
                    .registry
                    .list_customers(
                        &who,
                        CustomerQuery {
                            kind: kind.flatten(),
                            tier: tier.flatten(),
                            show_archived: request.show_archived,
                            page_size,
                            after_id,
                        },
                    )
                    .await?;
                Ok(pb::ListCustomersResponse {
                    customers: page.items.into_iter().map(convert::customer).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "UpdateCustomer")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let incoming = body.customer.unwrap_or_default();
                let change = FieldChange {
                    customer_id: incoming.id.clone(),
                    fields: convert::fields(incoming, "customer")?,
                    paths: body.update_mask.map(|m| m.paths).unwrap_or_default(),
                    expected_version: body.expected_version,
                };
                let shown = self.registry.update_customer(&who, change, &retry).await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn archive_customer(
        &self,
        request: Request<pb::ArchiveCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "ArchiveCustomer")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let shown = self
                    .registry
                    .archive_customer(&who, &body.customer_id, &body.reason, &retry)
                    .await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn erase_customer(
        &self,
        request: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "EraseCustomer")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let shown = self
                    .registry
                    .erase_customer(&who, &body.customer_id, &body.legal_reference, &retry)
                    .await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn lookup_customer_by_phone(
        &self,
        request: Request<pb::LookupCustomerByPhoneRequest>,
    ) -> Result<Response<pb::LookupCustomerByPhoneResponse>, Status> {
        let who = requester(&request, "LookupCustomerByPhone")?;
        let phone = request.into_inner().phone;
        answer(
            self.registry
                .lookup_by_phone(&who, &phone)
                .await
                .map(|found| pb::LookupCustomerByPhoneResponse {
                    customers: found.into_iter().map(convert::customer).collect(),
                }),
        )
    }

    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> Result<Response<pb::ListAuditRecordsResponse>, Status> {
        let request = request.into_inner();
        answer(
            async {
                let (page_size, before) = page(request.page_size, &request.page_token)?;
                let page = self
                    .registry
                    .audit_records(
                        nonempty(request.customer_id).as_deref(),
                        nonempty(request.actor_id).as_deref(),
                        page_size,
                        before,
                    )
                    .await?;
                Ok(pb::ListAuditRecordsResponse {
                    audit_records: page.items.into_iter().map(convert::audit_record).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn confirm_customer(
        &self,
        request: Request<pb::ConfirmCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "ConfirmCustomer")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let shown = self
                    .registry
                    .confirm_customer(&who, &body.customer_id, &retry)
                    .await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn list_stale_customers(
        &self,
        request: Request<pb::ListStaleCustomersRequest>,
    ) -> Result<Response<pb::ListStaleCustomersResponse>, Status> {
        let who = requester(&request, "ListStaleCustomers")?;
        let request = request.into_inner();
        answer(
            async {
                let (page_size, after_id) = page(request.page_size, &request.page_token)?;
                let page = self
                    .registry
                    .list_stale(&who, nonempty(request.owner_id), page_size, after_id)
                    .await?;
                Ok(pb::ListStaleCustomersResponse {
                    customers: page.items.into_iter().map(convert::customer).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn assign_owner(
        &self,
        request: Request<pb::AssignOwnerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "AssignOwner")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let region = body.visitor_sales_region.trim().to_owned();
                let visitor_sales = match (body.visitor_is_not_salesperson, region.is_empty()) {
                    (true, true) => Some(VisitorSales::Nowhere),
                    (true, false) => {
                        return Err(invalid(
                            "visitor_sales_region",
                            "empty when visitor_is_not_salesperson is set",
                        ));
                    }
                    (false, true) => None,
                    (false, false) => Some(VisitorSales::Region(region)),
                };
                let assignment = Assignment {
                    owner_id: body.owner_id,
                    visitor_id: body.visitor_id,
                    visitor_sales,
                    override_reason: body.override_reason,
                };
                let shown = self
                    .registry
                    .assign_owner(&who, &body.customer_id, &assignment, &retry)
                    .await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn list_service_plans(
        &self,
        _request: Request<pb::ListServicePlansRequest>,
    ) -> Result<Response<pb::ListServicePlansResponse>, Status> {
        answer(Ok(pb::ListServicePlansResponse {
            service_plans: self
                .registry
                .service_plans()
                .into_iter()
                .map(convert::service_plan)
                .collect(),
        }))
    }

    async fn get_service_plan(
        &self,
        request: Request<pb::GetServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let tier = request.into_inner().tier;
        answer(
            async {
                let tier = convert::tier(tier, "tier")
                    .map_err(|e| Error::Invalid(vec![e]))?
                    .ok_or_else(|| invalid("tier", "required: a tier"))?;
                let plan = self
                    .registry
                    .service_plan(tier)
                    .ok_or_else(|| Error::NotFound(format!("service plan of {}", tier.code())))?;
                Ok(convert::service_plan(plan))
            }
            .await,
        )
    }

    async fn create_visit_report(
        &self,
        request: Request<pb::CreateVisitReportRequest>,
    ) -> Result<Response<pb::VisitReport>, Status> {
        let who = requester(&request, "CreateVisitReport")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let report = convert::visit_report(body.visit_report.unwrap_or_default());
                let filed = self
                    .registry
                    .file_visit_report(&who, report, &retry)
                    .await?;
                Ok(convert::filed_visit(filed))
            }
            .await,
        )
    }

    async fn get_visit_report(
        &self,
        request: Request<pb::GetVisitReportRequest>,
    ) -> Result<Response<pb::VisitReport>, Status> {
        let who = requester(&request, "GetVisitReport")?;
        let id = request.into_inner().visit_report_id;
        answer(
            self.registry
                .visit_report(&who, &id)
                .await
                .map(convert::filed_visit),
        )
    }

    async fn list_visit_reports(
        &self,
        request: Request<pb::ListVisitReportsRequest>,
    ) -> Result<Response<pb::ListVisitReportsResponse>, Status> {
        let who = requester(&request, "ListVisitReports")?;
        let request = request.into_inner();
        answer(
            async {
                let (page_size, after_id) = page(request.page_size, &request.page_token)?;
                let page = self
                    .registry
                    .list_visit_reports(
                        &who,
                        VisitQuery {
                            customer_id: nonempty(request.customer_id),
                            visitor_id: nonempty(request.visitor_id),
                            month: nonempty(request.month),
                            page_size,
                            after_id,
                        },
                    )
                    .await?;
                Ok(pb::ListVisitReportsResponse {
                    visit_reports: page.items.into_iter().map(convert::filed_visit).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_urgent_report(
        &self,
        request: Request<pb::CreateUrgentReportRequest>,
    ) -> Result<Response<pb::UrgentReport>, Status> {
        let who = requester(&request, "CreateUrgentReport")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let given = body.urgent_report.unwrap_or_default();
                let report = self
                    .registry
                    .raise_urgent_report(
                        &who,
                        &given.customer_id,
                        convert::trigger(given.trigger),
                        &given.description,
                        &retry,
                    )
                    .await?;
                Ok(convert::urgent(report))
            }
            .await,
        )
    }

    async fn list_urgent_reports(
        &self,
        request: Request<pb::ListUrgentReportsRequest>,
    ) -> Result<Response<pb::ListUrgentReportsResponse>, Status> {
        let request = request.into_inner();
        answer(
            async {
                let (page_size, before) = page(request.page_size, &request.page_token)?;
                let page = self.registry.urgent_reports(page_size, before).await?;
                Ok(pb::ListUrgentReportsResponse {
                    urgent_reports: page.items.into_iter().map(convert::urgent).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn explain_grade(
        &self,
        request: Request<pb::ExplainGradeRequest>,
    ) -> Result<Response<pb::GradeExplanation>, Status> {
        let who = requester(&request, "ExplainGrade")?;
        let id = request.into_inner().customer_id;
        answer(
            self.registry
                .explain_grade(&who, &id)
                .await
                .map(convert::explanation),
        )
    }

    async fn recompute_grades(
        &self,
        request: Request<pb::RecomputeGradesRequest>,
    ) -> Result<Response<pb::RecomputeGradesResponse>, Status> {
        let who = requester(&request, "RecomputeGrades")?;
        let id = request.into_inner().customer_id;
        answer(
            self.registry
                .recompute_grades(&who, &id)
                .await
                .map(|(recomputed, changed)| pb::RecomputeGradesResponse {
                    recomputed_count: recomputed,
                    changed_count: changed,
                }),
        )
    }

    async fn get_business_report(
        &self,
        request: Request<pb::GetBusinessReportRequest>,
    ) -> Result<Response<kefu_proto::common::BusinessReport>, Status> {
        let r = request.into_inner();
        answer(
            self.registry
                .business_report(requested_period(r.period), &r.period_label)
                .await
                .map(|report| report.to_proto()),
        )
    }

    async fn list_overdue_visits(
        &self,
        request: Request<pb::ListOverdueVisitsRequest>,
    ) -> Result<Response<pb::ListOverdueVisitsResponse>, Status> {
        let who = requester(&request, "ListOverdueVisits")?;
        let request = request.into_inner();
        answer(
            async {
                let (page_size, after_id) = page(request.page_size, &request.page_token)?;
                let page = self
                    .registry
                    .overdue_visits(
                        &who.viewer,
                        &request.visitor_id,
                        &request.team_id,
                        after_id,
                        Some(page_size),
                    )
                    .await?;
                Ok(pb::ListOverdueVisitsResponse {
                    overdue_visits: page.items.into_iter().map(convert::overdue).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn generate_monthly_report(
        &self,
        request: Request<pb::GenerateMonthlyReportRequest>,
    ) -> Result<Response<pb::MonthlyReport>, Status> {
        let body = request.into_inner();
        answer(
            self.registry
                .generate_monthly_report(&body.team_id, &body.month)
                .await
                .map(convert::monthly),
        )
    }

    async fn get_monthly_report(
        &self,
        request: Request<pb::GetMonthlyReportRequest>,
    ) -> Result<Response<pb::MonthlyReport>, Status> {
        let id = request.into_inner().monthly_report_id;
        answer(
            self.registry
                .monthly_report(&id)
                .await
                .map(convert::monthly),
        )
    }

    async fn submit_monthly_report(
        &self,
        request: Request<pb::SubmitMonthlyReportRequest>,
    ) -> Result<Response<pb::MonthlyReport>, Status> {
        let who = requester(&request, "SubmitMonthlyReport")?;
        let body = request.into_inner();
        answer(
            self.registry
                .submit_monthly_report(&who, &body.monthly_report_id, &body.supervisor_summary)
                .await
                .map(convert::monthly),
        )
    }

    async fn start_key_rotation(
        &self,
        _request: Request<pb::StartKeyRotationRequest>,
    ) -> Result<Response<pb::KeyRotation>, Status> {
        answer(
            self.registry
                .start_key_rotation()
                .await
                .map(convert::rotation),
        )
    }

    async fn get_key_rotation(
        &self,
        request: Request<pb::GetKeyRotationRequest>,
    ) -> Result<Response<pb::KeyRotation>, Status> {
        let id = request.into_inner().key_rotation_id;
        answer(self.registry.key_rotation(&id).await.map(convert::rotation))
    }

    async fn list_tier_changes(
        &self,
        request: Request<pb::ListTierChangesRequest>,
    ) -> Result<Response<pb::ListTierChangesResponse>, Status> {
        let who = requester(&request, "ListTierChanges")?;
        let request = request.into_inner();
        answer(
            async {
                let (page_size, before) = page(request.page_size, &request.page_token)?;
                let page = self
                    .registry
                    .tier_changes(&who, &request.customer_id, page_size, before)
                    .await?;
                Ok(pb::ListTierChangesResponse {
                    tier_changes: page.items.into_iter().map(convert::tier_change).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn list_service_record(
        &self,
        request: Request<pb::ListServiceRecordRequest>,
    ) -> Result<Response<pb::ListServiceRecordResponse>, Status> {
        let who = requester(&request, "ListServiceRecord")?;
        let request = request.into_inner();
        answer(
            async {
                let (page_size, before) = page(request.page_size, &request.page_token)?;
                let page = self
                    .registry
                    .service_record(&who, &request.customer_id, page_size, before)
                    .await?;
                Ok(pb::ListServiceRecordResponse {
                    entries: page.items.into_iter().map(convert::record_entry).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn override_tier(
        &self,
        request: Request<pb::OverrideTierRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "OverrideTier")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let tier = convert::tier(body.tier, "tier")
                    .map_err(|e| Error::Invalid(vec![e]))?
                    .ok_or_else(|| invalid("tier", "required: the tier to set"))?;
                let shown = self
                    .registry
                    .set_tier(
                        &who,
                        &body.customer_id,
                        TierOverride::Set(tier, body.reason),
                        &retry,
                    )
                    .await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn clear_tier_override(
        &self,
        request: Request<pb::ClearTierOverrideRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let who = requester(&request, "ClearTierOverride")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let shown = self
                    .registry
                    .set_tier(
                        &who,
                        &body.customer_id,
                        TierOverride::Clear(body.reason),
                        &retry,
                    )
                    .await?;
                Ok(convert::customer(shown))
            }
            .await,
        )
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<EventResponses<pb::StreamEventsResponse>>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.registry.log.serve(
            request.after_position,
            request.filter,
            self.lifecycle.stopping().clone(),
            |event| pb::StreamEventsResponse { event: Some(event) },
        )))
    }
}
