//! staff-kpi's gRPC face. Each RPC learns who asks (the platform's auth layer has already
//! checked the role), decodes its request into the domain's terms, calls one use case, and
//! maps the answer back; every error goes through error.rs.

pub mod convert;

use kefu_platform::auth::Caller;
use kefu_platform::error::Violations;
use kefu_platform::events::EventResponses;
use kefu_platform::idempotency;
use kefu_platform::paging;
use kefu_platform::report::requested_period;
use kefu_platform::server::Lifecycle;
use kefu_proto::staff as pb;
use tonic::{Request, Response, Status};

use self::convert::{filter, required, time};
use crate::department::{Department, Requester, Retry};
use crate::disputes::DisputeRequest;
use crate::domain::conduct::BreachDraft;
use crate::domain::kpi::Kpi;
use crate::domain::{Attendance, BreachKind, DisputeState, PeriodKind, StaffRole, StaffState};
use crate::error::{Error, Result};
use crate::store::StaffFilter;
use crate::store::assessments::DisputeFilter;
use crate::store::rewards::OutcomeFilter;

/// The gRPC service over the use cases.
#[derive(Clone, Debug)]
pub struct StaffKpiApi {
    pub(crate) department: Department,
    pub(crate) lifecycle: Lifecycle,
}

fn requester<T>(request: &Request<T>, rpc: &'static str) -> Result<Requester, Status> {
    let caller: &Caller = Caller::from_request(request)?;
    Ok(Requester {
        subject: caller.subject.clone(),
        role: caller.role,
        rpc,
    })
}

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

fn answer<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn finish(v: Violations) -> Result<()> {
    v.finish().map_err(Error::Invalid)
}

/// The page size and resume point, or the bad fields.
fn paged(page_size: i32, page_token: &str, v: &mut Violations) -> (u64, Option<String>) {
    v.absorb(paging::parse(page_size, page_token))
        .unwrap_or((paging::DEFAULT_PAGE_SIZE, None))
}

fn mask(
    update_mask: Option<prost_types::FieldMask>,
    allowed: &[&str],
    v: &mut Violations,
) -> Vec<String> {
    let paths = update_mask.map(|m| m.paths).unwrap_or_default();
    v.check(
        !paths.is_empty(),
        "update_mask",
        format!("required: {}", allowed.join(", ")),
    );
    for path in &paths {
        v.check(
            allowed.contains(&path.as_str()),
            format!("update_mask.paths[{path}]"),
            format!("not updatable; updatable: {}", allowed.join(", ")),
        );
    }
    paths
}

