//! Listings kept while their cursors live, so that a cursor pins the revision of its first page
//! (DESIGN §2.1) and walking the pages does not compute the listing once a page.
//!
//! `access` and `who` compute a whole listing, sorted by key, then cut a page from it. The first
//! page of a listing longer than one page keeps the listing here and hands out cursors that name
//! it: `REVISION.TOKEN.KEY`, the revision it was computed at, the kept listing and the key of the
//! last item returned. A later page is cut from the kept listing. One that is no longer kept
//! (another replica, a restart, more than [`KEEP_MS`] unused, or pushed out by newer listings) is
//! computed again if the organisation is still at the cursor's revision; otherwise the cursor is
//! stale (409 `stale-cursor`: the client starts again).

use canopy_core::engine::{Keyed, Listing, Page, PageRequest};
use canopy_core::ids::Clock;
use canopy_core::messages::Lang;
use canopy_core::time::Timestamp;
use parking_lot::Mutex;
use std::sync::Arc;

use crate::messages;
use crate::problem::ApiError;

/// How long a listing is kept after its last page was cut, in milliseconds (DESIGN §2.1: at
/// least 5 minutes).
pub const KEEP_MS: i64 = 5 * 60 * 1000;

/// At most this many items are kept, over all listings; the least recently used go first.
const MAX_KEPT_ITEMS: usize = 1_000_000;

/// Listings of one kind kept for their cursors.
pub struct KeptListings<T> {
    kept: Mutex<Vec<Kept<T>>>,
    /// At most this many items are kept ([`MAX_KEPT_ITEMS`]; fewer in tests).
    max_items: usize,
}

struct Kept<T> {
    token: u64,
    /// What was asked, and by whom: a cursor only continues the listing it came from.
    question: String,
    used: Timestamp,
    listing: Arc<Listing<T>>,
}

impl<T> Default for KeptListings<T> {
    fn default() -> Self {
        KeptListings {
            kept: Mutex::new(Vec::new()),
            max_items: MAX_KEPT_ITEMS,
        }
    }
}

/// A cursor of a kept listing.
#[derive(Debug, PartialEq, Eq)]
struct Cursor {
    revision: u64,
    token: u64,
    after: String,
}

impl Cursor {
    fn parse(s: &str) -> Option<Cursor> {
        let mut parts = s.splitn(3, '.');
        let revision = parts.next()?.parse().ok()?;
        let token = u64::from_str_radix(parts.next()?, 16).ok()?;
        let after = parts.next()?.to_string();
        Some(Cursor {
            revision,
            token,
            after,
        })
    }

    fn render(&self) -> String {
        format!("{}.{:016x}.{}", self.revision, self.token, self.after)
    }
}

impl<T: Keyed + Clone> KeptListings<T> {
    /// One page of the listing `question` names (the kind of listing, its parameters and the
    /// caller): the first without `cursor`, else the one after it. `compute` computes the
    /// listing at the organisation's revision now. The clock gives the time and the tokens of
    /// new cursors.
    pub fn page(
        &self,
        question: &str,
        cursor: Option<&str>,
        limit: usize,
        clock: &dyn Clock,
        lang: Lang,
        compute: impl FnOnce() -> Result<Listing<T>, ApiError>,
    ) -> Result<Page<T>, ApiError> {
        let stale = || ApiError::new("stale-cursor", messages::stale_cursor(lang));
        let (listing, token, after) = match cursor {
            None => (Arc::new(compute()?), None, None),
            Some(c) => {
                let c = Cursor::parse(c).ok_or_else(stale)?;
                // Not kept here: computed again, and continued only if it is the same listing.
                let listing = match self.find(c.token, question) {
                    Some(kept) => kept,
                    None => Arc::new(compute()?),
                };
                if listing.revision != c.revision {
                    return Err(stale());
                }
                (listing, Some(c.token), Some(c.after))
            }
        };
        let mut page = listing.page(&PageRequest { after, limit });
        if let Some(last) = page.next_cursor.take() {
            let token = token.unwrap_or_else(|| clock.fresh_bits() as u64);
            self.keep(token, question, &listing, clock.now());
            page.next_cursor = Some(
                Cursor {
                    revision: listing.revision,
                    token,
                    after: last,
                }
                .render(),
            );
        }
        Ok(page)
    }

    fn find(&self, token: u64, question: &str) -> Option<Arc<Listing<T>>> {
        let kept = self.kept.lock();
        kept.iter()
            .find(|k| k.token == token && k.question == question)
            .map(|k| k.listing.clone())
    }

