//! Webhook deliveries: every way one is refused or ignored (nothing deployed,
//! the delivery recorded), who may manage webhooks, and a push to Debian's
//! `docker-registry` rolling a service forward on real Docker.

mod common;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{TestServer, cluster::Cluster, docker::docker};
use reqwest::{Client, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shoal_proto::{
    auth::Role,
    service::Service,
    webhook::{CreatedWebhook, Delivery, DeliveryReceipt, Outcome, Webhook},
};
use shoal_server::hooks::signature::sign;

struct Hooked {
    server: TestServer,
    op: Client,
}

impl Hooked {
    /// A service with no replicas (nothing needs to run for a delivery to
    /// be judged) and an operator to manage its webhooks.
    async fn start() -> Self {
        let server = TestServer::start().await;
        server.user("op", Role::Operator).await;
        let op = server.login("op").await;
        let response = op
            .post(server.url("/api/v1/services"))
            .json(&json!({ "name": "web", "image": "shoal-demo:v1", "replicas": 0 }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        Self { server, op }
    }

    /// The operator's request, answered with `status`; its body as text.
    async fn call(&self, method: Method, path: &str, body: Option<Value>, status: StatusCode) -> String {
        let mut request = self.op.request(method.clone(), self.server.url(path));
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let got = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        text
    }

    /// The operator's request, answered with `status` and a JSON body.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> T {
        let text = self.call(method, path, body, status).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    async fn create(&self, body: Value) -> CreatedWebhook {
        self.json(
            Method::POST,
            "/api/v1/services/web/webhooks",
            Some(body),
            StatusCode::CREATED,
        )
        .await
    }

    async fn deliver(
        &self,
        hook: &CreatedWebhook,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> (StatusCode, DeliveryReceipt) {
        let mut request = Client::new()
            .post(self.server.url(&hook.webhook.path))
            .header("authorization", format!("Bearer {}", hook.secret))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
        )
    }

    async fn deliveries(&self, hook: &CreatedWebhook) -> Vec<Delivery> {
        let path = format!("/api/v1/webhooks/{}/deliveries", hook.webhook.id);
        self.json(Method::GET, &path, None, StatusCode::OK).await
    }

    async fn revision(&self) -> u64 {
        let service: Service = self
            .json(Method::GET, "/api/v1/services/web", None, StatusCode::OK)
            .await;
        service.revision
    }
}

#[tokio::test]
async fn guesses_at_the_secret_neither_spend_the_webhooks_budget_nor_reopen_an_old_delivery() {
    let hooked = Hooked::start().await;
    let hook = hooked
        .create(json!({ "name": "ci", "allow": "shoal-demo:v*" }))
        .await;
    let tag = |tag: &str| json!({ "tag": tag }).to_string().into_bytes();
    let (status, first) = hooked
        .deliver(&hook, &tag("v2"), &[("x-delivery-id", "d-1")])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first:?}");

    let client = Client::new();
    let mut throttled = 0;
    for _ in 0..500 {
        let response = client
            .post(hooked.server.url(&hook.webhook.path))
            .header("authorization", "Bearer guess")
            .body(tag("v9"))
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("a guess got {other}"),
        }
    }
    assert!(
        throttled > 400,
        "guessers are slowed per address: {throttled} of 500"
    );
    let (status, second) = hooked
        .deliver(&hook, &tag("v3"), &[("x-delivery-id", "d-2")])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second:?}");
    assert_eq!(
        hooked.deliveries(&hook).await.len(),
        2,
        "guesses are not deliveries"
    );

    // Push d-1 out of the history with deliveries that know the secret.
    for _ in 0..210 {
        hooked.deliver(&hook, b"{\"ref\": \"main\"}", &[]).await;
    }
    let history = hooked.deliveries(&hook).await;
    assert!(history.iter().all(|d| d.delivery_id.as_deref() != Some("d-1")));
    // The flood spent the webhook's budget; a token comes back within 0.5 s.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, replay) = hooked
        .deliver(&hook, &tag("v2"), &[("x-delivery-id", "d-1")])
        .await;
    assert_eq!(
        (status, replay.outcome),
        (StatusCode::OK, Outcome::Duplicate),
        "{replay:?}"
    );
    assert_eq!(
        hooked.revision().await,
        3,
        "the old delivery did not roll the service back to v2"
    );
}

