//! Just enough HTTP/1.1 for a server that load tests and health checkers
//! hammer: request heads are parsed from any `BufRead` (so tests need no
//! socket), bodies are skipped, and each response leaves in a single write.

use std::io::{self, BufRead, Read, Write};

/// Request line plus headers. Large enough for any real client, small enough
/// that a stream of garbage cannot grow memory without bound.
const MAX_HEAD: u64 = 16 * 1024;
const MAX_HEADERS: usize = 100;
/// No route reads a body; it is only skipped so keep-alive stays in sync.
const MAX_BODY: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Continue,
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    HeaderFieldsTooLarge,
    NotImplemented,
    BadGateway,
    ServiceUnavailable,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Continue => 100,
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::PayloadTooLarge => 413,
            Status::HeaderFieldsTooLarge => 431,
            Status::NotImplemented => 501,
            Status::BadGateway => 502,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Continue => "Continue",
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::PayloadTooLarge => "Payload Too Large",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::BadGateway => "Bad Gateway",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_length: u64,
    /// Whether the connection may carry another request after this one,
    /// from the version and the `Connection` header.
    pub keep_alive: bool,
    /// The client holds its body back until it sees `100 Continue` (curl does
    /// this for bodies over 1 KiB), so skipping the body would stall without it.
    pub expect_continue: bool,
}

impl Head {
    /// The value of `name` in the query string, if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some((key, value)) if key == name => Some(value),
                None if pair == name => Some(""),
                _ => None,
            })
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The peer went away, stalled past the timeout, or stopped mid-request:
    /// there is nobody sensible to answer.
    Disconnected,
    /// The request cannot be served: answer with this status, then close,
    /// because the rest of the stream can no longer be framed.
    Reject(Status, &'static str),
}

/// Reads the next request head. `Ok(None)` means the client closed the
/// connection cleanly between requests.
pub fn read_head<R: BufRead>(reader: &mut R) -> Result<Option<Head>, ReadError> {
    let mut budget = MAX_HEAD;
    let mut line = Vec::new();

    // RFC 9112 §2.2: tolerate empty lines before a request line; some clients
    // send a stray CRLF after a POST body.
    loop {
        if !read_line(reader, &mut budget, &mut line)? {
            return Ok(None);
        }
        if !line.is_empty() {
            break;
        }
    }
    let (method, target, minor_version) = parse_request_line(&line)?;
    let (path, query) = split_target(target)?;
    let mut head = Head {
        method: method.to_owned(),
        path,
        query,
        content_length: 0,
        keep_alive: minor_version >= 1,
        expect_continue: false,
    };

    let mut content_length = None;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut header_count = 0;
    loop {
        if !read_line(reader, &mut budget, &mut line)? {
            return Err(ReadError::Disconnected);
        }
        if line.is_empty() {
            break;
        }
        header_count += 1;
        if header_count > MAX_HEADERS {
            return Err(reject_too_large());
        }
        let (name, value) = parse_header(&line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            let length = parse_content_length(value)?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err(ReadError::Reject(
                    Status::BadRequest,
                    "conflicting Content-Length headers",
                ));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // No route takes a body, so chunked uploads are not worth a decoder.
            return Err(ReadError::Reject(
                Status::NotImplemented,
                "Transfer-Encoding is not supported",
            ));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',') {
                let option = trim_whitespace(option);
                connection_close |= option.eq_ignore_ascii_case(b"close");
                connection_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            head.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        }
    }

    head.content_length = content_length.unwrap_or(0);
    if head.content_length > MAX_BODY {
        return Err(ReadError::Reject(Status::PayloadTooLarge, "body too large"));
    }
    head.keep_alive = !connection_close && (minor_version >= 1 || connection_keep_alive);
    Ok(Some(head))
}

/// Consumes the request body so the next request on the connection starts
/// at the right byte.
pub fn skip_body<R: Read>(reader: &mut R, length: u64) -> Result<(), ReadError> {
    match io::copy(&mut reader.take(length), &mut io::sink()) {
        Ok(copied) if copied == length => Ok(()),
        _ => Err(ReadError::Disconnected),
    }
}

