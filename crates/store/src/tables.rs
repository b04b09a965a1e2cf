//! The state tables: every object as a row of `objects` (its JSON value, keyed by organisation
//! and object key), written from a change's effects and read back into models at startup.

use std::collections::BTreeMap;

use canopy_core::installation::{InstanceAdmin, InstanceWrite};
use canopy_core::model::{Object, ObjectKey, OrgModel, Write};
use futures::TryStreamExt;
use sqlx::{Any, Row, Transaction};

use crate::{Store, StoreError};

/// The `org_id` of instance-level rows.
pub(crate) const INSTANCE: &str = "";

/// The row key and kind of an object. The organisation and its catalog are one row each.
pub(crate) fn object_row(obj: &Object) -> (String, &'static str) {
    match obj {
        Object::Org(_) => ("org".into(), "org"),
        Object::Catalog(_) => ("catalog".into(), "catalog"),
        Object::Node(n) => (format!("node/{}", n.id), "node"),
        Object::Resource(r) => (format!("resource/{}", r.id), "resource"),
        Object::User(u) => (format!("principal/{}", u.id), "user"),
        Object::ServiceAccount(s) => (format!("principal/{}", s.id), "service_account"),
        Object::Group(g) => (format!("principal/{}", g.id), "group"),
        Object::Membership(m) => (format!("membership/{}/{}", m.group, m.member), "membership"),
        Object::Role(r) => (format!("role/{}", r.id), "role"),
        Object::Binding(b) => (format!("binding/{}", b.id), "binding"),
        Object::Guardrail(g) => (format!("guardrail/{}", g.id), "guardrail"),
    }
}

/// The row key of a deleted object (the organisation itself is never deleted row by row).
pub(crate) fn key_row(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Org(_) => "org".into(),
        ObjectKey::Node(id) => format!("node/{id}"),
        ObjectKey::Resource(id) => format!("resource/{id}"),
        ObjectKey::Principal(id) => format!("principal/{id}"),
        ObjectKey::Membership(g, m) => format!("membership/{g}/{m}"),
        ObjectKey::Role(id) => format!("role/{id}"),
        ObjectKey::Binding(id) => format!("binding/{id}"),
        ObjectKey::Guardrail(id) => format!("guardrail/{id}"),
    }
}

fn admin_row(id: &impl std::fmt::Display) -> String {
    format!("admin/{id}")
}

const UPSERT: &str = "INSERT INTO objects (org_id, object_key, kind, revision, value) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (org_id, object_key) DO UPDATE \
     SET kind = excluded.kind, revision = excluded.revision, value = excluded.value";

async fn upsert(
    tx: &mut Transaction<'static, Any>,
    org: &str,
    key: &str,
    kind: &str,
    revision: u64,
    value: String,
) -> Result<(), StoreError> {
    sqlx::query(UPSERT)
        .bind(org)
        .bind(key)
        .bind(kind)
        .bind(revision as i64)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn to_json(v: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::corrupt)
}