#[tonic::async_trait]
impl pb::staff_kpi_service_server::StaffKpiService for StaffKpiApi {
    async fn create_staff(
        &self,
        request: Request<pb::CreateStaffRequest>,
    ) -> Result<Response<pb::Staff>, Status> {
        let who = requester(&request, "CreateStaff")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let staff = body.staff.unwrap_or_default();
                let mut v = Violations::new();
                required::<StaffRole>(staff.role, "staff.role", &mut v);
                finish(v)?;
                let created = self
                    .department
                    .create_staff(&who, &retry, &convert::staff_draft(&staff))
                    .await?;
                Ok(convert::staff(&created))
            }
            .await,
        )
    }

    async fn get_staff(
        &self,
        request: Request<pb::GetStaffRequest>,
    ) -> Result<Response<pb::Staff>, Status> {
        let r = request.into_inner();
        answer(
            self.department
                .staff(&r.staff_id)
                .await
                .map(|s| convert::staff(&s)),
        )
    }

    async fn list_staff(
        &self,
        request: Request<pb::ListStaffRequest>,
    ) -> Result<Response<pb::ListStaffResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                let role = v.absorb(filter::<StaffRole>(r.role, "role")).flatten();
                let state = v.absorb(filter::<StaffState>(r.state, "state")).flatten();
                finish(v)?;
                let filter = StaffFilter {
                    team_id: nonempty(r.team_id),
                    role,
                    state,
                    ..Default::default()
                };
                let page = self.department.list_staff(filter, size, after).await?;
                Ok(pb::ListStaffResponse {
                    staff: page.items.iter().map(convert::staff).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_staff(
        &self,
        request: Request<pb::UpdateStaffRequest>,
    ) -> Result<Response<pb::Staff>, Status> {
        let who = requester(&request, "UpdateStaff")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let staff = body.staff.unwrap_or_default();
                let mut v = Violations::new();
                v.check(!staff.id.trim().is_empty(), "staff.id", "required");
                let paths = mask(body.update_mask, &crate::domain::org::STAFF_PATHS, &mut v);
                required::<StaffRole>(staff.role, "staff.role", &mut v);
                finish(v)?;
                let updated = self
                    .department
                    .update_staff(
                        &who,
                        &retry,
                        &convert::staff_draft(&staff),
                        &paths,
                        body.expected_version,
                    )
                    .await?;
                Ok(convert::staff(&updated))
            }
            .await,
        )
    }

    async fn record_staff_departure(
        &self,
        request: Request<pb::RecordStaffDepartureRequest>,
    ) -> Result<Response<pb::Staff>, Status> {
        let who = requester(&request, "RecordStaffDeparture")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let left = self
                    .department
                    .record_departure(
                        &who,
                        &retry,
                        &body.staff_id,
                        body.expected_version,
                        time(body.leave_time.as_ref()),
                    )
                    .await?;
                Ok(convert::staff(&left))
            }
            .await,
        )
    }

    async fn create_team(
        &self,
        request: Request<pb::CreateTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        let who = requester(&request, "CreateTeam")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let team = body.team.unwrap_or_default();
                let created = self
                    .department
                    .create_team(&who, &retry, &convert::team_draft(&team))
                    .await?;
                Ok(convert::team(&created))
            }
            .await,
        )
    }

    async fn get_team(
        &self,
        request: Request<pb::GetTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        let r = request.into_inner();
        answer(
            self.department
                .team(&r.team_id)
                .await
                .map(|t| convert::team(&t)),
        )
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Result<Response<pb::ListTeamsResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let page = self.department.teams(size, after).await?;
                Ok(pb::ListTeamsResponse {
                    teams: page.items.iter().map(convert::team).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_team(
        &self,
        request: Request<pb::UpdateTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        let who = requester(&request, "UpdateTeam")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let team = body.team.unwrap_or_default();
                let mut v = Violations::new();
                v.check(!team.id.trim().is_empty(), "team.id", "required");
                let paths = mask(body.update_mask, &crate::domain::org::TEAM_PATHS, &mut v);
                finish(v)?;
                let updated = self
                    .department
                    .update_team(
                        &who,
                        &retry,
                        &convert::team_draft(&team),
                        &paths,
                        body.expected_version,
                    )
                    .await?;
                Ok(convert::team(&updated))
            }
            .await,
        )
    }

    async fn get_kpi_definition(
        &self,
        request: Request<pb::GetKpiDefinitionRequest>,
    ) -> Result<Response<pb::KpiDefinition>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let kpi = required::<Kpi>(r.kpi, "kpi", &mut v);
                finish(v)?;
                let d = self.department.definition(kpi).await?;
                Ok(convert::definition(&d))
            }
            .await,
        )
    }

    async fn list_kpi_definitions(
        &self,
        request: Request<pb::ListKpiDefinitionsRequest>,
    ) -> Result<Response<pb::ListKpiDefinitionsResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let (items, next_page_token) =
                    self.department.definitions(after.as_deref(), size).await?;
                Ok(pb::ListKpiDefinitionsResponse {
                    kpi_definitions: items.iter().map(convert::definition).collect(),
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn add_kpi_formula(
        &self,
        request: Request<pb::AddKpiFormulaRequest>,
    ) -> Result<Response<pb::KpiDefinition>, Status> {
        let who = requester(&request, "AddKpiFormula")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let kpi = required::<Kpi>(body.kpi, "kpi", &mut v);
                v.check(body.formula.is_some(), "formula", "required");
                finish(v)?;
                let draft = convert::formula_draft(&body.formula.unwrap_or_default());
                let d = self
                    .department
                    .add_formula(&who, &retry, kpi, body.expected_version, &draft)
                    .await?;
                Ok(convert::definition(&d))
            }
            .await,
        )
    }

    async fn create_period(
        &self,
        request: Request<pb::CreatePeriodRequest>,
    ) -> Result<Response<pb::Period>, Status> {
        let who = requester(&request, "CreatePeriod")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let period = body.period.unwrap_or_default();
                let mut v = Violations::new();
                let kind = required::<PeriodKind>(period.kind, "period.kind", &mut v);
                finish(v)?;
                let created = self
                    .department
                    .create_period(&who, &retry, kind, &period.label)
                    .await?;
                Ok(convert::period(&created))
            }
            .await,
        )
    }

    async fn get_period(
        &self,
        request: Request<pb::GetPeriodRequest>,
    ) -> Result<Response<pb::Period>, Status> {
        let r = request.into_inner();
        answer(
            self.department
                .period(&r.period_id)
                .await
                .map(|p| convert::period(&p)),
        )
    }

    async fn list_periods(
        &self,
        request: Request<pb::ListPeriodsRequest>,
    ) -> Result<Response<pb::ListPeriodsResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let page = self.department.periods(size, after).await?;
                Ok(pb::ListPeriodsResponse {
                    periods: page.items.iter().map(convert::period).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn close_period(
        &self,
        request: Request<pb::ClosePeriodRequest>,
    ) -> Result<Response<pb::Period>, Status> {
        let who = requester(&request, "ClosePeriod")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let closed = self
                    .department
                    .close_period(&who, &retry, &body.period_id)
                    .await?;
                Ok(convert::period(&closed))
            }
            .await,
        )
    }

    async fn get_assessment(
        &self,
        request: Request<pb::GetAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let who = requester(&request, "GetAssessment")?;
        let r = request.into_inner();
        answer(
            self.department
                .assessment(&who, r.staff_id.trim(), r.period_id.trim(), r.revision)
                .await
                .map(|a| convert::assessment(&a)),
        )
    }

    async fn list_assessments(
        &self,
        request: Request<pb::ListAssessmentsRequest>,
    ) -> Result<Response<pb::ListAssessmentsResponse>, Status> {
        let who = requester(&request, "ListAssessments")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let page = self
                    .department
                    .assessments(&who, &r.period_id, nonempty(r.team_id), size, after)
                    .await?;
                Ok(pb::ListAssessmentsResponse {
                    assessments: page.items.iter().map(convert::assessment).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn recompute_assessment(
        &self,
        request: Request<pb::RecomputeAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let who = requester(&request, "RecomputeAssessment")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let a = self
                    .department
                    .recompute(&who, &retry, body.staff_id.trim(), body.period_id.trim())
                    .await?;
                Ok(convert::assessment(&a))
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
            self.department
                .business_report(requested_period(r.period), &r.period_label)
                .await
                .map(|report| report.to_proto()),
        )
    }

    async fn list_figure_sources(
        &self,
        request: Request<pb::ListFigureSourcesRequest>,
    ) -> Result<Response<pb::ListFigureSourcesResponse>, Status> {
        let who = requester(&request, "ListFigureSources")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                let kpi = v.absorb(filter::<Kpi>(r.kpi, "kpi")).flatten();
                finish(v)?;
                let page = self
                    .department
                    .sources(
                        &who,
                        r.staff_id.trim(),
                        r.period_id.trim(),
                        r.revision,
                        kpi,
                        size,
                        after,
                    )
                    .await?;
                Ok(pb::ListFigureSourcesResponse {
                    sources: page.items.iter().map(convert::source).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_dispute(
        &self,
        request: Request<pb::CreateDisputeRequest>,
    ) -> Result<Response<pb::Dispute>, Status> {
        let who = requester(&request, "CreateDispute")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let d = body.dispute.unwrap_or_default();
                let mut v = Violations::new();
                let kpi = required::<Kpi>(d.kpi, "dispute.kpi", &mut v);
                finish(v)?;
                let dispute = self
                    .department
                    .create_dispute(
                        &who,
                        &retry,
                        &DisputeRequest {
                            staff_id: d.staff_id.trim().to_owned(),
                            period_id: d.period_id.trim().to_owned(),
                            kpi,
                            event_id: d.event_id.trim().to_owned(),
                            reason: d.reason,
                        },
                    )
                    .await?;
                Ok(convert::dispute(&dispute))
            }
            .await,
        )
    }

    async fn get_dispute(
        &self,
        request: Request<pb::GetDisputeRequest>,
    ) -> Result<Response<pb::Dispute>, Status> {
        let who = requester(&request, "GetDispute")?;
        let r = request.into_inner();
        answer(
            self.department
                .dispute(&who, &r.dispute_id)
                .await
                .map(|d| convert::dispute(&d)),
        )
    }

    async fn list_disputes(
        &self,
        request: Request<pb::ListDisputesRequest>,
    ) -> Result<Response<pb::ListDisputesResponse>, Status> {
        let who = requester(&request, "ListDisputes")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                let state = v.absorb(filter::<DisputeState>(r.state, "state")).flatten();
                finish(v)?;
                let filter = DisputeFilter {
                    staff_id: nonempty(r.staff_id),
                    state,
                    period_id: nonempty(r.period_id),
                    people: None,
                };
                let page = self.department.disputes(&who, filter, size, after).await?;
                Ok(pb::ListDisputesResponse {
                    disputes: page.items.iter().map(convert::dispute).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn decide_dispute(
        &self,
        request: Request<pb::DecideDisputeRequest>,
    ) -> Result<Response<pb::Dispute>, Status> {
        let who = requester(&request, "DecideDispute")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let decision = required::<DisputeState>(body.decision, "decision", &mut v);
                finish(v)?;
                let d = self
                    .department
                    .decide_dispute(
                        &who,
                        &retry,
                        &body.dispute_id,
                        body.expected_version,
                        decision,
                        &body.decision_note,
                    )
                    .await?;
                Ok(convert::dispute(&d))
            }
            .await,
        )
    }

    async fn create_reward_rule(
        &self,
        request: Request<pb::CreateRewardRuleRequest>,
    ) -> Result<Response<pb::RewardRule>, Status> {
        let who = requester(&request, "CreateRewardRule")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let rule = body.rule.unwrap_or_default();
                let v = unknown_rule_enums(&rule);
                finish(v)?;
                let created = self
                    .department
                    .create_rule(&who, &retry, &convert::rule_draft(&rule))
                    .await?;
                Ok(convert::rule(&created))
            }
            .await,
        )
    }

    async fn get_reward_rule(
        &self,
        request: Request<pb::GetRewardRuleRequest>,
    ) -> Result<Response<pb::RewardRule>, Status> {
        let r = request.into_inner();
        answer(
            self.department
                .rule(&r.rule_id, r.version)
                .await
                .map(|rule| convert::rule(&rule)),
        )
    }

    async fn list_reward_rules(
        &self,
        request: Request<pb::ListRewardRulesRequest>,
    ) -> Result<Response<pb::ListRewardRulesResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let page = self.department.rules(size, after).await?;
                Ok(pb::ListRewardRulesResponse {
                    rules: page.items.iter().map(convert::rule).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_reward_rule(
        &self,
        request: Request<pb::UpdateRewardRuleRequest>,
    ) -> Result<Response<pb::RewardRule>, Status> {
        let who = requester(&request, "UpdateRewardRule")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let rule = body.rule.unwrap_or_default();
                let mut v = unknown_rule_enums(&rule);
                let paths = mask(body.update_mask, &crate::domain::rules::RULE_PATHS, &mut v);
                finish(v)?;
                let updated = self
                    .department
                    .update_rule(
                        &who,
                        &retry,
                        &rule.id,
                        body.expected_version,
                        &paths,
                        &convert::rule_draft(&rule),
                    )
                    .await?;
                Ok(convert::rule(&updated))
            }
            .await,
        )
    }

    async fn list_reward_penalties(
        &self,
        request: Request<pb::ListRewardPenaltiesRequest>,
    ) -> Result<Response<pb::ListRewardPenaltiesResponse>, Status> {
        let who = requester(&request, "ListRewardPenalties")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let filter = OutcomeFilter {
                    period_id: nonempty(r.period_id),
                    staff_id: nonempty(r.staff_id),
                    people: None,
                };
                let page = self.department.outcomes(&who, filter, size, after).await?;
                Ok(pb::ListRewardPenaltiesResponse {
                    reward_penalties: page.items.iter().map(convert::outcome).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn record_conduct_breach(
        &self,
        request: Request<pb::RecordConductBreachRequest>,
    ) -> Result<Response<pb::ConductBreach>, Status> {
        let who = requester(&request, "RecordConductBreach")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let b = body.breach.unwrap_or_default();
                let mut v = Violations::new();
                let kind = required::<BreachKind>(b.kind, "breach.kind", &mut v);
                finish(v)?;
                let draft = BreachDraft {
                    staff_id: b.staff_id.trim().to_owned(),
                    kind,
                    description: b.description,
                    evidence_reference: b.evidence_reference,
                    occurred_at: time(b.occur_time.as_ref()),
                };
                let breach = self.department.record_breach(&who, &retry, &draft).await?;
                Ok(convert::breach(&breach))
            }
            .await,
        )
    }

    async fn get_conduct_breach(
        &self,
        request: Request<pb::GetConductBreachRequest>,
    ) -> Result<Response<pb::ConductBreach>, Status> {
        let who = requester(&request, "GetConductBreach")?;
        let r = request.into_inner();
        answer(
            self.department
                .breach(&who, &r.breach_id)
                .await
                .map(|b| convert::breach(&b)),
        )
    }

    async fn list_conduct_breaches(
        &self,
        request: Request<pb::ListConductBreachesRequest>,
    ) -> Result<Response<pb::ListConductBreachesResponse>, Status> {
        let who = requester(&request, "ListConductBreaches")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let page = self
                    .department
                    .breaches(&who, nonempty(r.staff_id), size, after)
                    .await?;
                Ok(pb::ListConductBreachesResponse {
                    breaches: page.items.iter().map(convert::breach).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_training_plan(
        &self,
        request: Request<pb::CreateTrainingPlanRequest>,
    ) -> Result<Response<pb::TrainingPlan>, Status> {
        let who = requester(&request, "CreateTrainingPlan")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let p = body.plan.unwrap_or_default();
                let plan = self
                    .department
                    .create_plan(
                        &who,
                        &retry,
                        &p.title,
                        time(p.session_time.as_ref()),
                        p.team_id.trim(),
                    )
                    .await?;
                Ok(convert::plan(&plan))
            }
            .await,
        )
    }

    async fn get_training_plan(
        &self,
        request: Request<pb::GetTrainingPlanRequest>,
    ) -> Result<Response<pb::TrainingPlan>, Status> {
        let r = request.into_inner();
        answer(
            self.department
                .plan(&r.plan_id)
                .await
                .map(|p| convert::plan(&p)),
        )
    }

    async fn list_training_plans(
        &self,
        request: Request<pb::ListTrainingPlansRequest>,
    ) -> Result<Response<pb::ListTrainingPlansResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let page = self.department.plans(size, after).await?;
                Ok(pb::ListTrainingPlansResponse {
                    plans: page.items.iter().map(convert::plan).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn record_training_attendance(
        &self,
        request: Request<pb::RecordTrainingAttendanceRequest>,
    ) -> Result<Response<pb::TrainingRecord>, Status> {
        let who = requester(&request, "RecordTrainingAttendance")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let r = body.record.unwrap_or_default();
                let mut v = Violations::new();
                let attendance = required::<Attendance>(r.attendance, "record.attendance", &mut v);
                finish(v)?;
                let record = self
                    .department
                    .record_attendance(
                        &who,
                        &retry,
                        r.plan_id.trim(),
                        r.staff_id.trim(),
                        attendance,
                        r.evaluation_score,
                    )
                    .await?;
                Ok(convert::training(&record))
            }
            .await,
        )
    }

    async fn list_training_records(
        &self,
        request: Request<pb::ListTrainingRecordsRequest>,
    ) -> Result<Response<pb::ListTrainingRecordsResponse>, Status> {
        let who = requester(&request, "ListTrainingRecords")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let (size, after) = paged(r.page_size, &r.page_token, &mut v);
                finish(v)?;
                let page = self
                    .department
                    .training_records(&who, nonempty(r.staff_id), nonempty(r.plan_id), size, after)
                    .await?;
                Ok(pb::ListTrainingRecordsResponse {
                    training_records: page.items.iter().map(convert::training).collect(),
                    next_page_token: page.next_page_token,
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
        Ok(Response::new(self.department.log.serve(
            request.after_position,
            request.filter,
            self.lifecycle.stopping().clone(),
            |event| pb::StreamEventsResponse { event: Some(event) },
        )))
    }
}

/// A rule's enums the contract does not know, as bad fields.
fn unknown_rule_enums(rule: &pb::RewardRule) -> Violations {
    use crate::domain::rules::{Comparison, RuleSubject};
    use crate::domain::{Grade, OutcomeKind};
    let mut v = Violations::new();
    required::<OutcomeKind>(rule.kind, "rule.kind", &mut v);
    for (i, c) in rule.conditions.iter().enumerate() {
        required::<RuleSubject>(c.subject, &format!("rule.conditions[{i}].subject"), &mut v);
        required::<Kpi>(c.kpi, &format!("rule.conditions[{i}].kpi"), &mut v);
        required::<Comparison>(
            c.comparison,
            &format!("rule.conditions[{i}].comparison"),
            &mut v,
        );
        required::<Grade>(c.grade, &format!("rule.conditions[{i}].grade"), &mut v);
    }
    v
}
