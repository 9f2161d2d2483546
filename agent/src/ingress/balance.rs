//! Which backend a new connection tries first, and which next when one
//! fails: the fewest active connections from this node first, ties taken in
//! turn so that equal backends share new connections evenly.
//!
//! A [`Route`] is one port's backends at one moment. It is never changed in
//! place: a new table builds a new route and the listener swaps it whole, so
//! an accepted connection sees either the old list or the new one.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use shoal_proto::wire::Backend;

#[derive(Debug)]
pub struct Target {
    pub task_id: String,
    pub addr: SocketAddr,
    /// Connections this node holds open to the backend. Shared with the
    /// previous route's target for the same task and address, so that a new
    /// table does not make a busy backend look idle.
    pub(crate) active: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
pub struct Route {
    pub service: String,
    pub targets: Vec<Target>,
}

/// A backend address the agent cannot connect to as given.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected {
    pub task_id: String,
    pub addr: String,
}

impl Route {
    /// `service`'s route to `backends`, keeping the load `previous` knew of
    /// the backends it shares.
    pub fn build(service: &str, backends: &[Backend], previous: Option<&Route>) -> (Self, Vec<Rejected>) {
        let mut rejected = Vec::new();
        let targets = backends
            .iter()
            .filter_map(|backend| match backend.addr.parse::<SocketAddr>() {
                Ok(addr) => {
                    let active = previous
                        .and_then(|route| {
                            route
                                .targets
                                .iter()
                                .find(|t| t.task_id == backend.task_id && t.addr == addr)
                        })
                        .map_or_else(Arc::default, |t| Arc::clone(&t.active));
                    Some(Target {
                        task_id: backend.task_id.clone(),
                        addr,
                        active,
                    })
                }
                Err(_) => {
                    rejected.push(Rejected {
                        task_id: backend.task_id.clone(),
                        addr: backend.addr.clone(),
                    });
                    None
                }
            })
            .collect();
        let route = Self {
            service: service.to_owned(),
            targets,
        };
        (route, rejected)
    }

    /// The targets in the order connection `turn` tries them.
    pub fn attempts(&self, turn: usize) -> impl Iterator<Item = &Target> {
        let active: Vec<u64> = self
            .targets
            .iter()
            .map(|t| t.active.load(Ordering::Relaxed))
            .collect();
        attempt_order(&active, turn).into_iter().map(|i| &self.targets[i])
    }

    pub fn task_ids(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.task_id.clone()).collect()
    }
}

/// Indices of backends with `active` connections, least busy first; among
/// equals, starting at `turn` and wrapping, so consecutive turns rotate.
/// Every backend appears once: after the preferred one fails the others are
/// still worth a try.
pub fn attempt_order(active: &[u64], turn: usize) -> Vec<usize> {
    let n = active.len();
    let mut order: Vec<usize> = (0..n).collect();
    if n > 0 {
        let start = turn % n;
        order.sort_by_key(|&i| (active[i], (i + n - start) % n));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_backends_take_turns() {
        let firsts: Vec<usize> = (0..6).map(|turn| attempt_order(&[0, 0, 0], turn)[0]).collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
        assert_eq!(attempt_order(&[0, 0, 0], 1), [1, 2, 0]);
    }

    #[test]
    fn the_least_busy_backend_goes_first_and_the_rest_follow() {
        assert_eq!(attempt_order(&[3, 0, 1], 0), [1, 2, 0]);
        assert_eq!(attempt_order(&[2, 5, 2], 0), [0, 2, 1]);
        assert_eq!(attempt_order(&[2, 5, 2], 1), [2, 0, 1]);
    }

    #[test]
    fn no_backends_means_nothing_to_try() {
        assert!(attempt_order(&[], 7).is_empty());
    }

    fn backends(backends: &[(&str, &str)]) -> Vec<Backend> {
        backends
            .iter()
            .map(|(task_id, addr)| Backend {
                task_id: (*task_id).into(),
                node_id: "n1".into(),
                addr: (*addr).into(),
            })
            .collect()
    }

    #[test]
    fn a_new_route_keeps_the_load_it_knows_of() {
        let (old, _) = Route::build(
            "web",
            &backends(&[("t1", "10.0.0.1:30001"), ("t2", "10.0.0.2:30001")]),
            None,
        );
        old.targets[0].active.store(4, Ordering::Relaxed);
        let (new, _) = Route::build(
            "web",
            &backends(&[("t1", "10.0.0.1:30001"), ("t3", "10.0.0.3:30001")]),
            Some(&old),
        );
        assert_eq!(new.targets[0].active.load(Ordering::Relaxed), 4);
        assert_eq!(new.targets[1].active.load(Ordering::Relaxed), 0);
        let first = new.attempts(0).next().unwrap();
        assert_eq!(first.task_id, "t3");
    }

    #[test]
    fn an_address_that_is_not_ip_and_port_is_rejected_not_tried() {
        let (route, rejected) = Route::build(
            "web",
            &backends(&[("t1", "10.0.0.1:30001"), ("t2", "node-2:30001")]),
            None,
        );
        assert_eq!(route.task_ids(), ["t1"]);
        assert_eq!(
            rejected,
            [Rejected {
                task_id: "t2".into(),
                addr: "node-2:30001".into()
            }]
        );
    }
}
