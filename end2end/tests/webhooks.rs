//! A webhook's life in the console: created on its service's page (after
//! one refused field), its secrets shown once and its CI step run as CI
//! would run it, its deliveries listed with their outcomes, its secrets
//! rotated, disabled and deleted.

use std::{process::Command, time::Duration};

use serde_json::json;
use shoal_end2end::{Api, Browser, ServerProcess};

const PASSWORD: &str = "browser test password";
const WAIT: Duration = Duration::from_secs(20);

/// A service to hang webhooks on. No replicas, so no node is needed.
async fn create_service(api: &Api) -> String {
    let service = api
        .post(
            "/api/v1/services",
            json!({ "name": "e2e-hooked", "image": "shoal-demo:v1", "replicas": 0 }),
        )
        .await;
    service["id"].as_str().expect("service id").to_owned()
}

/// What the secret box showed.
struct Shown {
    url: String,
    secret: String,
    signing_secret: String,
    ci_step: String,
}

async fn read_secrets(browser: &Browser) -> Shown {
    browser.wait_for_css("#webhook-created").await;
    Shown {
        url: browser.value_of("#webhook-url").await,
        secret: browser.value_of("#webhook-secret").await,
        signing_secret: browser.value_of("#webhook-signing-secret").await,
        ci_step: browser.value_of("#webhook-curl").await,
    }
}

/// Runs the page's CI step with the secrets in the environment, as a CI
/// job stores them; returns whether curl succeeded and what it printed.
fn run_ci_step(shown: &Shown, secret: &str, signing_secret: &str, tag: &str) -> (bool, String) {
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &shown.ci_step])
        .env("SHOAL_WEBHOOK_SECRET", secret)
        .env("SHOAL_WEBHOOK_SIGNING_SECRET", signing_secret)
        .env("TAG", tag)
        .output()
        .expect("run bash");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test]
