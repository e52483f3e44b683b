//! CD-9 through the API: entries proposed from resolved cases, published by a supervisor,
//! searched in Chinese and English with the most relevant first, retired out of search.

use kefu_platform::auth::Role;
use kefu_proto::complaint as pb;
use kefu_testkit::on_both;
use tonic::Code;

use crate::support::{App, Backend, Desk, registered, spawn};

/// A resolved complaint, for entries to come from.
async fn resolved_case(app: &App) -> String {
    let mut desk = app.desk().await;
    let case = registered(app, "t1").await;
    let case = desk
        .record_investigation(pb::RecordInvestigationRequest {
            complaint_id: case.id.clone(),
            investigation: Some(pb::Investigation {
                root_cause: pb::RootCause::Packaging as i32,
                corrective_action: "double-wall cartons".into(),
                ..Default::default()
            }),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    desk.resolve_complaint(pb::ResolveComplaintRequest {
        complaint_id: case.id.clone(),
        resolution: Some(pb::Resolution {
            answer: "replaced".into(),
            ..Default::default()
        }),
        expected_version: case.version,
        request_id: String::new(),
    })
    .await
    .unwrap();
    case.id
}

async fn propose(
    desk: &mut Desk,
    case: &str,
    category: pb::Category,
    problem: &str,
    solution: &str,
    keywords: &[&str],
) -> pb::KnowledgeEntry {
    desk.create_knowledge_entry(pb::CreateKnowledgeEntryRequest {
        knowledge_entry: Some(pb::KnowledgeEntry {
            category: category as i32,
            problem: problem.into(),
            solution: solution.into(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            complaint_ids: vec![case.into()],
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn search(desk: &mut Desk, query: &str) -> Vec<String> {
    desk.search_knowledge_entries(pb::SearchKnowledgeEntriesRequest {
        query: query.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .hits
    .into_iter()
    .map(|h| h.knowledge_entry.unwrap().problem)
    .collect()
}

// CD-9: a Chinese query finds a compound word's entry (破损 in 外包装破损), an English one
// ranks the entry about it in its problem above those that only mention it.
async fn cd9_agents_find_published_entries_in_chinese_and_english(backend: Backend) {
    let app = spawn(backend).await;
    let case = resolved_case(&app).await;
    let mut agent = app.desk_as("agent-1", Role::Agent, "t1").await;
    let mut supervisor = app.desk_as("sup-1", Role::Supervisor, "").await;
    let entries = [
        (
            pb::Category::Damage,
            "外包装破损，货物受潮",
            "改用双层瓦楞纸箱并加防潮膜",
            &["纸箱"][..],
        ),
        (
            pb::Category::Delay,
            "雨季山区线路延误",
            "提前一天发车，并告知客户预计到达时间",
            &[][..],
        ),
        (
            pb::Category::Damage,
            "Carton crushed in transit",
            "Use double-wall cartons and corner protectors for stacked loads",
            &["carton", "crushed"][..],
        ),
        (
            pb::Category::Billing,
            "Invoice shows the wrong weight",
            "Re-weigh at the hub; a crushed carton can read light, so weigh the contents",
            &[][..],
        ),
        (
            pb::Category::Loss,
            "Parcel lost between hubs",
            "Trace the scans; compensate at declared value after 48 hours",
            &[][..],
        ),
    ];
    let mut ids = Vec::new();
    for (category, problem, solution, keywords) in entries {
        let entry = propose(&mut agent, &case, category, problem, solution, keywords).await;
        assert_eq!(entry.state(), pb::KnowledgeEntryState::Proposed);
        ids.push((entry.id, entry.version));
    }
    assert!(
        search(&mut agent, "破损").await.is_empty(),
        "proposals are not searched"
    );
    // An agent cannot publish.
    let refused = agent
        .publish_knowledge_entry(pb::PublishKnowledgeEntryRequest {
            knowledge_entry_id: ids[0].0.clone(),
            expected_version: ids[0].1,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let mut published = Vec::new();
    for (id, version) in &ids {
        let entry = supervisor
            .publish_knowledge_entry(pb::PublishKnowledgeEntryRequest {
                knowledge_entry_id: id.clone(),
                expected_version: *version,
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(entry.state(), pb::KnowledgeEntryState::Published);
        assert_eq!(entry.publisher_id, "sup-1");
        published.push(entry);
    }

    let found = search(&mut agent, "破损").await;
    assert_eq!(
        found,
        vec!["外包装破损，货物受潮"],
        "one entry has the word"
    );
    let found = search(&mut agent, "包装 受潮").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("外包装破损，货物受潮")
    );
    let found = search(&mut agent, "延误").await;
    assert_eq!(found, vec!["雨季山区线路延误"]);
    // In its problem and keywords beats in a solution only.
    let found = search(&mut agent, "crushed carton").await;
    assert_eq!(
        found,
        vec![
            "Carton crushed in transit",
            "Invoice shows the wrong weight"
        ],
        "the entry about it first, the one mentioning it second"
    );
    let found = search(&mut agent, "LOST parcels").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("Parcel lost between hubs")
    );
    assert!(search(&mut agent, "aircraft").await.is_empty());
    let empty = agent
        .search_knowledge_entries(pb::SearchKnowledgeEntriesRequest {
            query: " ，。 ".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);

    // Paged by relevance.
    let first = agent
        .search_knowledge_entries(pb::SearchKnowledgeEntriesRequest {
            query: "crushed carton".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.hits.len(), 1);
    assert!(first.hits[0].score > 0.0);
    let second = agent
        .search_knowledge_entries(pb::SearchKnowledgeEntriesRequest {
            query: "crushed carton".into(),
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.hits[0].knowledge_entry.as_ref().unwrap().problem,
        "Invoice shows the wrong weight"
    );
    assert!(first.hits[0].score >= second.hits[0].score);

    // A retired entry leaves search and stays readable.
    let carton = &published[2];
    supervisor
        .retire_knowledge_entry(pb::RetireKnowledgeEntryRequest {
            knowledge_entry_id: carton.id.clone(),
            expected_version: carton.version,
            request_id: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        search(&mut agent, "crushed carton").await,
        vec!["Invoice shows the wrong weight"]
    );
    let kept = agent
        .get_knowledge_entry(pb::GetKnowledgeEntryRequest {
            knowledge_entry_id: carton.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.state(), pb::KnowledgeEntryState::Retired);
    let listed = agent
        .list_knowledge_entries(pb::ListKnowledgeEntriesRequest {
            state: pb::KnowledgeEntryState::Published as i32,
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.knowledge_entries.len(), 2);
    assert!(
        !listed.next_page_token.is_empty(),
        "four published, two a page"
    );
    let events = app.events_of::<pb::KnowledgeEntryPublished>().await;
    assert_eq!(events.len(), 5);
    assert_eq!(app.events_of::<pb::KnowledgeEntryRetired>().await.len(), 1);
}
on_both!(cd9_agents_find_published_entries_in_chinese_and_english);

// CD-9: only resolved cases become knowledge, and an edit names the version it read.
async fn cd9_entries_come_from_resolved_cases_and_edits_name_their_version(backend: Backend) {
    let app = spawn(backend).await;
    let mut agent = app.desk_as("agent-1", Role::Agent, "t1").await;
    let open = registered(&app, "t1").await;
    let refused = agent
        .create_knowledge_entry(pb::CreateKnowledgeEntryRequest {
            knowledge_entry: Some(pb::KnowledgeEntry {
                category: pb::Category::Damage as i32,
                problem: "crushed".into(),
                solution: "cartons".into(),
                complaint_ids: vec![open.id.clone()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(app.count("knowledge_entries").await, 0);

    let case = resolved_case(&app).await;
    let entry = propose(
        &mut agent,
        &case,
        pb::Category::Damage,
        "Carton crushed",
        "Double-wall cartons",
        &[],
    )
    .await;
    let edit = |version| pb::UpdateKnowledgeEntryRequest {
        knowledge_entry: Some(pb::KnowledgeEntry {
            id: entry.id.clone(),
            solution: "Double-wall cartons with corner protectors".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["solution".into()],
        }),
        expected_version: version,
        request_id: String::new(),
    };
    let edited = agent
        .update_knowledge_entry(edit(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.version, 2);
    let stale = agent.update_knowledge_entry(edit(1)).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let mut other = app.desk_as("agent-2", Role::Agent, "t1").await;
    let not_theirs = other.update_knowledge_entry(edit(2)).await.unwrap_err();
    assert_eq!(not_theirs.code(), Code::FailedPrecondition);
}
on_both!(cd9_entries_come_from_resolved_cases_and_edits_name_their_version);