    /// Keeps `listing` under `token`, or notes that it was used again; forgets what has not been
    /// used for [`KEEP_MS`], and the least recently used beyond [`MAX_KEPT_ITEMS`].
    fn keep(&self, token: u64, question: &str, listing: &Arc<Listing<T>>, now: Timestamp) {
        let mut kept = self.kept.lock();
        kept.retain(|k| {
            now.millis() - k.used.millis() < KEEP_MS && (k.token, &*k.question) != (token, question)
        });
        kept.push(Kept {
            token,
            question: question.to_string(),
            used: now,
            listing: listing.clone(),
        });
        kept.sort_by_key(|k| std::cmp::Reverse(k.used));
        let mut items = 0;
        kept.retain(|k| {
            items += k.listing.items.len();
            items <= self.max_items || Arc::ptr_eq(&k.listing, listing)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_core::ids::ManualClock;

    #[derive(Clone, Debug, PartialEq)]
    struct Item(String);

    impl Keyed for Item {
        fn key(&self) -> &str {
            &self.0
        }
    }

    fn listing(revision: u64, n: usize) -> Listing<Item> {
        Listing {
            items: (0..n).map(|i| Item(format!("res_{i:03}"))).collect(),
            revision,
            evaluated_at: Timestamp::from_millis(0),
        }
    }

    fn at(ms: i64) -> ManualClock {
        ManualClock::at(Timestamp::from_millis(ms))
    }

    fn keys(page: &Page<Item>) -> Vec<&str> {
        page.items.iter().map(|i| i.0.as_str()).collect()
    }

    #[test]
    fn a_cursor_reads_the_listing_of_its_first_page() {
        let kept = KeptListings::default();
        let first = kept
            .page("q", None, 2, &at(0), Lang::En, || Ok(listing(7, 5)))
            .unwrap();
        assert_eq!(keys(&first), ["res_000", "res_001"]);
        let cursor = first.next_cursor.unwrap();
        // The organisation has moved on and the listing would now be different: the cursor
        // still reads the one it came from, without computing anything.
        let second = kept
            .page("q", Some(&cursor), 2, &at(1), Lang::En, || {
                panic!("a kept listing is not computed again")
            })
            .unwrap();
        assert_eq!(keys(&second), ["res_002", "res_003"]);
        assert_eq!(second.revision, 7);
        let third = kept
            .page(
                "q",
                second.next_cursor.as_deref(),
                2,
                &at(2),
                Lang::En,
                || panic!("a kept listing is not computed again"),
            )
            .unwrap();
        assert_eq!(keys(&third), ["res_004"]);
        assert_eq!(third.next_cursor, None);
    }

    #[test]
    fn a_cursor_no_longer_kept_continues_only_at_its_revision() {
        let kept = KeptListings::default();
        let first = kept
            .page("q", None, 2, &at(0), Lang::En, || Ok(listing(7, 5)))
            .unwrap();
        let cursor = first.next_cursor.unwrap();
        // Another replica, which keeps nothing, at the same revision: computes and continues.
        let elsewhere = KeptListings::default();
        let second = elsewhere
            .page("q", Some(&cursor), 2, &at(1), Lang::En, || {
                Ok(listing(7, 5))
            })
            .unwrap();
        assert_eq!(keys(&second), ["res_002", "res_003"]);
        // At a later revision it cannot: the cursor is stale.
        let stale = KeptListings::default()
            .page("q", Some(&cursor), 2, &at(1), Lang::En, || {
                Ok(listing(8, 5))
            })
            .unwrap_err();
        assert_eq!(stale.slug, "stale-cursor");
        // Nor after five minutes unused, here.
        kept.page("other", None, 2, &at(KEEP_MS), Lang::En, || {
            Ok(listing(8, 5))
        })
        .unwrap();
        let expired = kept
            .page("q", Some(&cursor), 2, &at(KEEP_MS + 1), Lang::En, || {
                Ok(listing(8, 5))
            })
            .unwrap_err();
        assert_eq!(expired.slug, "stale-cursor");
    }

    #[test]
    fn a_cursor_continues_only_the_question_it_came_from() {
        let kept = KeptListings::default();
        let first = kept
            .page("mine", None, 2, &at(0), Lang::En, || Ok(listing(7, 5)))
            .unwrap();
        let cursor = first.next_cursor.unwrap();
        let theirs = kept
            .page("theirs", Some(&cursor), 2, &at(1), Lang::En, || {
                Ok(listing(7, 3))
            })
            .unwrap();
        assert_eq!(keys(&theirs), ["res_002"], "computed for its own question");
        for junk in ["", "abc", "7.zz.res_001", "x.0000000000000001.res_001"] {
            let e = kept
                .page("mine", Some(junk), 2, &at(1), Lang::En, || {
                    Ok(listing(7, 5))
                })
                .unwrap_err();
            assert_eq!(e.slug, "stale-cursor", "{junk:?}");
        }
    }

    /// Beyond the budget of items, the least recently used listing goes first.
    #[test]
    fn the_least_recently_used_listing_goes_first() {
        let kept = KeptListings {
            kept: Mutex::new(Vec::new()),
            max_items: 8,
        };
        // One clock, so that the two listings get different tokens.
        let clock = at(0);
        let old = kept
            .page("old", None, 2, &clock, Lang::En, || Ok(listing(7, 5)))
            .unwrap();
        clock.set(Timestamp::from_millis(1));
        let new = kept
            .page("new", None, 2, &clock, Lang::En, || Ok(listing(8, 5)))
            .unwrap();
        let new = kept
            .page(
                "new",
                new.next_cursor.as_deref(),
                2,
                &clock,
                Lang::En,
                || panic!("the newer listing is kept"),
            )
            .unwrap();
        assert_eq!(keys(&new), ["res_002", "res_003"]);
        // The older one was dropped: computed again at a later revision, it is stale.
        let old = kept
            .page(
                "old",
                old.next_cursor.as_deref(),
                2,
                &clock,
                Lang::En,
                || Ok(listing(8, 5)),
            )
            .unwrap_err();
        assert_eq!(old.slug, "stale-cursor");
    }

    #[test]
    fn a_listing_that_fits_one_page_is_not_kept() {
        let kept = KeptListings::default();
        let only = kept
            .page("q", None, 10, &at(0), Lang::En, || Ok(listing(7, 5)))
            .unwrap();
        assert_eq!(only.next_cursor, None);
        assert!(kept.kept.lock().is_empty());
    }

    #[test]
    fn cursors_render_and_parse_alike() {
        let c = Cursor {
            revision: 42,
            token: 0xfeed,
            after: "res_0a.b".into(),
        };
        assert_eq!(Cursor::parse(&c.render()), Some(c));
    }
}
