//! Unit tests of the engine's rules that the scenarios do not reach: limits, names, moves,
//! cascades, the catalog, replay, atomicity, paging, explain's fixes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::BTreeMap;

use canopy_core::OrgEngine;
use canopy_core::action::{ActionClass, ActionPattern, Catalog, Effect, Statement};
use canopy_core::command::{Command, MemberEntry, NamedRef, PrincipalRef, TargetRef};
use canopy_core::engine::{Actor, PageRequest};
use canopy_core::ids::{Clock, ManualClock};
use canopy_core::model::{Conditions, Limits, ManualMode, NodeKind, PrincipalKind, RequestContext};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;

struct Org {
    engine: OrgEngine,
    clock: ManualClock,
    admin: Actor,
}

fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}
fn t(s: &str) -> TargetRef {
    TargetRef::parse(s).unwrap()
}
fn p(s: &str) -> PrincipalRef {
    PrincipalRef::parse(s).unwrap()
}

fn org() -> Org {
    let clock = ManualClock::at(Timestamp::parse("2026-11-23T10:00:00Z").unwrap());
    let (engine, _) = OrgEngine::create(n("acme"), n("admin"), Default::default(), &clock).unwrap();
    let admin_id = engine.model().users.values().next().unwrap().id.clone();
    let mut o = Org {
        engine,
        clock,
        admin: Actor::subject(admin_id, RequestContext::default()),
    };
    let mut types = BTreeMap::new();
    types.insert(
        "vm".to_string(),
        BTreeMap::from([
            ("power".to_string(), ActionClass::Operate),
            ("read".to_string(), ActionClass::Read),
        ]),
    );
    o.run(Command::PutCatalog {
        catalog: Catalog { types },
    })
    .unwrap();
    o
}

impl Org {
    fn run(&mut self, c: Command) -> Result<(), String> {
        self.engine
            .execute(&self.admin, &c, &self.clock)
            .map(|_| ())
            .map_err(|e| e.code().to_string())
    }
    fn folder(&mut self, name: &str, parent: &str) -> Result<(), String> {
        self.run(Command::CreateNode {
            kind: NodeKind::Folder,
            name: n(name),
            parent: t(parent),
        })
    }
    fn project(&mut self, name: &str, parent: &str) -> Result<(), String> {
        self.run(Command::CreateNode {
            kind: NodeKind::Project,
            name: n(name),
            parent: t(parent),
        })
    }
    fn vm(&mut self, name: &str, parent: &str) -> Result<(), String> {
        self.run(Command::CreateResource {
            type_name: "vm".into(),
            name: n(name),
            parent: t(parent),
            links: vec![],
            attributes: BTreeMap::new(),
        })
    }
    fn user(&mut self, name: &str) {
        self.run(Command::CreateUser {
            username: n(name),
            email: None,
            display_name: None,
            password: true,
        })
        .unwrap();
    }
    fn bind(&mut self, who: &str, role: &str, scope: &str) -> Result<(), String> {
        self.run(Command::CreateBinding {
            principal: p(who),
            role: NamedRef::Name(n(role)),
            scope: t(scope),
            expires_at: None,
            conditions: Conditions::default(),
        })
    }
    fn allowed(&self, who: &str, action: &str, target: &str) -> bool {
        self.engine
            .check(
                who,
                action,
                target,
                &RequestContext::default(),
                self.clock.now(),
            )
            .unwrap()
            .allowed
    }
}

#[test]
fn the_depth_limit_counts_levels_below_the_organisation() {
    let mut o = org();
    let mut parent = "acme".to_string();
    for level in 1..=10 {
        o.folder(&format!("l{level}"), &parent).unwrap();
        parent = format!("{parent}/l{level}");
    }
    assert_eq!(o.folder("l11", &parent), Err("limit".into()));
    assert_eq!(o.project("p11", &parent), Err("limit".into()));
    // Resources hang below a node and do not count.
    o.vm("vm-deep", &parent).unwrap();
}

