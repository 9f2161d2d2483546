//! The console in a real browser, against the release build.

use shoal_end2end::{Browser, ServerProcess};

const PASSWORD: &str = "browser test password";

#[tokio::test]
async fn console_hydrates_and_reacts_without_a_reload() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    browser.goto(&format!("{}/", server.url())).await;
    browser.wait_hydrated().await;

    // A marker on `window` survives client-side updates but not a reload.
    browser.eval("window.__shoalMarker = 'still here'").await;

    browser.click("#refresh-status").await;
    browser
        .wait_for_text("#refresh-count", "Refreshed once.")
        .await
        .unwrap_or_else(|seen| panic!("the refresh count never changed (saw {seen:?})"));
    browser
        .wait_for_text("#server-version", env!("CARGO_PKG_VERSION"))
        .await
        .unwrap_or_else(|seen| panic!("the server status did not load (saw {seen:?})"));

    browser.click("#nav-toggle").await;
    let collapsed = browser
        .eval("return document.querySelector('.app').classList.contains('nav-collapsed')")
        .await;
    assert_eq!(collapsed, true, "the navigation toggle did nothing");

    let marker = browser.eval("return window.__shoalMarker ?? null").await;
    assert_eq!(
        marker, "still here",
        "the page reloaded instead of updating in place"
    );

    browser.click("#nav-toggle").await;
    // Static assets from public/ are served from the site root.
    let favicon = browser
        .eval("return fetch('/favicon.svg').then(r => r.status)")
        .await;
    assert_eq!(favicon, 200, "the favicon from public/ is served");
    let shot = browser.screenshot("dashboard").await;
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 0).unwrap_or(false));
    browser.close().await;
}

#[tokio::test]
async fn unknown_console_page_says_not_found_after_hydration() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    browser.goto(&format!("{}/no/such/page", server.url())).await;
    browser.wait_hydrated().await;
    browser
        .wait_for_text("h1", "Page not found")
        .await
        .unwrap_or_else(|seen| panic!("expected the not-found page, saw {seen:?}"));
    browser.click(".content a[href='/']").await;
    browser
        .wait_for_text("h1", "Dashboard")
        .await
        .unwrap_or_else(|seen| panic!("the link back did not navigate (saw {seen:?})"));
    browser.close().await;
}
