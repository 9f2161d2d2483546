//! A rolling update started from the console and followed on screen: the
//! service page's rollout panel moves to completion without a reload, a
//! rollback to the first revision starts from the history, and the cluster
//! view shows both revisions side by side while it runs.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use shoal_end2end::{AgentProcess, Api, Browser, RemoveContainers, ServerProcess};

const PASSWORD: &str = "browser test password";
/// A rollout of three slots waits for each new task's health check (every
/// 2 s in the demo images) and a 1 s monitor window.
const ROLLOUT_WAIT: Duration = Duration::from_secs(120);

/// Polls the text of `selector` until `done` holds; returns every distinct
/// text seen, in order, so a test can tell it moved.
async fn watch_text(browser: &Browser, selector: &str, done: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + ROLLOUT_WAIT;
    let mut seen: Vec<String> = Vec::new();
    loop {
        if let Ok(element) = browser.client().find(Locator::Css(selector)).await {
            let text = element.text().await.unwrap_or_default();
            if seen.last() != Some(&text) {
                seen.push(text.clone());
            }
            if done(&text) {
                return seen;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{selector}: never done; saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The revisions of the task boxes the cluster view shows for `service`.
async fn box_revisions(browser: &Browser, service: &str) -> Vec<String> {
    let boxes = browser
        .client()
        .find_all(Locator::Css(&format!(".task-box[data-service='{service}']")))
        .await
        .unwrap_or_default();
    let mut revisions = Vec::new();
    for task_box in boxes {
        revisions.push(
            task_box
                .attr("data-revision")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
    }
    revisions.sort();
    revisions
}

#[tokio::test]
async fn a_rollout_started_in_the_console_is_followed_live_to_completion() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let api = Api::login(server.url(), "ada", PASSWORD).await;
    let _agent = AgentProcess::join(server.agent_addr(), &server.join_token("worker"), "e2e-rollouts");
    let _cleanup = RemoveContainers("e2e-rolling");
    let service = api
        .post(
            "/api/v1/services",
            json!({
                "name": "e2e-rolling",
                "image": "shoal-demo:v1",
                "replicas": 3,
                "stop_grace_period": "1s",
                "update_config": { "parallelism": 1, "monitor": "1s" },
            }),
        )
        .await;
    let id = service["id"].as_str().expect("service id").to_owned();
    let service_path = format!("/api/v1/services/{id}");
    api.wait_for(&service_path, "three tasks running", ROLLOUT_WAIT, |service| {
        service["tasks"]["running"] == 3
    })
    .await;

    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    browser.goto(&format!("{}/services/{id}", server.url())).await;
    browser.wait_hydrated().await;
    browser.click("#service-edit").await;
    browser.wait_for_css("#service-form").await;
    browser.fill("#service-image", "shoal-demo:v2").await;
    browser.click("#service-submit").await;
    browser
        .wait_for_text("#service-revision", "revision 2")
        .await
        .unwrap_or_else(|seen| panic!("saving did not make revision 2 (saw {seen:?})"));
    browser.eval("window.__shoalMarker = 'still here'").await;

    // Screenshot once a slot is done and the next is in flight.
    let partway = watch_text(&browser, "#rollout-progress", |text| {
        text.starts_with('1') || text.starts_with('2')
    })
    .await;
    browser.wait_for_css("#rollout-slots").await;
    browser.screenshot("rollout-service-page").await;
    let mut seen = watch_text(&browser, "#rollout-progress", |text| text == "3 / 3 updated").await;
    seen.splice(0..0, partway);
    seen.dedup();
    assert!(seen.len() >= 3, "the progress should move step by step: {seen:?}");
    browser
        .wait_for_text("#rollout-state", "completed")
        .await
        .unwrap_or_else(|seen| panic!("the rollout never showed completed (saw {seen:?})"));
    browser
        .wait_for_css("#service-rollout[data-state='completed']")
        .await;
    let marker = browser.eval("return window.__shoalMarker ?? null").await;
    assert_eq!(marker, "still here", "the page reloaded instead of updating live");
    browser.screenshot("rollout-completed").await;

    // Back to revision 1 from the history, then watched on the cluster view.
    browser.click("tbody[data-revision='1'] .revision-rollback").await;
    browser
        .click("tbody[data-revision='1'] .revision-rollback-confirm")
        .await;
    browser
        .wait_for_text("#service-revision", "revision 3")
        .await
        .unwrap_or_else(|seen| panic!("the rollback did not make revision 3 (saw {seen:?})"));
    browser.click("#nav-cluster").await;
    browser
        .wait_for_path("/cluster")
        .await
        .unwrap_or_else(|seen| panic!("cluster view not shown ({seen})"));
    browser
        .wait_for_css(".node-column[data-node='e2e-rollouts'] .task-box[data-service='e2e-rolling']")
        .await;
    let deadline = tokio::time::Instant::now() + ROLLOUT_WAIT;
    let mut mixed = false;
    loop {
        let revisions = box_revisions(&browser, "e2e-rolling").await;
        if !mixed && revisions.contains(&"2".to_owned()) && revisions.contains(&"3".to_owned()) {
            mixed = true;
            browser.wait_for_css(".task-box.outdated").await;
            browser.screenshot("rollout-cluster-mixed").await;
        }
        if revisions == ["3", "3", "3"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cluster view never showed the rollback through: {revisions:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(mixed, "the cluster view never showed revisions 2 and 3 together");
    browser.screenshot("rollout-cluster").await;

    // Coming back, the panel loads the rollback as it ended.
    browser.click("#nav-services").await;
    browser.click("tr[data-service='e2e-rolling'] a").await;
    browser.wait_for_css("#service-rollout").await;
    browser
        .wait_for_text("#rollout-state", "rollback_completed")
        .await
        .unwrap_or_else(|seen| panic!("the rollback's end is not shown (saw {seen:?})"));
    browser.wait_for_css("#rollout-timeline").await;
    browser.screenshot("rollout-rollback-completed").await;
    browser.close().await;
}
