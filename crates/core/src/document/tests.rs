//! The semantic diff and the commands it implies, run on a real engine: a plan applied must
//! export as the document it came from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use super::*;
use crate::OrgEngine;
use crate::command::Command;
use crate::engine::Actor;
use crate::error::CommandError;
use crate::ids::ManualClock;
use crate::model::RequestContext;

struct Org {
    engine: OrgEngine,
    clock: ManualClock,
    admin: Actor,
    admin_id: crate::ids::PrincipalId,
}

fn org() -> Org {
    let clock = ManualClock::at(Timestamp::parse("2026-11-23T10:00:00Z").unwrap());
    let name = |s: &str| Name::parse(s).unwrap();
    let (engine, _) =
        OrgEngine::create(name("acme"), name("admin"), Default::default(), &clock).unwrap();
    let admin_id = engine.model().users.values().next().unwrap().id.clone();
    Org {
        engine,
        clock,
        admin: Actor::subject(admin_id.clone(), RequestContext::default()),
        admin_id,
    }
}

impl Org {
    fn plan(&self, doc: &Document) -> Plan {
        plan(self.engine.model(), doc, Some(&self.admin_id)).unwrap()
    }
    fn apply(&mut self, doc: &Document) -> Result<Plan, (usize, CommandError)> {
        let p = self.plan(doc);
        self.engine
            .execute_all(&self.admin, &p.commands, &self.clock)
            .map(|_| p)
    }
    fn export(&self) -> Document {
        Document::of(self.engine.model())
    }
}

fn doc(v: serde_json::Value) -> Document {
    serde_json::from_value(v).unwrap()
}

/// An organisation with one of everything, in the order an export writes it.
fn full() -> serde_json::Value {
    json!({
        "canopy": 1,
        "org": "acme",
        "policy": {"min_password_length": 12},
        "catalog": {"vm": {"power": "operate", "read": "read"}, "disk": {"read": "read"}},
        "nodes": [
            {"path": "acme/eng", "kind": "folder"},
            {"path": "acme/eng/payments", "kind": "project"},
            {"path": "acme/ops", "kind": "project"}
        ],
        "resources": [
            {"path": "acme/eng/payments/vm-1", "type": "vm", "links": ["acme/ops"],
             "attributes": {"os": "linux"}},
            {"path": "acme/eng/vm-2", "type": "vm"}
        ],
        "users": [
            {"username": "admin"},
            {"username": "alice", "email": "alice@example.org", "display_name": "Alice"},
            {"username": "bob", "enabled": false}
        ],
        "service_accounts": [{"name": "ci"}],
        "groups": [
            {"name": "devs", "members": [
                {"member": "group:ops", "manual": "include"},
                {"member": "user:bob", "manual": "exclude", "mapped": ["scim"]}
            ]},
            {"name": "ops", "members": [
                {"member": "sa:ci", "mapped": ["api"]},
                {"member": "user:alice", "manual": "include"}
            ]}
        ],
        "roles": [{"name": "vm-op", "statements": [
            {"effect": "allow", "actions": ["vm.*"]},
            {"effect": "deny", "actions": ["vm.power"]}
        ]}],
        "bindings": [
            {"subject": "user:admin", "role": "admin", "scope": "acme"},
            {"subject": "group:devs", "role": "viewer", "scope": "acme/eng",
             "conditions": {"mfa": true}},
            {"subject": "group:ops", "role": "vm-op", "scope": "acme/eng/payments/vm-1",
             "expires_at": "2030-01-01T00:00:00Z"}
        ],
        "guardrails": [{"name": "no-power", "node": "acme/eng",
            "statements": [{"effect": "deny", "actions": ["vm.power"]}]}]
    })
}

#[test]
fn a_plan_applied_to_a_fresh_organisation_exports_as_its_document() {
    let mut o = org();
    let d = doc(full());
    o.apply(&d).unwrap();
    assert_eq!(o.export(), d);
    let again = o.plan(&d);
    assert!(again.changes.is_empty() && again.commands.is_empty());
}

#[test]
fn an_unchanged_document_plans_nothing() {
    let o = org();
    let p = o.plan(&o.export());
    assert_eq!(p, Plan::default());
}

