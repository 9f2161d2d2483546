//! The REST API as a logged-in user, for what a test sets up rather than
//! what it checks in the browser.

use std::time::Duration;

use serde_json::{Value, json};

/// A cookie session against a server's REST API. Every call asserts that
/// the server said yes, naming the path and the answer when it did not.
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// Logs in as `username` through `POST /api/v1/session`.
    pub async fn login(base: &str, username: &str, password: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("build an HTTP client");
        let response = client
            .post(format!("{base}/api/v1/session"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("log in as {username}: {e}"));
        assert!(response.status().is_success(), "login: {}", response.status());
        Self {
            client,
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::PUT, path, body).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// Polls `GET path` until `done` holds, failing after `within` with the
    /// last answer.
    pub async fn wait_for(
        &self,
        path: &str,
        what: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let value = self.get(path).await;
            if done(&value) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never; last {value:#}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
