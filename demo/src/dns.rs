//! A tiny DNS client: one A query over UDP to the first `nameserver` of
//! `/etc/resolv.conf`. The static glibc binary cannot use the system
//! resolver (NSS cannot be loaded), yet a task on a service network must
//! call other services by name, which the agent's resolver answers.
//!
//! Answers are read as untrusted input: every length is checked before it is
//! used, so a malformed or hostile packet is an error, never a panic.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Five tries a second apart, as the agent asks of containers
/// (`attempts:5`, `timeout:1`): its resolver opens a moment after the
/// container starts, so the first queries may go unanswered.
const ATTEMPTS: u32 = 5;
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// RFC 1035's limit for UDP; a bigger answer is truncated by the server.
const MAX_PACKET: usize = 512;
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// The name does not exist (NXDOMAIN): for a service, it shares no
    /// network with this container.
    NotFound(String),
    /// The name exists but has no A record.
    NoAddress(String),
    /// Anything else: no resolver, no answer, a refusal, a malformed packet.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(name) => write!(f, "{name}: no such name (NXDOMAIN)"),
            Error::NoAddress(name) => write!(f, "{name}: the name has no IPv4 address"),
            Error::Failed(why) => f.write_str(why),
        }
    }
}

/// The IPv4 address of `name`, asked of the first nameserver in
/// `/etc/resolv.conf`. The name is asked as written: search domains are not
/// tried.
pub fn resolve(name: &str) -> Result<Ipv4Addr, Error> {
    let conf = std::fs::read_to_string(RESOLV_CONF)
        .map_err(|e| Error::Failed(format!("cannot read {RESOLV_CONF}: {e}")))?;
    let server =
        first_nameserver(&conf).ok_or_else(|| Error::Failed(format!("{RESOLV_CONF} names no nameserver")))?;
    ask(server, name)
}

/// Asks `server` for `name`'s A record, a few times.
fn ask(server: SocketAddr, name: &str) -> Result<Ipv4Addr, Error> {
    let query = encode_query(query_id(), name)?;
    let failed = |e: std::io::Error| Error::Failed(format!("nameserver {server}: {e}"));
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(failed)?;
    // Connected, so the kernel drops datagrams from anyone but the server.
    socket.connect(server).map_err(failed)?;
    let mut buffer = [0; MAX_PACKET];
    for _ in 0..ATTEMPTS {
        socket.send(&query).map_err(failed)?;
        let deadline = Instant::now() + ATTEMPT_TIMEOUT;
        // Packets with another id (a late answer to an earlier try, or a
        // spoof) are skipped until this try's time is up.
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            socket.set_read_timeout(Some(left)).map_err(failed)?;
            match socket.recv(&mut buffer) {
                Ok(length) => match parse_answer(&query, &buffer[..length], name) {
                    Some(answer) => return answer,
                    None => continue,
                },
                // Nothing in time, or refused (ICMP) because the resolver is
                // not open yet: ask again once this try's second is up, so
                // that five refusals take five seconds, not five
                // milliseconds.
                Err(_) => {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    break;
                }
            }
        }
    }
    Err(Error::Failed(format!(
        "nameserver {server} did not answer for {name} ({ATTEMPTS} tries)"
    )))
}

/// The first `nameserver` line's address, on port 53.
fn first_nameserver(conf: &str) -> Option<SocketAddr> {
    conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next()?.parse::<IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// Unpredictable enough that an off-path guess is unlikely, without a
/// dependency: the clock's nanoseconds mixed with the process id.
fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16) ^ std::process::id()) as u16
}

/// A standard query with recursion desired, for `name`'s A record.
fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, Error> {
    let invalid = || Error::Failed(format!("{name:?} is not a valid host name"));
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(invalid());
    }
    let mut packet = Vec::with_capacity(18 + trimmed.len());
    packet.extend_from_slice(&id.to_be_bytes());
    // Flags: RD. One question, nothing else.
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in trimmed.split('.') {
        let valid = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(invalid());
        }
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&TYPE_A.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(packet)
}