fn has(p: &Plan, op: Op, kind: ChangeKind, object: &str) -> bool {
    p.changes
        .iter()
        .any(|c| c.op == op && c.kind == kind && c.object == object)
}

#[test]
fn every_kind_is_added_changed_and_removed() {
    let mut o = org();
    o.apply(&doc(full())).unwrap();
    let mut v = full();
    v["policy"] = json!({"min_password_length": 10});
    v["catalog"]["disk"] = json!({"read": "read", "grow": "configure"});
    v["nodes"][2] = json!({"path": "acme/qa", "kind": "project"});
    v["resources"] = json!([
        {"path": "acme/eng/disk-1", "type": "disk"},
        {"path": "acme/eng/payments/vm-1", "type": "vm", "attributes": {"os": "bsd"}}
    ]);
    v["users"][1]["email"] = json!("a@example.org");
    v["users"][2] = json!({"username": "carol"});
    v["service_accounts"][0]["enabled"] = json!(false);
    v["groups"][0]["members"][1] = json!({"member": "user:carol", "manual": "include"});
    v["groups"][1]["members"][0]["mapped"] = json!(["scim"]);
    v["roles"][0]["statements"] = json!([{"effect": "allow", "actions": ["vm.read"]}]);
    v["bindings"][1]["conditions"] = json!({});
    v["guardrails"][0]["statements"] = json!([{"effect": "deny", "actions": ["vm.read"]}]);
    let d = doc(v);
    let p = o.apply(&d).unwrap();
    use ChangeKind as K;
    use Op::*;
    for (op, kind, object) in [
        (Change, K::Policy, "policy"),
        (Change, K::Catalog, "catalog"),
        (Remove, K::Node, "acme/ops"),
        (Add, K::Node, "acme/qa"),
        (Change, K::Resource, "acme/eng/payments/vm-1"),
        (Remove, K::Resource, "acme/eng/vm-2"),
        (Add, K::Resource, "acme/eng/disk-1"),
        (Change, K::User, "user:alice"),
        (Remove, K::User, "user:bob"),
        (Add, K::User, "user:carol"),
        (Change, K::ServiceAccount, "sa:ci"),
        (Remove, K::Member, "group:devs ∋ user:bob"),
        (Add, K::Member, "group:devs ∋ user:carol"),
        (Change, K::Member, "group:ops ∋ sa:ci"),
        (Change, K::Role, "vm-op"),
        (Remove, K::Binding, "group:devs viewer @ acme/eng (mfa)"),
        (Add, K::Binding, "group:devs viewer @ acme/eng"),
        (Change, K::Guardrail, "no-power"),
    ] {
        assert!(
            has(&p, op, kind, object),
            "{op:?} {kind:?} {object}: {:#?}",
            p.changes
        );
    }
    assert_eq!(p.changes.len(), 18, "{:#?}", p.changes);
    assert_eq!(o.export(), d);
}

#[test]
fn removing_everything_but_the_administrator_empties_the_organisation() {
    let mut o = org();
    o.apply(&doc(full())).unwrap();
    let bare = o.plan(&doc(full())); // nothing to do
    assert!(bare.commands.is_empty());
    let empty = doc(json!({
        "canopy": 1, "org": "acme",
        "users": [{"username": "admin"}],
        "bindings": [{"subject": "user:admin", "role": "admin", "scope": "acme"}]
    }));
    o.apply(&empty).unwrap();
    assert_eq!(o.export(), empty);
}

fn position(p: &Plan, f: impl Fn(&Command) -> bool) -> usize {
    p.commands.iter().position(f).expect("no such command")
}

