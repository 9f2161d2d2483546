//! The demo's routes and the thread-per-connection server around them.

use std::io::{BufReader, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::check;
use crate::http::{self, Head, ReadError, Response, Status};

/// How long a keep-alive connection may sit idle (or a request dribble in)
/// before its thread gives up. Long, because a pooling proxy in front of the
/// demo that reuses a connection just as the demo closes it sees a spurious
/// failure, and a load test must not count those.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection threads only parse and format small buffers; a small stack lets
/// thousands of concurrent connections fit in little memory.
const CONNECTION_STACK: usize = 128 * 1024;
/// How long a closing connection waits for the client to finish sending, so
/// the kernel does not answer unread bytes with a reset that would destroy
/// the response still in flight.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: u64 = 64 * 1024;

/// The most calls one `/call?count=N` makes: enough for a load test's
/// batch, few enough that the answer stays small.
const MAX_CALLS: usize = 10_000;
/// The failures `/call?count=N` spells out; it counts them all.
const MAX_ERRORS: usize = 5;

/// State shared by every connection.
pub struct App {
    banner: String,
    healthy: AtomicBool,
    stopping: AtomicBool,
    in_flight: AtomicUsize,
    open: AtomicUsize,
}

/// What the connection must do after sending a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Continue,
    Exit(u8),
}

impl App {
    pub fn new(version: &str, hostname: &str, healthy: bool) -> Self {
        App {
            banner: format!("shoal-demo {version} on {hostname}\n"),
            healthy: AtomicBool::new(healthy),
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
        }
    }

