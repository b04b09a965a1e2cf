//! Organisations, the tree of folders and projects, resources and the catalog.

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_api::{
    CreateNodeRequest, CreateOrgRequest, CreateResourceRequest, Limits, LinkRequest, NewAdmin,
    TreeNode, UpdateNodeRequest, UpdateOrgRequest, UpdateResourceRequest,
};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::http::{Query, seg};
use super::output::{self, Table};
use super::{Change, Conn, Ctx, DeleteArgs, Error, Paging, input};
use crate::messages;

/// `canopy org …`.
#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// List the organisations (instance administrators).
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Create an organisation with its first administrator.
    Create {
        /// Its name.
        name: String,
        /// The first administrator's username.
        #[arg(long)]
        admin_user: String,
        /// A file holding the administrator's password (otherwise one line of stdin).
        #[arg(long)]
        admin_password_file: Option<PathBuf>,
        /// A YAML or JSON file with the authentication policy.
        #[arg(long)]
        policy_file: Option<PathBuf>,
        #[command(flatten)]
        change: Change,
    },
    /// Show an organisation.
    Get {
        /// Its name or ID [default: the current organisation].
        #[arg(value_name = "ORG")]
        name: Option<String>,
    },
    /// Change an organisation's limits (instance administrators) or policy (its admins).
    Update {
        /// Its name or ID [default: the current organisation].
        #[arg(value_name = "ORG")]
        name: Option<String>,
        /// Levels of folders and projects below the organisation.
        #[arg(long, requires = "max_nodes")]
        max_depth: Option<u32>,
        /// Folders and projects in the organisation.
        #[arg(long, requires = "max_depth")]
        max_nodes: Option<u32>,
        /// A YAML or JSON file with the new authentication policy.
        #[arg(long)]
        policy_file: Option<PathBuf>,
        #[command(flatten)]
        change: Change,
    },
    /// Delete an organisation (instance administrators).
    Delete {
        /// Its name or ID.
        #[arg(value_name = "ORG")]
        name: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
}

/// `canopy org …`.
pub async fn org(ctx: &Ctx, command: OrgCommand) -> Result<ExitCode, Error> {
    let at = |org: &str| format!("/v1/orgs/{}", seg(org));
    match command {
        OrgCommand::List { paging } => {
            let columns = [
                ("NAME", "/name"),
                ("ID", "/id"),
                ("MAX DEPTH", "/limits/max_depth"),
                ("MAX NODES", "/limits/max_nodes"),
                ("CREATED", "/created_at"),
            ];
            ctx.list("/v1/orgs", Query::new(), &paging, &columns).await
        }
        OrgCommand::Create {
            name,
            admin_user,
            admin_password_file,
            policy_file,
            change,
        } => {
            let password = input::password(admin_password_file.as_deref(), ctx.lang)?;
            let policy = match policy_file {
                Some(f) => Some(serde_json::from_value(input::document(&f, ctx.lang)?)?),
                None => None,
            };
            let body = CreateOrgRequest {
                name,
                admin: NewAdmin {
                    username: admin_user,
                    password: password.into(),
                },
                policy,
            };
            let body = serde_json::to_value(&body)?;
            ctx.change(
                "POST",
                "/v1/orgs",
                Query::new(),
                change.dry_run,
                Some(&body),
            )
            .await
        }
        OrgCommand::Get { name } => ctx.show(&at(&org_or_current(ctx, name)?)).await,
        OrgCommand::Update {
            name,
            max_depth,
            max_nodes,
            policy_file,
            change,
        } => {
            let limits = max_depth
                .zip(max_nodes)
                .map(|(max_depth, max_nodes)| Limits {
                    max_depth,
                    max_nodes,
                });
            let policy = match policy_file {
                Some(f) => Some(serde_json::from_value(input::document(&f, ctx.lang)?)?),
                None => None,
            };
            let body = serde_json::to_value(UpdateOrgRequest { limits, policy })?;
            let path = at(&org_or_current(ctx, name)?);
            ctx.change("PATCH", &path, Query::new(), change.dry_run, Some(&body))
                .await
        }
        OrgCommand::Delete { name, delete } => ctx.delete(&at(&name), &delete).await,
    }
}

fn org_or_current(ctx: &Ctx, org: Option<String>) -> Result<String, Error> {
    match org {
        Some(o) => Ok(o),
        None => ctx.org(&[]),
    }
}

