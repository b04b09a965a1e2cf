//! Roles, bindings and guardrails.

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_api::{BindingConditions, CreateBindingRequest};
use canopy_core::messages::Lang;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::http::{Query, seg};
use super::{Change, Ctx, DeleteArgs, Error, Paging, input};
use crate::messages;

/// The statements of a role or guardrail: from a file, or simple ones from flags.
#[derive(Args, Debug)]
pub struct Statements {
    /// A YAML or JSON file with the statements (`{statements: [{effect, actions}]}`, or the
    /// list itself).
    #[arg(long, conflicts_with_all = ["allow", "deny"])]
    file: Option<PathBuf>,
    /// An allow statement of these action patterns (repeatable).
    #[arg(long)]
    allow: Vec<String>,
    /// A deny statement of these action patterns (repeatable).
    #[arg(long)]
    deny: Vec<String>,
}

impl Statements {
    /// The statements as the API takes them.
    fn to_json(&self, lang: Lang) -> Result<Value, Error> {
        if let Some(file) = &self.file {
            return input::list_in(file, "statements", lang);
        }
        let mut statements = Vec::new();
        if !self.allow.is_empty() {
            statements.push(json!({"effect": "allow", "actions": self.allow}));
        }
        if !self.deny.is_empty() {
            statements.push(json!({"effect": "deny", "actions": self.deny}));
        }
        if statements.is_empty() {
            return Err(Error(messages::no_statements(lang)));
        }
        Ok(Value::Array(statements))
    }
}

/// `canopy role …`. Roles are named by name or ID.
#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// List the roles (system roles included).
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Create a role: `canopy role create vm-operator --allow vm.power --allow vm.read`.
    Create {
        /// Its name.
        name: String,
        #[command(flatten)]
        statements: Statements,
        #[command(flatten)]
        change: Change,
    },
    /// Show a role.
    Get {
        /// Its name or ID.
        role: String,
    },
    /// Replace a role's statements.
    Update {
        /// Its name or ID.
        role: String,
        #[command(flatten)]
        statements: Statements,
        #[command(flatten)]
        change: Change,
    },
    /// Delete a role.
    Delete {
        /// Its name or ID.
        role: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
}

const STATEMENT_COLUMNS: [(&str, &str); 3] = [
    ("NAME", "/name"),
    ("ID", "/id"),
    ("STATEMENTS", "/statements"),
];

