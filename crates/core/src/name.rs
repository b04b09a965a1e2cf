//! Names of objects (§3.1): NFC, 1–128 characters, no `/`, `:` or control characters, no ID shape;
//! siblings may not be confusable (equal after NFKC and case folding).

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

use crate::ids::ID_PREFIXES;

/// The longest name, in characters after NFC normalisation.
pub const MAX_NAME_CHARS: usize = 128;

/// A validated, NFC-normalised name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(Box<str>);

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// Empty after normalisation.
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    TooLong,
    /// Contains `/`, `:` or a control character.
    ForbiddenCharacter(char),
    /// Starts or ends with white space.
    SurroundingSpace,
    /// `.` or `..`.
    Dots,
    /// Looks like an ID (`fld_…`).
    IdShaped,
}

impl Name {
    /// Normalises (NFC) and validates a name.
    pub fn parse(raw: &str) -> Result<Name, NameProblem> {
        // ASCII text is already in NFC (the common case: loading millions of names).
        let s: String = if raw.is_ascii() {
            raw.to_string()
        } else {
            raw.nfc().collect()
        };
        if s.is_empty() {
            return Err(NameProblem::Empty);
        }
        if s.chars().count() > MAX_NAME_CHARS {
            return Err(NameProblem::TooLong);
        }
        if let Some(c) = s.chars().find(|c| *c == '/' || *c == ':' || c.is_control()) {
            return Err(NameProblem::ForbiddenCharacter(c));
        }
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return Err(NameProblem::SurroundingSpace);
        }
        if s == "." || s == ".." {
            return Err(NameProblem::Dots);
        }
        if s.split_once('_')
            .is_some_and(|(p, _)| ID_PREFIXES.contains(&p))
        {
            return Err(NameProblem::IdShaped);
        }
        Ok(Name(s.into()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key under which confusable names collide: NFKC, then case folding, then NFKC again.
    pub fn confusable_key(&self) -> String {
        // For ASCII, NFKC is the identity and case folding is lowercasing.
        if self.0.is_ascii() {
            return self.0.to_ascii_lowercase();
        }
        let compat: String = self.0.nfkc().collect();
        caseless::default_case_fold_str(&compat).nfkc().collect()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}
impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Name::parse(&s).map_err(|p| format!("`{s}` is not a valid name: {p:?}"))
    }
}
impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_names_are_normal() {
        assert_eq!(Name::parse("総務部").unwrap().as_str(), "総務部");
    }

    #[test]
    fn forbidden_shapes_are_refused() {
        assert_eq!(Name::parse(""), Err(NameProblem::Empty));
        assert_eq!(
            Name::parse("a/b"),
            Err(NameProblem::ForbiddenCharacter('/'))
        );
        assert_eq!(
            Name::parse("user:x"),
            Err(NameProblem::ForbiddenCharacter(':'))
        );
        assert_eq!(
            Name::parse("a\u{7}"),
            Err(NameProblem::ForbiddenCharacter('\u{7}'))
        );
        assert_eq!(Name::parse(" a"), Err(NameProblem::SurroundingSpace));
        assert_eq!(Name::parse(".."), Err(NameProblem::Dots));
        assert_eq!(Name::parse("fld_123"), Err(NameProblem::IdShaped));
        assert_eq!(Name::parse(&"x".repeat(129)), Err(NameProblem::TooLong));
        assert!(Name::parse(&"名".repeat(128)).is_ok());
    }

    #[test]
    fn nfc_is_applied_before_anything_else() {
        // "é" as e + combining acute becomes one character.
        assert_eq!(Name::parse("e\u{301}").unwrap().as_str(), "\u{e9}");
    }

    #[test]
    fn the_ascii_shortcuts_give_what_the_unicode_algorithms_give() {
        use unicode_normalization::UnicodeNormalization;
        for b in 0x20u8..0x7f {
            let raw = format!("a{}Z", b as char);
            let Ok(name) = Name::parse(&raw) else {
                continue;
            };
            assert_eq!(name.as_str(), raw.nfc().collect::<String>());
            let compat: String = raw.nfkc().collect();
            let slow: String = caseless::default_case_fold_str(&compat).nfkc().collect();
            assert_eq!(name.confusable_key(), slow, "{raw}");
        }
    }

    #[test]
    fn full_width_and_case_are_confusable() {
        let a = Name::parse("ＶＭ").unwrap();
        let b = Name::parse("vm").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.confusable_key(), b.confusable_key());
    }
}
