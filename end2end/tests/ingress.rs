//! A service's published port on its page: the panel shows the node's
//! listener on the routing mesh with the task behind it, and its counters
//! move when connections come through the mesh.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use serde_json::json;
use shoal_end2end::{AgentProcess, Api, Browser, RemoveContainers, ServerProcess, free_port};

const PASSWORD: &str = "browser test password";
/// Pulling nothing (the demo image is local), starting the container and
/// two health checks 2 s apart.
const START_WAIT: Duration = Duration::from_secs(60);
/// Connections made through the mesh before refreshing the counters.
const REQUESTS: u64 = 3;

/// The row of the only node's listener for port `published`.
fn listener_row(published: u16) -> String {
    format!("#service-ingress .ingress-port[data-published='{published}'] table.ingress-nodes tbody tr")
}

/// Where to connect for a listener's address: an agent without
/// `--advertise-addr` listens on every interface and reports `0.0.0.0`.
fn reachable(addr: &str) -> SocketAddr {
    let mut addr: SocketAddr = addr
        .parse()
        .unwrap_or_else(|e| panic!("the listener's address {addr:?}: {e}"));
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    addr
}

/// The number in the listener row's `column`th cell (1-based).
async fn cell_number(browser: &Browser, row: &str, column: usize) -> u64 {
    let selector = format!("{row} td:nth-child({column})");
    let text = browser
        .wait_for_css(&selector)
        .await
        .text()
        .await
        .unwrap_or_else(|e| panic!("read {selector}: {e}"));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{selector} is not a number ({text:?}): {e}"))
}

#[tokio::test]
async fn the_service_page_shows_its_published_port_and_counts_connections_through_the_mesh() {
    let server = ServerProcess::start();
    server.create_admin("ada", PASSWORD);
    let api = Api::login(server.url(), "ada", PASSWORD).await;
    let _agent = AgentProcess::join(server.agent_addr(), &server.join_token("worker"), "e2e-mesh-node");
    let _cleanup = RemoveContainers("e2e-mesh");
    let published = free_port();
    let service = api
        .post(
            "/api/v1/services",
            json!({
                "name": "e2e-mesh",
                "image": "shoal-demo:v1",
                "replicas": 1,
                "ports": [{ "target": 8080, "published": published }],
                "stop_grace_period": "1s",
            }),
        )
        .await;
    let id = service["id"].as_str().expect("service id").to_owned();
    api.wait_for(
        "/api/v1/tasks?service=e2e-mesh",
        "the task running and healthy",
        START_WAIT,
        |tasks| {
            tasks.as_array().is_some_and(|tasks| {
                tasks
                    .iter()
                    .any(|task| task["state"] == "running" && task["healthy"] == true)
            })
        },
    )
    .await;
    let ingress = api
        .wait_for(
            &format!("/api/v1/services/{id}/ingress"),
            "the node listening with the task behind it",
            START_WAIT,
            |ingress| {
                let node = &ingress["ports"][0]["nodes"][0];
                node["error"].is_null() && node["backends"].as_array().is_some_and(|b| b.len() == 1)
            },
        )
        .await;
    let node = &ingress["ports"][0]["nodes"][0];
    let addr = node["addr"].as_str().expect("the listener's address").to_owned();
    assert!(
        addr.ends_with(&format!(":{published}")),
        "the listener is on {addr}, not port {published}"
    );

    let browser = Browser::start().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    browser.goto(&format!("{}/services/{id}", server.url())).await;
    browser.wait_hydrated().await;
    let row = listener_row(published);
    browser.wait_for_text_containing(&row, "e2e-mesh-node").await;
    browser.wait_for_text_containing(&row, &addr).await;
    browser
        .wait_for_text(&format!("{row} .badge.status-active"), "listening")
        .await
        .unwrap_or_else(|seen| panic!("the listener is not shown listening (saw {seen:?})"));
    assert_eq!(cell_number(&browser, &row, 3).await, 1, "backends of the node");
    browser
        .wait_for_count("#service-ingress .ingress-backends li.ingress-backend", 1)
        .await;
    browser
        .wait_for_text_containing(
            "#service-ingress .ingress-port h3",
            &format!("{published}/tcp → 8080"),
        )
        .await;
    let before = cell_number(&browser, &row, 4).await;

    // A fresh connection for every request: the counter counts connections.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("http://{}/", reachable(&addr));
    for _ in 0..REQUESTS {
        let response = client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} through the mesh: {e}"));
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
    }

    // The agent reports its counters every 2 s; the button fetches them again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut after;
    loop {
        browser.click("#ingress-refresh").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = cell_number(&browser, &row, 4).await;
        if after >= before + REQUESTS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connections counter went from {before} to {after}, not up by {REQUESTS}"
        );
    }
    browser.scroll_to("service-ingress").await;
    browser.screenshot("service-ingress").await;
    browser.close().await;
}
