//! A fixture installation built through the API, for tests that ask who may do what over HTTP.
//!
//! The instance administrator creates two organisations, `acme` and `other`; acme's
//! administrator then builds:
//!
//! ```text
//! acme                       org-admin: admin · operator: operator · viewer: viewer
//! ├── eng (folder)           folder-admin: admin
//! │   ├── payments (project) vm-1 (linked to billing), vm-3 · guardrail `payments-cap`
//! │   │                      binding `inside`: group:ops-team vm-operator
//! │   └── billing (project)
//! ├── ops (project)          vm-2 (linked to lab) · guardrail `ops-cap`
//! │                          binding `outside`: group:ops-team vm-operator
//! └── lab (project)
//! ```
//!
//! with the catalog type `vm` (read, power, snapshot.create), the custom role `vm-operator`, the
//! group `ops-team` (holding `user:spare`), the user `spare` and the service account `robot`.
//! `other` has its administrator `other-admin` and a folder `secret`. Everyone logs in with
//! `POST /v1/auth/login`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::http::{Answer, Http};

/// The password of every user of the fixture (and of its instance administrator).
pub const PASSWORD: &str = "fixture-password-1";
/// The instance administrator's username.
pub const INSTANCE_ADMIN: &str = "root";

/// The callers whose permissions the fixture exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Who {
    /// No credentials.
    Anonymous,
    /// The administrator of the organisation `other`.
    OtherAdmin,
    /// `folder-admin`: `admin` at `acme/eng`.
    FolderAdmin,
    /// `operator`: `operator` at acme's root.
    Operator,
    /// `viewer`: `viewer` at acme's root.
    Viewer,
    /// The instance administrator.
    InstanceAdmin,
    /// `org-admin`: `admin` at acme's root.
    OrgAdmin,
}

impl Who {
    /// Every caller, in the order of the authorisation matrix's columns.
    pub const ALL: [Who; 7] = [
        Who::Anonymous,
        Who::OtherAdmin,
        Who::FolderAdmin,
        Who::Operator,
        Who::Viewer,
        Who::InstanceAdmin,
        Who::OrgAdmin,
    ];

    /// How messages name the caller.
    pub fn name(self) -> &'static str {
        match self {
            Who::Anonymous => "anonymous",
            Who::OtherAdmin => "other-admin",
            Who::FolderAdmin => "folder-admin",
            Who::Operator => "operator",
            Who::Viewer => "viewer",
            Who::InstanceAdmin => "instance-admin",
            Who::OrgAdmin => "org-admin",
        }
    }
}

/// The fixture, built: a client, everyone's token and the IDs of what was created.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// A client of the server.
    pub http: Http,
    tokens: BTreeMap<Who, String>,
    ids: BTreeMap<String, String>,
}

/// One request of the fixture's construction: who sends it, and what.
struct Step {
    who: Who,
    method: &'static str,
    path: String,
    body: Value,
    /// Under which key to keep the created object's `id`.
    keep: Option<&'static str>,
}

fn step(who: Who, method: &'static str, path: &str, body: Value) -> Step {
    Step {
        who,
        method,
        path: path.to_string(),
        body,
        keep: None,
    }
}

fn keep(mut s: Step, key: &'static str) -> Step {
    s.keep = Some(key);
    s
}

fn node(kind: &str, name: &str, parent: &str) -> Step {
    let body = json!({"kind": kind, "name": name, "parent": parent});
    step(Who::OrgAdmin, "POST", "/v1/orgs/acme/nodes", body)
}

fn binding(subject: &str, role: &str, scope: &str) -> Step {
    let body = json!({"subject": subject, "role": role, "scope": scope});
    step(Who::OrgAdmin, "POST", "/v1/orgs/acme/bindings", body)
}

fn user(name: &str) -> Step {
    let body = json!({"username": name, "password": PASSWORD});
    step(Who::OrgAdmin, "POST", "/v1/orgs/acme/users", body)
}

fn resource(name: &str, parent: &str, links: &[&str]) -> Step {
    let body = json!({"type": "vm", "name": name, "parent": parent, "links": links});
    step(Who::OrgAdmin, "POST", "/v1/orgs/acme/resources", body)
}

fn guardrail(name: &str, node: &str) -> Step {
    let statements = json!([{"effect": "deny", "actions": ["vm.snapshot.create"]}]);
    let body = json!({"name": name, "node": node, "statements": statements});
    step(Who::OrgAdmin, "POST", "/v1/orgs/acme/guardrails", body)
}

fn new_org(name: &str, admin: &str) -> Step {
    let body = json!({"name": name, "admin": {"username": admin, "password": PASSWORD}});
    keep(
        step(Who::InstanceAdmin, "POST", "/v1/orgs", body),
        if name == "acme" {
            "org:acme"
        } else {
            "org:other"
        },
    )
}

/// The catalog of the fixture.
pub fn catalog() -> Value {
    json!({"types": {"vm": {"read": "read", "power": "operate", "snapshot.create": "configure"}}})
}

/// The statements of the custom role `vm-operator`.
pub fn vm_operator() -> Value {
    json!([{"effect": "allow", "actions": ["vm.read", "vm.power"]}])
}