/// Reads one line into `line` without its line ending (CRLF, or a bare LF
/// from lenient clients). Returns false at the end of the stream.
fn read_line<R: BufRead>(reader: &mut R, budget: &mut u64, line: &mut Vec<u8>) -> Result<bool, ReadError> {
    line.clear();
    let read = reader
        .take(*budget)
        .read_until(b'\n', line)
        .map_err(|_| ReadError::Disconnected)?;
    *budget -= read as u64;
    if line.last() != Some(&b'\n') {
        return if *budget == 0 {
            Err(reject_too_large())
        } else if read == 0 {
            Ok(false)
        } else {
            Err(ReadError::Disconnected)
        };
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(true)
}

fn reject_too_large() -> ReadError {
    ReadError::Reject(Status::HeaderFieldsTooLarge, "request head too large")
}

fn bad_request(why: &'static str) -> ReadError {
    ReadError::Reject(Status::BadRequest, why)
}

fn parse_request_line(line: &[u8]) -> Result<(&str, &str, u8), ReadError> {
    let line = std::str::from_utf8(line).map_err(|_| bad_request("request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_request("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(bad_request("malformed method"));
    }
    let minor_version = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ if is_http_version(version) => {
            return Err(ReadError::Reject(
                Status::VersionNotSupported,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ));
        }
        _ => return Err(bad_request("malformed HTTP version")),
    };
    Ok((method, target, minor_version))
}

fn is_http_version(version: &str) -> bool {
    version
        .strip_prefix("HTTP/")
        .and_then(|digits| digits.split_once('.'))
        .is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|part| part.len() == 1 && part.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// Splits an origin-form target (`/path?query`) or an absolute-form one
/// (`http://host/path?query`, which proxies send) into path and query.
fn split_target(target: &str) -> Result<(String, Option<String>), ReadError> {
    let origin_form = if target.starts_with('/') {
        target
    } else {
        let scheme_len = "http://".len();
        let rest = target
            .get(..scheme_len)
            .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
            .map(|_| &target[scheme_len..])
            .ok_or_else(|| bad_request("request target must be a path or an http URL"))?;
        rest.find('/').map_or("/", |slash| &rest[slash..])
    };
    if origin_form.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad_request("malformed request target"));
    }
    Ok(match origin_form.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (origin_form.to_owned(), None),
    })
}

fn parse_header(line: &[u8]) -> Result<(&[u8], &[u8]), ReadError> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(bad_request("obsolete header line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| bad_request("header line without a colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().copied().all(is_token_byte) {
        return Err(bad_request("malformed header name"));
    }
    Ok((name, trim_whitespace(&line[colon + 1..])))
}

fn parse_content_length(value: &[u8]) -> Result<u64, ReadError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad_request("malformed Content-Length"));
    }
    value.iter().try_fold(0u64, |total, &digit| {
        total
            .checked_mul(10)
            .and_then(|total| total.checked_add(u64::from(digit - b'0')))
            .ok_or_else(|| bad_request("malformed Content-Length"))
    })
}

fn trim_whitespace(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_space(b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub body: String,
    pub content_type: &'static str,
    /// The `Allow` header a 405 must carry.
    pub allow: Option<&'static str>,
}

impl Response {
    pub fn text(status: Status, body: impl Into<String>) -> Self {
        Response {
            status,
            body: body.into(),
            content_type: "text/plain; charset=utf-8",
            allow: None,
        }
    }

    pub fn json(status: Status, body: impl Into<String>) -> Self {
        Response {
            content_type: "application/json",
            ..Response::text(status, body)
        }
    }

    /// Writes status, headers and (unless answering HEAD) body in one write,
    /// so Nagle's algorithm never holds half a response back. Content-Length
    /// and Connection are always present, which keeps every client's framing
    /// and keep-alive decision unambiguous, HTTP/1.0 ones included.
    pub fn write_to<W: Write>(&self, out: &mut W, keep_alive: bool, with_body: bool) -> io::Result<()> {
        let mut message = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
            self.status.code(),
            self.status.reason(),
            self.content_type,
            self.body.len(),
            if keep_alive { "keep-alive" } else { "close" },
        );
        if let Some(allow) = self.allow {
            message.push_str("Allow: ");
            message.push_str(allow);
            message.push_str("\r\n");
        }
        message.push_str("\r\n");
        if with_body {
            message.push_str(&self.body);
        }
        out.write_all(message.as_bytes())?;
        out.flush()
    }
}

