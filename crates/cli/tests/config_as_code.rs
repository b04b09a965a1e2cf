//! Configuration as code against real servers: `canopy export`, `plan`, `apply` and `diff`
//! driven as a person would drive them (issue 6, part 4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use canopy_testkit::server::ServerProcess;
use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The binary with its own stored login.
struct Canopy {
    config: PathBuf,
}

impl Canopy {
    fn run(&self, args: &[&str]) -> Out {
        let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
            .args(args)
            .env("CANOPY_CONFIG_DIR", &self.config)
            .env("CANOPY_LANG", "en")
            .env("RUST_LOG", "warn")
            .env_remove("CANOPY_SERVER")
            .env_remove("CANOPY_TOKEN")
            .env_remove("CANOPY_ORG")
            .output()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.code, 0,
            "canopy {args:?} exited {}:\n{}{}",
            out.code, out.stdout, out.stderr
        );
        out.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// A command that must fail with one line on stderr; that line.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.code, 2,
            "canopy {args:?}:\n{}{}",
            out.stdout, out.stderr
        );
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
        out.stderr
    }
}

/// A fresh installation with organisation `acme` whose administrator is `alice`, logged in.
struct Installation {
    _dir: tempfile::TempDir,
    server: ServerProcess,
    cli: Canopy,
    root_token: String,
    files: PathBuf,
}

fn installation() -> Installation {
    let dir = tempfile::tempdir().unwrap();
    let store = vec![
        "--data".to_string(),
        dir.path().join("data").display().to_string(),
    ];
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_canopy"));
    let server =
        ServerProcess::init_and_start(&binary, &store, dir.path(), "root", "root-password-1")
            .unwrap();
    let url = server.url();
    let files = dir.path().to_path_buf();
    let pw = write(&files, "pw", "alice-password-1\n");
    let root_pw = write(&files, "root-pw", "root-password-1\n");
    let root = Canopy {
        config: dir.path().join("root"),
    };
    root.ok(&[
        "login",
        "--server",
        &url,
        "--username",
        "root",
        "--password-file",
        &root_pw,
    ]);
    root.ok(&[
        "org",
        "create",
        "acme",
        "--admin-user",
        "alice",
        "--admin-password-file",
        &pw,
    ]);
    let root_token = stored_token(&root.config);
    let cli = Canopy {
        config: dir.path().join("alice"),
    };
    cli.ok(&[
        "login",
        "--server",
        &url,
        "--org",
        "acme",
        "--username",
        "alice",
        "--password-file",
        &pw,
    ]);
    Installation {
        _dir: dir,
        server,
        cli,
        root_token,
        files,
    }
}

impl Installation {
    fn file(&self, name: &str, text: &str) -> String {
        write(&self.files, name, text)
    }

    /// The installation's state digest (`GET /v1/replica`, instance administrators).
    fn digest(&self) -> String {
        let http = canopy_testkit::http::Http::new(&self.server.url());
        let rt = tokio::runtime::Runtime::new().unwrap();
        let a = rt
            .block_on(http.send(Some(&self.root_token), "GET", "/v1/replica", None))
            .unwrap();
        assert!(a.ok(), "{a:?}");
        a.body["digest"].as_str().unwrap().to_string()
    }

