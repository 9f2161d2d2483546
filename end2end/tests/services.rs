//! A service's life in the console: created through the form (after one
//! refused field), shown with its tasks waiting for a node, scaled, changed,
//! compared with its earlier revision, and deleted.

use std::time::Duration;

use fantoccini::Locator;
use shoal_end2end::{AgentProcess, Browser, RemoveContainers, ServerProcess, containers_of};

const PASSWORD: &str = "browser test password";
#[tokio::test]
async fn a_service_is_created_scaled_changed_and_deleted_from_the_console() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;

    browser.click("#nav-services").await;
    browser
        .wait_for_path("/services")
        .await
        .unwrap_or_else(|seen| panic!("services page not shown ({seen})"));
    browser.wait_for_css("#services-empty").await;
    browser.click("#service-new").await;
    browser
        .wait_for_path("/services/new")
        .await
        .unwrap_or_else(|seen| panic!("new service form not shown ({seen})"));

    browser.fill("#service-name", "web").await;
    browser.fill("#service-image", "shoal-demo:v1").await;
    browser.fill("#service-replicas", "2").await;
    browser.click("#service-ports-add").await;
    browser.fill("#service-port-0-target", "8080").await;
    browser.fill("#service-port-0-published", "18080").await;
    browser.click("#service-environment-add").await;
    browser.fill("#service-env-0-key", "GREETING").await;
    browser.fill("#service-env-0-value", "hello world").await;
    browser.screenshot("service-form").await;
    // One `=` is not an operator: the form refuses it and says where.
    browser.fill("#service-constraints", "node.role=manager").await;
    browser.click("#service-submit").await;
    browser
        .wait_for_text_containing("#service-constraints-error", "constraints[0]")
        .await;
    let invalid = browser.wait_for_css("#service-constraints").await;
    assert_eq!(
        invalid.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    for (selector, typed) in [
        ("#service-name", "web"),
        ("#service-image", "shoal-demo:v1"),
        ("#service-replicas", "2"),
        ("#service-port-0-published", "18080"),
        ("#service-env-0-value", "hello world"),
        ("#service-constraints", "node.role=manager"),
    ] {
        assert_eq!(
            browser.value_of(selector).await,
            typed,
            "{selector} lost what was typed"
        );
    }
    browser.screenshot("service-form-error").await;
    browser.click("#service-advanced > summary").await;
    browser.scroll_to("service-advanced").await;
    browser.screenshot("service-form-advanced").await;

    browser.fill("#service-constraints", "node.role!=manager").await;
    browser.click("#service-submit").await;
    browser
        .wait_for_text("#service-title", "web")
        .await
        .unwrap_or_else(|seen| panic!("the new service's page did not open (saw {seen:?})"));
    assert!(browser.path().await.starts_with("/services/"));
    assert!(
        browser
            .eval("return document.getElementById('service-form')")
            .await
            .is_null()
    );

    // No node has joined: both tasks wait, and the page says why.
    browser
        .wait_for_text_containing(".task-group.unplaced .pending-reason", "no suitable node")
        .await;
    browser
        .wait_for_count(".task-group.unplaced tr[data-state='pending']", 2)
        .await;
    browser
        .wait_for_text("#service-revision", "revision 1")
        .await
        .unwrap_or_else(|seen| panic!("revision 1 not shown (saw {seen:?})"));
    browser.screenshot("service-page").await;

    browser.fill("#service-scale-replicas", "3").await;
    browser.click("#service-scale-submit").await;
    browser
        .wait_for_text("#service-revision", "revision 2")
        .await
        .unwrap_or_else(|seen| panic!("scaling did not make revision 2 (saw {seen:?})"));
    browser
        .wait_for_count(".task-group.unplaced tr[data-state='pending']", 3)
        .await;
    browser.wait_for_css("tbody[data-revision='1']").await;
    browser.click("tbody[data-revision='2'] .revision-diff").await;
    let changes = browser
        .wait_for_text_containing("tbody[data-revision='2'] .changes", "replicas")
        .await;
    assert!(changes.contains('2') && changes.contains('3'), "{changes}");
    browser.scroll_to("service-revisions").await;
    browser.screenshot("service-diff").await;
    browser.click("tbody[data-revision='2'] .revision-spec").await;
    browser
        .wait_for_text_containing("tbody[data-revision='2'] .spec-json", "\"replicas\": 3")
        .await;
    browser.screenshot("service-spec").await;

    // The edit form starts from the current spec and saves a new revision.
    browser.click("#service-edit").await;
    browser.wait_for_css("#service-form").await;
    assert_eq!(browser.value_of("#service-replicas").await, "3");
    assert_eq!(browser.value_of("#service-env-0-key").await, "GREETING");
    assert_eq!(
        browser.value_of("#service-constraints").await,
        "node.role!=manager"
    );
    browser.fill("#service-image", "shoal-demo:v2").await;
    browser.click("#service-submit").await;
    browser
        .wait_for_text("#service-revision", "revision 3")
        .await
        .unwrap_or_else(|seen| panic!("the edit did not make revision 3 (saw {seen:?})"));
    browser
        .wait_for_text("#service-current-image", "shoal-demo:v2")
        .await
        .unwrap_or_else(|seen| panic!("the new image is not shown (saw {seen:?})"));

    // The list follows; its row leads back to the page.
    browser.click("#nav-services").await;
    let row = browser
        .wait_for_text_containing("tr[data-service='web']", "shoal-demo:v2")
        .await;
    assert!(row.contains("0 / 3"), "{row}");
    browser.click("tr[data-service='web'] a").await;
    browser.wait_for_css("#service-title").await;

    browser.click(".service-delete").await;
    browser.click(".service-delete-confirm").await;
    browser
        .wait_for_path("/services")
        .await
        .unwrap_or_else(|seen| panic!("deleting did not return to the list ({seen})"));
    browser.wait_for_text_containing("main", "No service yet").await;
    browser.close().await;
}

#[tokio::test]
async fn a_service_created_in_the_console_runs_on_a_joined_node() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let _agent = AgentProcess::join(server.agent_addr(), &server.join_token("worker"), "e2e-runner");
    let _cleanup = RemoveContainers("e2e-hello");
    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    browser.click("#nav-services").await;
    browser.wait_for_css("#service-new").await;
    browser.click("#service-new").await;
    browser.wait_for_css("#service-form").await;
    browser.fill("#service-name", "e2e-hello").await;
    browser.fill("#service-image", "shoal-demo:v1").await;
    browser.fill("#service-replicas", "2").await;
    browser.click("#service-submit").await;
    browser
        .wait_for_text("#service-title", "e2e-hello")
        .await
        .unwrap_or_else(|seen| panic!("the new service's page did not open (saw {seen:?})"));
    // The node's agent starts both containers; the page shows them running
    // under the node's name without a reload.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let running = browser
            .client()
            .find_all(Locator::Css("tr[data-state='running']"))
            .await
            .map_or(0, |found| found.len());
        if running == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{running} of 2 tasks running; server log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .wait_for_text_containing("#service-tasks", "e2e-runner")
        .await;
    browser.screenshot("service-running").await;

    // Deleting the service removes its containers.
    browser.click(".service-delete").await;
    browser.click(".service-delete-confirm").await;
    browser
        .wait_for_path("/services")
        .await
        .unwrap_or_else(|seen| panic!("back to the list after delete ({seen})"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !containers_of("e2e-hello").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service's containers stayed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.close().await;
}
