//! The reference workload "flexorgs-max" of DESIGN §7, generated deterministically from a seed:
//! one organisation with a 10-level tree, a Proxmox-like catalog, users in groups, bindings over
//! five roles (and restrictive deny bindings), guardrails, and random check requests.

mod requests;
mod tree;

use canopy_core::action::{ActionClass, ActionPattern, Catalog, Effect, Statement};
use canopy_core::ids::{BindingId, GuardrailId, NodeId, PrincipalId, RoleId};
use canopy_core::model::{
    Binding, Conditions, Credentials, Group, Guardrail, Limits, ManualMode, Membership, Org,
    OrgModel, Policy, Role, Scope, User,
};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeSet;

pub use requests::Request;
use tree::Tree;

/// When every object of the workload was created: 2026-01-01T00:00:00Z.
pub const CREATED_AT: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// The time at which the requests are checked: one day after [`CREATED_AT`].
pub const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000 + 86_400_000);

/// The organisation's ID (also its root node's ID).
pub const ORG_ID: &str = "org_flexorgs";

/// The user that holds `admin` at the root, so that the organisation is valid (§3.7).
pub const ROOT_ADMIN_ID: &str = "usr_root-admin";

/// The custom role with deny statements: allow `vm.*`, deny `vm.delete`.
pub const VM_OPERATOR_ROLE: &str = "rol_vm-operator";

/// The restrictive (deny-only) role: deny `vm.power`.
pub const NO_POWER_ROLE: &str = "rol_no-power";

/// A name or ID the generator made up was refused by the core's parser (a bug in the generator).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("the generated {kind} `{value}` is not valid")]
pub struct Invalid {
    /// What it was meant to be: name, node ID, pattern…
    pub kind: &'static str,
    /// The text that was refused.
    pub value: String,
}

/// The sizes of a workload.
#[derive(Clone, Copy, PartialEq, Debug, Serialize)]
pub struct Scale {
    /// Folders and projects (the organisation not counted).
    pub nodes: usize,
    /// Levels of folders and projects below the organisation.
    pub levels: usize,
    /// How many times more nodes each level has than the one above it.
    pub growth: f64,
    /// Resources, spread over the projects.
    pub resources: usize,
    /// Share of resources linked to a second project.
    pub link_share: f64,
    /// Users (the root admin not counted).
    pub users: usize,
    /// Groups.
    pub groups: usize,
    /// Groups each user is manually included in.
    pub groups_per_user: usize,
    /// Bindings, deny bindings included (the root admin's not counted).
    pub bindings: usize,
    /// Bindings of the restrictive (deny-only) role.
    pub deny_bindings: usize,
    /// Bindings at the organisation root.
    pub root_bindings: usize,
    /// Share of bindings scoped to a single resource.
    pub resource_binding_share: f64,
    /// Guardrails, each on a different folder.
    pub guardrails: usize,
    /// Check requests.
    pub requests: usize,
}

impl Scale {
    /// The full "flexorgs-max" workload of DESIGN §7.
    pub const MAX: Scale = Scale {
        nodes: 5_000,
        levels: 10,
        growth: 2.0,
        resources: 100_000,
        link_share: 0.01,
        users: 10_000,
        groups: 1_000,
        groups_per_user: 3,
        bindings: 20_000,
        deny_bindings: 100,
        root_bindings: 10,
        resource_binding_share: 0.1,
        guardrails: 20,
        requests: 100_000,
    };

    /// About a hundredth of [`Scale::MAX`], for quick runs and tests.
    pub const SMALL: Scale = Scale {
        nodes: 50,
        levels: 10,
        growth: 1.2,
        resources: 1_000,
        link_share: 0.01,
        users: 100,
        groups: 30,
        groups_per_user: 3,
        bindings: 120,
        deny_bindings: 5,
        root_bindings: 0,
        resource_binding_share: 0.1,
        guardrails: 4,
        requests: 1_000,
    };
}

/// A generated workload: the organisation and the requests to check against it.
#[derive(Clone, PartialEq, Debug)]
pub struct Workload {
    /// The organisation as plain data.
    pub model: OrgModel,
    /// Check requests, as strings (subject ID, action name, target ID).
    pub requests: Vec<Request>,
}

/// Generates the workload of `scale` from `seed`; the same seed always gives the same workload.
pub fn generate(seed: u64, scale: &Scale) -> Result<Workload, Invalid> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut model = OrgModel::new(org()?);
    model.catalog = catalog();
    let tree = Tree::generate(&mut rng, scale, &mut model)?;
    add_principals(&mut rng, scale, &mut model)?;
    add_roles(&mut model)?;
    add_bindings(&mut rng, scale, &tree, &mut model)?;
    add_guardrails(&mut rng, scale, &tree, &mut model)?;
    let requests = requests::generate(&mut rng, scale, &tree, &model);
    Ok(Workload { model, requests })
}

