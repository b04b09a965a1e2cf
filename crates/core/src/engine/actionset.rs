//! A set of actions as a bitset over the engine's action indices.

/// Actions by index; indices are stable for the life of an engine.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct ActionSet(Vec<u64>);

impl ActionSet {
    pub(crate) fn contains(&self, a: u32) -> bool {
        self.0
            .get((a / 64) as usize)
            .is_some_and(|w| w & (1 << (a % 64)) != 0)
    }

    pub(crate) fn insert(&mut self, a: u32) {
        let word = (a / 64) as usize;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (a % 64);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, w)| {
            (0..64u32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| i as u32 * 64 + b)
        })
    }

    /// `self ∩ other`.
    pub(crate) fn intersect(&self, other: &ActionSet) -> ActionSet {
        ActionSet(self.0.iter().zip(&other.0).map(|(a, b)| a & b).collect())
    }

    /// `self \ other`.
    pub(crate) fn minus(&self, other: &ActionSet) -> ActionSet {
        ActionSet(
            self.0
                .iter()
                .enumerate()
                .map(|(i, a)| a & !other.0.get(i).copied().unwrap_or(0))
                .collect(),
        )
    }

    pub(crate) fn union_with(&mut self, other: &ActionSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ActionSet;

    #[test]
    fn set_operations() {
        let mut a = ActionSet::default();
        a.insert(3);
        a.insert(70);
        let mut b = ActionSet::default();
        b.insert(70);
        assert!(a.contains(70) && !a.contains(4) && !a.contains(500));
        assert_eq!(a.intersect(&b).iter().collect::<Vec<_>>(), vec![70]);
        assert_eq!(a.minus(&b).iter().collect::<Vec<_>>(), vec![3]);
        assert_eq!(a.len(), 2);
        assert!(a.minus(&a).is_empty());
    }
}
