//! `GET /metrics` over a minimal HTTP/1.0 responder: one request per
//! connection, answered and closed. Prometheus needs no more, and the agent
//! stays free of an HTTP server framework.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::timeout,
};

use super::{Ingress, exposition::CONTENT_TYPE};

/// A scraper that does not send its request head within this is dropped,
/// so idle connections cannot pile up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HEAD: usize = 8 * 1024;

/// Serves until the task is dropped.
pub async fn serve_metrics(listener: TcpListener, ingress: Ingress) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let ingress = ingress.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer(stream, &ingress).await {
                        tracing::debug!("metrics request: {error}");
                    }
                });
            }
            Err(error) => {
                tracing::warn!("metrics endpoint cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, ingress: &Ingress) -> std::io::Result<()> {
    let head = match timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let response = match route(&head) {
        Reply::Metrics => respond("200 OK", CONTENT_TYPE, &ingress.metrics_text()),
        Reply::NotFound => respond("404 Not Found", "text/plain", "only /metrics is served here\n"),
        Reply::BadMethod => respond(
            "405 Method Not Allowed",
            "text/plain",
            "only GET is served here\n",
        ),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(head)
}

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Metrics,
    NotFound,
    BadMethod,
}

fn route(head: &[u8]) -> Reply {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => Reply::Metrics,
        ("GET", _) => Reply::NotFound,
        _ => Reply::BadMethod,
    }
}

fn respond(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_served() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Reply::Metrics);
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Reply::Metrics);
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Reply::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Reply::BadMethod);
        assert_eq!(route(b""), Reply::BadMethod);
    }
}