/// What `packet` says about `query`: `None` if it is not the answer to it
/// (another id, not a response, another question), else the first A record
/// or why there is none.
fn parse_answer(query: &[u8], packet: &[u8], name: &str) -> Option<Result<Ipv4Addr, Error>> {
    let malformed = || Some(Err(Error::Failed(format!("malformed answer for {name}"))));
    if packet.len() < 12 || packet[..2] != query[..2] || packet[2] & 0x80 == 0 {
        return None;
    }
    let count = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
    // The question must be echoed as asked (bar letter case), or this is
    // the answer to something else.
    let question = &query[12..];
    let echoed = packet.get(12..12 + question.len())?;
    if count(4) != 1 || !echoed.eq_ignore_ascii_case(question) {
        return None;
    }
    match packet[3] & 0x0f {
        0 => {}
        3 => return Some(Err(Error::NotFound(name.to_owned()))),
        2 => {
            return Some(Err(Error::Failed(format!(
                "{name}: the nameserver failed (SERVFAIL)"
            ))));
        }
        5 => {
            return Some(Err(Error::Failed(format!(
                "{name}: the nameserver refused (REFUSED)"
            ))));
        }
        code => {
            return Some(Err(Error::Failed(format!(
                "{name}: the nameserver answered rcode {code}"
            ))));
        }
    }
    let mut at = 12 + question.len();
    for _ in 0..count(6) {
        let Some(after_name) = skip_name(packet, at) else {
            return malformed();
        };
        let Some(fixed) = packet.get(after_name..after_name + 10) else {
            return malformed();
        };
        let field = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
        let data_length = usize::from(field(8));
        let data_start = after_name + 10;
        let Some(data) = packet.get(data_start..data_start + data_length) else {
            return malformed();
        };
        // Skips what comes before the address, such as a CNAME.
        if field(0) == TYPE_A && field(2) == CLASS_IN {
            return match <[u8; 4]>::try_from(data) {
                Ok(octets) => Some(Ok(Ipv4Addr::from(octets))),
                Err(_) => malformed(),
            };
        }
        at = data_start + data_length;
    }
    Some(Err(Error::NoAddress(name.to_owned())))
}

