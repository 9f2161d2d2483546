//! Every console page loaded the way a user's reload or bookmark loads it:
//! directly, never by navigating inside the app, because a first load
//! hydrates what the server rendered and a mismatch shows only there. Each
//! page is loaded in the states that change its markup (services with no
//! rollout and with running, paused, completed and rolled-back ones, a
//! failing and a pending service, webhooks with deliveries, no network and
//! a network with a service on it, a node down, an empty cluster, an
//! admin's, a viewer's and a visitor's view) and must:
//! - show what the state says (each page names an element that proves it),
//! - log no error to the browser console (a panic, a hydration mismatch, a
//!   failed request),
//! - respond to its controls after hydration,
//! - pass axe-core with no serious or critical finding,
//! - fit a 1280 px wide window without sideways scrolling (and the main
//!   pages a 390 px phone screen).
//!
//! It prints how long each page took to become interactive.

use std::time::Duration;

use serde_json::{Value, json};
use shoal_end2end::{AgentProcess, Api, Browser, RemoveContainers, ServerProcess};

const PASSWORD: &str = "browser test password";
const WAIT: Duration = Duration::from_secs(120);
/// A page not interactive this long after navigation is a failure, with
/// the timeline of its load to say where the time went.
const SLOW_MS: f64 = 10_000.0;
const LOAD_TIMELINE: &str = "const n = performance.getEntriesByType('navigation')[0];
    const r = performance.getEntriesByType('resource').map(e => `${e.name.replace(location.origin, '')} ${e.startTime.toFixed(0)}+${e.duration.toFixed(0)}`);
    return `document: fetch ${n.fetchStart.toFixed(0)}, connect ${n.connectStart.toFixed(0)}-${n.connectEnd.toFixed(0)}, request ${n.requestStart.toFixed(0)}, response ${n.responseStart.toFixed(0)}-${n.responseEnd.toFixed(0)}, interactive ${n.domInteractive.toFixed(0)}, loaded ${n.loadEventEnd.toFixed(0)}; resources: ${r.join('; ')}`;";
/// An address no page lives at.
const NOT_FOUND: &str = "/no/such/page";

/// One direct load: the path, a name for the state it is seen in, and an
/// element that only shows when the page renders that state.
struct Visit {
    path: String,
    state: &'static str,
    proof: String,
}

fn visit(path: impl Into<String>, state: &'static str, proof: impl Into<String>) -> Visit {
    Visit {
        path: path.into(),
        state,
        proof: proof.into(),
    }
}

/// What went wrong on one page, all collected so one run names every page.
#[derive(Default)]
struct Report {
    problems: Vec<String>,
    timings: Vec<(String, f64)>,
}

impl Report {
    fn fail(&mut self, visit: &Visit, what: impl std::fmt::Display) {
        self.problems
            .push(format!("{} [{}]: {what}", visit.path, visit.state));
    }

    fn finish(self, label: &str) {
        let mut timings = self.timings;
        timings.sort_by(|a, b| a.1.total_cmp(&b.1));
        println!("{label}: time to interactive after a direct load, per page (ms):");
        for (page, ms) in &timings {
            println!("  {ms:7.0}  {page}");
        }
        if let Some((_, median)) = timings.get(timings.len() / 2) {
            println!(
                "{label}: {} pages, median {median:.0} ms, slowest {:.0} ms",
                timings.len(),
                timings.last().map_or(0.0, |t| t.1)
            );
        }
        assert!(
            self.problems.is_empty(),
            "{label}: {} problem(s) on directly loaded pages:\n{}",
            self.problems.len(),
            self.problems.join("\n")
        );
    }
}

