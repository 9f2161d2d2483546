//! Builds the demo images with scripts/build-demo-images.sh under a unique
//! repository name and checks them on the real Docker engine, through the
//! docker CLI. Every container and image it creates is removed on the way
//! out, including when an assertion fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TAGS: [&str; 3] = ["v1", "v2", "bad"];

fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run docker: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) -> String {
    docker(args).unwrap_or_else(|error| panic!("{error}"))
}

/// Owns a unique image repository and every container started under its
/// label; dropping it removes them all.
struct Fixture {
    repo: String,
    label: String,
}

impl Fixture {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let repo = format!("shoal-demo-test-{}-{nanos}", std::process::id());
        Fixture {
            label: format!("shoal.demo.test={repo}"),
            repo,
        }
    }

    fn build_images(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-demo-images.sh");
        let output = Command::new(&script)
            .arg(&self.repo)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
        assert!(
            output.status.success(),
            "{} failed:\n{}\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repo)
    }

    fn start(&self, tag: &str, extra: &[&str]) -> Container {
        let image = self.image(tag);
        let mut args = vec![
            "run",
            "--detach",
            "--pull",
            "never",
            "--label",
            &self.label,
            "--publish",
            "127.0.0.1::8080",
        ];
        args.extend_from_slice(extra);
        args.push(&image);
        let id = must(&args);
        let port = must(&["port", &id, "8080/tcp"]);
        let addr = port
            .lines()
            .find_map(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("no published address in {port:?}"));
        Container { id, addr }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let filter = format!("label={}", self.label);
        if let Ok(ids) = docker(&["ps", "--all", "--quiet", "--filter", &filter]) {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(ids.lines());
            if args.len() > 3 {
                let _ = docker(&args);
            }
        }
        let images: Vec<String> = TAGS.iter().map(|tag| self.image(tag)).collect();
        let mut args = vec!["image", "rm"];
        args.extend(images.iter().map(String::as_str));
        // Tags that were never built make this fail; the others still go.
        let _ = docker(&args);
    }
}

struct Container {
    id: String,
    addr: SocketAddr,
}

impl Container {
    /// One request on a fresh connection. Retries until the server answers,
    /// because Docker's port proxy accepts connections before the program
    /// inside listens.
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        poll(
            &format!("{method} {path} on {}", self.id),
            Duration::from_secs(10),
            || {
                let stream = connect(self.addr).ok()?;
                let mut writer = &stream;
                write!(
                    writer,
                    "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
                )
                .ok()?;
                let (status, headers, body) = read_response(&mut BufReader::new(&stream))?;
                assert!(headers.contains("connection: close"), "{headers}");
                Some((status, body))
            },
        )
    }

    fn inspect(&self, format: &str) -> String {
        must(&["inspect", "--format", format, &self.id])
    }

    fn wait_exit(&self, within: Duration) -> i32 {
        poll(&format!("{} to exit", self.id), within, || {
            let state = self.inspect("{{.State.Status}} {{.State.ExitCode}}");
            let code = state.strip_prefix("exited ")?;
            Some(code.parse().unwrap())
        })
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

/// Reads one response framed by Content-Length; headers come back lowercased.
fn read_response<R: BufRead>(reader: &mut R) -> Option<(u16, String, String)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line.trim_end().is_empty() {
            break;
        }
        headers.push_str(&line.to_ascii_lowercase());
    }
    let length: usize = headers
        .lines()
        .find_map(|header| header.strip_prefix("content-length:"))
        .expect("every response carries Content-Length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((status, headers, String::from_utf8(body).unwrap()))
}

fn poll<T>(what: &str, within: Duration, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn demo_images_serve_fail_and_stop_as_documented() {
    let fixture = Fixture::new();
    fixture.build_images();
    for tag in TAGS {
        let labels = must(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &fixture.image(tag),
        ]);
        assert!(labels.contains(r#""shoal.demo":"1""#), "{tag}: {labels}");
    }

    let v1 = fixture.start("v1", &[]);
    let v2 = fixture.start("v2", &[]);
    let bad = fixture.start("bad", &[]);
    let crashing = fixture.start("v1", &["--env", "SHOAL_DEMO_FAIL=exit"]);

    // Docker makes the container's hostname its short id.
    let short_id = |container: &Container| container.id[..12].to_owned();
    assert_eq!(
        v1.request("GET", "/"),
        (200, format!("shoal-demo v1 on {}\n", short_id(&v1)))
    );
    assert_eq!(
        v2.request("GET", "/"),
        (200, format!("shoal-demo v2 on {}\n", short_id(&v2)))
    );
    assert_eq!(
        bad.request("GET", "/"),
        (200, format!("shoal-demo bad on {}\n", short_id(&bad)))
    );
    assert_eq!(v1.request("GET", "/health"), (200, "ok".to_owned()));
    assert_eq!(bad.request("GET", "/health"), (503, "unhealthy".to_owned()));

    // Keep-alive: several requests on one connection, then a polite close.
    let stream = connect(v1.addr).unwrap();
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    for path in ["/", "/health", "/"] {
        write!(writer, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let (status, headers, _) = read_response(&mut reader).expect("a response on the kept connection");
        assert_eq!(status, 200);
        assert!(headers.contains("connection: keep-alive"), "{headers}");
    }
    write!(writer, "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let (_, headers, _) = read_response(&mut reader).unwrap();
    assert!(headers.contains("connection: close"), "{headers}");
    assert_eq!(
        reader.read(&mut [0; 1]).unwrap(),
        0,
        "the server closes after Connection: close"
    );

    // The check subcommand is what Docker's HEALTHCHECK runs.
    poll("v1 healthy and bad unhealthy", Duration::from_secs(20), || {
        let states = (
            v1.inspect("{{.State.Health.Status}}"),
            bad.inspect("{{.State.Health.Status}}"),
        );
        (states.0 == "healthy" && states.1 == "unhealthy").then_some(())
    });

    assert_eq!(
        crashing.wait_exit(Duration::from_secs(10)),
        1,
        "SHOAL_DEMO_FAIL=exit exits with 1"
    );

    assert_eq!(v1.request("POST", "/fail"), (200, "unhealthy".to_owned()));
    assert_eq!(v1.request("GET", "/health"), (503, "unhealthy".to_owned()));
    assert_eq!(v1.request("POST", "/recover"), (200, "ok".to_owned()));
    assert_eq!(v1.request("GET", "/health"), (200, "ok".to_owned()));

    assert_eq!(
        v2.request("POST", "/exit?code=7"),
        (200, "exiting with code 7\n".to_owned())
    );
    assert_eq!(v2.wait_exit(Duration::from_secs(5)), 7);

    // SIGTERM must end PID 1 itself: were it ignored, docker stop would wait
    // out its 10 s and then kill (exit code 137).
    let started = Instant::now();
    must(&["stop", "--time", "10", &v1.id]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "docker stop took {took:?}");
    assert_eq!(v1.inspect("{{.State.ExitCode}}"), "0");
}
