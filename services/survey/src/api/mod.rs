//! survey's gRPC face. Each RPC learns who asks (the platform's auth layer has already
//! checked the role; SubmitOnlineResponse alone is open, its token the credential), decodes
//! its request into the domain's terms, calls one use case, and maps the answer back; every
//! error goes through error.rs.

pub mod convert;

use chrono::Utc;
use kefu_platform::auth::{Caller, Role};
use kefu_platform::error::Violations;
use kefu_platform::events::EventResponses;
use kefu_platform::idempotency;
use kefu_platform::paging;
use kefu_platform::report::requested_period;
use kefu_platform::server::Lifecycle;
use kefu_proto::survey as pb;
use tonic::{Request, Response, Status};

use crate::domain::access::SurveyViewer;
use crate::domain::questionnaire::Form;
use crate::domain::{Method, TaskOutcome, TaskState, TriggerKind};
use crate::error::{Error, Result, invalid};
use crate::store::invitations::Filter;
use crate::surveys::{InviteRequest, Requester, Retry, Surveys};

/// The gRPC service over the use cases.
#[derive(Clone, Debug)]
pub struct SurveyApi {
    pub(crate) surveys: Surveys,
    pub(crate) lifecycle: Lifecycle,
}

/// Who asks, from the verified caller: agents work their team's customers.
fn requester<T>(request: &Request<T>, rpc: &'static str) -> Result<Requester, Status> {
    let caller: &Caller = Caller::from_request(request)?;
    Ok(Requester {
        subject: caller.subject.clone(),
        viewer: match caller.role {
            Role::Agent => SurveyViewer::Team {
                team: caller.team.clone(),
            },
            Role::Supervisor | Role::Manager | Role::Service => SurveyViewer::Everyone,
        },
        supervises: caller.role != Role::Agent,
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

impl SurveyApi {
    fn invitation(
        &self,
        i: &crate::domain::invitation::Invitation,
        who: &Requester,
    ) -> pb::Invitation {
        // The token is a credential: its creator, supervisors and the systems that deliver it
        // may see it.
        let token = if who.supervises {
            self.surveys.token_of(i)
        } else {
            String::new()
        };
        convert::invitation(i, token, Utc::now())
    }
}

#[tonic::async_trait]
impl pb::survey_service_server::SurveyService for SurveyApi {
    async fn create_questionnaire(
        &self,
        request: Request<pb::CreateQuestionnaireRequest>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let who = requester(&request, "CreateQuestionnaire")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let q = body.questionnaire.unwrap_or_default();
                let mut v = Violations::new();
                let questions = convert::questions(&q.questions, &mut v);
                let form = Form::checked(&q.title, questions, "questionnaire");
                let form = match (v.finish(), form) {
                    (Ok(()), Ok(form)) => form,
                    (Err(mut unreadable), Err(crate::domain::Refusal::Invalid(more))) => {
                        unreadable.extend(more.into_iter().filter(|m| !m.field.ends_with(".kind")));
                        return Err(Error::Invalid(unreadable));
                    }
                    (Err(unreadable), _) => return Err(Error::Invalid(unreadable)),
                    (Ok(()), Err(refusal)) => return Err(refusal.into()),
                };
                let shown = self
                    .surveys
                    .create_questionnaire(&who, &retry, form)
                    .await?;
                Ok(convert::questionnaire(&shown))
            }
            .await,
        )
    }

    async fn get_questionnaire(
        &self,
        request: Request<pb::GetQuestionnaireRequest>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let r = request.into_inner();
        answer(
            self.surveys
                .questionnaire(&r.questionnaire_id, r.version)
                .await
                .map(|s| convert::questionnaire(&s)),
        )
    }

    async fn list_questionnaires(
        &self,
        request: Request<pb::ListQuestionnairesRequest>,
    ) -> Result<Response<pb::ListQuestionnairesResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let (size, after) = paging::parse(r.page_size, &r.page_token)?;
                let page = self.surveys.questionnaires(size, after).await?;
                Ok(pb::ListQuestionnairesResponse {
                    questionnaires: page
                        .items
                        .into_iter()
                        .map(|q| {
                            convert::questionnaire(&crate::questionnaires::Shown {
                                questionnaire: q,
                                version: None,
                            })
                        })
                        .collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_questionnaire(
        &self,
        request: Request<pb::UpdateQuestionnaireRequest>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let who = requester(&request, "UpdateQuestionnaire")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let q = body.questionnaire.unwrap_or_default();
                let paths = body.update_mask.map(|m| m.paths).unwrap_or_default();
                let mut v = Violations::new();
                v.check(!q.id.is_empty(), "questionnaire.id", "required");
                v.check(
                    !paths.is_empty(),
                    "update_mask",
                    "required: title, questions",
                );
                for path in &paths {
                    v.check(
                        path == "title" || path == "questions",
                        format!("update_mask.paths[{path}]"),
                        "not updatable; updatable: title, questions",
                    );
                }
                let questions = convert::questions(&q.questions, &mut v);
                finish(v)?;
                let shown = self
                    .surveys
                    .edit_questionnaire(&who, &retry, &q.id, body.expected_version, |draft| {
                        let title = if paths.iter().any(|p| p == "title") {
                            q.title.clone()
                        } else {
                            draft.title.clone()
                        };
                        if paths.iter().any(|p| p == "questions") {
                            Ok(Form::checked(&title, questions, "questionnaire")?)
                        } else {
                            let kept = draft
                                .questions
                                .iter()
                                .map(|q| crate::domain::questionnaire::QuestionDraft {
                                    id: q.id.clone(),
                                    kind: Some(q.kind),
                                    text: q.text.clone(),
                                    options: q.options.clone(),
                                    required: q.required,
                                })
                                .collect();
                            Ok(Form::checked(&title, kept, "questionnaire")?)
                        }
                    })
                    .await?;
                Ok(convert::questionnaire(&shown))
            }
            .await,
        )
    }

    async fn publish_questionnaire(
        &self,
        request: Request<pb::PublishQuestionnaireRequest>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let who = requester(&request, "PublishQuestionnaire")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let shown = self
                    .surveys
                    .publish_questionnaire(
                        &who,
                        &retry,
                        &body.questionnaire_id,
                        body.expected_version,
                    )
                    .await?;
                Ok(convert::questionnaire(&shown))
            }
            .await,
        )
    }

    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let who = requester(&request, "CreateCampaign")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let draft = convert::campaign_draft(body.campaign.unwrap_or_default(), &mut v);
                if let Err(mut unreadable) = v.finish() {
                    if let Err(crate::domain::Refusal::Invalid(more)) = draft.check() {
                        for m in more {
                            if !unreadable.iter().any(|u| u.field.starts_with(&m.field)) {
                                unreadable.push(m);
                            }
                        }
                    }
                    return Err(Error::Invalid(unreadable));
                }
                let campaign = self.surveys.create_campaign(&who, &retry, draft).await?;
                Ok(convert::campaign(&campaign, 0, Utc::now()))
            }
            .await,
        )
    }

    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let id = request.into_inner().campaign_id;
        answer(
            async {
                let campaign = self.surveys.campaign(&id).await?;
                let answered =
                    crate::store::invitations::answered(&self.surveys.db, &campaign.id).await?;
                Ok(convert::campaign(&campaign, answered, Utc::now()))
            }
            .await,
        )
    }

    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let (size, after) = paging::parse(r.page_size, &r.page_token)?;
                let page = self.surveys.campaigns(size, after).await?;
                let mut campaigns = Vec::with_capacity(page.items.len());
                for c in &page.items {
                    let answered =
                        crate::store::invitations::answered(&self.surveys.db, &c.id).await?;
                    campaigns.push(convert::campaign(c, answered, Utc::now()));
                }
                Ok(pb::ListCampaignsResponse {
                    campaigns,
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn cancel_campaign(
        &self,
        request: Request<pb::CancelCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let who = requester(&request, "CancelCampaign")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let campaign = self
                    .surveys
                    .cancel_campaign(&who, &retry, &body.campaign_id, body.expected_version)
                    .await?;
                let answered =
                    crate::store::invitations::answered(&self.surveys.db, &campaign.id).await?;
                Ok(convert::campaign(&campaign, answered, Utc::now()))
            }
            .await,
        )
    }

    async fn create_trigger(
        &self,
        request: Request<pb::CreateTriggerRequest>,
    ) -> Result<Response<pb::Trigger>, Status> {
        let who = requester(&request, "CreateTrigger")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let t = body.trigger.unwrap_or_default();
                let mut v = Violations::new();
                let kind = convert::required::<TriggerKind>(t.kind, "trigger.kind", &mut v);
                let method = convert::required::<Method>(t.method, "trigger.method", &mut v);
                let delay = convert::delay(t.delay.as_ref(), &mut v);
                finish(v)?;
                let trigger = self
                    .surveys
                    .create_trigger(&who, &retry, kind, &t.questionnaire_id, method, delay)
                    .await?;
                Ok(convert::trigger(&trigger))
            }
            .await,
        )
    }

    async fn get_trigger(
        &self,
        request: Request<pb::GetTriggerRequest>,
    ) -> Result<Response<pb::Trigger>, Status> {
        let id = request.into_inner().trigger_id;
        answer(
            self.surveys
                .trigger(&id)
                .await
                .map(|t| convert::trigger(&t)),
        )
    }

    async fn list_triggers(
        &self,
        request: Request<pb::ListTriggersRequest>,
    ) -> Result<Response<pb::ListTriggersResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let (size, after) = paging::parse(r.page_size, &r.page_token)?;
                let page = self.surveys.triggers(size, after).await?;
                Ok(pb::ListTriggersResponse {
                    triggers: page.items.iter().map(convert::trigger).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn set_trigger_enabled(
        &self,
        request: Request<pb::SetTriggerEnabledRequest>,
    ) -> Result<Response<pb::Trigger>, Status> {
        let who = requester(&request, "SetTriggerEnabled")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let trigger = self
                    .surveys
                    .set_trigger_enabled(
                        &who,
                        &retry,
                        &body.trigger_id,
                        body.expected_version,
                        body.enabled,
                    )
                    .await?;
                Ok(convert::trigger(&trigger))
            }
            .await,
        )
    }

    async fn create_invitation(
        &self,
        request: Request<pb::CreateInvitationRequest>,
    ) -> Result<Response<pb::Invitation>, Status> {
        let who = requester(&request, "CreateInvitation")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let i = body.invitation.unwrap_or_default();
                let mut v = Violations::new();
                let method = convert::required::<Method>(i.method, "invitation.method", &mut v);
                finish(v)?;
                let request = InviteRequest {
                    customer_id: i.customer_id.trim().to_owned(),
                    questionnaire_id: i.questionnaire_id.trim().to_owned(),
                    method,
                    order_id: i.order_id,
                    complaint_id: i.complaint_id,
                    agent_id: i.agent_id,
                    ..InviteRequest::default()
                };
                let invitation = self
                    .surveys
                    .create_invitation(&who, &retry, request)
                    .await?;
                // The creator gets the token to deliver, whoever it is.
                Ok(convert::invitation(
                    &invitation,
                    self.surveys.token_of(&invitation),
                    Utc::now(),
                ))
            }
            .await,
        )
    }

    async fn get_invitation(
        &self,
        request: Request<pb::GetInvitationRequest>,
    ) -> Result<Response<pb::Invitation>, Status> {
        let who = requester(&request, "GetInvitation")?;
        let id = request.into_inner().invitation_id;
        answer(
            self.surveys
                .invitation(&who, &id)
                .await
                .map(|i| self.invitation(&i, &who)),
        )
    }

    async fn list_invitations(
        &self,
        request: Request<pb::ListInvitationsRequest>,
    ) -> Result<Response<pb::ListInvitationsResponse>, Status> {
        let who = requester(&request, "ListInvitations")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(r.page_size, &r.page_token));
                let state = v.absorb(convert::invitation_state(r.state));
                let method = v.absorb(convert::filter::<Method>(r.method, "method"));
                finish(v)?;
                let (size, after_id) = paged.unwrap_or_default();
                let filter = Filter {
                    teams: None,
                    customer_id: nonempty(r.customer_id),
                    team_id: nonempty(r.team_id),
                    method: method.flatten(),
                    state: state.flatten(),
                    after_id,
                };
                let page = self.surveys.invitations(&who, filter, size).await?;
                Ok(pb::ListInvitationsResponse {
                    invitations: page
                        .items
                        .iter()
                        .map(|i| self.invitation(i, &who))
                        .collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn submit_response(
        &self,
        request: Request<pb::SubmitResponseRequest>,
    ) -> Result<Response<pb::SurveyResponse>, Status> {
        let who = requester(&request, "SubmitResponse")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let answers = convert::answers(body.answers, &mut v);
                finish(v)?;
                let response = self
                    .surveys
                    .submit(&who, &retry, &body.invitation_id, answers)
                    .await?;
                Ok(convert::response(&response))
            }
            .await,
        )
    }

    async fn submit_online_response(
        &self,
        request: Request<pb::SubmitOnlineResponseRequest>,
    ) -> Result<Response<pb::SurveyResponse>, Status> {
        let body = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                v.check(
                    !body.response_token.trim().is_empty(),
                    "response_token",
                    "required",
                );
                let answers = convert::answers(body.answers, &mut v);
                finish(v)?;
                let response = self
                    .surveys
                    .submit_online(&body.response_token, answers)
                    .await?;
                Ok(convert::response(&response))
            }
            .await,
        )
    }

    async fn get_response(
        &self,
        request: Request<pb::GetResponseRequest>,
    ) -> Result<Response<pb::SurveyResponse>, Status> {
        let who = requester(&request, "GetResponse")?;
        let id = request.into_inner().response_id;
        answer(
            self.surveys
                .response(&who, &id)
                .await
                .map(|r| convert::response(&r)),
        )
    }

    async fn set_opt_out(
        &self,
        request: Request<pb::SetOptOutRequest>,
    ) -> Result<Response<pb::OptOut>, Status> {
        let who = requester(&request, "SetOptOut")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let o = self
                    .surveys
                    .set_opt_out(
                        &who,
                        &retry,
                        &body.customer_id,
                        body.opted_out,
                        &body.reason,
                    )
                    .await?;
                Ok(convert::opt_out(&o))
            }
            .await,
        )
    }

    async fn get_opt_out(
        &self,
        request: Request<pb::GetOptOutRequest>,
    ) -> Result<Response<pb::OptOut>, Status> {
        let who = requester(&request, "GetOptOut")?;
        let id = request.into_inner().customer_id;
        answer(
            self.surveys
                .opt_out(&who, &id)
                .await
                .map(|o| convert::opt_out(&o)),
        )
    }

    async fn list_skipped_surveys(
        &self,
        request: Request<pb::ListSkippedSurveysRequest>,
    ) -> Result<Response<pb::ListSkippedSurveysResponse>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let (size, after) = paging::parse(r.page_size, &r.page_token)?;
                let customer = nonempty(r.customer_id);
                let rows = crate::store::invitations::skips(
                    &self.surveys.db,
                    customer.as_deref(),
                    after.as_deref(),
                    size + 1,
                )
                .await?;
                let (rows, next_page_token) = paging::finish_page(rows, size, |s| &s.id);
                Ok(pb::ListSkippedSurveysResponse {
                    skipped_surveys: rows.iter().map(convert::skip).collect(),
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn get_score_report(
        &self,
        request: Request<pb::GetScoreReportRequest>,
    ) -> Result<Response<pb::ScoreReport>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let interval = convert::interval(r.interval.as_ref(), "interval", &mut v);
                let by = convert::dimension(r.dimension, r.period, &mut v);
                finish(v)?;
                let (Some((from, to)), Some(by)) = (interval, by) else {
                    return Err(invalid("interval", "required"));
                };
                let campaign = nonempty(r.campaign_id);
                let questionnaire = nonempty(r.questionnaire_id);
                let rows = self
                    .surveys
                    .score_report(from, to, by, campaign.as_deref(), questionnaire.as_deref())
                    .await?;
                Ok(pb::ScoreReport {
                    rows: rows.iter().map(|(g, r)| convert::score_row(g, r)).collect(),
                })
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
            self.surveys
                .business_report(requested_period(r.period), &r.period_label)
                .await
                .map(|report| report.to_proto()),
        )
    }

    async fn get_quality_report(
        &self,
        request: Request<pb::GetQualityReportRequest>,
    ) -> Result<Response<pb::QualityReport>, Status> {
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let interval = convert::interval(r.interval.as_ref(), "interval", &mut v);
                let by = convert::dimension(r.dimension, r.period, &mut v);
                finish(v)?;
                let (Some((from, to)), Some(by)) = (interval, by) else {
                    return Err(invalid("interval", "required"));
                };
                let rows = self.surveys.quality_report(from, to, by).await?;
                Ok(pb::QualityReport {
                    rows: rows
                        .iter()
                        .map(|(g, r)| convert::quality_row(g, r))
                        .collect(),
                })
            }
            .await,
        )
    }

    async fn get_follow_up_task(
        &self,
        request: Request<pb::GetFollowUpTaskRequest>,
    ) -> Result<Response<pb::FollowUpTask>, Status> {
        let who = requester(&request, "GetFollowUpTask")?;
        let id = request.into_inner().follow_up_task_id;
        answer(
            self.surveys
                .task(&who, &id)
                .await
                .map(|t| convert::task(&t)),
        )
    }

    async fn list_follow_up_tasks(
        &self,
        request: Request<pb::ListFollowUpTasksRequest>,
    ) -> Result<Response<pb::ListFollowUpTasksResponse>, Status> {
        let who = requester(&request, "ListFollowUpTasks")?;
        let r = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(r.page_size, &r.page_token));
                let state = v.absorb(convert::filter::<TaskState>(r.state, "state"));
                finish(v)?;
                let (size, after) = paged.unwrap_or_default();
                let page = self
                    .surveys
                    .tasks(&who, state.flatten(), nonempty(r.team_id), size, after)
                    .await?;
                Ok(pb::ListFollowUpTasksResponse {
                    follow_up_tasks: page.items.iter().map(convert::task).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn complete_follow_up_task(
        &self,
        request: Request<pb::CompleteFollowUpTaskRequest>,
    ) -> Result<Response<pb::FollowUpTask>, Status> {
        let who = requester(&request, "CompleteFollowUpTask")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut v = Violations::new();
                let outcome = convert::required::<TaskOutcome>(body.outcome, "outcome", &mut v);
                finish(v)?;
                let task = self
                    .surveys
                    .complete_task(
                        &who,
                        &retry,
                        &body.follow_up_task_id,
                        body.expected_version,
                        outcome,
                        &body.outcome_note,
                    )
                    .await?;
                Ok(convert::task(&task))
            }
            .await,
        )
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<EventResponses<pb::StreamEventsResponse>>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.surveys.log.serve(
            request.after_position,
            request.filter,
            self.lifecycle.stopping().clone(),
            |event| pb::StreamEventsResponse { event: Some(event) },
        )))
    }
}
