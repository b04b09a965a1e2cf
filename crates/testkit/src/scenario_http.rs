//! The scenarios of `tests/scenarios/`, played against a real server over HTTP: the set-up as one
//! `apply`, each `do` step as the API request it stands for (several as one `apply`), each
//! question through its endpoint, each `diff` through `plan`.
//!
//! The server runs on the real clock, so the scenario's times are shifted by the difference
//! between its `now` and the real time. What cannot be played over HTTP is reported as skipped,
//! never passed: moving the clock into the future (`at:` later than now). TOTP enrolment is
//! played as its two requests with a code computed from the secret, and a step acting from an
//! MFA-verified session logs in with a TOTP code.

use serde_json::{Value, json};

use crate::http::{Answer, Http, seg};
use crate::scenario::{
    BindingSpec, Cmd, GuardrailSpec, Scenario, Step, TreeEntry, UserSpec, expect_set,
    holding_suffix, time,
};
use canopy_core::engine::{Fix, Holding};
use canopy_core::messages::{self, Lang};
use canopy_core::model::{Conditions, CredentialKind};
use canopy_core::time::Timestamp;

/// The password every scenario user gets over HTTP.
pub const PASSWORD: &str = "scenario-password-1";

/// How a scenario went over HTTP: the steps that could not be played, with why, and every
/// question it asked.
#[derive(Debug, Default)]
pub struct Played {
    /// `step N: why`.
    pub skipped: Vec<String>,
    /// The questions, in order, to ask again elsewhere ([`ask_again`]).
    pub asked: Vec<Asked>,
}

/// A question a scenario asked (a decision, an explanation, a listing's first page).
#[derive(Debug, Clone)]
pub struct Asked {
    /// The username of who asked.
    pub actor: String,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path below the organisation (`/check`).
    pub rest: String,
    /// The body.
    pub body: Option<Value>,
}

/// A request of the API, as `plan` and `apply` carry it.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    body: Option<Value>,
}

impl Req {
    fn new(method: &'static str, path: String, body: Option<Value>) -> Req {
        Req { method, path, body }
    }
    fn planned(&self) -> Value {
        let mut v = json!({"method": self.method, "path": self.path});
        if let Some(b) = &self.body {
            v["body"] = b.clone();
        }
        v
    }
}

/// Why a command cannot be sent over HTTP yet.
struct Unsupported(String);

struct Run<'a> {
    http: &'a Http,
    s: &'a Scenario,
    org_path: String,
    admin: String,
    /// Milliseconds from the scenario's clock to the real one.
    shift: i64,
    tokens: std::collections::BTreeMap<String, String>,
    /// The TOTP secrets of the users who enrolled one, by username.
    totp_secrets: std::collections::BTreeMap<String, String>,
    /// Sessions verified with TOTP, by actor.
    mfa_tokens: std::collections::BTreeMap<String, String>,
    /// Who asks the current step's questions.
    actor: String,
    /// The questions asked so far.
    asked: std::sync::Mutex<Vec<Asked>>,
}

/// Plays `s` on the server; `instance` is an instance administrator's token. The organisation
/// is created first and deleted at the end.
pub async fn run_over_http(s: &Scenario, http: &Http, instance: &str) -> Result<Played, String> {
    play_over_http(s, http, instance, false).await
}

/// [`run_over_http`], leaving the organisation in place (a backup's test asks its questions
/// again on restored stores).
pub async fn run_over_http_keeping(
    s: &Scenario,
    http: &Http,
    instance: &str,
) -> Result<Played, String> {
    play_over_http(s, http, instance, true).await
}

