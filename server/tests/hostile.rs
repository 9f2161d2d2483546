//! Hostile input to every REST route, every server function and the webhook
//! receiver, sent as an admin so that it passes the access checks and
//! reaches the decoders and handlers: oversized, malformed, deeply nested
//! and non-UTF-8 bodies, wrong content types, empty bodies, and injected
//! path parameters and query strings. Whatever arrives, the answer is a
//! 4xx (or a success), never a 5xx, a panic or a connection closed without
//! an answer; afterwards the server still answers, and its memory has not
//! grown without bound. Both route tables come from the server, so a new
//! route is attacked the moment it exists.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{TestServer, created};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{auth::Role, webhook::CreatedWebhook};
use shoal_server::{
    hooks::signature,
    http::{api, rpc},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    sync::Semaphore,
    task::JoinSet,
};

/// Far above every body limit (64 KiB for the API and server functions,
/// 256 KiB for webhook deliveries).
const OVERSIZED: usize = 2 << 20;

/// Far longer than any id or query value the server has a use for, yet
/// short enough for the HTTP layer (URIs up to 64 KiB) to pass it on.
const LONG: usize = 60_000;

/// Requests in flight at once: enough to be quick, few enough for 2 cores.
const IN_FLIGHT: usize = 8;

/// The longest a single request may take to be answered.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// How much the test process (the server runs inside it) may grow while
/// the cases run. Buffering every oversized body would take well over this.
const MEMORY_GROWTH_LIMIT_KIB: u64 = 64 * 1024;

/// The stand-in for a route's `{id}` when only its body or query is hostile.
const SOME_ID: &str = "hostile";

/// Panics anywhere in this process: the server runs inside it, and a
/// handler that panics only drops its connection.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// One hostile request, sent byte for byte as it is here.
struct Case {
    what: String,
    method: &'static str,
    /// Path and query, possibly not valid in any URL.
    target: Vec<u8>,
    content_type: Option<&'static str>,
    body: Arc<Vec<u8>>,
    /// `Authorization`, and for the webhook receiver a valid signature of
    /// the body, so that the body itself reaches the payload parser.
    bearer: String,
    signature: Option<String>,
}

impl Case {
    fn head(&self, address: &str) -> Vec<u8> {
        let mut head = [self.method.as_bytes(), b" ", &self.target, b" HTTP/1.1\r\n"].concat();
        let mut header = |name: &str, value: &str| head.extend(format!("{name}: {value}\r\n").into_bytes());
        header("host", address);
        header("connection", "close");
        header("authorization", &format!("Bearer {}", self.bearer));
        header("content-length", &self.body.len().to_string());
        if let Some(content_type) = self.content_type {
            header("content-type", content_type);
        }
        if let Some(signed) = &self.signature {
            header(signature::HEADER, signed);
        }
        head.extend(b"\r\n");
        head
    }

    /// What went wrong, if anything.
    async fn send(&self, address: &str) -> Option<String> {
        let what = match tokio::time::timeout(
            ANSWER_WITHIN,
            exchange(address, self.head(address), Arc::clone(&self.body)),
        )
        .await
        {
            Ok(Ok(status)) if status < 500 => return None,
            Ok(Ok(status)) => format!("answered {status}"),
            Ok(Err(error)) => error,
            Err(_) => format!("no answer within {ANSWER_WITHIN:?}"),
        };
        let target: String = String::from_utf8_lossy(&self.target).chars().take(100).collect();
        Some(format!("{} {target} with {}: {what}", self.method, self.what))
    }
}

/// The status code of the answer to a request sent over a connection of
/// its own. The body is written while the answer is awaited: the server may
/// answer before it has read the body (a 413, a 404) and stop reading.
async fn exchange(address: &str, head: Vec<u8>, body: Arc<Vec<u8>>) -> Result<u16, String> {
    let (read, mut write) = TcpStream::connect(address)
        .await
        .map_err(|error| format!("cannot connect: {error}"))?
        .into_split();
    let writer = tokio::spawn(async move {
        // Refused unread, the rest of the body has nowhere to go; the
        // answer says what happened.
        if write.write_all(&head).await.is_ok() {
            let _ = write.write_all(&body).await;
        }
        // Kept open until the answer is read: the server takes a client
        // that shuts its side for one that went away.
        write
    });
    let mut status_line = String::new();
    let read = BufReader::new(read).read_line(&mut status_line).await;
    writer.abort();
    read.map_err(|error| format!("no answer: {error}"))?;
    status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("closed without an answer: {status_line:?}"))
}