/// `canopy tree [ORG]`.
#[derive(Args, Debug)]
pub struct TreeArgs {
    /// The organisation [default: the current one].
    #[arg(value_name = "ORG")]
    name: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

/// Prints the tree, indented by depth.
pub async fn tree(ctx: &Ctx, args: TreeArgs) -> Result<ExitCode, Error> {
    let org = org_or_current(ctx, args.name)?;
    let path = format!("/v1/orgs/{}/tree", seg(&org));
    let v = ctx.api.send("GET", &path, &Query::new(), None).await?;
    if ctx.json {
        output::json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let root: TreeNode = serde_json::from_value(v)?;
    let mut t = Table::new(&["NODE", "KIND", "ID", "READABLE"]);
    add_tree_rows(&mut t, &root, 0);
    t.print();
    Ok(ExitCode::SUCCESS)
}

fn add_tree_rows(t: &mut Table, node: &TreeNode, depth: usize) {
    t.row(vec![
        format!("{}{}", "  ".repeat(depth), node.name),
        node.kind.clone(),
        node.id.clone(),
        if node.readable { "yes" } else { "no" }.into(),
    ]);
    for child in &node.children {
        add_tree_rows(t, child, depth + 1);
    }
}

/// The kind of a new node.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum NodeKind {
    /// Holds folders, projects and resources.
    Folder,
    /// Holds resources only.
    Project,
}

/// `canopy node …`. Nodes are named by path (`acme/eng`) or ID.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Create a folder or project: `canopy node create acme/eng/payments --kind project`.
    Create {
        /// The new node's path (or, with `--parent`, its name).
        path: String,
        /// The parent (path or ID) [default: the path without its last segment].
        #[arg(long)]
        parent: Option<String>,
        /// Folder or project.
        #[arg(long, value_enum, default_value_t = NodeKind::Folder)]
        kind: NodeKind,
        #[command(flatten)]
        change: Change,
    },
    /// Show a node.
    Get {
        /// Its path or ID.
        node: String,
    },
    /// Rename or move a node (with its subtree).
    Update {
        /// Its path or ID.
        node: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new parent (path or ID).
        #[arg(long)]
        parent: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Delete a node (`--cascade`: with its contents).
    Delete {
        /// Its path or ID.
        node: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
    /// List a node's folders, projects and resources.
    Children {
        /// Its path or ID.
        node: String,
        #[command(flatten)]
        paging: Paging,
    },
}

/// `(parent, name)` of a new object: `--parent` and the name, or a path split at its last `/`.
fn parent_and_name(
    ctx: &Ctx,
    path: String,
    parent: Option<String>,
) -> Result<(String, String), Error> {
    match parent {
        Some(p) => Ok((p, path)),
        None => path
            .rsplit_once('/')
            .map(|(p, n)| (p.to_string(), n.to_string()))
            .ok_or_else(|| Error(messages::need_parent(&path, ctx.lang))),
    }
}

/// `canopy node …`.
pub async fn node(ctx: &Ctx, command: NodeCommand) -> Result<ExitCode, Error> {
    match command {
        NodeCommand::Create {
            path,
            parent,
            kind,
            change,
        } => {
            let (parent, name) = parent_and_name(ctx, path, parent)?;
            let kind = match kind {
                NodeKind::Folder => "folder",
                NodeKind::Project => "project",
            };
            let body = serde_json::to_value(CreateNodeRequest {
                kind: kind.into(),
                name,
                parent: parent.clone(),
            })?;
            let url = ctx.url(&[&parent], "/nodes")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        NodeCommand::Get { node } => ctx.show(&node_url(ctx, &node, "")?).await,
        NodeCommand::Update {
            node,
            name,
            parent,
            change,
        } => {
            let body = serde_json::to_value(UpdateNodeRequest { name, parent })?;
            let url = node_url(ctx, &node, "")?;
            ctx.change("PATCH", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        NodeCommand::Delete { node, delete } => {
            let url = node_url(ctx, &node, "")?;
            ctx.delete(&url, &delete).await
        }
        NodeCommand::Children { node, paging } => {
            let columns = [
                ("NAME", "/name"),
                ("KIND", "/kind"),
                ("TYPE", "/type"),
                ("PATH", "/path"),
                ("ID", "/id"),
            ];
            let url = node_url(ctx, &node, "/children")?;
            ctx.list(&url, Query::new(), &paging, &columns).await
        }
    }
}

fn node_url(ctx: &Ctx, node: &str, rest: &str) -> Result<String, Error> {
    ctx.url(&[node], &format!("/nodes/{}{rest}", seg(node)))
}

fn resource_url(ctx: &Ctx, resource: &str, rest: &str) -> Result<String, Error> {
    ctx.url(&[resource], &format!("/resources/{}{rest}", seg(resource)))
}

/// `canopy resource …`. Resources are named by path (`acme/eng/payments/vm-100`) or ID.
#[derive(Subcommand, Debug)]
pub enum ResourceCommand {
    /// Create a resource: `canopy resource create acme/eng/payments/vm-100 --type vm`.
    Create {
        /// The new resource's path (or, with `--parent`, its name).
        path: String,
        /// Its home node (path or ID) [default: the path without its last segment].
        #[arg(long)]
        parent: Option<String>,
        /// Its type (from the catalog).
        #[arg(long = "type")]
        type_name: String,
        /// A further project it belongs to (repeatable).
        #[arg(long = "link")]
        links: Vec<String>,
        /// An attribute, `KEY=VALUE` (repeatable).
        #[arg(long = "attr")]
        attributes: Vec<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Show a resource.
    Get {
        /// Its path or ID.
        resource: String,
    },
    /// Rename or move a resource, or replace its attributes.
    Update {
        /// Its path or ID.
        resource: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new home node (path or ID).
        #[arg(long)]
        parent: Option<String>,
        /// An attribute, `KEY=VALUE` (repeatable; together they replace the old ones).
        #[arg(long = "attr")]
        attributes: Vec<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Delete a resource.
    Delete {
        /// Its path or ID.
        resource: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
    /// Link a resource into a further project.
    Link {
        /// Its path or ID.
        resource: String,
        /// The project (path or ID).
        project: String,
        #[command(flatten)]
        change: Change,
    },
    /// Remove a resource's link to a project.
    Unlink {
        /// Its path or ID.
        resource: String,
        /// The project (path or ID).
        project: String,
        #[command(flatten)]
        change: Change,
    },
}

/// `canopy resource …`.
pub async fn resource(ctx: &Ctx, command: ResourceCommand) -> Result<ExitCode, Error> {
    match command {
        ResourceCommand::Create {
            path,
            parent,
            type_name,
            links,
            attributes,
            change,
        } => {
            let (parent, name) = parent_and_name(ctx, path, parent)?;
            let url = ctx.url(&[&parent], "/resources")?;
            let body = serde_json::to_value(CreateResourceRequest {
                type_name,
                name,
                parent,
                links,
                attributes: input::attributes(&attributes, ctx.lang)?,
            })?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        ResourceCommand::Get { resource } => ctx.show(&resource_url(ctx, &resource, "")?).await,
        ResourceCommand::Update {
            resource,
            name,
            parent,
            attributes,
            change,
        } => {
            let attributes = if attributes.is_empty() {
                None
            } else {
                Some(input::attributes(&attributes, ctx.lang)?)
            };
            let body = serde_json::to_value(UpdateResourceRequest {
                name,
                parent,
                attributes,
            })?;
            let url = resource_url(ctx, &resource, "")?;
            ctx.change("PATCH", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        ResourceCommand::Delete { resource, delete } => {
            let url = resource_url(ctx, &resource, "")?;
            ctx.delete(&url, &delete).await
        }
        ResourceCommand::Link {
            resource,
            project,
            change,
        } => {
            let body = serde_json::to_value(LinkRequest { project })?;
            let url = resource_url(ctx, &resource, "/links")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        ResourceCommand::Unlink {
            resource,
            project,
            change,
        } => {
            let url = resource_url(ctx, &resource, &format!("/links/{}", seg(&project)))?;
            ctx.change("DELETE", &url, Query::new(), change.dry_run, None)
                .await
        }
    }
}

/// `canopy catalog …`.
#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Show the catalog: every type's actions and their classes.
    Get,
    /// Replace the catalog with a YAML or JSON file (`{types: {vm: {power: operate}}}`).
    Put {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        change: Change,
    },
}

/// `canopy catalog …`.
pub async fn catalog(ctx: &Ctx, command: CatalogCommand) -> Result<ExitCode, Error> {
    let url = ctx.url(&[], "/catalog")?;
    match command {
        CatalogCommand::Get => {
            let v = ctx.api.send("GET", &url, &Query::new(), None).await?;
            if ctx.json {
                output::json(&v);
            } else {
                catalog_table(&v).print();
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCommand::Put { file, change } => {
            let doc = input::document(&file, ctx.lang)?;
            // The file may be the body itself or only its `types`.
            let body = if doc.get("types").is_some() {
                doc
            } else {
                json!({ "types": doc })
            };
            ctx.change("PUT", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
    }
}

fn catalog_table(v: &Value) -> Table {
    let mut t = Table::new(&["TYPE", "ACTION", "CLASS"]);
    if let Some(types) = v["types"].as_object() {
        for (type_name, actions) in types {
            for (action, class) in actions.as_object().into_iter().flatten() {
                t.row(vec![
                    type_name.clone(),
                    format!("{type_name}.{action}"),
                    output::cell(Some(class)),
                ]);
            }
        }
    }
    t
}
