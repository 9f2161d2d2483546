//! The HTTP surface of a real server on a free port with a fresh database.

mod common;

use common::TestServer;

#[tokio::test]
async fn healthz_reports_ok_with_a_working_database() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn unknown_api_paths_get_a_json_404() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/nothing-here"),
        (reqwest::Method::POST, "/api/v1/services/x/explode"),
        (reqwest::Method::GET, "/api"),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{method} {path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(path), "the message names the path: {message}");
    }
}

#[tokio::test]
async fn console_pages_render_on_the_server_and_send_visitors_to_login() {
    let server = TestServer::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A browser's page load (Accept: text/html) gets a real redirect.
    let response = client
        .get(format!("{}/users", server.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        302,
        "a protected page redirects before any byte of it is sent"
    );
    assert_eq!(response.headers()["location"], "/login?next=/users");

    let response = client.get(format!("{}/login", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Log in to Shoal"), "{html}");
    assert!(
        html.contains("/pkg/shoal.js"),
        "the page loads the hydration bundle"
    );
    assert!(
        html.contains("id=\"login-username\""),
        "the form works before the wasm loads"
    );

    let response = client
        .get(format!("{}/no/such/page", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_data_directory_the_database_and_the_ca_key_are_private_to_the_server() {
    use std::os::unix::fs::PermissionsExt;

    let server = TestServer::start().await;
    let database = server.database_path();
    let data_dir = database.parent().unwrap().to_owned();
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700, "{}", data_dir.display());
    assert_eq!(mode(&database), 0o600, "{}", database.display());
    let wal = database.with_extension("db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "SQLite gives its WAL the database's mode");
    }
    let keys: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "key"))
        .collect();
    assert!(!keys.is_empty(), "the CA key is in the data directory");
    for key in keys {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
    }
}

#[tokio::test]
async fn no_site_may_frame_the_console() {
    let server = TestServer::start().await;
    for path in ["/", "/login", "/healthz", "/api/v1/nodes"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.ends_with("frame-ancestors 'none'"), "{path}: {policy}");
    }
}

/// The nonce a page's policy allows inline scripts with.
fn script_nonce(policy: &str) -> &str {
    let start = policy.find("'nonce-").expect("a nonce in the policy") + "'nonce-".len();
    let end = policy[start..].find('\'').unwrap();
    &policy[start..start + end]
}

#[tokio::test]
async fn a_page_runs_only_scripts_its_policy_allows_and_each_response_has_its_own_nonce() {
    let server = TestServer::start().await;
    let mut nonces = Vec::new();
    for path in ["/login", "/login", "/setup"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("script-src 'self' 'nonce-"), "{policy}");
        assert!(policy.contains("default-src 'self'"), "{policy}");
        let nonce = script_nonce(&policy).to_owned();
        let page = response.text().await.unwrap();
        let scripts: Vec<&str> = page.match_indices("<script").map(|(at, _)| &page[at..]).collect();
        assert!(!scripts.is_empty(), "{path} has its hydration script");
        for script in scripts {
            let tag = &script[..script.find('>').unwrap()];
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: a script the policy would block: {tag}"
            );
        }
        nonces.push(nonce);
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "a nonce is never reused: {nonces:?}");
}

#[tokio::test]
async fn a_query_string_never_reaches_the_log_even_at_trace_level() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // For the whole test binary: the server logs from its runtime's threads.
    // No other test here reads the log.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = TestServer::start().await;
    let secret = "c0ffee0ddba11deadbeef";
    for path in [
        format!("/setup?token={secret}"),
        format!("/api/v1/nodes?token={secret}"),
    ] {
        reqwest::get(server.url(&path)).await.unwrap();
    }
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("/setup"), "the request was logged: {log}");
    assert!(!log.contains(secret), "{log}");
}
