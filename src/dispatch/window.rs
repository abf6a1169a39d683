//! The rows of one campaign run that were read from the audience but are not yet settled, in
//! file order, with the reader position before each.
//!
//! The saved cursor is the position before the first unsettled row, so a restart re-reads
//! exactly the rows that may still need work; rows already settled past it are recognised by
//! their per-contact state (a contact with a state in the run is already handled) and not sent
//! again.
use std::collections::VecDeque;

/// One row in the window.
#[derive(Debug, Clone)]
pub struct Slot<R> {
    /// Reader position just before this row (where a restart would resume).
    pub before: String,
    pub row: R,
    pub settled: bool,
}

/// Read-but-unsettled rows, oldest first.
#[derive(Debug)]
pub struct Window<R> {
    slots: VecDeque<Slot<R>>,
    /// Position after the last row read (the cursor when the window is empty).
    read_to: String,
}

impl<R> Window<R> {
    pub fn new(start: String) -> Self {
        Self {
            slots: VecDeque::new(),
            read_to: start,
        }
    }

    pub fn push(&mut self, before: String, after: String, row: R) {
        self.slots.push_back(Slot {
            before,
            row,
            settled: false,
        });
        self.read_to = after;
    }

    /// Marks the slot settled (by index into the current window).
    pub fn settle(&mut self, index: usize) {
        if let Some(s) = self.slots.get_mut(index) {
            s.settled = true;
        }
    }

    /// Drops the settled prefix; returns the cursor to save.
    pub fn compact(&mut self) -> &str {
        while self.slots.front().is_some_and(|s| s.settled) {
            self.slots.pop_front();
        }
        self.cursor()
    }

    pub fn cursor(&self) -> &str {
        self.slots
            .front()
            .map_or(self.read_to.as_str(), |s| s.before.as_str())
    }

    /// Indexes of unsettled rows, oldest first.
    pub fn unsettled(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.settled)
            .map(|(i, _)| i)
    }

    pub fn unsettled_count(&self) -> usize {
        self.slots.iter().filter(|s| !s.settled).count()
    }

    pub fn get(&self, index: usize) -> Option<&Slot<R>> {
        self.slots.get(index)
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_stays_before_the_first_unsettled_row() {
        let mut w = Window::new("0".to_string());
        assert_eq!(w.cursor(), "0");
        w.push("0".into(), "10".into(), 'a');
        w.push("10".into(), "20".into(), 'b');
        w.push("20".into(), "30".into(), 'c');
        w.settle(1);
        assert_eq!(
            w.compact(),
            "0",
            "a is unsettled, so a restart must re-read from a"
        );
        w.settle(0);
        assert_eq!(w.compact(), "20");
        assert_eq!(w.unsettled().collect::<Vec<_>>(), vec![0]);
        w.settle(0);
        assert_eq!(w.compact(), "30");
        assert!(w.is_empty());
    }
}