/// `canopy role …`.
pub async fn role(ctx: &Ctx, command: RoleCommand) -> Result<ExitCode, Error> {
    let at = |role: &str| ctx.url(&[], &format!("/roles/{}", seg(role)));
    match command {
        RoleCommand::List { paging } => {
            let url = ctx.url(&[], "/roles")?;
            ctx.list(&url, Query::new(), &paging, &STATEMENT_COLUMNS)
                .await
        }
        RoleCommand::Create {
            name,
            statements,
            change,
        } => {
            let body = json!({"name": name, "statements": statements.to_json(ctx.lang)?});
            let url = ctx.url(&[], "/roles")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        RoleCommand::Get { role } => ctx.show(&at(&role)?).await,
        RoleCommand::Update {
            role,
            statements,
            change,
        } => {
            let body = json!({"statements": statements.to_json(ctx.lang)?});
            ctx.change(
                "PUT",
                &at(&role)?,
                Query::new(),
                change.dry_run,
                Some(&body),
            )
            .await
        }
        RoleCommand::Delete { role, delete } => ctx.delete(&at(&role)?, &delete).await,
    }
}

/// `canopy binding …`. Bindings are named by ID.
#[derive(Subcommand, Debug)]
pub enum BindingCommand {
    /// List bindings, optionally only those of a subject, role or scope.
    List {
        /// Only this principal's (`user:NAME`, `group:NAME`, … or ID).
        #[arg(long)]
        subject: Option<String>,
        /// Only this role's (name or ID).
        #[arg(long)]
        role: Option<String>,
        /// Only those at this scope (path or ID).
        #[arg(long)]
        scope: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Bind a role: `canopy binding create group:ops vm-operator acme/eng`.
    Create {
        /// The principal: `user:NAME`, `sa:NAME`, `group:NAME` or an ID.
        subject: String,
        /// The role (name or ID).
        role: String,
        /// Where: a node or resource (path or ID).
        scope: String,
        /// When it stops applying (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
        /// Only for MFA-verified sessions.
        #[arg(long)]
        mfa: bool,
        /// Only for requests from this network (repeatable).
        #[arg(long = "source-cidr")]
        source_cidrs: Vec<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Show a binding.
    Get {
        /// Its ID.
        binding: String,
    },
    /// Delete a binding.
    Delete {
        /// Its ID.
        binding: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
}

/// `canopy binding …`.
pub async fn binding(ctx: &Ctx, command: BindingCommand) -> Result<ExitCode, Error> {
    let at = |binding: &str| ctx.url(&[], &format!("/bindings/{}", seg(binding)));
    match command {
        BindingCommand::List {
            subject,
            role,
            scope,
            paging,
        } => {
            let columns = [
                ("ID", "/id"),
                ("SUBJECT", "/subject_ref"),
                ("ROLE", "/role_name"),
                ("SCOPE", "/scope_path"),
                ("EXPIRES", "/expires_at"),
                ("CONDITIONS", "/conditions"),
            ];
            let url = ctx.url(&[scope.as_deref().unwrap_or("")], "/bindings")?;
            let mut q = Query::new();
            q.opt("subject", subject)
                .opt("role", role)
                .opt("scope", scope);
            ctx.list(&url, q, &paging, &columns).await
        }
        BindingCommand::Create {
            subject,
            role,
            scope,
            expires_at,
            mfa,
            source_cidrs,
            change,
        } => {
            let url = ctx.url(&[&scope], "/bindings")?;
            let conditions = (mfa || !source_cidrs.is_empty())
                .then_some(BindingConditions { mfa, source_cidrs });
            let body = serde_json::to_value(CreateBindingRequest {
                subject,
                role,
                scope,
                expires_at,
                conditions,
            })?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        BindingCommand::Get { binding } => ctx.show(&at(&binding)?).await,
        BindingCommand::Delete { binding, delete } => ctx.delete(&at(&binding)?, &delete).await,
    }
}

/// `canopy guardrail …`. Guardrails are named by name or ID.
#[derive(Subcommand, Debug)]
pub enum GuardrailCommand {
    /// List the guardrails.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Attach a guardrail to a node: `canopy guardrail create no-delete --node acme/eng --deny vm.delete`.
    Create {
        /// Its name.
        name: String,
        /// The node whose subtree it caps (path or ID).
        #[arg(long)]
        node: String,
        #[command(flatten)]
        statements: Statements,
        #[command(flatten)]
        change: Change,
    },
    /// Show a guardrail.
    Get {
        /// Its name or ID.
        guardrail: String,
    },
    /// Replace a guardrail's statements.
    Update {
        /// Its name or ID.
        guardrail: String,
        #[command(flatten)]
        statements: Statements,
        #[command(flatten)]
        change: Change,
    },
    /// Delete a guardrail.
    Delete {
        /// Its name or ID.
        guardrail: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
}

/// `canopy guardrail …`.
pub async fn guardrail(ctx: &Ctx, command: GuardrailCommand) -> Result<ExitCode, Error> {
    let at = |g: &str| ctx.url(&[], &format!("/guardrails/{}", seg(g)));
    match command {
        GuardrailCommand::List { paging } => {
            let columns = [
                ("NAME", "/name"),
                ("ID", "/id"),
                ("NODE", "/node_path"),
                ("STATEMENTS", "/statements"),
            ];
            let url = ctx.url(&[], "/guardrails")?;
            ctx.list(&url, Query::new(), &paging, &columns).await
        }
        GuardrailCommand::Create {
            name,
            node,
            statements,
            change,
        } => {
            let url = ctx.url(&[&node], "/guardrails")?;
            let body = json!({
                "name": name,
                "node": node,
                "statements": statements.to_json(ctx.lang)?,
            });
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        GuardrailCommand::Get { guardrail } => ctx.show(&at(&guardrail)?).await,
        GuardrailCommand::Update {
            guardrail,
            statements,
            change,
        } => {
            let body = json!({"statements": statements.to_json(ctx.lang)?});
            ctx.change(
                "PUT",
                &at(&guardrail)?,
                Query::new(),
                change.dry_run,
                Some(&body),
            )
            .await
        }
        GuardrailCommand::Delete { guardrail, delete } => {
            ctx.delete(&at(&guardrail)?, &delete).await
        }
    }
}
