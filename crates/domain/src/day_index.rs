//! Where each day begins in a list sorted by time.
//!
//! A doctor's held slot grid and busy time are a few thousand entries each, a
//! thousand doctors' worth of them far more than the processor's caches hold. A
//! binary search over one touches a dozen cold cache lines; through the day index it
//! touches the index's one line and the day's few entries.

/// The index of the first entry of each day in a list sorted by a time key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayIndex {
    /// Key units in a day: 86,400 for seconds, 86,400,000 for milliseconds.
    per_day: i64,
    first_day: i64,
    /// `firsts[d]`: the index of the first entry whose day is `first_day + d` or later.
    firsts: Vec<u32>,
}

/// Lists spanning more days than this are searched without an index.
const MOST_DAYS: i64 = 1 << 16;

impl DayIndex {
    /// Indexes `keys`, which must be sorted, `per_day` key units to a day.
    pub fn new(keys: impl IntoIterator<Item = i64>, per_day: i64) -> DayIndex {
        let mut index = DayIndex {
            per_day: per_day.max(1),
            ..DayIndex::default()
        };
        for (at, key) in keys.into_iter().enumerate() {
            let day = key.div_euclid(index.per_day);
            if index.firsts.is_empty() {
                index.first_day = day;
            }
            let (Ok(at), Some(days)) = (u32::try_from(at), day.checked_sub(index.first_day)) else {
                return DayIndex::default();
            };
            if days >= MOST_DAYS {
                return DayIndex::default();
            }
            while (index.firsts.len() as i64) <= days {
                index.firsts.push(at);
            }
        }
        index
    }

    /// Follows one entry with `key` going in at `at` of the list this index was
    /// built from (kept sorted), as building it again would, without reading the
    /// list: a booking changes one entry of a doctor's thousand. `false` when only
    /// building it again can: the index is empty or the day lies outside what it
    /// can cover.
    pub fn note_inserted(&mut self, at: usize, key: i64) -> bool {
        let (Some(day), Ok(at)) = (self.day_of(key), u32::try_from(at)) else {
            return false;
        };
        // Entries are sorted, so those of earlier days all stay before `at`.
        for first in self.firsts.iter_mut().skip(day + 1) {
            *first += 1;
        }
        while self.firsts.len() <= day {
            self.firsts.push(at);
        }
        true
    }

    /// Follows the entry with `key` at `at` leaving the list this index was built
    /// from; `false` as for [`DayIndex::note_inserted`]. A day left without entries
    /// keeps its place, which finds what building the index again would.
    pub fn note_removed(&mut self, key: i64) -> bool {
        let Some(day) = self.day_of(key).filter(|&day| day < self.firsts.len()) else {
            return false;
        };
        for first in self.firsts.iter_mut().skip(day + 1) {
            *first = first.saturating_sub(1);
        }
        true
    }

    /// Where `key`'s day is in `firsts`, if the index covers it or can grow to.
    fn day_of(&self, key: i64) -> Option<usize> {
        if self.firsts.is_empty() {
            return None;
        }
        let days = key.div_euclid(self.per_day).checked_sub(self.first_day)?;
        usize::try_from(days)
            .ok()
            .filter(|&days| days < MOST_DAYS as usize)
    }

    /// `items.partition_point(|item| key_of(item) < key)`, where `items` are the
    /// entries this index was built from.
    pub fn partition_point<T>(&self, items: &[T], key: i64, key_of: impl Fn(&T) -> i64) -> usize {
        if self.firsts.is_empty() {
            return items.partition_point(|item| key_of(item) < key);
        }
        let day = key.div_euclid(self.per_day).saturating_sub(self.first_day);
        let Ok(day) = usize::try_from(day) else {
            return 0;
        };
        let Some(&first) = self.firsts.get(day) else {
            return items.len();
        };
        let (first, end) = (
            first as usize,
            self.firsts
                .get(day + 1)
                .map_or(items.len(), |&end| end as usize),
        );
        let within = &items[first.min(end)..end];
        first + within.partition_point(|item| key_of(item) < key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_index_finds_what_a_binary_search_finds(
            mut keys in proptest::collection::vec(-400_000i64..2_000_000, 0..200),
            probes in proptest::collection::vec(-600_000i64..2_200_000, 1..50),
            per_day in prop_oneof![Just(86_400i64), 50..100_000i64],
        ) {
            keys.sort_unstable();
            let index = DayIndex::new(keys.iter().copied(), per_day);
            for key in probes.into_iter().chain(keys.iter().copied()) {
                prop_assert_eq!(
                    index.partition_point(&keys, key, |&k| k),
                    keys.partition_point(|&k| k < key),
                    "key {}", key
                );
            }
        }
    }

    proptest! {
        #[test]
        fn an_index_kept_up_to_date_finds_what_a_new_one_finds(
            keys in proptest::collection::vec(0i64..3_000_000, 1..120),
            changes in proptest::collection::vec((any::<bool>(), -200_000i64..3_500_000, any::<prop::sample::Index>()), 1..60),
            probes in proptest::collection::vec(-300_000i64..3_700_000, 1..40),
        ) {
            let per_day = 86_400;
            let mut keys = keys;
            keys.sort_unstable();
            let mut index = DayIndex::new(keys.iter().copied(), per_day);
            for (insert, key, pick) in changes {
                let kept = if insert || keys.is_empty() {
                    let at = keys.partition_point(|&k| k < key);
                    keys.insert(at, key);
                    index.note_inserted(at, key)
                } else {
                    let at = pick.index(keys.len());
                    let key = keys.remove(at);
                    index.note_removed(key)
                };
                if !kept {
                    index = DayIndex::new(keys.iter().copied(), per_day);
                }
                for &probe in probes.iter().chain(keys.iter()) {
                    prop_assert_eq!(
                        index.partition_point(&keys, probe, |&k| k),
                        keys.partition_point(|&k| k < probe),
                        "probe {}", probe
                    );
                }
            }
        }
    }

    #[test]
    fn an_entry_before_the_first_day_asks_for_a_new_index() {
        let mut index = DayIndex::new([86_400 * 5, 86_400 * 6], 86_400);
        assert!(!index.note_inserted(0, 86_400 * 4));
        assert!(!DayIndex::default().note_inserted(0, 1));
        assert!(index.note_inserted(2, 86_400 * 9));
        assert_eq!(index.firsts, vec![0, 1, 2, 2, 2]);
        assert!(index.note_removed(86_400 * 5));
        assert_eq!(index.firsts, vec![0, 0, 1, 1, 1]);
    }

    #[test]
    fn a_list_over_too_many_days_is_searched_without_an_index() {
        let keys = [0, MOST_DAYS * 10];
        let index = DayIndex::new(keys, 1);
        assert!(index.firsts.is_empty());
        assert_eq!(index.partition_point(&keys, 5, |&k| k), 1);
    }
}