/// The interim response that releases a body held back by `Expect: 100-continue`.
pub fn write_continue<W: Write>(out: &mut W) -> io::Result<()> {
    let status = Status::Continue;
    write!(out, "HTTP/1.1 {} {}\r\n\r\n", status.code(), status.reason())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<Head>, ReadError> {
        read_head(&mut raw.as_bytes())
    }

    fn parse_ok(raw: &str) -> Head {
        parse(raw).expect("valid request").expect("a request, not EOF")
    }

    fn rejected(raw: &str) -> Status {
        match parse(raw) {
            Err(ReadError::Reject(status, _)) => status,
            other => panic!("expected a rejection for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_simple_get() {
        let head = parse_ok("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            head,
            Head {
                method: "GET".into(),
                path: "/health".into(),
                query: None,
                content_length: 0,
                keep_alive: true,
                expect_continue: false,
            }
        );
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        assert!(parse_ok("GET / HTTP/1.1\r\n\r\n").keep_alive);
        assert!(!parse_ok("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!parse_ok("GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n").keep_alive);
        assert!(!parse_ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(parse_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn splits_query_and_reads_parameters() {
        let head = parse_ok("POST /exit?code=3&x HTTP/1.1\r\n\r\n");
        assert_eq!(head.path, "/exit");
        assert_eq!(head.query_param("code"), Some("3"));
        assert_eq!(head.query_param("x"), Some(""));
        assert_eq!(head.query_param("y"), None);
    }

    #[test]
    fn accepts_absolute_form_targets() {
        assert_eq!(
            parse_ok("GET http://h:8080/health?a HTTP/1.1\r\n\r\n").path,
            "/health"
        );
        assert_eq!(parse_ok("GET HTTP://h HTTP/1.1\r\n\r\n").path, "/");
    }

    #[test]
    fn tolerates_bare_lf_and_leading_empty_lines() {
        let head = parse_ok("\r\n\nGET / HTTP/1.1\nHost: x\n\n");
        assert_eq!(head.path, "/");
    }

    #[test]
    fn reads_content_length_and_expect() {
        let head = parse_ok("POST /fail HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(head.content_length, 12);
        assert!(head.expect_continue);
        let repeated = parse_ok("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(repeated.content_length, 3);
    }

    #[test]
    fn pipelined_requests_parse_one_after_another() {
        let raw = "POST /fail HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\n\r\n";
        let mut reader = raw.as_bytes();
        let first = read_head(&mut reader).unwrap().unwrap();
        skip_body(&mut reader, first.content_length).unwrap();
        let second = read_head(&mut reader).unwrap().unwrap();
        assert_eq!((first.path.as_str(), second.path.as_str()), ("/fail", "/health"));
        assert_eq!(read_head(&mut reader), Ok(None));
    }

    #[test]
    fn end_of_stream_is_clean_only_between_requests() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: x\r\n"),
            Err(ReadError::Disconnected)
        );
        assert_eq!(parse("GET / HT"), Err(ReadError::Disconnected));
        assert_eq!(skip_body(&mut "abc".as_bytes(), 5), Err(ReadError::Disconnected));
    }

    #[test]
    fn rejects_malformed_requests() {
        for raw in [
            "GET\r\n\r\n",
            "GET /\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1 x\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1\r\n\r\n",
            "GET / FTP/1.1\r\n\r\n",
            "GET * HTTP/1.1\r\n\r\n",
            "GET ftp://x/ HTTP/1.1\r\n\r\n",
            "GET /a\x01b HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert_eq!(rejected(raw), Status::BadRequest, "{raw:?}");
        }
        assert!(matches!(
            read_head(&mut &b"GET /\xff HTTP/1.1\r\n\r\n"[..]),
            Err(ReadError::Reject(Status::BadRequest, _))
        ));
    }

    #[test]
    fn rejects_what_it_cannot_frame_or_speak() {
        assert_eq!(rejected("GET / HTTP/2.0\r\n\r\n"), Status::VersionNotSupported);
        assert_eq!(
            rejected("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Status::NotImplemented
        );
        assert_eq!(
            rejected("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n"),
            Status::PayloadTooLarge
        );
    }

    #[test]
    fn bounds_the_request_head() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD as usize));
        assert_eq!(rejected(&long_line), Status::HeaderFieldsTooLarge);
        let many_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(rejected(&many_headers), Status::HeaderFieldsTooLarge);
        let endless_blank_lines = "\r\n".repeat(MAX_HEAD as usize);
        assert_eq!(rejected(&endless_blank_lines), Status::HeaderFieldsTooLarge);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet = b"GETPOST /:?=&\r\n\t HTTP/1.01 Content-Length0123456789\xff\x00";
        for _ in 0..5_000 {
            let mut input = Vec::new();
            for _ in 0..(seed % 96) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = read_head(&mut input.as_slice());
        }
    }

    #[test]
    fn responses_always_carry_length_and_connection() {
        let mut out = Vec::new();
        Response::text(Status::Ok, "ok")
            .write_to(&mut out, true, true)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
        );

        let mut out = Vec::new();
        let response = Response {
            allow: Some("POST"),
            ..Response::text(Status::MethodNotAllowed, "use POST\n")
        };
        response.write_to(&mut out, false, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 9\r\nConnection: close\r\nAllow: POST\r\n\r\n"));
        assert!(text.ends_with("\r\n\r\n"), "HEAD answers carry no body");
    }
}