/// Bodies every route and server function gets, each with its content type.
fn hostile_bodies() -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    let form = Some("application/x-www-form-urlencoded");
    let oversized_json = [br#"{"name":""#.as_slice(), &vec![b'a'; OVERSIZED], br#""}"#].concat();
    let oversized_form = [b"name=".as_slice(), &vec![b'a'; OVERSIZED]].concat();
    vec![
        ("2 MiB of JSON", json, oversized_json),
        ("a 2 MiB form", form, oversized_form),
        ("malformed JSON", json, br#"{"name": "web", "image":"#.to_vec()),
        ("100,000 nested arrays", json, vec![b'['; 100_000]),
        ("100,000 nested objects", json, br#"{"a":"#.repeat(100_000)),
        ("non-UTF-8 JSON", json, b"{\"name\":\"\xff\xfe\xfd\"}".to_vec()),
        ("a non-UTF-8 form", form, b"name=\xff\xfe&id=\xc0\x80".to_vec()),
        ("a malformed form", form, b"%zz=%&&==&id[=1&[]=".to_vec()),
        (
            "a form nested 10,000 deep",
            form,
            [b"a".as_slice(), "[a]".repeat(10_000).as_bytes(), b"=1"].concat(),
        ),
        ("JSON null", json, b"null".to_vec()),
        (
            "a number too big for any type",
            json,
            br#"{"replicas": 1e999999, "id": 99999999999999999999999}"#.to_vec(),
        ),
        (
            "JSON as text/plain",
            Some("text/plain"),
            br#"{"name": "web"}"#.to_vec(),
        ),
        (
            "XML",
            Some("application/xml"),
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"a\">]><x>&a;</x>".to_vec(),
        ),
        (
            "multipart garbage",
            Some("multipart/form-data; boundary=x"),
            b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff--".to_vec(),
        ),
        ("an empty JSON body", json, Vec::new()),
        ("an empty body without a content type", None, Vec::new()),
    ]
}

/// Path parameters: traversal, NUL, very long, SQL, unicode and broken
/// percent-encoding, each as a route's `{id}`; some as raw bytes, as no
/// client would send them (a client resolves `..` and encodes the rest).
fn hostile_ids() -> Vec<(&'static str, Vec<u8>)> {
    let mut ids: Vec<(&'static str, Vec<u8>)> = vec![
        ("a raw traversal", b"../../../etc/passwd".to_vec()),
        ("raw non-UTF-8 bytes", b"\xff\xfe".to_vec()),
        ("raw unicode", "☃𝄞\u{202e}".as_bytes().to_vec()),
    ];
    let encoded: Vec<(&'static str, String)> = vec![
        ("a traversal", "..%2F..%2F..%2Fetc%2Fpasswd".into()),
        ("a NUL", "%00".into()),
        ("60,000 characters", "a".repeat(LONG)),
        ("SQL", "x'%3B%20DROP%20TABLE%20users%3B%20--".into()),
        ("unicode", "%E2%98%83%F0%9D%84%9E%E2%80%AE%EF%BB%BF".into()),
        ("invalid UTF-8", "%ff%fe".into()),
        ("invalid percent-encoding", "%zz%".into()),
    ];
    ids.extend(encoded.into_iter().map(|(name, id)| (name, id.into_bytes())));
    ids
}

/// Query strings: huge values, repeated keys, invalid percent-encoding.
fn hostile_queries() -> Vec<(&'static str, String)> {
    vec![
        ("a 60,000-digit value", format!("limit={}", "9".repeat(LONG))),
        ("a key repeated 2,000 times", "since=1&".repeat(2_000)),
        (
            "repeated known keys",
            "from=1&from=2&to=3&to=x&force=true&force=false".into(),
        ),
        ("invalid percent-encoding", "%zz=%ff%fe&since=%&token=%00".into()),
        ("brackets", "a[b][c][d][e][f][g]=1&[]=&a[]=2".into()),
        ("nothing but separators", "&".repeat(10_000)),
    ]
}

fn cases(webhook: &CreatedWebhook, bearer: &str) -> Vec<Case> {
    let hook = format!("/hooks/{}", webhook.webhook.id);
    // The webhook receiver is in neither table; it takes deliveries.
    let mut targets: Vec<(&'static str, &str)> = vec![("POST", "/hooks/{id}")];
    let routes = api::table();
    targets.extend(routes.iter().map(|route| (route.method, route.path)));
    targets.extend(rpc::ACCESS.iter().map(|(path, _)| ("POST", *path)));
    // A server function's name is a path too.
    targets.push(("POST", "/rpc/{id}"));

    let mut cases = Vec::new();
    let mut add = |what: String, method: &'static str, target: Vec<u8>, content_type, body: Arc<Vec<u8>>| {
        // A delivery to the real webhook carries its secret and a valid
        // signature; anywhere else the webhook's id is just a path.
        let to_hook = target.starts_with(hook.as_bytes());
        cases.push(Case {
            what,
            method,
            target,
            content_type,
            bearer: if to_hook {
                webhook.secret.clone()
            } else {
                bearer.to_owned()
            },
            signature: to_hook.then(|| signature::sign(webhook.signing_secret.as_deref().unwrap(), &body)),
            body,
        });
    };
    let some = |path: &str| {
        if path == "/hooks/{id}" {
            hook.clone()
        } else {
            path.replace("{id}", SOME_ID)
        }
    };
    let nothing = Arc::new(Vec::new());
    for (name, content_type, body) in hostile_bodies() {
        let body = Arc::new(body);
        for (method, path) in &targets {
            add(
                name.into(),
                method,
                some(path).into_bytes(),
                content_type,
                Arc::clone(&body),
            );
        }
    }
    for (method, path) in &targets {
        for (name, query) in hostile_queries() {
            let target = format!("{}?{query}", some(path)).into_bytes();
            add(
                format!("a query with {name}"),
                method,
                target,
                None,
                Arc::clone(&nothing),
            );
        }
        if let Some((before, after)) = path.split_once("{id}") {
            for (name, id) in hostile_ids() {
                let target = [before.as_bytes(), &id, after.as_bytes()].concat();
                add(
                    format!("{name} as the id"),
                    method,
                    target,
                    None,
                    Arc::clone(&nothing),
                );
            }
        }
    }
    cases
}

/// The resident memory of this process, in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_to_every_route_and_server_function_gets_no_5xx_and_leaves_the_server_well() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    let server = TestServer::start().await;
    server.user("root", Role::Admin).await;
    let bearer = server.token("root", Role::Admin).await;
    let admin = server.login("root").await;
    let _: Value = created(
        admin
            .post(server.url("/api/v1/services"))
            .json(&json!({ "name": "web", "image": "shoal-demo:v1", "replicas": 0 })),
    )
    .await;
    let webhook: CreatedWebhook = created(
        admin
            .post(server.url("/api/v1/services/web/webhooks"))
            .json(&json!({ "name": "hostile", "signed": true })),
    )
    .await;
    let cases = cases(&webhook, &bearer);
    let total = cases.len();
    assert!(total > (api::table().len() + rpc::ACCESS.len()) * hostile_bodies().len());

    let address: Arc<str> = server.base.trim_start_matches("http://").into();
    let before = resident_kib();
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut running = JoinSet::new();
    for case in cases {
        let slot = Arc::clone(&slots).acquire_owned().await.unwrap();
        let address = Arc::clone(&address);
        running.spawn(async move {
            let failure = case.send(&address).await;
            drop(slot);
            failure
        });
    }
    let failures: Vec<String> = running.join_all().await.into_iter().flatten().collect();
    let grown = resident_kib().saturating_sub(before);
    println!(
        "{total} hostile requests in {:.1?}; resident memory grew by {grown} KiB",
        started.elapsed()
    );

    assert!(
        failures.is_empty(),
        "{} of {total} hostile requests got a 5xx or no answer:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "the server panicked (see above)"
    );
    let health = Client::new().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the server stopped answering");
    assert!(
        grown < MEMORY_GROWTH_LIMIT_KIB,
        "resident memory grew by {grown} KiB, over the {MEMORY_GROWTH_LIMIT_KIB} KiB allowed"
    );
}