async fn a_webhook_is_created_delivered_to_rotated_disabled_and_deleted_from_the_console() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let api = Api::login(server.url(), "ada", PASSWORD).await;
    let id = create_service(&api).await;
    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    browser.goto(&format!("{}/services/{id}", server.url())).await;
    browser.wait_hydrated().await;
    browser.wait_for_css("#webhooks-empty").await;
    // Once the service has loaded, the pattern field shows the default.
    let deadline = tokio::time::Instant::now() + WAIT;
    while browser.prop_of("#webhook-allow", "placeholder").await != "shoal-demo:*" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pattern's placeholder never showed the default"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A pattern for another repository could never deploy: refused at its
    // field, with everything typed kept.
    browser.fill("#webhook-name", "ci").await;
    browser.fill("#webhook-allow", "other-app:*").await;
    browser.click("#webhook-signed").await;
    browser.click("#webhook-submit").await;
    browser
        .wait_for_text_containing("#webhook-allow-error", "does not cover")
        .await;
    assert_eq!(browser.value_of("#webhook-name").await, "ci");
    assert_eq!(browser.value_of("#webhook-allow").await, "other-app:*");
    assert_eq!(browser.prop_of("#webhook-signed", "checked").await, "true");
    let invalid = browser.wait_for_css("#webhook-allow").await;
    assert_eq!(
        invalid.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    browser.scroll_to("service-webhooks").await;
    browser.screenshot("webhook-form-error").await;

    browser.fill("#webhook-allow", "shoal-demo:v*").await;
    browser.click("#webhook-submit").await;
    let shown = read_secrets(&browser).await;
    assert!(
        shown.url.starts_with(&format!("{}/hooks/", server.url())),
        "{}",
        shown.url
    );
    assert!(!shown.secret.is_empty() && !shown.signing_secret.is_empty());
    assert!(
        shown.ci_step.contains("openssl dgst -sha256 -hmac"),
        "{}",
        shown.ci_step
    );
    browser
        .wait_for_text_containing("#webhook-created", "will not be shown again")
        .await;
    browser
        .wait_for_text_containing("tbody[data-webhook='ci']", "shoal-demo:v*")
        .await;
    // The form is ready for the next one.
    assert_eq!(browser.value_of("#webhook-name").await, "");
    browser.scroll_to("service-webhooks").await;
    browser.screenshot("webhook-created").await;

    // The CI step from the page, signature and all: v1 is what runs.
    let (ok, printed) = run_ci_step(&shown, &shown.secret, &shown.signing_secret, "v1");
    assert!(ok && printed.contains("unchanged"), "the CI step: {printed}");
    // A wrong secret is refused.
    let refused = reqwest::Client::new()
        .post(&shown.url)
        .bearer_auth("not-the-secret")
        .json(&json!({ "tag": "v1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    browser.click("#webhook-done").await;
    browser.wait_until_gone("#webhook-created").await;
    browser
        .click("tbody[data-webhook='ci'] .webhook-deliveries")
        .await;
    let unchanged = browser
        .wait_for_text_containing("#deliveries-table tr[data-outcome='unchanged']", "200")
        .await;
    assert!(unchanged.contains("shoal-demo:v1"), "{unchanged}");
    // A request with a wrong secret is an error, not a delivery: guesses
    // must not push real deliveries out of the history (issue 14).
    browser.wait_for_count("#deliveries-table tbody tr", 1).await;
    let last = browser
        .wait_for_css("tbody[data-webhook='ci'] td.time")
        .await
        .text()
        .await
        .unwrap();
    assert!(last.ends_with("UTC"), "last delivery: {last:?}");
    browser.scroll_to("service-webhooks").await;
    browser.screenshot("webhook-deliveries").await;

    // New secrets: shown once more; the old ones stop working at once.
    browser.click("tbody[data-webhook='ci'] .webhook-rotate").await;
    browser
        .click("tbody[data-webhook='ci'] .webhook-rotate-confirm")
        .await;
    browser
        .wait_for_text_containing("#webhook-created", "the old ones no longer work")
        .await;
    let rotated = read_secrets(&browser).await;
    assert_ne!(rotated.secret, shown.secret);
    assert_eq!(rotated.url, shown.url);
    let (ok, printed) = run_ci_step(&rotated, &shown.secret, &shown.signing_secret, "v1");
    assert!(!ok && printed.contains("401"), "old secrets: {printed}");
    let (ok, printed) = run_ci_step(&rotated, &rotated.secret, &rotated.signing_secret, "v1");
    assert!(ok && printed.contains("unchanged"), "new secrets: {printed}");
    browser.click("#webhook-done").await;
    browser.click("#webhook-deliveries-refresh").await;
    browser.wait_for_count("#deliveries-table tbody tr", 2).await;

    browser.click("tbody[data-webhook='ci'] .webhook-toggle").await;
    browser
        .wait_for_css("tbody[data-webhook='ci'][data-enabled='false']")
        .await;
    browser
        .wait_for_text("tbody[data-webhook='ci'] .webhook-status", "disabled")
        .await
        .unwrap_or_else(|seen| panic!("the badge never said disabled (saw {seen:?})"));
    let (ok, printed) = run_ci_step(&rotated, &rotated.secret, &rotated.signing_secret, "v1");
    assert!(!ok && printed.contains("403"), "a disabled webhook: {printed}");
    browser.scroll_to("service-webhooks").await;
    browser.screenshot("webhook-disabled").await;

    browser.click("tbody[data-webhook='ci'] .webhook-delete").await;
    browser
        .click("tbody[data-webhook='ci'] .webhook-delete-confirm")
        .await;
    browser.wait_for_css("#webhooks-empty").await;
    let gone = reqwest::Client::new()
        .post(&shown.url)
        .bearer_auth(&rotated.secret)
        .json(&json!({ "tag": "v1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    browser.close().await;
}

#[tokio::test]
async fn a_viewer_sees_a_service_without_its_webhooks() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let api = Api::login(server.url(), "ada", PASSWORD).await;
    let id = create_service(&api).await;
    api.post(
        "/api/v1/users",
        json!({ "username": "vera", "password": PASSWORD, "role": "viewer" }),
    )
    .await;
    let browser = Browser::start().await;
    browser.login(server.url(), "vera", PASSWORD).await;
    browser.goto(&format!("{}/services/{id}", server.url())).await;
    browser.wait_hydrated().await;
    browser
        .wait_for_text("#service-title", "e2e-hooked")
        .await
        .unwrap_or_else(|seen| panic!("the service page did not open (saw {seen:?})"));
    browser.wait_for_css("#service-revisions").await;
    assert!(
        browser
            .eval("return document.getElementById('service-webhooks')")
            .await
            .is_null(),
        "a viewer was shown the webhooks"
    );
    browser.close().await;
}
