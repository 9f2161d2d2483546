//! Each ready task of a networked service gets an address of its own on
//! this node, so that `tasks.NAME` can list the tasks one by one and a
//! client that balances itself reaches each. The server's table carries
//! only each task's backend, so the agent picks these addresses itself, in
//! a range apart from every other one in a container: 127.64.0.0/10, below
//! the virtual addresses (127.128.0.0/9) and far above 127.0.0.1, Docker's
//! 127.0.0.11 and the resolver's 127.0.0.53. They exist only in this node's
//! containers, so another node giving the same task another address does
//! not matter.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
};

/// The range of every task address, as the NAT rule names it.
pub const TASK_RANGE: &str = "127.64.0.0/10";
const FIRST: Ipv4Addr = Ipv4Addr::new(127, 64, 0, 1);
const LAST: Ipv4Addr = Ipv4Addr::new(127, 127, 255, 254);

/// The tasks' addresses on this node, by task id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskAddresses {
    first: u32,
    last: u32,
    assigned: BTreeMap<String, Ipv4Addr>,
    /// Where the search for a free address starts: after the last one
    /// given, so that a freed address is given again only once the range
    /// has wrapped round. A client still holding it from `tasks.NAME` then
    /// reaches nothing rather than another task.
    next: u32,
}

impl Default for TaskAddresses {
    fn default() -> Self {
        Self::within(FIRST, LAST)
    }
}

impl TaskAddresses {
    /// An allocator over `first..=last`.
    fn within(first: Ipv4Addr, last: Ipv4Addr) -> Self {
        Self {
            first: first.to_bits(),
            last: last.to_bits(),
            assigned: BTreeMap::new(),
            next: first.to_bits(),
        }
    }

    pub fn get(&self, task_id: &str) -> Option<Ipv4Addr> {
        self.assigned.get(task_id).copied()
    }

    /// The addresses once `tasks` are those in the table: a task already
    /// here keeps its address, a new one gets the next free one, a task
    /// gone frees its own. When the range is full a new task gets none
    /// (it is then not listed by `tasks.NAME`) until one is freed.
    pub fn assign<'a>(&self, tasks: impl IntoIterator<Item = &'a str>) -> Self {
        let tasks: BTreeSet<&str> = tasks.into_iter().collect();
        let mut assigned: BTreeMap<String, Ipv4Addr> = self
            .assigned
            .iter()
            .filter(|(task, _)| tasks.contains(task.as_str()))
            .map(|(task, address)| (task.clone(), *address))
            .collect();
        let mut used: BTreeSet<u32> = assigned.values().map(|a| a.to_bits()).collect();
        let mut next = self.next;
        let size = u64::from(self.last - self.first) + 1;
        for task in tasks {
            if assigned.contains_key(task) {
                continue;
            }
            let mut tried = 0;
            while tried < size && used.contains(&next) {
                next = self.after(next);
                tried += 1;
            }
            if tried == size {
                tracing::warn!(task, "service networks: no task address left in {TASK_RANGE}");
                continue;
            }
            used.insert(next);
            assigned.insert(task.to_owned(), Ipv4Addr::from_bits(next));
            next = self.after(next);
        }
        Self {
            assigned,
            next,
            ..*self
        }
    }

    fn after(&self, address: u32) -> u32 {
        if address >= self.last {
            self.first
        } else {
            address + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(addresses: &TaskAddresses, tasks: &[&str]) -> Vec<Option<String>> {
        tasks
            .iter()
            .map(|task| addresses.get(task).map(|a| a.to_string()))
            .collect()
    }

    fn some(addresses: &[&str]) -> Vec<Option<String>> {
        addresses.iter().map(|a| Some((*a).to_owned())).collect()
    }

    #[test]
    fn a_task_keeps_its_address_across_tables() {
        let first = TaskAddresses::default().assign(["t1", "t2"]);
        assert_eq!(of(&first, &["t1", "t2"]), some(&["127.64.0.1", "127.64.0.2"]));
        let second = first.assign(["t3", "t2", "t1"]);
        assert_eq!(
            of(&second, &["t1", "t2", "t3"]),
            some(&["127.64.0.1", "127.64.0.2", "127.64.0.3"])
        );
    }

    #[test]
    fn a_task_gone_frees_its_address_and_no_two_tasks_share_one() {
        let tiny = TaskAddresses::within(Ipv4Addr::new(127, 64, 0, 1), Ipv4Addr::new(127, 64, 0, 2));
        let full = tiny.assign(["t1", "t2", "t3"]);
        assert_eq!(
            of(&full, &["t1", "t2", "t3"]),
            [Some("127.64.0.1".into()), Some("127.64.0.2".into()), None],
            "the range is full: the third task waits"
        );
        let freed = full.assign(["t2", "t3"]);
        assert_eq!(
            of(&freed, &["t1", "t2", "t3"]),
            [None, Some("127.64.0.2".into()), Some("127.64.0.1".into())]
        );
    }

    #[test]
    fn a_freed_address_is_given_again_only_after_the_range_wraps() {
        let addresses = TaskAddresses::default().assign(["t1"]).assign(["t2"]);
        assert_eq!(of(&addresses, &["t1", "t2"]), [None, Some("127.64.0.2".into())]);
    }

    #[test]
    fn the_task_range_is_apart_from_the_virtual_range_and_the_fixed_addresses() {
        let range = |address: Ipv4Addr| (FIRST..=LAST).contains(&address);
        for outside in [
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 11),
            Ipv4Addr::new(127, 0, 0, 53),
            Ipv4Addr::new(127, 128, 0, 0),
        ] {
            assert!(!range(outside), "{outside}");
        }
        assert_eq!(TASK_RANGE, "127.64.0.0/10");
        assert_eq!(
            LAST.to_bits() - FIRST.to_bits() + 1,
            (1 << 22) - 2,
            "a /10 less its first and last"
        );
    }
}