/// Parses something the generator made up.
fn parsed<T>(
    kind: &'static str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, Invalid> {
    parse(value).ok_or_else(|| Invalid {
        kind,
        value: value.to_string(),
    })
}

fn name(s: &str) -> Result<Name, Invalid> {
    parsed("name", s, |s| Name::parse(s).ok())
}

fn org_id() -> Result<NodeId, Invalid> {
    parsed("node ID", ORG_ID, NodeId::parse)
}

fn principal_id(s: &str) -> Result<PrincipalId, Invalid> {
    parsed("principal ID", s, PrincipalId::parse)
}

fn role_id(s: &str) -> Result<RoleId, Invalid> {
    parsed("role ID", s, RoleId::parse)
}

fn statement(effect: Effect, patterns: &[&str]) -> Result<Statement, Invalid> {
    let actions = patterns
        .iter()
        .map(|p| parsed("action pattern", p, ActionPattern::parse))
        .collect::<Result<_, _>>()?;
    Ok(Statement {
        effect,
        actions,
        classes: vec![],
    })
}

fn org() -> Result<Org, Invalid> {
    Ok(Org {
        id: org_id()?,
        name: name("flexorgs")?,
        limits: Limits::default(),
        policy: Policy::default(),
        created_at: CREATED_AT,
    })
}

/// A Proxmox-like catalog: VMs, storage, cluster nodes and data centres.
pub fn catalog() -> Catalog {
    use ActionClass::{Admin, Configure, Operate, Read};
    let types: [(&str, &[(&str, ActionClass)]); 4] = [
        (
            "vm",
            &[
                ("power", Operate),
                ("read", Read),
                ("snapshot.create", Configure),
                ("console", Operate),
                ("delete", Admin),
            ],
        ),
        ("storage", &[("read", Read), ("allocate", Configure)]),
        ("node", &[("read", Read), ("reboot", Operate)]),
        ("datacenter", &[("read", Read), ("configure", Configure)]),
    ];
    let mut catalog = Catalog::default();
    for (ty, actions) in types {
        let actions = actions.iter().map(|(a, c)| (a.to_string(), *c)).collect();
        catalog.types.insert(ty.to_string(), actions);
    }
    catalog
}

fn user(id: &str, username: &str) -> Result<User, Invalid> {
    Ok(User {
        id: principal_id(id)?,
        username: name(username)?,
        email: None,
        display_name: None,
        enabled: true,
        break_glass: false,
        credentials: Credentials {
            password: true,
            totp: false,
            passkeys: 0,
        },
        created_at: CREATED_AT,
    })
}

/// The ID of the `i`-th generated user.
pub fn user_id(i: usize) -> String {
    format!("usr_{i:05}")
}

fn group_id(i: usize) -> String {
    format!("grp_{i:04}")
}

/// Users, groups, and each user's manual inclusion in `groups_per_user` random groups.
fn add_principals(
    rng: &mut ChaCha8Rng,
    scale: &Scale,
    model: &mut OrgModel,
) -> Result<(), Invalid> {
    let root_admin = user(ROOT_ADMIN_ID, "root-admin")?;
    model.users.insert(root_admin.id.clone(), root_admin);
    for i in 0..scale.users {
        let u = user(&user_id(i), &format!("user-{i}"))?;
        model.users.insert(u.id.clone(), u);
    }
    let groups: Vec<PrincipalId> = (0..scale.groups)
        .map(|i| principal_id(&group_id(i)))
        .collect::<Result<_, _>>()?;
    for (i, id) in groups.iter().enumerate() {
        let g = Group {
            id: id.clone(),
            name: name(&format!("group-{i}"))?,
            created_at: CREATED_AT,
        };
        model.groups.insert(id.clone(), g);
    }
    let per_user = scale.groups_per_user.min(scale.groups);
    for i in 0..scale.users {
        let member = principal_id(&user_id(i))?;
        for g in rand::seq::index::sample(rng, scale.groups, per_user) {
            let m = Membership {
                group: groups[g].clone(),
                member: member.clone(),
                manual: Some(ManualMode::Include),
                mapped: BTreeSet::new(),
            };
            model
                .memberships
                .insert((m.group.clone(), m.member.clone()), m);
        }
    }
    Ok(())
}