    /// Marks the server as stopping (later responses close their connections)
    /// and waits up to `grace` for requests already being answered and for
    /// keep-alive connections to close after their next response. Exiting
    /// with an idle keep-alive connection open would close it under a client
    /// that may be sending on it that very moment; closing after a response
    /// that says `Connection: close` leaves no such race.
    pub fn stop(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while (self.in_flight.load(Ordering::SeqCst) > 0 || self.open.load(Ordering::SeqCst) > 0)
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn route(&self, head: &Head) -> (Response, After) {
        let method = head.method.as_str();
        let read_only = method == "GET" || method == "HEAD";
        let done = |response| (response, After::Continue);
        match head.path.as_str() {
            "/" if read_only => done(Response::text(Status::Ok, self.banner.as_str())),
            "/health" if read_only => done(self.health()),
            "/call" if read_only => done(call(head)),
            "/" | "/health" | "/call" => done(method_not_allowed("GET, HEAD")),
            // Only POST changes state, so a crawler or a health checker
            // following links cannot break a running demo by accident.
            "/fail" | "/recover" if method == "POST" => {
                let healthy = head.path == "/recover";
                if self.healthy.swap(healthy, Ordering::SeqCst) != healthy {
                    eprintln!(
                        "shoal-demo: now {}",
                        if healthy { "healthy" } else { "unhealthy" }
                    );
                }
                done(Response::text(Status::Ok, health_word(healthy)))
            }
            "/exit" if method == "POST" => match exit_code(head) {
                Ok(code) => (
                    Response::text(Status::Ok, format!("exiting with code {code}\n")),
                    After::Exit(code),
                ),
                Err(why) => done(Response::text(Status::BadRequest, why)),
            },
            "/fail" | "/recover" | "/exit" => done(method_not_allowed("POST")),
            _ => done(Response::text(Status::NotFound, "not found\n")),
        }
    }

    fn health(&self) -> Response {
        let healthy = self.healthy.load(Ordering::SeqCst);
        let status = if healthy {
            Status::Ok
        } else {
            Status::ServiceUnavailable
        };
        Response::text(status, health_word(healthy))
    }
}

/// `GET /call?url=URL`: fetches URL from here, its name resolved with the
/// demo's own DNS client, so a test can see what one task reaches of
/// another by name. 200 with what came back, whatever its status; 502 when
/// nothing did.
fn call(head: &Head) -> Response {
    let Some(url) = head.query_param("url").and_then(percent_decode) else {
        return Response::text(
            Status::BadRequest,
            "give the URL to fetch: /call?url=http://NAME:PORT/PATH\n",
        );
    };
    let target = match check::parse_target(&url) {
        Ok(target) => target,
        Err(why) => return Response::text(Status::BadRequest, format!("{why}\n")),
    };
    if let Some(count) = head.query_param("count") {
        return match count.parse() {
            Ok(count @ 1..=MAX_CALLS) => calls(&check::fetch_many(&target, count)),
            _ => Response::text(
                Status::BadRequest,
                format!("count must be an integer from 1 to {MAX_CALLS}\n"),
            ),
        };
    }
    match check::fetch(&target) {
        Ok(fetched) => Response::json(
            Status::Ok,
            format!(
                "{{\"status\":{},\"body\":{},\"address\":{}}}",
                fetched.status,
                json_string(&fetched.body),
                json_string(&fetched.addr.to_string())
            ),
        ),
        Err(why) => Response::json(Status::BadGateway, format!("{{\"error\":{}}}", json_string(&why))),
    }
}

/// The summary of `/call?url=URL&count=N`: 200 whatever the calls met, so
/// the caller reads the failures from `failed` and `errors`.
fn calls(calls: &check::Calls) -> Response {
    let micros: Vec<String> = calls
        .latencies
        .iter()
        .map(|latency| latency.as_micros().to_string())
        .collect();
    let errors: Vec<String> = calls
        .failures
        .iter()
        .take(MAX_ERRORS)
        .map(|why| json_string(why))
        .collect();
    let address = calls
        .addr
        .map_or_else(|| "null".to_owned(), |addr| json_string(&addr.to_string()));
    Response::json(
        Status::Ok,
        format!(
            "{{\"calls\":{},\"failed\":{},\"connections\":{},\"address\":{address},\"micros\":[{}],\"errors\":[{}]}}",
            calls.latencies.len() + calls.failures.len(),
            calls.failures.len(),
            calls.connections,
            micros.join(","),
            errors.join(",")
        ),
    )
}

/// Decodes `%XX` escapes (and `+` as a space, as forms send it); `None` if
/// an escape is malformed or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(byte) = rest.next() {
        bytes.push(match byte {
            b'%' => {
                let high = (rest.next()? as char).to_digit(16)?;
                let low = (rest.next()? as char).to_digit(16)?;
                (high * 16 + low) as u8
            }
            b'+' => b' ',
            other => other,
        });
    }
    String::from_utf8(bytes).ok()
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn health_word(healthy: bool) -> &'static str {
    if healthy { "ok" } else { "unhealthy" }
}

fn method_not_allowed(allow: &'static str) -> Response {
    Response {
        allow: Some(allow),
        ..Response::text(Status::MethodNotAllowed, format!("allowed methods: {allow}\n"))
    }
}

fn exit_code(head: &Head) -> Result<u8, &'static str> {
    match head.query_param("code") {
        None => Ok(1),
        Some(code) => code
            .parse()
            .map_err(|_| "code must be an integer from 0 to 255\n"),
    }
}