/// Writes an organisation's effects to the state tables.
pub(crate) async fn write_org(
    tx: &mut Transaction<'static, Any>,
    org: &str,
    revision: u64,
    writes: &[Write],
) -> Result<(), StoreError> {
    for w in writes {
        match w {
            Write::Put(obj) => {
                let (key, kind) = object_row(obj);
                let value = match obj {
                    Object::Org(o) => to_json(o)?,
                    Object::Catalog(c) => to_json(c)?,
                    Object::Node(n) => to_json(n)?,
                    Object::Resource(r) => to_json(r)?,
                    Object::User(u) => to_json(u)?,
                    Object::ServiceAccount(s) => to_json(s)?,
                    Object::Group(g) => to_json(g)?,
                    Object::Membership(m) => to_json(m)?,
                    Object::Role(r) => to_json(r)?,
                    Object::Binding(b) => to_json(b)?,
                    Object::Guardrail(g) => to_json(g)?,
                };
                upsert(tx, org, &key, kind, revision, value).await?;
            }
            Write::Delete(ObjectKey::Org(_)) => {
                for statement in [
                    "DELETE FROM objects WHERE org_id = $1",
                    "DELETE FROM credentials WHERE org_id = $1",
                ] {
                    sqlx::query(statement).bind(org).execute(&mut **tx).await?;
                }
            }
            Write::Delete(key) => {
                sqlx::query("DELETE FROM objects WHERE org_id = $1 AND object_key = $2")
                    .bind(org)
                    .bind(key_row(key))
                    .execute(&mut **tx)
                    .await?;
                // A principal's secrets go with it.
                if let ObjectKey::Principal(id) = key {
                    sqlx::query("DELETE FROM credentials WHERE principal_id = $1")
                        .bind(id.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
    }
    Ok(())
}

/// Writes instance-level effects to the state tables.
pub(crate) async fn write_instance(
    tx: &mut Transaction<'static, Any>,
    revision: u64,
    writes: &[InstanceWrite],
) -> Result<(), StoreError> {
    for w in writes {
        match w {
            InstanceWrite::Put(a) => {
                let value = to_json(a)?;
                upsert(
                    tx,
                    INSTANCE,
                    &admin_row(&a.id),
                    "instance_admin",
                    revision,
                    value,
                )
                .await?;
            }
            InstanceWrite::Delete(id) => {
                sqlx::query("DELETE FROM objects WHERE org_id = $1 AND object_key = $2")
                    .bind(INSTANCE)
                    .bind(admin_row(id))
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("DELETE FROM credentials WHERE principal_id = $1")
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The state tables read back: the instance administrators and each organisation's model.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub admins: Vec<InstanceAdmin>,
    pub orgs: Vec<OrgModel>,
}

#[derive(Default)]
struct Parts {
    org: Option<canopy_core::model::Org>,
    objects: Vec<(String, String)>,
}

fn parse<T: serde::de::DeserializeOwned>(
    org: &str,
    key: &str,
    value: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(value)
        .map_err(|e| StoreError::corrupt(format!("object {key} of {org:?}: {e}")))
}

impl Store {
    /// Reads every object of the state tables into models.
    pub(crate) async fn read_state(&self) -> Result<State, StoreError> {
        let mut state = State::default();
        let mut orgs: BTreeMap<String, Parts> = BTreeMap::new();
        let mut rows =
            sqlx::query("SELECT org_id, object_key, kind, value FROM objects").fetch(self.pool());
        while let Some(row) = rows.try_next().await? {
            let org: String = row.try_get(0)?;
            let key: String = row.try_get(1)?;
            let kind: String = row.try_get(2)?;
            let value: String = row.try_get(3)?;
            if org == INSTANCE {
                state.admins.push(parse(&org, &key, &value)?);
                continue;
            }
            let parts = orgs.entry(org.clone()).or_default();
            if kind == "org" {
                parts.org = Some(parse(&org, &key, &value)?);
            } else {
                parts.objects.push((kind, value));
            }
        }
        for (org, parts) in orgs {
            let o = parts
                .org
                .ok_or_else(|| StoreError::corrupt(format!("organisation {org} has no org row")))?;
            let mut m = OrgModel::new(o);
            for (kind, value) in parts.objects {
                let v = value.as_str();
                match kind.as_str() {
                    "catalog" => m.catalog = parse(&org, &kind, v)?,
                    "node" => {
                        let n: canopy_core::model::Node = parse(&org, &kind, v)?;
                        m.nodes.insert(n.id.clone(), n);
                    }
                    "resource" => {
                        let r: canopy_core::model::Resource = parse(&org, &kind, v)?;
                        m.resources.insert(r.id.clone(), r);
                    }
                    "user" => {
                        let u: canopy_core::model::User = parse(&org, &kind, v)?;
                        m.users.insert(u.id.clone(), u);
                    }
                    "service_account" => {
                        let s: canopy_core::model::ServiceAccount = parse(&org, &kind, v)?;
                        m.service_accounts.insert(s.id.clone(), s);
                    }
                    "group" => {
                        let g: canopy_core::model::Group = parse(&org, &kind, v)?;
                        m.groups.insert(g.id.clone(), g);
                    }
                    "membership" => {
                        let e: canopy_core::model::Membership = parse(&org, &kind, v)?;
                        m.memberships.insert((e.group.clone(), e.member.clone()), e);
                    }
                    "role" => {
                        let r: canopy_core::model::Role = parse(&org, &kind, v)?;
                        m.roles.insert(r.id.clone(), r);
                    }
                    "binding" => {
                        let b: canopy_core::model::Binding = parse(&org, &kind, v)?;
                        m.bindings.insert(b.id.clone(), b);
                    }
                    "guardrail" => {
                        let g: canopy_core::model::Guardrail = parse(&org, &kind, v)?;
                        m.guardrails.insert(g.id.clone(), g);
                    }
                    other => {
                        return Err(StoreError::corrupt(format!(
                            "unknown object kind {other:?} in {org}"
                        )));
                    }
                }
            }
            state.orgs.push(m);
        }
        Ok(state)
    }

    /// The revision of each organisation's last change.
    pub(crate) async fn org_revisions(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let rows = sqlx::query(
            "SELECT org_id, MAX(revision) FROM changes WHERE org_id IS NOT NULL GROUP BY org_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)? as u64)))
            .collect()
    }

    /// The revision an object was last written at (its ETag), if it exists.
    pub async fn object_revision(
        &self,
        org: &canopy_core::ids::OrgId,
        key: &ObjectKey,
    ) -> Result<Option<u64>, StoreError> {
        let r: Option<i64> = sqlx::query_scalar(
            "SELECT revision FROM objects WHERE org_id = $1 AND object_key = $2",
        )
        .bind(org.as_str())
        .bind(key_row(key))
        .fetch_optional(self.pool())
        .await?;
        Ok(r.map(|r| r as u64))
    }
}
