//! `kefu soak` against a running `kefu serve`: writes to every service for the time asked,
//! shows progress, reads every acknowledged write back, and says what it found.

use crate::process::{Server, kefu};

// the soak's ledger adds up, and a deployment that cannot be reached fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x1_a_soak_writes_for_the_time_asked_and_reads_every_acknowledged_write_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]).await;
    // One service named apart, as when the services are deployed apart.
    let orders = format!("order-tracking={}", server.endpoint());
    let output = kefu()
        .args(["soak", "--seconds", "3", "--every", "1", "--clients", "1"])
        .args(["--service-endpoint", &orders])
        .current_dir(dir.path())
        .env("KEFU_ENDPOINT", server.endpoint())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}{stdout}");
    let progress = stderr
        .lines()
        .filter(|l| l.contains(" acknowledged, "))
        .count();
    assert!(progress >= 2, "a progress line a second: {stderr}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("soak: "))
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    let numbers: Vec<u64> = summary
        .split([' ', ','])
        .filter_map(|word| word.parse().ok())
        .collect();
    let (acknowledged, read_back, lost, given_up) =
        (numbers[0], numbers[1], numbers[2], numbers[3]);
    assert!(acknowledged > 10, "{summary}");
    assert_eq!(
        (read_back, lost, given_up),
        (acknowledged, 0, 0),
        "{summary}"
    );

    println!("{summary}");

    let unreachable = kefu()
        .args(["soak", "--seconds", "1", "--endpoint", "http://127.0.0.1:1"])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!unreachable.status.success());
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(stderr.contains("making the soak's customer"), "{stderr}");

    let unknown = kefu()
        .args(["soak", "--service-endpoint", "gadgets=http://127.0.0.1:1"])
        .output()
        .await
        .unwrap();
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("gadgets"), "{stderr}");
}