async fn play_over_http(
    s: &Scenario,
    http: &Http,
    instance: &str,
    keep: bool,
) -> Result<Played, String> {
    let now = now_millis();
    let shift = now - time(&s.now)?.millis();
    let created = http
        .send(
            Some(instance),
            "POST",
            "/v1/orgs",
            Some(&json!({"name": s.org, "admin": {"username": s.admin, "password": PASSWORD}})),
        )
        .await?;
    if created.status != 201 {
        return Err(format!("create org: {} {}", created.status, created.body));
    }
    let admin = http.login(Some(&s.org), &s.admin, PASSWORD).await?;
    let mut run = Run {
        http,
        s,
        org_path: format!("/v1/orgs/{}", seg(&s.org)),
        admin,
        shift,
        tokens: Default::default(),
        totp_secrets: Default::default(),
        mfa_tokens: Default::default(),
        actor: s.admin.clone(),
        asked: Default::default(),
    };
    let result = run.play_all().await;
    if keep {
        return result;
    }
    let deleted = http
        .send(Some(instance), "DELETE", &run.org_path, None)
        .await?;
    if deleted.status != 200 {
        return Err(format!("delete org: {} {}", deleted.status, deleted.body));
    }
    result
}

/// The real time: the server decides by its clock, so the scenario's times are shifted to it.
#[allow(clippy::disallowed_methods)]
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Run<'_> {
    async fn play_all(&mut self) -> Result<Played, String> {
        let setup = self.setup()?;
        let a = self.apply(&self.admin.clone(), &setup).await?;
        if !a.ok() {
            return Err(format!("set-up: {} {}", a.status, a.body));
        }
        let mut played = Played::default();
        let mut failures = Vec::new();
        for (i, step) in self.s.steps.iter().enumerate() {
            let label = format!("step {} ({})", i + 1, step.note.as_deref().unwrap_or(""));
            if let Some(t) = &step.at {
                let at = time(t)?.millis() + self.shift;
                if at > now_millis() {
                    played.skipped.push(format!(
                        "{label} and after: the real clock cannot be moved to {t}"
                    ));
                    break;
                }
            }
            match self.play(step).await {
                Ok(None) => {}
                Ok(Some(why)) => played.skipped.push(format!("{label}: {why}")),
                Err(e) => failures.push(format!("{label}: {e}")),
            }
        }
        played.asked = std::mem::take(&mut *self.asked.lock().map_err(|e| e.to_string())?);
        if failures.is_empty() {
            Ok(played)
        } else {
            Err(failures.join("\n"))
        }
    }

    fn shifted(&self, t: &str) -> Result<String, String> {
        Ok(Timestamp::from_millis(time(t)?.millis() + self.shift).to_string())
    }

    fn org_req(&self, method: &'static str, rest: &str, body: Option<Value>) -> Req {
        Req::new(method, format!("{}{rest}", self.org_path), body)
    }

    fn binding_body(&self, b: &BindingSpec) -> Result<Value, String> {
        let mut v = json!({"subject": b.subject, "role": b.role, "scope": b.scope});
        if let Some(t) = &b.expires_at {
            v["expires_at"] = json!(self.shifted(t)?);
        }
        if let Some(c) = &b.conditions {
            v["conditions"] = serde_json::to_value(c).map_err(|e| e.to_string())?;
        }
        Ok(v)
    }

    fn guardrail_body(g: &GuardrailSpec) -> Value {
        json!({"name": g.name, "node": g.node, "statements": g.statements})
    }

    /// The scenario's organisation as API requests, in the order the engine runner uses.
    fn setup(&self) -> Result<Vec<Req>, String> {
        let s = self.s;
        let mut out = Vec::new();
        if !s.catalog.is_empty() {
            out.push(self.org_req("PUT", "/catalog", Some(json!({"types": s.catalog}))));
        }
        let mut resources = Vec::new();
        self.tree(&s.tree, &s.org, &mut out, &mut resources);
        out.extend(resources);
        for u in &s.users {
            let (name, enabled, password, totp) = match u {
                UserSpec::Name(n) => (n.clone(), true, true, false),
                UserSpec::Detailed(d) => (d.name.clone(), d.enabled, d.password, d.totp),
            };
            if totp {
                return Err(format!("user {name}: TOTP enrolment is not in the API yet"));
            }
            let mut body = json!({"username": name});
            if password {
                body["password"] = json!(PASSWORD);
            }
            out.push(self.org_req("POST", "/users", Some(body)));
            if !enabled {
                out.push(self.org_req(
                    "PATCH",
                    &format!("/users/{}", seg(&name)),
                    Some(json!({"enabled": false})),
                ));
            }
        }
        for sa in &s.service_accounts {
            out.push(self.org_req("POST", "/service-accounts", Some(json!({"name": sa}))));
        }
        for g in &s.groups {
            out.push(self.org_req("POST", "/groups", Some(json!({"name": g.name}))));
        }
        for r in &s.roles {
            out.push(self.org_req(
                "POST",
                "/roles",
                Some(json!({"name": r.name, "statements": r.statements})),
            ));
        }
        for b in &s.bindings {
            out.push(self.org_req("POST", "/bindings", Some(self.binding_body(b)?)));
        }
        for g in &s.groups {
            let entries = g
                .include
                .iter()
                .map(|m| (m, json!({"mode": "include"})))
                .chain(g.exclude.iter().map(|m| (m, json!({"mode": "exclude"}))))
                .chain(
                    g.mapped
                        .iter()
                        .map(|m| (&m.member, json!({"mode": "mapped", "source": m.source}))),
                );
            for (member, body) in entries {
                out.push(self.org_req(
                    "PUT",
                    &format!("/groups/{}/members/{}", seg(&g.name), seg(member)),
                    Some(body),
                ));
            }
        }
        for g in &s.guardrails {
            out.push(self.org_req("POST", "/guardrails", Some(Self::guardrail_body(g))));
        }
        if let Some(p) = &s.policy {
            out.push(self.org_req("PATCH", "", Some(json!({"policy": p}))));
        }
        Ok(out)
    }

    fn tree(&self, entries: &[TreeEntry], parent: &str, nodes: &mut Vec<Req>, res: &mut Vec<Req>) {
        for e in entries {
            match e {
                TreeEntry::Folder {
                    folder: n,
                    children,
                }
                | TreeEntry::Project {
                    project: n,
                    children,
                } => {
                    let kind = if matches!(e, TreeEntry::Folder { .. }) {
                        "folder"
                    } else {
                        "project"
                    };
                    nodes.push(self.org_req(
                        "POST",
                        "/nodes",
                        Some(json!({"kind": kind, "name": n, "parent": parent})),
                    ));
                    self.tree(children, &format!("{parent}/{n}"), nodes, res);
                }
                TreeEntry::Resource {
                    resource,
                    type_name,
                    links,
                } => res.push(self.org_req(
                    "POST",
                    "/resources",
                    Some(json!({"type": type_name, "name": resource, "parent": parent, "links": links})),
                )),
            }
        }
    }

    /// The API request a scenario command stands for.
    async fn request(&self, c: &Cmd) -> Result<Result<Req, Unsupported>, String> {
        let user = |u: &str| format!("/users/{}", seg(u.strip_prefix("user:").unwrap_or(u)));
        let r = match c {
            Cmd::CreateFolder { name, parent } => self.org_req(
                "POST",
                "/nodes",
                Some(json!({"kind": "folder", "name": name, "parent": parent})),
            ),
            Cmd::CreateProject { name, parent } => self.org_req(
                "POST",
                "/nodes",
                Some(json!({"kind": "project", "name": name, "parent": parent})),
            ),
            Cmd::MoveNode { node, parent } => self.org_req(
                "PATCH",
                &format!("/nodes/{}", seg(node)),
                Some(json!({"parent": parent})),
            ),
            Cmd::DeleteNode { node, cascade } => self.org_req(
                "DELETE",
                &format!("/nodes/{}?cascade={cascade}", seg(node)),
                None,
            ),
            Cmd::CreateResource {
                name,
                type_name,
                parent,
                links,
            } => self.org_req(
                "POST",
                "/resources",
                Some(json!({"type": type_name, "name": name, "parent": parent, "links": links})),
            ),
            Cmd::MoveResource { resource, parent } => self.org_req(
                "PATCH",
                &format!("/resources/{}", seg(resource)),
                Some(json!({"parent": parent})),
            ),
            Cmd::LinkResource { resource, project } => self.org_req(
                "POST",
                &format!("/resources/{}/links", seg(resource)),
                Some(json!({"project": project})),
            ),
            Cmd::UnlinkResource { resource, project } => self.org_req(
                "DELETE",
                &format!("/resources/{}/links/{}", seg(resource), seg(project)),
                None,
            ),
            Cmd::DeleteResource { resource, cascade } => self.org_req(
                "DELETE",
                &format!("/resources/{}?cascade={cascade}", seg(resource)),
                None,
            ),
            Cmd::PutCatalog { types } => {
                self.org_req("PUT", "/catalog", Some(json!({"types": types})))
            }
            Cmd::CreateUser { name } => self.org_req(
                "POST",
                "/users",
                Some(json!({"username": name, "password": PASSWORD})),
            ),
            Cmd::DisableUser { user: u } => {
                self.org_req("PATCH", &user(u), Some(json!({"enabled": false})))
            }
            Cmd::EnableUser { user: u } => {
                self.org_req("PATCH", &user(u), Some(json!({"enabled": true})))
            }
            Cmd::DeleteUser { user: u, cascade } => {
                self.org_req("DELETE", &format!("{}?cascade={cascade}", user(u)), None)
            }
            Cmd::SetCredential {
                user: u,
                kind: CredentialKind::Password,
            } => self.org_req("PATCH", &user(u), Some(json!({"password": PASSWORD}))),
            Cmd::RemoveCredential {
                user: u,
                kind: CredentialKind::Password,
            } => self.org_req("PATCH", &user(u), Some(json!({"password": null}))),
            Cmd::SetCredential {
                kind: CredentialKind::Passkey,
                ..
            }
            | Cmd::RemoveCredential {
                kind: CredentialKind::Passkey,
                ..
            } => {
                return Ok(Err(Unsupported(
                    "a passkey is registered by its user themself in a WebAuthn ceremony; \
                     this runner plays none (see crates/server/tests/passkeys.rs)"
                        .into(),
                )));
            }
            Cmd::SetCredential { kind, .. } | Cmd::RemoveCredential { kind, .. } => {
                return Ok(Err(Unsupported(format!(
                    "{kind:?} enrolment is not in the API yet (issue 5)"
                ))));
            }
            Cmd::CreateGroup { name } => {
                self.org_req("POST", "/groups", Some(json!({"name": name})))
            }
            Cmd::DeleteGroup { group, cascade } => self.org_req(
                "DELETE",
                &format!("/groups/{}?cascade={cascade}", seg(group)),
                None,
            ),
            Cmd::PutMember {
                group,
                member,
                mode,
                source,
            } => {
                let mut body = json!({"mode": mode});
                if let Some(s) = source {
                    body["source"] = json!(s);
                }
                self.org_req(
                    "PUT",
                    &format!("/groups/{}/members/{}", seg(group), seg(member)),
                    Some(body),
                )
            }
            Cmd::RemoveMember { group, member } => self.org_req(
                "DELETE",
                &format!("/groups/{}/members/{}", seg(group), seg(member)),
                None,
            ),
            Cmd::CreateRole { name, statements } => self.org_req(
                "POST",
                "/roles",
                Some(json!({"name": name, "statements": statements})),
            ),
            Cmd::UpdateRole { role, statements } => self.org_req(
                "PUT",
                &format!("/roles/{}", seg(role)),
                Some(json!({"statements": statements})),
            ),
            Cmd::DeleteRole { role, cascade } => self.org_req(
                "DELETE",
                &format!("/roles/{}?cascade={cascade}", seg(role)),
                None,
            ),
            Cmd::CreateBinding(b) => self.org_req("POST", "/bindings", Some(self.binding_body(b)?)),
            Cmd::DeleteBinding {
                subject,
                role,
                scope,
            } => {
                let path = format!(
                    "{}/bindings?subject={}&role={}&scope={}",
                    self.org_path,
                    seg(subject),
                    seg(role),
                    seg(scope)
                );
                let found = self
                    .http
                    .send(Some(&self.admin), "GET", &path, None)
                    .await?;
                let id = found.body["items"][0]["id"]
                    .as_str()
                    .ok_or_else(|| format!("no binding {subject} {role} {scope}: {}", found.body))?
                    .to_string();
                self.org_req("DELETE", &format!("/bindings/{id}"), None)
            }
            Cmd::CreateGuardrail(g) => {
                self.org_req("POST", "/guardrails", Some(Self::guardrail_body(g)))
            }
            Cmd::UpdateGuardrail { name, statements } => self.org_req(
                "PUT",
                &format!("/guardrails/{}", seg(name)),
                Some(json!({"statements": statements})),
            ),
            Cmd::DeleteGuardrail { name } => {
                self.org_req("DELETE", &format!("/guardrails/{}", seg(name)), None)
            }
            Cmd::SetPolicy(p) => self.org_req("PATCH", "", Some(json!({"policy": p}))),
        };
        Ok(Ok(r))
    }

    async fn apply(&self, token: &str, reqs: &[Req]) -> Result<Answer, String> {
        let commands: Vec<Value> = reqs.iter().map(Req::planned).collect();
        self.http
            .send(
                Some(token),
                "POST",
                &format!("{}/apply", self.org_path),
                Some(&json!({"commands": commands})),
            )
            .await
    }

    /// Enrols TOTP for `user` from `token` (which must be the user's own session): begin, then
    /// confirm with the current code; the confirmation's answer.
    async fn enrol_totp(&mut self, token: &str, user: &str) -> Result<Answer, String> {
        let path = format!("{}/users/{}/totp", self.org_path, seg(user));
        let begun = self.http.send(Some(token), "POST", &path, None).await?;
        let secret = begun.body["secret"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("TOTP enrolment of {user}: {} {}", begun.status, begun.body))?;
        let code = crate::totp::code_at(&secret, crate::totp::now_s());
        let confirmed = self
            .http
            .send(
                Some(token),
                "POST",
                &format!("{path}/confirm"),
                Some(&json!({"code": code})),
            )
            .await?;
        self.totp_secrets.insert(user.to_string(), secret);
        Ok(confirmed)
    }

    async fn token_for(&mut self, step: &Step) -> Result<Result<String, Unsupported>, String> {
        let Some(who) = &step.actor else {
            return Ok(Ok(self.admin.clone()));
        };
        let name = who.strip_prefix("user:").unwrap_or(who);
        if step.context.as_ref().is_some_and(|c| c.mfa) {
            if let Some(t) = self.mfa_tokens.get(who) {
                return Ok(Ok(t.clone()));
            }
            let Some(secret) = self.totp_secrets.get(name) else {
                return Ok(Err(Unsupported(format!(
                    "{who} acts from an MFA-verified session but enrolled no TOTP"
                ))));
            };
            // The code of the next step: the enrolment spent the current one.
            let code = crate::totp::code_at(secret, crate::totp::now_s() + 30);
            let body =
                json!({"org": self.s.org, "username": name, "password": PASSWORD, "totp": code});
            let a = self
                .http
                .send(None, "POST", "/v1/auth/login", Some(&body))
                .await?;
            let token = a.body["token"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("MFA login of {who}: {} {}", a.status, a.body))?;
            self.mfa_tokens.insert(who.clone(), token.clone());
            return Ok(Ok(token));
        }
        if let Some(t) = self.tokens.get(who) {
            return Ok(Ok(t.clone()));
        }
        let token = self.http.login(Some(&self.s.org), name, PASSWORD).await?;
        self.tokens.insert(who.clone(), token.clone());
        Ok(Ok(token))
    }

    async fn org_revision(&self) -> Result<u64, String> {
        let a = self
            .http
            .send(Some(&self.admin), "GET", &self.org_path, None)
            .await?;
        a.body["revision"]
            .as_u64()
            .ok_or_else(|| format!("org read: {} {}", a.status, a.body))
    }

    async fn question(
        &self,
        asker: &str,
        method: &'static str,
        rest: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let a = self
            .http
            .send(
                Some(asker),
                method,
                &format!("{}{rest}", self.org_path),
                body.as_ref(),
            )
            .await?;
        // A later page's cursor is of this server only.
        if !rest.contains("cursor=")
            && let Ok(mut asked) = self.asked.lock()
        {
            asked.push(Asked {
                actor: self.actor.clone(),
                method,
                rest: rest.to_string(),
                body: body.clone(),
            });
        }
        if a.ok() {
            Ok(a.body)
        } else {
            Err(format!("{} {}: {} {}", method, rest, a.status, a.body))
        }
    }

    /// Plays one step; `Some(why)` when it could not be played over HTTP.
    async fn play(&mut self, step: &Step) -> Result<Option<String>, String> {
        let mut context = step
            .context
            .as_ref()
            .map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
        if let Some(Value::Object(c)) = &mut context {
            c.retain(|_, v| !v.is_null());
        }
        // The questions are asked by the step's actor, if it names one (the default
        // administrator may have been disabled by then), from a plain session: the context of
        // the question is in its body.
        self.actor = match &step.actor {
            None => self.s.admin.clone(),
            Some(who) => who.strip_prefix("user:").unwrap_or(who).to_string(),
        };
        let asker = match &step.actor {
            None => self.admin.clone(),
            Some(who) => match self.tokens.get(who) {
                Some(t) => t.clone(),
                None => {
                    let name = who.strip_prefix("user:").unwrap_or(who);
                    let t = self.http.login(Some(&self.s.org), name, PASSWORD).await?;
                    self.tokens.insert(who.clone(), t.clone());
                    t
                }
            },
        };
        let ask = |p: &str, a: &str, t: &str| {
            let mut body = json!({"principal": p, "action": a, "target": t});
            if let Some(c) = &context {
                body["context"] = c.clone();
            }
            body
        };
        if let Some((p, a, t)) = &step.check {
            let d = self
                .question(&asker, "POST", "/check", Some(ask(p, a, t)))
                .await?;
            let allowed = d["allowed"].as_bool();
            if step.allowed.is_some() && step.allowed != allowed {
                return Err(format!(
                    "check {p} {a} {t}: expected allowed={:?}, got {allowed:?}",
                    step.allowed
                ));
            }
        }
        if let Some((p, a, t)) = &step.explain {
            let x = self
                .question(&asker, "POST", "/explain", Some(ask(p, a, t)))
                .await?;
            if step.allowed.is_some() && step.allowed != x["allowed"].as_bool() {
                return Err(format!(
                    "explain {p} {a} {t}: expected allowed={:?}",
                    step.allowed
                ));
            }
            let evidence = |key: &str| -> std::collections::BTreeSet<String> {
                x[key]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|e| {
                                format!(
                                    "{} {} at {}",
                                    e["principal_ref"].as_str().unwrap_or(""),
                                    e["role_name"].as_str().unwrap_or(""),
                                    e["scope_path"].as_str().unwrap_or("")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            expect_set("allowed_by", &step.allowed_by, evidence("allowed_by"))?;
            expect_set("denied_by", &step.denied_by, evidence("denied_by"))?;
            let names = x["blocked_by"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|b| b["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            expect_set("blocked_by", &step.blocked_by, names)?;
            let fixes: Vec<Fix> =
                serde_json::from_value(x["fixes"].clone()).map_err(|e| e.to_string())?;
            expect_set(
                "fixes",
                &step.fixes,
                fixes.iter().map(|f| messages::fix(f, Lang::En)).collect(),
            )?;
        }
        if let Some((a, t)) = &step.who {
            let items = self
                .all_pages(
                    &asker,
                    &format!("/targets/{}/principals?action={}", seg(t), seg(a)),
                )
                .await?;
            let got = items
                .iter()
                .map(|e| format!("{}{}", e["subject_ref"].as_str().unwrap_or(""), suffix(e)))
                .collect();
            expect_set("who", &step.subjects, got)?;
        }
        if let Some((p, a)) = &step.access {
            let mut rest = format!("/principals/{}/access?action={}", seg(p), seg(a));
            if let Some(t) = &step.type_filter {
                rest.push_str(&format!("&type={}", seg(t)));
            }
            let items = self.all_pages(&asker, &rest).await?;
            let got = items
                .iter()
                .map(|e| {
                    format!(
                        "{}{}",
                        e["target"]["path"].as_str().unwrap_or(""),
                        suffix(e)
                    )
                })
                .collect();
            expect_set("access", &step.targets, got)?;
        }
        if let Some((p, t)) = &step.effective {
            let r = self
                .question(
                    &asker,
                    "GET",
                    &format!("/principals/{}/effective?target={}", seg(p), seg(t)),
                    None,
                )
                .await?;
            let got = r["actions"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|e| format!("{}{}", e["action"].as_str().unwrap_or(""), suffix(e)))
                        .collect()
                })
                .unwrap_or_default();
            expect_set("effective", &step.actions, got)?;
        }
        if let Some(cmds) = &step.run {
            let token = match self.token_for(step).await? {
                Ok(t) => t,
                Err(Unsupported(why)) => return Ok(Some(why)),
            };
            // TOTP enrolment is a ceremony of two requests with a code, not an `apply` command:
            // it is played first, on its own (so a step that enrols and changes more is not one
            // atomic change over HTTP; only steps expected to succeed are played so).
            let (enrolments, cmds): (Vec<&Cmd>, Vec<&Cmd>) = cmds.iter().partition(|c| {
                matches!(
                    c,
                    Cmd::SetCredential {
                        kind: CredentialKind::Totp,
                        ..
                    }
                )
            });
            let mut enrolled = None;
            for c in enrolments {
                let Cmd::SetCredential { user, .. } = c else {
                    continue;
                };
                if step.expect.as_deref().is_some_and(|e| e != "ok") {
                    return Ok(Some("a TOTP enrolment expected to fail".into()));
                }
                enrolled = Some(self.enrol_totp(&token, user).await?);
            }
            if cmds.is_empty() {
                if let Some(answer) = enrolled {
                    outcome(step, &answer)?;
                }
                return Ok(None);
            }
            let mut reqs = Vec::new();
            for c in cmds {
                match self.request(c).await? {
                    Ok(r) => reqs.push(r),
                    Err(Unsupported(why)) => return Ok(Some(why)),
                }
            }
            // One command goes to its own endpoint; several go as one `apply`.
            let answer = match reqs.as_slice() {
                [one] => {
                    self.http
                        .send(Some(&token), one.method, &one.path, one.body.as_ref())
                        .await?
                }
                _ => self.apply(&token, &reqs).await?,
            };
            outcome(step, &answer)?;
        }
        if let Some(cmds) = &step.diff {
            let token = match self.token_for(step).await? {
                Ok(t) => t,
                Err(Unsupported(why)) => return Ok(Some(why)),
            };
            let mut commands = Vec::new();
            for c in cmds {
                match self.request(c).await? {
                    Ok(r) => commands.push(r.planned()),
                    Err(Unsupported(why)) => return Ok(Some(why)),
                }
            }
            let before = self.org_revision().await?;
            let answer = self
                .http
                .send(
                    Some(&token),
                    "POST",
                    &format!("{}/plan?limit=1000", self.org_path),
                    Some(&json!({"commands": commands})),
                )
                .await?;
            if self.org_revision().await? != before {
                return Err("the plan changed the state".into());
            }
            outcome(step, &answer)?;
            if answer.ok() {
                let line = |e: &Value| {
                    format!(
                        "{} {} {}{}{}",
                        e["subject_ref"].as_str().unwrap_or(""),
                        e["action"].as_str().unwrap_or(""),
                        e["target"]["path"].as_str().unwrap_or(""),
                        if e["subtree"].as_bool() == Some(true) {
                            " (subtree)"
                        } else {
                            ""
                        },
                        suffix(e)
                    )
                };
                let lines = |key: &str| {
                    answer.body["diff"][key]
                        .as_array()
                        .map(|l| l.iter().map(line).collect())
                        .unwrap_or_default()
                };
                expect_set("gained", &step.gained, lines("gained"))?;
                expect_set("lost", &step.lost, lines("lost"))?;
            }
        }
        Ok(None)
    }

    /// Every item of a paged listing.
    async fn all_pages(&self, asker: &str, rest: &str) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let sep = if rest.contains('?') { '&' } else { '?' };
            let path = match &cursor {
                None => format!("{rest}{sep}limit=2"),
                Some(c) => format!("{rest}{sep}limit=2&cursor={}", seg(c)),
            };
            let page = self.question(asker, "GET", &path, None).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(items),
            }
        }
        Err(format!("{rest}: more than 1000 pages"))
    }
}