/// Loads `visit` directly and checks it as the file's header says.
async fn check(browser: &Browser, base: &str, visit: &Visit, report: &mut Report) {
    // Entries from the page before are not this page's.
    browser.console_errors().await;
    browser.goto(&format!("{base}{}", visit.path)).await;
    browser.wait_hydrated().await;
    if let Err(error) = browser.try_wait_for_css(&visit.proof).await {
        report.fail(visit, format_args!("{} never showed: {error}", visit.proof));
    }
    // Give late resources (the live stream, a second panel) their moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    if !controls_respond(browser).await {
        report.fail(
            visit,
            "the navigation toggle did nothing: the page is dead after hydration",
        );
    }
    let name = format!("{}{}", visit.state, visit.path.replace(['/', '?', '='], "_"));
    browser.screenshot(&format!("direct-{name}")).await;
    // The one error a page may log is the browser noting the 404 status
    // the server rightly answers an unknown address with.
    let own_404 = format!(
        "{base}{} - Failed to load resource: the server responded with a status of 404",
        visit.path
    );
    for error in browser.console_errors().await {
        if !(visit.path == NOT_FOUND && error.starts_with(&own_404)) {
            report.fail(visit, format_args!("console error: {error}"));
        }
    }
    for finding in browser.accessibility_findings().await {
        report.fail(visit, format_args!("accessibility: {finding}"));
    }
    for overflow in overflowing(browser).await {
        report.fail(
            visit,
            format_args!("wider than the window at 1280 px: {overflow}"),
        );
    }
    let interactive = browser
        .eval("const m = performance.getEntriesByName('shoal-interactive')[0]; return m ? m.startTime : null")
        .await;
    match interactive.as_f64() {
        Some(ms) if ms > SLOW_MS => {
            let timeline = browser.eval(LOAD_TIMELINE).await;
            report.fail(
                visit,
                format_args!("interactive only after {ms:.0} ms: {timeline}"),
            );
        }
        Some(ms) => report
            .timings
            .push((format!("{} [{}]", visit.path, visit.state), ms)),
        None => report.fail(visit, "no shoal-interactive timing mark"),
    }
}

async fn check_all(browser: &Browser, base: &str, visits: &[Visit], report: &mut Report) {
    for visit in visits {
        check(browser, base, visit, report).await;
    }
}

/// The sidebar toggle folds the navigation and unfolds it again: the wasm
/// is alive and handles events on this page.
async fn controls_respond(browser: &Browser) -> bool {
    let collapsed = "return document.querySelector('.app').classList.contains('nav-collapsed')";
    browser.click("#nav-toggle").await;
    let folded = wait_until(browser, collapsed, true).await;
    browser.click("#nav-toggle").await;
    folded && wait_until(browser, collapsed, false).await
}

