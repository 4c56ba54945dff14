//! Recent `X-GitHub-Delivery` ids, so a redelivered webhook is answered
//! without being handled twice. Bounded: the oldest id is forgotten first.
//! Forgetting is harmless, since events carry no state: a delivery seen
//! again after that only asks for one more pass.

use std::collections::{HashSet, VecDeque};

/// How many ids [`Deliveries::default`] remembers.
pub const DEFAULT_CAPACITY: usize = 4096;

/// A bounded set of delivery ids, insertion-ordered; O(1) per call.
#[derive(Debug, Clone)]
pub struct Deliveries {
    capacity: usize,
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl Default for Deliveries {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Deliveries {
    /// Remembers at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Deliveries {
            capacity,
            order: VecDeque::with_capacity(capacity),
            seen: HashSet::with_capacity(capacity),
        }
    }

    /// True when `id` is among the remembered ones.
    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// True the first time `id` comes (it is remembered from then on),
    /// false when it is remembered already.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id.to_string());
        self.seen.insert(id.to_string());
        true
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_new_once() {
        let mut d = Deliveries::default();
        assert!(d.first_time("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert!(!d.first_time("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert!(d.first_time("72d3162e-cc78-11e3-81ab-4c9367dc0959"));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn the_oldest_is_forgotten_first() {
        let mut d = Deliveries::new(3);
        for id in ["a", "b", "c"] {
            assert!(d.first_time(id));
        }
        assert!(!d.first_time("a"), "a repeat does not refresh or add");
        assert!(d.first_time("d"), "evicts a");
        assert_eq!(d.len(), 3);
        assert!(!d.contains("a"));
        assert!(d.contains("b") && d.contains("c") && d.contains("d"));
        assert!(d.first_time("a"), "forgotten, so new again (evicts b)");
        assert!(!d.contains("b"));
    }

    #[test]
    fn stays_bounded() {
        let mut d = Deliveries::new(100);
        for i in 0..10_000 {
            assert!(d.first_time(&i.to_string()));
        }
        assert_eq!(d.len(), 100);
        assert!(d.contains("9999") && !d.contains("9899"));
        assert!(Deliveries::new(0).first_time("x"), "capacity at least one");
    }
}
