//! The whole access matrix: every REST route and every server function,
//! called by every kind of caller, is allowed or refused as its access rule
//! says. Both tables come from the server itself, so a new route or server
//! function is in this test the moment it exists.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use reqwest::{Client, Method, StatusCode};
use serde_json::json;
use shoal_proto::auth::Role;
use shoal_server::{
    auth::Access,
    http::{api, rpc},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Allowed,
    Unauthenticated,
    Forbidden,
}

struct Caller {
    name: String,
    /// A fixed `Cookie` header: the client keeps no cookie jar, so a login
    /// made during the walk cannot change who this caller is.
    cookie: Option<String>,
    bearer: Option<String>,
    /// What this caller's credentials are worth: None for no (valid) login.
    role: Option<Role>,
    /// A broken bearer credential is refused even on public routes.
    broken_bearer: bool,
    /// Whose session to restore after a call that logs it out.
    relogin_as: Option<String>,
}

impl Caller {
    fn expect(&self, access: Access) -> Expect {
        if self.broken_bearer {
            return Expect::Unauthenticated;
        }
        match (access, self.role) {
            (Access::Public, _) => Expect::Allowed,
            (Access::Min(_), None) => Expect::Unauthenticated,
            (Access::Min(needed), Some(role)) if role >= needed => Expect::Allowed,
            (Access::Min(_), Some(_)) => Expect::Forbidden,
        }
    }

    fn request(&self, method: Method, url: String) -> reqwest::RequestBuilder {
        let mut request = Client::new().request(method, url);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        request
    }
}

fn outcome(status: StatusCode) -> Expect {
    match status {
        StatusCode::UNAUTHORIZED => Expect::Unauthenticated,
        StatusCode::FORBIDDEN => Expect::Forbidden,
        _ => Expect::Allowed,
    }
}

async fn callers(server: &TestServer) -> Vec<Caller> {
    for (name, role) in [
        ("viewer", Role::Viewer),
        ("operator", Role::Operator),
        ("admin", Role::Admin),
    ] {
        server.user(name, role).await;
    }
    server.user("matrix-login", Role::Viewer).await;
    let mut callers = vec![Caller {
        name: "anonymous".into(),
        cookie: None,
        bearer: None,
        role: None,
        broken_bearer: false,
        relogin_as: None,
    }];
    for (name, role) in [
        ("viewer", Role::Viewer),
        ("operator", Role::Operator),
        ("admin", Role::Admin),
    ] {
        callers.push(Caller {
            name: format!("{name} session"),
            cookie: Some(server.session_cookie(name).await),
            bearer: None,
            role: Some(role),
            broken_bearer: false,
            relogin_as: Some(name.into()),
        });
        callers.push(Caller {
            name: format!("{name} API token"),
            cookie: None,
            bearer: Some(server.token(name, role).await),
            role: Some(role),
            broken_bearer: false,
            relogin_as: None,
        });
    }

    // A user logged in, then disabled by an admin: the session is worth nothing.
    let disabled_id = server.user("disabled", Role::Operator).await;
    let disabled = server.session_cookie("disabled").await;
    let admin = server.login("admin").await;
    let response = admin
        .patch(server.url(&format!("/api/v1/users/{disabled_id}")))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    callers.push(Caller {
        name: "disabled user's session".into(),
        cookie: Some(disabled),
        bearer: None,
        role: None,
        broken_bearer: false,
        relogin_as: None,
    });

    // An admin token past its expiry.
    let expired = server.token("admin", Role::Admin).await;
    let token_id = expired
        .strip_prefix("shoal_")
        .unwrap()
        .split('_')
        .next()
        .unwrap()
        .to_owned();
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.database_path().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE id = $1")
        .bind(&token_id)
        .execute(&db)
        .await
        .unwrap();
    callers.push(Caller {
        name: "expired admin token".into(),
        cookie: None,
        bearer: Some(expired),
        role: None,
        broken_bearer: true,
        relogin_as: None,
    });
    callers
}

#[tokio::test]
async fn every_route_and_server_function_enforces_its_access_rule() {
    let server = TestServer::start().await;
    let mut callers = callers(&server).await;
    let mut failures = Vec::new();
    let mut checked = 0;

    for route in api::table() {
        let method: Method = route.method.parse().unwrap();
        let path = route.path.replace("{id}", "0123456789abcdef01234567");
        for caller in &mut callers {
            let mut request = caller.request(method.clone(), server.url(&path));
            if method == Method::POST || method == Method::PATCH {
                // A valid login, so a public login is not mistaken for a refusal;
                // other bodies only matter after the access check.
                request = request.json(&json!({ "username": "matrix-login", "password": common::PASSWORD }));
            }
            let status = request.send().await.unwrap().status();
            let (got, want) = (outcome(status), caller.expect(route.access));
            if got != want {
                failures.push(format!(
                    "{} {} as {}: got {status}, want {want:?}",
                    route.method, path, caller.name
                ));
            }
            checked += 1;
            restore_session(&server, caller).await;
        }
    }

    for (path, access) in rpc::ACCESS {
        for caller in &mut callers {
            let body = if path.contains("login") {
                format!(
                    "username=matrix-login&password={}",
                    common::PASSWORD.replace(' ', "+")
                )
            } else {
                String::new()
            };
            let status = caller
                .request(Method::POST, server.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status();
            let (got, want) = (outcome(status), caller.expect(*access));
            if got != want {
                failures.push(format!(
                    "server fn {path} as {}: got {status}, want {want:?}",
                    caller.name
                ));
            }
            checked += 1;
            restore_session(&server, caller).await;
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {checked} calls broke the access matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= (api::table().len() + rpc::ACCESS.len()) * 9);
}

/// Logging in or out ends the session a caller's cookie names; log in again.
async fn restore_session(server: &TestServer, caller: &mut Caller) {
    if let Some(name) = &caller.relogin_as {
        caller.cookie = Some(server.session_cookie(name).await);
    }
}

#[test]
fn every_registered_server_function_has_an_access_rule() {
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    let ruled: BTreeSet<String> = rpc::ACCESS.iter().map(|(path, _)| (*path).to_owned()).collect();
    let missing: Vec<_> = registered.difference(&ruled).collect();
    assert!(
        missing.is_empty(),
        "server functions without an access rule: {missing:?}"
    );
    assert!(!registered.is_empty());
}

#[tokio::test]
async fn a_server_function_missing_from_the_table_is_refused() {
    let server = TestServer::start().await;
    let response = Client::new()
        .post(server.url("/rpc/not_a_function"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