async fn wait_until(browser: &Browser, script: &str, wanted: bool) -> bool {
    for _ in 0..30 {
        if browser.eval(script).await == wanted {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The page, and each scrolling table box on it, that is wider than what
/// the window shows.
async fn overflowing(browser: &Browser) -> Vec<String> {
    let found = browser
        .eval(
            "const out = [];
             const root = document.documentElement;
             if (root.scrollWidth > root.clientWidth + 1) out.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
             document.querySelectorAll('.table-wrap').forEach(el => {
               if (el.scrollWidth > el.clientWidth + 1)
                 out.push(`${el.querySelector('table')?.id || 'a table'} ${el.scrollWidth} > ${el.clientWidth}`);
             });
             return out;",
        )
        .await;
    found
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| item.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The pages every logged-in user has, with what proves each rendered.
fn common_pages(state: &'static str) -> Vec<Visit> {
    vec![
        visit("/", state, "#server-version"),
        visit("/nodes", state, "h1"),
        visit("/cluster", state, "h1"),
        visit("/services", state, "h1"),
        visit("/tokens", state, "h1"),
        visit(NOT_FOUND, state, "h1"),
    ]
}

/// The networks page, with what proves it shows the state: `#networks-empty`
/// without a network, a row's delete button for an operator or a service's
/// link for a viewer once `direct-net` has one.
fn networks_page(state: &'static str, proof: &str) -> Visit {
    visit("/networks", state, proof)
}

/// Admin-only and operator-only pages: the page itself for an admin, the
/// refusal for a viewer.
fn guarded_pages(state: &'static str, admin: bool) -> Vec<Visit> {
    let shown = |proof: &str| {
        if admin {
            proof.to_owned()
        } else {
            "#forbidden".to_owned()
        }
    };
    vec![
        visit("/services/new", state, shown("#service-form")),
        visit("/users", state, shown("h1")),
        visit("/audit", state, shown("h1")),
    ]
}

/// A server with an admin, `ada`, and a viewer, `vera`; the API as ada.
async fn server_with_users(args: &[&str]) -> (ServerProcess, Api) {
    let server = ServerProcess::start_with(args);
    server.create_admin("ada", PASSWORD);
    let api = Api::login(server.url(), "ada", PASSWORD).await;
    api.post(
        "/api/v1/users",
        json!({ "username": "vera", "password": PASSWORD, "role": "viewer" }),
    )
    .await;
    (server, api)
}

#[tokio::test]
async fn every_page_of_an_empty_cluster_loads_directly_without_an_error() {
    let (server, _api) = server_with_users(&[]).await;
    let browser = Browser::start().await;
    let mut report = Report::default();

    // A visitor: the login page, a setup link that is no longer valid, and
    // a guarded page that sends them to log in.
    let visitor = [
        visit("/login", "visitor", "#login-username"),
        visit("/setup?token=no-such-token", "visitor", "#setup-unusable"),
        visit("/services", "visitor", "#login-username"),
    ];
    check_all(&browser, server.url(), &visitor, &mut report).await;

    browser.login(server.url(), "ada", PASSWORD).await;
    let mut pages = common_pages("empty-admin");
    pages.push(networks_page("empty-admin", "#networks-empty"));
    pages.extend(guarded_pages("empty-admin", true));
    check_all(&browser, server.url(), &pages, &mut report).await;

    browser.logout().await;
    browser.login(server.url(), "vera", PASSWORD).await;
    let mut pages = common_pages("empty-viewer");
    pages.push(networks_page("empty-viewer", "#networks-empty"));
    pages.extend(guarded_pages("empty-viewer", false));
    check_all(&browser, server.url(), &pages, &mut report).await;
    browser.close().await;
    report.finish("empty cluster");
}

/// On a directly loaded service page whose rollout replaced a task, the
/// tasks filter shows only the running task (not the one shut down), and a
/// node name that matches no node hides every group.
async fn tasks_filter_narrows_the_list(browser: &Browser, base: &str, service: &str) {
    browser.goto(&format!("{base}/services/{service}")).await;
    browser.wait_hydrated().await;
    browser
        .wait_for_css("#service-tasks tr[data-state='shutdown']")
        .await;
    // Rows the filter lets through, wherever they are (ended tasks sit in
    // a folded list).
    let shown_states = "return [...document.querySelectorAll('#service-tasks tbody tr:not([hidden])')]
        .map(row => row.dataset.state)";
    browser
        .eval(
            "const s = document.getElementById('tasks-state-filter');
             s.value = 'running'; s.dispatchEvent(new Event('change'));",
        )
        .await;
    let shown = browser.eval(shown_states).await;
    let shown: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        shown,
        ["running"],
        "the state filter should leave only the running task"
    );
    browser.fill("#tasks-node-filter", "no-such-host").await;
    browser
        .wait_for_count("#service-tasks .task-group:not([hidden])", 0)
        .await;
}

/// A service created through the API, with the names its containers carry.
async fn create(api: &Api, spec: Value) -> String {
    let service = api.post("/api/v1/services", spec).await;
    service["id"].as_str().expect("a service id").to_owned()
}

async fn update(api: &Api, id: &str, spec: Value) {
    let response = api.put(&format!("/api/v1/services/{id}"), spec).await;
    assert!(response["revision"].as_u64() > Some(1), "{response}");
}

/// Waits for the newest rollout of service `id` to be in `state`; returns it.
async fn rollout_in(api: &Api, id: &str, state: &str) -> Value {
    let rollouts = api
        .wait_for(
            &format!("/api/v1/services/{id}/rollouts"),
            &format!("a rollout {state}"),
            WAIT,
            |rollouts| rollouts[0]["state"] == state,
        )
        .await;
    rollouts[0].clone()
}

/// A spec on the demo image pinned to node `host`, so the node that goes
/// down later holds none of these services' tasks.
fn spec(name: &str, image: &str, replicas: u64, host: &str, update_config: Value) -> Value {
    json!({
        "name": name,
        "image": image,
        "replicas": replicas,
        "constraints": [format!("node.hostname=={host}")],
        "stop_grace_period": "1s",
        "update_config": update_config,
    })
}

#[tokio::test]
async fn every_page_of_a_busy_cluster_loads_directly_in_every_state() {
    let (server, api) = server_with_users(&["--heartbeat-interval", "1s"]).await;
    let worker = server.join_token("worker");
    let _steady_node = AgentProcess::join(server.agent_addr(), &worker, "direct-steady");
    let mut doomed_node = AgentProcess::join(server.agent_addr(), &worker, "direct-doomed");
    let names = [
        "direct-plain",
        "direct-done",
        "direct-moving",
        "direct-held",
        "direct-reverted",
        "direct-failing",
        "direct-pending",
        "direct-hooked",
    ];
    let _cleanup: Vec<RemoveContainers> = names.iter().map(|name| RemoveContainers(name)).collect();
    api.wait_for("/api/v1/nodes", "both nodes ready", WAIT, |nodes| {
        nodes
            .as_array()
            .is_some_and(|nodes| nodes.len() == 2 && nodes.iter().all(|node| node["status"] == "ready"))
    })
    .await;

    let quick = json!({ "parallelism": 1, "monitor": "1s" });
    // A 10-minute delay after the first batch holds a rollout mid-way.
    let slow = json!({ "parallelism": 1, "monitor": "1s", "delay": "10m" });
    let host = "direct-steady";
    let plain = create(&api, spec(names[0], "shoal-demo:v1", 1, host, quick.clone())).await;
    let done = create(&api, spec(names[1], "shoal-demo:v1", 1, host, quick.clone())).await;
    let moving = create(&api, spec(names[2], "shoal-demo:v1", 2, host, slow.clone())).await;
    let held = create(&api, spec(names[3], "shoal-demo:v1", 2, host, slow.clone())).await;
    let rollback = json!({ "parallelism": 1, "monitor": "6s", "failure_action": "rollback" });
    let reverted = create(&api, spec(names[4], "shoal-demo:v1", 1, host, rollback.clone())).await;
    // An image no node has and no registry serves: its tasks fail to start.
    let failing = create(&api, spec(names[5], "shoal-demo:missing", 1, host, quick.clone())).await;
    // The pending service is on a network: its tasks never run, so the
    // network shows in the pages without involving the agents.
    api.post("/api/v1/networks", json!({ "name": "direct-net" }))
        .await;
    let mut networked = spec(names[6], "shoal-demo:v1", 1, "no-such-node", quick.clone());
    networked["networks"] = json!(["direct-net"]);
    let pending = create(&api, networked).await;
    let hooked = create(&api, spec(names[7], "shoal-demo:v1", 1, host, quick.clone())).await;
    for id in [&done, &moving, &held, &reverted] {
        api.wait_for(
            &format!("/api/v1/services/{id}"),
            "tasks running",
            WAIT,
            |service| service["tasks"]["running"] == service["tasks"]["desired"],
        )
        .await;
    }
    // Each a new revision: a completed rollout, one held open, one to be
    // paused, one that fails its health check and rolls back.
    for (id, name, image, replicas, config) in [
        (&done, names[1], "shoal-demo:v2", 1, &quick),
        (&moving, names[2], "shoal-demo:v2", 2, &slow),
        (&held, names[3], "shoal-demo:v2", 2, &slow),
        (&reverted, names[4], "shoal-demo:bad", 1, &rollback),
    ] {
        update(&api, id, spec(name, image, replicas, host, config.clone())).await;
    }
    rollout_in(&api, &done, "completed").await;
    rollout_in(&api, &reverted, "rollback_completed").await;
    let paused = rollout_in(&api, &held, "updating").await;
    api.post(
        &format!("/api/v1/rollouts/{}/pause", paused["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    rollout_in(&api, &held, "paused").await;
    api.wait_for(
        &format!(
            "/api/v1/rollouts/{}",
            rollout_in(&api, &moving, "updating").await["id"]
                .as_str()
                .unwrap()
        ),
        "the first batch of the held-open rollout updated",
        WAIT,
        |detail| detail["rollout"]["updated"] == 1,
    )
    .await;

    // Webhook deliveries: one accepted (the running image), one refused.
    let created = api
        .post(
            &format!("/api/v1/services/{hooked}/webhooks"),
            json!({ "name": "ci" }),
        )
        .await;
    let hook_url = format!("{}{}", server.url(), created["webhook"]["path"].as_str().unwrap());
    let client = reqwest::Client::new();
    for (secret, expected) in [(created["secret"].as_str().unwrap(), 200), ("wrong", 401)] {
        let status = client
            .post(&hook_url)
            .bearer_auth(secret)
            .json(&json!({ "tag": "v1" }))
            .send()
            .await
            .expect("deliver to the webhook")
            .status();
        assert_eq!(
            status.as_u16(),
            expected,
            "webhook delivery with secret {secret:?}"
        );
    }
    let service_pages = |role: &'static str| {
        let page = |id: &str, proof: &str| visit(format!("/services/{id}"), role, proof);
        vec![
            page(&plain, "#service-title"),
            page(&done, "#service-rollout[data-state='completed']"),
            page(&moving, "#service-rollout[data-state='updating'] #rollout-slots"),
            page(&held, "#service-rollout[data-state='paused']"),
            page(&reverted, "#service-rollout[data-state='rollback_completed']"),
            page(&failing, "#service-title"),
            page(&pending, "#service-address"),
            page(
                &hooked,
                if role == "busy-admin" {
                    "#service-webhooks"
                } else {
                    "#service-title"
                },
            ),
        ]
    };

    let browser = Browser::start().await;
    let mut report = Report::default();
    browser.login(server.url(), "ada", PASSWORD).await;
    let mut pages = common_pages("busy-admin");
    pages.push(networks_page(
        "busy-admin",
        "tr[data-network='direct-net'] .network-delete",
    ));
    pages.extend(guarded_pages("busy-admin", true));
    pages.extend(service_pages("busy-admin"));
    pages.extend(
        [&plain, &moving, &held]
            .map(|id| visit(format!("/services/{id}/edit"), "busy-admin", "#service-form")),
    );
    check_all(&browser, server.url(), &pages, &mut report).await;
    tasks_filter_narrows_the_list(&browser, server.url(), &done).await;

    browser.logout().await;
    browser.login(server.url(), "vera", PASSWORD).await;
    let mut pages = common_pages("busy-viewer");
    pages.push(networks_page(
        "busy-viewer",
        "tr[data-network='direct-net'] a.network-service",
    ));
    pages.extend(guarded_pages("busy-viewer", false));
    pages.extend(service_pages("busy-viewer"));
    pages.push(visit(
        format!("/services/{plain}/edit"),
        "busy-viewer",
        "#forbidden",
    ));
    check_all(&browser, server.url(), &pages, &mut report).await;

    // A node goes down: the pages that show nodes show it down.
    doomed_node.kill();
    api.wait_for("/api/v1/nodes", "a node down", WAIT, |nodes| {
        nodes
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|node| node["status"] == "down"))
    })
    .await;
    browser.logout().await;
    browser.login(server.url(), "ada", PASSWORD).await;
    let node_down = [
        visit("/", "node-down", "#server-version"),
        visit(
            "/nodes",
            "node-down",
            "tr[data-node='direct-doomed'][data-status='down']",
        ),
        visit("/cluster", "node-down", "h1"),
        visit("/services", "node-down", "h1"),
        visit(format!("/services/{moving}"), "node-down", "#service-rollout"),
    ];
    check_all(&browser, server.url(), &node_down, &mut report).await;

    // The whole dashboard in this state, for a person to look at.
    browser.set_window_size(1280, 2200).await;
    browser.goto(&format!("{}/", server.url())).await;
    browser.wait_hydrated().await;
    browser
        .wait_for_css("#dashboard-rollouts .dashboard-rollout")
        .await;
    browser.screenshot("dashboard-busy").await;

    browser.close().await;

    // A phone: no page is wider than the screen (tables turn into cards).
    let phone = Browser::start_phone(390, 844).await;
    phone.login(server.url(), "ada", PASSWORD).await;
    for path in [
        "/".to_owned(),
        "/nodes".to_owned(),
        "/services".to_owned(),
        format!("/services/{moving}"),
    ] {
        let visit = visit(path, "phone", "h1");
        phone.goto(&format!("{}{}", server.url(), visit.path)).await;
        phone.wait_hydrated().await;
        phone.wait_for_css(&visit.proof).await;
        let widths = phone
            .eval("const r = document.documentElement; return [innerWidth, r.scrollWidth]")
            .await;
        if widths[0] != 390 || widths[1].as_f64().is_none_or(|px| px > 390.0) {
            report.fail(
                &visit,
                format_args!("not laid out within 390 px: [viewport, page] = {widths}"),
            );
        }
        let name = format!("phone{}", visit.path.replace('/', "_"));
        phone.screenshot(&format!("direct-{name}")).await;
    }
    phone.close().await;
    report.finish("busy cluster");
}
