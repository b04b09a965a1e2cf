//! Paged listings over HTTP (DESIGN §2.1): a cursor pins the revision of its first page, so the
//! pages of one listing add up to the listing at that revision, whatever changes meanwhile; a
//! cursor that cannot be continued is 409 `stale-cursor`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use canopy_server::local::LocalServer;
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use serde_json::{Value, json};

const ACCESS: &str = "/v1/orgs/acme/principals/user:viewer/access?action=vm.read";
const WHO: &str = "/v1/orgs/acme/targets/acme%2Feng%2Fpayments%2Fvm%2D1/principals?action=vm.read";

fn paths(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["target"]["path"]
                .as_str()
                .or(i["subject_ref"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn get(f: &Fixture, who: Who, path: &str) -> Value {
    let a = f.send(who, "GET", path, None).await.unwrap();
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    a.body
}

/// Every page from `first`, one item a page, each answering at the first page's revision.
async fn the_rest(f: &Fixture, who: Who, listing: &str, first: &Value) -> Vec<String> {
    let revision = first["revision"].as_u64().unwrap();
    let mut all = paths(first);
    let mut page = first.clone();
    for _ in 0..100 {
        let Some(cursor) = page["next_cursor"].as_str() else {
            return all;
        };
        page = get(f, who, &format!("{listing}&limit=1&cursor={cursor}")).await;
        assert_eq!(page["revision"].as_u64(), Some(revision), "{page}");
        all.extend(paths(&page));
    }
    panic!("more than 100 pages");
}

#[tokio::test]
async fn pages_add_up_to_the_listing_of_the_first_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    let before = get(&f, Who::OrgAdmin, &format!("{ACCESS}&limit=1000")).await;
    assert!(paths(&before).len() > 3, "{before}");
    let who_before = get(&f, Who::OrgAdmin, &format!("{WHO}&limit=1000")).await;

    let first = get(&f, Who::OrgAdmin, &format!("{ACCESS}&limit=1")).await;
    let who_first = get(&f, Who::OrgAdmin, &format!("{WHO}&limit=1")).await;
    assert!(first["next_cursor"].is_string(), "{first}");
    assert!(who_first["next_cursor"].is_string(), "{who_first}");

    // A change that adds to both listings, between their pages.
    let vm = json!({"type": "vm", "name": "vm-9", "parent": "acme/eng/payments"});
    let made = f
        .send(Who::OrgAdmin, "POST", "/v1/orgs/acme/resources", Some(&vm))
        .await
        .unwrap();
    assert_eq!(made.status, 201, "{}", made.body);
    let spare = json!({"subject": "user:spare", "role": "viewer", "scope": "acme"});
    let bound = f
        .send(
            Who::OrgAdmin,
            "POST",
            "/v1/orgs/acme/bindings",
            Some(&spare),
        )
        .await
        .unwrap();
    assert_eq!(bound.status, 201, "{}", bound.body);

    assert_eq!(
        the_rest(&f, Who::OrgAdmin, ACCESS, &first).await,
        paths(&before)
    );
    assert_eq!(
        the_rest(&f, Who::OrgAdmin, WHO, &who_first).await,
        paths(&who_before)
    );

    // A listing started now sees the change.
    let after = get(&f, Who::OrgAdmin, &format!("{ACCESS}&limit=1000")).await;
    assert!(after["revision"].as_u64() > before["revision"].as_u64());
    let after: BTreeSet<String> = paths(&after).into_iter().collect();
    assert!(after.contains("acme/eng/payments/vm-9"), "{after:?}");
    let who_after = get(&f, Who::OrgAdmin, &format!("{WHO}&limit=1000")).await;
    assert!(paths(&who_after).contains(&"user:spare".to_string()));

    // A cursor from another caller's listing, now that the revision has moved: nothing of that
    // listing is served, and it cannot be continued.
    let cursor = first["next_cursor"].as_str().unwrap();
    for (who, path) in [
        (Who::Viewer, format!("{ACCESS}&cursor={cursor}")),
        (Who::OrgAdmin, format!("{ACCESS}&cursor=res_000")),
        (Who::OrgAdmin, format!("{WHO}&cursor={cursor}")),
    ] {
        let a = f.send(who, "GET", &path, None).await.unwrap();
        assert_eq!(a.status, 409, "{path}: {}", a.body);
        assert_eq!(a.body["type"], "urn:canopy:problem:stale-cursor");
    }
}