    fn export(&self, name: &str) -> (String, String) {
        let path = self.files.join(name).display().to_string();
        let said = self.cli.run(&["export", "--out", &path]);
        assert_eq!(said.code, 0, "{}", said.stderr);
        assert!(
            said.stderr.contains("exported `acme` at revision"),
            "{}",
            said.stderr
        );
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn stored_token(config: &Path) -> String {
    let text = std::fs::read_to_string(config.join("credentials.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// The organisation, written by hand: what an administrator would start from.
const BASE: &str = r#"
canopy: 1
org: acme
policy: {min_password_length: 10}
catalog:
  vm: {power: operate, read: read, delete: admin}
  disk: {read: read}
nodes:
  - {path: acme/eng, kind: folder}
  - {path: acme/eng/payments, kind: project}
  - {path: acme/ops, kind: project}
  - {path: acme/総務, kind: folder}
resources:
  - {path: acme/eng/payments/vm-1, type: vm, links: [acme/ops], attributes: {os: linux}}
  - {path: acme/eng/disk-1, type: disk}
users:
  - {username: alice}
  - {username: bob, email: bob@example.org}
  - {username: carol, display_name: Carol}
  - {username: dave}
  - {username: erin, enabled: false}
service_accounts:
  - {name: ci}
groups:
  - name: ops
    members:
      - {member: "user:bob", manual: include}
      - {member: "user:carol", manual: include}
      - {member: "user:dave", mapped: ["oidc:corp"]}
      - {member: "sa:ci", manual: include}
  - name: auditors
    members:
      - {member: "group:ops", manual: include}
      - {member: "user:dave", manual: exclude}
roles:
  - name: vm-operator
    statements:
      - {effect: allow, actions: ["vm.*"]}
      - {effect: deny, actions: [vm.delete]}
bindings:
  - {subject: "user:alice", role: admin, scope: acme}
  - {subject: "group:ops", role: viewer, scope: acme/eng}
  - {subject: "user:bob", role: viewer, scope: acme/eng/payments}
  - {subject: "group:auditors", role: vm-operator, scope: acme/eng/payments/vm-1, conditions: {mfa: true}}
  - {subject: "sa:ci", role: operator, scope: acme/ops, expires_at: "2099-01-01T00:00:00Z"}
guardrails:
  - name: no-delete
    node: acme/eng
    statements:
      - {effect: deny, actions: [vm.delete]}
"#;

fn subjects(entries: &Value, action: &str, path: &str) -> BTreeSet<String> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action && e["target"]["path"] == path)
        .map(|e| e["subject_ref"].as_str().unwrap().to_string())
        .collect()
}

fn who(cli: &Canopy, target: &str, action: &str) -> BTreeSet<String> {
    let v = cli.json(&["who", target, "--action", action]);
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject_ref"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn export_apply_elsewhere_and_export_again_give_the_same_file() {
    let a = installation();
    let base = a.file("base.yaml", BASE);
    let planned = a.cli.ok(&["plan", &base]);
    assert!(planned.contains("+ acme/eng/payments/vm-1"), "{planned}");
    assert!(
        planned.contains("+ group:ops viewer @ acme/eng"),
        "{planned}"
    );
    let applied = a.cli.ok(&["apply", &base]);
    assert!(applied.starts_with("applied "), "{applied}");
    let (first, text) = a.export("a1.yaml");
    assert!(text.starts_with("# Canopy organisation `acme`"), "{text}");
    // The hand-written file and the export say the same thing.
    let same = a.cli.run(&["diff", &base, &first]);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);

    // Unchanged: nothing to do, and applying it makes no change.
    let unchanged = a.cli.ok(&["plan", &first]);
    assert!(
        unchanged.contains("no object is added, changed or removed"),
        "{unchanged}"
    );
    assert!(
        unchanged.contains("no one gains or loses access"),
        "{unchanged}"
    );
    let before = a.cli.json(&["org", "get"])["revision"].clone();
    assert!(
        a.cli
            .ok(&["apply", &first])
            .starts_with("nothing to change")
    );
    assert_eq!(a.cli.json(&["org", "get"])["revision"], before);

    // Another installation, its organisation made with the same administrator's username.
    let b = installation();
    let copied = b.file("a1.yaml", &text);
    assert!(b.cli.ok(&["apply", &copied]).starts_with("applied "));
    let (_, again) = b.export("b1.yaml");
    assert_eq!(again, text);
    // Users created by apply have no password.
    let bob = b.cli.json(&["user", "get", "bob"]);
    assert_eq!(bob["credentials"]["password"], false, "{bob}");
}

#[test]
fn plan_lists_who_loses_access_and_apply_keeps_the_invariants() {
    let a = installation();
    let base = a.file("base.yaml", BASE);
    a.cli.ok(&["apply", &base]);
    let (first, text) = a.export("a1.yaml");

    // Removing a group's binding: exactly the users who lose access, as the engine says.
    let line = "  - {subject: \"group:ops\", role: viewer, scope: acme/eng}\n";
    assert!(text.contains(line), "{text}");
    let without = a.file("a2.yaml", &text.replace(line, ""));
    let plan = a.cli.json(&["plan", &without]);
    assert_eq!(plan["changes"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["changes"][0]["op"], "remove");
    assert_eq!(plan["changes"][0]["kind"], "binding");
    assert!(plan["diff"]["gained"].as_array().unwrap().is_empty());
    let lost = subjects(&plan["diff"]["lost"], "vm.read", "acme/eng");
    let diff = a.cli.run(&["diff", &first, &without]);
    assert_eq!(diff.code, 1);
    assert!(
        diff.stdout.contains("- group:ops viewer @ acme/eng"),
        "{}",
        diff.stdout
    );
    let before = who(&a.cli, "acme/eng", "vm.read");
    a.cli.ok(&["apply", &without]);
    let after = who(&a.cli, "acme/eng", "vm.read");
    let expected: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert!(!expected.is_empty());
    assert_eq!(lost, expected);
    assert!(
        lost.contains("user:carol") && !lost.contains("user:alice"),
        "{lost:?}"
    );

    // A document that would lock the organisation out is refused and changes nothing.
    let (current, text) = a.export("a3.yaml");
    let digest = a.digest();
    let admin = "  - {subject: \"user:alice\", role: admin, scope: acme}\n";
    let locked = a.file("locked.yaml", &text.replace(admin, ""));
    let refused = a.cli.refused(&["apply", &locked]);
    assert!(
        refused.contains("lockout") && refused.contains("HTTP 409"),
        "{refused}"
    );
    assert_eq!(a.digest(), digest);

    // Nor may a document delete the user applying it.
    let handed_over = text.replace("  - {username: alice}\n", "").replace(
        admin,
        "  - {subject: \"user:bob\", role: admin, scope: acme}\n",
    );
    let alone = a.file("alone.yaml", &handed_over);
    let refused = a.cli.refused(&["apply", &alone]);
    assert!(refused.contains("`user:alice` is you"), "{refused}");
    assert_eq!(a.digest(), digest);

    // Malformed: the line is named; an unknown reference: the object.
    let bad = a.file("bad.yaml", &text.replace("kind: project", "kind: cupboard"));
    let refused = a.cli.refused(&["plan", &bad]);
    assert!(refused.contains("line "), "{refused}");
    let typo = a.file(
        "typo.yaml",
        &text.replace("role: vm-operator", "role: vm-operater"),
    );
    let refused = a.cli.refused(&["apply", &typo]);
    assert!(refused.contains("`vm-operater` names a role"), "{refused}");
    assert_eq!(a.digest(), digest);
    assert_eq!(a.cli.run(&["diff", &current, &current]).code, 0);
}
