//! Stable, prefixed object IDs (`org_…`, `fld_…`, `usr_…`) and the clock that hands them out.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::time::Timestamp;

/// Where time and fresh randomness come from. Core never reads the system clock itself, so that
/// expiry, audit timestamps and IDs are testable.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
    /// 80 fresh random bits (or a deterministic sequence in tests) for a new ID.
    fn fresh_bits(&self) -> u128;
}

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const ID_BODY_LEN: usize = 16;

/// Every prefix an ID can have; a name may not start with one of these followed by `_`.
pub const ID_PREFIXES: [&str; 10] = [
    "org", "fld", "prj", "res", "usr", "sa", "grp", "rol", "bnd", "grd",
];

fn encode_body(bits: u128) -> String {
    (0..ID_BODY_LEN)
        .map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize] as char)
        .collect()
}

fn is_valid_body(body: &str) -> bool {
    !body.is_empty()
        && body.len() <= 64
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, [$($prefix:literal),+]) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Box<str>);

        impl $name {
            /// Parses an ID, accepting only this kind's prefixes.
            pub fn parse(s: &str) -> Option<Self> {
                let (prefix, body) = s.split_once('_')?;
                ([$($prefix),+].contains(&prefix) && is_valid_body(body)).then(|| Self(s.into()))
            }
            /// The ID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The prefix before `_` (`fld`, `usr`…).
            pub fn prefix(&self) -> &str {
                self.0.split_once('_').map_or("", |(p, _)| p)
            }
        }
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.into()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// An organisation, folder or project: `org_…`, `fld_…`, `prj_…`. The organisation's ID is
    /// also the ID of its root node.
    NodeId, ["org", "fld", "prj"]
);
prefixed_id!(
    /// A resource: `res_…`.
    ResourceId, ["res"]
);
prefixed_id!(
    /// A user, service account or group: `usr_…`, `sa_…`, `grp_…`.
    PrincipalId, ["usr", "sa", "grp"]
);
prefixed_id!(
    /// A role: `rol_…` (system roles have fixed IDs such as `rol_admin`).
    RoleId, ["rol"]
);
prefixed_id!(
    /// A binding: `bnd_…`.
    BindingId, ["bnd"]
);
prefixed_id!(
    /// A guardrail: `grd_…`.
    GuardrailId, ["grd"]
);
prefixed_id!(
    /// An API token: a personal token of a user, or a key of a service account: `tok_…`.
    TokenId, ["tok"]
);

/// The organisation an object belongs to is named by its root node's ID.
pub type OrgId = NodeId;

/// A fresh ID of the given prefix, from the clock's random bits.
pub fn fresh(prefix: &str, clock: &dyn Clock) -> String {
    format!("{prefix}_{}", encode_body(clock.fresh_bits()))
}

macro_rules! fresh_fn {
    ($ty:ident) => {
        impl $ty {
            /// A new ID with the given prefix (which must be one of this kind's).
            pub(crate) fn fresh(prefix: &str, clock: &dyn Clock) -> Self {
                Self(fresh(prefix, clock).into())
            }
        }
    };
}
fresh_fn!(NodeId);
fresh_fn!(ResourceId);
fresh_fn!(PrincipalId);
fresh_fn!(RoleId);
fresh_fn!(BindingId);
fresh_fn!(GuardrailId);
fresh_fn!(TokenId);

impl NodeId {
    /// The system-defined kind of this node, from its prefix.
    pub fn kind(&self) -> crate::model::NodeKind {
        match self.prefix() {
            "org" => crate::model::NodeKind::Org,
            "prj" => crate::model::NodeKind::Project,
            _ => crate::model::NodeKind::Folder,
        }
    }
}

impl PrincipalId {
    /// The kind of principal, from its prefix.
    pub fn kind(&self) -> crate::model::PrincipalKind {
        match self.prefix() {
            "usr" => crate::model::PrincipalKind::User,
            "sa" => crate::model::PrincipalKind::ServiceAccount,
            _ => crate::model::PrincipalKind::Group,
        }
    }
}

impl RoleId {
    /// A fixed ID for a system role.
    pub(crate) fn system(name: &str) -> Self {
        Self(format!("rol_{name}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_only_their_prefixes() {
        assert!(NodeId::parse("fld_abc").is_some());
        assert!(NodeId::parse("usr_abc").is_none());
        assert!(NodeId::parse("fld_").is_none());
        assert!(NodeId::parse("fld_a/b").is_none());
        assert_eq!(
            PrincipalId::parse("sa_x1").map(|p| p.kind()),
            Some(crate::model::PrincipalKind::ServiceAccount)
        );
    }

    #[test]
    fn fresh_ids_are_sixteen_chars_of_the_alphabet() {
        let body = encode_body(u128::MAX);
        assert_eq!(body.len(), ID_BODY_LEN);
        assert!(is_valid_body(&body));
    }
}

/// A deterministic clock: a settable time and a counter for IDs. For tests, benchmarks and
/// anything that must produce the same IDs twice.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: std::cell::Cell<i64>,
    counter: std::cell::Cell<u128>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn at(now: Timestamp) -> ManualClock {
        ManualClock {
            now: std::cell::Cell::new(now.millis()),
            counter: std::cell::Cell::new(0),
        }
    }
    /// Moves the clock to `now`.
    pub fn set(&self, now: Timestamp) {
        self.now.set(now.millis());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now.get())
    }
    fn fresh_bits(&self) -> u128 {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        // Spread the counter so IDs differ in their first characters too.
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    }
}
