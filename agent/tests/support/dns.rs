//! A DNS client as small as the tests need, written apart from the agent's
//! own DNS code so that a mistake there cannot hide in both.

use std::{
    net::{Ipv4Addr, UdpSocket},
    time::{Duration, Instant},
};

pub const RESOLVER: &str = "127.0.0.53:53";

/// An A query for `name`, recursion desired.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut packet = Vec::new();
    for word in [id, 0x0100, 1, 0, 0, 0] {
        packet.extend_from_slice(&word.to_be_bytes());
    }
    for label in name.split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

/// The answer's rcode and the address of every record. In the answers these
/// tests get, the records end the packet, 16 bytes each: a pointer to the
/// question's name, type, class, TTL, length and the address.
pub fn read_all(answer: &[u8], id: u16) -> (u8, Vec<Ipv4Addr>) {
    assert_eq!(&answer[..2], &id.to_be_bytes(), "an answer to another query");
    let rcode = answer[3] & 0xF;
    let answers = usize::from(u16::from_be_bytes([answer[6], answer[7]]));
    let addresses = answer[answer.len() - 16 * answers..]
        .chunks(16)
        .map(|record| Ipv4Addr::from(<[u8; 4]>::try_from(&record[12..]).unwrap()))
        .collect();
    (rcode, addresses)
}

/// Asks [`RESOLVER`] over UDP, again and again for a few seconds: the
/// agent opens it a moment after it learns of the container, as a
/// container's resolv.conf options allow for.
pub fn resolve(name: &str) -> Option<(u8, Option<Ipv4Addr>)> {
    resolve_all(name).map(|(rcode, addresses)| (rcode, addresses.first().copied()))
}

/// As [`resolve`], with every address answered.
pub fn resolve_all(name: &str) -> Option<(u8, Vec<Ipv4Addr>)> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = [0; 512];
    let mut id = 0;
    while Instant::now() < deadline {
        id += 1;
        if socket.send_to(&query(id, name), RESOLVER).is_err() {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if let Ok((length, _)) = socket.recv_from(&mut buffer) {
            return Some(read_all(&buffer[..length], id));
        }
    }
    None
}
