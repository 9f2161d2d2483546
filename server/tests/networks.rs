//! Service networks through the API, without any node: networks as
//! objects (who may make and remove them, and not while in use), specs
//! that name only networks that exist, each service's stable virtual
//! address, and the table the agents receive.

mod common;

use std::{net::Ipv4Addr, time::Duration};

use common::{TestServer, created, error_of};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{
    auth::{AuditPage, Role},
    event::Event,
    network::Network,
    service::{Protocol, Rollout, Service},
    wire::NetworkedService,
};

async fn send(
    client: &Client,
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = client.request(method, server.url(path));
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

async fn read<T: serde::de::DeserializeOwned>(response: reqwest::Response, status: StatusCode) -> T {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// The status and the error object of a refusal.
async fn refusal(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

async fn operator(server: &TestServer) -> Client {
    server.user("op", Role::Operator).await;
    server.login("op").await
}

async fn network(client: &Client, server: &TestServer, name: &str) -> Network {
    created(
        client
            .post(server.url("/api/v1/networks"))
            .json(&json!({ "name": name })),
    )
    .await
}

fn spec(name: &str, networks: &[&str]) -> Value {
    json!({
        "name": name,
        "image": "shoal-demo:v1",
        "replicas": 1,
        "networks": networks,
        "ports": [{ "target": 8080 }],
    })
}

async fn service(client: &Client, server: &TestServer, spec: Value) -> Service {
    created(client.post(server.url("/api/v1/services")).json(&spec)).await
}

async fn get_service(client: &Client, server: &TestServer, name: &str) -> Service {
    read(
        send(
            client,
            server,
            Method::GET,
            &format!("/api/v1/services/{name}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await
}

async fn update(client: &Client, server: &TestServer, name: &str, spec: Value) -> reqwest::Response {
    send(
        client,
        server,
        Method::PUT,
        &format!("/api/v1/services/{name}"),
        Some(spec),
    )
    .await
}

#[tokio::test]
async fn networks_are_created_listed_read_by_id_or_name_and_deleted() {
    let server = TestServer::start().await;
    let op = operator(&server).await;

    // Options that are not built yet are refused, not stored and ignored.
    for option in ["encrypted", "proxy_protocol"] {
        let (status, _, message) = error_of(
            op.post(server.url("/api/v1/networks"))
                .json(&json!({ "name": "backend", option: true }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{option}");
        assert!(message.starts_with(&format!("{option}: ")), "{message}");
    }
    let backend: Network = created(
        op.post(server.url("/api/v1/networks"))
            .json(&json!({ "name": "backend" })),
    )
    .await;
    assert_eq!(backend.name, "backend");
    assert!(!backend.encrypted && !backend.proxy_protocol);
    assert!(backend.services.is_empty());
    let front = network(&op, &server, "front").await;
    assert!(!front.encrypted && !front.proxy_protocol);

    let listed: Vec<Network> = read(
        send(&op, &server, Method::GET, "/api/v1/networks", None).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = listed.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["backend", "front"]);
    for key in [&backend.id, &backend.name] {
        let got: Network = read(
            send(
                &op,
                &server,
                Method::GET,
                &format!("/api/v1/networks/{key}"),
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(got, backend);
    }

    // A name taken, and one that is no DNS label.
    let (status, error) = refusal(
        send(
            &op,
            &server,
            Method::POST,
            "/api/v1/networks",
            Some(json!({ "name": "backend" })),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let (status, error) = refusal(
        send(
            &op,
            &server,
            Method::POST,
            "/api/v1/networks",
            Some(json!({ "name": "Back_End" })),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "name");

    let deleted = send(
        &op,
        &server,
        Method::DELETE,
        &format!("/api/v1/networks/{}", backend.id),
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = send(&op, &server, Method::GET, "/api/v1/networks/backend", None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let again = send(&op, &server, Method::DELETE, "/api/v1/networks/backend", None).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_network_in_use_cannot_be_deleted_and_the_refusal_names_its_services() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    network(&op, &server, "backend").await;
    network(&op, &server, "other").await;
    service(&op, &server, spec("api", &["backend"])).await;
    service(&op, &server, spec("web", &["other", "backend"])).await;
    service(&op, &server, spec("lone", &["other"])).await;

    let shown: Network = read(
        send(&op, &server, Method::GET, "/api/v1/networks/backend", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown.services, ["api", "web"]);

    let (status, error) =
        refusal(send(&op, &server, Method::DELETE, "/api/v1/networks/backend", None).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(r#""api", "web""#) && !message.contains("lone"),
        "{message}"
    );

    // Once no service lists it, it goes.
    assert_eq!(
        update(&op, &server, "web", spec("web", &["other"]))
            .await
            .status(),
        StatusCode::OK
    );
    let deleted = send(&op, &server, Method::DELETE, "/api/v1/services/api", None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let deleted = send(&op, &server, Method::DELETE, "/api/v1/networks/backend", None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_spec_naming_a_network_that_does_not_exist_is_refused_saying_how_to_create_it() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    network(&op, &server, "backend").await;
    let wanted = |at: usize| {
        format!(
            r#"networks[{at}]: no network "nope"; create it first (POST /api/v1/networks or the Networks page)"#
        )
    };

    let (status, error) = refusal(
        send(
            &op,
            &server,
            Method::POST,
            "/api/v1/services",
            Some(spec("api", &["backend", "nope"])),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "networks[1]");
    assert_eq!(error["message"], wanted(1));

    service(&op, &server, spec("api", &["backend"])).await;
    let (status, error) = refusal(update(&op, &server, "api", spec("api", &["nope"])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "networks[0]");
    assert_eq!(error["message"], wanted(0));
    assert_eq!(get_service(&op, &server, "api").await.revision, 1);
}

#[tokio::test]
async fn a_rollback_to_a_revision_on_a_deleted_network_is_refused() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    network(&op, &server, "old").await;
    service(&op, &server, spec("api", &["old"])).await;
    assert_eq!(
        update(&op, &server, "api", spec("api", &[])).await.status(),
        StatusCode::OK
    );
    let deleted = send(&op, &server, Method::DELETE, "/api/v1/networks/old", None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let (status, error) = refusal(
        send(
            &op,
            &server,
            Method::POST,
            "/api/v1/services/api/rollback",
            Some(json!({})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "networks[0]");
    assert_eq!(get_service(&op, &server, "api").await.revision, 2);
}

#[tokio::test]
async fn a_viewer_reads_networks_but_cannot_create_or_delete_one() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    network(&op, &server, "backend").await;
    server.user("vera", Role::Viewer).await;
    let viewer = server.login("vera").await;

    let listed: Vec<Network> = read(
        send(&viewer, &server, Method::GET, "/api/v1/networks", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.len(), 1);
    let made = send(
        &viewer,
        &server,
        Method::POST,
        "/api/v1/networks",
        Some(json!({ "name": "mine" })),
    )
    .await;
    assert_eq!(made.status(), StatusCode::FORBIDDEN);
    let removed = send(&viewer, &server, Method::DELETE, "/api/v1/networks/backend", None).await;
    assert_eq!(removed.status(), StatusCode::FORBIDDEN);
    let listed: Vec<Network> = read(
        send(&viewer, &server, Method::GET, "/api/v1/networks", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn creating_and_deleting_a_network_is_audited_and_told_on_the_event_stream() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    let mut events = server.ctx.events.subscribe();
    let made = network(&op, &server, "backend").await;
    let deleted = send(&op, &server, Method::DELETE, "/api/v1/networks/backend", None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let mut told = Vec::new();
    while told.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(event @ (Event::NetworkCreated { .. } | Event::NetworkRemoved { .. }))) => told.push(event),
            Ok(Ok(_)) => {}
            other => panic!("no network event: {other:?}"),
        }
    }
    assert_eq!(
        told,
        [
            Event::NetworkCreated {
                network: made.clone()
            },
            Event::NetworkRemoved {
                id: made.id.clone(),
                name: "backend".into()
            },
        ]
    );

    server.user("ada", Role::Admin).await;
    let admin = server.login("ada").await;
    let audit: AuditPage = read(
        send(
            &admin,
            &server,
            Method::GET,
            "/api/v1/audit?action=network.",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let actions: Vec<(&str, Option<&str>)> = audit
        .entries
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("network.delete", Some(made.id.as_str())),
            ("network.create", Some(made.id.as_str()))
        ]
    );
}

#[tokio::test]
async fn each_service_keeps_its_own_virtual_address_through_every_change() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    network(&op, &server, "backend").await;
    let mut addresses = Vec::new();
    for name in ["api", "web", "db"] {
        let made = service(&op, &server, spec(name, &["backend"])).await;
        let address = made.address.expect("every service has a virtual address");
        // In 127.128.0.0/9, inside the containers' own loopback.
        assert!(
            address.octets()[0] == 127 && address.octets()[1] >= 128,
            "{address}"
        );
        assert!(!addresses.contains(&address), "{address} given twice");
        addresses.push(address);
    }

    // A new image, networks, a scale and a rollback: the same address.
    let api = addresses[0];
    let mut changed = spec("api", &[]);
    changed["image"] = json!("shoal-demo:v2");
    assert_eq!(
        update(&op, &server, "api", changed).await.status(),
        StatusCode::OK
    );
    let scaled = send(
        &op,
        &server,
        Method::POST,
        "/api/v1/services/api/scale",
        Some(json!({ "replicas": 3 })),
    )
    .await;
    assert_eq!(scaled.status(), StatusCode::OK);
    let rolled = send(
        &op,
        &server,
        Method::POST,
        "/api/v1/services/api/rollback",
        Some(json!({ "revision": 1 })),
    )
    .await;
    assert_eq!(rolled.status(), StatusCode::ACCEPTED);
    let now = get_service(&op, &server, "api").await;
    assert_eq!(now.revision, 4);
    assert_eq!(now.address, Some(api));

    // A service made after another was deleted gets none a live one has.
    let deleted = send(&op, &server, Method::DELETE, "/api/v1/services/web", None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let late = service(&op, &server, spec("late", &[])).await.address.unwrap();
    for name in ["api", "db"] {
        assert_ne!(
            get_service(&op, &server, name).await.address,
            Some(late),
            "{name}"
        );
    }
    let listed: Vec<Service> = read(
        send(&op, &server, Method::GET, "/api/v1/services", None).await,
        StatusCode::OK,
    )
    .await;
    let mut live: Vec<Ipv4Addr> = listed.iter().filter_map(|s| s.address).collect();
    live.sort();
    live.dedup();
    assert_eq!(live.len(), listed.len());
}

#[tokio::test]
async fn changing_a_services_networks_rolls_it_out() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    network(&op, &server, "backend").await;
    service(&op, &server, spec("api", &[])).await;
    let rollouts = |server: &TestServer, op: &Client| {
        let request = op.get(server.url("/api/v1/services/api/rollouts"));
        async move { read::<Vec<Rollout>>(request.send().await.unwrap(), StatusCode::OK).await }
    };
    assert!(rollouts(&server, &op).await.is_empty());

    let joined = update(&op, &server, "api", spec("api", &["backend"])).await;
    assert_eq!(joined.status(), StatusCode::OK);
    let started = rollouts(&server, &op).await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].to_revision, 2);
}

/// The table's entry for service `name`, once the table has one as `done` wants.
async fn table_entry(
    server: &TestServer,
    name: &str,
    done: impl Fn(&NetworkedService) -> bool,
) -> NetworkedService {
    for _ in 0..100 {
        let table = server.ctx.ingress.current();
        if let Some(entry) = table.services.iter().find(|s| s.service_name == name && done(s)) {
            return entry.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the table never carried {name} as wanted: {:?}",
        server.ctx.ingress.current().services
    );
}

#[tokio::test]
async fn the_table_carries_each_networked_service_with_its_address_and_target_ports() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    network(&op, &server, "backend").await;
    network(&op, &server, "front").await;
    let mut api_spec = spec("api", &["backend", "front"]);
    api_spec["ports"] = json!([
        { "target": 8080, "published": 18080 },
        { "target": 5353, "protocol": "udp" },
    ]);
    let api = service(&op, &server, api_spec).await;
    service(&op, &server, spec("lone", &[])).await;

    let entry = table_entry(&server, "api", |_| true).await;
    assert_eq!(entry.service_id, api.id);
    assert_eq!(Some(entry.address), api.address);
    assert_eq!(entry.networks, ["backend", "front"]);
    let ports: Vec<(u16, Protocol)> = entry.ports.iter().map(|p| (p.target, p.protocol)).collect();
    assert_eq!(ports, [(8080, Protocol::Tcp), (5353, Protocol::Udp)]);
    // No node runs anything here.
    assert!(entry.ports.iter().all(|p| p.backends.is_empty()));
    let table = server.ctx.ingress.current();
    assert!(table.services.iter().all(|s| s.service_name != "lone"));

    // Leaving a network is a new table.
    let version = table.version;
    assert_eq!(
        update(&op, &server, "api", spec("api", &["front"]))
            .await
            .status(),
        StatusCode::OK
    );
    let entry = table_entry(&server, "api", |s| s.networks == ["front"]).await;
    assert_eq!(Some(entry.address), api.address);
    assert!(server.ctx.ingress.current().version > version);
}
