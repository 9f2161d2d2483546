//! One probe attempt over the network, bounded by the probe's timeout; the
//! error says what went wrong, for the task's message.

use std::{io, time::Duration};

use shoal_proto::service::ProbeKind;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    time::{Instant, timeout_at},
};

use super::target::Target;

/// How long a TCP probe watches a fresh connection. Docker's userland proxy
/// accepts every connection to a published port, and closes it at once when
/// nothing listens in the container: only one that stays open means a
/// listener.
const SETTLE: Duration = Duration::from_millis(100);
/// Longer status lines are not HTTP.
const STATUS_LINE_MAX: u64 = 1024;
/// Of a reason phrase quoted in a message.
const REASON_MAX: usize = 60;

pub async fn attempt(target: &Target) -> Result<(), String> {
    let probe = &target.probe;
    let deadline = Instant::now() + probe.timeout.as_std();
    let late = || format!("no answer within {}", probe.timeout);
    let stream = timeout_at(deadline, TcpStream::connect(target.addr))
        .await
        .map_err(|_| late())?
        .map_err(|error| io_failure(&error))?;
    match probe.kind {
        ProbeKind::Tcp => stays_open(stream, deadline.min(Instant::now() + SETTLE)).await,
        ProbeKind::Http => {
            let path = probe.path.as_deref().unwrap_or("/");
            timeout_at(deadline, get(stream, &target.addr.to_string(), path))
                .await
                .map_err(|_| late())?
        }
    }
}

async fn stays_open(mut stream: TcpStream, until: Instant) -> Result<(), String> {
    let mut byte = [0; 1];
    match timeout_at(until, stream.read(&mut byte)).await {
        // Still open, or a server that speaks first.
        Err(_) | Ok(Ok(1..)) => Ok(()),
        Ok(Ok(0)) => {
            Err("the connection closed at once: nothing listens on the port in the container".into())
        }
        Ok(Err(error)) => Err(io_failure(&error)),
    }
}

async fn get(mut stream: TcpStream, host: &str, path: &str) -> Result<(), String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: shoal-agent\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| io_failure(&error))?;
    let mut line = Vec::new();
    BufReader::new(stream.take(STATUS_LINE_MAX))
        .read_until(b'\n', &mut line)
        .await
        .map_err(|error| io_failure(&error))?;
    judge_status_line(&line)
}

/// Passes a 2xx or 3xx status line.
fn judge_status_line(line: &[u8]) -> Result<(), String> {
    if line.is_empty() {
        return Err("the connection closed without an answer".into());
    }
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let reason: String = parts
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(REASON_MAX)
        .collect();
    let status = match code.parse::<u16>() {
        Ok(status) if version.starts_with("HTTP/") && code.len() == 3 => status,
        _ => return Err("the answer is not HTTP".into()),
    };
    match status {
        200..=399 => Ok(()),
        _ if reason.is_empty() => Err(format!("HTTP {status}")),
        _ => Err(format!("HTTP {status} {reason}")),
    }
}

