//! Actions, their classes, the per-organisation catalog and the patterns that select actions (§3.2).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What kind of thing an action does; system roles select actions by class.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Looks without changing anything.
    Read,
    /// Runs things (power, backup) without changing the platform.
    Operate,
    /// Changes the configuration of resources.
    Configure,
    /// Changes who may do what, and every `iam` write.
    Admin,
}

impl ActionClass {
    /// All classes, weakest first.
    pub const ALL: [ActionClass; 4] = [
        ActionClass::Read,
        ActionClass::Operate,
        ActionClass::Configure,
        ActionClass::Admin,
    ];
}

/// The name of the built-in type that holds Canopy's own actions.
pub const IAM_TYPE: &str = "iam";

/// Canopy's own actions (§3.2), with their classes: reads are `read`, every write is `admin`.
pub const IAM_ACTIONS: &[(&str, ActionClass)] = &[
    ("iam.org.read", ActionClass::Read),
    ("iam.node.read", ActionClass::Read),
    ("iam.node.create", ActionClass::Admin),
    ("iam.node.update", ActionClass::Admin),
    ("iam.node.move", ActionClass::Admin),
    ("iam.node.delete", ActionClass::Admin),
    ("iam.resource.read", ActionClass::Read),
    ("iam.resource.create", ActionClass::Admin),
    ("iam.resource.update", ActionClass::Admin),
    ("iam.resource.move", ActionClass::Admin),
    ("iam.resource.link", ActionClass::Admin),
    ("iam.resource.delete", ActionClass::Admin),
    ("iam.catalog.read", ActionClass::Read),
    ("iam.catalog.write", ActionClass::Admin),
    ("iam.member.read", ActionClass::Read),
    ("iam.user.write", ActionClass::Admin),
    ("iam.serviceaccount.write", ActionClass::Admin),
    ("iam.group.write", ActionClass::Admin),
    ("iam.role.read", ActionClass::Read),
    ("iam.role.write", ActionClass::Admin),
    ("iam.binding.read", ActionClass::Read),
    ("iam.binding.write", ActionClass::Admin),
    ("iam.guardrail.read", ActionClass::Read),
    ("iam.guardrail.write", ActionClass::Admin),
    ("iam.policy.read", ActionClass::Read),
    ("iam.policy.write", ActionClass::Admin),
    ("iam.audit.read", ActionClass::Read),
    ("iam.access.read", ActionClass::Read),
];

/// A segment of an action name: lowercase ASCII letters, digits, `-` and `_`, starting with a
/// letter or digit.
pub fn is_valid_segment(s: &str) -> bool {
    s.len() <= 64
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether a full action name (`vm.snapshot.create`) is well formed: at least two segments.
pub fn is_valid_action_name(s: &str) -> bool {
    let mut n = 0;
    for seg in s.split('.') {
        if !is_valid_segment(seg) {
            return false;
        }
        n += 1;
    }
    n >= 2
}

/// A pattern over action names: `*` as a whole segment matches exactly one segment; a trailing
/// `*` matches one or more segments (`vm.*`, `*`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ActionPattern(Box<str>);

impl ActionPattern {
    /// Parses a pattern; `None` if a segment is neither `*` nor a valid segment.
    pub fn parse(s: &str) -> Option<ActionPattern> {
        s.split('.')
            .all(|seg| seg == "*" || is_valid_segment(seg))
            .then(|| ActionPattern(s.into()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `action` matches.
    pub fn matches(&self, action: &str) -> bool {
        let pat: Vec<&str> = self.0.split('.').collect();
        let act: Vec<&str> = action.split('.').collect();
        let Some((last, init)) = pat.split_last() else {
            return false;
        };
        if *last == "*" {
            act.len() > init.len() && init.iter().zip(&act).all(|(p, a)| *p == "*" || p == a)
        } else {
            act.len() == pat.len() && pat.iter().zip(&act).all(|(p, a)| *p == "*" || p == a)
        }
    }
}

impl fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}
impl TryFrom<String> for ActionPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ActionPattern::parse(&s).ok_or_else(|| format!("`{s}` is not an action pattern"))
    }
}
impl From<ActionPattern> for String {
    fn from(p: ActionPattern) -> String {
        p.0.into()
    }
}

/// Allow or deny.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants the matched actions.
    Allow,
    /// Takes the matched actions away, whatever else grants them.
    Deny,
}