#[test]
fn the_node_limit_is_per_organisation_and_set_by_instance_admins() {
    let mut o = org();
    let limits = Limits {
        max_depth: 10,
        max_nodes: 3,
    };
    assert_eq!(
        o.run(Command::UpdateOrg {
            limits: Some(limits),
            policy: None
        }),
        Err("forbidden".into())
    );
    o.engine
        .execute(
            &Actor::instance_admin("root"),
            &Command::UpdateOrg {
                limits: Some(limits),
                policy: None,
            },
            &o.clock,
        )
        .unwrap();
    for i in 0..3 {
        o.folder(&format!("f{i}"), "acme").unwrap();
    }
    assert_eq!(o.folder("f3", "acme"), Err("limit".into()));
    let lower = Limits {
        max_depth: 10,
        max_nodes: 2,
    };
    let err = o
        .engine
        .execute(
            &Actor::instance_admin("root"),
            &Command::UpdateOrg {
                limits: Some(lower),
                policy: None,
            },
            &o.clock,
        )
        .unwrap_err();
    assert_eq!(err.code(), "limit");
}

#[test]
fn siblings_share_one_namespace_and_may_not_be_confusable() {
    let mut o = org();
    o.folder("vm", "acme").unwrap();
    assert_eq!(o.folder("vm", "acme"), Err("duplicate-name".into()));
    assert_eq!(o.folder("ＶＭ", "acme"), Err("confusable-name".into()));
    assert_eq!(o.vm("VM", "acme"), Err("confusable-name".into()));
    // Elsewhere the same name is fine, and Japanese names are normal.
    o.folder("総務部", "acme").unwrap();
    o.vm("vm", "acme/総務部").unwrap();
    assert!(o.allowed("user:admin", "vm.power", "acme/総務部/vm"));
}

#[test]
fn projects_hold_resources_only() {
    let mut o = org();
    o.project("web", "acme").unwrap();
    assert_eq!(o.folder("inner", "acme/web"), Err("invalid-field".into()));
    o.vm("vm-1", "acme/web").unwrap();
}

#[test]
fn moves_refuse_cycles_and_depth_and_carry_the_subtree() {
    let mut o = org();
    o.folder("a", "acme").unwrap();
    o.folder("b", "acme/a").unwrap();
    o.project("p", "acme/a/b").unwrap();
    o.vm("vm-1", "acme/a/b/p").unwrap();
    o.folder("x", "acme").unwrap();
    o.user("alice");
    o.bind("user:alice", "operator", "acme/x").unwrap();
    let mv = |node: &str, parent: &str| Command::UpdateNode {
        node: t(node),
        name: None,
        parent: Some(t(parent)),
    };
    assert_eq!(o.run(mv("acme/a", "acme/a/b")), Err("invalid-field".into()));
    assert!(!o.allowed("user:alice", "vm.power", "acme/a/b/p/vm-1"));
    o.run(mv("acme/a/b", "acme/x")).unwrap();
    assert!(o.allowed("user:alice", "vm.power", "acme/x/b/p/vm-1"));
    assert!(
        o.engine
            .check(
                "user:alice",
                "vm.power",
                "acme/a/b/p/vm-1",
                &RequestContext::default(),
                o.clock.now()
            )
            .is_err()
    );
    // Depth: a 9-deep chain cannot take a subtree of height 2 below it.
    let mut parent = "acme".to_string();
    for level in 1..=9 {
        o.folder(&format!("d{level}"), &parent).unwrap();
        parent = format!("{parent}/d{level}");
    }
    assert_eq!(o.run(mv("acme/x/b", &parent)), Err("limit".into()));
}

