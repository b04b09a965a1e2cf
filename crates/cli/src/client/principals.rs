//! Users, service accounts, groups and their members.

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_api::{
    CreateGroupRequest, CreateServiceAccountRequest, CreateUserRequest, MemberMode,
    PutMemberRequest, TotpConfirmRequest, UpdateServiceAccountRequest, UpdateUserRequest,
};
use clap::{Subcommand, ValueEnum};

use super::http::{Query, seg};
use serde_json::Value;

use super::{Change, Ctx, DeleteArgs, Error, Paging, input};

/// `canopy user …`. Users are named by username or ID.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// List the users.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Create a user.
    Create {
        /// The username.
        username: String,
        /// An e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// A display name.
        #[arg(long)]
        display_name: Option<String>,
        /// A file holding a local password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        change: Change,
    },
    /// Show a user.
    Get {
        /// The username or ID.
        user: String,
    },
    /// Change a user.
    Update {
        /// The username or ID.
        user: String,
        /// A new username.
        #[arg(long)]
        username: Option<String>,
        /// A new e-mail address (empty: remove it).
        #[arg(long)]
        email: Option<String>,
        /// A new display name (empty: remove it).
        #[arg(long)]
        display_name: Option<String>,
        /// Enable (`true`) or disable (`false`) the user.
        #[arg(long)]
        enabled: Option<bool>,
        /// Mark (`true`) or unmark (`false`) the user as a break-glass account.
        #[arg(long)]
        break_glass: Option<bool>,
        /// A file holding a new local password.
        #[arg(long, conflicts_with = "remove_password")]
        password_file: Option<PathBuf>,
        /// Remove the local password.
        #[arg(long)]
        remove_password: bool,
        #[command(flatten)]
        change: Change,
    },
    /// Delete a user (usually a user is disabled instead).
    Delete {
        /// The username or ID.
        user: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
}

/// `Some("")` clears a field (`null`), `Some(v)` sets it, `None` leaves it.
fn clearable(v: Option<String>) -> Option<Option<String>> {
    v.map(|s| (!s.is_empty()).then_some(s))
}

