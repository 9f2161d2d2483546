//! `shoal-agent doctor` and `--help`, run as the real binary: against the
//! local Docker engine, a stand-in engine, and engines that cannot answer.

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Output},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal-agent"))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("SHOAL_DOCKER_TIMEOUT")
        .env_remove("RUST_LOG")
        .output()
        .expect("shoal-agent runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn docker_cli(format: &str) -> String {
    let output = Command::new("docker")
        .args(["version", "--format", format])
        .output()
        .expect("the docker CLI runs");
    assert!(
        output.status.success(),
        "docker version failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The failure contract: a non-zero exit, nothing on stdout, and exactly one
/// line on stderr that says what went wrong.
fn assert_fails_with_one_line(output: &Output, expected: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "succeeded; stderr: {stderr}");
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(output));
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("shoal-agent: error: "), "stderr: {stderr}");
    assert!(stderr.contains(expected), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    stderr
}

fn version_pair(version: &str) -> (u32, u32) {
    let (major, minor) = version.split_once('.').expect("MAJOR.MINOR");
    (major.parse().unwrap(), minor.parse().unwrap())
}

#[test]
fn doctor_reports_the_local_engine_version() {
    let output = agent(&["doctor"]);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let version = text
        .lines()
        .find_map(|line| line.strip_prefix("Version:"))
        .unwrap_or_else(|| panic!("no Version row in:\n{text}"));
    assert_eq!(version.trim(), docker_cli("{{.Server.Version}}"));
}

#[test]
fn doctor_json_speaks_an_api_version_the_local_engine_accepts() {
    let output = agent(&["doctor", "--json"]);
    assert!(output.status.success());
    let info: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(info["engine_version"], docker_cli("{{.Server.Version}}"));
    let negotiated = version_pair(info["api_version"].as_str().unwrap());
    assert!(negotiated <= version_pair(&docker_cli("{{.Server.APIVersion}}")));
    assert!(info["cpus"].as_u64().unwrap() > 0);
    assert!(info["memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_missing_socket_is_one_clear_line() {
    let output = agent(&["--docker-host", "unix:///nonexistent/docker.sock", "doctor"]);
    let stderr = assert_fails_with_one_line(&output, "cannot reach the Docker engine");
    assert!(stderr.contains("unix:///nonexistent/docker.sock"), "{stderr}");
    assert!(stderr.contains("No such file or directory"), "{stderr}");
}

#[test]
fn a_closed_port_is_one_clear_line() {
    let output = agent(&["--docker-host", "tcp://127.0.0.1:1", "doctor"]);
    let stderr = assert_fails_with_one_line(&output, "cannot reach the Docker engine");
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn docker_host_comes_from_the_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_shoal-agent"))
        .arg("doctor")
        .env("DOCKER_HOST", "unix:///nonexistent/from-env.sock")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = assert_fails_with_one_line(&output, "cannot reach the Docker engine");
    assert!(stderr.contains("unix:///nonexistent/from-env.sock"), "{stderr}");
}

#[test]
fn a_hung_engine_times_out() {
    // Connections queue in the backlog, but nothing ever answers them.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("tcp://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let output = agent(&["--docker-host", &host, "--docker-timeout", "1", "doctor"]);
    assert_fails_with_one_line(&output, "did not answer within 1 s");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn an_older_engine_is_spoken_to_in_its_own_api_version() {
    let engine = FakeEngine::start("1.30");
    let output = agent(&["--docker-host", &engine.host, "doctor", "--json"]);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["api_version"], "1.30");
    assert_eq!(info["engine_version"], "19.03.15");
    assert_eq!(info["containers_running"], 1);
    let paths = engine.paths.lock().unwrap().clone();
    let (negotiation, requests) = paths.split_first().expect("requests were made");
    assert_eq!(negotiation, "/version");
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|path| path.starts_with("/v1.30/")),
        "{paths:?}"
    );
}

