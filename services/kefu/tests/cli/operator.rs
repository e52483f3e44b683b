//! What operators type: `kefu config`, `kefu token`, and a bad setting.

use crate::process::kefu;

#[tokio::test]
async fn config_prints_effective_settings_with_secrets_hidden() {
    let out = kefu()
        .arg("config")
        .env(
            "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
            "postgres://kefu:t0p-s3cret@db:5432/cr",
        )
        .env("KEFU__SERVER__REQUEST_TIMEOUT_MS", "4321")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("request_timeout_ms = 4321"), "{text}");
    assert!(
        text.contains("postgres://kefu:<hidden>@db:5432/cr"),
        "{text}"
    );
    assert!(!text.contains("t0p-s3cret"));
    assert!(
        !text.contains("kefu-development-secret"),
        "the signing key is hidden"
    );
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_naming_the_key() {
    let out = kefu()
        .args(["serve"])
        .env("KEFU__SERVER__MAX_CONCURRENT_REQUESTS", "lots")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_concurrent_requests"), "{stderr}");
}

#[tokio::test]
async fn tokens_carry_the_role_and_unknown_roles_are_refused() {
    let out = kefu()
        .args(["token", "--role", "agent", "--sub", "a-7", "--team", "t9"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let settings = kefu::load_settings(None).unwrap();
    let caller = kefu_platform::auth::TokenKeys::new(&settings.auth)
        .verify(token.trim())
        .unwrap();
    assert_eq!(caller.subject, "a-7");
    assert_eq!(caller.role, kefu_platform::auth::Role::Agent);
    assert_eq!(caller.team, "t9");
    let refused = kefu()
        .args(["token", "--role", "root"])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
}
