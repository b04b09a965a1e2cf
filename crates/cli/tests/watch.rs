//! `GET /v1/orgs/{org}/watch` (issue 3): the organisation's changes as server-sent events, from
//! `after_revision` on, resumable with `Last-Event-ID`, live as changes happen, and never
//! carrying a secret; `Canopy-Min-Revision` on reads; `If-Match` on a delete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::PathBuf;
use std::time::Duration;

use canopy_testkit::server::{ServerProcess, run};
use futures::StreamExt;
use serde_json::{Value, json};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

/// Reads events from a watch response until `n` have arrived (bounded in time).
async fn events(response: reqwest::Response, n: usize) -> Vec<(u64, Value)> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    while out.len() < n {
        tokio::select! {
            chunk = stream.next() => {
                let Some(chunk) = chunk else { break };
                buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let id = block.lines().find_map(|l| l.strip_prefix("id: ")).map(|v| v.parse().unwrap());
                    let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                    if let (Some(id), Some(data)) = (id, data) {
                        out.push((id, serde_json::from_str(data).unwrap()));
                    }
                }
            }
            _ = &mut deadline => panic!("only {} of {n} events arrived", out.len()),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = dir.path().join("pw");
    std::fs::write(&password, "watch-root-pw\n").unwrap();
    let store = vec!["--data".to_string(), data.display().to_string()];
    let init = [
        vec!["init".into(), "--admin-user".into(), "root".into()],
        vec![
            "--admin-password-file".into(),
            password.display().to_string(),
        ],
        store.clone(),
    ]
    .concat();
    let (code, out) = run(&binary(), &init).unwrap();
    assert_eq!(code, 0, "{out}");
    let server = ServerProcess::start(&binary(), &store).unwrap();
    let base = server.url();
    let http = reqwest::Client::new();
    let login = |body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r: Value = http
                .post(format!("{base}/v1/auth/login"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["token"].as_str().unwrap().to_string()
        }
    };
    let root = login(json!({"username": "root", "password": "watch-root-pw"})).await;
    let r = http
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(&root)
        .json(
            &json!({"name": "acme", "admin": {"username": "alice", "password": "alice-secret-pw"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let alice =
        login(json!({"org": "acme", "username": "alice", "password": "alice-secret-pw"})).await;
    let folder = |name: &str| {
        let (http, base, alice) = (http.clone(), base.clone(), alice.clone());
        let name = name.to_string();
        async move {
            let r = http
                .post(format!("{base}/v1/orgs/acme/nodes"))
                .bearer_auth(&alice)
                .json(&json!({"kind": "folder", "name": name, "parent": "acme"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    };
    folder("eng").await;
    folder("ops").await;

    // From the start: the organisation's creation (revision 2; 1 is the instance's) and both
    // folders, with no secret in them.
    let watch = |query: &str, last: Option<u64>| {
        let mut req = http
            .get(format!("{base}/v1/orgs/acme/watch{query}"))
            .bearer_auth(&alice);
        if let Some(last) = last {
            req = req.header("Last-Event-ID", last.to_string());
        }
        req.send()
    };
    let all = events(watch("?after_revision=0", None).await.unwrap(), 3).await;
    let ids: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [2, 3, 4]);
    assert_eq!(all[0].1["command"], "create_org");
    assert_eq!(all[1].1["command"], "create_node");
    for (_, data) in &all {
        assert!(!data.to_string().contains("alice-secret-pw"));
        assert!(!data.to_string().contains("argon2"));
    }

    // Resumed after the first folder, then live: a change made while watching arrives.
    let resumed = watch("", Some(3)).await.unwrap();
    let live = tokio::spawn(events(resumed, 2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    folder("sales").await;
    let got = live.await.unwrap();
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [4, 5]);
    let effects = got[1].1["effects"].to_string();
    assert!(effects.contains("sales"), "{effects}");

    // A read that asks for a revision this server has not reached waits, then says so.
    let r = http
        .get(format!("{base}/v1/orgs/acme/nodes/acme%2Feng"))
        .bearer_auth(&alice)
        .header("Canopy-Min-Revision", "1000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["type"], "urn:canopy:problem:revision-not-reached");
    let r = http
        .get(format!("{base}/v1/orgs/acme/nodes/acme%2Feng"))
        .bearer_auth(&alice)
        .header("Canopy-Min-Revision", "5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"3\"");

    // If-Match: a delete based on a stale revision of the binding is refused.
    let r = http
        .post(format!("{base}/v1/orgs/acme/users"))
        .bearer_auth(&alice)
        .json(&json!({"username": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let binding: Value = http
        .post(format!("{base}/v1/orgs/acme/bindings"))
        .bearer_auth(&alice)
        .json(&json!({"subject": "user:bob", "role": "viewer", "scope": "acme/eng"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!(
        "{base}/v1/orgs/acme/bindings/{}",
        binding["id"].as_str().unwrap()
    );
    let written = binding["revision"].as_u64().unwrap();
    let stale = http
        .delete(&path)
        .bearer_auth(&alice)
        .header("If-Match", format!("\"{}\"", written - 1))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let problem: Value = stale.json().await.unwrap();
    assert_eq!(problem["type"], "urn:canopy:problem:stale-revision");
    let fresh = http
        .delete(&path)
        .bearer_auth(&alice)
        .header("If-Match", format!("\"{written}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);

    // Without a token, nothing.
    let r = http
        .get(format!("{base}/v1/orgs/acme/watch"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
