//! The nodes page follows the cluster live: a node that stops answering
//! turns `down` on screen without a reload.

use shoal_end2end::{AgentProcess, Browser, ServerProcess};

const PASSWORD: &str = "browser test password";

#[tokio::test]
async fn a_node_going_down_shows_live_without_a_reload() {
    let server = ServerProcess::start_with(&["--heartbeat-interval", "1s", "--heartbeat-misses", "2"]);
    server.create_admin("ada", PASSWORD);
    let mut agent = AgentProcess::join(server.agent_addr(), &server.join_token("worker"), "e2e-node");

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
