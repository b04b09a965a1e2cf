//! Which backups the retention rule removes: those older than the retention period, except that
//! a backup is never removed unless a good (verified) one newer than it is kept. So the newest
//! good backup always stays, and if recent backups are failing verification, older ones are
//! kept for as long as nothing better exists.

use canopy_core::time::Timestamp;

/// A backup as the retention rule sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Kept {
    /// When it was taken.
    pub time: Timestamp,
    /// Whether it passed verification.
    pub good: bool,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The positions in `backups` that the rule removes at `now`, keeping `keep_days` days.
pub fn to_remove(backups: &[Kept], now: Timestamp, keep_days: u32) -> Vec<usize> {
    let cutoff = now.plus_millis(-i64::from(keep_days) * DAY_MS);
    let newest_good = backups.iter().filter(|b| b.good).map(|b| b.time).max();
    backups
        .iter()
        .enumerate()
        .filter(|(_, b)| b.time < cutoff && newest_good.is_some_and(|good| good > b.time))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64, good: bool) -> Kept {
        Kept {
            time: Timestamp::from_millis(n * DAY_MS),
            good,
        }
    }

    #[test]
    fn backups_older_than_the_period_go() {
        let now = Timestamp::from_millis(100 * DAY_MS);
        let backups: Vec<Kept> = (0..=100).map(|n| day(n, true)).collect();
        let removed = to_remove(&backups, now, 90);
        assert_eq!(
            removed,
            (0..10).collect::<Vec<_>>(),
            "days 0 to 9; day 10 is 90 days old"
        );
    }

    #[test]
    fn the_newest_good_backup_stays_however_old() {
        let now = Timestamp::from_millis(400 * DAY_MS);
        // Good backups stopped on day 100; everything since failed verification.
        let mut backups: Vec<Kept> = (90..=100).map(|n| day(n, true)).collect();
        backups.extend((101..=400).map(|n| day(n, false)));
        let removed = to_remove(&backups, now, 90);
        assert_eq!(
            removed,
            (0..10).collect::<Vec<_>>(),
            "all good ones but day 100"
        );
        assert!(
            !removed.iter().any(|&i| !backups[i].good),
            "failed ones stay: nothing newer is good"
        );
    }

    #[test]
    fn nothing_goes_while_no_backup_is_good() {
        let now = Timestamp::from_millis(400 * DAY_MS);
        let backups: Vec<Kept> = (0..10).map(|n| day(n, false)).collect();
        assert!(to_remove(&backups, now, 90).is_empty());
    }
}
