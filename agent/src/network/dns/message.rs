//! DNS messages, as far as the resolver in each container needs them: read
//! one query, write an answer with A records or an error code. Written by
//! hand because the agent needs so little of DNS (RFC 1035, 4.1) and no DNS
//! crate is in the build.
//!
//! Queries come from containers, which may be hostile: every length is
//! checked against what is left of the packet, compression pointers (which
//! no query needs) are refused rather than followed, and nothing here can
//! panic or allocate more than the packet's size.

use std::net::Ipv4Addr;

/// The largest query accepted. Classic DNS over UDP stops at 512 bytes and a
/// real query (one name, an EDNS record, a cookie) is far below it: anything
/// longer is not a query the resolver serves.
pub const MAX_QUERY: usize = 512;
/// The largest answer over UDP without EDNS (RFC 1035, 4.2.1): a longer
/// one (many tasks in `tasks.NAME`) is cut and marked truncated, and the
/// client asks again over TCP.
pub const MAX_UDP_ANSWER: usize = 512;
/// The largest answer over TCP: what its two-byte length can say.
pub const MAX_TCP_ANSWER: usize = 65_535;
/// One A record after the question: a pointer to the name, type, class,
/// TTL, length and the address.
const A_RECORD: usize = 16;
/// Header length: id, flags and four counts.
const HEADER: usize = 12;
/// A name on the wire, length bytes included (RFC 1035, 2.3.4).
const MAX_NAME: usize = 255;

pub const TYPE_A: u16 = 1;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;
pub const CLASS_ANY: u16 = 255;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const OPCODE_SHIFT: u16 = 11;
const OPCODE_MASK: u16 = 0xF;

/// Response codes the resolver sends (RFC 1035, 4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
}

/// One question, read from a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub opcode: u16,
    pub recursion_desired: bool,
    /// The name in lower case, labels joined by dots, no trailing dot;
    /// bytes other than letters, digits, `-` and `_` written `\DDD`, so a
    /// label holding a dot cannot pose as two labels.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The question as received, echoed in the answer: clients match the
    /// answer's question to theirs byte for byte (letter case included,
    /// which some randomise as a defence against spoofing).
    question: Vec<u8>,
}

/// Why a packet is not a query to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// Not worth an answer: too short to hold an id, or itself an answer
    /// (answering answers could loop between two resolvers).
    Ignore,
    /// Answer with this code and no question.
    Refuse {
        id: u16,
        opcode: u16,
        recursion_desired: bool,
        rcode: Rcode,
    },
}

/// Reads one query. Only the header and the question are read: the
/// additional section (EDNS options) does not change the answer, and a
/// forwarded query is passed on as it came.
pub fn parse(packet: &[u8]) -> Result<Query, Bad> {
    if packet.len() < HEADER {
        return Err(Bad::Ignore);
    }
    let word = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
    let (id, flags) = (word(0), word(2));
    if flags & QR != 0 {
        return Err(Bad::Ignore);
    }
    let opcode = (flags >> OPCODE_SHIFT) & OPCODE_MASK;
    let recursion_desired = flags & RD != 0;
    let refuse = |rcode| Bad::Refuse {
        id,
        opcode,
        recursion_desired,
        rcode,
    };
    if packet.len() > MAX_QUERY {
        return Err(refuse(Rcode::FormErr));
    }
    if opcode != 0 {
        return Err(refuse(Rcode::NotImp));
    }
    let (questions, answers, authorities) = (word(4), word(6), word(8));
    if questions != 1 || answers != 0 || authorities != 0 {
        return Err(refuse(Rcode::FormErr));
    }
    let (name, end) = read_name(packet, HEADER).ok_or(refuse(Rcode::FormErr))?;
    let fixed = packet.get(end..end + 4).ok_or(refuse(Rcode::FormErr))?;
    Ok(Query {
        id,
        opcode,
        recursion_desired,
        name,
        qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
        qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        question: packet[HEADER..end + 4].to_vec(),
    })
}