#[test]
fn commands_run_parents_first_and_removals_in_reverse() {
    let mut o = org();
    let d = doc(full());
    let add = o.apply(&d).unwrap();
    let at = |f: &dyn Fn(&Command) -> bool| position(&add, f);
    let catalog = at(&|c| matches!(c, Command::PutCatalog { .. }));
    let eng = at(&|c| matches!(c, Command::CreateNode { name, .. } if name.as_str() == "eng"));
    let payments =
        at(&|c| matches!(c, Command::CreateNode { name, .. } if name.as_str() == "payments"));
    let vm = at(&|c| matches!(c, Command::CreateResource { name, .. } if name.as_str() == "vm-1"));
    let group = at(&|c| matches!(c, Command::CreateGroup { name } if name.as_str() == "ops"));
    let member = at(&|c| matches!(c, Command::PutMember { .. }));
    let role = at(&|c| matches!(c, Command::CreateRole { .. }));
    let binding = at(&|c| matches!(c, Command::CreateBinding { .. }));
    let guardrail = at(&|c| matches!(c, Command::CreateGuardrail { .. }));
    assert!(catalog < eng && eng < payments && payments < vm && vm < group);
    assert!(group < member && member < role && role < binding && binding < guardrail);

    let bare = doc(json!({
        "canopy": 1, "org": "acme", "catalog": {"vm": {"read": "read"}},
        "users": [{"username": "admin"}],
        "bindings": [{"subject": "user:admin", "role": "admin", "scope": "acme"}]
    }));
    let rm = o.apply(&bare).unwrap();
    let at = |f: &dyn Fn(&Command) -> bool| position(&rm, f);
    let binding = at(&|c| matches!(c, Command::DeleteBinding { .. }));
    let guardrail = at(&|c| matches!(c, Command::DeleteGuardrail { .. }));
    let member = at(&|c| matches!(c, Command::RemoveMember { .. }));
    let role = at(&|c| matches!(c, Command::DeleteRole { .. }));
    let group = at(&|c| matches!(c, Command::DeleteGroup { .. }));
    let vm = at(&|c| matches!(c, Command::DeleteResource { .. }));
    let payments = at(
        &|c| matches!(c, Command::DeleteNode { node, .. } if node.to_string() == "acme/eng/payments"),
    );
    let eng =
        at(&|c| matches!(c, Command::DeleteNode { node, .. } if node.to_string() == "acme/eng"));
    let catalog = at(&|c| matches!(c, Command::PutCatalog { .. }));
    assert!(guardrail < binding && binding < member && member < role && role < group);
    assert!(group < vm && vm < payments && payments < eng && eng < catalog);
    assert_eq!(catalog, rm.commands.len() - 1);
    assert_eq!(o.export(), bare);
}

#[test]
fn a_renamed_object_is_the_old_one_removed_and_a_new_one_added() {
    let mut o = org();
    o.apply(&doc(full())).unwrap();
    let mut v = full();
    v["service_accounts"][0]["name"] = json!("ci-2");
    v["groups"][1]["members"][0]["member"] = json!("sa:ci-2");
    let p = o.apply(&doc(v)).unwrap();
    assert!(has(&p, Op::Remove, ChangeKind::ServiceAccount, "sa:ci"));
    assert!(has(&p, Op::Add, ChangeKind::ServiceAccount, "sa:ci-2"));
}

#[test]
fn a_document_that_locks_the_organisation_out_is_refused_by_the_engine() {
    let mut o = org();
    let before = o.export();
    let v = json!({"canopy": 1, "org": "acme", "users": [{"username": "admin"}]});
    let err = o.apply(&doc(v)).unwrap_err();
    assert!(matches!(err.1, CommandError::Lockout { .. }), "{err:?}");
    assert_eq!(o.export(), before);
}

#[test]
fn a_document_without_its_caller_is_refused_before_anything_runs() {
    let o = org();
    let v = json!({"canopy": 1, "org": "acme", "users": [{"username": "root"}],
        "bindings": [{"subject": "user:root", "role": "admin", "scope": "acme"}]});
    let e = plan(o.engine.model(), &doc(v), Some(&o.admin_id)).unwrap_err();
    assert_eq!(e.problem, Problem::RemovesCaller);
    assert_eq!(e.object, "user:admin");
}

