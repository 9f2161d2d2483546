//! The services API without any node: validation, revisions and diffs,
//! scaling, deletion, pending reasons, and the registry password's masking.

mod common;

use common::{TestServer, error_of};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{
    auth::Role,
    service::{Revision, RevisionDiff, Service, Task, TaskDetail, TaskState},
};

async fn call(
    client: &Client,
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = client.request(method, server.url(path));
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

async fn ok<T: serde::de::DeserializeOwned>(response: reqwest::Response, status: StatusCode) -> T {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Status and the whole error object (code, message, field).
async fn refusal(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

fn web() -> Value {
    json!({
        "name": "web",
        "image": "shoal-demo:v1",
        "replicas": 2,
        "ports": [{ "target": 8080, "published": 18080 }],
        "environment": { "GREETING": "hi" },
    })
}

#[tokio::test]
async fn bad_specs_are_refused_naming_the_field() {
    let server = TestServer::start().await;
    server.user("op", Role::Operator).await;
    let op = server.login("op").await;

    let mut spec = web();
    spec["constraints"] = json!(["node.role==worker", "node.colour==red"]);
    let (status, error) =
        refusal(call(&op, &server, Method::POST, "/api/v1/services", Some(spec)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "constraints[1]");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("node.colour") && message.contains("node.labels.<key>"),
        "{message}"
    );

    let mut spec = web();
    spec["replica"] = json!(3);
    let response = call(&op, &server, Method::POST, "/api/v1/services", Some(spec)).await;
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("unknown field `replica`"), "{message}");

    let mut spec = web();
    spec["update_config"] = json!({ "delay": "soon" });
    let response = call(&op, &server, Method::POST, "/api/v1/services", Some(spec)).await;
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("\"soon\" is not a duration"), "{message}");

    // Each refused with a 400 naming the field.
    for (change, field) in [
        (json!({"replicas": -1}), "replicas"),
        (json!({"ports": [{"target": 70000}]}), "ports[0].target"),
        (
            json!({"ports": [{"target": 80, "published": 18080}, {"target": 81, "published": 18080}]}),
            "ports[1].published",
        ),
        (json!({"image": ""}), "image"),
        (json!({"image": "shoal demo:v1"}), "image"),
        (json!({"constraints": ["node.role=manager"]}), "constraints[0]"),
        (json!({"mode": "sometimes"}), "mode"),
    ] {
        let mut spec = web();
        for (key, value) in change.as_object().unwrap() {
            spec[key] = value.clone();
        }
        let (status, error) =
            refusal(call(&op, &server, Method::POST, "/api/v1/services", Some(spec)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{change}: {error}");
        assert_eq!(error["field"], field, "{change}: {error}");
    }

    let listed: Vec<Service> = ok(
        call(&op, &server, Method::GET, "/api/v1/services", None).await,
        StatusCode::OK,
    )
    .await;
    assert!(listed.is_empty(), "nothing was created");
}

#[tokio::test]
async fn services_keep_numbered_revisions_with_diffs() {
    let server = TestServer::start().await;
    server.user("op", Role::Operator).await;
    let op = server.login("op").await;

    let created: Service = ok(
        call(&op, &server, Method::POST, "/api/v1/services", Some(web())).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created.revision, 1);
    assert_eq!(
        created.spec.update_config.parallelism, 1,
        "Swarm's defaults are filled in"
    );
    let (status, error) =
        refusal(call(&op, &server, Method::POST, "/api/v1/services", Some(web())).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");

    let by_name: Service = ok(
        call(&op, &server, Method::GET, "/api/v1/services/web", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_name.id, created.id);

    let mut changed = web();
    changed["image"] = json!("shoal-demo:v2");
    let path = format!("/api/v1/services/{}", created.id);
    let updated: Service = ok(
        call(&op, &server, Method::PUT, &path, Some(changed.clone())).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated.revision, 2);
    let same: Service = ok(
        call(&op, &server, Method::PUT, &path, Some(changed.clone())).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same.revision, 2, "an unchanged spec makes no revision");

    let mut renamed = changed.clone();
    renamed["name"] = json!("api");
    let (status, error) = refusal(call(&op, &server, Method::PUT, &path, Some(renamed)).await).await;
    assert_eq!(
        (status, error["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("name"))
    );

    let scaled: Service = ok(
        call(
            &op,
            &server,
            Method::POST,
            &format!("{path}/scale"),
            Some(json!({ "replicas": 5 })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (scaled.revision, scaled.spec.replicas, scaled.tasks.desired),
        (3, Some(5), 5)
    );

    let revisions: Vec<Revision> = ok(
        call(&op, &server, Method::GET, &format!("{path}/revisions"), None).await,
        StatusCode::OK,
    )
    .await;
    let numbers: Vec<u64> = revisions.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert!(revisions.iter().all(|r| r.author == "op"));
    assert_eq!(
        revisions[2].spec.image, "shoal-demo:v1",
        "old revisions stay as they were"
    );

    let diff: RevisionDiff = ok(
        call(
            &op,
            &server,
            Method::GET,
            &format!("{path}/revisions/diff?from=1&to=2"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(diff.changes.len(), 1, "{diff:?}");
    assert_eq!(diff.changes[0].path, "image");
    assert_eq!(diff.changes[0].before, Some(json!("shoal-demo:v1")));
    assert_eq!(diff.changes[0].after, Some(json!("shoal-demo:v2")));
    let latest: RevisionDiff = ok(
        call(&op, &server, Method::GET, &format!("{path}/revisions/diff"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((latest.from, latest.to), (2, 3));
    assert_eq!(latest.changes[0].path, "replicas");
    let (status, error) = refusal(
        call(
            &op,
            &server,
            Method::GET,
            &format!("{path}/revisions/diff?from=1&to=9"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        error["message"].as_str().unwrap().contains("revisions 1 to 3"),
        "{error}"
    );

    // Without nodes, every task waits and says why. (Which revision each
    // pending task has depends on how far the image change's rollout got:
    // it cannot finish without nodes, and scaling replaces nothing.)
    // The orchestrator works on its own time: poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let tasks = loop {
        let tasks: Vec<Task> = ok(
            call(
                &op,
                &server,
                Method::GET,
                "/api/v1/tasks?service=web&state=pending",
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        if tasks.len() == 5 || std::time::Instant::now() > deadline {
            break tasks;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut slots: Vec<u64> = tasks.iter().filter_map(|t| t.slot).collect();
    slots.sort();
    assert_eq!(slots, [1, 2, 3, 4, 5], "{tasks:#?}");
    assert!(
        tasks
            .iter()
            .all(|t| t.message.contains("no node has joined the cluster")),
        "{tasks:#?}"
    );
    let detail: TaskDetail = ok(
        call(
            &op,
            &server,
            Method::GET,
            &format!("/api/v1/tasks/{}", tasks[0].id),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail.events[0].state, TaskState::Pending);
    let (status, _) =
        refusal(call(&op, &server, Method::GET, "/api/v1/tasks?state=sleeping", None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        refusal(call(&op, &server, Method::GET, "/api/v1/tasks?service=nope", None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting frees the name at once; the old service's tasks end.
    let response = call(&op, &server, Method::DELETE, &path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = refusal(call(&op, &server, Method::GET, &path, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let again: Service = ok(
        call(&op, &server, Method::POST, "/api/v1/services", Some(web())).await,
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(again.id, created.id);
}

#[tokio::test]
async fn ports_scaling_and_passwords_are_checked_against_the_cluster() {
    let server = TestServer::start().await;
    server.user("op", Role::Operator).await;
    server.user("viewer", Role::Viewer).await;
    let op = server.login("op").await;
    let _: Service = ok(
        call(&op, &server, Method::POST, "/api/v1/services", Some(web())).await,
        StatusCode::CREATED,
    )
    .await;

    let clash = json!({ "name": "other", "image": "x", "ports": [{ "target": 80, "published": 18080, "mode": "host" }] });
    let (status, error) =
        refusal(call(&op, &server, Method::POST, "/api/v1/services", Some(clash)).await).await;
    assert_eq!(
        (status, error["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ports[0].published"))
    );
    assert!(error["message"].as_str().unwrap().contains("\"web\""), "{error}");

    let global = json!({
        "name": "agent",
        "image": "x",
        "mode": "global",
        "registry_auth": { "username": "ci", "password": "hunter2hunter2" },
    });
    let created: Service = ok(
        call(&op, &server, Method::POST, "/api/v1/services", Some(global)).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/services/{}", created.id);
    let (status, error) = refusal(
        call(
            &op,
            &server,
            Method::POST,
            &format!("{path}/scale"),
            Some(json!({ "replicas": 3 })),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error["message"].as_str().unwrap().contains("global"), "{error}");

    // The password never comes back, and sending the mask back keeps it.
    let auth = created.spec.registry_auth.clone().unwrap();
    assert_eq!(auth.password, shoal_proto::service::MASKED_PASSWORD);
    let mut spec = serde_json::to_value(&created.spec).unwrap();
    spec["image"] = json!("y");
    let updated: Service = ok(
        call(&op, &server, Method::PUT, &path, Some(spec)).await,
        StatusCode::OK,
    )
    .await;
    let everything = call(&op, &server, Method::GET, &format!("{path}/revisions"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(!everything.contains("hunter2"), "{everything}");
    let stored = server
        .ctx
        .store
        .revision(&created.id, updated.revision)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.spec.registry_auth.unwrap().password, "hunter2hunter2");

    // The mask does not carry the password to another registry or user.
    for (image, username) in [("evil.example.com/x", "ci"), ("y", "someone-else")] {
        let mut moved = serde_json::to_value(&updated.spec).unwrap();
        moved["image"] = json!(image);
        moved["registry_auth"]["username"] = json!(username);
        let (status, error) = refusal(call(&op, &server, Method::PUT, &path, Some(moved)).await).await;
        assert_eq!(
            (status, error["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("registry_auth.password")),
            "{image} {username}: {error}"
        );
    }
    let current = server.ctx.store.find_service(&created.id).await.unwrap().unwrap();
    assert_eq!(
        current.revision, updated.revision,
        "a refused change stores nothing"
    );

    // Viewers read but do not change.
    let viewer = server.login("viewer").await;
    let response = call(&viewer, &server, Method::POST, "/api/v1/services", Some(web())).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = call(&viewer, &server, Method::GET, "/api/v1/services", None).await;
    assert_eq!(response.status(), StatusCode::OK);
}
