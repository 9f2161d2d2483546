//! One client connection: find a backend that takes it, then copy bytes
//! both ways until both sides are done.
//!
//! The client sees nothing of a backend that refuses or does not answer:
//! the next one is tried, and only when none takes the connection is it
//! closed. Each direction ends on its own (a FIN from one side shuts down
//! writing to the other), so a request/response protocol that closes after
//! its answer ends cleanly instead of being cut or left hanging.

use std::{
    io,
    pin::Pin,
    sync::atomic::AtomicU64,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf, copy_bidirectional_with_sizes},
    net::TcpStream,
    time::timeout,
};

use super::{
    balance::{Route, Target},
    counters::{Counters, Held, add},
};

/// A backend that has not accepted within this is treated like one that
/// refused: a task on a node that went away must not hold clients for the
/// kernel's connect timeout (minutes).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Per direction. Larger than tokio's 8 KiB default: bulk transfers need
/// fewer system calls, and 2 × 64 KiB per connection is affordable.
const BUFFER: usize = 64 * 1024;

/// Proxies `client` to one of `route`'s backends, the `turn`-th connection
/// of its port.
pub async fn forward(client: TcpStream, route: &Route, counters: &Counters, turn: usize) {
    add(&counters.connections, 1);
    let _active = Held::new(&counters.active);
    // Small writes (an HTTP request, a keystroke) go out at once; the proxy
    // must not add Nagle's delay to every round trip.
    let _ = client.set_nodelay(true);
    let Some((backend, target)) = connect(route, counters, turn).await else {
        add(&counters.errors, 1);
        tracing::debug!(service = %route.service, "no backend took the connection; closing it");
        return;
    };
    let _busy = Held::new(&target.active);
    let mut client = Counted::new(client, &counters.bytes_in);
    let mut backend = Counted::new(backend, &counters.bytes_out);
    if let Err(error) = copy_bidirectional_with_sizes(&mut client, &mut backend, BUFFER, BUFFER).await {
        // A reset from either side is how many connections end; not news.
        tracing::trace!(service = %route.service, task = %target.task_id, "proxied connection ended: {error}");
    }
}

/// The first backend, in balancing order, that accepts a connection.
async fn connect<'r>(route: &'r Route, counters: &Counters, turn: usize) -> Option<(TcpStream, &'r Target)> {
    for (tried, target) in route.attempts(turn).enumerate() {
        if tried > 0 {
            add(&counters.retries, 1);
        }
        match timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr)).await {
            Ok(Ok(backend)) => {
                let _ = backend.set_nodelay(true);
                return Some((backend, target));
            }
            Ok(Err(error)) => {
                tracing::debug!(task = %target.task_id, addr = %target.addr, "backend refused: {error}");
            }
            Err(_) => {
                tracing::debug!(task = %target.task_id, addr = %target.addr, "backend did not accept in time");
            }
        }
    }
    None
}

/// A stream that counts the bytes read from it, as they pass: the counters
/// show a long transfer's progress, not only its total at the end.
struct Counted<'a, S> {
    inner: S,
    read: &'a AtomicU64,
}

impl<'a, S> Counted<'a, S> {
    fn new(inner: S, read: &'a AtomicU64) -> Self {
        Self { inner, read }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            add(self.read, (buf.filled().len() - before) as u64);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<'_, S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
