//! shoal-demo: the small static HTTP program inside Shoal's FROM-scratch test
//! images. See `HELP` below and docs/demo-images.md.

mod check;
mod dns;
mod http;
mod server;
mod signals;

use std::env;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use server::App;
use signals::Termination;

const HELP: &str = "\
shoal-demo: a tiny HTTP/1.1 server for Shoal's test images

USAGE:
    shoal-demo              serve (the default, and what the images run)
    shoal-demo check [URL]  probe a health endpoint; exit 0 on 200, else 1
    shoal-demo --help       show this text

ROUTES:
    GET  /              200 \"shoal-demo <version> on <hostname>\\n\"
    GET  /health        200 \"ok\", or 503 \"unhealthy\" once failed
    GET  /call?url=URL  fetch URL (http://HOST[:PORT][/PATH], escaped with %XX
                        where it has ? or &) from here; 200 with
                        {\"status\":N,\"body\":\"...\",\"address\":\"IP:PORT\"},
                        502 {\"error\":\"...\"} when no answer came, 400 without URL
    GET  /call?url=URL&count=N
                        N GETs of URL (1-10000) over one kept-alive connection,
                        a new one only after a response that closes it; 200
                        {\"calls\":N,\"failed\":F,\"connections\":C,
                        \"address\":\"IP:PORT\",\"micros\":[each 200's latency],
                        \"errors\":[the first five failures]}
    POST /fail          make /health answer 503 from now on
    POST /recover       make /health answer 200 again
    POST /exit?code=N   answer, then exit with code N (0-255, default 1)
    HEAD works wherever GET does. Keep-alive is on for HTTP/1.1 unless the
    client sends `Connection: close`.

ENVIRONMENT:
    SHOAL_DEMO_LISTEN   address to listen on, an IP:PORT (default 0.0.0.0:8080)
    SHOAL_DEMO_VERSION  version reported by / (default \"dev\")
    SHOAL_DEMO_FAIL     health: start unhealthy (as POST /fail at start)
                        exit:   exit with code 1 one second after start
                        unset or empty: behave

    The hostname comes from /etc/hostname, else $HOSTNAME, else \"unknown\".

CHECK:
    URL is http://HOST[:PORT][/PATH] or HOST[:PORT][/PATH]. HOST is an IP
    address, localhost, or a name; PORT defaults to 8080 and PATH to /health.
    Without URL, check probes /health on the address from SHOAL_DEMO_LISTEN,
    through loopback for 0.0.0.0 or [::].

NAMES:
    The static binary cannot use the system resolver, so check and /call
    resolve a name themselves: one A query over UDP to the first nameserver
    in /etc/resolv.conf, asked as written (no search domains), five tries a
    second apart. On a Shoal service network that is the agent's resolver,
    which answers service names; NXDOMAIN is reported as \"no such name\".

SIGNALS:
    SIGTERM and SIGINT stop the server (exit code 0) once requests already
    being answered are done and every keep-alive connection has closed after
    its next response (which says Connection: close), or after five seconds.
    This works as PID 1 in a container too.
";

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
/// Long enough for a health checker or load test to see the process run,
/// short enough that a crash-looping image shows up quickly.
const FAIL_EXIT_DELAY: Duration = Duration::from_secs(1);
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailMode {
    Never,
    Health,
    Exit,
}

fn main() -> ExitCode {
    // Lossy, because std::env::args panics on arguments that are not UTF-8.
    let args: Vec<String> = env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => serve(),
        ["-h" | "--help" | "help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["check", url @ ..] if url.len() <= 1 => match listen_addr() {
            Ok(listen) => check::run(url.first().copied(), listen),
            Err(why) => {
                eprintln!("shoal-demo check: {why}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("shoal-demo: unexpected arguments {args:?}; see shoal-demo --help");
            ExitCode::from(2)
        }
    }
}

fn serve() -> ExitCode {
    let config = match (listen_addr(), env_text("SHOAL_DEMO_VERSION"), fail_mode()) {
        (Ok(listen), Ok(version), Ok(fail)) => (listen, version, fail),
        (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => {
            eprintln!("shoal-demo: {why}");
            return ExitCode::from(2);
        }
    };
    let (listen, version, fail) = config;
    let version = version.unwrap_or_else(|| "dev".to_owned());

    // Before any thread starts, so that every thread inherits the mask.
    let termination = match Termination::block() {
        Ok(termination) => termination,
        Err(error) => {
            eprintln!("shoal-demo: cannot block SIGTERM/SIGINT: {error}");
            return ExitCode::FAILURE;
        }
    };
    // A SocketAddr, never a string: resolving one would link glibc's NSS,
    // which a static binary cannot load.
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("shoal-demo: cannot listen on {listen}: {error}");
            return ExitCode::FAILURE;
        }
    };

    let app = Arc::new(App::new(&version, &hostname(), fail != FailMode::Health));
    eprintln!(
        "shoal-demo {version} listening on {listen}{}",
        match fail {
            FailMode::Never => "",
            FailMode::Health => " (unhealthy: SHOAL_DEMO_FAIL=health)",
            FailMode::Exit => " (exiting in 1s: SHOAL_DEMO_FAIL=exit)",
        }
    );
    let server_app = Arc::clone(&app);
    thread::spawn(move || server::serve(listener, server_app));
    if fail == FailMode::Exit {
        thread::spawn(|| {
            thread::sleep(FAIL_EXIT_DELAY);
            eprintln!("shoal-demo: exiting with code 1 as SHOAL_DEMO_FAIL=exit asks");
            std::process::exit(1);
        });
    }

    match termination.wait() {
        Ok(signal) => {
            eprintln!("shoal-demo: {signal} received, stopping");
            app.stop(STOP_GRACE);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("shoal-demo: waiting for signals failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// An environment variable's value; unset and empty both mean `None`.
fn env_text(name: &str) -> Result<Option<String>, String> {
    match env::var_os(name) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => value
            .into_string()
            .map(Some)
            .map_err(|_| format!("{name} is not valid UTF-8")),
    }
}

fn listen_addr() -> Result<SocketAddr, String> {
    let text = env_text("SHOAL_DEMO_LISTEN")?;
    let text = text.as_deref().unwrap_or(DEFAULT_LISTEN);
    text.parse().map_err(|_| {
        format!("SHOAL_DEMO_LISTEN={text:?} is not an IP:PORT address (like 0.0.0.0:8080 or [::]:8080)")
    })
}

fn fail_mode() -> Result<FailMode, String> {
    match env_text("SHOAL_DEMO_FAIL")?.as_deref() {
        None => Ok(FailMode::Never),
        Some("health") => Ok(FailMode::Health),
        Some("exit") => Ok(FailMode::Exit),
        Some(other) => Err(format!(
            "SHOAL_DEMO_FAIL={other:?} is not one of \"health\", \"exit\" or empty"
        )),
    }
}

/// Read from files and the environment only: looking the name up through
/// glibc would need NSS, which a static binary cannot load.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| env_text("HOSTNAME").ok().flatten())
        .unwrap_or_else(|| "unknown".to_owned())
}
