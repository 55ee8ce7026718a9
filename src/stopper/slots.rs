//! A slab: values stored under small reusable keys, with O(1) insert and remove.

/// Values under reusable `usize` keys. A key is valid from the `insert` that returned it
/// to the first `remove` of it; removing it again returns `None` (it is never a different
/// value's key until it is handed out again).
#[derive(Debug)]
pub(crate) struct Slots<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots { entries: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slots<T> {
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.entries[key] = Some(value);
                key
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let value = self.entries.get_mut(key)?.take()?;
        self.free.push(key);
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().flatten()
    }

    /// Removes and returns every value. Keys handed out earlier would name new values if
    /// anything were inserted afterwards: drain only a collection that is closed to inserts.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.entries).into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn keys_are_reused_and_a_second_remove_finds_nothing() {
        let mut slots = Slots::default();
        let a = slots.insert("a");
        let b = slots.insert("b");
        assert_eq!(slots.remove(a), Some("a"));
        assert_eq!(slots.remove(a), None, "a key is removed once");
        assert_eq!(slots.len(), 1);
        let c = slots.insert("c");
        assert_eq!(c, a, "the freed key is reused");
        assert_eq!(slots.values().copied().collect::<Vec<_>>(), ["c", "b"]);
        assert_eq!(slots.drain().len(), 2);
        assert!(slots.is_empty());
        assert_eq!(slots.remove(b), None);
    }
}