/// Accepts connections forever, one thread each.
pub fn serve(listener: TcpListener, app: Arc<App>) -> ! {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let app = Arc::clone(&app);
                let spawned = thread::Builder::new()
                    .stack_size(CONNECTION_STACK)
                    .spawn(move || serve_connection(&app, &stream));
                // Out of threads or memory: dropping this one connection
                // (closing it) is better than dying, and the client retries.
                if let Err(error) = spawned {
                    eprintln!("shoal-demo: cannot start a connection thread: {error}");
                }
            }
            Err(error) => {
                // Usually out of file descriptors; pause so that a burst of
                // failures does not spin a core or flood the log.
                eprintln!("shoal-demo: accept failed: {error}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn serve_connection(app: &App, stream: &TcpStream) {
    let _open = Counted::enter(&app.open);
    // Small responses leave in one write each; without this, a client that
    // delays its ACK could hold the next response back by 40 ms.
    let _ = stream.set_nodelay(true);
    if stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    loop {
        let head = match http::read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) | Err(ReadError::Disconnected) => return,
            Err(ReadError::Reject(status, why)) => {
                if Response::text(status, format!("{why}\n"))
                    .write_to(&mut writer, false, true)
                    .is_ok()
                {
                    linger_close(stream);
                }
                return;
            }
        };
        let _in_flight = Counted::enter(&app.in_flight);
        if head.expect_continue && head.content_length > 0 && http::write_continue(&mut writer).is_err() {
            return;
        }
        if http::skip_body(&mut reader, head.content_length).is_err() {
            return;
        }
        let (response, after) = app.route(&head);
        let keep_alive = head.keep_alive && after == After::Continue && !app.stopping.load(Ordering::SeqCst);
        if response
            .write_to(&mut writer, keep_alive, head.method != "HEAD")
            .is_err()
        {
            return;
        }
        if let After::Exit(code) = after {
            linger_close(stream);
            eprintln!("shoal-demo: exiting with code {code} as requested");
            std::process::exit(code.into());
        }
        if !keep_alive {
            linger_close(stream);
            return;
        }
    }
}

/// Sends FIN after the response, then reads until the client closes too (or
/// briefly times out), so the response is not lost to a reset.
fn linger_close(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_ok() && stream.set_read_timeout(Some(LINGER)).is_ok() {
        let _ = std::io::copy(&mut Read::take(stream, LINGER_BYTES), &mut std::io::sink());
    }
}

