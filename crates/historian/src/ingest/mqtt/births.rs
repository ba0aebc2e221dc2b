//! Which devices have a standing Sparkplug B birth: a DBIRTH handed to the link in the
//! current session and no DDEATH since. The Sparkplug format keeps it current; the device
//! list reads it.

use std::collections::HashSet;
use std::sync::RwLock;

/// The devices whose DBIRTH stands.
#[derive(Debug, Default)]
pub struct Births {
    born: RwLock<HashSet<i64>>,
}

impl Births {
    /// Whether device `id`'s DBIRTH stands.
    pub fn is_born(&self, id: i64) -> bool {
        self.born
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&id)
    }

    /// Records whether device `id`'s DBIRTH stands; takes the write lock only on a change,
    /// since this runs once per poll.
    pub fn set(&self, id: i64, born: bool) {
        if self.is_born(id) == born {
            return;
        }
        let mut set = self
            .born
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if born {
            set.insert(id);
        } else {
            set.remove(&id);
        }
    }

    /// Replaces the whole set: exactly `born` stand.
    pub fn replace(&self, born: impl IntoIterator<Item = i64>) {
        let fresh: HashSet<i64> = born.into_iter().collect();
        *self
            .born
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::Births;

    #[test]
    fn births_are_set_cleared_and_replaced() {
        let b = Births::default();
        assert!(!b.is_born(1));
        b.set(1, true);
        b.set(2, true);
        b.set(2, false);
        assert!(b.is_born(1) && !b.is_born(2));
        b.replace([3]);
        assert!(!b.is_born(1) && b.is_born(3));
    }
}
