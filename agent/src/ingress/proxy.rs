//! One client connection: find a backend that takes it, then copy bytes
//! both ways until both sides are done, or until none has moved for the
//! idle timeout.
//!
//! The client sees nothing of a backend that refuses or does not answer:
//! the next one is tried, and only when none takes the connection is it
//! closed. Each direction ends on its own (a FIN from one side shuts down
//! writing to the other), so a request/response protocol that closes after
//! its answer ends cleanly instead of being cut or left hanging.

use std::{
    io,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf, copy_bidirectional_with_sizes},
    net::TcpStream,
    time::{Instant, sleep_until, timeout},
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
/// of its port, and closes both ends once no byte moved for `idle_timeout`.
pub async fn forward(
    client: TcpStream,
    route: &Route,
    counters: &Counters,
    turn: usize,
    idle_timeout: Duration,
) {
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
    let activity = Activity::new();
    let mut client = Counted::new(client, &counters.bytes_in, &activity);
    let mut backend = Counted::new(backend, &counters.bytes_out, &activity);
    tokio::select! {
        copied = copy_bidirectional_with_sizes(&mut client, &mut backend, BUFFER, BUFFER) => {
            if let Err(error) = copied {
                // A reset from either side is how many connections end; not news.
                tracing::trace!(service = %route.service, task = %target.task_id, "proxied connection ended: {error}");
            }
        }
        // Dropping the copy drops both streams: both ends see the close.
        () = activity.idle_for(idle_timeout) => {
            add(&counters.idle_timeouts, 1);
            tracing::debug!(
                service = %route.service,
                task = %target.task_id,
                "closing a proxied connection idle for {} s",
                idle_timeout.as_secs_f64()
            );
        }
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

/// When a byte last moved on one connection, either way. Both directions
/// stamp it as they pass bytes, which costs a clock read, and one timer per
/// connection checks it, waking once per idle period at most: no timer is
/// reset per read.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte. An atomic only so that
    /// the connection's future stays `Send`; one task reads and writes it.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn stamp(&self) {
        let since = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(since, Ordering::Relaxed);
    }

    /// Returns once nothing has moved for `period`.
    async fn idle_for(&self, period: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + period;
            if Instant::now() >= deadline {
                return;
            }
            sleep_until(deadline).await;
        }
    }
}

/// A stream that counts the bytes read from it, as they pass (the counters
/// show a long transfer's progress, not only its total at the end), and
/// stamps the connection's activity on every byte read or written.
struct Counted<'a, S> {
    inner: S,
    read: &'a AtomicU64,
    activity: &'a Activity,
}

impl<'a, S> Counted<'a, S> {
    fn new(inner: S, read: &'a AtomicU64, activity: &'a Activity) -> Self {
        Self {
            inner,
            read,
            activity,
        }
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
            let read = buf.filled().len() - before;
            if read > 0 {
                add(self.read, read as u64);
                self.activity.stamp();
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<'_, S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = poll
            && written > 0
        {
            self.activity.stamp();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
