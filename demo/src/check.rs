//! `shoal-demo check [URL]`: the probe a Docker HEALTHCHECK runs inside a
//! scratch image, where there is no curl.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// Docker's own timeout (2s in the demo images) bounds the probe anyway; this
/// one keeps a manual run from hanging.
const TIMEOUT: Duration = Duration::from_secs(2);
/// A bare address or a URL without a port means the demo's port, not 80.
pub const DEFAULT_PORT: u16 = 8080;
const DEFAULT_PATH: &str = "/health";

#[derive(Debug, PartialEq, Eq)]
struct Target {
    addr: SocketAddr,
    /// The authority as written, for the Host header.
    host: String,
    path: String,
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
    match probe(&target) {
        Ok((200, status_line)) => {
            println!("{status_line}");
            ExitCode::SUCCESS
        }
        Ok((_, status_line)) => {
            println!("{status_line}");
            ExitCode::FAILURE
        }
        Err(why) => {
            eprintln!("shoal-demo check: {}: {why}", target.addr);
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
    let addr = SocketAddr::new(ip, listen.port());
    Target {
        addr,
        host: addr.to_string(),
        path: DEFAULT_PATH.to_owned(),
    }
}

/// Accepts `http://HOST[:PORT][/PATH]` or `HOST[:PORT][/PATH]`. HOST must be
/// an IP address or `localhost`: a static glibc binary cannot resolve names.
fn parse_target(url: &str) -> Result<Target, String> {
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
    Ok(Target {
        addr: parse_authority(authority).ok_or_else(|| {
            format!("{url}: host must be an IP address or localhost, with an optional port")
        })?,
        host: authority.to_owned(),
        path: path.to_owned(),
    })
}

fn parse_authority(authority: &str) -> Option<SocketAddr> {
    if let Ok(addr) = authority.parse() {
        return Some(addr);
    }
    let (host, port) = match authority.rsplit_once(':') {
        // A colon inside brackets or in a bare IPv6 address is not a port.
        Some((host, port)) if !port.contains(']') && !host.contains(':') => (host, port.parse().ok()?),
        _ => (authority, DEFAULT_PORT),
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        unbracketed.parse().ok()?
    };
    Some(SocketAddr::new(ip, port))
}

/// Sends one GET and returns the status code with the status line.
fn probe(target: &Target) -> Result<(u16, String), String> {
    let stream = TcpStream::connect_timeout(&target.addr, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shoal-demo-check\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    (&stream)
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut status_line = String::new();
    BufReader::new(Read::take(&stream, 1024))
        .read_line(&mut status_line)
        .map_err(|e| e.to_string())?;
    let status_line = status_line.trim_end().to_owned();
    let code =
        parse_status_line(&status_line).ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    Ok((code, status_line))
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

    #[test]
    fn parses_urls_and_bare_addresses() {
        let full = parse_target("http://10.0.0.5:9000/").unwrap();
        assert_eq!(
            full,
            Target {
                addr: addr("10.0.0.5:9000"),
                host: "10.0.0.5:9000".into(),
                path: "/".into(),
            }
        );
        let cases = [
            ("HTTP://127.0.0.1", "127.0.0.1:8080", "/health"),
            ("127.0.0.1:81/health?x", "127.0.0.1:81", "/health?x"),
            ("localhost", "127.0.0.1:8080", "/health"),
            ("localhost:9", "127.0.0.1:9", "/health"),
            ("http://[::1]:8081/h", "[::1]:8081", "/h"),
            ("[::1]", "[::1]:8080", "/health"),
            ("::1", "[::1]:8080", "/health"),
        ];
        for (url, expected_addr, expected_path) in cases {
            let target = parse_target(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (target.addr, target.path.as_str()),
                (addr(expected_addr), expected_path),
                "{url}"
            );
        }
    }

    #[test]
    fn rejects_names_that_need_a_lookup_and_other_schemes() {
        for url in [
            "http://example.com/",
            "https://127.0.0.1/",
            "127.0.0.1:99999",
            "",
            "http://1.2.3.4/a b",
        ] {
            assert!(parse_target(url).is_err(), "{url}");
        }
    }

    #[test]
    fn local_target_reaches_wildcard_listeners_through_loopback() {
        assert_eq!(local_target(addr("0.0.0.0:8080")).addr, addr("127.0.0.1:8080"));
        assert_eq!(local_target(addr("[::]:90")).addr, addr("[::1]:90"));
        assert_eq!(local_target(addr("10.1.2.3:80")).addr, addr("10.1.2.3:80"));
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
