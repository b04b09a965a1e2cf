//! One organisation of a backup restored beside the live ones under another name
//! (`canopy backup restore FILE --org acme --as acme-copy`), for investigation without rolling
//! anything back (DESIGN §6). IDs are unique across the installation (credentials and devices
//! are keyed by principal), so the copy gets fresh IDs — one mapping applied to every object —
//! and it is written as ONE change of the log with its audit event, so that replicas, `watch`
//! and the audit log see it. No secret is copied: see docs/backups.md.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use canopy_core::ids::{Clock, OrgId, PrincipalId, fresh};
use canopy_core::installation::{Change, Effects, Installation};
use canopy_core::model::{Credentials, Notifications, Object, Write};
use canopy_core::name::Name;
use serde_json::Value;

use super::BackupError;
use super::format::{BackupReader, Item};
use super::restore::check_file;
use crate::audit::{AuditKey, INSTANCE_CHAIN, Outcome};
use crate::log::AuditDraft;
use crate::tables::{ObjectRow, installation_of_rows};
use crate::{Store, StoreError};

/// The command the change log records for a copy.
pub const COPY_COMMAND: &str = "restore_org_copy";

/// What a copy made.
#[derive(Clone, Debug)]
pub struct OrgCopy {
    /// The copy's ID.
    pub org: OrgId,
    /// Its name.
    pub name: String,
    /// The revision of the change that made it.
    pub revision: u64,
    /// Objects copied (the organisation and its catalog included).
    pub objects: usize,
    /// The investigator's ID.
    pub investigator: PrincipalId,
}

/// What to copy, under which name, and who may log in to the copy: a new user (the
/// investigator) bound `admin` at its root, with this password hash.
#[derive(Clone, Debug)]
pub struct CopyRequest {
    /// The organisation of the backup: its name or ID.
    pub org: String,
    /// The copy's name.
    pub name: Name,
    /// The investigator's username.
    pub username: Name,
    /// The investigator's password, hashed.
    pub password_hash: String,
}

/// The rows of one organisation in a backup (`reference`: its name or ID), with the backup's
/// head revision. Blocking.
fn org_rows(path: &Path, reference: &str) -> Result<(Vec<ObjectRow>, u64), BackupError> {
    let checked = check_file(path)?;
    let mut r = BackupReader::open(path)?;
    let mut in_objects = false;
    let mut current: Vec<ObjectRow> = Vec::new();
    let mut found = None;
    let matches = |rows: &[ObjectRow]| {
        rows.iter().any(|(org, key, _, value)| {
            key == "org"
                && (org == reference
                    || serde_json::from_str::<Value>(value)
                        .is_ok_and(|v| v["name"].as_str() == Some(reference)))
        })
    };
    while let Some(item) = r.next_item()? {
        match item {
            Item::Start { name, .. } => in_objects = name == "objects",
            Item::Row(text, line) if in_objects => {
                let row: (String, String, String, i64, String) = serde_json::from_str(&text)
                    .map_err(|e| BackupError::malformed(line, &e.to_string()))?;
                if current.first().is_some_and(|c| c.0 != row.0) {
                    if matches(&current) {
                        found = Some(std::mem::take(&mut current));
                    }
                    current.clear();
                }
                current.push((row.0, row.1, row.2, row.4));
            }
            Item::End(_) if in_objects => {
                if found.is_none() && matches(&current) {
                    found = Some(std::mem::take(&mut current));
                }
                in_objects = false;
            }
            _ => {}
        }
    }
    let rows = found.filter(|rows| rows.first().is_some_and(|r| !r.0.is_empty()));
    rows.map(|rows| (rows, checked.header.head_revision))
        .ok_or_else(|| BackupError::NoSuchOrg {
            org: reference.into(),
        })
}

/// Replaces, everywhere in a JSON value, the strings that are IDs of the copied organisation.
fn remap(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(new) = ids.get(s.as_str()) {
                *s = new.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| remap(i, ids)),
        Value::Object(map) => map.values_mut().for_each(|i| remap(i, ids)),
        _ => {}
    }
}

/// The fresh ID of an object row's ID (`node/fld_…` → a new `fld_…`), by its prefix.
fn fresh_like(id: &str, clock: &dyn Clock) -> Option<String> {
    let (prefix, _) = id.split_once('_')?;
    Some(fresh(prefix, clock))
}

