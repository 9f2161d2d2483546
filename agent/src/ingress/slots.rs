//! A cap on connections open at once: a port's, or the whole node's. The
//! accept loop takes a slot before it hands a connection to the proxy, and
//! the slot goes back when the connection ends, however it ends.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

#[derive(Debug)]
pub struct Slots {
    open: AtomicUsize,
    cap: usize,
}

impl Slots {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            cap,
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A slot, unless all are taken. Check and take are one step, so that
    /// several listeners sharing the node's slots never overshoot the cap.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.cap).then_some(open + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }
}

/// One connection's place under a cap, given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_at_the_cap_and_come_back_when_dropped() {
        let slots = Slots::new(2);
        let first = slots.try_take().unwrap();
        let _second = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        drop(first);
        assert!(slots.try_take().is_some());
    }
}