/// The name starting at `at` in presentation form, and where it ends.
fn read_name(packet: &[u8], mut at: usize) -> Option<(String, usize)> {
    let start = at;
    let mut name = String::new();
    loop {
        let length = usize::from(*packet.get(at)?);
        at += 1;
        if length == 0 {
            break;
        }
        // 0xC0 is a compression pointer, 0x40 and 0x80 reserved: none
        // belongs in a query's only question.
        if length > 63 {
            return None;
        }
        let label = packet.get(at..at + length)?;
        at += length;
        if at - start > MAX_NAME {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        for &byte in label {
            match byte {
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => name.push(char::from(byte)),
                b'A'..=b'Z' => name.push(char::from(byte.to_ascii_lowercase())),
                other => name.push_str(&format!("\\{other:03}")),
            }
        }
    }
    Some((name, at))
}

/// The answer to `query`: `rcode`, and an A record for each address kept
/// `ttl` seconds, as many as fit in `limit` bytes; if not all do, it is
/// marked truncated. Authoritative: the agent is the source of these names.
pub fn answer(query: &Query, rcode: Rcode, addresses: &[Ipv4Addr], ttl: u32, limit: usize) -> Vec<u8> {
    let room = limit.saturating_sub(HEADER + query.question.len()) / A_RECORD;
    let fit = &addresses[..addresses.len().min(room)];
    let truncated = if fit.len() < addresses.len() { TC } else { 0 };
    let mut out = header(
        query.id,
        query.opcode,
        query.recursion_desired,
        AA | truncated,
        rcode,
        1,
        // At most 65,535 / 16 records fit in any limit a caller passes.
        u16::try_from(fit.len()).unwrap_or(u16::MAX),
    );
    out.extend_from_slice(&query.question);
    for address in fit {
        // The name is the question's, by a pointer to it right after the header.
        out.extend_from_slice(&[0xC0, HEADER as u8]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&address.octets());
    }
    out
}

/// An answer to a packet that is not a query the resolver serves.
pub fn refusal(bad: Bad) -> Option<Vec<u8>> {
    match bad {
        Bad::Ignore => None,
        Bad::Refuse {
            id,
            opcode,
            recursion_desired,
            rcode,
        } => Some(header(id, opcode, recursion_desired, 0, rcode, 0, 0)),
    }
}

/// A server failure for `query`, when no upstream resolver answered it.
pub fn server_failure(query: &Query) -> Vec<u8> {
    let mut out = header(
        query.id,
        query.opcode,
        query.recursion_desired,
        0,
        Rcode::ServFail,
        1,
        0,
    );
    out.extend_from_slice(&query.question);
    out
}

fn header(id: u16, opcode: u16, rd: bool, extra: u16, rcode: Rcode, questions: u16, answers: u16) -> Vec<u8> {
    let flags =
        QR | (opcode & OPCODE_MASK) << OPCODE_SHIFT | if rd { RD } else { 0 } | RA | extra | rcode as u16;
    let mut out = Vec::with_capacity(64);
    for word in [id, flags, questions, answers, 0, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out
}

/// Whether `packet` is an answer to the query with `id`: what a forwarded
/// query's upstream must send back before it is relayed.
pub fn answers(packet: &[u8], id: u16) -> bool {
    packet.len() >= HEADER && packet[..2] == id.to_be_bytes() && packet[2] & 0x80 != 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query as a stub resolver sends it: id, RD, one question.
    pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut packet = Vec::new();
        for word in [id, RD, 1, 0, 0, 0] {
            packet.extend_from_slice(&word.to_be_bytes());
        }
        for label in name.split('.').filter(|label| !label.is_empty()) {
            packet.push(label.len() as u8);
            packet.extend_from_slice(label.as_bytes());
        }
        packet.push(0);
        packet.extend_from_slice(&qtype.to_be_bytes());
        packet.extend_from_slice(&CLASS_IN.to_be_bytes());
        packet
    }

    /// The answer's rcode and its A records.
    pub(crate) fn read_answer(packet: &[u8]) -> (u16, Vec<Ipv4Addr>) {
        let word = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
        let rcode = word(2) & 0xF;
        let (questions, answers) = (word(4), word(6));
        let mut at = HEADER;
        for _ in 0..questions {
            at = skip_name(packet, at) + 4;
        }
        let mut addresses = Vec::new();
        for _ in 0..answers {
            at = skip_name(packet, at);
            let (rtype, length) = (word(at), usize::from(word(at + 8)));
            at += 10;
            if rtype == TYPE_A {
                let octets: [u8; 4] = packet[at..at + 4].try_into().unwrap();
                addresses.push(Ipv4Addr::from(octets));
            }
            at += length;
        }
        (rcode, addresses)
    }

    fn skip_name(packet: &[u8], mut at: usize) -> usize {
        loop {
            match packet[at] {
                0 => return at + 1,
                pointer if pointer >= 0xC0 => return at + 2,
                length => at += 1 + usize::from(length),
            }
        }
    }

    #[test]
    fn a_query_reads_as_its_name_in_lower_case_type_and_class() {
        let query = parse(&query(0x1234, "Api.BackEnd.", TYPE_A)).unwrap();
        assert_eq!(query.id, 0x1234);
        assert_eq!(query.name, "api.backend");
        assert_eq!((query.qtype, query.qclass), (TYPE_A, CLASS_IN));
        assert!(query.recursion_desired);
    }

    #[test]
    fn an_answer_echoes_the_question_and_carries_one_a_record() {
        let packet = query(7, "Api", TYPE_A);
        let parsed = parse(&packet).unwrap();
        let out = answer(
            &parsed,
            Rcode::NoError,
            &[Ipv4Addr::new(127, 128, 0, 1)],
            5,
            MAX_UDP_ANSWER,
        );
        assert_eq!(&out[..2], &7u16.to_be_bytes());
        assert!(answers(&out, 7));
        assert!(!answers(&out, 8));
        assert_eq!(
            &out[HEADER..packet.len()],
            &packet[HEADER..],
            "question echoed as sent"
        );
        assert_eq!(read_answer(&out), (0, vec![Ipv4Addr::new(127, 128, 0, 1)]));
        let missing = answer(&parsed, Rcode::NxDomain, &[], 5, MAX_UDP_ANSWER);
        assert_eq!(read_answer(&missing), (3, vec![]));
        assert_eq!(read_answer(&server_failure(&parsed)), (2, vec![]));
    }

    #[test]
    fn an_answer_too_long_for_a_datagram_is_cut_and_marked_truncated() {
        let packet = query(7, "tasks.api", TYPE_A);
        let parsed = parse(&packet).unwrap();
        let many: Vec<Ipv4Addr> = (0..100u32)
            .map(|n| Ipv4Addr::from_bits(0x7F40_0001 + n))
            .collect();
        let cut = answer(&parsed, Rcode::NoError, &many, 5, MAX_UDP_ANSWER);
        assert!(cut.len() <= MAX_UDP_ANSWER);
        assert_ne!(cut[2] & 0x02, 0, "TC is set");
        let (rcode, kept) = read_answer(&cut);
        assert_eq!(
            (rcode, kept.len()),
            (0, (MAX_UDP_ANSWER - packet.len()) / A_RECORD)
        );
        assert_eq!(kept, many[..kept.len()]);
        let whole = answer(&parsed, Rcode::NoError, &many, 5, MAX_TCP_ANSWER);
        assert_eq!(whole[2] & 0x02, 0, "TC is clear");
        assert_eq!(read_answer(&whole), (0, many));
    }

    #[test]
    fn labels_holding_dots_or_odd_bytes_cannot_pose_as_other_names() {
        // One label "api.backend" is not the two labels api and backend.
        let mut packet = query(1, "x", TYPE_A);
        packet.truncate(HEADER);
        packet.push(11);
        packet.extend_from_slice(b"api.backend");
        packet.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse(&packet).unwrap().name, "api\\046backend");
    }

    #[test]
    fn short_packets_and_answers_are_ignored() {
        assert_eq!(parse(&[]), Err(Bad::Ignore));
        assert_eq!(parse(&[0; 11]), Err(Bad::Ignore));
        let parsed = parse(&query(9, "api", TYPE_A)).unwrap();
        let answered = answer(&parsed, Rcode::NoError, &[], 5, MAX_UDP_ANSWER);
        assert_eq!(parse(&answered), Err(Bad::Ignore));
        assert_eq!(refusal(Bad::Ignore), None);
    }

    fn rcode_of(packet: &[u8]) -> Rcode {
        match parse(packet) {
            Err(Bad::Refuse { rcode, .. }) => rcode,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn malformed_queries_are_refused_with_formerr() {
        let good = query(3, "api.backend", TYPE_A);
        // Cut anywhere inside the question.
        for cut in HEADER..good.len() {
            assert_eq!(rcode_of(&good[..cut]), Rcode::FormErr, "cut at {cut}");
        }
        // Two questions, or records where a query has none.
        for count_at in [5, 7, 9] {
            let mut packet = good.clone();
            packet[count_at] = 2;
            assert_eq!(rcode_of(&packet), Rcode::FormErr);
        }
        // A compression pointer, looping back onto itself.
        let mut pointer = good[..HEADER].to_vec();
        pointer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(rcode_of(&pointer), Rcode::FormErr);
        // A label length running past the end.
        let mut long = good[..HEADER].to_vec();
        long.extend_from_slice(&[63, b'a']);
        assert_eq!(rcode_of(&long), Rcode::FormErr);
    }

    #[test]
    fn names_longer_than_255_bytes_and_oversized_packets_are_refused() {
        let label = "a".repeat(63);
        let name = [label.as_str(); 4].join(".");
        assert_eq!(rcode_of(&query(1, &name, TYPE_A)), Rcode::FormErr);
        let mut padded = query(1, "api", TYPE_A);
        padded.resize(MAX_QUERY + 1, 0);
        assert_eq!(rcode_of(&padded), Rcode::FormErr);
        // Up to the limit, trailing records (EDNS) are left alone.
        padded.truncate(MAX_QUERY);
        assert_eq!(parse(&padded).unwrap().name, "api");
    }

    #[test]
    fn other_opcodes_are_not_implemented_and_refusals_keep_the_id() {
        let mut notify = query(0xBEEF, "api", TYPE_A);
        notify[2] |= 4 << 3;
        let bad = parse(&notify).unwrap_err();
        assert_eq!(
            bad,
            Bad::Refuse {
                id: 0xBEEF,
                opcode: 4,
                recursion_desired: true,
                rcode: Rcode::NotImp
            }
        );
        let out = refusal(bad).unwrap();
        assert!(answers(&out, 0xBEEF));
        assert_eq!(read_answer(&out), (4, vec![]));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small xorshift: deterministic, no dependency.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let base = query(1, "api.backend", TYPE_A);
        for _ in 0..20_000 {
            let mut packet = base.clone();
            let flips = next() % 6;
            for _ in 0..flips {
                let at = (next() as usize) % packet.len();
                packet[at] = next() as u8;
            }
            packet.truncate((next() as usize) % (packet.len() + 1));
            if let Ok(query) = parse(&packet) {
                answer(&query, Rcode::NoError, &[Ipv4Addr::LOCALHOST], 1, MAX_UDP_ANSWER);
            }
        }
    }
}