/// The expected outcome of a `do` or `diff` step: `ok` or a problem's slug.
fn outcome(step: &Step, answer: &Answer) -> Result<(), String> {
    let got = if answer.ok() {
        "ok".to_string()
    } else {
        answer.slug()
    };
    let want = step
        .expect_over_http
        .clone()
        .or_else(|| step.expect.clone())
        .unwrap_or_else(|| "ok".into());
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "expected `{want}`, got `{got}` ({} {})",
            answer.status, answer.body["detail"]
        ))
    }
}

/// The conditions of a listed holding, as the engine runner writes them.
fn suffix(entry: &Value) -> String {
    let list = |key: &str| -> Vec<Conditions> {
        serde_json::from_value(entry[key].clone()).unwrap_or_default()
    };
    holding_suffix(&Holding {
        conditions: list("conditions"),
        unless: list("unless"),
    })
}

/// Asks `asked` again of the server behind `http`, in the organisation `org`, each as its
/// actor (logged in with [`PASSWORD`]): every answer's status and body, without what depends
/// on the moment or the server (`evaluated_at`, cursors). A refused login is an answer too.
pub async fn ask_again(http: &Http, org: &str, asked: &[Asked]) -> Result<Vec<Value>, String> {
    let mut tokens: std::collections::BTreeMap<String, Result<String, String>> = Default::default();
    let mut answers = Vec::with_capacity(asked.len());
    for q in asked {
        if !tokens.contains_key(&q.actor) {
            let t = http.login(Some(org), &q.actor, PASSWORD).await;
            tokens.insert(q.actor.clone(), t);
        }
        let Some(Ok(token)) = tokens.get(&q.actor) else {
            answers.push(json!({"login_refused": q.actor}));
            continue;
        };
        let path = format!("/v1/orgs/{}{}", seg(org), q.rest);
        let a = http
            .send(Some(token), q.method, &path, q.body.as_ref())
            .await?;
        let mut body = a.body;
        strip_momentary(&mut body);
        answers.push(json!({"status": a.status, "body": body}));
    }
    Ok(answers)
}

/// Removes what differs between two servers asked the same question at two moments.
fn strip_momentary(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for key in ["evaluated_at", "next_cursor", "request_id", "instance"] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_momentary);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_momentary),
        _ => {}
    }
}
