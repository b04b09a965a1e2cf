//! The client commands: every operation of the API as `canopy NOUN VERB …`, talking to a server
//! over HTTP. Answers print as readable tables, or with `-o json` as the server's JSON. Exit
//! codes are for scripts: 0 ok or allowed, 1 denied, 2 a usage error or a problem.

/// `println!` that does not panic when stdout is closed (`canopy user list | head -1`): what
/// cannot be written is dropped.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that does not panic when stderr is closed.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod audit;
mod documents;
mod http;
mod input;
#[cfg(test)]
mod operations;
mod output;
mod passkeys;
mod plans;
mod policies;
mod principals;
mod questions;
mod session;
mod tree;

use std::process::ExitCode;

use canopy_core::messages::Lang;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use crate::messages;

use self::http::{Api, Query, seg};

/// The server used when neither a flag, the environment nor a stored login names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8750";

/// The client commands (flattened into the binary's commands).
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Log in and store the token for later commands.
    Login(session::LoginArgs),
    /// End the session at the server and forget the stored login.
    Logout(Conn),
    /// Ask whether the server process is alive (`/healthz`).
    Health(Conn),
    /// Ask whether the server reaches its store, and at which revision (`/readyz`).
    Ready(Conn),
    /// Print the OpenAPI document the server serves (`canopy openapi` prints this binary's own).
    Spec(Conn),
    /// Organisations (instance administrators create and delete them).
    Org(Noun<tree::OrgCommand>),
    /// Print the organisation's tree of folders and projects.
    Tree(tree::TreeArgs),
    /// Folders and projects.
    Node(Noun<tree::NodeCommand>),
    /// Resources and their links to projects.
    Resource(Noun<tree::ResourceCommand>),
    /// The catalog of resource types and actions.
    Catalog(Noun<tree::CatalogCommand>),
    /// Users.
    User(Noun<principals::UserCommand>),
    /// Service accounts.
    Sa(Noun<principals::SaCommand>),
    /// Personal API tokens.
    Token(Noun<principals::TokenCommand>),
    /// Your TOTP second factor (enrol, confirm) or a user's (remove).
    Totp(Noun<principals::TotpCommand>),
    /// Groups and their members.
    Group(Noun<principals::GroupCommand>),
    /// Passkeys: list and remove them; register one or log in with one, step by step.
    Passkey(Noun<passkeys::PasskeyCommand>),
    /// Roles.
    Role(Noun<policies::RoleCommand>),
    /// Bindings: who holds which role where.
    Binding(Noun<policies::BindingCommand>),
    /// Guardrails: caps on everything below a node.
    Guardrail(Noun<policies::GuardrailCommand>),
    /// May PRINCIPAL do ACTION on TARGET? Exit 0 allowed, 1 denied.
    Check(questions::CheckArgs),
    /// Many checks from a file (`{checks: [{principal, action, target}]}`); exit 1 if any is denied.
    CheckBatch(questions::BatchArgs),
    /// Why PRINCIPAL may or may not do ACTION on TARGET, and what would change it.
    Explain(questions::CheckArgs),
    /// Where PRINCIPAL may do an action.
    Access(questions::AccessArgs),
    /// Who may do an action on TARGET.
    Who(questions::WhoArgs),
    /// Every action PRINCIPAL may do on TARGET.
    Effective(questions::EffectiveArgs),
    /// Write the organisation as a YAML document (configuration as code).
    Export(documents::ExportArgs),
    /// Show what a document (or a file of commands) would change: objects, and who would gain
    /// and lose access.
    Plan(plans::PlanArgs),
    /// Apply a document (or a file of commands) as one change.
    Apply(plans::ApplyArgs),
    /// Compare two documents offline (e.g. staging and production); exit 1 if they differ.
    Diff(documents::DiffArgs),
    /// The audit log.
    Audit(Noun<audit::AuditCommand>),
    /// Follow the organisation's changes as they happen.
    Watch(audit::WatchArgs),
}

/// Where to connect and how to print: accepted by every client command, before or after its
/// verb.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Connection and output")]
pub struct Conn {
    /// The server's URL [default: the stored login's, else http://127.0.0.1:8750].
    #[arg(long, env = "CANOPY_SERVER", global = true)]
    pub server: Option<String>,
    /// A bearer token [default: the stored login's].
    #[arg(long, env = "CANOPY_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// The organisation, when no path argument names it [default: the stored login's].
    #[arg(long, env = "CANOPY_ORG", global = true)]
    pub org: Option<String>,
    /// How to print answers.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
}