/// `connection refused` rather than `Connection refused (os error 111)`.
fn io_failure(error: &io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_else(|| error.kind().to_string())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use shoal_proto::service::{self, Probe};
    use tokio::{net::TcpListener, sync::oneshot};

    use super::*;
    use crate::tasks::plan::tests::probe;

    fn target(kind: ProbeKind, addr: SocketAddr) -> Target {
        Target {
            container_id: "c1".into(),
            addr,
            probe: Probe {
                path: (kind == ProbeKind::Http).then(|| "/health".into()),
                timeout: service::Duration::from_millis(500),
                ..probe(kind, 8080)
            },
        }
    }

    enum Behaviour {
        Answer(&'static str),
        /// Reads the request, then closes without a word.
        CloseAfterRequest,
        /// Closes every connection as soon as it is accepted, as Docker's
        /// userland proxy does when nothing listens in the container.
        CloseAtOnce,
    }

    /// A server behaving so on every connection; the receiver yields the
    /// first request.
    async fn server(behaviour: Behaviour) -> (SocketAddr, oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (first, request) = oneshot::channel();
        tokio::spawn(async move {
            let mut first = Some(first);
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                if let Behaviour::CloseAtOnce = behaviour {
                    continue;
                }
                let mut request = vec![0; 1024];
                let read = stream.read(&mut request).await.unwrap();
                if let Behaviour::Answer(answer) = behaviour {
                    stream.write_all(answer.as_bytes()).await.unwrap();
                }
                if let Some(first) = first.take() {
                    let _ = first.send(String::from_utf8_lossy(&request[..read]).into_owned());
                }
            }
        });
        (addr, request)
    }

    #[tokio::test]
    async fn an_http_probe_passes_on_2xx_and_3xx() {
        for answer in [
            "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n",
        ] {
            let (addr, request) = server(Behaviour::Answer(answer)).await;
            assert_eq!(attempt(&target(ProbeKind::Http, addr)).await, Ok(()));
            let request = request.await.unwrap();
            assert_eq!(
                request,
                format!(
                    "GET /health HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: shoal-agent\r\nConnection: close\r\n\r\n"
                )
            );
        }
    }

    #[tokio::test]
    async fn an_http_probe_fails_on_other_answers_and_says_which() {
        for (answer, why) in [
            (
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
                "HTTP 503 Service Unavailable",
            ),
            ("HTTP/1.1 404\r\n\r\n", "HTTP 404"),
            ("SSH-2.0-OpenSSH_9.6\r\n", "the answer is not HTTP"),
        ] {
            let (addr, _) = server(Behaviour::Answer(answer)).await;
            assert_eq!(attempt(&target(ProbeKind::Http, addr)).await, Err(why.into()));
        }
        let (addr, _) = server(Behaviour::CloseAfterRequest).await;
        assert_eq!(
            attempt(&target(ProbeKind::Http, addr)).await,
            Err("the connection closed without an answer".into())
        );
    }

    #[tokio::test]
    async fn a_probe_of_a_closed_port_is_refused() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        for kind in [ProbeKind::Http, ProbeKind::Tcp] {
            assert_eq!(
                attempt(&target(kind, addr)).await,
                Err("connection refused".into())
            );
        }
    }

    #[tokio::test]
    async fn a_silent_server_times_an_http_probe_out_but_passes_a_tcp_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                open.push(listener.accept().await.unwrap().0);
            }
        });
        assert_eq!(
            attempt(&target(ProbeKind::Http, addr)).await,
            Err("no answer within 500ms".into())
        );
        assert_eq!(attempt(&target(ProbeKind::Tcp, addr)).await, Ok(()));
        silent.abort();
    }

    #[tokio::test]
    async fn a_tcp_probe_fails_when_the_connection_closes_at_once() {
        let (addr, _) = server(Behaviour::CloseAtOnce).await;
        assert_eq!(
            attempt(&target(ProbeKind::Tcp, addr)).await,
            Err("the connection closed at once: nothing listens on the port in the container".into())
        );
    }

    #[test]
    fn status_lines_are_read_leniently() {
        assert_eq!(judge_status_line(b"HTTP/1.1 204 No Content\r\n"), Ok(()));
        assert_eq!(judge_status_line(b"HTTP/1.1 399\n"), Ok(()));
        assert_eq!(
            judge_status_line(b"HTTP/1.1 199 Early\r\n"),
            Err("HTTP 199 Early".into())
        );
        assert_eq!(
            judge_status_line(b"HTTP/1.1 500 Internal\x07 Error\r\n"),
            Err("HTTP 500 Internal Error".into())
        );
        assert_eq!(
            judge_status_line(b"HTTP/1.1 2000 OK\r\n"),
            Err("the answer is not HTTP".into())
        );
        assert_eq!(
            judge_status_line(b"garbage"),
            Err("the answer is not HTTP".into())
        );
    }
}
