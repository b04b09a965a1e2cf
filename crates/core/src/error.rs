//! The errors of commands and queries. Their text lives in [`crate::messages`], in English and
//! Japanese; `Display` gives the English one.

use crate::messages::{self, Lang};
use crate::name::NameProblem;

/// The kinds of object an error can name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub enum ObjectKind {
    Org,
    Node,
    Folder,
    Project,
    Resource,
    User,
    ServiceAccount,
    Group,
    Principal,
    Subject,
    Role,
    Binding,
    Guardrail,
    Token,
    Action,
    Type,
    Membership,
}

/// Which limit of §3.1 a command would exceed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LimitKind {
    /// Levels of folders and projects below the organisation.
    Depth,
    /// Folders and projects in the organisation.
    Nodes,
}

/// A rule of §3 that a command breaks, beyond names, references and limits.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Rule {
    /// Projects hold resources only.
    ProjectHoldsResourcesOnly,
    /// Links go to projects only.
    LinkToProjectOnly,
    /// The resource is already linked there, or it is its home.
    AlreadyLinked,
    /// The resource is not linked there.
    NotLinked,
    /// A node cannot move into its own subtree.
    MoveIntoOwnSubtree,
    /// The organisation node cannot be moved, renamed here or deleted here.
    RootIsFixed,
    /// A binding that has already expired.
    AlreadyExpired,
    /// System roles are read-only.
    SystemRoleReadOnly,
    /// A role or guardrail needs at least one statement, and each statement an action or class.
    EmptyStatement,
    /// The resource type is not in the catalog.
    UnknownType(String),
    /// A group cannot contain itself.
    SelfMembership,
    /// Only groups have members.
    NotAGroup,
    /// This credential kind is not set, so it cannot be removed.
    NoSuchCredential,
    /// The credential (a passkey's credential ID) is already registered, to this user or
    /// another: one authenticator's credential belongs to one account.
    CredentialTaken,
    /// A catalog name that is not well formed.
    BadCatalog(String),
    /// A command that only instance administrators may give.
    InstanceAdminsOnly,
    /// The limits may not be set below what the organisation already has.
    LimitBelowCurrent,
    /// A user's personal tokens are created by that user only.
    OwnTokensOnly,
    /// Tokens belong to users and service accounts, not groups.
    TokenOfAGroup,
}

/// Why a command was refused. Nothing changed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{}", messages::command_error(self, Lang::En))]
#[allow(missing_docs)] // the fields are named for what they hold
pub enum CommandError {
    /// The object the command is about does not exist (or belongs to another organisation).
    NotFound { kind: ObjectKind, reference: String },
    /// A reference in the command does not resolve in this organisation.
    UnknownReference {
        field: &'static str,
        reference: String,
    },
    /// A name breaks the rules of §3.1.
    InvalidName {
        field: &'static str,
        value: String,
        problem: NameProblem,
    },
    /// A field's value is not acceptable.
    InvalidField { field: &'static str, detail: String },
    /// The name is taken.
    DuplicateName { kind: ObjectKind, name: String },
    /// The name is confusable with an existing one.
    ConfusableName {
        kind: ObjectKind,
        name: String,
        existing: String,
    },
    /// A limit would be exceeded.
    Limit { limit: LimitKind, max: u32 },
    /// A statement's pattern matches no action of the catalog.
    CatalogTypo { pattern: String },
    /// Objects still depend on what the command would remove.
    InUse {
        kind: ObjectKind,
        reference: String,
        dependents: Vec<String>,
    },
    /// Adding the member would make a group contain itself.
    GroupCycle { group: String, member: String },
    /// The change would leave no usable administrator (§3.7).
    Lockout { organisation: String },
    /// The caller may not do this.
    Forbidden { action: String, scope: String },
    /// The change would give someone more than the caller holds (§3.7).
    Escalation { action: String, scope: String },
    /// The organisation's authentication policy (§5) refuses this admin-class action to the
    /// caller's session: no second factor, or an address outside the allowed networks.
    PolicyRefused {
        action: String,
        reason: PolicyRefusal,
    },
    /// A rule of §3 is broken.
    Rule(Rule),
    /// `If-Match` named a revision older than the object's.
    StaleRevision { expected: u64, actual: u64 },
}

/// Which rule of the authentication policy refused an admin-class action.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PolicyRefusal {
    /// The session was not verified with a second factor.
    MfaRequired,
    /// The session's second factor was not a passkey.
    PasskeyRequired,
    /// The request comes from outside `admin_source_cidrs`.
    SourceNotAllowed,
}

/// Why a question (check, explain, listings) could not be answered.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{}", messages::query_error(self, Lang::En))]
#[allow(missing_docs)] // the fields are named for what they hold
pub enum QueryError {
    /// The principal does not exist in this organisation.
    UnknownPrincipal(String),
    /// The principal is a group; decisions are about users and service accounts.
    NotASubject(String),
    /// The action is not in the catalog.
    UnknownAction(String),
    /// The type is not in the catalog.
    UnknownType(String),
    /// The target does not exist in this organisation.
    UnknownTarget(String),
    /// A reference that is not well formed.
    BadReference { field: &'static str, value: String },
    /// The cursor does not belong to this listing.
    BadCursor,
}

impl CommandError {
    /// The message in the given language.
    pub fn message(&self, lang: Lang) -> String {
        messages::command_error(self, lang)
    }
}

impl QueryError {
    /// The message in the given language.
    pub fn message(&self, lang: Lang) -> String {
        messages::query_error(self, lang)
    }
}

impl CommandError {
    /// The stable code of this error: the `SLUG` of the problem type `urn:canopy:problem:SLUG`.
    pub fn code(&self) -> &'static str {
        use CommandError::*;
        match self {
            NotFound { .. } => "not-found",
            UnknownReference { .. } => "unknown-reference",
            InvalidName { .. } => "invalid-name",
            InvalidField { .. } => "invalid-field",
            DuplicateName { .. } => "duplicate-name",
            ConfusableName { .. } => "confusable-name",
            Limit { .. } => "limit",
            CatalogTypo { .. } => "catalog-typo",
            InUse { .. } => "in-use",
            GroupCycle { .. } => "group-cycle",
            Lockout { .. } => "lockout",
            Forbidden { .. } | PolicyRefused { .. } => "forbidden",
            Escalation { .. } => "escalation",
            StaleRevision { .. } => "stale-revision",
            Rule(rule) => match rule {
                self::Rule::UnknownType(_) => "unknown-reference",
                self::Rule::SelfMembership => "group-cycle",
                self::Rule::NotAGroup => "not-found",
                self::Rule::InstanceAdminsOnly
                | self::Rule::SystemRoleReadOnly
                | self::Rule::OwnTokensOnly => "forbidden",
                self::Rule::LimitBelowCurrent => "limit",
                self::Rule::CredentialTaken => "duplicate-name",
                _ => "invalid-field",
            },
        }
    }
}

impl QueryError {
    /// The stable code of this error (see [`CommandError::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::UnknownPrincipal(_)
            | QueryError::UnknownAction(_)
            | QueryError::UnknownType(_)
            | QueryError::UnknownTarget(_) => "unknown-reference",
            QueryError::NotASubject(_) | QueryError::BadReference { .. } => "invalid-field",
            QueryError::BadCursor => "stale-cursor",
        }
    }
}
