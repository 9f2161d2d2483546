//! Hostile and careless input gets a 4xx that says what is wrong: never a
//! 500, never a panic, and nothing stored.

mod common;

use common::{TestServer, error_of};
use leptos::server_fn::ServerFn;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_app::rpc::Login;
use shoal_proto::auth::Role;

#[tokio::test]
async fn bad_bodies_are_refused_with_a_clear_message() {
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    let admin = server.login("root").await;
    let url = server.url("/api/v1/users");
    let huge = format!(
        "{{\"username\":\"{}\",\"password\":\"x\",\"role\":\"viewer\"}}",
        "a".repeat(200_000)
    );
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        ("empty body", admin.post(&url).header("content-type", "application/json"), "invalid JSON body"),
        ("no content type", admin.post(&url).body("{}"), "Content-Type: application/json"),
        ("malformed JSON", admin.post(&url).header("content-type", "application/json").body("{\"username\":"), "invalid JSON body"),
        (
            "unknown field",
            admin.post(&url).json(&json!({ "username": "eve", "password": "long enough password", "role": "viewer", "is_root": true })),
            "unknown field `is_root`",
        ),
        (
            "wrong type",
            admin.post(&url).json(&json!({ "username": 7, "password": "long enough password", "role": "viewer" })),
            // The error names the field, as validation errors do.
            "username: invalid type: integer `7`",
        ),
        (
            "unknown role",
            admin.post(&url).json(&json!({ "username": "eve", "password": "long enough password", "role": "root" })),
            "unknown variant `root`",
        ),
        (
            "SQL-looking username",
            admin.post(&url).json(&json!({ "username": "x'); DROP TABLE users; --", "password": "long enough password", "role": "viewer" })),
            "username",
        ),
        (
            "invalid UTF-8",
            admin.post(&url).header("content-type", "application/json").body(b"{\"username\":\"\xff\xfe\",\"password\":\"p\",\"role\":\"viewer\"}".to_vec()),
            "invalid JSON body",
        ),
        ("huge body", admin.post(&url).header("content-type", "application/json").body(huge), "too large"),
    ];
    for (name, request, expected) in cases {
        let response = request.send().await.unwrap();
        let (status, _, message) = error_of(response).await;
        assert!(status.is_client_error(), "{name}: {status}");
        assert!(
            message.contains(expected),
            "{name}: {message:?} does not mention {expected:?}"
        );
    }
    let users: Vec<Value> = admin.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(users.len(), 1, "nothing was stored: {users:?}");
}

#[tokio::test]
async fn bad_logins_and_queries_are_4xx_too() {
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    let client = Client::new();
    for body in [
        json!({ "username": "", "password": "" }),
        json!({ "username": "root' OR '1'='1", "password": "' OR '1'='1" }),
        json!({ "username": "root", "password": "x".repeat(5000) }),
    ] {
        let response = client
            .post(server.url("/api/v1/session"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{body}: {}",
            response.status()
        );
        assert!(response.json::<Value>().await.unwrap()["error"]["message"].is_string());
    }
    let admin = server.login("root").await;
    for query in [
        "limit=-1",
        "since=yesterday",
        "bogus=1",
        "since=10&until=5",
        "actor=%27%20OR%201%3D1%20--",
    ] {
        let response = admin
            .get(server.url(&format!("/api/v1/audit?{query}")))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "{query}: {status}"
        );
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    let response = admin
        .get(server.url("/api/v1/audit?since=10&until=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_audit_log_records_who_did_what_and_filters() {
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    let admin = server.login("root").await;
    let created: Value = admin
        .post(server.url("/api/v1/users"))
        .json(&json!({ "username": "dana", "password": "long enough password", "role": "viewer" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page: Value = admin
        .get(server.url("/api/v1/audit?action=user.create"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = &page["entries"][0];
    assert_eq!(entry["actor_kind"], "user");
    assert_eq!(entry["actor_name"], "root");
    assert_eq!(entry["source"], "127.0.0.1");
    assert_eq!(entry["target"], created["id"]);
    assert_eq!(entry["detail"]["username"], "dana");
    let by_actor: Value = admin
        .get(server.url("/api/v1/audit?actor=nobody"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_actor["entries"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_server_function_body_over_64_kib_is_refused_with_413_declared_or_streamed() {
    let server = TestServer::start().await;
    let url = server.url(Login::PATH);
    let big = format!("username=admin&password={}", "x".repeat(1 << 20));
    let client = Client::new();

    let declared = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(declared.text().await.unwrap().contains("64 KiB"));

    // Without a Content-Length (chunked): read up to the limit, then refused.
    let status = chunked_post(&server, Login::PATH, big.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    // A login of ordinary size still reaches the server function.
    let ordinary = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=nobody&password=wrong-password-here")
        .send()
        .await
        .unwrap();
    assert_ne!(ordinary.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!ordinary.status().is_server_error(), "{}", ordinary.status());
}

/// POSTs `body` in 16 KiB chunks with no Content-Length; the status line.
async fn chunked_post(server: &TestServer, path: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let address = server.base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(16 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and close before it has read everything.
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).await.unwrap();
    status
}