#[test]
fn deleting_a_non_empty_node_needs_cascade_which_removes_its_bindings_too() {
    let mut o = org();
    o.folder("f", "acme").unwrap();
    o.project("p", "acme/f").unwrap();
    o.vm("vm-1", "acme/f/p").unwrap();
    o.user("alice");
    o.bind("user:alice", "viewer", "acme/f/p/vm-1").unwrap();
    assert_eq!(
        o.run(Command::DeleteNode {
            node: t("acme/f"),
            cascade: false
        }),
        Err("in-use".into())
    );
    let before = o.engine.model().clone();
    let diff = o
        .engine
        .access_diff(
            &o.admin.clone(),
            &[Command::DeleteNode {
                node: t("acme/f"),
                cascade: true,
            }],
            &o.clock,
        )
        .unwrap();
    assert_eq!(o.engine.model(), &before, "a diff changes nothing");
    assert!(
        diff.lost
            .iter()
            .any(|e| e.subject_ref == "user:alice" && e.target.path == "acme/f/p/vm-1")
    );
    o.run(Command::DeleteNode {
        node: t("acme/f"),
        cascade: true,
    })
    .unwrap();
    assert!(o.engine.model().nodes.is_empty() && o.engine.model().resources.is_empty());
    assert_eq!(
        o.engine.model().bindings.len(),
        1,
        "only the admin's binding is left"
    );
}

#[test]
fn the_catalog_refuses_removing_what_is_used_and_statements_that_match_nothing() {
    let mut o = org();
    o.vm("vm-1", "acme").unwrap();
    let stmt = |a: &str| Statement {
        effect: Effect::Allow,
        actions: vec![ActionPattern::parse(a).unwrap()],
        classes: vec![],
    };
    assert_eq!(
        o.run(Command::CreateRole {
            name: n("typo"),
            statements: vec![stmt("vm.powr")]
        }),
        Err("catalog-typo".into())
    );
    o.run(Command::CreateRole {
        name: n("power"),
        statements: vec![stmt("vm.power")],
    })
    .unwrap();
    let mut without_vm = Catalog::default();
    without_vm.types.insert(
        "disk".into(),
        BTreeMap::from([("read".to_string(), ActionClass::Read)]),
    );
    assert_eq!(
        o.run(Command::PutCatalog {
            catalog: without_vm.clone()
        }),
        Err("in-use".into())
    );
    o.run(Command::DeleteResource {
        resource: t("acme/vm-1"),
        cascade: false,
    })
    .unwrap();
    assert_eq!(
        o.run(Command::PutCatalog {
            catalog: without_vm
        }),
        Err("in-use".into()),
        "the role still uses vm.power"
    );
    o.run(Command::DeleteRole {
        role: NamedRef::Name(n("power")),
        cascade: false,
    })
    .unwrap();
}

#[test]
fn a_refused_command_in_a_batch_leaves_nothing_behind() {
    let mut o = org();
    let before = o.engine.model().clone();
    let commands = vec![
        Command::CreateNode {
            kind: NodeKind::Folder,
            name: n("a"),
            parent: t("acme"),
        },
        Command::CreateNode {
            kind: NodeKind::Folder,
            name: n("b"),
            parent: t("acme/a"),
        },
        Command::CreateNode {
            kind: NodeKind::Folder,
            name: n("a"),
            parent: t("acme"),
        },
    ];
    let (at, err) = o
        .engine
        .execute_all(&o.admin.clone(), &commands, &o.clock)
        .unwrap_err();
    assert_eq!((at, err.code()), (2, "duplicate-name"));
    assert_eq!(o.engine.model(), &before);
    // The index was restored too: the name is free again.
    o.folder("a", "acme").unwrap();
}

