//! The resolver's decisions, apart from its sockets: `message` reads
//! queries and writes answers, `names` says what a container is answered,
//! and [`respond`] puts the two together for one packet.

pub mod message;
pub mod names;

use message::{Query, Rcode, answer, parse, refusal};
use names::{Decision, Names, TTL};

/// What to do with one packet from a container.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// Send these bytes back.
    Answer(Vec<u8>),
    /// Ask the host's resolver, and relay its answer.
    Forward(Query),
    /// Say nothing.
    Ignore,
}

/// `limit` is the largest answer the transport takes: `MAX_UDP_ANSWER` or
/// `MAX_TCP_ANSWER`.
pub fn respond(names: &Names, packet: &[u8], limit: usize) -> Response {
    let query = match parse(packet) {
        Ok(query) => query,
        Err(bad) => return refusal(bad).map_or(Response::Ignore, Response::Answer),
    };
    match names.decide(&query) {
        Decision::Addresses(addresses) => {
            Response::Answer(answer(&query, Rcode::NoError, &addresses, TTL, limit))
        }
        Decision::NoData => Response::Answer(answer(&query, Rcode::NoError, &[], TTL, limit)),
        Decision::NoSuchName => Response::Answer(answer(&query, Rcode::NxDomain, &[], TTL, limit)),
        Decision::Forward => Response::Forward(query),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::{BTreeMap, BTreeSet},
        net::Ipv4Addr,
    };

    use super::{
        message::{
            MAX_UDP_ANSWER, TYPE_A,
            tests::{query, read_answer},
        },
        *,
    };

    fn names() -> Names {
        Names {
            local: BTreeMap::from([
                ("api".into(), vec![Ipv4Addr::new(127, 128, 0, 1)]),
                (
                    "tasks.api".into(),
                    vec![Ipv4Addr::new(127, 64, 0, 1), Ipv4Addr::new(127, 64, 0, 2)],
                ),
            ]),
            services: BTreeSet::from(["api".into(), "billing".into()]),
            networks: BTreeSet::new(),
        }
    }

    fn answered(response: Response) -> (u16, Vec<Ipv4Addr>) {
        match response {
            Response::Answer(bytes) => read_answer(&bytes),
            other => panic!("not answered: {other:?}"),
        }
    }

    #[test]
    fn shared_names_are_answered_others_refused_and_the_rest_forwarded() {
        let names = names();
        assert_eq!(
            answered(respond(&names, &query(1, "api", TYPE_A), MAX_UDP_ANSWER)),
            (0, vec![Ipv4Addr::new(127, 128, 0, 1)])
        );
        assert_eq!(
            answered(respond(&names, &query(1, "tasks.api", TYPE_A), MAX_UDP_ANSWER)),
            (
                0,
                vec![Ipv4Addr::new(127, 64, 0, 1), Ipv4Addr::new(127, 64, 0, 2)]
            )
        );
        assert_eq!(
            answered(respond(&names, &query(2, "billing", TYPE_A), MAX_UDP_ANSWER)),
            (3, vec![])
        );
        match respond(&names, &query(3, "example.com", TYPE_A), MAX_UDP_ANSWER) {
            Response::Forward(query) => assert_eq!((query.id, query.name.as_str()), (3, "example.com")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_refused_or_ignored_never_forwarded() {
        let names = names();
        assert_eq!(respond(&names, b"hi", MAX_UDP_ANSWER), Response::Ignore);
        let mut cut = query(4, "example.com", TYPE_A);
        cut.truncate(20);
        assert_eq!(answered(respond(&names, &cut, MAX_UDP_ANSWER)), (1, vec![]));
    }
}