impl Fixture {
    /// Builds the fixture on the server at `base`, whose instance administrator is
    /// [`INSTANCE_ADMIN`] with [`PASSWORD`].
    pub async fn build(base: &str) -> Result<Fixture, String> {
        let http = Http::new(base);
        let mut f = Fixture {
            tokens: BTreeMap::new(),
            ids: BTreeMap::new(),
            http: http.clone(),
        };
        let root = http.login(None, INSTANCE_ADMIN, PASSWORD).await?;
        f.tokens.insert(Who::InstanceAdmin, root);
        f.run(vec![
            new_org("acme", "org-admin"),
            new_org("other", "other-admin"),
        ])
        .await?;
        f.tokens.insert(
            Who::OrgAdmin,
            http.login(Some("acme"), "org-admin", PASSWORD).await?,
        );
        f.tokens.insert(
            Who::OtherAdmin,
            http.login(Some("other"), "other-admin", PASSWORD).await?,
        );
        f.run(Self::acme()).await?;
        let secret = json!({"kind": "folder", "name": "secret", "parent": "other"});
        let secret = step(Who::OtherAdmin, "POST", "/v1/orgs/other/nodes", secret);
        f.run(vec![keep(secret, "node:secret")]).await?;
        for (who, name) in [
            (Who::FolderAdmin, "folder-admin"),
            (Who::Operator, "operator"),
            (Who::Viewer, "viewer"),
        ] {
            f.tokens
                .insert(who, http.login(Some("acme"), name, PASSWORD).await?);
        }
        // An API token of the viewer's and a key of the robot's, to revoke.
        let token = step(
            Who::Viewer,
            "POST",
            "/v1/orgs/acme/users/viewer/tokens",
            json!({"name": "laptop"}),
        );
        let key = step(
            Who::OrgAdmin,
            "POST",
            "/v1/orgs/acme/service-accounts/robot/keys",
            json!({"name": "deploy"}),
        );
        f.run(vec![keep(token, "token:viewer"), keep(key, "key:robot")])
            .await?;
        Ok(f)
    }

    /// The organisation `acme`, built by its administrator.
    fn acme() -> Vec<Step> {
        let group = json!({"name": "ops-team"});
        let role = json!({"name": "vm-operator", "statements": vm_operator()});
        let member = json!({"mode": "include"});
        vec![
            step(Who::OrgAdmin, "PUT", "/v1/orgs/acme/catalog", catalog()),
            node("folder", "eng", "acme"),
            node("project", "payments", "acme/eng"),
            node("project", "billing", "acme/eng"),
            node("project", "ops", "acme"),
            node("project", "lab", "acme"),
            resource("vm-1", "acme/eng/payments", &["acme/eng/billing"]),
            resource("vm-3", "acme/eng/payments", &[]),
            resource("vm-2", "acme/ops", &["acme/lab"]),
            user("folder-admin"),
            user("operator"),
            user("viewer"),
            user("spare"),
            step(
                Who::OrgAdmin,
                "POST",
                "/v1/orgs/acme/service-accounts",
                json!({"name": "robot"}),
            ),
            step(Who::OrgAdmin, "POST", "/v1/orgs/acme/groups", group),
            step(
                Who::OrgAdmin,
                "PUT",
                "/v1/orgs/acme/groups/ops-team/members/user:spare",
                member,
            ),
            step(Who::OrgAdmin, "POST", "/v1/orgs/acme/roles", role),
            binding("user:folder-admin", "admin", "acme/eng"),
            binding("user:operator", "operator", "acme"),
            binding("user:viewer", "viewer", "acme"),
            keep(
                binding("group:ops-team", "vm-operator", "acme/eng/payments"),
                "binding:inside",
            ),
            keep(
                binding("group:ops-team", "vm-operator", "acme/ops"),
                "binding:outside",
            ),
            guardrail("payments-cap", "acme/eng/payments"),
            guardrail("ops-cap", "acme/ops"),
        ]
    }

    async fn run(&mut self, steps: Vec<Step>) -> Result<(), String> {
        for s in steps {
            let path = s.path;
            let a = self
                .http
                .send(self.token(s.who), s.method, &path, Some(&s.body))
                .await?;
            if !a.ok() {
                return Err(format!(
                    "fixture: {} {path} as {}: {} {}",
                    s.method,
                    s.who.name(),
                    a.status,
                    a.body
                ));
            }
            if let Some(key) = s.keep {
                let id = a.body["id"].as_str().ok_or(format!("{path}: no id"))?;
                self.ids.insert(key.to_string(), id.to_string());
            }
        }
        Ok(())
    }

    /// The caller's bearer token (`None` for [`Who::Anonymous`]).
    pub fn token(&self, who: Who) -> Option<&str> {
        self.tokens.get(&who).map(String::as_str)
    }

    /// The ID the fixture kept under `key`: `org:acme`, `org:other`, `binding:inside` (at
    /// `acme/eng/payments`), `binding:outside` (at `acme/ops`), `node:secret` (`other/secret`);
    /// empty if there is none.
    pub fn id(&self, key: &str) -> &str {
        self.ids.get(key).map_or("", String::as_str)
    }

    /// Sends a request as `who`.
    pub async fn send(
        &self,
        who: Who,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        self.http.send(self.token(who), method, path, body).await
    }

    /// The installation's `{revision, digest}` (`GET /v1/replica`, as the instance
    /// administrator): equal before and after a request that changed nothing.
    pub async fn replica(&self) -> Result<Value, String> {
        let a = self
            .send(Who::InstanceAdmin, "GET", "/v1/replica", None)
            .await?;
        if a.status != 200 || !a.body["digest"].is_string() {
            return Err(format!("GET /v1/replica: {} {}", a.status, a.body));
        }
        Ok(a.body)
    }
}
