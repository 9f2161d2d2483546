//! `shoal-demo check [URL]`: the probe a Docker HEALTHCHECK runs inside a
//! scratch image, where there is no curl.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::dns;

/// Docker's own timeout (2s in the demo images) bounds the probe anyway; this
/// one keeps a manual run from hanging.
const TIMEOUT: Duration = Duration::from_secs(2);
/// A bare address or a URL without a port means the demo's port, not 80.
pub const DEFAULT_PORT: u16 = 8080;
const DEFAULT_PATH: &str = "/health";
/// Enough for any demo answer; a bigger one is cut, not buffered whole.
const MAX_RESPONSE: u64 = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    host: Host,
    port: u16,
    /// The authority as written, for the Host header.
    authority: String,
    path: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    /// Resolved when the target is fetched, with the demo's own DNS client.
    Name(String),
}

/// What a GET brought back.
#[derive(Debug, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub status_line: String,
    /// The body, lossily decoded and cut at [`MAX_RESPONSE`] bytes.
    pub body: String,
    /// Where the request went, its name resolved.
    pub addr: SocketAddr,
}

/// Probes `url`, or the health endpoint on the address the server itself
/// would listen on, and succeeds only on 200.
pub fn run(url: Option<&str>, listen: SocketAddr) -> ExitCode {
    let target = match url {
        Some(url) => match parse_target(url) {
            Ok(target) => target,
            Err(why) => {
                eprintln!("shoal-demo check: {why}");
                return ExitCode::FAILURE;
            }
        },
        None => local_target(listen),
    };
    match fetch(&target) {
        Ok(fetched) => {
            println!("{}", fetched.status_line);
            if fetched.status == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(why) => {
            eprintln!("shoal-demo check: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The server's own health endpoint: a wildcard listen address is reached
/// through loopback of the same family.
fn local_target(listen: SocketAddr) -> Target {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Target {
        host: Host::Ip(ip),
        port: listen.port(),
        authority: SocketAddr::new(ip, listen.port()).to_string(),
        path: DEFAULT_PATH.to_owned(),
    }
}

/// Accepts `http://HOST[:PORT][/PATH]` or `HOST[:PORT][/PATH]`. HOST is an IP
/// address, `localhost`, or a name resolved with the demo's DNS client.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let rest = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url[7..],
        _ if url.contains("://") => return Err(format!("{url}: only http:// URLs are supported")),
        _ => url,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, DEFAULT_PATH),
    };
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("{url}: malformed path"));
    }
    let (host, port) = parse_authority(authority)
        .ok_or_else(|| format!("{url}: host must be an IP address or a host name, with an optional port"))?;
    Ok(Target {
        host,
        port,
        authority: authority.to_owned(),
        path: path.to_owned(),
    })
}

fn parse_authority(authority: &str) -> Option<(Host, u16)> {
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Some((Host::Ip(addr.ip()), addr.port()));
    }
    let (host, port) = match authority.rsplit_once(':') {
        // A colon inside brackets or in a bare IPv6 address is not a port.
        Some((host, port)) if !port.contains(']') && !host.contains(':') => (host, port.parse().ok()?),
        _ => (authority, DEFAULT_PORT),
    };
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = if host.eq_ignore_ascii_case("localhost") {
        Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else if let Ok(ip) = unbracketed.parse() {
        Host::Ip(ip)
    } else if is_host_name(host) {
        Host::Name(host.to_owned())
    } else {
        return None;
    };
    Some((host, port))
}

/// Dot-separated labels of letters, digits, `-` and `_`; the DNS client
/// checks the lengths.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Resolves the target's name if it has one, sends one GET and reads the
/// whole response (up to [`MAX_RESPONSE`] bytes).
pub fn fetch(target: &Target) -> Result<Fetched, String> {
    let addr = resolve(target)?;
    let failed = |e: std::io::Error| format!("{addr}: {e}");
    let stream = connect(addr).map_err(failed)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shoal-demo-check\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    (&stream).write_all(request.as_bytes()).map_err(failed)?;
    let mut response = Vec::new();
    Read::take(&stream, MAX_RESPONSE)
        .read_to_end(&mut response)
        .map_err(failed)?;
    let (head, body) = match response.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => (&response[..end], &response[end + 4..]),
        None => (&response[..], &[][..]),
    };
    let status_line = String::from_utf8_lossy(head.split(|&b| b == b'\n').next().unwrap_or_default())
        .trim_end()
        .to_owned();
    let status = parse_status_line(&status_line)
        .ok_or_else(|| format!("{addr}: not an HTTP response: {status_line:?}"))?;
    Ok(Fetched {
        status,
        status_line,
        body: String::from_utf8_lossy(body).into_owned(),
        addr,
    })
}

/// Where the target is, its name resolved with the demo's DNS client.
fn resolve(target: &Target) -> Result<SocketAddr, String> {
    let ip = match &target.host {
        Host::Ip(ip) => *ip,
        Host::Name(name) => IpAddr::V4(dns::resolve(name).map_err(|e| e.to_string())?),
    };
    Ok(SocketAddr::new(ip, target.port))
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    // Requests leave in one write each; without this a delayed ACK could
    // hold the next one back by 40 ms and skew the latencies measured.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What [`fetch_many`] saw: one latency per call answered 200, and why each
/// other call failed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub latencies: Vec<Duration>,
    pub failures: Vec<String>,
    /// How many connections the calls took: one, plus one each time the
    /// server closed the connection after a response that said so.
    pub connections: usize,
    pub addr: Option<SocketAddr>,
}