#[test]
fn replaying_the_writes_rebuilds_the_same_state() {
    let mut o = org();
    o.folder("f", "acme").unwrap();
    o.project("p", "acme/f").unwrap();
    o.vm("vm-1", "acme/f/p").unwrap();
    o.user("alice");
    o.run(Command::CreateGroup { name: n("ops") }).unwrap();
    o.run(Command::PutMember {
        group: p("group:ops"),
        member: p("user:alice"),
        entry: MemberEntry::Manual(ManualMode::Include),
    })
    .unwrap();
    o.bind("group:ops", "operator", "acme/f").unwrap();
    let rebuilt = OrgEngine::from_model(o.engine.model().clone(), 7).unwrap();
    assert_eq!(rebuilt.model(), o.engine.model());
    let now = o.clock.now();
    let ctx = RequestContext::default();
    assert!(
        rebuilt
            .check("user:alice", "vm.power", "acme/f/p/vm-1", &ctx, now)
            .unwrap()
            .allowed
    );
    assert_eq!(
        rebuilt
            .check("user:alice", "vm.power", "acme/f/p/vm-1", &ctx, now)
            .unwrap()
            .revision,
        7
    );
}

#[test]
fn listings_are_paged_completely() {
    let mut o = org();
    o.project("p", "acme").unwrap();
    for i in 0..25 {
        o.vm(&format!("vm-{i:02}"), "acme/p").unwrap();
    }
    o.user("alice");
    o.bind("user:alice", "viewer", "acme/p").unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 7,
    };
    loop {
        let r = o
            .engine
            .access("user:alice", "vm.read", None, o.clock.now(), &page)
            .unwrap();
        assert!(r.items.len() <= 7);
        seen.extend(r.items.into_iter().map(|e| e.target.id));
        match r.next_cursor {
            Some(c) => page.after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 26, "25 VMs and the project");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "sorted by ID, no repeats");
    let only_vms = o
        .engine
        .access(
            "user:alice",
            "vm.read",
            Some("vm"),
            o.clock.now(),
            &PageRequest::default(),
        )
        .unwrap();
    assert_eq!(only_vms.items.len(), 25);
}

#[test]
fn questions_about_unknown_things_are_errors_not_denials() {
    let o = org();
    let now = o.clock.now();
    let ctx = RequestContext::default();
    assert_eq!(
        o.engine
            .check("user:nobody", "vm.power", "acme", &ctx, now)
            .unwrap_err()
            .code(),
        "unknown-reference"
    );
    assert_eq!(
        o.engine
            .check("user:admin", "vm.fly", "acme", &ctx, now)
            .unwrap_err()
            .code(),
        "unknown-reference"
    );
    assert_eq!(
        o.engine
            .check("user:admin", "vm.power", "acme/nowhere", &ctx, now)
            .unwrap_err()
            .code(),
        "unknown-reference"
    );
    assert_eq!(
        o.engine
            .check("user:admin", "vm.power", "other/x", &ctx, now)
            .unwrap_err()
            .code(),
        "unknown-reference"
    );
}

