//! The nodes page follows the cluster live: a node that stops answering
//! turns `down` on screen without a reload.

use serde_json::{Value, json};
use shoal_end2end::{AgentProcess, Browser, ServerProcess};

const PASSWORD: &str = "browser test password";

async fn worker_join_token(base: &str) -> (String, String) {
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let response = client
        .post(format!("{base}/api/v1/session"))
        .json(&json!({ "username": "ada", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "login: {}", response.status());
    let tokens: Value = client
        .get(format!("{base}/api/v1/join-tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["worker"]["token"]
        .as_str()
        .expect("worker token")
        .to_owned();
    let address = tokens["server_address"]
        .as_str()
        .expect("server address")
        .to_owned();
    (token, address)
}

#[tokio::test]
async fn a_node_going_down_shows_live_without_a_reload() {
    let server = ServerProcess::start_with(&["--heartbeat-interval", "1s", "--heartbeat-misses", "2"]);
    server.create_admin("ada", PASSWORD);
    let (token, address) = worker_join_token(server.url()).await;
    let mut agent = AgentProcess::join(&address, &token, "e2e-node");

    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    browser.click("#nav-nodes").await;
    browser
        .wait_for_path("/nodes")
        .await
        .unwrap_or_else(|seen| panic!("nodes page not shown ({seen})"));
    let ready = "tr[data-node='e2e-node'][data-status='ready']";
    browser.wait_for_css(ready).await;
    browser.wait_for_css("#join-command-worker").await;
    browser.screenshot("nodes-ready").await;

    // An operator-level change from the console: add a label.
    browser
        .fill("tr[data-node='e2e-node'] .label-input", "zone=a")
        .await;
    browser.click("tr[data-node='e2e-node'] .label-add-button").await;
    let chip = browser.wait_for_css("tr[data-node='e2e-node'] .label-chip").await;
    assert!(chip.text().await.unwrap().contains("zone=a"));

    browser.eval("window.__shoalMarker = 'still here'").await;
    agent.kill();
    let down = "tr[data-node='e2e-node'][data-status='down']";
    browser.wait_for_css(down).await;
    let marker = browser.eval("return window.__shoalMarker ?? null").await;
    assert_eq!(marker, "still here", "the page reloaded instead of updating live");
    browser.screenshot("nodes-down").await;
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
    browser.close().await;
}