/// Sends `count` GETs of the target one after another over one kept-alive
/// connection, as a client with a connection pool does. The name is
/// resolved once. A response saying `Connection: close` ends the connection
/// in order and the next call opens another; anything else that goes wrong
/// (no answer, a broken connection, a status other than 200) is a failure,
/// and after one the next call starts on a new connection.
pub fn fetch_many(target: &Target, count: usize) -> Calls {
    let mut calls = Calls::default();
    let addr = match resolve(target) {
        Ok(addr) => addr,
        Err(why) => {
            calls.failures = vec![why; count];
            return calls;
        }
    };
    calls.addr = Some(addr);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shoal-demo-call\r\n\r\n",
        target.path, target.authority
    );
    let mut open: Option<BufReader<TcpStream>> = None;
    for _ in 0..count {
        let started = Instant::now();
        let reader = match open.take() {
            Some(reader) => reader,
            None => match connect(addr) {
                Ok(stream) => {
                    calls.connections += 1;
                    BufReader::new(stream)
                }
                Err(error) => {
                    calls.failures.push(format!("{addr}: connecting: {error}"));
                    continue;
                }
            },
        };
        match exchange(reader, request.as_bytes()) {
            Ok((200, reader)) => {
                calls.latencies.push(started.elapsed());
                open = reader;
            }
            Ok((status, reader)) => {
                calls.failures.push(format!("{addr}: status {status}"));
                open = reader;
            }
            Err(why) => calls.failures.push(format!("{addr}: {why}")),
        }
    }
    calls
}

/// One request and its response on a kept-alive connection: the status, and
/// the connection unless the response closed it.
fn exchange(
    mut reader: BufReader<TcpStream>,
    request: &[u8],
) -> Result<(u16, Option<BufReader<TcpStream>>), String> {
    reader
        .get_mut()
        .write_all(request)
        .map_err(|e| format!("sending: {e}"))?;
    let mut status_line = String::new();
    if reader
        .read_line(&mut status_line)
        .map_err(|e| format!("reading: {e}"))?
        == 0
    {
        return Err("closed before answering".to_owned());
    }
    let status = parse_status_line(status_line.trim_end())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    let (mut length, mut close) = (None, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| format!("reading: {e}"))? == 0 {
            return Err("closed in the middle of a response".to_owned());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    // Without a length the body runs to the end of the connection.
    let length = length.ok_or("no Content-Length")?;
    std::io::copy(&mut Read::take(&mut reader, length), &mut std::io::sink())
        .map_err(|e| format!("reading the body: {e}"))?;
    Ok((status, (!close).then_some(reader)))
}

fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn parses_urls_and_bare_addresses() {
        let full = parse_target("http://10.0.0.5:9000/").unwrap();
        assert_eq!(
            full,
            Target {
                host: ip("10.0.0.5"),
                port: 9000,
                authority: "10.0.0.5:9000".into(),
                path: "/".into(),
            }
        );
        let cases = [
            ("HTTP://127.0.0.1", ip("127.0.0.1"), 8080, "/health"),
            ("127.0.0.1:81/health?x", ip("127.0.0.1"), 81, "/health?x"),
            ("localhost", ip("127.0.0.1"), 8080, "/health"),
            ("localhost:9", ip("127.0.0.1"), 9, "/health"),
            ("http://[::1]:8081/h", ip("::1"), 8081, "/h"),
            ("[::1]", ip("::1"), 8080, "/health"),
            ("::1", ip("::1"), 8080, "/health"),
            ("http://api:8080/", Host::Name("api".into()), 8080, "/"),
            ("api.backend/x", Host::Name("api.backend".into()), 8080, "/x"),
        ];
        for (url, expected_host, expected_port, expected_path) in cases {
            let target = parse_target(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (target.host, target.port, target.path.as_str()),
                (expected_host, expected_port, expected_path),
                "{url}"
            );
        }
    }

    #[test]
    fn rejects_other_schemes_and_malformed_hosts() {
        for url in [
            "https://127.0.0.1/",
            "127.0.0.1:99999",
            "",
            "http://1.2.3.4/a b",
            "http://a..b/",
            "http://user@api/",
            "http://[api]/",
        ] {
            assert!(parse_target(url).is_err(), "{url}");
        }
    }

    #[test]
    fn local_target_reaches_wildcard_listeners_through_loopback() {
        let addr_of = |listen: &str| {
            let target = local_target(addr(listen));
            (target.host, target.port)
        };
        assert_eq!(addr_of("0.0.0.0:8080"), (ip("127.0.0.1"), 8080));
        assert_eq!(addr_of("[::]:90"), (ip("::1"), 90));
        assert_eq!(addr_of("10.1.2.3:80"), (ip("10.1.2.3"), 80));
    }

    #[test]
    fn reads_status_codes() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status_line("HTTP/1.1 200"), Some(200));
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 2000 x"), None);
    }

    #[test]
    fn fetch_returns_status_body_and_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0; 1024];
            let read = stream.read(&mut request).unwrap();
            assert!(request[..read].starts_with(b"GET /x HTTP/1.1\r\nHost: localhost:"));
            stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n")
                .unwrap();
        });
        let target = parse_target(&format!("localhost:{}/x", addr.port())).unwrap();
        assert_eq!(
            fetch(&target).unwrap(),
            Fetched {
                status: 404,
                status_line: "HTTP/1.1 404 Not Found".into(),
                body: "no\n".into(),
                addr,
            }
        );
        server.join().unwrap();
    }

    #[test]
    fn probes_a_live_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 200 OK\r\n\r\n",
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0; 1024];
                let read = stream.read(&mut request).unwrap();
                assert!(request[..read].starts_with(b"GET /health HTTP/1.1\r\n"));
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        assert_eq!(run(None, addr), ExitCode::SUCCESS);
        assert_eq!(
            run(Some(&format!("http://{addr}/health")), addr),
            ExitCode::FAILURE
        );
        server.join().unwrap();
    }
}
