//! Logins, sessions, tokens and their protections, through the REST API.

mod common;

use common::{PASSWORD, TestServer, cookie_client, error_of};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_proto::auth::Role;

async fn me_status(server: &TestServer, cookie: &str) -> StatusCode {
    Client::new()
        .get(server.url("/api/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_session_id_changes_at_login_and_the_old_one_dies() {
    let server = TestServer::start().await;
    server.user("alice", Role::Viewer).await;
    let first = server.session_cookie("alice").await;
    assert_eq!(me_status(&server, &first).await, StatusCode::OK);

    // Logging in again from the same browser must not keep the old id.
    let response = Client::new()
        .post(server.url("/api/v1/session"))
        .header("cookie", &first)
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let second = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(me_status(&server, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&server, &second).await, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let server = TestServer::start().await;
    server.user("alice", Role::Viewer).await;
    let cookie = server.session_cookie("alice").await;
    let response = Client::new()
        .delete(server.url("/api/v1/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // A copy of the cookie kept by an attacker is worth nothing now.
    assert_eq!(me_status(&server, &cookie).await, StatusCode::UNAUTHORIZED);
}

/// Opens the event stream with `auth` and returns a task that reads it to
/// its end and reports how long that took.
async fn stream_end(
    server: &TestServer,
    auth: (&'static str, String),
) -> tokio::task::JoinHandle<std::time::Duration> {
    let mut response = Client::new()
        .get(server.url("/api/v1/events"))
        .header(auth.0, auth.1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::spawn(async move {
        let opened = std::time::Instant::now();
        while let Ok(Some(_)) = response.chunk().await {}
        opened.elapsed()
    })
}

#[tokio::test]
async fn the_event_stream_ends_within_seconds_of_logout_a_disable_or_a_revoked_token() {
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    let admin = server.login("root").await;
    let limit = std::time::Duration::from_secs(10);
    // A caller who still stands keeps listening throughout.
    let kept = stream_end(&server, ("cookie", server.session_cookie("root").await)).await;

    server.user("alice", Role::Viewer).await;
    let cookie = server.session_cookie("alice").await;
    let ended = stream_end(&server, ("cookie", cookie.clone())).await;
    Client::new()
        .delete(server.url("/api/v1/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let took = tokio::time::timeout(limit, ended)
        .await
        .expect("the stream ends after logout");
    assert!(took.unwrap() < limit);

    let bob = server.user("bob", Role::Operator).await;
    let cookie = server.session_cookie("bob").await;
    let ended = stream_end(&server, ("cookie", cookie)).await;
    admin
        .patch(server.url(&format!("/api/v1/users/{bob}")))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    tokio::time::timeout(limit, ended)
        .await
        .expect("the stream ends after a disable")
        .unwrap();

    let created: Value = admin
        .post(server.url("/api/v1/tokens"))
        .json(&json!({ "name": "watcher", "role": "viewer" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let ended = stream_end(&server, ("authorization", format!("Bearer {secret}"))).await;
    let id = created["token"]["id"].as_str().unwrap();
    let revoked = admin
        .delete(server.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    tokio::time::timeout(limit, ended)
        .await
        .expect("the stream ends after a revoke")
        .unwrap();

    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(
        !kept.is_finished(),
        "the admin's stream was ended though nothing changed for them"
    );
}

#[tokio::test]
async fn sessions_of_disabled_deleted_or_reset_users_end_at_once() {
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    let admin = server.login("root").await;
    for change in ["disable", "reset", "delete"] {
        let id = server.user(&format!("victim-{change}"), Role::Operator).await;
        let cookie = server.session_cookie(&format!("victim-{change}")).await;
        assert_eq!(me_status(&server, &cookie).await, StatusCode::OK);
        let url = server.url(&format!("/api/v1/users/{id}"));
        let response = match change {
            "disable" => admin.patch(url).json(&json!({ "disabled": true })).send().await,
            "reset" => {
                admin
                    .patch(url)
                    .json(&json!({ "password": "a brand new password" }))
                    .send()
                    .await
            }
            _ => admin.delete(url).send().await,
        }
        .unwrap();
        assert!(response.status().is_success(), "{change}: {}", response.status());
        assert_eq!(
            me_status(&server, &cookie).await,
            StatusCode::UNAUTHORIZED,
            "after {change}"
        );
    }
}

/// Starts a server on `config`, logs a new viewer "alice" in, stops the
/// server, and returns her session's `Cookie` header value.
async fn log_in_then_stop(config: shoal_server::config::Config) -> String {
    let app = shoal_server::startup::Application::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    shoal_server::ops::users::insert(&app.context(), "alice", PASSWORD.into(), Role::Viewer)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let response = Client::new()
        .post(format!("{base}/api/v1/session"))
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    cookie
}

#[tokio::test]
async fn sessions_survive_a_server_restart() {
    let data = tempfile::tempdir().unwrap();
    let config = || shoal_server::config::Config::for_data_dir(data.path().to_path_buf());
    let cookie = log_in_then_stop(config()).await;

    let app = shoal_server::startup::Application::build(config()).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let response = Client::new()
        .get(format!("{base}/api/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_sessions_are_deleted_from_the_database() {
    let data = tempfile::tempdir().unwrap();
    let config = || shoal_server::config::Config::for_data_dir(data.path().to_path_buf());
    log_in_then_stop(config()).await;

    let database = data.path().join("shoal.db");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tower_sessions")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 1);
    sqlx::query("UPDATE tower_sessions SET expiry_date = '2000-01-01 00:00:00'")
        .execute(&db)
        .await
        .unwrap();

    let _restarted = shoal_server::startup::Application::build(config()).await.unwrap();
    assert_eq!(count().await, 0, "the expired session is gone");
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let server = TestServer::start().await;
    server.user("alice", Role::Admin).await;
    let cookie = server.session_cookie("alice").await;
    let client = Client::new();
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let response = client
            .post(server.url("/api/v1/users"))
            .header("cookie", &cookie)
            .header(header, value)
            .json(&json!({ "username": "mallory", "password": PASSWORD, "role": "admin" }))
            .send()
            .await
            .unwrap();
        let (status, code, message) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{header}"
        );
        assert!(message.contains("cross-site"), "{message}");
        // Server functions (form posts) get the same treatment.
        let response = client
            .post(server.url("/rpc/logout"))
            .header("cookie", &cookie)
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "server fn with {header}"
        );
    }
    let users: Vec<Value> = client
        .get(server.url("/api/v1/users"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        users.iter().all(|u| u["username"] != "mallory"),
        "nothing was created"
    );
    // The console itself (same origin) may.
    let response = client
        .post(server.url("/api/v1/users"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({ "username": "bob", "password": PASSWORD, "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn repeated_failures_slow_down_then_lock_the_account() {
    let server = TestServer::start().await;
    server.user("alice", Role::Viewer).await;
    let client = Client::new();
    let attempt = |password: &'static str| {
        client
            .post(server.url("/api/v1/session"))
            .json(&json!({ "username": "alice", "password": password }))
            .send()
    };
    for _ in 0..5 {
        let (status, code, _) = error_of(attempt("wrong password!").await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "bad_credentials")
        );
    }
    let response = attempt(PASSWORD).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(response.headers().contains_key("retry-after"));
    let (_, code, message) = error_of(response).await;
    assert_eq!(code, "throttled");
    assert!(
        message.contains("wait") && message.contains("before trying again"),
        "{message}"
    );

    // Every login from this address now waits too, so read the log directly.
    let query = shoal_proto::auth::AuditQuery {
        action: Some("session.".into()),
        ..Default::default()
    };
    let audit = server.ctx.store.audit_page(&query).await.unwrap();
    let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.iter().filter(|a| **a == "session.login_failed").count() >= 5,
        "{actions:?}"
    );
    assert!(actions.contains(&"session.login_refused"), "{actions:?}");
    assert!(!actions.contains(&"session.login"), "{actions:?}");
}

#[tokio::test]
async fn a_burst_of_wrong_logins_reaches_the_password_check_no_more_than_the_throttle_allows() {
    let server = TestServer::start().await;
    server.user("alice", Role::Viewer).await;
    let client = Client::new();
    let attempts = (0..100).map(|_| {
        client
            .post(server.url("/api/v1/session"))
            .json(&json!({ "username": "alice", "password": "wrong password!" }))
            .send()
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|response| response.unwrap().status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 100, "{statuses:?}");
    assert!(checked <= 5, "{checked} attempts reached the password check");

    let query = shoal_proto::auth::AuditQuery {
        action: Some("session.".into()),
        ..Default::default()
    };
    let audit = server.ctx.store.audit_page(&query).await.unwrap();
    let count = |action: &str| audit.entries.iter().filter(|e| e.action == action).count();
    assert_eq!(count("session.login_failed"), checked);
    assert!(
        count("session.login_refused") <= 2,
        "refusals are audited once a minute, not once each"
    );
}

#[tokio::test]
async fn an_oversized_username_is_refused_before_it_is_used() {
    let server = TestServer::start().await;
    let response = Client::new()
        .post(server.url("/api/v1/session"))
        .json(&json!({ "username": "a".repeat(60_000), "password": "whatever it is" }))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("at most 64"), "{message}");
    let audit = server
        .ctx
        .store
        .audit_page(&shoal_proto::auth::AuditQuery::default())
        .await
        .unwrap();
    assert!(
        audit.entries.iter().all(|e| !e.action.starts_with("session.")),
        "no audit row for it"
    );
}

#[tokio::test]
async fn ten_failures_lock_the_account_with_a_message_that_says_so() {
    let server = TestServer::start().await;
    server.user("alice", Role::Viewer).await;
    let throttle = &server.ctx.throttle;
    // Failures count per account and address (issue 14): this test's
    // requests come from loopback.
    let keys = vec!["user:alice@127.0.0.1".to_owned()];
    for _ in 0..10 {
        throttle.record_failure(&keys, std::time::Instant::now());
    }
    let response = Client::new()
        .post(server.url("/api/v1/session"))
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(message.contains("locked, try again in"), "{message}");
}

/// Ten wrong logins for `username` claiming to come from `address`.
async fn fail_ten_times(server: &TestServer, username: &str, address: &str) {
    for _ in 0..10 {
        Client::new()
            .post(server.url("/api/v1/session"))
            .header("x-forwarded-for", address)
            .json(&json!({ "username": username, "password": "wrong password!" }))
            .send()
            .await
            .unwrap();
    }
}

async fn login_status(server: &TestServer, username: &str, address: &str) -> StatusCode {
    Client::new()
        .post(server.url("/api/v1/session"))
        .header("x-forwarded-for", address)
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_an_attacker_cannot_lock_the_admin_out_from_elsewhere() {
    let server =
        TestServer::start_with(|config| config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    server.user("root", Role::Admin).await;
    fail_ten_times(&server, "root", "203.0.113.7").await;
    assert_eq!(
        login_status(&server, "root", "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's address is locked"
    );
    assert_eq!(
        login_status(&server, "root", "198.51.100.2").await,
        StatusCode::OK,
        "the admin, elsewhere, is not"
    );

    let audit = server
        .ctx
        .store
        .audit_page(&shoal_proto::auth::AuditQuery::default())
        .await
        .unwrap();
    assert!(
        audit
            .entries
            .iter()
            .any(|e| e.action == "session.login_failed" && e.source.as_deref() == Some("203.0.113.7")),
        "the audit log names the address the proxy saw"
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    fail_ten_times(&server, "root", "203.0.113.7").await;
    assert_eq!(
        login_status(&server, "root", "198.51.100.2").await,
        StatusCode::TOO_MANY_REQUESTS,
        "without --trusted-proxy every request comes from loopback, whatever it claims"
    );
}

#[tokio::test]
async fn a_token_is_shown_once_stored_hashed_and_bounded_by_its_role() {
    let server = TestServer::start().await;
    server.user("olivia", Role::Operator).await;
    let client = server.login("olivia").await;
    let response = client
        .post(server.url("/api/v1/tokens"))
        .json(&json!({ "name": "ci", "role": "admin" }))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token above its creator's role");
    assert!(message.contains("operator or lower"), "{message}");

    let created: Value = client
        .post(server.url("/api/v1/tokens"))
        .json(&json!({ "name": "ci", "role": "viewer", "expires_in_days": 30 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("shoal_"));
    let listed = client
        .get(server.url("/api/v1/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&secret) && !listed.contains("secret"),
        "{listed}"
    );

    let raw = secret.rsplit('_').next().unwrap();
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.database_path().display()))
        .await
        .unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM api_tokens")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains(raw) && stored[0].len() == 64,
        "stored as a SHA-256 digest"
    );

    let me: Value = Client::new()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["role"].as_str(), me["via"].as_str()),
        (Some("viewer"), Some("api_token"))
    );
    let tokens: Value = client
        .get(server.url("/api/v1/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        tokens[0]["last_used_at"].is_i64(),
        "last use is recorded: {tokens}"
    );

    let id = created["token"]["id"].as_str().unwrap();
    let response = client
        .delete(server.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = Client::new()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked token stops working"
    );
}

#[tokio::test]
async fn a_token_cannot_make_a_token_that_outlives_it() {
    let server = TestServer::start().await;
    server.user("olivia", Role::Operator).await;
    let client = server.login("olivia").await;
    let created: Value = client
        .post(server.url("/api/v1/tokens"))
        .json(&json!({ "name": "ci", "role": "operator", "expires_in_days": 2 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let mint = |body: Value| {
        Client::new()
            .post(server.url("/api/v1/tokens"))
            .bearer_auth(&secret)
            .json(&body)
            .send()
    };

    for longer in [
        json!({ "name": "forever", "role": "viewer" }),
        json!({ "name": "week", "role": "viewer", "expires_in_days": 7 }),
    ] {
        let (status, code, message) = error_of(mint(longer.clone()).await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid"),
            "{longer}: {message}"
        );
        assert!(message.contains("outlives"), "{message}");
    }
    let shorter = mint(json!({ "name": "day", "role": "viewer", "expires_in_days": 1 }))
        .await
        .unwrap();
    assert_eq!(shorter.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_disabled_or_deleted() {
    let server = TestServer::start().await;
    let root = server.user("root", Role::Admin).await;
    let admin = server.login("root").await;
    let by_other_admin = {
        // Deleting needs another admin to do it (nobody deletes themselves).
        server.user("helper", Role::Admin).await;
        server.login("helper").await
    };
    // Two admins: demote the helper back so root is the last one.
    let helper_id: String = {
        let users: Vec<Value> = admin
            .get(server.url("/api/v1/users"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        users.iter().find(|u| u["username"] == "helper").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let response = admin
        .patch(server.url(&format!("/api/v1/users/{helper_id}")))
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let url = server.url(&format!("/api/v1/users/{root}"));
    for (what, response) in [
        (
            "demote",
            admin
                .patch(&url)
                .json(&json!({ "role": "operator" }))
                .send()
                .await
                .unwrap(),
        ),
        (
            "disable",
            admin
                .patch(&url)
                .json(&json!({ "disabled": true }))
                .send()
                .await
                .unwrap(),
        ),
    ] {
        let (status, code, message) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::CONFLICT, "conflict"),
            "{what}"
        );
        assert!(message.contains("last active admin"), "{what}: {message}");
    }
    // The demoted helper's session is a viewer's now and cannot delete.
    let response = by_other_admin.delete(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _, message) = error_of(admin.delete(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(message.contains("your own account"), "{message}");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_and_need_a_minimum_length() {
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    let admin = server.login("root").await;
    let response = admin
        .post(server.url("/api/v1/users"))
        .json(&json!({ "username": "shorty", "password": "short", "role": "viewer" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "password");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 12 characters")
    );

    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.database_path().display()))
        .await
        .unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'root'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
}

#[tokio::test]
async fn the_setup_link_makes_the_first_admin_once() {
    let server = TestServer::start().await;
    let token = shoal_server::ops::setup::issue_link_token(&server.ctx)
        .await
        .unwrap()
        .expect("no users yet");
    let client = cookie_client();
    let setup = |username: &'static str| {
        client
            .post(server.url("/rpc/setup_admin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "token={token}&username={username}&password={}",
                PASSWORD.replace(' ', "+")
            ))
            .send()
    };
    let _ = setup;
    let path = shoal_server::http::rpc::ACCESS
        .iter()
        .map(|(path, _)| *path)
        .find(|path| path.contains("setup_admin"))
        .unwrap();
    let body = |username: &str| {
        format!(
            "token={token}&username={username}&password={}",
            PASSWORD.replace(' ', "+")
        )
    };
    let first = client
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body("first"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK, "{}", first.text().await.unwrap());
    let me: Value = client
        .get(server.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["user"]["username"].as_str(), me["role"].as_str()),
        (Some("first"), Some("admin"))
    );

    let second = Client::new()
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body("second"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::FORBIDDEN);
    assert!(
        second
            .text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
    assert!(
        shoal_server::ops::setup::issue_link_token(&server.ctx)
            .await
            .unwrap()
            .is_none()
    );
}