/// The copy's writes: the organisation renamed under a fresh ID, every object with fresh IDs,
/// no token, users without credentials, notifications to no webhook; then the investigator and
/// its binding. In the order the engine loads them.
fn copy_writes(
    rows: &[ObjectRow],
    investigator: &CopyRequest,
    clock: &dyn Clock,
) -> Result<(OrgId, PrincipalId, Vec<Write>), BackupError> {
    let source = installation_of_rows(0, rows, &BTreeMap::new())?;
    let engine = source
        .orgs()
        .next()
        .ok_or_else(|| BackupError::encode("no organisation in its rows"))?;
    let m = engine.model();
    let wanted = investigator.username.confusable_key();
    if m.users
        .values()
        .any(|u| u.username.confusable_key() == wanted)
    {
        return Err(BackupError::CopyRefused {
            detail: format!(
                "the organisation has a user `{}`: name the investigator otherwise",
                investigator.username
            ),
        });
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    let new_org = OrgId::parse(&fresh("org", clock)).ok_or_else(|| BackupError::encode("id"))?;
    ids.insert(m.org.id.to_string(), new_org.to_string());
    for (_, key, _, _) in rows {
        if let Some((_, id)) = key.split_once('/')
            && !key.starts_with("membership/")
            && let Some(new) = fresh_like(id, clock)
        {
            ids.insert(id.to_string(), new);
        }
    }
    let mut org = m.org.clone();
    org.id = new_org.clone();
    org.name = investigator.name.clone();
    org.created_at = clock.now();
    org.policy.notifications = Notifications {
        webhook_url: None,
        webhook_secret_set: false,
        ..org.policy.notifications.clone()
    };
    // Only the investigator can log in, with a password: a second factor cannot be asked of it.
    org.policy.mfa_required = false;
    org.policy.passkeys_only = false;
    let mut writes = vec![Write::Put(Object::Org(org))];
    let mut objects: Vec<Object> = engine_objects(engine);
    for obj in &mut objects {
        let mut v = serde_json::to_value(&*obj).map_err(BackupError::encode)?;
        remap(&mut v, &ids);
        *obj = serde_json::from_value(v).map_err(BackupError::encode)?;
        if let Object::User(u) = obj {
            u.credentials = Credentials::default();
        }
    }
    let (user, binding) =
        canopy_core::engine::first_admin(&new_org, investigator.username.clone(), clock);
    let user_id = user.id.clone();
    let first_binding = objects
        .iter()
        .position(|o| matches!(o, Object::Binding(_) | Object::Guardrail(_)))
        .unwrap_or(objects.len());
    let first_membership = objects
        .iter()
        .position(|o| matches!(o, Object::Membership(_) | Object::Role(_)))
        .unwrap_or(first_binding);
    objects.insert(first_binding, Object::Binding(binding));
    objects.insert(first_membership, Object::User(user));
    writes.extend(objects.into_iter().map(Write::Put));
    Ok((new_org, user_id, writes))
}

/// An engine's objects in the order it loads them (tokens left out).
fn engine_objects(e: &canopy_core::OrgEngine) -> Vec<Object> {
    let m = e.model();
    let mut out = vec![Object::Catalog(m.catalog.clone())];
    let nodes = canopy_core::engine::nodes_parent_first(&m.org.id, &m.nodes);
    out.extend(nodes.into_iter().map(|n| Object::Node(n.clone())));
    out.extend(m.resources.values().cloned().map(Object::Resource));
    out.extend(m.users.values().cloned().map(Object::User));
    out.extend(
        m.service_accounts
            .values()
            .cloned()
            .map(Object::ServiceAccount),
    );
    out.extend(m.groups.values().cloned().map(Object::Group));
    out.extend(m.memberships.values().cloned().map(Object::Membership));
    out.extend(m.roles.values().cloned().map(Object::Role));
    out.extend(m.bindings.values().cloned().map(Object::Binding));
    out.extend(m.guardrails.values().cloned().map(Object::Guardrail));
    out
}

impl Store {
    /// Restores an organisation of the backup `file` beside the live ones under another name: one change of the log (command [`COPY_COMMAND`]) with its audit event in
    /// the instance chain, by `actor`. The copy has fresh IDs, no secret, and one investigator
    /// who holds `admin` at its root.
    pub async fn restore_org(
        &self,
        file: &Path,
        request: &CopyRequest,
        key: &AuditKey,
        clock: &(dyn Clock + Sync),
        actor: &str,
    ) -> Result<OrgCopy, BackupError> {
        let (path, r) = (file.to_path_buf(), request.org.clone());
        let name = &request.name;
        let (rows, backup_head) =
            tokio::task::spawn_blocking(move || org_rows(&path, &r)).await??;
        let source_org = rows[0].0.clone();
        let (org, user, writes) = copy_writes(&rows, request, clock)?;
        let objects = writes.len();
        let mut inst: Installation = self.load().await?;
        let mut tx = self.begin_write().await?;
        for c in tx.changes_after(inst.revision()).await? {
            inst.apply(&c).map_err(StoreError::corrupt)?;
        }
        if inst
            .orgs()
            .any(|e| e.model().org.name.confusable_key() == name.confusable_key())
        {
            return Err(BackupError::CopyRefused {
                detail: format!("an organisation named `{name}` exists"),
            });
        }
        let change = Change {
            revision: tx.head() + 1,
            time: clock.now(),
            actor: actor.into(),
            request_id: format!("restore-org-{}", clock.now().millis()),
            command: COPY_COMMAND.into(),
            effects: Effects::Org {
                org: org.clone(),
                writes,
            },
        };
        inst.apply(&change).map_err(|e| BackupError::CopyRefused {
            detail: e.to_string(),
        })?;
        if !inst
            .org(&org)
            .is_some_and(|e| e.has_usable_admin(clock.now().millis()))
        {
            return Err(BackupError::CopyRefused {
                detail: "the copy would have no usable administrator".into(),
            });
        }
        tx.append(&change).await?;
        let effects_sha256 = tx.effects_sha256().map(str::to_string);
        tx.set_secret(
            org.as_str(),
            user.as_str(),
            "password",
            &request.password_hash,
        )
        .await?;
        tx.audit(
            key,
            AuditDraft {
                chain: INSTANCE_CHAIN.into(),
                time: change.time,
                actor: actor.into(),
                request_id: change.request_id.clone(),
                action: COPY_COMMAND.into(),
                outcome: Outcome::Ok,
                revision: Some(change.revision),
                detail: serde_json::json!({
                    crate::writer::EFFECTS_SHA256: effects_sha256,
                    "source_org": source_org,
                    "backup_head_revision": backup_head,
                    "org": org.to_string(),
                    "name": name.to_string(),
                    "objects": objects,
                    "investigator": user.to_string(),
                    "credentials": {"set": ["password"], "removed": []},
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(OrgCopy {
            org,
            name: name.to_string(),
            revision: change.revision,
            objects,
            investigator: user,
        })
    }
}
