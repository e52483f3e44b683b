//! CR-2 through the API: a manager overrides a tier with a reason, the override shows as
//! such, clearing it hands the tier back to the facts, and the history says all of it.

use kefu_platform::auth::Role;
use kefu_proto::customer as pb;
use tonic::Code;

use crate::support::{Backend, create, personal, spawn};
use kefu_testkit::on_both;

async fn a_manager_overrides_and_clears_a_tier_on_the_record(backend: Backend) {
    let app = spawn(backend).await;
    let mut manager = app.client(Role::Manager).await;
    let id = manager
        .create_customer(create(personal("Zhang San")))
        .await
        .unwrap()
        .into_inner()
        .id;
    let request = |tier: pb::Tier, reason: &str| pb::OverrideTierRequest {
        customer_id: id.clone(),
        tier: tier as i32,
        reason: reason.into(),
        request_id: String::new(),
    };

    let mut supervisor = app.client(Role::Supervisor).await;
    let denied = supervisor
        .override_tier(request(pb::Tier::Frequent, "vip"))
        .await
        .unwrap_err();
    assert_eq!(
        denied.code(),
        Code::PermissionDenied,
        "only a manager overrides"
    );
    let wrong_kind = manager
        .override_tier(request(pb::Tier::Large, "big"))
        .await
        .unwrap_err();
    assert_eq!(
        wrong_kind.code(),
        Code::InvalidArgument,
        "a person cannot be a large enterprise"
    );
    let no_reason = manager
        .override_tier(request(pb::Tier::Frequent, " "))
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);

    let overridden = manager
        .override_tier(request(
            pb::Tier::Frequent,
            "key account of the Fuzhou office",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overridden.tier(), pb::Tier::Frequent);
    assert!(
        overridden.tier_overridden,
        "the override is visible as such"
    );

    let cleared = manager
        .clear_tier_override(pb::ClearTierOverrideRequest {
            customer_id: id.clone(),
            reason: "account moved to the Xiamen office".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cleared.tier(),
        pb::Tier::Occasional,
        "back to what the facts say: no orders"
    );
    assert!(!cleared.tier_overridden);

    let mut agent = app.agent("agent-1", "t1").await;
    let history = agent
        .list_tier_changes(pb::ListTierChangesRequest {
            customer_id: id.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.tier_changes.len(), 1);
    let newest = &history.tier_changes[0];
    // CR-2: the month is the calendar month in Asia/Shanghai.
    let month = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m");
    assert_eq!(
        newest.reason,
        format!(
            "override cleared: account moved to the Xiamen office; 0 uses in {month} (frequent from 3)"
        )
    );
    assert!(newest.manual_override);
    let older = agent
        .list_tier_changes(pb::ListTierChangesRequest {
            customer_id: id.clone(),
            page_size: 1,
            page_token: history.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    let first = &older.tier_changes[0];
    assert_eq!(
        first.reason,
        "manual override: key account of the Fuzhou office"
    );
    assert_eq!(first.actor_id, "tester");
    assert_eq!(
        (first.old_tier(), first.new_tier()),
        (pb::Tier::Occasional, pb::Tier::Frequent)
    );
    assert!(older.next_page_token.is_empty());
    assert_eq!(app.count("tier_changes").await, 2);

    let mut stranger = app.agent("agent-9", "t9").await;
    let hidden = stranger
        .list_tier_changes(pb::ListTierChangesRequest {
            customer_id: id,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        hidden.code(),
        Code::PermissionDenied,
        "another team's customer's history is refused"
    );
}
on_both!(a_manager_overrides_and_clears_a_tier_on_the_record);