/// One statement of a role or guardrail: an effect over the actions its patterns or classes match.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Allow or deny.
    pub effect: Effect,
    /// Action patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionPattern>,
    /// Action classes (used by the system roles; custom roles may use them too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ActionClass>,
}

impl Statement {
    /// Whether this statement matches `action` of `class`.
    pub fn matches(&self, action: &str, class: ActionClass) -> bool {
        self.classes.contains(&class) || self.actions.iter().any(|p| p.matches(action))
    }
}

/// The catalog of one organisation: its resource types, their actions and each action's class.
/// Wire shape: `{types: {vm: {power: operate, "snapshot.create": configure}}}`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Type name → action suffix → class. Never holds `iam`, which is built in.
    pub types: BTreeMap<String, BTreeMap<String, ActionClass>>,
}

/// Why a catalog was refused before it was compared with what uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogProblem {
    /// A type name that is not a valid segment.
    BadTypeName(String),
    /// The built-in `iam` type cannot be edited.
    ReservedType,
    /// An action suffix that is not made of valid segments.
    BadAction(String),
}

impl Catalog {
    /// Checks names; the `iam` type may not appear.
    pub fn validate(&self) -> Result<(), CatalogProblem> {
        for (ty, actions) in &self.types {
            if ty == IAM_TYPE {
                return Err(CatalogProblem::ReservedType);
            }
            if !is_valid_segment(ty) {
                return Err(CatalogProblem::BadTypeName(ty.clone()));
            }
            for suffix in actions.keys() {
                if !suffix.split('.').all(is_valid_segment) {
                    return Err(CatalogProblem::BadAction(format!("{ty}.{suffix}")));
                }
            }
        }
        Ok(())
    }

    /// Every action of the catalog, `iam` first, with its class and type.
    pub fn actions(&self) -> impl Iterator<Item = (String, ActionClass, &str)> + '_ {
        let iam = IAM_ACTIONS
            .iter()
            .map(|(a, c)| (a.to_string(), *c, IAM_TYPE));
        let custom = self.types.iter().flat_map(|(ty, acts)| {
            acts.iter()
                .map(move |(suffix, class)| (format!("{ty}.{suffix}"), *class, ty.as_str()))
        });
        iam.chain(custom)
    }

    /// Whether the type exists (`iam` always does).
    pub fn has_type(&self, ty: &str) -> bool {
        ty == IAM_TYPE || self.types.contains_key(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ActionPattern {
        ActionPattern::parse(s).unwrap()
    }

    #[test]
    fn a_whole_segment_star_matches_one_segment() {
        assert!(p("*.read").matches("vm.read"));
        assert!(!p("*.read").matches("iam.node.read"));
        assert!(p("*.*.read").matches("iam.node.read"));
        assert!(p("vm.*.create").matches("vm.snapshot.create"));
        assert!(!p("vm.*.create").matches("vm.create"));
    }

    #[test]
    fn a_trailing_star_matches_one_or_more_segments() {
        assert!(p("vm.*").matches("vm.power"));
        assert!(p("vm.*").matches("vm.snapshot.create"));
        assert!(!p("vm.*").matches("vm"));
        assert!(!p("vm.*").matches("vmx.power"));
        assert!(p("*").matches("iam.node.read"));
    }

    #[test]
    fn exact_patterns_match_only_themselves() {
        assert!(p("vm.power").matches("vm.power"));
        assert!(!p("vm.power").matches("vm.power.on"));
        assert!(!p("vm.power").matches("vm"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(ActionPattern::parse("vm..power").is_none());
        assert!(ActionPattern::parse("VM.power").is_none());
        assert!(ActionPattern::parse("vm.po*").is_none());
        assert!(ActionPattern::parse("").is_none());
    }

    #[test]
    fn the_iam_type_cannot_be_edited() {
        let mut c = Catalog::default();
        c.types.insert("iam".into(), BTreeMap::new());
        assert_eq!(c.validate(), Err(CatalogProblem::ReservedType));
    }

    #[test]
    fn every_iam_write_is_admin_class() {
        for (a, class) in IAM_ACTIONS {
            let is_read = a.ends_with(".read");
            assert_eq!(*class == ActionClass::Read, is_read, "{a}");
        }
    }
}
