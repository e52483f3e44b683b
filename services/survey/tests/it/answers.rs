//! SV-1, SV-2, SV-5 through the API: questionnaires are versioned data and answers are
//! checked against the version sent; online tokens answer once, in time, for their own
//! invitation; low scores open follow-up tasks for the customer's team and a named problem
//! opens one complaint case; an erasure keeps the scores and empties the texts.

use kefu_platform::auth::Role;
use kefu_proto::complaint as cpb;
use kefu_proto::survey as pb;
use kefu_testkit::on_both;
use tonic::Code;

use crate::support::{Backend, invitation, problem, score, spawn, spawn_with, text, until};

// SV-2: a published version never changes; an invitation keeps the version it was sent with.
async fn sv2_questionnaires_are_versioned_data(backend: Backend) {
    let app = spawn(backend).await;
    let mut surveys = app.surveys().await;
    let v1 = app.questionnaire().await;
    assert_eq!((v1.version, v1.published_version), (1, 1));
    let customer = app.customer("t1").await;
    let sent = surveys
        .create_invitation(invitation(&customer, &v1.id, pb::Method::Phone))
        .await
        .unwrap()
        .into_inner();
    // Version 2 asks only for effort.
    let draft = surveys
        .update_questionnaire(pb::UpdateQuestionnaireRequest {
            questionnaire: Some(pb::Questionnaire {
                id: v1.id.clone(),
                questions: vec![pb::Question {
                    question_id: "effort".into(),
                    kind: pb::QuestionKind::Effort as i32,
                    text: "How easy was it?".into(),
                    required: true,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["questions".into()],
            }),
            expected_version: v1.draft_version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(draft.version, 0, "the draft");
    let stale = surveys
        .publish_questionnaire(pb::PublishQuestionnaireRequest {
            questionnaire_id: v1.id.clone(),
            expected_version: v1.draft_version,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let v2 = surveys
        .publish_questionnaire(pb::PublishQuestionnaireRequest {
            questionnaire_id: v1.id.clone(),
            expected_version: draft.draft_version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.version, 2);
    let still_v1 = surveys
        .get_questionnaire(pb::GetQuestionnaireRequest {
            questionnaire_id: v1.id.clone(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still_v1.questions.len(), 6, "version 1 as it was");
    // The invitation sent with version 1 takes version 1's answers, not version 2's.
    let wrong = surveys
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id.clone(),
            answers: vec![score("effort", 5)],
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        wrong.code(),
        Code::InvalidArgument,
        "csat is required in version 1"
    );
    let bad = surveys
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id.clone(),
            answers: vec![score("csat", 9), score("nps", 11)],
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = tonic_types::StatusExt::get_details_bad_request(&bad)
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["answers[0].score", "answers[1].score"]);
    assert_eq!(app.count("survey_responses").await, 0, "nothing written");
    surveys
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id.clone(),
            answers: vec![score("csat", 5), score("nps", 9)],
            request_id: String::new(),
        })
        .await
        .unwrap();
}
on_both!(sv2_questionnaires_are_versioned_data);

// SV-1: the one-time token answers once, in its window, for its own invitation; a refused
// answer changes nothing.
async fn sv1_an_online_token_answers_once_in_time_for_its_own_invitation(backend: Backend) {
    let app = spawn_with(backend, &[("KEFU__SURVEY__RESPONSE_WINDOW", "3s")]).await;
    let questionnaire = app.questionnaire().await;
    let mut surveys = app.surveys().await;
    let first = surveys
        .create_invitation(invitation(
            &app.customer("t1").await,
            &questionnaire.id,
            pb::Method::Online,
        ))
        .await
        .unwrap()
        .into_inner();
    let second = surveys
        .create_invitation(invitation(
            &app.customer("t1").await,
            &questionnaire.id,
            pb::Method::Online,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.response_token.is_empty());
    let mut customer = app.anonymous().await;
    let answer = |token: &str| pb::SubmitOnlineResponseRequest {
        response_token: token.into(),
        answers: vec![score("csat", 4)],
    };
    // Another invitation's MAC on this invitation's id.
    let (id, _) = first.response_token.rsplit_once('.').unwrap();
    let (_, mac) = second.response_token.rsplit_once('.').unwrap();
    let forged = customer
        .submit_online_response(answer(&format!("{id}.{mac}")))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
    let answered = customer
        .submit_online_response(answer(&first.response_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.recorded_by, "online");
    let twice = customer
        .submit_online_response(answer(&first.response_token))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition, "{twice:?}");
    assert_eq!(app.count("survey_responses").await, 1);
    // Past its window, the second token opens nothing.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let late = customer
        .submit_online_response(answer(&second.response_token))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("window"), "{}", late.message());
    assert_eq!(app.count("survey_responses").await, 1, "nothing changed");
    let expired = surveys
        .get_invitation(pb::GetInvitationRequest {
            invitation_id: second.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(expired.state(), pb::InvitationState::Expired);
    // Without a token nothing else is open.
    let closed = customer
        .get_invitation(pb::GetInvitationRequest {
            invitation_id: second.id,
        })
        .await
        .unwrap_err();
    assert_eq!(closed.code(), Code::Unauthenticated);
}
on_both!(sv1_an_online_token_answers_once_in_time_for_its_own_invitation);

// SV-5: a low score opens a follow-up task for the customer's team; a named problem opens one
// complaint case in complaint-desk through survey's stream.
async fn sv5_a_low_score_opens_a_task_and_a_named_problem_one_case(backend: Backend) {
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    let customer = app.customer("t1").await;
    let mut agent = app.surveys_as("agent-1", Role::Agent, "t1").await;
    let sent = agent
        .create_invitation(invitation(&customer, &questionnaire.id, pb::Method::Phone))
        .await
        .unwrap()
        .into_inner();
    // The call list of the agent's team.
    let calls = agent
        .list_invitations(pb::ListInvitationsRequest {
            method: pb::Method::Phone as i32,
            state: pb::InvitationState::Sent as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invitations;
    assert_eq!(calls.len(), 1);
    let response = agent
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id.clone(),
            answers: vec![
                score("csat", 1),
                score("nps", 3),
                text("comment", "the box was soaked"),
                problem(cpb::Category::Damage),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let tasks = agent
        .list_follow_up_tasks(pb::ListFollowUpTasksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .follow_up_tasks;
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task.team_id, "t1");
    assert_eq!(task.response_id, response.id);
    assert_eq!(task.problem(), cpb::Category::Damage);
    assert_eq!(
        task.low_measures,
        vec![pb::QuestionKind::Csat as i32, pb::QuestionKind::Nps as i32]
    );
    assert!(task.due_time.is_some());
    let other_team = app.surveys_as("agent-9", Role::Agent, "t9").await;
    assert!(
        other_team
            .clone()
            .list_follow_up_tasks(pb::ListFollowUpTasksRequest::default())
            .await
            .unwrap()
            .into_inner()
            .follow_up_tasks
            .is_empty()
    );
    let done = agent
        .complete_follow_up_task(pb::CompleteFollowUpTaskRequest {
            follow_up_task_id: task.id.clone(),
            outcome: pb::FollowUpTaskOutcome::Escalated as i32,
            outcome_note: "complaint opened".into(),
            expected_version: task.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.state(), pb::FollowUpTaskState::Done);
    assert_eq!(done.assignee_id, "agent-1");
    // what staff noted is sealed at rest, shown through the API.
    assert_eq!(done.outcome_note, "complaint opened");
    assert!(!kefu_testkit::holds(
        &app.dump(kefu_survey::SERVICE, "follow_up_tasks").await,
        "complaint opened"
    ));

    // complaint-desk opens the case, once, from survey's event.
    let mut desk =
        kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient::new(
            app.as_role("tester", Role::Manager, "").await,
        );
    let cases = until(20, "the case from the survey answer", || {
        let mut desk = desk.clone();
        let customer = customer.clone();
        async move {
            let cases = desk
                .list_complaints(cpb::ListComplaintsRequest {
                    customer_id: customer,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .complaints;
            (!cases.is_empty()).then_some(cases)
        }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let again = desk
        .list_complaints(cpb::ListComplaintsRequest {
            customer_id: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .complaints;
    assert_eq!(again.len(), 1, "one case");
    let case = &cases[0];
    assert_eq!(case.origin(), cpb::Origin::SurveyAnswer);
    assert_eq!(case.category(), cpb::Category::Damage);
    assert_eq!(
        case.source.as_ref().and_then(|s| s.source.clone()),
        Some(cpb::source_reference::Source::SurveyResponseId(response.id))
    );
}
on_both!(sv5_a_low_score_opens_a_task_and_a_named_problem_one_case);

// CR-11, X-4: an erasure in customer-registry keeps the scores and empties the comments.
async fn an_erased_customers_answers_keep_their_scores_and_lose_their_words(backend: Backend) {
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    let customer = app.customer("t1").await;
    let mut surveys = app.surveys().await;
    let sent = surveys
        .create_invitation(invitation(&customer, &questionnaire.id, pb::Method::Phone))
        .await
        .unwrap()
        .into_inner();
    let response = surveys
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id,
            answers: vec![
                score("csat", 2),
                text("comment", "call Mr Li on 138 0013 8000"),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    app.erase(&customer).await;
    let erased = until(20, "the answers erased", || {
        let mut surveys = surveys.clone();
        let id = response.id.clone();
        async move {
            let r = surveys
                .get_response(pb::GetResponseRequest { response_id: id })
                .await
                .unwrap()
                .into_inner();
            r.erased.then_some(r)
        }
    })
    .await;
    assert_eq!(erased.answers[0].value, Some(pb::answer::Value::Score(2)));
    assert_eq!(
        erased.answers[1].value,
        Some(pb::answer::Value::Text(String::new()))
    );
    let dump = app.dump(kefu_survey::SERVICE, "survey_responses").await;
    assert!(!kefu_testkit::holds(&dump, "138 0013 8000"));
    // Sealed at rest: opened, the document holds the comment no more either.
    assert!(
        !opened_response(&app, &response.id)
            .await
            .contains("138 0013 8000")
    );
}
on_both!(an_erased_customers_answers_keep_their_scores_and_lose_their_words);

/// A response's stored document, opened with the suite's key.
async fn opened_response(app: &crate::support::App, id: &str) -> String {
    use sea_orm::ConnectionTrait as _;
    let cipher = kefu_platform::pii::PiiCipher::from_settings(&app.settings.security).unwrap();
    let db = app.db(kefu_survey::SERVICE);
    let stored: String = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT document FROM survey_responses WHERE id = $1",
            [id.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "document")
        .unwrap();
    kefu_survey::store::invitations::SEALED_RESPONSES
        .open(&cipher, id, &stored)
        .unwrap()
}

// the customer's words in an answer are sealed at rest, read in clear through the API;
// a response stored before responses were sealed is read, and the sweep seals it.
async fn x4_comments_are_sealed_at_rest(backend: Backend) {
    use sea_orm::ConnectionTrait as _;
    const CANARY: &str = "Canary Zhou, 139 1234 5678";
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    let customer = app.customer("t1").await;
    let mut surveys = app.surveys().await;
    let sent = surveys
        .create_invitation(invitation(&customer, &questionnaire.id, pb::Method::Phone))
        .await
        .unwrap()
        .into_inner();
    let response = surveys
        .submit_response(pb::SubmitResponseRequest {
            invitation_id: sent.id,
            answers: vec![score("csat", 4), text("comment", CANARY)],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let read = |mut surveys: crate::support::Surveys, id: String| async move {
        surveys
            .get_response(pb::GetResponseRequest { response_id: id })
            .await
            .unwrap()
            .into_inner()
            .answers[1]
            .value
            .clone()
    };
    let canary = Some(pb::answer::Value::Text(CANARY.into()));
    assert_eq!(read(surveys.clone(), response.id.clone()).await, canary);
    let dump = || app.dump(kefu_survey::SERVICE, "survey_responses");
    assert!(!kefu_testkit::holds(&dump().await, CANARY));

    let clear = opened_response(&app, &response.id).await;
    let db = app.db(kefu_survey::SERVICE);
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE survey_responses SET document = $1 WHERE id = $2",
        [clear.as_str().into(), response.id.as_str().into()],
    ))
    .await
    .unwrap();
    assert!(kefu_testkit::holds(&dump().await, CANARY));
    assert_eq!(read(surveys.clone(), response.id.clone()).await, canary);
    let cipher = kefu_platform::pii::PiiCipher::from_settings(&app.settings.security).unwrap();
    let swept = kefu_platform::reseal::sweep(
        db,
        &cipher,
        kefu_survey::store::invitations::SEALED_RESPONSES,
    )
    .await
    .unwrap();
    // The service's own sweep may seal it first: either way it ends sealed.
    assert_eq!(swept.unreadable, 0, "{swept:?}");
    assert!(!kefu_testkit::holds(&dump().await, CANARY));
    assert_eq!(read(surveys, response.id.clone()).await, canary);
}
on_both!(x4_comments_are_sealed_at_rest);