#[test]
fn a_question_about_someone_else_needs_access_read_on_the_target() {
    let mut o = org();
    o.folder("eng", "acme").unwrap();
    o.folder("ops", "acme").unwrap();
    o.project("web", "acme/eng").unwrap();
    o.vm("vm-1", "acme/eng/web").unwrap();
    o.project("db", "acme/ops").unwrap();
    o.vm("vm-2", "acme/ops/db").unwrap();
    o.user("lead");
    o.user("dev");
    o.bind("user:lead", "viewer", "acme/eng").unwrap();
    o.bind("user:dev", "operator", "acme/eng/web").unwrap();
    let now = o.clock.now();
    // The asker's own context (MFA) is not the one a question about others is decided in.
    let lead_ctx = RequestContext {
        mfa: true,
        source_ip: None,
    };
    let asked_ctx = RequestContext::default();
    let lead = o.engine.asker("user:lead", &lead_ctx).unwrap();
    let ask = |principal: &str, action: &str, target: &str| {
        o.engine
            .check_asked(&lead, principal, action, target, &asked_ctx, now)
            .map(|d| d.map(|d| d.allowed))
            .map_err(|e| e.code())
    };
    // Inside the subtree where the lead holds iam.access.read: decided as `check` decides.
    assert_eq!(
        ask("user:dev", "vm.power", "acme/eng/web/vm-1"),
        Ok(Some(true))
    );
    assert_eq!(ask("user:dev", "vm.power", "acme/eng"), Ok(Some(false)));
    // Outside it: refused, whatever the answer would be.
    assert_eq!(ask("user:dev", "vm.power", "acme/ops/db/vm-2"), Ok(None));
    assert_eq!(ask("user:admin", "vm.power", "acme/ops/db/vm-2"), Ok(None));
    // About itself anywhere: no permission needed.
    assert_eq!(
        ask("user:lead", "vm.read", "acme/ops/db/vm-2"),
        Ok(Some(false))
    );
    assert_eq!(
        ask("user:lead", "vm.read", "acme/eng/web/vm-1"),
        Ok(Some(true))
    );
    // An unknown target is an error before the permission; unknown names after it.
    assert_eq!(
        ask("user:dev", "vm.power", "acme/nowhere"),
        Err("unknown-reference")
    );
    assert_eq!(ask("user:nobody", "vm.power", "acme/ops"), Ok(None));
    assert_eq!(
        ask("user:nobody", "vm.power", "acme/eng"),
        Err("unknown-reference")
    );
    assert_eq!(
        ask("user:dev", "vm.fly", "acme/eng"),
        Err("unknown-reference")
    );
    // Every answer equals the plain check's where the asker may ask.
    for (who, action, target) in [
        ("user:dev", "vm.power", "acme/eng/web/vm-1"),
        ("user:dev", "vm.read", "acme/eng/web"),
        ("user:admin", "vm.power", "acme/eng/web/vm-1"),
    ] {
        assert_eq!(
            ask(who, action, target),
            Ok(Some(o.allowed(who, action, target))),
            "{who} {action} {target}"
        );
    }
    // Groups ask nothing; unknown subjects neither.
    o.run(Command::CreateGroup {
        name: n("ops-team"),
    })
    .unwrap();
    assert!(o.engine.asker("group:ops-team", &asked_ctx).is_none());
    assert!(o.engine.asker("user:ghost", &asked_ctx).is_none());
}