/// How answers are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a person.
    Table,
    /// The server's JSON, pretty-printed.
    Json,
}

/// A noun with its verbs (`canopy user create …`).
#[derive(Args, Debug)]
pub struct Noun<C: Subcommand> {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: C,
}

/// `--dry-run`, on every command that changes something.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct Change {
    /// Show who would gain and lose access, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--dry-run` and `--cascade`, on deletes.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct DeleteArgs {
    /// Show who would gain and lose access, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete what refers to it (bindings, memberships, contents).
    #[arg(long)]
    pub cascade: bool,
}

/// `--limit` and `--cursor`: without them every page of a listing is fetched.
#[derive(Args, Clone, Debug, Default)]
pub struct Paging {
    /// Fetch one page of at most this many items.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Fetch the page that starts at this cursor (a `next_cursor`).
    #[arg(long)]
    pub cursor: Option<String>,
}

/// A failure of a client command, as one line for a person (exit code 2).
#[derive(Debug)]
pub struct Error(pub String);

/// The language of messages: `CANOPY_LANG`, else `LC_ALL` or `LANG` (`ja…` for Japanese).
pub fn lang() -> Lang {
    ["CANOPY_LANG", "LC_ALL", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .map_or(Lang::En, |v| {
            if v.starts_with("ja") {
                Lang::Ja
            } else {
                Lang::En
            }
        })
}

/// Runs a client command; failures are printed as one line on stderr (exit 2).
pub async fn run(command: Command) -> ExitCode {
    let lang = lang();
    match dispatch(command, lang).await {
        Ok(code) => code,
        Err(Error(message)) => {
            err!("canopy: {message}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(command: Command, lang: Lang) -> Result<ExitCode, Error> {
    match command {
        Command::Login(args) => session::login(args, lang).await,
        Command::Logout(conn) => session::logout(conn, lang).await,
        Command::Health(conn) => health(&Ctx::new(&conn, lang)?, "/healthz").await,
        Command::Ready(conn) => health(&Ctx::new(&conn, lang)?, "/readyz").await,
        Command::Spec(conn) => {
            let ctx = Ctx::new(&conn, lang)?;
            let doc = ctx
                .api
                .send("GET", "/openapi.json", &Query::new(), None)
                .await?;
            output::json(&doc);
            Ok(ExitCode::SUCCESS)
        }
        Command::Org(n) => tree::org(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Tree(a) => tree::tree(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Node(n) => tree::node(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Resource(n) => tree::resource(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Catalog(n) => tree::catalog(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::User(n) => principals::user(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Sa(n) => principals::sa(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Token(n) => principals::token(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Totp(n) => principals::totp(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Group(n) => principals::group(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Passkey(n) => passkeys::passkey(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Role(n) => policies::role(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Binding(n) => policies::binding(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Guardrail(n) => policies::guardrail(&Ctx::new(&n.conn, lang)?, n.command).await,
        Command::Check(a) => questions::check(&Ctx::new(&a.conn, lang)?, a).await,
        Command::CheckBatch(a) => questions::check_batch(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Explain(a) => questions::explain(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Access(a) => questions::access(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Who(a) => questions::who(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Effective(a) => questions::effective(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Export(a) => documents::export(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Diff(a) => documents::diff(a, lang),
        Command::Plan(a) => plans::plan(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Apply(a) => plans::apply(&Ctx::new(&a.conn, lang)?, a).await,
        Command::Audit(n) => audit::audit(&n.conn, n.command, lang).await,
        Command::Watch(a) => audit::watch(&Ctx::new(&a.conn, lang)?, a).await,
    }
}

async fn health(ctx: &Ctx, path: &str) -> Result<ExitCode, Error> {
    let answer = ctx.api.send("GET", path, &Query::new(), None).await?;
    match answer {
        Value::String(text) if !ctx.json => out!("{text}"),
        other => ctx.print_object(&other),
    }
    Ok(ExitCode::SUCCESS)
}

/// What every command needs: the server connection, the organisation when no path names one,
/// the output format and the language.
pub struct Ctx {
    api: Api,
    org: Option<String>,
    json: bool,
    lang: Lang,
}

impl Ctx {
    /// Settles server, token and organisation: flags, then `CANOPY_*` (both through clap), then
    /// the stored login. The stored token is only sent to the server it was issued by.
    fn new(conn: &Conn, lang: Lang) -> Result<Ctx, Error> {
        let stored = session::load(lang)?;
        let server = conn
            .server
            .clone()
            .or_else(|| stored.as_ref().map(|s| s.server.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let server = server.trim_end_matches('/').to_string();
        let same = stored
            .filter(|s| s.server.trim_end_matches('/') == server)
            .map(|s| (s.token, s.org));
        let (stored_token, stored_org) = same.unzip();
        let token = conn.token.clone().or(stored_token);
        let org = conn.org.clone().or(stored_org.flatten());
        Ok(Ctx {
            api: Api::new(server, token, lang)?,
            org,
            json: conn.output == Format::Json,
            lang,
        })
    }

    /// The organisation of a command: the first segment of the first path among `refs`, else
    /// `--org`, `CANOPY_ORG` or the stored login's.
    fn org(&self, refs: &[&str]) -> Result<String, Error> {
        refs.iter()
            .find_map(|r| r.split_once('/').map(|(org, _)| org.to_string()))
            .or_else(|| self.org.clone())
            .ok_or_else(|| Error(messages::no_org(self.lang)))
    }

    /// `/v1/orgs/{org}{rest}` for the organisation of `refs` (`rest` already encoded).
    fn url(&self, refs: &[&str], rest: &str) -> Result<String, Error> {
        Ok(format!("/v1/orgs/{}{rest}", seg(&self.org(refs)?)))
    }

    /// Prints one object: its fields as rows, or its JSON.
    fn print_object(&self, v: &Value) {
        if self.json {
            output::json(v);
        } else {
            output::fields(v).print();
        }
    }

    /// Reads one object and prints it.
    async fn show(&self, path: &str) -> Result<ExitCode, Error> {
        let v = self.api.send("GET", path, &Query::new(), None).await?;
        self.print_object(&v);
        Ok(ExitCode::SUCCESS)
    }

    /// Sends a change (with `?dry_run=true` when asked) and prints what it did: the object as
    /// it now is, the revision of a delete, or the access diff of a dry run.
    async fn change(
        &self,
        method: &str,
        path: &str,
        mut query: Query,
        dry_run: bool,
        body: Option<&Value>,
    ) -> Result<ExitCode, Error> {
        query.flag("dry_run", dry_run);
        let v = self.api.send(method, path, &query, body).await?;
        if self.json {
            output::json(&v);
        } else if v["dry_run"] == Value::Bool(true) {
            output::dry_run(&v, self.lang);
        } else if v.as_object().is_some_and(|o| o.len() == 1) && v["revision"].is_u64() {
            out!("{}", messages::done(&v["revision"], self.lang));
        } else {
            output::fields(&v).print();
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Deletes what `path` names (with `?cascade=true` and `?dry_run=true` when asked).
    async fn delete(&self, path: &str, args: &DeleteArgs) -> Result<ExitCode, Error> {
        let mut query = Query::new();
        query.flag("cascade", args.cascade);
        self.change("DELETE", path, query, args.dry_run, None).await
    }

    /// Fetches a listing (every page, unless `paging` asks for one) and prints its items with
    /// `columns` (`(header, JSON pointer)`).
    async fn list(
        &self,
        path: &str,
        query: Query,
        paging: &Paging,
        columns: &[(&str, &str)],
    ) -> Result<ExitCode, Error> {
        let v = self
            .api
            .pages("GET", path, query, None, paging, &["/items"])
            .await?;
        if self.json {
            output::json(&v);
        } else {
            let items = v["items"].as_array().map(Vec::as_slice).unwrap_or_default();
            output::columns(items, columns).print();
            output::next_cursor(&v, self.lang);
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use clap::Subcommand;

    use super::operations::OPERATIONS;

    /// clap's own checks of the whole command tree (unique argument names, …), which it
    /// otherwise only makes when a command is used.
    #[test]
    fn the_command_tree_is_well_formed() {
        super::Command::augment_subcommands(clap::Command::new("canopy")).debug_assert();
    }

    /// Every entry of the table names a real command, down to a verb (not just a noun).
    #[test]
    fn every_operation_names_a_leaf_command() {
        let root = super::Command::augment_subcommands(clap::Command::new("canopy"));
        for (id, words) in OPERATIONS {
            let mut command = &root;
            for word in words.split(' ') {
                command = command
                    .find_subcommand(word)
                    .unwrap_or_else(|| panic!("{id}: no command `canopy {words}`"));
            }
            assert!(
                !command.has_subcommands(),
                "{id}: `canopy {words}` needs a verb"
            );
        }
    }
}
