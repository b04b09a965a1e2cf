//! The stored login: `canopy login` keeps `{server, org, token, expires_at}` in
//! `credentials.json` (mode 0600) in `$CANOPY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/canopy`, else
//! `~/.config/canopy`; later commands use it unless a flag or the environment says otherwise.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use canopy_api::{LoginRequest, LoginResponse};
use canopy_core::messages::Lang;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::Query;
use super::{Conn, Ctx, Error, input};
use crate::messages;

/// A stored login.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// The server it was made at.
    pub server: String,
    /// The organisation (none: an instance administrator).
    #[serde(default)]
    pub org: Option<String>,
    /// The bearer token.
    pub token: String,
    /// When the token stops working (RFC 3339).
    pub expires_at: String,
}

/// `canopy login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The username.
    #[arg(long)]
    username: String,
    /// A file holding the password (otherwise one line is read from stdin).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The current TOTP code, for an account that enrolled TOTP.
    #[arg(long)]
    totp: Option<String>,
    /// A recovery code instead of the TOTP code (each works once).
    #[arg(long, conflicts_with = "totp")]
    recovery_code: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

/// The directory of the stored login.
fn config_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("CANOPY_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(dir).join("canopy"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".config").join("canopy"))
}

fn credentials_path(lang: Lang) -> Result<PathBuf, Error> {
    config_dir()
        .map(|d| d.join("credentials.json"))
        .ok_or_else(|| Error(messages::no_config_dir(lang)))
}

/// The stored login, if there is one.
pub fn load(lang: Lang) -> Result<Option<Session>, Error> {
    let Some(dir) = config_dir() else {
        return Ok(None);
    };
    let path = dir.join("credentials.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error(messages::file_error(&path, &e.to_string(), lang))),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error(messages::file_error(&path, &e.to_string(), lang)))
}

/// Stores a login, readable by its owner only; written beside and renamed, so that a crash
/// never leaves half a file.
fn save(session: &Session, lang: Lang) -> Result<PathBuf, Error> {
    let path = credentials_path(lang)?;
    let io = |p: &Path, e: std::io::Error| Error(messages::file_error(p, &e.to_string(), lang));
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(|e| io(dir, e))?;
    }
    let temporary = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(session)?;
    write_private(&temporary, text.as_bytes()).map_err(|e| io(&temporary, e))?;
    std::fs::rename(&temporary, &path).map_err(|e| io(&path, e))?;
    Ok(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // A file left over from before keeps its mode through `open`; narrow it first.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `canopy login`: asks the server for a token and stores it.
pub async fn login(args: LoginArgs, lang: Lang) -> Result<ExitCode, Error> {
    let password = input::password(args.password_file.as_deref(), lang)?;
    let ctx = Ctx::new(&args.conn, lang)?;
    // The organisation is only what the flag or CANOPY_ORG says: a stored one would turn an
    // instance administrator's login into an organisation login.
    let org = args.conn.org.clone();
    let request = LoginRequest {
        org: org.clone(),
        username: args.username.clone(),
        password: password.into(),
        totp: args.totp.clone().map(Into::into),
        recovery_code: args.recovery_code.clone().map(Into::into),
        cookie: false,
    };
    let body = serde_json::to_value(&request)?;
    let answer = ctx
        .api
        .send("POST", "/v1/auth/login", &Query::new(), Some(&body))
        .await?;
    let (session, path) = keep(&ctx, org.clone(), &answer, lang)?;
    for warning in answer["warnings"].as_array().into_iter().flatten() {
        err!(
            "{}",
            messages::login_warning(warning.as_str().unwrap_or_default(), lang)
        );
    }
    if ctx.json {
        print_without_token(answer);
    } else {
        out!(
            "{}",
            messages::logged_in(
                &args.username,
                org.as_deref(),
                &session.server,
                &session.expires_at,
                &path,
                lang
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Stores the token of a login's answer (`{token, expires_at}`) for later commands.
pub(super) fn keep(
    ctx: &Ctx,
    org: Option<String>,
    answer: &Value,
    lang: Lang,
) -> Result<(Session, PathBuf), Error> {
    let answer: LoginResponse = serde_json::from_value(answer.clone())?;
    // The CLI never asks for a browser session, so a token comes back.
    let token = answer
        .token
        .ok_or_else(|| Error(messages::no_token_in_answer(lang)))?;
    let session = Session {
        server: ctx.api.server.clone(),
        org,
        token: token.0,
        expires_at: answer.expires_at,
    };
    let path = save(&session, lang)?;
    Ok((session, path))
}

/// Prints a login's answer without its token (which is in the file).
pub(super) fn print_without_token(mut answer: Value) {
    if let Value::Object(o) = &mut answer {
        o.remove("token");
    }
    super::output::json(&answer);
}

/// `canopy logout`: ends the session at the server, then forgets the stored login. The login is
/// forgotten even when the server cannot be told; the error then says the token may still work.
pub async fn logout(conn: Conn, lang: Lang) -> Result<ExitCode, Error> {
    let ended = match Ctx::new(&conn, lang) {
        Ok(ctx) => ctx.api.end_session().await,
        Err(e) => Err(e),
    };
    let path = credentials_path(lang)?;
    match std::fs::remove_file(&path) {
        Ok(()) => out!("{}", messages::logged_out(&path, lang)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out!("{}", messages::not_stored(&path, lang));
        }
        Err(e) => return Err(Error(messages::file_error(&path, &e.to_string(), lang))),
    }
    match ended {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(Error(e)) => Err(Error(messages::session_not_ended(&e, lang))),
    }
}