/// Counts something (a connection, a request from its arrival until its
/// response is written) for as long as it lasts, so a stop can wait for it.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(app: &App, raw: &str) -> (Response, After) {
        let head = http::read_head(&mut raw.as_bytes()).unwrap().unwrap();
        app.route(&head)
    }

    fn get(app: &App, method: &str, path: &str) -> (u16, String) {
        let (response, _) = request(app, &format!("{method} {path} HTTP/1.1\r\n\r\n"));
        (response.status.code(), response.body)
    }

    #[test]
    fn root_answers_version_and_host() {
        let app = App::new("v7", "box", true);
        assert_eq!(get(&app, "GET", "/"), (200, "shoal-demo v7 on box\n".into()));
        assert_eq!(get(&app, "HEAD", "/?x=1").0, 200);
    }

    #[test]
    fn health_follows_fail_and_recover() {
        let app = App::new("v1", "h", true);
        assert_eq!(get(&app, "GET", "/health"), (200, "ok".into()));
        assert_eq!(get(&app, "POST", "/fail"), (200, "unhealthy".into()));
        assert_eq!(get(&app, "GET", "/health"), (503, "unhealthy".into()));
        assert_eq!(get(&app, "POST", "/recover"), (200, "ok".into()));
        assert_eq!(get(&app, "GET", "/health"), (200, "ok".into()));

        let starts_unhealthy = App::new("bad", "h", false);
        assert_eq!(
            get(&starts_unhealthy, "GET", "/health"),
            (503, "unhealthy".into())
        );
    }

    #[test]
    fn exit_takes_an_optional_code() {
        let app = App::new("v1", "h", true);
        assert_eq!(request(&app, "POST /exit HTTP/1.1\r\n\r\n").1, After::Exit(1));
        assert_eq!(
            request(&app, "POST /exit?code=0 HTTP/1.1\r\n\r\n").1,
            After::Exit(0)
        );
        assert_eq!(
            request(&app, "POST /exit?code=255 HTTP/1.1\r\n\r\n").1,
            After::Exit(255)
        );
        for bad in ["256", "-1", "x", ""] {
            let (response, after) = request(&app, &format!("POST /exit?code={bad} HTTP/1.1\r\n\r\n"));
            assert_eq!(
                (response.status, after),
                (Status::BadRequest, After::Continue),
                "{bad}"
            );
        }
    }

    #[test]
    fn state_changes_need_post() {
        let app = App::new("v1", "h", true);
        for path in ["/fail", "/recover", "/exit"] {
            let (response, after) = request(&app, &format!("GET {path} HTTP/1.1\r\n\r\n"));
            assert_eq!(
                (response.status, response.allow, after),
                (Status::MethodNotAllowed, Some("POST"), After::Continue)
            );
        }
        assert_eq!(get(&app, "GET", "/health").0, 200);
        let (response, _) = request(&app, "DELETE / HTTP/1.1\r\n\r\n");
        assert_eq!(
            (response.status, response.allow),
            (Status::MethodNotAllowed, Some("GET, HEAD"))
        );
        assert_eq!(get(&app, "GET", "/nope").0, 404);
    }

    #[test]
    fn call_fetches_the_url_and_says_what_came_back() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0; 1024];
            let read = std::io::Read::read(&mut stream, &mut request).unwrap();
            assert!(request[..read].starts_with(b"GET /who?x=1 HTTP/1.1\r\n"));
            std::io::Write::write_all(&mut stream, b"HTTP/1.1 200 OK\r\n\r\nshoal-demo v1 on \"b\"\n")
                .unwrap();
        });
        let app = App::new("v1", "h", true);
        // The URL's own query, escaped so it stays part of `url`.
        let path = format!("/call?url=http%3A%2F%2F{addr}%2Fwho%3Fx%3D1");
        let (response, _) = request(&app, &format!("GET {path} HTTP/1.1\r\n\r\n"));
        assert_eq!(
            (response.status, response.content_type, response.body),
            (
                Status::Ok,
                "application/json",
                format!(r#"{{"status":200,"body":"shoal-demo v1 on \"b\"\n","address":"{addr}"}}"#)
            )
        );
        server.join().unwrap();
    }

    #[test]
    fn call_answers_502_when_nothing_came_back_and_400_without_a_url() {
        let app = App::new("v1", "h", true);
        // Bound, then closed: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (status, body) = get(&app, "GET", &format!("/call?url=http://{closed}/"));
        assert_eq!(status, 502, "{body}");
        assert!(body.starts_with(&format!(r#"{{"error":"{closed}: "#)), "{body}");

        for path in ["/call", "/call?url=", "/call?url=%zz", "/call?url=ftp://x/"] {
            assert_eq!(get(&app, "GET", path).0, 400, "{path}");
        }
        assert_eq!(get(&app, "POST", "/call?url=http://127.0.0.1/").0, 405);
    }

    #[test]
    fn call_with_a_count_makes_that_many_calls_over_one_kept_alive_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // One connection answers two requests and closes after the second,
        // as a stopping demo does; the third call opens another and is
        // answered 503.
        let server = thread::spawn(move || {
            let answers: [&[&str]; 2] = [
                &[
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                ],
                &["HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"],
            ];
            for connection in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(&stream);
                for answer in connection {
                    let head = http::read_head(&mut reader).unwrap().unwrap();
                    assert_eq!((head.path.as_str(), head.keep_alive), ("/", true));
                    std::io::Write::write_all(&mut &stream, answer.as_bytes()).unwrap();
                }
            }
        });
        let app = App::new("v1", "h", true);
        let (status, body) = get(&app, "GET", &format!("/call?url=http://{addr}/&count=3"));
        server.join().unwrap();
        assert_eq!(status, 200, "{body}");
        let prefix = format!(r#"{{"calls":3,"failed":1,"connections":2,"address":"{addr}","micros":["#);
        assert!(body.starts_with(&prefix), "{body}");
        assert!(
            body.ends_with(&format!(r#"],"errors":["{addr}: status 503"]}}"#)),
            "{body}"
        );
        let micros = body[prefix.len()..].split(']').next().unwrap();
        assert_eq!(micros.split(',').count(), 2, "two latencies: {body}");

        for count in ["0", "x", "10001"] {
            let path = format!("/call?url=http://{addr}/&count={count}");
            assert_eq!(get(&app, "GET", &path).0, 400, "{path}");
        }
    }

    #[test]
    fn json_strings_escape_quotes_and_controls() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\u0001é""#);
    }
}