/// `canopy user …`.
pub async fn user(ctx: &Ctx, command: UserCommand) -> Result<ExitCode, Error> {
    let at = |user: &str| ctx.url(&[], &format!("/users/{}", seg(user)));
    match command {
        UserCommand::List { paging } => {
            let columns = [
                ("USERNAME", "/username"),
                ("ID", "/id"),
                ("ENABLED", "/enabled"),
                ("EMAIL", "/email"),
                ("DISPLAY NAME", "/display_name"),
                ("PASSWORD", "/credentials/password"),
            ];
            let url = ctx.url(&[], "/users")?;
            ctx.list(&url, Query::new(), &paging, &columns).await
        }
        UserCommand::Create {
            username,
            email,
            display_name,
            password_file,
            change,
        } => {
            let password = match password_file {
                Some(f) => Some(input::password(Some(&f), ctx.lang)?),
                None => None,
            };
            let body = serde_json::to_value(CreateUserRequest {
                username,
                email,
                display_name,
                password: password.map(Into::into),
            })?;
            let url = ctx.url(&[], "/users")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        UserCommand::Get { user } => ctx.show(&at(&user)?).await,
        UserCommand::Update {
            user,
            username,
            email,
            display_name,
            enabled,
            break_glass,
            password_file,
            remove_password,
            change,
        } => {
            let password = match (password_file, remove_password) {
                (Some(f), _) => Some(Some(input::password(Some(&f), ctx.lang)?)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let body = serde_json::to_value(UpdateUserRequest {
                username,
                email: clearable(email),
                display_name: clearable(display_name),
                enabled,
                break_glass,
                password: password.map(|p| p.map(Into::into)),
            })?;
            ctx.change(
                "PATCH",
                &at(&user)?,
                Query::new(),
                change.dry_run,
                Some(&body),
            )
            .await
        }
        UserCommand::Delete { user, delete } => ctx.delete(&at(&user)?, &delete).await,
    }
}

/// `canopy sa …`. Service accounts are named by name or ID.
#[derive(Subcommand, Debug)]
pub enum SaCommand {
    /// List the service accounts.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Create a service account.
    Create {
        /// Its name.
        name: String,
        #[command(flatten)]
        change: Change,
    },
    /// Show a service account.
    Get {
        /// Its name or ID.
        sa: String,
    },
    /// Enable or disable a service account.
    Update {
        /// Its name or ID.
        sa: String,
        /// Enable (`true`) or disable (`false`) it.
        #[arg(long)]
        enabled: Option<bool>,
        #[command(flatten)]
        change: Change,
    },
    /// Create a key for a service account; prints its secret (once).
    KeyCreate {
        /// The service account's name or ID.
        sa: String,
        /// What to call the key.
        name: String,
        #[command(flatten)]
        options: TokenArgs,
        #[command(flatten)]
        change: Change,
    },
    /// List a service account's keys (never their secrets).
    Keys {
        /// The service account's name or ID.
        sa: String,
    },
    /// Revoke a service account's key.
    KeyRevoke {
        /// The service account's name or ID.
        sa: String,
        /// The key's ID (`tok_…`).
        key: String,
        #[command(flatten)]
        change: Change,
    },
    /// Delete a service account.
    Delete {
        /// Its name or ID.
        sa: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
}

/// `canopy sa …`.
pub async fn sa(ctx: &Ctx, command: SaCommand) -> Result<ExitCode, Error> {
    let at = |sa: &str| ctx.url(&[], &format!("/service-accounts/{}", seg(sa)));
    match command {
        SaCommand::List { paging } => {
            let columns = [
                ("NAME", "/name"),
                ("ID", "/id"),
                ("ENABLED", "/enabled"),
                ("CREATED", "/created_at"),
            ];
            let url = ctx.url(&[], "/service-accounts")?;
            ctx.list(&url, Query::new(), &paging, &columns).await
        }
        SaCommand::Create { name, change } => {
            let body = serde_json::to_value(CreateServiceAccountRequest { name })?;
            let url = ctx.url(&[], "/service-accounts")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        SaCommand::Get { sa } => ctx.show(&at(&sa)?).await,
        SaCommand::Update {
            sa,
            enabled,
            change,
        } => {
            let body = serde_json::to_value(UpdateServiceAccountRequest { enabled })?;
            ctx.change(
                "PATCH",
                &at(&sa)?,
                Query::new(),
                change.dry_run,
                Some(&body),
            )
            .await
        }
        SaCommand::Delete { sa, delete } => ctx.delete(&at(&sa)?, &delete).await,
        SaCommand::KeyCreate {
            sa,
            name,
            options,
            change,
        } => {
            let body = options.request(name)?;
            let url = format!("{}/keys", at(&sa)?);
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        SaCommand::Keys { sa } => token_list(ctx, &format!("{}/keys", at(&sa)?)).await,
        SaCommand::KeyRevoke { sa, key, change } => {
            let url = format!("{}/keys/{}", at(&sa)?, seg(&key));
            ctx.change("DELETE", &url, Query::new(), change.dry_run, None)
                .await
        }
    }
}

/// `canopy token …`: a user's personal API tokens.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for yourself; prints its secret (once).
    Create {
        /// Your username or ID.
        user: String,
        /// What to call it.
        name: String,
        #[command(flatten)]
        options: TokenArgs,
        #[command(flatten)]
        change: Change,
    },
    /// List a user's tokens (never their secrets).
    List {
        /// The username or ID.
        user: String,
    },
    /// Revoke a token: refused everywhere within a second.
    Revoke {
        /// The username or ID.
        user: String,
        /// The token's ID (`tok_…`). (Not named `token`: that is the global `--token`.)
        id: String,
        #[command(flatten)]
        change: Change,
    },
}

/// What a new token or key may do, and until when.
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// When it stops working (RFC 3339) [default: 90 days for a personal token, never for a key].
    #[arg(long)]
    expires_at: Option<String>,
    /// Narrow it to actions matching this pattern (repeatable).
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// Narrow it to actions of this class: read, operate, configure, admin (repeatable).
    #[arg(long = "allow-class")]
    allow_class: Vec<String>,
}

impl TokenArgs {
    fn request(self, name: String) -> Result<Value, Error> {
        let narrowed = !self.allow.is_empty() || !self.allow_class.is_empty();
        let mut body = serde_json::json!({"name": name});
        if let Some(t) = self.expires_at {
            body["expires_at"] = Value::String(t);
        }
        if narrowed {
            body["statements"] = serde_json::json!([
                {"effect": "allow", "actions": self.allow, "classes": self.allow_class}
            ]);
        }
        Ok(body)
    }
}

/// `canopy token …`.
pub async fn token(ctx: &Ctx, command: TokenCommand) -> Result<ExitCode, Error> {
    let at = |user: &str, rest: &str| ctx.url(&[], &format!("/users/{}/tokens{rest}", seg(user)));
    match command {
        TokenCommand::Create {
            user,
            name,
            options,
            change,
        } => {
            let body = options.request(name)?;
            ctx.change(
                "POST",
                &at(&user, "")?,
                Query::new(),
                change.dry_run,
                Some(&body),
            )
            .await
        }
        TokenCommand::List { user } => token_list(ctx, &at(&user, "")?).await,
        TokenCommand::Revoke { user, id, change } => {
            let url = at(&user, &format!("/{}", seg(&id)))?;
            ctx.change("DELETE", &url, Query::new(), change.dry_run, None)
                .await
        }
    }
}

/// Prints a listing of tokens or keys.
async fn token_list(ctx: &Ctx, url: &str) -> Result<ExitCode, Error> {
    let columns = [
        ("NAME", "/name"),
        ("ID", "/id"),
        ("EXPIRES", "/expires_at"),
        ("CREATED", "/created_at"),
    ];
    ctx.list(url, Query::new(), &Paging::default(), &columns)
        .await
}

/// `canopy totp …`: a user's TOTP second factor.
#[derive(Subcommand, Debug)]
pub enum TotpCommand {
    /// Begin enrolling your own TOTP: prints the secret and its otpauth:// URI for an app.
    Enrol {
        /// Your username or ID.
        user: String,
        #[command(flatten)]
        change: Change,
    },
    /// Confirm your enrolment with a current code: prints your recovery codes (once).
    Confirm {
        /// Your username or ID.
        user: String,
        /// The current code of the authenticator app.
        #[arg(long)]
        code: String,
        #[command(flatten)]
        change: Change,
    },
    /// Remove a user's TOTP and recovery codes (your own, or anyone's with `iam.user.write`).
    Remove {
        /// The username or ID.
        user: String,
        #[command(flatten)]
        change: Change,
    },
}

/// `canopy totp …`.
pub async fn totp(ctx: &Ctx, command: TotpCommand) -> Result<ExitCode, Error> {
    let at = |user: &str, rest: &str| ctx.url(&[], &format!("/users/{}/totp{rest}", seg(user)));
    match command {
        TotpCommand::Enrol { user, change } => {
            ctx.change("POST", &at(&user, "")?, Query::new(), change.dry_run, None)
                .await
        }
        TotpCommand::Confirm { user, code, change } => {
            let body = serde_json::to_value(TotpConfirmRequest { code: code.into() })?;
            let url = at(&user, "/confirm")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        TotpCommand::Remove { user, change } => {
            ctx.change(
                "DELETE",
                &at(&user, "")?,
                Query::new(),
                change.dry_run,
                None,
            )
            .await
        }
    }
}

/// How a principal is put in a group.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Mode {
    /// In the group whatever the mapped sources say.
    Include,
    /// Out of the group however it would reach it.
    Exclude,
    /// As a mapped source would put it (`--source`, default `api`).
    Mapped,
}

/// `canopy group …`. Groups are named by name or ID.
#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List the groups.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Create a group.
    Create {
        /// Its name.
        name: String,
        #[command(flatten)]
        change: Change,
    },
    /// Show a group.
    Get {
        /// Its name or ID.
        group: String,
    },
    /// Delete a group.
    Delete {
        /// Its name or ID.
        group: String,
        #[command(flatten)]
        delete: DeleteArgs,
    },
    /// List a group's direct entries (`--effective`: its resolved users and service accounts).
    Members {
        /// Its name or ID.
        group: String,
        /// The resolved members, nesting and excludes applied.
        #[arg(long)]
        effective: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// Put a principal in a group (or, with `--mode exclude`, keep it out).
    AddMember {
        /// The group's name or ID.
        group: String,
        /// The principal: `user:NAME`, `sa:NAME`, `group:NAME` or an ID.
        principal: String,
        /// How.
        #[arg(long, value_enum, default_value_t = Mode::Include)]
        mode: Mode,
        /// With `--mode mapped`: the source (`scim`, `oidc:REALM`, `ldap:REALM`, `api`).
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Take a principal's entries out of a group.
    RemoveMember {
        /// The group's name or ID.
        group: String,
        /// The principal: `user:NAME`, `sa:NAME`, `group:NAME` or an ID.
        principal: String,
        /// Remove only the manual entry (`manual`) or one source's [default: every entry].
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        change: Change,
    },
}

/// `canopy group …`.
pub async fn group(ctx: &Ctx, command: GroupCommand) -> Result<ExitCode, Error> {
    let at = |group: &str, rest: &str| ctx.url(&[], &format!("/groups/{}{rest}", seg(group)));
    match command {
        GroupCommand::List { paging } => {
            let columns = [("NAME", "/name"), ("ID", "/id"), ("CREATED", "/created_at")];
            let url = ctx.url(&[], "/groups")?;
            ctx.list(&url, Query::new(), &paging, &columns).await
        }
        GroupCommand::Create { name, change } => {
            let body = serde_json::to_value(CreateGroupRequest { name })?;
            let url = ctx.url(&[], "/groups")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        GroupCommand::Get { group } => ctx.show(&at(&group, "")?).await,
        GroupCommand::Delete { group, delete } => ctx.delete(&at(&group, "")?, &delete).await,
        GroupCommand::Members {
            group,
            effective,
            paging,
        } => {
            let columns = [
                ("MEMBER", "/member_ref"),
                ("ID", "/member"),
                ("MANUAL", "/manual"),
                ("MAPPED", "/mapped"),
            ];
            let mut q = Query::new();
            q.flag("effective", effective);
            ctx.list(&at(&group, "/members")?, q, &paging, &columns)
                .await
        }
        GroupCommand::AddMember {
            group,
            principal,
            mode,
            source,
            change,
        } => {
            let mode = match mode {
                Mode::Include => MemberMode::Include,
                Mode::Exclude => MemberMode::Exclude,
                Mode::Mapped => MemberMode::Mapped,
            };
            let body = serde_json::to_value(PutMemberRequest { mode, source })?;
            let url = at(&group, &format!("/members/{}", seg(&principal)))?;
            ctx.change("PUT", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        GroupCommand::RemoveMember {
            group,
            principal,
            source,
            change,
        } => {
            let mut q = Query::new();
            q.opt("source", source);
            let url = at(&group, &format!("/members/{}", seg(&principal)))?;
            ctx.change("DELETE", &url, q, change.dry_run, None).await
        }
    }
}
