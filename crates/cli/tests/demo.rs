//! `canopy serve --demo` on a fresh data directory answers the README's tour: the operator
//! powers VMs, the guardrail stops even the administrator from deleting one, the payments team
//! reaches the VM linked into its project, the viewer reads everything and changes nothing. A
//! second start keeps the data as it is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::PathBuf;

use canopy_testkit::http::Http;
use canopy_testkit::server::ServerProcess;
use serde_json::{Value, json};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

const PASSWORD: &str = "canopy-demo";

async fn ask(http: &Http, token: &str, path: &str, body: Value) -> Value {
    let a = http
        .send(
            Some(token),
            "POST",
            &format!("/v1/orgs/acme/{path}"),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    a.body
}

/// The items' `pointer` values (a JSON pointer), sorted.
fn refs(list: &Value, pointer: &str) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.pointer(pointer).unwrap().as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_answers_the_tour() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = vec![
        "--demo".into(),
        "--data".into(),
        dir.path().join("data").display().to_string(),
    ];
    let server = ServerProcess::start(&binary(), &args).unwrap();
    let http = Http::new(&server.url());
    let aiko = http.login(Some("acme"), "aiko", PASSWORD).await.unwrap();

    let check = |who: &str, action: &str, target: &str| json!({"principal": who, "action": action, "target": target});
    let vm100 = "acme/platform/tokyo-dc/vm-100";
    let power = ask(&http, &aiko, "check", check("user:ken", "vm.power", vm100)).await;
    assert_eq!(power["allowed"], true);
    let configure = ask(
        &http,
        &aiko,
        "explain",
        check("user:ken", "vm.configure", vm100),
    )
    .await;
    assert_eq!(configure["allowed"], false);
    assert_eq!(configure["fixes"][0]["fix"], "bind", "{configure}");
    assert_eq!(configure["fixes"][0]["role"], "power-user", "{configure}");
    let delete = ask(
        &http,
        &aiko,
        "explain",
        check("user:aiko", "vm.delete", vm100),
    )
    .await;
    assert_eq!(delete["allowed"], false);
    assert_eq!(delete["blocked_by"][0]["name"], "protect-platform");

    let who = http
        .send(
            Some(&aiko),
            "GET",
            "/v1/orgs/acme/targets/acme%2Fplatform%2Ftokyo-dc%2Fvm-101/principals?action=vm.power",
            None,
        )
        .await
        .unwrap();
    assert_eq!(who.status, 200, "{}", who.body);
    assert_eq!(
        refs(&who.body, "/subject_ref"),
        ["user:aiko", "user:ken", "user:taro"]
    );

    let access = http
        .send(
            Some(&aiko),
            "GET",
            "/v1/orgs/acme/principals/user:taro/access?action=vm.power",
            None,
        )
        .await
        .unwrap();
    assert_eq!(access.status, 200, "{}", access.body);
    assert_eq!(
        refs(&access.body, "/target/path"),
        [
            "acme/platform/tokyo-dc/vm-101",
            "acme/retail/ec-site/payments",
            "acme/retail/ec-site/payments/vm-300",
        ]
    );

    // The viewer logs in with the demo password, reads, and cannot change anything.
    let mei = http.login(Some("acme"), "mei", PASSWORD).await.unwrap();
    let tree = http
        .send(Some(&mei), "GET", "/v1/orgs/acme/tree", None)
        .await
        .unwrap();
    assert_eq!(tree.status, 200);
    let create = http
        .send(
            Some(&mei),
            "POST",
            "/v1/orgs/acme/nodes",
            Some(&json!({"kind": "folder", "name": "x", "parent": "acme"})),
        )
        .await
        .unwrap();
    assert_eq!(create.status, 403, "{}", create.body);
    let revision = power["revision"].as_u64().unwrap();
    drop(server);

    // A second start uses the data directory as it is.
    let server = ServerProcess::start(&binary(), &args).unwrap();
    let http = Http::new(&server.url());
    let aiko = http.login(Some("acme"), "aiko", PASSWORD).await.unwrap();
    let again = ask(&http, &aiko, "check", check("user:ken", "vm.power", vm100)).await;
    assert_eq!(again["revision"].as_u64().unwrap(), revision);
}
