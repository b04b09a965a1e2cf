//! Configuration as code: `canopy export` writes an organisation as a commented YAML document,
//! `canopy plan`/`apply` take one (see `plans.rs`), `canopy diff A B` compares two offline. The
//! YAML is written here by hand, so that it is the same bytes for the same state, with the
//! comments a reader needs, one line per object where an object fits on one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use canopy_core::document::{self, Change, ChangeKind, Document, Op, Portable};
use canopy_core::messages::Lang;
use clap::Args;
use serde_json::Value;

use super::http::Query;
use super::{Conn, Ctx, Error};
use crate::messages;

/// `canopy export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write the document to this file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `canopy diff A B`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The document to compare from (e.g. production's export).
    from: PathBuf,
    /// The document to compare to (e.g. staging's export).
    to: PathBuf,
}

/// `canopy export`: the organisation as a document, to a file or standard output.
pub async fn export(ctx: &Ctx, args: ExportArgs) -> Result<ExitCode, Error> {
    let url = ctx.url(&[], "/export")?;
    let v = ctx.api.send("GET", &url, &Query::new(), None).await?;
    let doc: Document = serde_json::from_value(v["document"].clone())?;
    let text = render(&doc);
    match &args.out {
        Some(path) => std::fs::write(path, &text)
            .map_err(|e| Error(messages::file_error(path, &e.to_string(), ctx.lang)))?,
        None => out!("{}", text.trim_end()),
    }
    err!(
        "{}",
        messages::document_exported(doc.org.as_str(), &v["revision"], ctx.lang)
    );
    Ok(ExitCode::SUCCESS)
}

/// `canopy diff A B`: the semantic diff of two documents, offline. Exit 1 when they differ.
pub fn diff(args: DiffArgs, lang: Lang) -> Result<ExitCode, Error> {
    let from = read(&args.from, lang)?;
    let to = read(&args.to, lang)?;
    let check = |path: &Path, doc: &Document| {
        Portable::of(doc).map_err(|e| Error(messages::in_file(path, &e.message(lang), lang)))
    };
    let (a, b) = (check(&args.from, &from)?, check(&args.to, &to)?);
    if a.org != b.org {
        err!(
            "{}",
            messages::other_org(a.org.as_str(), b.org.as_str(), lang)
        );
    }
    let changes = document::diff(&a, &b);
    print_changes(&changes, lang);
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Whether a file's top level is a document (`canopy: 1`) rather than a list of commands.
pub fn is_document(path: &Path, lang: Lang) -> Result<bool, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error(messages::file_error(path, &e.to_string(), lang)))?;
    let v: serde_norway::Value = serde_norway::from_str(&text)
        .map_err(|e| Error(messages::file_error(path, &e.to_string(), lang)))?;
    Ok(v.as_mapping().is_some_and(|m| m.contains_key("canopy")))
}

/// A document read from YAML (or JSON, which is YAML) and checked: its errors name the line
/// (the shape) or the object (a reference).
pub fn read_checked(path: &Path, lang: Lang) -> Result<Document, Error> {
    let doc = read(path, lang)?;
    Portable::of(&doc).map_err(|e| Error(messages::in_file(path, &e.message(lang), lang)))?;
    Ok(doc)
}

fn read(path: &Path, lang: Lang) -> Result<Document, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error(messages::file_error(path, &e.to_string(), lang)))?;
    parse(&text).map_err(|e| Error(messages::file_error(path, &e, lang)))
}

/// Parses a document; a shape error says its line and column.
pub fn parse(text: &str) -> Result<Document, String> {
    serde_norway::from_str(text).map_err(|e| e.to_string())
}

/// The semantic diff, grouped by kind: `+ node acme/qa`, `~ user user:alice (email)`,
/// `- binding …`.
pub fn print_changes(changes: &[Change], lang: Lang) {
    if changes.is_empty() {
        out!("{}", messages::no_changes(lang));
        return;
    }
    let mut sorted: Vec<&Change> = changes.iter().collect();
    sorted.sort_by_key(|c| c.kind);
    let mut last: Option<ChangeKind> = None;
    for c in sorted {
        if last != Some(c.kind) {
            let n = changes.iter().filter(|x| x.kind == c.kind).count();
            out!("{} ({n})", canopy_core::messages::change_kind(c.kind, lang));
            last = Some(c.kind);
        }
        let sign = match c.op {
            Op::Add => '+',
            Op::Change => '~',
            Op::Remove => '-',
        };
        if c.fields.is_empty() {
            out!("  {sign} {}", c.object);
        } else {
            out!("  {sign} {} ({})", c.object, c.fields.join(", "));
        }
    }
}

// ----- the YAML form -----