/// The offset just past the name at `at`: labels up to a zero byte, or up to
/// a compression pointer, which ends a name in two bytes wherever it points.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *packet.get(at)?;
        match length {
            0 => return Some(at + 1),
            0xc0.. => return packet.get(at + 1).map(|_| at + 2),
            1..=63 => at += 1 + usize::from(length),
            // 0x40 and 0x80: reserved label types.
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer a server sends to `query`: its header with QR (and RA)
    /// set, `rcode` and `answers` records, the question echoed.
    fn answer(query: &[u8], rcode: u8, answers: &[&[u8]]) -> Vec<u8> {
        let mut packet = query[..2].to_vec();
        packet.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1, 0, answers.len() as u8, 0, 0, 0, 0]);
        packet.extend_from_slice(&query[12..]);
        for record in answers {
            packet.extend_from_slice(record);
        }
        packet
    }

    /// A record named by a pointer to the question's name.
    fn record(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut record = vec![0xc0, 12];
        record.extend_from_slice(&kind.to_be_bytes());
        record.extend_from_slice(&CLASS_IN.to_be_bytes());
        record.extend_from_slice(&5u32.to_be_bytes());
        record.extend_from_slice(&(data.len() as u16).to_be_bytes());
        record.extend_from_slice(data);
        record
    }

    #[test]
    fn a_query_asks_for_the_a_record_of_each_label() {
        let query = encode_query(0xbeef, "api.backend").unwrap();
        assert_eq!(
            query,
            [
                &[0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0][..],
                b"\x03api\x07backend\x00",
                &[0, 1, 0, 1],
            ]
            .concat()
        );
        assert_eq!(encode_query(1, "api.").unwrap(), encode_query(1, "api").unwrap());
        for bad in ["", ".", "a..b", "a b", &"x".repeat(64), &["abc"; 70].join(".")] {
            assert!(encode_query(1, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_the_first_a_record_after_a_cname() {
        let query = encode_query(7, "api").unwrap();
        let cname = record(5, b"\x04real\x00");
        let a = record(TYPE_A, &[127, 128, 0, 2]);
        let packet = answer(&query, 0, &[&cname, &a]);
        assert_eq!(
            parse_answer(&query, &packet, "api"),
            Some(Ok(Ipv4Addr::new(127, 128, 0, 2)))
        );
    }

    #[test]
    fn nxdomain_and_empty_answers_say_why() {
        let query = encode_query(7, "api").unwrap();
        assert_eq!(
            parse_answer(&query, &answer(&query, 3, &[]), "api"),
            Some(Err(Error::NotFound("api".into())))
        );
        assert_eq!(
            parse_answer(&query, &answer(&query, 0, &[]), "api"),
            Some(Err(Error::NoAddress("api".into())))
        );
        assert!(matches!(
            parse_answer(&query, &answer(&query, 2, &[]), "api"),
            Some(Err(Error::Failed(why))) if why.contains("SERVFAIL")
        ));
        assert_eq!(
            Error::NotFound("api".into()).to_string(),
            "api: no such name (NXDOMAIN)"
        );
    }

    #[test]
    fn packets_that_answer_something_else_are_ignored() {
        let query = encode_query(7, "api").unwrap();
        let good = answer(&query, 0, &[&record(TYPE_A, &[10, 0, 0, 1])]);

        let mut other_id = good.clone();
        other_id[1] ^= 1;
        let mut not_a_response = good.clone();
        not_a_response[2] &= 0x7f;
        let other_question = answer(&encode_query(7, "web").unwrap(), 0, &[]);
        for packet in [&other_id, &not_a_response, &other_question, &good[..11].to_vec()] {
            assert_eq!(parse_answer(&query, packet, "api"), None);
        }
        // The question echoed in another letter case is still this answer.
        let shouted = answer(
            &encode_query(7, "API").unwrap(),
            0,
            &[&record(TYPE_A, &[10, 0, 0, 1])],
        );
        assert_eq!(
            parse_answer(&query, &shouted, "api"),
            Some(Ok(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    #[test]
    fn truncated_or_malformed_records_are_errors_not_panics() {
        let query = encode_query(7, "api").unwrap();
        let good = answer(&query, 0, &[&record(TYPE_A, &[10, 0, 0, 1])]);
        for cut in query.len()..good.len() {
            let result = parse_answer(&query, &good[..cut], "api");
            assert!(
                matches!(result, Some(Err(Error::Failed(_)))),
                "cut at {cut}: {result:?}"
            );
        }
        let short_address = answer(&query, 0, &[&record(TYPE_A, &[10, 0, 1])]);
        let reserved_label = answer(&query, 0, &[&[0x40, 0, 0, 1, 0, 1][..]]);
        let claims_more = {
            let mut packet = good.clone();
            packet[7] = 200;
            packet
        };
        for packet in [short_address, reserved_label] {
            assert!(matches!(
                parse_answer(&query, &packet, "api"),
                Some(Err(Error::Failed(_)))
            ));
        }
        // Records past the packet's end that are never reached: the first
        // one answers.
        assert_eq!(
            parse_answer(&query, &claims_more, "api"),
            Some(Ok(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    #[test]
    fn the_first_nameserver_line_is_used() {
        let conf = "# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver 8.8.8.8\noptions attempts:5\n";
        assert_eq!(first_nameserver(conf), Some("127.0.0.53:53".parse().unwrap()));
        assert_eq!(
            first_nameserver("nameserver ::1\n"),
            Some("[::1]:53".parse().unwrap())
        );
        assert_eq!(first_nameserver("nameserver\nnameserver bogus\n"), None);
    }

    #[test]
    fn resolves_through_a_live_server_skipping_foreign_ids() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let responder = std::thread::spawn(move || {
            let mut buffer = [0; MAX_PACKET];
            let (length, client) = server.recv_from(&mut buffer).unwrap();
            let query = &buffer[..length];
            let mut spoof = answer(query, 0, &[&record(TYPE_A, &[6, 6, 6, 6])]);
            spoof[0] ^= 0xff;
            server.send_to(&spoof, client).unwrap();
            let real = answer(query, 0, &[&record(TYPE_A, &[127, 128, 0, 9])]);
            server.send_to(&real, client).unwrap();
        });
        assert_eq!(ask(addr, "api"), Ok(Ipv4Addr::new(127, 128, 0, 9)));
        responder.join().unwrap();
    }
}
