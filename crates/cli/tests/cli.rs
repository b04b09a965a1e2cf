//! The `canopy` client commands against a real server (issue 4): the binary is driven as a
//! script would drive it — stored login, paths, tables and `-o json`, `--dry-run`, exit codes —
//! and every operation of the API is used through its command at least once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use canopy_testkit::passkey::SoftAuthenticator;
use canopy_testkit::server::ServerProcess;
use canopy_testkit::totp::{code_at, now_s};
use serde_json::Value;

#[path = "../src/client/operations.rs"]
mod operations;

use operations::OPERATIONS;

/// What a run printed and how it ended.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The binary with its own configuration directory; remembers which operations it ran.
struct Canopy {
    config: PathBuf,
    env: Vec<(String, String)>,
    used: RefCell<BTreeSet<&'static str>>,
}

impl Canopy {
    fn new(config: PathBuf) -> Canopy {
        Canopy {
            config,
            env: Vec::new(),
            used: RefCell::default(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.note(args);
        let mut command = Command::new(env!("CARGO_BIN_EXE_canopy"));
        command
            .args(args)
            .env("CANOPY_CONFIG_DIR", &self.config)
            .env("CANOPY_LANG", "en")
            .env("RUST_LOG", "warn")
            .env_remove("CANOPY_SERVER")
            .env_remove("CANOPY_TOKEN")
            .env_remove("CANOPY_ORG");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// Records the operation whose command `args` starts with.
    fn note(&self, args: &[&str]) {
        let words: Vec<&str> = args.iter().take(2).copied().collect();
        let best = OPERATIONS
            .iter()
            .filter(|(_, w)| {
                let w: Vec<&str> = w.split(' ').collect();
                words.starts_with(&w)
            })
            .max_by_key(|(_, w)| w.len());
        if let Some((id, _)) = best {
            self.used.borrow_mut().insert(id);
        }
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.code, 0,
            "canopy {args:?} exited {}:\n{}{}",
            out.code, out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs a command that must succeed with `-o json`; its answer.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("canopy {args:?}: {e}:\n{text}"))
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

const VM: &str = "acme/eng/payments/vm-100";

/// `canopy audit query` filters (over HTTP), `export` → `verify --file`, `verify` and `prune`
/// on the store, against the running server's data.
fn audit_tools(cli: &Canopy, dir: &Path, store: &[String]) {
    let items = |v: &Value| v["items"].as_array().unwrap().clone();
    // By target (a path, resolved to its ID) and action: the one event that created the node.
    let node = cli.json(&["node", "get", "acme/eng/payments"]);
    let created = items(&cli.json(&[
        "audit",
        "query",
        "--target",
        "acme/eng/payments",
        "--action",
        "create_node",
    ]));
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["revision"], node["revision"]);
    // By the ID, the same; by time: a range before everything is empty, one around it holds it.
    let by_id = items(&cli.json(&[
        "audit",
        "query",
        "--target",
        node["id"].as_str().unwrap(),
        "--action",
        "create_node",
    ]));
    assert_eq!(by_id, created);
    let t = created[0]["time"].as_str().unwrap();
    assert!(items(&cli.json(&["audit", "query", "--until", "2001-01-01T00:00:00Z"])).is_empty());
    let around = items(&cli.json(&[
        "audit",
        "query",
        "--since",
        t,
        "--until",
        "2999-01-01T00:00:00Z",
        "--action",
        "create_node",
    ]));
    assert!(around.iter().any(|e| e["seq"] == created[0]["seq"]));
    assert!(
        items(&cli.json(&["audit", "query", "--until", t, "--action", "create_node"]))
            .iter()
            .all(|e| e["seq"].as_u64() < created[0]["seq"].as_u64())
    );
    let by_actor = items(&cli.json(&[
        "audit",
        "query",
        "--actor",
        created[0]["actor"].as_str().unwrap(),
        "--limit",
        "3",
    ]));
    assert_eq!(by_actor.len(), 3);
    assert!(by_actor.iter().all(|e| e["actor"] == created[0]["actor"]));

    // An export verifies offline with the key; one changed character does not.
    let key = [
        "--audit-key-file",
        &format!("{}/data/audit.key", dir.display()),
    ]
    .map(String::from);
    let export = dir.join("audit.jsonl");
    let said = cli.run(&["audit", "export", "--out", export.to_str().unwrap()]);
    assert_eq!(said.code, 0, "{}", said.stderr);
    let text = std::fs::read_to_string(&export).unwrap();
    let lines = text.lines().count();
    assert!(
        lines > 10 && said.stderr.contains(&format!("{lines} audit events")),
        "{}",
        said.stderr
    );
    let verify_file = |file: &Path| {
        let mut args = vec!["audit", "verify", "--file", file.to_str().unwrap()];
        args.extend(key.iter().map(String::as_str));
        cli.run(&args)
    };
    let ok = verify_file(&export);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout
            .contains(&format!("{lines} events checked; 0 broken")),
        "{}",
        ok.stdout
    );
    let mut changed: Vec<String> = text.lines().map(String::from).collect();
    changed[5] = changed[5].replacen("\"actor\":\"", "\"actor\":\"x", 1);
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(&tampered, changed.join("\n")).unwrap();
    let bad = verify_file(&tampered);
    assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stdout
            .contains("event 6: its hash does not match its content"),
        "{}",
        bad.stdout
    );

    // The store's chains verify (the server is running; SQLite lets both read).
    let mut verify = vec!["audit", "verify"];
    verify.extend(store.iter().map(String::as_str));
    let out = cli.run(&verify);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("0 broken"), "{}", out.stdout);
    let out = cli.run(&[&verify[..], &["--chain", "acme"]].concat());
    assert!(out.stdout.starts_with("1 audit chains"), "{}", out.stdout);
    let out = cli.run(&[&verify[..], &["--chain", "nowhere"]].concat());
    assert_eq!(out.code, 2, "{}", out.stderr);