/// The order of keys in an object written on one line: identity first.
const KEY_ORDER: &[&str] = &[
    "path",
    "username",
    "name",
    "member",
    "subject",
    "role",
    "scope",
    "kind",
    "type",
    "node",
    "effect",
    "actions",
    "classes",
    "manual",
    "mapped",
    "email",
    "display_name",
    "enabled",
    "break_glass",
    "links",
    "attributes",
    "expires_at",
    "conditions",
    "mfa",
    "source_cidrs",
];

fn key_rank(k: &str) -> usize {
    KEY_ORDER
        .iter()
        .position(|x| *x == k)
        .unwrap_or(KEY_ORDER.len())
}

/// A scalar: plain where YAML reads it back as the same string, double-quoted (with JSON's
/// escapes, which YAML shares) otherwise.
fn scalar(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| key_rank(a.0).cmp(&key_rank(b.0)).then(a.0.cmp(b.0)));
    entries
}

/// A value on one line: `{path: acme/eng, kind: folder}`.
fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = sorted_entries(map)
                .into_iter()
                .map(|(k, v)| format!("{}: {}", scalar(k), flow(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// A map written as indented blocks down to its leaves (the policy, the catalog).
fn block(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    if let Value::Object(map) = v {
        for (k, v) in sorted_entries(map) {
            match v {
                Value::Object(m) if !m.is_empty() => {
                    out.push_str(&format!("{pad}{}:\n", scalar(k)));
                    block(out, v, indent + 2);
                }
                _ => out.push_str(&format!("{pad}{}: {}\n", scalar(k), flow(v))),
            }
        }
    }
}

fn section(out: &mut String, comment: &str, key: &str) {
    out.push('\n');
    for line in comment.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    out.push_str(key);
    out.push(':');
}

/// One object per line: `- {…}`.
fn list(out: &mut String, items: Vec<Value>) {
    if items.is_empty() {
        out.push_str(" []\n");
        return;
    }
    out.push('\n');
    for v in items {
        out.push_str(&format!("  - {}\n", flow(&v)));
    }
}

/// Objects with a list inside (groups, roles, guardrails): their own fields, then the list,
/// one item per line.
fn nested(out: &mut String, items: Vec<Value>, inner: &str) {
    if items.is_empty() {
        out.push_str(" []\n");
        return;
    }
    out.push('\n');
    for mut v in items {
        let list = v
            .as_object_mut()
            .and_then(|m| m.remove(inner))
            .and_then(|l| l.as_array().cloned())
            .unwrap_or_default();
        let mut first = true;
        if let Value::Object(map) = &v {
            for (k, v) in sorted_entries(map) {
                let lead = if first { "  - " } else { "    " };
                out.push_str(&format!("{lead}{}: {}\n", scalar(k), flow(v)));
                first = false;
            }
        }
        if list.is_empty() {
            out.push_str(&format!("    {inner}: []\n"));
            continue;
        }
        out.push_str(&format!("    {inner}:\n"));
        for item in list {
            out.push_str(&format!("      - {}\n", flow(&item)));
        }
    }
}

fn values<T: serde::Serialize>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect()
}

/// The document as commented YAML. A function of the document alone: the same organisation
/// state gives the same bytes, in any installation (no revision, time or ID is written).
pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Canopy organisation `{}`: its configuration as code (`canopy export`).\n",
        doc.org
    ));
    out.push_str(
        "# Objects are named by path or name, never by ID: this file applies to another installation\n\
         # (`canopy plan FILE`, `canopy apply FILE`) and compares with another export (`canopy diff A B`).\n\
         # Left out: IDs, creation times, credentials, tokens and keys, the limits, the webhook secret.\n",
    );
    out.push_str(&format!(
        "canopy: {}\norg: {}\n",
        doc.canopy,
        scalar(doc.org.as_str())
    ));

    section(
        &mut out,
        "The authentication policy (the webhook's signing secret is never exported).",
        "policy",
    );
    out.push('\n');
    block(
        &mut out,
        &serde_json::to_value(&doc.policy).unwrap_or_default(),
        2,
    );

    section(
        &mut out,
        "The catalog: resource type → action → class (read, operate, configure, admin).",
        "catalog",
    );
    if doc.catalog.is_empty() {
        out.push_str(" {}\n");
    } else {
        out.push('\n');
        block(
            &mut out,
            &serde_json::to_value(&doc.catalog).unwrap_or_default(),
            2,
        );
    }

    section(
        &mut out,
        &format!(
            "Folders and projects ({}), parents before children.",
            doc.nodes.len()
        ),
        "nodes",
    );
    list(&mut out, values(&doc.nodes));
    section(
        &mut out,
        &format!(
            "Resources ({}): the path of the home node and the name; links to further projects.",
            doc.resources.len()
        ),
        "resources",
    );
    list(&mut out, values(&doc.resources));
    section(
        &mut out,
        &format!(
            "Users ({}). No credentials: a user that apply creates has no password; it logs in\n\
             through single sign-on, or an administrator sets one.",
            doc.users.len()
        ),
        "users",
    );
    list(&mut out, values(&doc.users));
    section(
        &mut out,
        &format!(
            "Service accounts ({}), without their keys.",
            doc.service_accounts.len()
        ),
        "service_accounts",
    );
    list(&mut out, values(&doc.service_accounts));
    section(
        &mut out,
        &format!(
            "Groups ({}) and their direct members: manual include/exclude, mapped sources.",
            doc.groups.len()
        ),
        "groups",
    );
    nested(&mut out, values(&doc.groups), "members");
    section(
        &mut out,
        &format!(
            "Custom roles ({}); the system roles admin, power-user, operator and viewer are in\n\
             every organisation.",
            doc.roles.len()
        ),
        "roles",
    );
    nested(&mut out, values(&doc.roles), "statements");
    section(
        &mut out,
        &format!(
            "Bindings ({}): who holds which role where, by scope; expiry and conditions.",
            doc.bindings.len()
        ),
        "bindings",
    );
    list(&mut out, values(&doc.bindings));
    section(
        &mut out,
        &format!(
            "Guardrails ({}): caps on everything strictly inside their node.",
            doc.guardrails.len()
        ),
        "guardrails",
    );
    nested(&mut out, values(&doc.guardrails), "statements");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Document {
        serde_json::from_value(serde_json::json!({
            "canopy": 1,
            "org": "総務",
            "policy": {"min_password_length": 12, "admin_source_cidrs": ["10.0.0.0/8"],
                       "notifications": {"email": false, "lang": "en",
                                         "webhook_url": "https://hooks.example.org/x?a=1"}},
            "catalog": {"vm": {"power": "operate", "snapshot.create": "configure"}},
            "nodes": [{"path": "総務/true", "kind": "folder"},
                      {"path": "総務/true/2024", "kind": "project"}],
            "resources": [{"path": "総務/true/2024/vm #1", "type": "vm",
                           "attributes": {"os": "linux: 6", "": "null"}}],
            "users": [{"username": "admin"}, {"username": "o'neil", "email": "o@example.org",
                       "display_name": "O \"N\"", "enabled": false, "break_glass": true}],
            "service_accounts": [{"name": "ci", "enabled": false}],
            "groups": [{"name": "ops", "members": [{"member": "user:admin", "manual": "include",
                        "mapped": ["oidc:corp", "scim"]}]}, {"name": "empty"}],
            "roles": [{"name": "vm-op", "statements": [{"effect": "allow", "actions": ["vm.*", "*.read"]},
                       {"effect": "deny", "classes": ["admin"]}]}],
            "bindings": [{"subject": "group:ops", "role": "vm-op", "scope": "総務/true/2024/vm #1",
                          "expires_at": "2030-01-01T00:00:00Z",
                          "conditions": {"mfa": true, "source_cidrs": ["192.0.2.0/24"]}}],
            "guardrails": [{"name": "g", "node": "総務/true",
                            "statements": [{"effect": "deny", "actions": ["vm.power"]}]}]
        }))
        .unwrap()
    }

    #[test]
    fn the_yaml_reads_back_as_the_document() {
        let doc = sample();
        let text = render(&doc);
        assert_eq!(parse(&text).unwrap(), doc, "{text}");
        assert_eq!(render(&parse(&text).unwrap()), text);
    }

    #[test]
    fn an_empty_organisation_reads_back_too() {
        let doc: Document =
            serde_json::from_value(serde_json::json!({"canopy": 1, "org": "acme"})).unwrap();
        let text = render(&doc);
        assert_eq!(parse(&text).unwrap(), doc, "{text}");
        assert!(text.contains("\nnodes: []\n"), "{text}");
    }

    #[test]
    fn one_object_per_line_with_comments() {
        let text = render(&sample());
        assert!(text.starts_with("# Canopy organisation `総務`"));
        assert!(
            text.contains("\n  - {path: 総務/true/2024, kind: project}\n"),
            "{text}"
        );
        assert!(text.contains("\n# Bindings (1)"), "{text}");
        assert!(text.contains("\n      - {member: \"user:admin\", manual: include, mapped: [\"oidc:corp\", scim]}\n"), "{text}");
    }

    #[test]
    fn a_shape_error_names_its_line() {
        let text = render(&sample()).replace("kind: project", "kind: cupboard");
        let e = parse(&text).unwrap_err();
        assert!(e.contains("line"), "{e}");
    }
}
