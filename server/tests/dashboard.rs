//! `GET /api/v1/dashboard` without any node: services by health with the
//! pending reason, rollouts in progress, and the cluster history the
//! recorder writes from the event bus.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::TestServer;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{
    auth::Role,
    dashboard::{ClusterEventKind, Dashboard},
    event::Event,
    node::{Availability, Node, NodeRole, NodeStatus, Platform, Resources},
    service::{Service, ServiceHealth},
};

async fn dashboard(client: &Client, server: &TestServer) -> Dashboard {
    let response = client.get(server.url("/api/v1/dashboard")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Asks for the dashboard until `done` holds, for up to 10 s.
async fn dashboard_until(
    client: &Client,
    server: &TestServer,
    what: &str,
    done: impl Fn(&Dashboard) -> bool,
) -> Dashboard {
    let mut last = None;
    for _ in 0..100 {
        let seen = dashboard(client, server).await;
        if done(&seen) {
            return seen;
        }
        last = Some(seen);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the dashboard never showed {what}; last: {last:#?}");
}

async fn send(
    client: &Client,
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let response = client
        .request(method, server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn node(status: NodeStatus) -> Node {
    Node {
        id: "0123456789abcdef01234567".into(),
        hostname: "ghost-1".into(),
        role: NodeRole::Worker,
        availability: Availability::Active,
        labels: BTreeMap::new(),
        engine_labels: BTreeMap::new(),
        status,
        address: "127.0.0.9".into(),
        platform: Platform::default(),
        resources: Resources {
            cpus: 2,
            memory_bytes: 1 << 30,
        },
        engine_version: String::new(),
        agent_version: String::new(),
        last_heartbeat_at: None,
        joined_at: 0,
    }
}

#[tokio::test]
async fn the_dashboard_shows_pending_services_with_their_reason_and_rollouts_as_events() {
    let server = TestServer::start().await;
    server.user("op", Role::Operator).await;
    server.user("vera", Role::Viewer).await;
    let op = server.login("op").await;
    let viewer = server.login("vera").await;

    let empty = dashboard(&viewer, &server).await;
    assert_eq!(empty.nodes.total.nodes, 0);
    assert!(empty.services.is_empty() && empty.rollouts.is_empty() && empty.failing.is_empty());

    let created: Service = serde_json::from_value(
        send(
            &op,
            &server,
            reqwest::Method::POST,
            "/api/v1/services",
            json!({ "name": "web", "image": "shoal-demo:v1", "replicas": 2 }),
        )
        .await,
    )
    .unwrap();

    // No node: both tasks wait, and the dashboard says why.
    let seen = dashboard_until(&viewer, &server, "web pending", |d| {
        d.services
            .iter()
            .any(|s| s.name == "web" && s.health.key() == "pending")
    })
    .await;
    let web = seen.services.iter().find(|s| s.name == "web").unwrap();
    assert_eq!(web.id, created.id);
    let ServiceHealth::Pending { reason, pending } = &web.health else {
        panic!("{:?}", web.health);
    };
    assert_eq!(*pending, 2);
    assert!(reason.contains("node"), "{reason}");
    // The services list carries the same reason for its State column.
    let listed: Vec<Service> = viewer
        .get(server.url("/api/v1/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0].health(), web.health);

    // A new image starts a rollout: recorded once, about the service, naming who.
    send(
        &op,
        &server,
        reqwest::Method::PUT,
        &format!("/api/v1/services/{}", created.id),
        json!({ "name": "web", "image": "shoal-demo:v2", "replicas": 2 }),
    )
    .await;
    let seen = dashboard_until(&viewer, &server, "the rollout's start", |d| {
        d.events
            .iter()
            .any(|e| e.kind == ClusterEventKind::RolloutStarted)
    })
    .await;
    let started: Vec<_> = seen
        .events
        .iter()
        .filter(|e| e.kind == ClusterEventKind::RolloutStarted)
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].subject_id, created.id);
    assert_eq!(started[0].subject_name, "web");
    assert!(
        started[0].message.contains("op started rolling out revision 2"),
        "{}",
        started[0].message
    );
    assert_eq!(started[0].href(), format!("/services/{}", created.id));

    // Node transitions reach the history through the event bus: down once
    // per outage, ready again only after down.
    let mut bus = server.ctx.events.subscribe();
    for status in [
        NodeStatus::Down,
        NodeStatus::Down,
        NodeStatus::Ready,
        NodeStatus::Ready,
    ] {
        server
            .ctx
            .events
            .publish(Event::NodeStatus { node: node(status) });
    }
    let seen = dashboard_until(&viewer, &server, "the node down and back", |d| {
        d.events.iter().any(|e| e.kind == ClusterEventKind::NodeReady)
    })
    .await;
    let about_node: Vec<ClusterEventKind> = seen
        .events
        .iter()
        .filter(|e| e.subject_name == "ghost-1")
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        about_node,
        [ClusterEventKind::NodeReady, ClusterEventKind::NodeDown]
    );
    // Each new line is announced for live pages.
    let announced = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Event::ClusterEvent { event }) = bus.recv().await
                && event.kind == ClusterEventKind::NodeDown
            {
                return event;
            }
        }
    })
    .await
    .expect("a cluster.event for the node going down");
    assert_eq!(announced.href(), "/nodes");
}

#[tokio::test]
async fn the_dashboard_needs_a_login() {
    let server = TestServer::start().await;
    let response = Client::new()
        .get(server.url("/api/v1/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
