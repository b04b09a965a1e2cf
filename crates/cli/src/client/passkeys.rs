//! `canopy passkey …`: a user's passkeys, and the two WebAuthn ceremonies (registering one,
//! logging in with one) driven step by step. A ceremony needs an authenticator, which the CLI
//! is not: `register-start` and `login-start` print the options to hand to one (a browser's
//! `navigator.credentials.create` / `.get`, or a security-key tool), and the `-finish` commands
//! send its answer back from a JSON file (the `PublicKeyCredential`, as `toJSON()` gives it).

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_api::{PasskeyLoginFinish, PasskeyLoginStart, RegisterPasskeyRequest};
use clap::Subcommand;

use super::http::{Query, seg};
use super::{Change, Ctx, Error, Paging, input, session};
use crate::messages;

/// `canopy passkey …`. Users are named by username or ID.
#[derive(Subcommand, Debug)]
pub enum PasskeyCommand {
    /// List a user's passkeys (your own, or anyone's with `iam.member.read`).
    List {
        /// The username or ID.
        user: String,
        #[command(flatten)]
        paging: Paging,
    },
    /// Remove a passkey: it no longer logs in (your own, or anyone's with `iam.user.write`).
    Remove {
        /// The username or ID.
        user: String,
        /// The passkey's ID (see `canopy passkey list`).
        passkey: String,
        #[command(flatten)]
        change: Change,
    },
    /// Start registering a passkey for yourself: prints `{challenge_id, options}`, the options
    /// for the authenticator.
    RegisterStart {
        /// Your username or ID.
        user: String,
    },
    /// Finish a registration with the authenticator's answer.
    RegisterFinish {
        /// Your username or ID.
        user: String,
        /// The `challenge_id` that `register-start` printed.
        #[arg(long)]
        challenge: String,
        /// A name for the passkey (`MacBook`, `YubiKey 5`).
        #[arg(long)]
        name: String,
        /// A JSON file holding the authenticator's answer (its `PublicKeyCredential`).
        #[arg(long)]
        credential: PathBuf,
        #[command(flatten)]
        change: Change,
    },
    /// Start logging in with a passkey to the organisation (`--org`): prints
    /// `{challenge_id, options}`, the options for the authenticator.
    LoginStart {
        /// The username (omitted: any passkey the authenticator keeps for the server).
        #[arg(long)]
        username: Option<String>,
    },
    /// Finish a login with the authenticator's answer, and store the token as `canopy login`
    /// does.
    LoginFinish {
        /// The `challenge_id` that `login-start` printed.
        #[arg(long)]
        challenge: String,
        /// A JSON file holding the authenticator's answer (its `PublicKeyCredential`).
        #[arg(long)]
        credential: PathBuf,
    },
}

/// `canopy passkey …`.
pub async fn passkey(ctx: &Ctx, command: PasskeyCommand) -> Result<ExitCode, Error> {
    let of = |user: &str, rest: &str| ctx.url(&[], &format!("/users/{}/passkeys{rest}", seg(user)));
    match command {
        PasskeyCommand::List { user, paging } => {
            let columns = [
                ("NAME", "/name"),
                ("ID", "/id"),
                ("CREATED", "/created_at"),
                ("LAST USED", "/last_used_at"),
            ];
            ctx.list(&of(&user, "")?, Query::new(), &paging, &columns)
                .await
        }
        PasskeyCommand::Remove {
            user,
            passkey,
            change,
        } => {
            let url = of(&user, &format!("/{}", seg(&passkey)))?;
            ctx.change("DELETE", &url, Query::new(), change.dry_run, None)
                .await
        }
        PasskeyCommand::RegisterStart { user } => {
            let url = of(&user, "/register")?;
            let v = ctx.api.send("POST", &url, &Query::new(), None).await?;
            super::output::json(&v);
            Ok(ExitCode::SUCCESS)
        }
        PasskeyCommand::RegisterFinish {
            user,
            challenge,
            name,
            credential,
            change,
        } => {
            let body = serde_json::to_value(RegisterPasskeyRequest {
                challenge_id: challenge,
                name,
                credential: input::document(&credential, ctx.lang)?,
            })?;
            let url = of(&user, "/register/finish")?;
            ctx.change("POST", &url, Query::new(), change.dry_run, Some(&body))
                .await
        }
        PasskeyCommand::LoginStart { username } => {
            let body = serde_json::to_value(PasskeyLoginStart {
                org: ctx.org(&[])?,
                username,
            })?;
            let v = ctx
                .api
                .send("POST", "/v1/auth/passkey/start", &Query::new(), Some(&body))
                .await?;
            super::output::json(&v);
            Ok(ExitCode::SUCCESS)
        }
        PasskeyCommand::LoginFinish {
            challenge,
            credential,
        } => {
            let body = serde_json::to_value(PasskeyLoginFinish {
                challenge_id: challenge,
                credential: input::document(&credential, ctx.lang)?,
                cookie: false,
            })?;
            let answer = ctx
                .api
                .send(
                    "POST",
                    "/v1/auth/passkey/finish",
                    &Query::new(),
                    Some(&body),
                )
                .await?;
            let org = ctx.org(&[]).ok();
            let (kept, path) = session::keep(ctx, org.clone(), &answer, ctx.lang)?;
            if ctx.json {
                session::print_without_token(answer);
            } else {
                out!(
                    "{}",
                    messages::logged_in_with_passkey(
                        org.as_deref(),
                        &kept.server,
                        &kept.expires_at,
                        &path,
                        ctx.lang
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