    // Pruning keeps at least 90 days: fewer is refused; nothing here is that old.
    let mut prune = vec!["audit", "prune"];
    prune.extend(store.iter().map(String::as_str));
    let out = cli.run(&[&prune[..], &["--older-than", "89"]].concat());
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("at least 90 days"), "{}", out.stderr);
    assert!(cli.ok(&prune).contains("nothing was removed"));
}

#[test]
fn the_cli_drives_every_operation_against_a_real_server() {
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
    let config = dir.path().join("config");
    let cli = Canopy::new(config.clone());
    let files = dir.path();
    let root_pw = write(files, "root-pw", "root-password-1\n");
    let alice_pw = write(files, "alice-pw", "alice-password-1\n");

    // Without a login only the public operations work.
    assert_eq!(cli.ok(&["health", "--server", &url]).trim(), "ok");
    assert!(cli.json(&["ready", "--server", &url])["head"].is_u64());
    assert!(cli.json(&["spec", "--server", &url])["paths"]["/v1/orgs/{org}/check"].is_object());
    let out = cli.run(&["user", "list", "--server", &url, "--org", "acme"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not logged in"), "{}", out.stderr);

    // The instance administrator logs in; the token is stored for the owner only.
    let said = cli.ok(&[
        "login",
        "--server",
        &url,
        "--username",
        "root",
        "--password-file",
        &root_pw,
    ]);
    assert!(said.contains("instance administrator root"), "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config.join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let root_token = stored_token(&config);

    // Organisations.
    cli.ok(&[
        "org",
        "create",
        "acme",
        "--admin-user",
        "alice",
        "--admin-password-file",
        &alice_pw,
    ]);
    let dry = cli.ok(&[
        "org",
        "create",
        "beta",
        "--admin-user",
        "bert",
        "--admin-password-file",
        &alice_pw,
        "--dry-run",
    ]);
    assert!(dry.contains("nothing was changed"), "{dry}");
    assert!(!cli.ok(&["org", "list"]).contains("beta"));
    cli.ok(&[
        "org",
        "create",
        "beta",
        "--admin-user",
        "bert",
        "--admin-password-file",
        &alice_pw,
    ]);
    let orgs = cli.ok(&["org", "list"]);
    assert!(orgs.starts_with("NAME") && orgs.contains("acme") && orgs.contains("beta"));
    let updated = cli.json(&[
        "org",
        "update",
        "acme",
        "--max-depth",
        "8",
        "--max-nodes",
        "100",
    ]);
    assert_eq!(updated["limits"]["max_depth"], 8);

    // The organisation's administrator logs in; later commands use that login and its org.
    let said = cli.ok(&[
        "login",
        "--org",
        "acme",
        "--username",
        "alice",
        "--password-file",
        &alice_pw,
    ]);
    assert!(said.contains("alice of acme"), "{said}");
    let alice_token = stored_token(&config);
    assert_eq!(cli.json(&["org", "get"])["limits"]["max_nodes"], 100);

    // Passkeys: the ceremonies driven step by step, the authenticator's answers in files (a
    // software authenticator here, at the server's default origin).
    let origin = format!("http://localhost:{}", url.rsplit(':').next().unwrap());
    let mut authenticator = SoftAuthenticator::new();
    let start = cli.json(&["passkey", "register-start", "alice"]);
    let challenge = start["challenge_id"].as_str().unwrap().to_string();
    let answer = authenticator.register(&origin, &start["options"]).unwrap();
    let registration = write(files, "registration.json", &answer.to_string());
    let finish = [
        "passkey",
        "register-finish",
        "alice",
        "--challenge",
        &challenge,
        "--name",
        "laptop",
        "--credential",
        &registration,
    ];
    let dry = cli.ok(&[&finish[..], &["--dry-run"]].concat());
    assert!(dry.contains("nothing was changed"), "{dry}");
    let passkey = cli.json(&finish);
    assert_eq!(passkey["name"], "laptop");
    let passkey_id = passkey["id"].as_str().unwrap().to_string();
    assert!(cli.ok(&["passkey", "list", "alice"]).contains("laptop"));
    let start = cli.json(&["passkey", "login-start", "--username", "alice"]);
    let answer = authenticator.login(&origin, &start["options"]).unwrap();
    let assertion = write(files, "assertion.json", &answer.to_string());
    let said = cli.ok(&[
        "passkey",
        "login-finish",
        "--challenge",
        start["challenge_id"].as_str().unwrap(),
        "--credential",
        &assertion,
    ]);
    assert!(said.contains("with a passkey of acme"), "{said}");
    assert_ne!(
        stored_token(&config),
        alice_token,
        "the passkey session is stored"
    );
    assert!(cli.ok(&["passkey", "list", "alice"]).contains("LAST USED"));
    cli.ok(&["passkey", "remove", "alice", &passkey_id, "--dry-run"]);
    cli.ok(&["passkey", "remove", "alice", &passkey_id]);
    assert!(!cli.ok(&["passkey", "list", "alice"]).contains("laptop"));

    // The catalog, from a file.
    let catalog = write(
        files,
        "catalog.yaml",
        "types:\n  vm:\n    power: operate\n    read: read\n    delete: admin\n    snapshot.create: configure\n",
    );
    cli.ok(&["catalog", "put", &catalog]);
    assert!(cli.ok(&["catalog", "get"]).contains("vm.snapshot.create"));

    // The tree, by path.
    cli.ok(&["node", "create", "acme/eng"]);
    cli.ok(&["node", "create", "acme/eng/payments", "--kind", "project"]);
    cli.ok(&["node", "create", "acme/eng/web", "--kind", "project"]);
    assert_eq!(
        cli.json(&["node", "get", "acme/eng/payments"])["kind"],
        "project"
    );
    let renamed = cli.json(&["node", "update", "acme/eng/web", "--name", "frontend"]);
    assert_eq!(renamed["path"], "acme/eng/frontend");
    let children = cli.ok(&["node", "children", "acme/eng"]);
    assert!(children.contains("acme/eng/payments") && children.contains("acme/eng/frontend"));
    assert!(cli.ok(&["tree"]).contains("\n    payments"));

    // Resources.
    cli.ok(&[
        "resource", "create", VM, "--type", "vm", "--attr", "os=linux",
    ]);
    assert_eq!(
        cli.json(&["resource", "get", VM])["attributes"]["os"],
        "linux"
    );
    cli.ok(&["resource", "update", VM, "--attr", "os=bsd"]);
    let linked = cli.json(&["resource", "link", VM, "acme/eng/frontend"]);
    assert_eq!(linked["links"][0]["ref"], "acme/eng/frontend");
    assert_eq!(linked["attributes"]["os"], "bsd");

    // Principals.
    cli.ok(&["user", "create", "bob", "--email", "bob@example.com"]);
    cli.ok(&["user", "create", "carol"]);
    assert_eq!(
        cli.json(&["user", "get", "bob"])["email"],
        "bob@example.com"
    );
    let carol = cli.json(&["user", "update", "carol", "--display-name", "Carol C"]);
    assert_eq!(carol["display_name"], "Carol C");
    let users = cli.ok(&["user", "list"]);
    assert!(["alice", "bob", "carol"].iter().all(|u| users.contains(u)));
    cli.ok(&["sa", "create", "backup"]);
    assert_eq!(cli.json(&["sa", "get", "backup"])["ref"], "sa:backup");
    let disabled = cli.json(&["sa", "update", "backup", "--enabled", "false"]);
    assert_eq!(disabled["enabled"], false);
    assert!(cli.ok(&["sa", "list"]).contains("backup"));
    let key = cli.json(&["sa", "key-create", "backup", "nightly"]);
    assert!(key["token"].as_str().unwrap().starts_with("cnt."), "{key}");
    assert!(cli.ok(&["sa", "keys", "backup"]).contains("nightly"));
    cli.ok(&["sa", "key-revoke", "backup", key["id"].as_str().unwrap()]);
    assert!(!cli.ok(&["sa", "keys", "backup"]).contains("nightly"));
    cli.ok(&["group", "create", "ops"]);
    assert_eq!(cli.json(&["group", "get", "ops"])["ref"], "group:ops");
    assert!(cli.ok(&["group", "list"]).contains("ops"));
    cli.ok(&["group", "add-member", "ops", "user:bob"]);
    let members = cli.ok(&["group", "members", "ops"]);
    assert!(members.contains("user:bob") && members.contains("include"));

    // A role from a file, and a binding.
    let role = write(
        files,
        "role.yaml",
        "name: vm-operator\nstatements:\n  - effect: allow\n    actions: [vm.power, vm.read]\n",
    );
    cli.ok(&["role", "create", "vm-operator", "--file", &role]);
    assert_eq!(cli.json(&["role", "get", "vm-operator"])["system"], false);
    let widened = cli.json(&[
        "role",
        "update",
        "vm-operator",
        "--allow",
        "vm.power",
        "--allow",
        "vm.read",
        "--allow",
        "vm.snapshot.*",
    ]);
    assert_eq!(widened["statements"][0]["actions"][2], "vm.snapshot.*");
    let roles = cli.ok(&["role", "list"]);
    assert!(roles.contains("vm-operator") && roles.contains("viewer"));
    let binding = cli.json(&["binding", "create", "group:ops", "vm-operator", "acme/eng"]);
    let binding_id = binding["id"].as_str().unwrap().to_string();
    assert!(
        cli.ok(&["binding", "get", &binding_id])
            .contains("group:ops")
    );
    let listed = cli.json(&["binding", "list", "--subject", "group:ops"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["next_cursor"], Value::Null);

    // Questions: exit 0 allowed, 1 denied.
    let allowed = cli.run(&["check", "user:bob", "vm.power", VM]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert!(allowed.stdout.starts_with("allowed (revision "));
    let denied = cli.run(&["check", "user:carol", "vm.power", VM]);
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    assert!(denied.stdout.starts_with("denied"));
    let as_json = cli.run(&["check", "user:carol", "vm.power", VM, "-o", "json"]);
    assert_eq!(as_json.code, 1);
    let decision: Value = serde_json::from_str(&as_json.stdout).unwrap();
    assert_eq!(decision["allowed"], false);
    let why = cli.run(&["explain", "user:bob", "vm.power", VM]);
    assert_eq!(why.code, 0);
    assert!(
        why.stdout.contains(&binding_id) && why.stdout.contains("vm-operator"),
        "{}",
        why.stdout
    );
    let why_not = cli.run(&["explain", "user:carol", "vm.power", VM]);
    assert_eq!(why_not.code, 1);
    assert!(
        why_not.stdout.contains("no binding grants this") && why_not.stdout.contains("bind role"),
        "{}",
        why_not.stdout
    );
    let who = cli.ok(&["who", VM, "--action", "vm.power"]);
    let bob_row = who.lines().find(|l| l.starts_with("user:bob")).unwrap();
    assert!(bob_row.contains("group:ops"), "{who}");
    assert!(!who.contains("user:carol"));
    let access = cli.ok(&["access", "user:bob", "--action", "vm.power", "--type", "vm"]);
    assert!(access.lines().any(|l| l.starts_with(VM)), "{access}");
    let effective = cli.ok(&["effective", "user:bob", VM]);
    assert!(
        ["vm.power", "vm.read", "vm.snapshot.create"]
            .iter()
            .all(|a| effective.contains(a))
    );
    let checks = write(
        files,
        "checks.yaml",
        &format!(
            "checks:\n  - {{principal: 'user:bob', action: vm.power, target: {VM}}}\n  - {{principal: 'user:carol', action: vm.power, target: {VM}}}\n"
        ),
    );
    let batch = cli.run(&["check-batch", &checks]);
    assert_eq!(batch.code, 1, "{}{}", batch.stdout, batch.stderr);
    assert!(batch.stdout.contains("allowed") && batch.stdout.contains("denied"));

    // Manual paging.
    let first = cli.json(&["user", "list", "--limit", "1"]);
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = cli.json(&["user", "list", "--limit", "1", "--cursor", &cursor]);
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert_eq!(
        cli.json(&["user", "list"])["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A dry run shows the diff and changes nothing.
    let dry = cli.ok(&[
        "binding",
        "create",
        "user:carol",
        "vm-operator",
        "acme/eng",
        "--dry-run",
    ]);
    assert!(dry.contains("nothing was changed"), "{dry}");
    assert!(
        dry.lines()
            .any(|l| l.starts_with("gained") && l.contains("user:carol") && l.contains("vm.power")),
        "{dry}"
    );
    let carols = cli.json(&["binding", "list", "--subject", "user:carol"]);
    assert!(carols["items"].as_array().unwrap().is_empty());

    // A bad reference: exit 2 and one line on stderr.
    let bad = cli.run(&[
        "binding",
        "create",
        "user:nobody",
        "vm-operator",
        "acme/eng",
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stdout.is_empty());
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(
        bad.stderr.starts_with("canopy: ") && bad.stderr.contains("(unknown-reference, HTTP 422)"),
        "{}",
        bad.stderr
    );

    // Guardrails.
    cli.ok(&[
        "guardrail",
        "create",
        "no-delete",
        "--node",
        "acme/eng",
        "--deny",
        "vm.delete",
    ]);
    assert_eq!(
        cli.json(&["guardrail", "get", "no-delete"])["node_path"],
        "acme/eng"
    );
    assert!(cli.ok(&["guardrail", "list"]).contains("no-delete"));
    let amended = cli.json(&[
        "guardrail",
        "update",
        "no-delete",
        "--deny",
        "vm.delete",
        "--deny",
        "vm.snapshot.create",
    ]);
    assert_eq!(amended["statements"][0]["actions"][1], "vm.snapshot.create");
    cli.ok(&["guardrail", "delete", "no-delete"]);

    // Plan and apply a file of commands.
    let plan = write(
        files,
        "plan.yaml",
        "commands:\n  - method: POST\n    path: /bindings\n    body: {subject: 'user:carol', role: viewer, scope: acme/eng/frontend}\n",
    );
    let planned = cli.ok(&["plan", &plan]);
    assert!(
        planned
            .lines()
            .any(|l| l.starts_with("gained") && l.contains("user:carol") && l.contains("vm.read")),
        "{planned}"
    );
    assert!(
        cli.ok(&["apply", &plan, "--dry-run"])
            .contains("nothing was changed")
    );
    assert_eq!(cli.json(&["apply", &plan])["commands"], 1);
    assert!(
        cli.ok(&["binding", "list", "--subject", "user:carol"])
            .contains("viewer")
    );

    // Configuration as code: the export is a document that plans no change (the round trips
    // are in config_as_code.rs).
    let exported = cli.ok(&[
        "export",
        "--out",
        &files.join("acme.yaml").display().to_string(),
    ]);
    assert!(exported.is_empty(), "{exported}");
    let unchanged = cli.ok(&["plan", &files.join("acme.yaml").display().to_string()]);
    assert!(
        unchanged.contains("no object is added, changed or removed"),
        "{unchanged}"
    );

    // Listings follow next_cursor over every page (100 a page by default).
    let many: Vec<Value> = (0..101)
        .map(|i| serde_json::json!({"method": "POST", "path": "/users", "body": {"username": format!("u{i:03}")}}))
        .collect();
    let many = write(
        files,
        "many.json",
        &serde_json::json!({ "commands": many }).to_string(),
    );
    cli.ok(&["apply", &many]);
    let all = cli.json(&["user", "list"]);
    assert_eq!(all["items"].as_array().unwrap().len(), 104);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(cli.ok(&["user", "list"]).lines().count(), 105);

    // The audit log and the stream of changes.
    let audit = cli.json(&["audit", "query"]);
    assert!(audit["items"].as_array().unwrap().len() > 10);
    audit_tools(&cli, dir.path(), &store);
    let watched = cli.ok(&[
        "watch",
        "--after-revision",
        "0",
        "--count",
        "2",
        "-o",
        "json",
    ]);
    let events: Vec<Value> = watched
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert!(events[0]["revision"].as_u64() < events[1]["revision"].as_u64());

    // Scripts: the environment instead of a stored login.
    let script = Canopy {
        env: vec![
            ("CANOPY_SERVER".into(), url.clone()),
            ("CANOPY_TOKEN".into(), alice_token.clone()),
            ("CANOPY_ORG".into(), "acme".into()),
        ],
        ..Canopy::new(dir.path().join("no-login"))
    };
    let out = script.run(&["user", "list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("bob"));
    cli.used.borrow_mut().extend(script.used.take());

    // Japanese messages.
    let ja = Canopy {
        env: vec![("CANOPY_LANG".into(), "ja".into())],
        ..Canopy::new(config.clone())
    };
    let env_ja = ja.run(&["check", "user:carol", "vm.power", VM]);
    assert!(env_ja.stdout.starts_with("拒否"), "{}", env_ja.stdout);

    // Taking it all down again.
    cli.ok(&["resource", "unlink", VM, "acme/eng/frontend"]);
    cli.ok(&["group", "remove-member", "ops", "user:bob"]);
    assert!(
        cli.ok(&["binding", "delete", &binding_id])
            .starts_with("done (revision ")
    );
    cli.ok(&["group", "delete", "ops"]);
    cli.ok(&["role", "delete", "vm-operator"]);
    cli.ok(&["sa", "delete", "backup"]);
    let refused = cli.run(&["user", "delete", "carol"]);
    assert_eq!(
        refused.code, 2,
        "carol still has a binding: {}",
        refused.stdout
    );
    assert!(refused.stderr.contains("HTTP 409"), "{}", refused.stderr);
    cli.ok(&["user", "delete", "carol", "--cascade"]);
    cli.ok(&["resource", "delete", VM]);
    cli.ok(&["node", "delete", "acme/eng", "--cascade"]);
    assert!(!cli.ok(&["tree"]).contains("eng"));
    cli.ok(&["org", "delete", "beta", "--cascade", "--token", &root_token]);

    // TOTP: alice enrols her own, then needs a code to log in, then removes it.
    let enrolment = cli.json(&["totp", "enrol", "alice"]);
    let secret = enrolment["secret"].as_str().unwrap().to_string();
    let code = code_at(&secret, now_s());
    let confirmed = cli.json(&["totp", "confirm", "alice", "--code", &code]);
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    let login = [
        "login",
        "--org",
        "acme",
        "--username",
        "alice",
        "--password-file",
        &alice_pw,
    ];
    let refused = cli.run(&login);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("second-factor-required"),
        "{}",
        refused.stderr
    );
    let next = code_at(&secret, now_s() + 30);
    cli.ok(&[&login[..], &["--totp", &next]].concat());
    cli.ok(&["totp", "remove", "alice"]);
    cli.ok(&login);

    // A personal token narrowed to reads: it reads, it cannot change, and once revoked it is
    // refused.
    let made = cli.json(&["token", "create", "alice", "ci", "--allow-class", "read"]);
    let token = made["token"].as_str().unwrap().to_string();
    assert!(cli.ok(&["tree", "--token", &token]).contains("acme"));
    let refused = cli.run(&["node", "create", "acme/by-token", "--token", &token]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("HTTP 403"), "{}", refused.stderr);
    assert!(cli.ok(&["token", "list", "alice"]).contains("ci"));
    cli.ok(&["token", "revoke", "alice", made["id"].as_str().unwrap()]);
    let revoked = cli.run(&["tree", "--token", &token]);
    assert!(revoked.stderr.contains("HTTP 401"), "{}", revoked.stderr);

    // Logging out ends the session at the server and forgets the token.
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config.join("credentials.json")).unwrap())
            .unwrap();
    let token = stored["token"].as_str().unwrap().to_string();
    assert!(cli.ok(&["logout"]).contains("logged out"));
    assert!(!config.join("credentials.json").exists());
    let ended = cli.run(&["tree", "--server", &url, "--org", "acme", "--token", &token]);
    assert_eq!(ended.code, 2);
    assert!(ended.stderr.contains("HTTP 401"), "{}", ended.stderr);
    let out = cli.run(&["user", "list", "--server", &url, "--org", "acme"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not logged in"));

    let unused: Vec<_> = OPERATIONS
        .iter()
        .filter(|(id, _)| !cli.used.borrow().contains(id))
        .collect();
    assert!(unused.is_empty(), "operations never used: {unused:?}");
}