/// The two custom roles: one with a deny statement, one restrictive (deny-only).
fn add_roles(model: &mut OrgModel) -> Result<(), Invalid> {
    let roles = [
        Role {
            id: role_id(VM_OPERATOR_ROLE)?,
            name: name("vm-operator")?,
            statements: vec![
                statement(Effect::Allow, &["vm.*"])?,
                statement(Effect::Deny, &["vm.delete"])?,
            ],
            system: false,
        },
        Role {
            id: role_id(NO_POWER_ROLE)?,
            name: name("no-power")?,
            statements: vec![statement(Effect::Deny, &["vm.power"])?],
            system: false,
        },
    ];
    for r in roles {
        model.roles.insert(r.id.clone(), r);
    }
    Ok(())
}

/// One of the five roles of ordinary bindings, by weight.
fn pick_role(rng: &mut ChaCha8Rng) -> Result<RoleId, Invalid> {
    let id = match rng.random_range(0..100) {
        0..35 => "rol_viewer",
        35..65 => "rol_operator",
        65..80 => "rol_power-user",
        80..95 => VM_OPERATOR_ROLE,
        _ => "rol_admin",
    };
    role_id(id)
}

/// A group (75 %) or a user (25 %).
fn pick_principal(rng: &mut ChaCha8Rng, scale: &Scale) -> Result<PrincipalId, Invalid> {
    if rng.random_bool(0.75) {
        principal_id(&group_id(rng.random_range(0..scale.groups)))
    } else {
        principal_id(&user_id(rng.random_range(0..scale.users)))
    }
}

fn binding(
    id: &str,
    principal: PrincipalId,
    role: RoleId,
    scope: Scope,
) -> Result<Binding, Invalid> {
    Ok(Binding {
        id: parsed("binding ID", id, BindingId::parse)?,
        principal,
        role,
        scope,
        expires_at: None,
        conditions: Conditions::default(),
        created_at: CREATED_AT,
    })
}

/// Bindings: 75 % to groups, 25 % to users; `deny_bindings` of the restrictive role on nodes near
/// the top; `root_bindings` of viewer or operator at the root; a share on single resources; the
/// rest on random nodes. And the root admin's binding.
fn add_bindings(
    rng: &mut ChaCha8Rng,
    scale: &Scale,
    tree: &Tree,
    model: &mut OrgModel,
) -> Result<(), Invalid> {
    let root = Scope::Node(org_id()?);
    let admin = binding(
        "bnd_root-admin",
        principal_id(ROOT_ADMIN_ID)?,
        role_id("rol_admin")?,
        root.clone(),
    )?;
    model.bindings.insert(admin.id.clone(), admin);
    for i in 0..scale.bindings {
        let principal = pick_principal(rng, scale)?;
        let (role, scope) = if i < scale.deny_bindings {
            (role_id(NO_POWER_ROLE)?, Scope::Node(tree.upper_node(rng)))
        } else if i < scale.deny_bindings + scale.root_bindings {
            let role = if rng.random_bool(0.5) {
                "rol_viewer"
            } else {
                "rol_operator"
            };
            (role_id(role)?, root.clone())
        } else if rng.random_bool(scale.resource_binding_share) {
            (pick_role(rng)?, Scope::Resource(tree.random_resource(rng)))
        } else {
            (pick_role(rng)?, Scope::Node(tree.random_node(rng)))
        };
        let b = binding(&format!("bnd_{i:06}"), principal, role, scope)?;
        model.bindings.insert(b.id.clone(), b);
    }
    Ok(())
}

/// Guardrails on distinct folders near the top: allow-lists (reads and VM power, one with a deny
/// beside it) and denies.
fn add_guardrails(
    rng: &mut ChaCha8Rng,
    scale: &Scale,
    tree: &Tree,
    model: &mut OrgModel,
) -> Result<(), Invalid> {
    for (i, node) in tree
        .guardrail_folders(rng, scale.guardrails)
        .into_iter()
        .enumerate()
    {
        let statements = match i % 4 {
            0 => vec![statement(Effect::Allow, &["*.read", "vm.power"])?],
            1 => vec![statement(Effect::Deny, &["vm.delete"])?],
            2 => vec![
                statement(
                    Effect::Allow,
                    &["*.read", "*.*.read", "vm.power", "vm.console"],
                )?,
                statement(Effect::Deny, &["vm.console"])?,
            ],
            _ => vec![statement(
                Effect::Deny,
                &["storage.allocate", "vm.snapshot.create"],
            )?],
        };
        let g = Guardrail {
            id: parsed("guardrail ID", &format!("grd_{i:03}"), GuardrailId::parse)?,
            name: name(&format!("guard-{i}"))?,
            node,
            statements,
        };
        model.guardrails.insert(g.id.clone(), g);
    }
    Ok(())
}
