//! The state tables: every object as a row of `objects` (its JSON value, keyed by organisation
//! and object key), written from a change's effects and read back into models at startup.

use std::collections::BTreeMap;

use canopy_core::OrgEngine;
use canopy_core::installation::{Installation, InstanceAdmin, InstanceWrite};
use canopy_core::model::{Object, ObjectKey, OrgModel, Write};
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
        Object::Token(t) => (format!("token/{}", t.id), "token"),
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
        ObjectKey::Token(id) => format!("token/{id}"),
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
                    Object::Token(t) => to_json(t)?,
                };
                upsert(tx, org, &key, kind, revision, value).await?;
            }
            Write::Delete(ObjectKey::Org(_)) => {
                for statement in [
                    "DELETE FROM objects WHERE org_id = $1",
                    "DELETE FROM credentials WHERE org_id = $1",
                    "DELETE FROM devices WHERE org_id = $1",
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
                // A principal's secrets and known devices go with it, a token's hash with the
                // token.
                let (owner, tables): (Option<&str>, &[&'static str]) = match key {
                    ObjectKey::Principal(id) => (
                        Some(id.as_str()),
                        &[
                            "DELETE FROM credentials WHERE principal_id = $1",
                            "DELETE FROM devices WHERE principal_id = $1",
                        ],
                    ),
                    ObjectKey::Token(id) => (
                        Some(id.as_str()),
                        &["DELETE FROM credentials WHERE principal_id = $1"],
                    ),
                    _ => (None, &[]),
                };
                if let Some(owner) = owner {
                    for &statement in tables {
                        sqlx::query(statement)
                            .bind(owner)
                            .execute(&mut **tx)
                            .await?;
                    }
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

fn parse<T: serde::de::DeserializeOwned>(
    org: &str,
    kind: &str,
    value: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(value)
        .map_err(|e| StoreError::corrupt(format!("a {kind} of {org:?}: {e}")))
}

/// Objects read per query when loading: each page is one row (the objects joined by newlines),
/// because a row costs microseconds in the driver and an organisation has millions of objects.
pub(crate) const PAGE: i64 = 10_000;

/// The key ranges of an organisation's objects (after its `org` row), in the order the engine
/// takes them: everything an object refers to comes before it. Bounds are exclusive.
const RANGES: [(&str, &str); 9] = [
    ("catalof", "catalog0"),
    ("node/", "node0"),
    ("resource/", "resource0"),
    ("principal/", "principal0"),
    ("membership/", "membership0"),
    ("role/", "role0"),
    ("binding/", "binding0"),
    ("guardrail/", "guardrail0"),
    ("token/", "token0"),
];

/// An object row as an object.
fn object_of(org: &str, kind: &str, v: &str) -> Result<Object, StoreError> {
    Ok(match kind {
        "org" => Object::Org(parse(org, kind, v)?),
        "catalog" => Object::Catalog(parse(org, kind, v)?),
        "node" => Object::Node(parse(org, kind, v)?),
        "resource" => Object::Resource(parse(org, kind, v)?),
        "user" => Object::User(parse(org, kind, v)?),
        "service_account" => Object::ServiceAccount(parse(org, kind, v)?),
        "group" => Object::Group(parse(org, kind, v)?),
        "membership" => Object::Membership(parse(org, kind, v)?),
        "role" => Object::Role(parse(org, kind, v)?),
        "binding" => Object::Binding(parse(org, kind, v)?),
        "guardrail" => Object::Guardrail(parse(org, kind, v)?),
        "token" => Object::Token(parse(org, kind, v)?),
        other => {
            return Err(StoreError::corrupt(format!(
                "unknown object kind {other:?} in {org}"
            )));
        }
    })
}

/// One page of objects in `(after, upper)`: the last key and the objects, parsed on a blocking
/// thread (so that parsing the next page overlaps indexing this one).
async fn page(
    store: Store,
    org: String,
    after: String,
    upper: &'static str,
) -> Result<Option<(String, Vec<Object>)>, StoreError> {
    let row = sqlx::query(store.dialect().object_page())
        .bind(&org)
        .bind(&after)
        .bind(upper)
        .bind(store.load_page)
        .fetch_one(store.pool())
        .await?;
    let last: Option<String> = row.try_get(0)?;
    let Some(last) = last else { return Ok(None) };
    let text: String = row.try_get(1)?;
    let objects = tokio::task::spawn_blocking(move || parse_page(&org, &text))
        .await
        .map_err(StoreError::corrupt)??;
    Ok(Some((last, objects)))
}

/// The objects of a page's `kind TAB json` lines (JSON text holds no raw tab or newline).
fn parse_page(org: &str, text: &str) -> Result<Vec<Object>, StoreError> {
    text.split('\n')
        .map(|line| {
            let (kind, value) = line
                .split_once('\t')
                .ok_or_else(|| StoreError::corrupt(format!("a malformed object in {org}")))?;
            object_of(org, kind, value)
        })
        .collect()
}

/// Indexes objects of one key range, in key order; nodes are gathered in `nodes`, to be indexed
/// parents first ([`load_nodes`]) once the range is read.
fn load_objects(
    engine: &mut OrgEngine,
    objects: impl IntoIterator<Item = Object>,
    nodes: &mut BTreeMap<canopy_core::ids::NodeId, canopy_core::model::Node>,
) -> Result<(), StoreError> {
    for obj in objects {
        match obj {
            Object::Node(n) => {
                nodes.insert(n.id.clone(), n);
            }
            obj => engine
                .load_write(&Write::Put(obj))
                .map_err(StoreError::corrupt)?,
        }
    }
    Ok(())
}

/// Indexes the gathered nodes, parents first.
fn load_nodes(
    engine: &mut OrgEngine,
    nodes: &BTreeMap<canopy_core::ids::NodeId, canopy_core::model::Node>,
) -> Result<(), StoreError> {
    let root = engine.model().org.id.clone();
    for n in canopy_core::engine::nodes_parent_first(&root, nodes) {
        engine
            .load_write(&Write::Put(Object::Node(n.clone())))
            .map_err(StoreError::corrupt)?;
    }
    Ok(())
}

/// One row of `objects`: organisation, key, kind, value.
pub(crate) type ObjectRow = (String, String, String, String);

/// The installation that rows of `objects` (in `(org_id, object_key)` order, as a backup reads
/// them inside its snapshot) hold at revision `head`; `revisions`: each organisation's last
/// change. The same ranges and order as loading from the tables.
pub(crate) fn installation_of_rows(
    head: u64,
    rows: &[ObjectRow],
    revisions: &BTreeMap<String, u64>,
) -> Result<Installation, StoreError> {
    let mut admins = Vec::new();
    let mut engines = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let org = &rows[start].0;
        let end = start + rows[start..].iter().take_while(|r| &r.0 == org).count();
        let of_org = &rows[start..end];
        start = end;
        if org == INSTANCE {
            for (_, _, kind, value) in of_org {
                admins.push(parse(INSTANCE, kind, value)?);
            }
            continue;
        }
        let Some((_, _, _, value)) = of_org.iter().find(|r| r.1 == "org") else {
            return Err(StoreError::corrupt(format!(
                "objects of {org} but no such organisation"
            )));
        };
        let model = OrgModel::new(parse(org, "org", value)?);
        let revision = revisions.get(org).copied().unwrap_or(0);
        let mut engine = OrgEngine::from_model(model, revision).map_err(StoreError::corrupt)?;
        let mut loaded = 1;
        for (lower, upper) in RANGES {
            let mut nodes = BTreeMap::new();
            let in_range = of_org
                .iter()
                .filter(|r| r.1.as_str() > lower && r.1.as_str() < upper);
            let mut objects = Vec::new();
            for (_, _, kind, value) in in_range {
                objects.push(object_of(org, kind, value)?);
            }
            loaded += objects.len();
            load_objects(&mut engine, objects, &mut nodes)?;
            load_nodes(&mut engine, &nodes)?;
        }
        if loaded != of_org.len() {
            return Err(StoreError::corrupt(format!(
                "{org} has {} object rows, of which {} are not objects of an organisation",
                of_org.len(),
                of_org.len() - loaded.min(of_org.len())
            )));
        }
        engines.push(engine);
    }
    Ok(Installation::from_engines(head, admins, engines))
}

impl Store {
    /// The instance administrators.
    pub(crate) async fn read_admins(&self) -> Result<Vec<InstanceAdmin>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT value FROM objects WHERE org_id = $1 ORDER BY object_key")
                .bind(INSTANCE)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|a| parse(INSTANCE, "instance_admin", a))
            .collect()
    }

    /// Every organisation's engine, built while its objects are read: the next page is fetched
    /// while the current one is indexed, and no copy of the whole model is held on the side.
    /// `revisions`: each organisation's last change.
    pub(crate) async fn load_orgs(
        &self,
        revisions: &BTreeMap<String, u64>,
    ) -> Result<Vec<OrgEngine>, StoreError> {
        let orgs = sqlx::query(
            "SELECT org_id, value FROM objects WHERE kind = 'org' AND org_id <> $1 ORDER BY org_id",
        )
        .bind(INSTANCE)
        .fetch_all(self.pool())
        .await?;
        let mut engines = Vec::with_capacity(orgs.len());
        for row in &orgs {
            let id: String = row.try_get(0)?;
            let value: String = row.try_get(1)?;
            let org: canopy_core::model::Org = parse(&id, "org", &value)?;
            let revision = revisions.get(&id).copied().unwrap_or(0);
            let mut engine =
                OrgEngine::from_model(OrgModel::new(org), revision).map_err(StoreError::corrupt)?;
            let loaded = self.load_org(&id, &mut engine).await?;
            let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM objects WHERE org_id = $1")
                .bind(&id)
                .fetch_one(self.pool())
                .await?;
            if stored as usize != loaded + 1 {
                return Err(StoreError::corrupt(format!(
                    "{id} has {stored} object rows, of which {} are not objects of an organisation",
                    stored as usize - (loaded + 1).min(stored as usize)
                )));
            }
            engines.push(engine);
        }
        // Every organisation that has objects has its `org` row: walk the distinct org_ids
        // with one index seek each.
        let mut after = INSTANCE.to_string();
        loop {
            let next: Option<String> = sqlx::query_scalar(
                "SELECT org_id FROM objects WHERE org_id > $1 ORDER BY org_id LIMIT 1",
            )
            .bind(&after)
            .fetch_optional(self.pool())
            .await?;
            let Some(next) = next else { break };
            if !engines.iter().any(|e| e.model().org.id.as_str() == next) {
                return Err(StoreError::corrupt(format!(
                    "objects of {next} but no such organisation"
                )));
            }
            after = next;
        }
        Ok(engines)
    }

    /// Reads one organisation's objects range by range into its engine; returns how many.
    async fn load_org(&self, org: &str, engine: &mut OrgEngine) -> Result<usize, StoreError> {
        let mut loaded = 0;
        for (lower, upper) in RANGES {
            let mut nodes = BTreeMap::new();
            let mut next = tokio::spawn(page(self.clone(), org.into(), lower.into(), upper));
            loop {
                let fetched = next.await.map_err(StoreError::corrupt)??;
                let Some((last, objects)) = fetched else {
                    break;
                };
                next = tokio::spawn(page(self.clone(), org.into(), last, upper));
                loaded += objects.len();
                load_objects(engine, objects, &mut nodes)?;
            }
            load_nodes(engine, &nodes)?;
        }
        Ok(loaded)
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
