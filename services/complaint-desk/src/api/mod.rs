//! complaint-desk's gRPC face. Each RPC learns who asks (the platform's auth layer has
//! already checked the role), decodes its request into the domain's terms, calls one use
//! case, and maps the answer back; every error goes through error.rs.

pub mod convert;

use chrono::Utc;
use kefu_platform::auth::{Caller, Role};
use kefu_platform::error::Violations;
use kefu_platform::events::EventResponses;
use kefu_platform::idempotency;
use kefu_platform::paging;
use kefu_platform::report::requested_period;
use kefu_platform::server::Lifecycle;
use kefu_proto::complaint as pb;
use tonic::{Request, Response, Status};

use crate::cases::{Desk, Requester, Retry};
use crate::domain::access::CaseViewer;
use crate::domain::knowledge::EntryState;
use crate::domain::{
    Case, CaseType, Category, ContactChannel, FollowUpOutcome, PauseReason, Refusal, RootCause,
    State,
};
use crate::error::{Error, Result, invalid};
use crate::knowledge::MAX_SEARCH_PAGE;
use crate::resolution::Findings;
use crate::store::ListFilter;

/// The gRPC service over the use cases.
#[derive(Clone, Debug)]
pub struct ComplaintDeskApi {
    pub(crate) desk: Desk,
    pub(crate) lifecycle: Lifecycle,
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

fn nonempty(s: String) -> Option<String> {
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// The gRPC answer of a use case's result.
fn answer<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn finish(v: Violations) -> Result<()> {
    v.finish().map_err(Error::Invalid)
}

impl ComplaintDeskApi {
    /// Who asks, from the verified caller: agents see their team's cases and their own, a
    /// supervisor with a department its department's.
    fn requester<T>(&self, request: &Request<T>, rpc: &'static str) -> Result<Requester, Status> {
        let caller: &Caller = Caller::from_request(request)?;
        let departments = &self.desk.rules.departments;
        let viewer = match caller.role {
            Role::Agent => CaseViewer::agent(&caller.subject, &caller.team),
            Role::Supervisor if !caller.department.is_empty() => CaseViewer::supervisor(
                &caller.subject,
                &caller.team,
                departments
                    .get(&caller.department)
                    .map(|teams| teams.iter().map(String::as_str))
                    .into_iter()
                    .flatten(),
            ),
            Role::Supervisor | Role::Manager | Role::Service => CaseViewer::Everyone,
        };
        Ok(Requester {
            subject: caller.subject.clone(),
            viewer,
            supervises: caller.role != Role::Agent,
            agent: caller.role == Role::Agent,
            rpc,
        })
    }

    /// A case as answers show it.
    fn shown(&self, case: &Case) -> pb::Complaint {
        convert::complaint(case, self.desk.policy(), Utc::now())
    }
}

#[tonic::async_trait]
impl pb::complaint_desk_service_server::ComplaintDeskService for ComplaintDeskApi {
    async fn create_complaint(
        &self,
        request: Request<pb::CreateComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "CreateComplaint")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let new = convert::new_case(body.complaint.unwrap_or_default(), &mut v);
                // Refused whole: the numbers it could not read and whatever else is wrong.
                if let Err(mut all) = v.finish() {
                    if let Err(Refusal::Invalid(more)) = new.check("complaint") {
                        for m in more {
                            if !all.iter().any(|a| a.field == m.field) {
                                all.push(m);
                            }
                        }
                    }
                    return Err(Error::Invalid(all));
                }
                let case = self.desk.register(&who, &retry, new).await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn get_complaint(
        &self,
        request: Request<pb::GetComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "GetComplaint")?;
        let id = request.into_inner().complaint_id;
        answer(self.desk.read(&who, &id).await.map(|c| self.shown(&c)))
    }

    async fn list_complaints(
        &self,
        request: Request<pb::ListComplaintsRequest>,
    ) -> Result<Response<pb::ListComplaintsResponse>, Status> {
        let who = self.requester(&request, "ListComplaints")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(r.page_size, &r.page_token));
                let state = v.absorb(convert::filter::<State>(r.state, "state"));
                let kind = v.absorb(convert::filter::<CaseType>(r.r#type, "type"));
                let category = v.absorb(convert::filter::<Category>(r.category, "category"));
                let root_cause = v.absorb(convert::filter::<RootCause>(r.root_cause, "root_cause"));
                let created = match &r.create_interval {
                    Some(i) => convert::interval(Some(i), "create_interval", &mut v),
                    None => None,
                };
                finish(v)?;
                let (page_size, after_id) = paged.unwrap_or_default();
                let filter = ListFilter {
                    viewer: who.viewer.clone(),
                    customer_id: nonempty(r.customer_id),
                    order_id: nonempty(r.order_id),
                    assignee_id: nonempty(r.assignee_id),
                    team_id: nonempty(r.team_id),
                    state: state.flatten(),
                    kind: kind.flatten(),
                    category: category.flatten(),
                    root_cause: root_cause.flatten(),
                    created,
                    after_id,
                };
                let page = self.desk.list(filter, page_size).await?;
                Ok(pb::ListComplaintsResponse {
                    complaints: page.items.iter().map(|c| self.shown(c)).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_complaint(
        &self,
        request: Request<pb::UpdateComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "UpdateComplaint")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let complaint = body.complaint.unwrap_or_default();
                let id = complaint.id.clone();
                let paths = body.update_mask.map(|m| m.paths).unwrap_or_default();
                let mut v = Violations::new();
                v.check(!id.is_empty(), "complaint.id", "required");
                let change = convert::reclassification(complaint, &paths, &mut v);
                finish(v)?;
                let case = self
                    .desk
                    .reclassify(&who, &retry, &id, body.expected_version, change)
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn assign_complaint(
        &self,
        request: Request<pb::AssignComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "AssignComplaint")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let team = nonempty(body.team_id);
                let case = self
                    .desk
                    .assign(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        &body.assignee_id,
                        team.as_deref(),
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn record_first_response(
        &self,
        request: Request<pb::RecordFirstResponseRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "RecordFirstResponse")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let case = self
                    .desk
                    .respond(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        &body.message,
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn record_customer_contact(
        &self,
        request: Request<pb::RecordCustomerContactRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "RecordCustomerContact")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let channel = convert::required::<ContactChannel>(body.channel, "channel", &mut v);
                finish(v)?;
                let case = self
                    .desk
                    .record_contact(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        channel,
                        &body.note,
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn pause_clock(
        &self,
        request: Request<pb::PauseClockRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "PauseClock")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let reason = convert::required::<PauseReason>(body.reason, "reason", &mut v);
                finish(v)?;
                let case = self
                    .desk
                    .pause(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        reason,
                        &body.note,
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn resume_clock(
        &self,
        request: Request<pb::ResumeClockRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "ResumeClock")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let case = self
                    .desk
                    .resume(&who, &retry, &body.complaint_id, body.expected_version)
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn record_investigation(
        &self,
        request: Request<pb::RecordInvestigationRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "RecordInvestigation")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let investigation = body.investigation.unwrap_or_default();
                let mut v = Violations::new();
                let root_cause = convert::required::<RootCause>(
                    investigation.root_cause,
                    "investigation.root_cause",
                    &mut v,
                );
                finish(v)?;
                let findings = Findings {
                    root_cause,
                    detail: investigation.root_cause_detail,
                    corrective_action: investigation.corrective_action,
                };
                let case = self
                    .desk
                    .investigate(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        findings,
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn resolve_complaint(
        &self,
        request: Request<pb::ResolveComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "ResolveComplaint")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let resolution = body.resolution.unwrap_or_default();
                let compensation = resolution.compensation.unwrap_or_default();
                if compensation.minor_units != 0 && compensation.currency_code != "CNY" {
                    return Err(invalid(
                        "resolution.compensation.currency_code",
                        "compensation is paid in CNY",
                    ));
                }
                let case = self
                    .desk
                    .resolve(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        &resolution.answer,
                        compensation.minor_units,
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn record_follow_up(
        &self,
        request: Request<pb::RecordFollowUpRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "RecordFollowUp")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let follow_up = body.follow_up.unwrap_or_default();
                let mut v = Violations::new();
                let outcome = convert::required::<FollowUpOutcome>(
                    follow_up.outcome,
                    "follow_up.outcome",
                    &mut v,
                );
                finish(v)?;
                let case = self
                    .desk
                    .follow_up(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        outcome,
                        &follow_up.note,
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn escalate_complaint(
        &self,
        request: Request<pb::EscalateComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let who = self.requester(&request, "EscalateComplaint")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let case = self
                    .desk
                    .escalate(
                        &who,
                        &retry,
                        &body.complaint_id,
                        body.expected_version,
                        &body.reason,
                    )
                    .await?;
                Ok(self.shown(&case))
            }
            .await,
        )
    }

    async fn get_business_report(
        &self,
        request: Request<pb::GetBusinessReportRequest>,
    ) -> Result<Response<kefu_proto::common::BusinessReport>, Status> {
        let r = request.into_inner();
        answer(
            self.desk
                .business_report(requested_period(r.period), &r.period_label)
                .await
                .map(|report| report.to_proto()),
        )
    }

    async fn get_complaint_analysis(
        &self,
        request: Request<pb::GetComplaintAnalysisRequest>,
    ) -> Result<Response<pb::ComplaintAnalysis>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let interval = convert::interval(r.interval.as_ref(), "interval", &mut v);
                let dimension = convert::dimension(r.dimension, r.period, &mut v);
                let kind = v.absorb(convert::filter::<CaseType>(r.r#type, "type"));
                finish(v)?;
                let (Some((from, to)), Some(dimension)) = (interval, dimension) else {
                    return Err(invalid("interval", "required"));
                };
                let analysis = self
                    .desk
                    .analyse(from, to, dimension, kind.flatten())
                    .await?;
                Ok(convert::analysis(analysis))
            }
            .await,
        )
    }

    async fn list_recurring_causes(
        &self,
        request: Request<pb::ListRecurringCausesRequest>,
    ) -> Result<Response<pb::ListRecurringCausesResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(r.page_size, &r.page_token));
                let interval = match &r.interval {
                    Some(i) => convert::interval(Some(i), "interval", &mut v),
                    None => None,
                };
                finish(v)?;
                let (page_size, after) = paged.unwrap_or_default();
                let page = self.desk.flagged_causes(interval, page_size, after).await?;
                Ok(pb::ListRecurringCausesResponse {
                    causes: page
                        .items
                        .into_iter()
                        .map(convert::recurring_cause)
                        .collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_knowledge_entry(
        &self,
        request: Request<pb::CreateKnowledgeEntryRequest>,
    ) -> Result<Response<pb::KnowledgeEntry>, Status> {
        let who = self.requester(&request, "CreateKnowledgeEntry")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let entry = body.knowledge_entry.unwrap_or_default();
                let mut v = Violations::new();
                let fields = convert::entry_fields(&entry, None, &mut v);
                finish(v)?;
                let created = self
                    .desk
                    .propose_entry(&who, &retry, fields, entry.complaint_ids)
                    .await?;
                Ok(convert::knowledge_entry(&created))
            }
            .await,
        )
    }

    async fn get_knowledge_entry(
        &self,
        request: Request<pb::GetKnowledgeEntryRequest>,
    ) -> Result<Response<pb::KnowledgeEntry>, Status> {
        let id = request.into_inner().knowledge_entry_id;
        answer(
            self.desk
                .entry(&id)
                .await
                .map(|e| convert::knowledge_entry(&e)),
        )
    }

    async fn list_knowledge_entries(
        &self,
        request: Request<pb::ListKnowledgeEntriesRequest>,
    ) -> Result<Response<pb::ListKnowledgeEntriesResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(r.page_size, &r.page_token));
                let state = v.absorb(convert::filter::<EntryState>(r.state, "state"));
                let category = v.absorb(convert::filter::<Category>(r.category, "category"));
                finish(v)?;
                let (page_size, after) = paged.unwrap_or_default();
                let page = self
                    .desk
                    .entries(state.flatten(), category.flatten(), page_size, after)
                    .await?;
                Ok(pb::ListKnowledgeEntriesResponse {
                    knowledge_entries: page.items.iter().map(convert::knowledge_entry).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_knowledge_entry(
        &self,
        request: Request<pb::UpdateKnowledgeEntryRequest>,
    ) -> Result<Response<pb::KnowledgeEntry>, Status> {
        let who = self.requester(&request, "UpdateKnowledgeEntry")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let entry = body.knowledge_entry.unwrap_or_default();
                let paths = body.update_mask.map(|m| m.paths).unwrap_or_default();
                let mut v = Violations::new();
                v.check(!entry.id.is_empty(), "knowledge_entry.id", "required");
                let fields = convert::entry_fields(&entry, Some(&paths), &mut v);
                finish(v)?;
                let updated = self
                    .desk
                    .edit_entry(&who, &retry, &entry.id, body.expected_version, fields)
                    .await?;
                Ok(convert::knowledge_entry(&updated))
            }
            .await,
        )
    }

    async fn publish_knowledge_entry(
        &self,
        request: Request<pb::PublishKnowledgeEntryRequest>,
    ) -> Result<Response<pb::KnowledgeEntry>, Status> {
        let who = self.requester(&request, "PublishKnowledgeEntry")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let entry = self
                    .desk
                    .publish_entry(
                        &who,
                        &retry,
                        &body.knowledge_entry_id,
                        body.expected_version,
                    )
                    .await?;
                Ok(convert::knowledge_entry(&entry))
            }
            .await,
        )
    }

    async fn retire_knowledge_entry(
        &self,
        request: Request<pb::RetireKnowledgeEntryRequest>,
    ) -> Result<Response<pb::KnowledgeEntry>, Status> {
        let who = self.requester(&request, "RetireKnowledgeEntry")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let entry = self
                    .desk
                    .retire_entry(
                        &who,
                        &retry,
                        &body.knowledge_entry_id,
                        body.expected_version,
                    )
                    .await?;
                Ok(convert::knowledge_entry(&entry))
            }
            .await,
        )
    }

    async fn search_knowledge_entries(
        &self,
        request: Request<pb::SearchKnowledgeEntriesRequest>,
    ) -> Result<Response<pb::SearchKnowledgeEntriesResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let category = v.absorb(convert::filter::<Category>(r.category, "category"));
                v.check(r.page_size >= 0, "page_size", "must not be negative");
                let offset = match r.page_token.as_str() {
                    "" => Some(0),
                    token => paging::decode_token(token).and_then(|o| o.parse::<u64>().ok()),
                };
                v.check(
                    offset.is_some(),
                    "page_token",
                    "not a token this service gave out",
                );
                finish(v)?;
                let page_size = match r.page_size {
                    0 => 10,
                    n => (n as u64).min(MAX_SEARCH_PAGE),
                };
                let (hits, next) = self
                    .desk
                    .search(&r.query, category.flatten(), page_size, offset.unwrap_or(0))
                    .await?;
                Ok(pb::SearchKnowledgeEntriesResponse {
                    hits: hits
                        .iter()
                        .map(|(entry, score)| pb::KnowledgeHit {
                            knowledge_entry: Some(convert::knowledge_entry(entry)),
                            score: *score,
                        })
                        .collect(),
                    next_page_token: next
                        .map(|o| paging::encode_token(&o.to_string()))
                        .unwrap_or_default(),
                })
            }
            .await,
        )
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<EventResponses<pb::StreamEventsResponse>>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.desk.log.serve(
            request.after_position,
            request.filter,
            self.lifecycle.stopping().clone(),
            |event| pb::StreamEventsResponse { event: Some(event) },
        )))
    }
}
