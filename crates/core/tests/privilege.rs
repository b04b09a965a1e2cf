//! Who holds power (DESIGN §5): `is_privileged` decides which logins are announced as
//! privileged, `org_admins` who hears of a break-glass login. And the notification settings of
//! the policy: older stored policies, without them, still load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::BTreeMap;

use canopy_core::OrgEngine;
use canopy_core::action::{ActionClass, ActionPattern, Catalog, Effect, Statement};
use canopy_core::command::{Command, MemberEntry, NamedRef, PrincipalRef, TargetRef};
use canopy_core::engine::Actor;
use canopy_core::ids::{Clock, ManualClock, PrincipalId};
use canopy_core::messages::Lang;
use canopy_core::model::{Conditions, ManualMode, NodeKind, Policy, RequestContext};
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

fn p(s: &str) -> PrincipalRef {
    PrincipalRef::parse(s).unwrap()
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// acme with the catalog type `vm` (read, power: operate, delete: admin) and the folder `eng`
/// holding the project `payments`.
fn org() -> Org {
    let clock = ManualClock::at(at("2026-11-23T10:00:00Z"));
    let (engine, _) = OrgEngine::create(n("acme"), n("admin"), Policy::default(), &clock).unwrap();
    let admin_id = engine.model().users.values().next().unwrap().id.clone();
    let mut o = Org {
        engine,
        clock,
        admin: Actor::subject(admin_id, RequestContext::default()),
    };
    let vm = BTreeMap::from([
        ("read".to_string(), ActionClass::Read),
        ("power".to_string(), ActionClass::Operate),
        ("delete".to_string(), ActionClass::Admin),
    ]);
    o.run(Command::PutCatalog {
        catalog: Catalog {
            types: BTreeMap::from([("vm".to_string(), vm)]),
        },
    });
    for (kind, name, parent) in [
        (NodeKind::Folder, "eng", "acme"),
        (NodeKind::Project, "payments", "acme/eng"),
    ] {
        o.run(Command::CreateNode {
            kind,
            name: n(name),
            parent: TargetRef::parse(parent).unwrap(),
        });
    }
    o
}

impl Org {
    fn run(&mut self, c: Command) {
        self.engine
            .execute(&self.admin, &c, &self.clock)
            .unwrap_or_else(|e| panic!("{c:?}: {}", e.code()));
    }

    fn user(&mut self, name: &str) -> PrincipalId {
        self.run(Command::CreateUser {
            username: n(name),
            email: None,
            display_name: None,
            password: true,
        });
        self.id(&format!("user:{name}"))
    }

    fn group(&mut self, name: &str) {
        self.run(Command::CreateGroup { name: n(name) });
    }

    fn member(&mut self, group: &str, member: &str, mode: ManualMode) {
        self.run(Command::PutMember {
            group: p(&format!("group:{group}")),
            member: p(member),
            entry: MemberEntry::Manual(mode),
        });
    }

    fn bind_with(
        &mut self,
        who: &str,
        role: &str,
        scope: &str,
        expires_at: Option<Timestamp>,
        conditions: Conditions,
    ) {
        self.run(Command::CreateBinding {
            principal: p(who),
            role: NamedRef::Name(n(role)),
            scope: TargetRef::parse(scope).unwrap(),
            expires_at,
            conditions,
        });
    }

    fn bind(&mut self, who: &str, role: &str, scope: &str) {
        self.bind_with(who, role, scope, None, Conditions::default());
    }

    fn role(&mut self, name: &str, actions: &[&str]) {
        self.run(Command::CreateRole {
            name: n(name),
            statements: vec![Statement {
                effect: Effect::Allow,
                actions: actions
                    .iter()
                    .map(|a| ActionPattern::parse(a).unwrap())
                    .collect(),
                classes: Vec::new(),
            }],
        });
    }

    fn id(&self, reference: &str) -> PrincipalId {
        self.engine.find_principal(reference, None).unwrap()
    }

    fn privileged(&self, id: &PrincipalId) -> bool {
        self.engine.is_privileged(id, self.clock.now())
    }
}

#[test]
fn readers_and_operators_are_not_privileged() {
    let mut o = org();
    let viewer = o.user("viewer");
    let operator = o.user("operator");
    let power = o.user("power");
    let nobody = o.user("nobody");
    o.bind("user:viewer", "viewer", "acme");
    o.bind("user:operator", "operator", "acme");
    // power-user: read, operate and configure, but no admin-class action.
    o.bind("user:power", "power-user", "acme");
    for id in [&viewer, &operator, &power, &nobody] {
        assert!(!o.privileged(id), "{id} is not privileged");
    }
}

#[test]
fn an_admin_anywhere_in_the_tree_is_privileged() {
    let mut o = org();
    let admin = o.id("user:admin");
    let folder_admin = o.user("folder-admin");
    let project_admin = o.user("project-admin");
    o.bind("user:folder-admin", "admin", "acme/eng");
    o.bind("user:project-admin", "admin", "acme/eng/payments");
    assert!(o.privileged(&admin));
    assert!(o.privileged(&folder_admin));
    assert!(o.privileged(&project_admin));
}

#[test]
fn a_custom_role_with_an_admin_class_action_is_privileged() {
    let mut o = org();
    let creator = o.user("creator");
    let deleter = o.user("deleter");
    let reader = o.user("reader");
    // One state-changing `iam` action is enough; so is a catalog action of class admin.
    o.role("folder-maker", &["iam.node.create"]);
    o.role("vm-deleter", &["vm.delete"]);
    o.role("iam-reader", &["iam.*.read", "vm.read"]);
    o.bind("user:creator", "folder-maker", "acme/eng");
    o.bind("user:deleter", "vm-deleter", "acme/eng/payments");
    o.bind("user:reader", "iam-reader", "acme");
    assert!(o.privileged(&creator));
    assert!(o.privileged(&deleter));
    assert!(!o.privileged(&reader));
}

#[test]
fn a_catalog_change_of_an_actions_class_changes_who_is_privileged() {
    let mut o = org();
    let deleter = o.user("deleter");
    o.role("vm-deleter", &["vm.delete"]);
    o.bind("user:deleter", "vm-deleter", "acme/eng/payments");
    assert!(o.privileged(&deleter));
    let catalog = |delete: ActionClass| Command::PutCatalog {
        catalog: Catalog {
            types: BTreeMap::from([(
                "vm".to_string(),
                BTreeMap::from([
                    ("read".to_string(), ActionClass::Read),
                    ("power".to_string(), ActionClass::Operate),
                    ("delete".to_string(), delete),
                ]),
            )]),
        },
    };
    o.run(catalog(ActionClass::Configure));
    assert!(
        !o.privileged(&deleter),
        "vm.delete is no longer admin-class"
    );
    o.run(catalog(ActionClass::Admin));
    assert!(o.privileged(&deleter), "and is again");
}

#[test]
fn a_conditional_admin_binding_counts() {
    let mut o = org();
    let mfa_admin = o.user("mfa-admin");
    let office_admin = o.user("office-admin");
    o.bind_with(
        "user:mfa-admin",
        "admin",
        "acme/eng",
        None,
        Conditions {
            mfa: true,
            source_cidrs: Vec::new(),
        },
    );
    o.bind_with(
        "user:office-admin",
        "admin",
        "acme",
        None,
        Conditions {
            mfa: false,
            source_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
        },
    );
    assert!(o.privileged(&mfa_admin));
    assert!(o.privileged(&office_admin));
}

#[test]
fn an_expired_admin_binding_does_not_count() {
    let mut o = org();
    let temp = o.user("temp");
    o.bind_with(
        "user:temp",
        "admin",
        "acme/eng",
        Some(at("2026-11-23T12:00:00Z")),
        Conditions::default(),
    );
    assert!(o.engine.is_privileged(&temp, at("2026-11-23T11:59:59Z")));
    assert!(!o.engine.is_privileged(&temp, at("2026-11-23T12:00:00Z")));
    assert!(!o.engine.is_privileged(&temp, at("2027-01-01T00:00:00Z")));
}

#[test]
fn group_members_are_privileged_through_nesting_unless_excluded() {
    let mut o = org();
    let nested = o.user("nested");
    let excluded = o.user("excluded");
    o.group("platform");
    o.group("sre");
    o.member("platform", "group:sre", ManualMode::Include);
    o.member("sre", "user:nested", ManualMode::Include);
    o.member("sre", "user:excluded", ManualMode::Include);
    o.member("platform", "user:excluded", ManualMode::Exclude);
    o.bind("group:platform", "admin", "acme/eng");
    assert!(
        o.privileged(&nested),
        "sre ⊂ platform, which is admin at eng"
    );
    assert!(!o.privileged(&excluded), "excluded from platform");
}

#[test]
fn disabled_users_and_groups_are_not_privileged() {
    let mut o = org();
    let gone = o.user("gone");
    o.bind("user:gone", "admin", "acme/eng");
    o.group("admins");
    o.bind("group:admins", "admin", "acme");
    o.run(Command::UpdateUser {
        user: p("user:gone"),
        username: None,
        email: None,
        display_name: None,
        enabled: Some(false),
        break_glass: None,
    });
    assert!(!o.privileged(&gone));
    assert!(!o.privileged(&o.id("group:admins")));
}

#[test]
fn org_admins_may_write_the_policy_at_the_root() {
    let mut o = org();
    let admin = o.id("user:admin");
    let through_group = o.user("through-group");
    let with_mfa = o.user("with-mfa");
    o.user("folder-admin");
    o.user("viewer");
    let disabled = o.user("disabled");
    o.group("admins");
    o.member("admins", "user:through-group", ManualMode::Include);
    o.bind("group:admins", "admin", "acme");
    o.bind_with(
        "user:with-mfa",
        "admin",
        "acme",
        None,
        Conditions {
            mfa: true,
            source_cidrs: Vec::new(),
        },
    );
    o.bind("user:folder-admin", "admin", "acme/eng");
    o.bind("user:viewer", "viewer", "acme");
    o.bind("user:disabled", "admin", "acme");
    o.run(Command::UpdateUser {
        user: p("user:disabled"),
        username: None,
        email: None,
        display_name: None,
        enabled: Some(false),
        break_glass: None,
    });
    let mut expected = vec![admin, through_group, with_mfa];
    expected.sort();
    assert_eq!(o.engine.org_admins(o.clock.now()), expected);
    assert!(!expected.contains(&disabled));
}

#[test]
fn org_admins_leave_out_expired_bindings() {
    let mut o = org();
    let admin = o.id("user:admin");
    o.user("temp");
    o.bind_with(
        "user:temp",
        "admin",
        "acme",
        Some(at("2026-11-23T12:00:00Z")),
        Conditions::default(),
    );
    assert_eq!(o.engine.org_admins(at("2026-11-23T11:00:00Z")).len(), 2);
    assert_eq!(o.engine.org_admins(at("2026-11-23T12:00:00Z")), vec![admin]);
}

#[test]
fn a_policy_without_notifications_loads_with_the_defaults_and_writes_alike() {
    let stored = r#"{"mfa_required":true,"passkeys_only":false}"#;
    let policy: Policy = serde_json::from_str(stored).unwrap();
    assert!(policy.notifications.email);
    assert_eq!(policy.notifications.lang, Lang::Ja);
    assert_eq!(policy.notifications.webhook_url, None);
    assert!(!policy.notifications.webhook_secret_set);
    assert_eq!(serde_json::to_string(&policy).unwrap(), stored);

    let set: Policy = serde_json::from_str(
        r#"{"notifications":{"email":false,"webhook_url":"https://hooks.example/x","lang":"en"}}"#,
    )
    .unwrap();
    assert!(!set.notifications.email);
    assert_eq!(set.notifications.lang, Lang::En);
    assert!(serde_json::from_str::<Policy>(r#"{"notifications":{"lang":"fr"}}"#).is_err());
}

#[test]
fn a_policy_written_without_a_new_webhook_secret_keeps_the_stored_one() {
    let mut o = org();
    let mut policy = Policy::default();
    policy.notifications.webhook_url = Some("https://hooks.example/x".into());
    policy.notifications.webhook_secret_set = true;
    o.run(Command::UpdateOrg {
        limits: None,
        policy: Some(policy),
    });
    let mut again = Policy::default();
    again.notifications.lang = Lang::En;
    o.run(Command::UpdateOrg {
        limits: None,
        policy: Some(again),
    });
    let now = &o.engine.model().org.policy.notifications;
    assert!(now.webhook_secret_set);
    assert_eq!(now.lang, Lang::En);
    assert_eq!(now.webhook_url, None);
}