#[tokio::test]
async fn bad_deliveries_are_refused_or_ignored_and_recorded_and_nothing_deploys() {
    let hooked = Hooked::start().await;
    let hook = hooked
        .create(json!({ "name": "ci", "allow": "shoal-demo:v*" }))
        .await;
    assert_eq!(hook.webhook.path, format!("/hooks/{}", hook.webhook.id));
    assert!(!hook.webhook.signed && hook.signing_secret.is_none());
    let tag = |tag: &str| json!({ "tag": tag }).to_string().into_bytes();

    let cases: Vec<(&str, (StatusCode, DeliveryReceipt), StatusCode, &str)> = vec![
        (
            "tag outside the pattern",
            hooked.deliver(&hook, &tag("latest"), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside this webhook's allow-pattern",
        ),
        (
            "another repository",
            hooked
                .deliver(&hook, &json!({ "image": "api:v2" }).to_string().into_bytes(), &[])
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not this service's repository",
        ),
        (
            "malformed JSON",
            hooked.deliver(&hook, b"{\"tag\": ", &[]).await,
            StatusCode::BAD_REQUEST,
            "not JSON",
        ),
        (
            "an unknown format",
            hooked.deliver(&hook, b"{\"ref\": \"main\"}", &[]).await,
            StatusCode::BAD_REQUEST,
            "Docker registry notification",
        ),
        (
            "a huge body",
            hooked.deliver(&hook, &vec![b' '; 300 * 1024], &[]).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "KiB",
        ),
        (
            "the running image",
            hooked.deliver(&hook, &tag("v1"), &[]).await,
            StatusCode::OK,
            "runs shoal-demo:v1 already",
        ),
    ];
    for (what, (status, receipt), expected, says) in &cases {
        assert_eq!(status, expected, "{what}: {receipt:?}");
        assert!(receipt.message.contains(says), "{what}: {}", receipt.message);
        assert!(receipt.rollout_id.is_none(), "{what} started a rollout");
    }
    // A wrong secret, none, and a wrong one through the URL (for senders
    // without headers): errors, not deliveries.
    let wrong = Client::new()
        .post(hooked.server.url(&hook.webhook.path))
        .header("authorization", format!("Bearer {}", "0".repeat(64)))
        .body(tag("v2"))
        .send()
        .await
        .unwrap();
    let (status, code, message) = common::error_of(wrong).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "bad_credentials")
    );
    assert!(message.contains("wrong webhook secret"), "{message}");
    let bare = Client::new()
        .post(hooked.server.url(&hook.webhook.path))
        .body(tag("v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let wrong_query = format!("{}?token={}", hook.webhook.path, "1".repeat(64));
    let by_query = Client::new()
        .post(hooked.server.url(&wrong_query))
        .body(tag("v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        hooked.revision().await,
        1,
        "a refused delivery changed the service"
    );

    // Requests without the secret are kept out of the history (issue 14):
    // guesses must not push real deliveries out of it.
    let recorded = hooked.deliveries(&hook).await;
    assert_eq!(recorded.len(), cases.len(), "{recorded:#?}");
    let outcomes: Vec<(u16, Outcome)> = recorded.iter().rev().map(|d| (d.status, d.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (422, Outcome::Refused),
            (422, Outcome::Refused),
            (400, Outcome::Refused),
            (400, Outcome::Refused),
            (413, Outcome::Refused),
            (200, Outcome::Unchanged),
        ]
    );
    assert!(
        recorded
            .iter()
            .all(|d| d.source == "127.0.0.1" && !d.reason.is_empty())
    );

    // A disabled webhook refuses even a good delivery.
    let path = format!("/api/v1/webhooks/{}", hook.webhook.id);
    let disabled: Webhook = hooked
        .json(
            Method::PATCH,
            &path,
            Some(json!({ "enabled": false })),
            StatusCode::OK,
        )
        .await;
    assert!(!disabled.enabled);
    let (status, receipt) = hooked.deliver(&hook, &tag("v2"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{receipt:?}");
    assert!(receipt.message.contains("disabled"), "{}", receipt.message);
    assert_eq!(hooked.revision().await, 1);
    assert_eq!(hooked.deliveries(&hook).await[0].outcome, Outcome::Refused);
}

#[tokio::test]
async fn a_signed_webhook_needs_the_right_signature_and_a_repeated_delivery_id_deploys_once() {
    let hooked = Hooked::start().await;
    let hook = hooked.create(json!({ "name": "github", "signed": true })).await;
    assert_eq!(hook.webhook.allow, "shoal-demo:*", "the default pattern");
    let key = hook
        .signing_secret
        .clone()
        .expect("a signed webhook has a signing secret");
    let body = json!({ "tag": "v2" }).to_string().into_bytes();

    let (status, receipt) = hooked.deliver(&hook, &body, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned: {receipt:?}");
    assert!(
        receipt.message.contains("X-Hub-Signature-256"),
        "{}",
        receipt.message
    );
    let forged = sign("not the key", &body);
    let (status, receipt) = hooked
        .deliver(&hook, &body, &[("x-hub-signature-256", &forged)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "badly signed: {receipt:?}");
    assert!(receipt.message.contains("does not match"), "{}", receipt.message);
    assert_eq!(hooked.revision().await, 1);

    let signed = sign(&key, &body);
    let headers = [
        ("x-hub-signature-256", signed.as_str()),
        ("x-delivery-id", "build-41"),
    ];
    let (status, first) = hooked.deliver(&hook, &body, &headers).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first:?}");
    assert_eq!((first.outcome, first.revision), (Outcome::Deployed, Some(2)));
    assert_eq!(first.image.as_deref(), Some("shoal-demo:v2"));
    let rollout_id = first.rollout_id.clone().expect("a deploy names its rollout");
    assert_eq!(
        first.status_url.as_deref(),
        Some(format!("/api/v1/rollouts/{rollout_id}").as_str())
    );

    // CI polls the status URL; the rollout says a webhook started it.
    let rollout: Value = hooked
        .json(
            Method::GET,
            first.status_url.as_deref().unwrap(),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(rollout["rollout"]["trigger"], "webhook", "{rollout}");
    assert_eq!(rollout["rollout"]["actor"], "webhook github", "{rollout}");

    let (status, again) = hooked.deliver(&hook, &body, &headers).await;
    assert_eq!(status, StatusCode::OK, "{again:?}");
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(again.rollout_id.as_deref(), Some(rollout_id.as_str()));
    assert_eq!(hooked.revision().await, 2, "a replayed delivery made a revision");

    // Rotation: the old secrets stop working at once.
    let path = format!("/api/v1/webhooks/{}/rotate", hook.webhook.id);
    let rotated: CreatedWebhook = hooked.json(Method::POST, &path, None, StatusCode::OK).await;
    assert_ne!(rotated.secret, hook.secret);
    assert_ne!(rotated.signing_secret, hook.signing_secret);
    let v3 = json!({ "tag": "v3" }).to_string().into_bytes();
    let old = sign(&key, &v3);
    let refused = Client::new()
        .post(hooked.server.url(&hook.webhook.path))
        .header("authorization", format!("Bearer {}", hook.secret))
        .header("x-hub-signature-256", &old)
        .body(v3.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let new = sign(rotated.signing_secret.as_deref().unwrap(), &v3);
    let (status, receipt) = hooked
        .deliver(&rotated, &v3, &[("x-hub-signature-256", &new)])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt:?}");

    // The audit log names the webhook as the actor of the change.
    hooked.server.user("boss", Role::Admin).await;
    let admin = hooked.server.login("boss").await;
    let audit: Value = admin
        .get(hooked.server.url("/api/v1/audit?action=service.update"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().expect("audit entries");
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(
        entries
            .iter()
            .all(|e| e["actor_kind"] == "webhook" && e["actor_id"] == hook.webhook.id.as_str()),
        "{audit}"
    );
}

#[tokio::test]
async fn a_flood_of_deliveries_is_rate_limited() {
    let hooked = Hooked::start().await;
    let hook = hooked.create(json!({ "name": "ci" })).await;
    let mut limited = None;
    for n in 0..200 {
        let (status, receipt) = hooked.deliver(&hook, b"{\"tag\": \"v1\"}", &[]).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((n, receipt));
            break;
        }
    }
    let (n, receipt) = limited.expect("200 deliveries in a row were never limited");
    assert!(n >= 100, "limited after only {n} deliveries");
    assert!(
        receipt.message.contains("too many deliveries"),
        "{}",
        receipt.message
    );
    assert_eq!(hooked.deliveries(&hook).await[0].status, 429);
}

#[tokio::test]
async fn operators_manage_webhooks_and_viewers_cannot_see_them() {
    let hooked = Hooked::start().await;
    let hook = hooked
        .create(json!({ "name": "ci", "allow": "shoal-demo:v*" }))
        .await;
    hooked.server.user("eve", Role::Viewer).await;
    let viewer = hooked.server.login("eve").await;
    let paths = [
        ("GET", "/api/v1/services/web/webhooks".to_owned()),
        ("POST", "/api/v1/services/web/webhooks".to_owned()),
        ("GET", format!("/api/v1/webhooks/{}", hook.webhook.id)),
        ("PATCH", format!("/api/v1/webhooks/{}", hook.webhook.id)),
        ("DELETE", format!("/api/v1/webhooks/{}", hook.webhook.id)),
        ("POST", format!("/api/v1/webhooks/{}/rotate", hook.webhook.id)),
        ("GET", format!("/api/v1/webhooks/{}/deliveries", hook.webhook.id)),
    ];
    for (method, path) in &paths {
        let response = viewer
            .request(method.parse().unwrap(), hooked.server.url(path))
            .json(&json!({ "name": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }

    let list: Vec<Webhook> = hooked
        .json(Method::GET, "/api/v1/services/web/webhooks", None, StatusCode::OK)
        .await;
    assert_eq!(list, std::slice::from_ref(&hook.webhook));
    let body: Value = list.iter().map(|w| serde_json::to_value(w).unwrap()).collect();
    assert!(
        !body.to_string().contains(&hook.secret),
        "a listing shows the secret"
    );

    // Bad input names the field; a second webhook of the same name conflicts.
    for (body, status, says) in [
        (json!({ "name": "" }), StatusCode::BAD_REQUEST, "needs a name"),
        (
            json!({ "name": "x", "allow": "api:*" }),
            StatusCode::BAD_REQUEST,
            "does not cover",
        ),
        (json!({ "name": "ci" }), StatusCode::CONFLICT, "already"),
    ] {
        let text = hooked
            .call(
                Method::POST,
                "/api/v1/services/web/webhooks",
                Some(body.clone()),
                status,
            )
            .await;
        assert!(text.contains(says), "{body}: {text}");
    }

    let path = format!("/api/v1/webhooks/{}", hook.webhook.id);
    hooked
        .call(Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let gone = Client::new()
        .post(hooked.server.url(&hook.webhook.path))
        .bearer_auth(&hook.secret)
        .body("{\"tag\": \"v2\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

/// Debian's `docker-registry` on a free loopback port, notifying `endpoint`,
/// with the images this test tagged for it removed when it ends.
struct Registry {
    process: Child,
    address: String,
    _storage: tempfile::TempDir,
}

impl Registry {
    fn start(endpoint: &str, secret: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let storage = tempfile::tempdir().unwrap();
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: warn\n\
                 storage:\n  filesystem:\n    rootdirectory: {root}\n\
                 http:\n  addr: {address}\n\
                 notifications:\n  endpoints:\n    - name: shoal\n      url: {endpoint}\n      \
                 headers:\n        Authorization: [\"Bearer {secret}\"]\n      timeout: 2s\n      \
                 threshold: 3\n      backoff: 1s\n",
                root = storage.path().join("data").display(),
            ),
        )
        .unwrap();
        let process = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's docker-registry is installed (scripts/setup.sh installs it)");
        let registry = Self {
            process,
            address,
            _storage: storage,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.address).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }

    fn image(&self, tag: &str) -> String {
        format!("{}/shoal-demo:{tag}", self.address)
    }

    /// Tags the local demo image for this registry, pushes it, and drops the
    /// local tag again so that agents must pull it.
    fn push(&self, tag: &str) {
        let image = self.image(tag);
        docker(&["tag", &format!("shoal-demo:{tag}"), &image]).unwrap();
        docker(&["push", &image]).unwrap_or_else(|e| panic!("docker push {image}: {e}"));
        docker(&["rmi", &image]).unwrap();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        for tag in ["v1", "v2"] {
            let _ = docker(&["rmi", &self.image(tag)]);
        }
    }
}

#[tokio::test]
async fn a_push_to_the_registry_rolls_the_service_forward_on_docker() {
    let mut cluster = Cluster::start().await;
    cluster.join_workers(3).await;

    // The registry's address is only known once it listens, and its
    // notifications need the webhook: create the service empty, then fill
    // in the image.
    let spec = |image: &str, replicas: u64| {
        json!({
            "name": "web",
            "image": image,
            "replicas": replicas,
            "pull_policy": "always",
            "ports": [{ "target": 8080 }],
            "restart_policy": { "delay": "500ms" },
            "stop_grace_period": "2s",
            "update_config": { "parallelism": 2, "monitor": "2s" },
        })
    };
    let service = cluster.create(spec("shoal-demo:v1", 0)).await;
    let (status, created) = cluster
        .send(
            reqwest::Method::POST,
            "/api/v1/services/web/webhooks",
            json!({ "name": "registry" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook: CreatedWebhook = serde_json::from_value(created).unwrap();
    let registry = Registry::start(&cluster.url(&hook.webhook.path), &hook.secret);

    registry.push("v1");
    let service = cluster.put(&service, spec(&registry.image("v1"), 3)).await;
    let (status, body) = cluster
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.webhook.id),
            json!({ "allow": format!("{}/shoal-demo:v*", registry.address) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    cluster.until_healthy(&service, 3).await;

    registry.push("v2");
    let rollout = cluster
        .rollout_completes(&service, "the rollout the push started", |r| {
            r.trigger == "webhook"
        })
        .await;
    let now: Service = cluster.get(&format!("/api/v1/services/{}", service.id)).await;
    assert_eq!(now.spec.image, registry.image("v2"));
    assert_eq!(now.revision, rollout.to_revision);
    let versions = cluster.versions(&now).await;
    assert_eq!(
        versions.values().collect::<Vec<_>>(),
        ["v2", "v2", "v2"],
        "{versions:?}"
    );

    // What the registry sent is on record: the push that deployed, and the
    // blob pushes and the agents' pulls it ignored.
    let deliveries: Vec<Delivery> = cluster
        .get(&format!("/api/v1/webhooks/{}/deliveries", hook.webhook.id))
        .await;
    let deployed: Vec<&Delivery> = deliveries
        .iter()
        .filter(|d| d.outcome == Outcome::Deployed)
        .collect();
    assert_eq!(deployed.len(), 1, "{deliveries:#?}");
    assert_eq!(deployed[0].rollout_id.as_deref(), Some(rollout.id.as_str()));
    assert_eq!(deployed[0].format.as_deref(), Some("registry"));
    assert!(
        deliveries.iter().any(|d| d.outcome == Outcome::Ignored),
        "{deliveries:#?}"
    );
    assert!(
        deliveries.iter().all(|d| d.status < 300),
        "the registry was refused something: {deliveries:#?}"
    );
}