#[test]
fn groups_are_not_subjects_of_a_decision() {
    let mut o = org();
    o.run(Command::CreateGroup { name: n("ops") }).unwrap();
    let err = o
        .engine
        .check(
            "group:ops",
            "vm.power",
            "acme",
            &RequestContext::default(),
            o.clock.now(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "invalid-field");
}

#[test]
fn a_disabled_subject_is_denied_everything_and_explain_says_so() {
    let mut o = org();
    o.user("alice");
    o.bind("user:alice", "admin", "acme").unwrap();
    o.run(Command::UpdateUser {
        user: p("user:alice"),
        username: None,
        email: None,
        display_name: None,
        enabled: Some(false),
        break_glass: None,
    })
    .unwrap();
    assert!(!o.allowed("user:alice", "iam.org.read", "acme"));
    let x = o
        .engine
        .explain(
            "user:alice",
            "iam.org.read",
            "acme",
            &RequestContext::default(),
            o.clock.now(),
        )
        .unwrap();
    assert_eq!(x.reason, Some("disabled"));
    assert!(matches!(
        x.fixes.first(),
        Some(canopy_core::engine::Fix::Enable { .. })
    ));
}

#[test]
fn a_check_answer_is_bounded_by_the_first_expiry_it_depends_on() {
    let mut o = org();
    o.user("alice");
    let expiry = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
    o.run(Command::CreateBinding {
        principal: p("user:alice"),
        role: NamedRef::Name(n("viewer")),
        scope: t("acme"),
        expires_at: Some(expiry),
        conditions: Conditions::default(),
    })
    .unwrap();
    let d = o
        .engine
        .check(
            "user:alice",
            "vm.read",
            "acme",
            &RequestContext::default(),
            o.clock.now(),
        )
        .unwrap();
    assert!(d.allowed);
    assert_eq!(d.valid_until, Some(expiry));
}

#[test]
fn a_narrowed_token_cannot_do_what_its_owner_can() {
    let mut o = org();
    o.user("alice");
    let admin_id = o
        .engine
        .model()
        .users
        .values()
        .find(|u| u.username.as_str() == "admin")
        .unwrap()
        .id
        .clone();
    let narrowed = Actor {
        narrowing: Some(vec![Statement {
            effect: Effect::Allow,
            actions: vec![],
            classes: vec![ActionClass::Read],
        }]),
        ..Actor::subject(admin_id, RequestContext::default())
    };
    let err = o
        .engine
        .execute(
            &narrowed,
            &Command::CreateNode {
                kind: NodeKind::Folder,
                name: n("x"),
                parent: t("acme"),
            },
            &o.clock,
        )
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    o.folder("x", "acme").unwrap();
}

#[test]
fn principals_in_use_need_cascade_to_be_deleted() {
    let mut o = org();
    o.user("alice");
    o.bind("user:alice", "viewer", "acme").unwrap();
    assert_eq!(
        o.run(Command::DeleteUser {
            user: p("user:alice"),
            cascade: false
        }),
        Err("in-use".into())
    );
    o.run(Command::DeleteUser {
        user: p("user:alice"),
        cascade: true,
    })
    .unwrap();
    assert!(
        o.engine
            .model()
            .users
            .values()
            .all(|u| u.username.as_str() != "alice")
    );
    assert_eq!(PrincipalKind::User.ref_prefix(), "user");
}

#[test]
fn updating_a_role_takes_away_what_it_no_longer_grants() {
    let mut o = org();
    o.user("alice");
    let stmt = |a: &str| Statement {
        effect: Effect::Allow,
        actions: vec![ActionPattern::parse(a).unwrap()],
        classes: vec![],
    };
    o.run(Command::CreateRole {
        name: n("r"),
        statements: vec![stmt("vm.read")],
    })
    .unwrap();
    o.bind("user:alice", "r", "acme").unwrap();
    assert!(o.allowed("user:alice", "vm.read", "acme"));
    o.run(Command::UpdateRole {
        role: NamedRef::Name(n("r")),
        statements: vec![stmt("vm.power")],
    })
    .unwrap();
    assert!(
        !o.allowed("user:alice", "vm.read", "acme"),
        "the old grant is gone"
    );
    assert!(o.allowed("user:alice", "vm.power", "acme"));
}

#[test]
fn the_policy_rules_the_admin_class_actions_of_the_callers_own_requests() {
    use canopy_core::error::{CommandError, PolicyRefusal};
    use canopy_core::model::{CredentialKind, Policy};
    let mut o = org();
    let admin_id = o_admin_id(&o);
    let admin = |ip: &str, mfa: bool, passkey: bool| Actor {
        passkey,
        ..Actor::subject(
            admin_id.clone(),
            RequestContext {
                mfa,
                source_ip: Some(ip.parse().unwrap()),
            },
        )
    };
    let create = |name: &str| Command::CreateNode {
        kind: NodeKind::Folder,
        name: n(name),
        parent: t("acme"),
    };
    let refusal =
        |o: &mut Org, actor: &Actor, c: &Command| match o.engine.execute(actor, c, &o.clock) {
            Ok(_) => None,
            Err(CommandError::PolicyRefused { reason, .. }) => Some(reason),
            Err(e) => panic!("unexpected {e:?}"),
        };
    for kind in [CredentialKind::Totp, CredentialKind::Passkey] {
        o.run(Command::SetCredential {
            user: p("user:admin"),
            kind,
        })
        .unwrap();
    }
    let policy = |cidrs: &[&str], mfa: bool, passkeys_only: bool| Command::UpdateOrg {
        limits: None,
        policy: Some(Policy {
            mfa_required: mfa,
            passkeys_only,
            admin_source_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            ..Policy::default()
        }),
    };

    o.run(policy(&["10.0.0.0/8"], false, false)).unwrap();
    let inside = admin("10.1.2.3", false, false);
    let outside = admin("192.0.2.1", false, false);
    assert_eq!(refusal(&mut o, &inside, &create("a")), None);
    assert_eq!(
        refusal(&mut o, &outside, &create("b")),
        Some(PolicyRefusal::SourceNotAllowed)
    );
    // Decisions about anyone, the admin included, follow the bindings only.
    assert!(o.allowed("user:admin", "iam.node.create", "acme"));

    o.engine
        .execute(&inside, &policy(&[], true, false), &o.clock)
        .unwrap();
    let without_mfa = admin("192.0.2.1", false, false);
    let with_totp = admin("192.0.2.1", true, false);
    assert_eq!(
        refusal(&mut o, &without_mfa, &create("c")),
        Some(PolicyRefusal::MfaRequired)
    );
    assert_eq!(refusal(&mut o, &with_totp, &create("c")), None);

    o.engine
        .execute(&with_totp, &policy(&[], true, true), &o.clock)
        .unwrap();
    assert_eq!(
        refusal(&mut o, &with_totp, &create("d")),
        Some(PolicyRefusal::PasskeyRequired)
    );
    let with_passkey = admin("192.0.2.1", true, true);
    assert_eq!(refusal(&mut o, &with_passkey, &create("d")), None);

    // Someone whom the bindings do not allow learns nothing about the policy.
    o.engine
        .execute(
            &with_passkey,
            &Command::CreateUser {
                username: n("bob"),
                email: None,
                display_name: None,
                password: true,
            },
            &o.clock,
        )
        .unwrap();
    let bob = o
        .engine
        .model()
        .users
        .values()
        .find(|u| u.username.as_str() == "bob")
        .unwrap()
        .id
        .clone();
    let err = o
        .engine
        .execute(
            &Actor::subject(bob, RequestContext::default()),
            &create("e"),
            &o.clock,
        )
        .unwrap_err();
    assert!(matches!(err, CommandError::Forbidden { .. }));
}

fn o_admin_id(o: &Org) -> canopy_core::ids::PrincipalId {
    o.engine
        .model()
        .users
        .values()
        .find(|u| u.username.as_str() == "admin")
        .unwrap()
        .id
        .clone()
}

/// Decisions compare a target's nesting label with each binding's interval, and a node's path is
/// kept inline up to 11 nodes (the default 10 levels) and on the heap beyond: trees deeper than
/// the default limit, and moves that lay subtrees out afresh, must decide exactly by ancestry.
#[test]
fn deep_trees_and_moves_decide_by_ancestry() {
    let mut o = org();
    o.engine
        .execute(
            &Actor::instance_admin("root"),
            &Command::UpdateOrg {
                limits: Some(Limits {
                    max_depth: 30,
                    max_nodes: 100,
                }),
                policy: None,
            },
            &o.clock,
        )
        .unwrap();
    let mut parent = "acme".to_string();
    let mut at_depth = vec![parent.clone()];
    for level in 1..=20 {
        o.folder(&format!("l{level}"), &parent).unwrap();
        parent = format!("{parent}/l{level}");
        at_depth.push(parent.clone());
    }
    o.project("p", &parent).unwrap();
    o.vm("vm-deep", &format!("{parent}/p")).unwrap();
    o.folder("side", "acme").unwrap();
    o.project("q", "acme/side").unwrap();
    o.vm("vm-side", "acme/side/q").unwrap();
    for (user, depth) in [
        ("d3", 3),
        ("d6", 6),
        ("d10", 10),
        ("d11", 11),
        ("d12", 12),
        ("d15", 15),
        ("d16", 16),
        ("d17", 17),
        ("d20", 20),
    ] {
        o.user(user);
        o.bind(&format!("user:{user}"), "operator", &at_depth[depth])
            .unwrap();
    }
    let deep = format!("{parent}/p/vm-deep");
    for user in ["d3", "d15", "d16", "d17", "d20"] {
        assert!(
            o.allowed(&format!("user:{user}"), "vm.power", &deep),
            "{user}"
        );
        assert!(!o.allowed(&format!("user:{user}"), "vm.power", "acme/side/q/vm-side"));
    }
    // Around the end of the inline path slots: bindings at and below either cover exactly their
    // own subtrees.
    for (user, covered, not_covered) in [
        ("d10", [10, 11, 12], [9, 9, 9]),
        ("d11", [11, 12, 13], [10, 9, 3]),
        ("d12", [12, 13, 20], [11, 10, 3]),
    ] {
        for depth in covered {
            let target = &at_depth[depth];
            assert!(
                o.allowed(&format!("user:{user}"), "vm.power", target),
                "{user} {target}"
            );
        }
        for depth in not_covered {
            let target = &at_depth[depth];
            assert!(
                !o.allowed(&format!("user:{user}"), "vm.power", target),
                "{user} {target}"
            );
        }
    }
    // The binding at depth 16 covers what sits 17 deep, not its parent at 15.
    assert!(o.allowed("user:d16", "vm.power", &at_depth[17]));
    assert!(!o.allowed("user:d16", "vm.power", &at_depth[15]));
    // Moving l4 (and everything below) under acme/side shifts every depth below it by two: the
    // bindings keep covering what they covered, and nothing else.
    o.run(Command::UpdateNode {
        node: t(&at_depth[4]),
        name: None,
        parent: Some(t("acme/side")),
    })
    .unwrap();
    let moved = deep.replacen("acme/l1/l2/l3/", "acme/side/", 1);
    assert!(!o.allowed("user:d3", "vm.power", &moved));
    for user in ["d15", "d16", "d17", "d20"] {
        assert!(
            o.allowed(&format!("user:{user}"), "vm.power", &moved),
            "{user}"
        );
    }
    // l6, now at depth 4, still covers l7 below it.
    assert!(o.allowed("user:d6", "vm.power", "acme/side/l4/l5/l6/l7"));
    assert!(!o.allowed("user:d6", "vm.power", "acme/side/l4/l5"));
    assert!(!o.allowed("user:d15", "vm.power", "acme/side/l4/l5/l6"));
    // Moving it back restores the depths.
    o.run(Command::UpdateNode {
        node: t("acme/side/l4"),
        name: None,
        parent: Some(t(&at_depth[3])),
    })
    .unwrap();
    for user in ["d3", "d15", "d16", "d17", "d20"] {
        assert!(
            o.allowed(&format!("user:{user}"), "vm.power", &deep),
            "{user}"
        );
    }
}

/// A check by a resource's ID finds its home node through the ID map: after a move or a link,
/// it must decide on the new home, exactly as a check by path does.
#[test]
fn a_check_by_resource_id_follows_moves_and_links() {
    let mut o = org();
    o.project("a", "acme").unwrap();
    o.project("b", "acme").unwrap();
    o.project("c", "acme").unwrap();
    o.vm("vm-1", "acme/a").unwrap();
    o.user("alice");
    o.bind("user:alice", "operator", "acme/b").unwrap();
    o.user("carol");
    o.bind("user:carol", "operator", "acme/c").unwrap();
    let id = o.engine.find_target("acme/a/vm-1").unwrap();
    let id = id.as_str().to_string();
    assert!(!o.allowed("user:alice", "vm.power", &id));
    o.run(Command::UpdateResource {
        resource: t(&id),
        name: None,
        parent: Some(t("acme/b")),
        attributes: None,
    })
    .unwrap();
    assert!(o.allowed("user:alice", "vm.power", &id));
    assert!(!o.allowed("user:carol", "vm.power", &id));
    o.run(Command::LinkResource {
        resource: t(&id),
        project: t("acme/c"),
    })
    .unwrap();
    assert!(o.allowed("user:carol", "vm.power", &id));
    assert_eq!(
        o.allowed("user:carol", "vm.power", &id),
        o.allowed("user:carol", "vm.power", "acme/b/vm-1")
    );
}