#[test]
fn references_must_name_objects_of_the_document() {
    let check = |patch: &dyn Fn(&mut serde_json::Value)| {
        let mut v = full();
        patch(&mut v);
        Portable::of(&doc(v)).unwrap_err()
    };
    let e = check(&|v| v["bindings"][2]["role"] = json!("vm-operator"));
    assert_eq!(
        (e.at.as_str(), e.object.as_str()),
        ("bindings[2]", "vm-operator")
    );
    assert_eq!(e.problem, Problem::Unknown("role"));
    assert!(
        e.message(Lang::En)
            .starts_with("bindings[2]: `vm-operator`")
    );
    let e = check(&|v| v["bindings"][1]["subject"] = json!("group:qa"));
    assert_eq!(e.problem, Problem::Unknown("principal"));
    let e = check(&|v| v["resources"][1]["path"] = json!("other/eng/vm-2"));
    assert_eq!(
        (e.at.as_str(), e.problem),
        ("resources[1]", Problem::BadPath)
    );
    let e = check(&|v| v["resources"][0]["links"] = json!(["acme/eng"]));
    assert_eq!(e.problem, Problem::LinkNotProject);
    let e = check(&|v| v["nodes"][2] = json!({"path": "acme/eng/payments/x", "kind": "folder"}));
    assert_eq!(e.problem, Problem::BadParent);
    let e = check(&|v| v["users"][2]["username"] = json!("alice"));
    assert_eq!((e.at.as_str(), e.problem), ("users[2]", Problem::Duplicate));
    let e = check(&|v| v["resources"][1]["type"] = json!("tape"));
    assert_eq!(e.problem, Problem::Unknown("type"));
    let e = check(&|v| v["roles"][0]["name"] = json!("viewer"));
    assert_eq!(e.problem, Problem::SystemRoleName);
    let e = check(&|v| v["canopy"] = json!(2));
    assert_eq!(e.problem, Problem::Format(2));
}

#[test]
fn two_documents_compare_offline() {
    let a = Portable::of(&doc(full())).unwrap();
    let mut v = full();
    v["bindings"].as_array_mut().unwrap().remove(1);
    let b = Portable::of(&doc(v)).unwrap();
    let d = diff(&a, &b);
    assert_eq!(
        d,
        vec![Change {
            op: Op::Remove,
            kind: ChangeKind::Binding,
            object: "group:devs viewer @ acme/eng (mfa)".into(),
            fields: vec![],
        }]
    );
    assert!(diff(&a, &a).is_empty());
}

#[test]
fn identical_bindings_count_as_many() {
    let mut o = org();
    let mut v = full();
    let copy = v["bindings"][1].clone();
    v["bindings"].as_array_mut().unwrap().insert(1, copy);
    let d = doc(v);
    o.apply(&d).unwrap();
    assert_eq!(o.export(), d);
    let p = o.apply(&doc(full())).unwrap();
    assert_eq!(p.commands.len(), 1);
    assert!(matches!(p.commands[0], Command::DeleteBinding { .. }));
}

#[test]
fn guardrails_that_cap_administrators_are_created_after_what_they_cap() {
    let mut o = org();
    let mut v = full();
    // Only reads inside acme/eng: creating the binding inside it would be refused after it.
    v["guardrails"] = json!([
        {"name": "deeper", "node": "acme/eng/payments",
         "statements": [{"effect": "deny", "actions": ["vm.power"]}]},
        {"name": "reads-only", "node": "acme/eng",
         "statements": [{"effect": "allow", "actions": ["*.read", "*.*.read"]}]}
    ]);
    let d = doc(v);
    let p = o.apply(&d).unwrap();
    assert_eq!(o.export(), d);
    let at = |name: &str| {
        position(
            &p,
            |c| matches!(c, Command::CreateGuardrail { name: n, .. } if n.as_str() == name),
        )
    };
    assert!(at("deeper") < at("reads-only"));
    // Taking the organisation apart again: the highest guardrail goes first.
    let bare = doc(json!({
        "canopy": 1, "org": "acme",
        "users": [{"username": "admin"}],
        "bindings": [{"subject": "user:admin", "role": "admin", "scope": "acme"}]
    }));
    let rm = o.apply(&bare).unwrap();
    let at = |name: &str| {
        position(
            &rm,
            |c| matches!(c, Command::DeleteGuardrail { guardrail: crate::command::NamedRef::Name(n) } if n.as_str() == name),
        )
    };
    assert!(at("reads-only") < at("deeper"));
    assert_eq!(at("reads-only"), 0);
}
