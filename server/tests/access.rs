//! The whole access matrix: every REST route, every server function, the
//! health check and the webhook receiver, called by every kind of caller,
//! is allowed or refused as its access rule says. Both tables come from the
//! server itself, so a new route or server function is in this test the
//! moment it exists. A permitted call must also work: a 5xx is a failure,
//! and so is a 404 for the objects the test made for the routes' `{id}`.
//! Last, API tokens belong to their user: no one else sees or revokes one.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{TestServer, created};
use leptos::server_fn::ServerFn;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use shoal_app::rpc::RevokeToken;
use shoal_proto::{
    auth::{ApiToken, CreatedApiToken, Role},
    network::Network,
    service::{Rollout, Service, Task},
    webhook::CreatedWebhook,
};
use shoal_server::{
    auth::Access,
    hooks::signature,
    http::{
        api::{self, ApiRoute},
        rpc,
    },
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

/// What is wrong with a call's status, if anything: the wrong refusal (or
/// none), or a permitted call that did not work. A 404 is such a failure
/// unless the object the call names cannot exist in this test.
fn broken(status: StatusCode, want: Expect, may_be_missing: bool) -> Option<String> {
    if outcome(status) != want {
        return Some(format!("got {status}, want {want:?}"));
    }
    if want != Expect::Allowed {
        return None;
    }
    if status.is_server_error() {
        return Some(format!("permitted, but it failed with {status}"));
    }
    (status == StatusCode::NOT_FOUND && !may_be_missing)
        .then(|| "permitted, but got 404 for an object that exists".to_owned())
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

/// Real objects for the routes' `{id}`, made by an admin, so that a
/// permitted call finds what it names.
struct Objects {
    admin: Client,
    user: String,
    service: Service,
    rollout: String,
    task: String,
    webhook: String,
    network: String,
    /// How many objects were made to be deleted, for unique names.
    made: usize,
}

impl Objects {
    async fn make(server: &TestServer) -> Self {
        let admin = server.login("admin").await;
        let user = server.user("matrix-target", Role::Viewer).await;
        let service: Service = created(admin.post(server.url("/api/v1/services")).json(&json!({
            "name": "matrix", "image": "shoal-demo:v1", "replicas": 1
        })))
        .await;
        // A second revision: a rollout, and something to roll back to.
        let response = admin
            .put(server.url("/api/v1/services/matrix"))
            .json(&json!({ "name": "matrix", "image": "shoal-demo:v2", "replicas": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let rollouts: Vec<Rollout> = admin
            .get(server.url("/api/v1/services/matrix/rollouts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let webhook: CreatedWebhook = created(
            admin
                .post(server.url("/api/v1/services/matrix/webhooks"))
                .json(&json!({ "name": "matrix" })),
        )
        .await;
        let network: Network = created(
            admin
                .post(server.url("/api/v1/networks"))
                .json(&json!({ "name": "matrix" })),
        )
        .await;
        Self {
            task: pending_task(server, &admin, &service.id).await,
            rollout: rollouts[0].id.clone(),
            webhook: webhook.webhook.id,
            network: network.id,
            admin,
            user,
            service,
            made: 0,
        }
    }

    /// What `route`'s `{id}` stands for when `caller` calls it, and whether
    /// a 404 is to be expected. A DELETE gets a new object for each call, so
    /// that no caller finds one that a caller before it deleted.
    async fn target(&mut self, server: &TestServer, route: &ApiRoute, caller: &Caller) -> (String, bool) {
        let path = route.path;
        if !path.contains("{id}") {
            return (path.to_owned(), false);
        }
        let fresh = if route.method == "DELETE" {
            self.doomed(server, path, caller).await
        } else {
            None
        };
        let (id, may_be_missing) = match (fresh, path.split('/').nth(3).unwrap()) {
            (Some(id), _) => (id, false),
            (None, "users") => (self.user.clone(), false),
            (None, "services") => (self.service.id.clone(), false),
            (None, "rollouts") => (self.rollout.clone(), false),
            (None, "tasks") => (self.task.clone(), false),
            (None, "webhooks") => (self.webhook.clone(), false),
            (None, "networks") => (self.network.clone(), false),
            (None, "join-tokens") => ("worker".to_owned(), false),
            // A node exists only once an agent has joined, and no agent
            // runs here: these routes may only say it does not exist.
            (None, "nodes") => ("0123456789abcdef01234567".to_owned(), true),
            (None, other) => panic!("the access test has no object for {path} ({other}): make one"),
        };
        (path.replace("{id}", &id), may_be_missing)
    }

    /// A new object for a DELETE of `path` to delete.
    async fn doomed(&mut self, server: &TestServer, path: &str, caller: &Caller) -> Option<String> {
        self.made += 1;
        let name = format!("doomed-{}", self.made);
        let id = match path {
            "/api/v1/users/{id}" => server.user(&name, Role::Viewer).await,
            "/api/v1/services/{id}" => {
                let service: Service = created(
                    self.admin
                        .post(server.url("/api/v1/services"))
                        .json(&json!({ "name": name, "image": "shoal-demo:v1", "replicas": 0 })),
                )
                .await;
                service.id
            }
            "/api/v1/networks/{id}" => {
                let network: Network = created(
                    self.admin
                        .post(server.url("/api/v1/networks"))
                        .json(&json!({ "name": name })),
                )
                .await;
                network.id
            }
            "/api/v1/webhooks/{id}" => {
                let webhook: CreatedWebhook = created(
                    self.admin
                        .post(server.url(&format!("/api/v1/services/{}/webhooks", self.service.id)))
                        .json(&json!({ "name": name })),
                )
                .await;
                webhook.webhook.id
            }
            // The caller's own token: the only kind anyone may revoke. A
            // caller without a valid login has none, and is refused before
            // it matters whose token it names.
            "/api/v1/tokens/{id}" => {
                let owner = if caller.role.is_some() {
                    caller.request(Method::POST, server.url("/api/v1/tokens"))
                } else {
                    self.admin.post(server.url("/api/v1/tokens"))
                };
                let token: CreatedApiToken =
                    created(owner.json(&json!({ "name": name, "role": "viewer" }))).await;
                token.token.id
            }
            _ => return None,
        };
        Some(id)
    }
}

/// The task the orchestrator makes for a service's replica, pending while no
/// node can take it.
async fn pending_task(server: &TestServer, admin: &Client, service: &str) -> String {
    for _ in 0..100 {
        let tasks: Vec<Task> = admin
            .get(server.url(&format!("/api/v1/tasks?service={service}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(task) = tasks.first() {
            return task.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no task was made for service {service}");
}

#[tokio::test]
async fn every_route_and_server_function_enforces_its_access_rule() {
    let server = TestServer::start().await;
    let mut callers = callers(&server).await;
    let mut objects = Objects::make(&server).await;
    let mut failures = Vec::new();
    let mut checked = 0;

    // The health check sits behind the same authentication as the API.
    let healthz = ApiRoute {
        method: "GET",
        path: "/healthz",
        access: Access::Public,
    };
    let routes: Vec<ApiRoute> = api::table().into_iter().chain([healthz]).collect();
    for route in &routes {
        let method: Method = route.method.parse().unwrap();
        for caller in &mut callers {
            let (path, may_be_missing) = objects.target(&server, route, caller).await;
            let mut request = caller.request(method.clone(), server.url(&path));
            if method == Method::POST || method == Method::PATCH {
                // A valid login, so a public login is not mistaken for a refusal;
                // other bodies only matter after the access check.
                request = request.json(&json!({ "username": "matrix-login", "password": common::PASSWORD }));
            }
            let status = request.send().await.unwrap().status();
            if let Some(why) = broken(status, caller.expect(route.access), may_be_missing) {
                failures.push(format!("{} {path} as {}: {why}", route.method, caller.name));
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
            // The server function exists, so a 404 is never right here.
            if let Some(why) = broken(status, caller.expect(*access), false) {
                failures.push(format!("server fn {path} as {}: {why}", caller.name));
            }
            checked += 1;
            restore_session(&server, caller).await;
        }
    }

    // The webhook receiver ignores who the caller is: only the webhook's own
    // secret (here as the bearer, in place of the caller's) and signature
    // count. Without them even an admin's session is refused.
    let receiver: CreatedWebhook = created(
        objects
            .admin
            .post(server.url(&format!("/api/v1/services/{}/webhooks", objects.service.id)))
            .json(&json!({ "name": "receiver", "signed": true })),
    )
    .await;
    let hook = server.url(&format!("/hooks/{}", receiver.webhook.id));
    // An envelope without pushes: judged and answered 200, deploying nothing.
    let body = br#"{"events": []}"#;
    let signed = signature::sign(receiver.signing_secret.as_deref().unwrap(), body);
    for caller in &callers {
        let without = caller
            .request(Method::POST, hook.clone())
            .header(signature::HEADER, &signed)
            .body(&body[..])
            .send()
            .await
            .unwrap()
            .status();
        let mut with = Client::new()
            .post(&hook)
            .bearer_auth(&receiver.secret)
            .header(signature::HEADER, &signed);
        if let Some(cookie) = &caller.cookie {
            with = with.header("cookie", cookie);
        }
        let with = with.body(&body[..]).send().await.unwrap().status();
        for (status, want, how) in [
            (without, Expect::Unauthenticated, "without the webhook's secret"),
            (with, Expect::Allowed, "with the webhook's secret"),
        ] {
            if let Some(why) = broken(status, want, false) {
                failures.push(format!("POST /hooks/{{id}} {how} as {}: {why}", caller.name));
            }
            checked += 1;
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {checked} calls broke the access matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, (routes.len() + rpc::ACCESS.len() + 2) * callers.len());
    assert!(callers.len() >= 9);
}

/// Logging in or out ends the session a caller's cookie names; log in again.
async fn restore_session(server: &TestServer, caller: &mut Caller) {
    if let Some(name) = &caller.relogin_as {
        caller.cookie = Some(server.session_cookie(name).await);
    }
}

#[tokio::test]
async fn an_api_token_is_seen_and_revoked_by_its_owner_alone_even_against_an_admin() {
    let server = TestServer::start().await;
    server.user("owner", Role::Viewer).await;
    server.user("other", Role::Operator).await;
    server.user("root", Role::Admin).await;
    let owner = server.login("owner").await;
    let token: CreatedApiToken = created(
        owner
            .post(server.url("/api/v1/tokens"))
            .json(&json!({ "name": "owned", "role": "viewer" })),
    )
    .await;
    let id = &token.token.id;
    let works = || async {
        Client::new()
            .get(server.url("/api/v1/me"))
            .bearer_auth(&token.secret)
            .send()
            .await
            .unwrap()
            .status()
    };

    for name in ["other", "root"] {
        let client = server.login(name).await;
        let listed: Vec<ApiToken> = client
            .get(server.url("/api/v1/tokens"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            listed.iter().all(|seen| seen.id != *id),
            "{name} sees the owner's token: {listed:?}"
        );
        // Revoking is for one's own tokens only, admins included (see
        // ops::tokens::revoke_own): someone else's is not found, so the
        // answer does not even confirm that the id exists.
        let revoked = client
            .delete(server.url(&format!("/api/v1/tokens/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), StatusCode::NOT_FOUND, "{name}");
        let by_rpc = client
            .post(server.url(RevokeToken::PATH))
            .form(&[("id", id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            by_rpc.status(),
            StatusCode::NOT_FOUND,
            "{name} by server function"
        );
        assert_eq!(works().await, StatusCode::OK, "{name} revoked the owner's token");
    }

    let own: Vec<Value> = owner
        .get(server.url("/api/v1/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own.len(), 1, "{own:?}");
    let revoked = owner
        .delete(server.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(works().await, StatusCode::UNAUTHORIZED);
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
