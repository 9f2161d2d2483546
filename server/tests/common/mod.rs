//! A real server on a free port with a fresh database, and clients for it.

#![allow(dead_code)] // each test binary uses a different part of this

pub mod agent;
pub mod cluster;
pub mod docker;
pub mod load;
pub mod process;
pub mod watch;

use std::net::SocketAddr;

use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shoal_proto::auth::CreatedApiToken;
use shoal_proto::auth::Role;
use shoal_server::{config::Config, ctx::Ctx, ops, startup::Application};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub base: String,
    /// Where agents connect.
    pub agent_addr: SocketAddr,
    pub ctx: Ctx,
    pub data: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with settings changed from the test defaults.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(data.path().join("data"));
        configure(&mut config);
        let app = Application::build(config).await.expect("the server starts");
        let base = format!("http://{}", app.local_addr());
        let agent_addr = app.agent_addr();
        let ctx = app.context();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            agent_addr,
            ctx,
            data,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user directly in the store and returns its id.
    pub async fn user(&self, username: &str, role: Role) -> String {
        ops::users::insert(&self.ctx, username, PASSWORD.into(), role)
            .await
            .unwrap()
            .user
            .id
    }

    /// A client with its own cookie jar, logged in as `username`.
    pub async fn login(&self, username: &str) -> Client {
        login(&self.base, username).await
    }

    /// Logs in without a cookie jar and returns the `Cookie` header value
    /// of the new session, asserting the cookie's protections.
    pub async fn session_cookie(&self, username: &str) -> String {
        let response = Client::new()
            .post(self.url("/api/v1/session"))
            .json(&json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "login as {username}");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        set_cookie.split(';').next().unwrap().to_owned()
    }

    /// A bearer token of `role` created by `username` through the API.
    pub async fn token(&self, username: &str, role: Role) -> String {
        let client = self.login(username).await;
        let created: CreatedApiToken = created(
            client
                .post(self.url("/api/v1/tokens"))
                .json(&json!({ "name": format!("{role} token"), "role": role })),
        )
        .await;
        created.secret
    }

    /// The SQLite file, for assertions about what is stored.
    pub fn database_path(&self) -> std::path::PathBuf {
        self.data.path().join("data/shoal.db")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn cookie_client() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// A client with its own cookie jar, logged in as `username` on the server
/// at `base`.
pub async fn login(base: &str, username: &str) -> Client {
    let client = cookie_client();
    let response = client
        .post(format!("{base}/api/v1/session"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "login as {username}: {}",
        response.text().await.unwrap()
    );
    client
}

/// Sends a request that must create something (201), and reads what it made.
pub async fn created<T: DeserializeOwned>(request: RequestBuilder) -> T {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// The body of an API error, asserting its shape.
pub async fn error_of(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("errors are JSON");
    let code = body["error"]["code"].as_str().expect("error.code").to_owned();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned();
    (status, code, message)
}
