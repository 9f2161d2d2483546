//! Logging in and out in a real browser, against the release build.

use shoal_end2end::{Browser, ServerProcess};

const PASSWORD: &str = "browser test password";

#[tokio::test]
async fn login_dashboard_logout_and_protected_pages() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let browser = Browser::start().await;

    // A protected page sends an anonymous visitor to the login page.
    browser.goto(&format!("{}/users", server.url())).await;
    browser
        .wait_for_path("/login")
        .await
        .unwrap_or_else(|seen| panic!("not sent to /login (at {seen})"));
    browser.wait_hydrated().await;
    let shot = browser.screenshot("login").await;
    assert!(shot.is_file());

    browser.login(server.url(), "ada", PASSWORD).await;
    browser.click("#nav-dashboard").await;
    browser
        .wait_for_text("#server-version", env!("CARGO_PKG_VERSION"))
        .await
        .unwrap_or_else(|seen| panic!("the dashboard did not load for a logged-in admin (saw {seen:?})"));
    browser.click("#nav-users").await;
    browser
        .wait_for_path("/users")
        .await
        .unwrap_or_else(|seen| panic!("users page not shown (at {seen})"));
    browser.wait_for_css("table").await;
    browser.screenshot("users").await;

    browser.click("#logout-button").await;
    browser
        .wait_for_path("/login")
        .await
        .unwrap_or_else(|seen| panic!("logout did not end at /login ({seen})"));

    // The session is gone on the server too: the dashboard is closed again.
    browser.goto(&format!("{}/", server.url())).await;
    browser
        .wait_for_path("/login")
        .await
        .unwrap_or_else(|seen| panic!("dashboard open after logout ({seen})"));
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_a_message() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let browser = Browser::start().await;
    browser.goto(&format!("{}/login", server.url())).await;
    browser.wait_hydrated().await;
    browser.fill("#login-username", "ada").await;
    browser.fill("#login-password", "not the password").await;
    browser.click("#login-submit").await;
    let error = browser.wait_for_css(".form-error").await;
    let text = error.text().await.unwrap();
    assert!(text.contains("wrong username or password"), "{text}");
    assert_eq!(browser.path().await, "/login");
    browser.close().await;
}