#[test]
fn help_explains_every_flag() {
    let help = stdout(&agent(&["--help"]));
    for expected in [
        "doctor",
        "--docker-host <URL>",
        "DOCKER_HOST",
        "unix:///var/run/docker.sock",
        "--docker-timeout <SECONDS>",
        "SHOAL_DOCKER_TIMEOUT",
        "RUST_LOG",
        "--help",
        "--version",
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
    let doctor_help = stdout(&agent(&["doctor", "--help"]));
    for expected in ["--json", "--docker-host <URL>", "--docker-timeout <SECONDS>"] {
        assert!(
            doctor_help.contains(expected),
            "{expected} missing from:\n{doctor_help}"
        );
    }
}

/// A stand-in for an old dockerd on a TCP port: it answers unversioned
/// requests and those at or below its API version, refuses newer ones as
/// dockerd does, and records every request path.
struct FakeEngine {
    host: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl FakeEngine {
    fn start(api_version: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("tcp://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&paths);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let path = read_request_path(&stream);
                recorded.lock().unwrap().push(path.clone());
                let (status, body) = answer(api_version, &path);
                let body = body.to_string();
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        Self { host, paths }
    }
}

fn read_request_path(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    // The agent only sends GETs, so the headers end the request.
    let mut header = String::new();
    while reader.read_line(&mut header).unwrap() > 0 && header != "\r\n" {
        header.clear();
    }
    request_line
        .split_whitespace()
        .nth(1)
        .expect("a request target")
        .to_owned()
}

fn answer(api_version: &str, path: &str) -> (&'static str, Value) {
    let route = match path.strip_prefix("/v").and_then(|rest| rest.split_once('/')) {
        Some((requested, route)) => {
            if version_pair(requested) > version_pair(api_version) {
                let message = format!(
                    "client version {requested} is too new. \
                     Maximum supported API version is {api_version}"
                );
                return ("400 Bad Request", json!({ "message": message }));
            }
            format!("/{route}")
        }
        None => path.to_owned(),
    };
    match route.as_str() {
        "/version" => (
            "200 OK",
            json!({
                "Version": "19.03.15",
                "ApiVersion": api_version,
                "MinAPIVersion": "1.12",
                "Os": "linux",
                "Arch": "arm64",
                "KernelVersion": "5.10.0",
            }),
        ),
        "/info" => (
            "200 OK",
            json!({
                "Name": "fake-node",
                "NCPU": 3,
                "MemTotal": 3_221_225_472_u64,
                "Containers": 2,
                "ContainersRunning": 1,
                "Images": 4,
                "OperatingSystem": "Fake OS",
            }),
        ),
        _ => ("404 Not Found", json!({ "message": "page not found" })),
    }
}

#[test]
fn doctor_checks_what_service_networks_need_from_the_host() {
    let output = agent(&["doctor"]);
    assert!(output.status.success());
    let text = stdout(&output);
    let section = text
        .split_once("Service networks:\n")
        .unwrap_or_else(|| panic!("no service networks section in:\n{text}"))
        .1;
    for check in ["Capabilities:", "Namespaces:", "NAT rules:", "Upstream DNS:"] {
        assert!(section.contains(check), "{check} missing from:\n{section}");
    }
    // The tests run as root with iptables, as an agent must: all is there.
    assert!(!section.contains("MISSING"), "{section}");

    let output = agent(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["engine_version"].is_string(),
        "engine facts stay at the top"
    );
    let checks = report["service_networks"].as_array().unwrap();
    assert_eq!(checks.len(), 4);
    assert!(checks.iter().all(|check| check["ok"] == true), "{checks:?}");
}

#[test]
fn doctor_says_how_to_get_iptables_when_it_is_missing() {
    // A PATH without iptables: the agent finds none.
    let output = Command::new(env!("CARGO_BIN_EXE_shoal-agent"))
        .arg("doctor")
        .env("PATH", "/nonexistent")
        .env_remove("DOCKER_HOST")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(output.status.success(), "the checks fail nothing");
    let text = stdout(&output);
    let row = text
        .lines()
        .find(|line| line.trim_start().starts_with("NAT rules:"))
        .unwrap_or_else(|| panic!("no NAT row in:\n{text}"));
    assert!(
        row.contains("MISSING") && row.contains("apt-get install iptables"),
        "{row}"
    );
}
