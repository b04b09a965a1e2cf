//! What commands read besides their arguments: passwords (from a file or stdin, never from an
//! argument, where every user of the machine could see them) and YAML or JSON documents.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use canopy_core::messages::Lang;
use serde_json::Value;

use super::Error;
use crate::messages;

/// A password: the first line of `file`, else one line of stdin.
pub fn password(file: Option<&Path>, lang: Lang) -> Result<String, Error> {
    let line = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error(messages::file_error(path, &e.to_string(), lang)))?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "{}", messages::password_prompt(lang));
                let _ = stderr.flush();
            }
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error(e.to_string()))?;
            line
        }
    };
    let password = line.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(Error(messages::empty_password(lang)));
    }
    Ok(password)
}

/// A YAML or JSON document (JSON is tried first, for its clearer errors on JSON files).
pub fn document(path: &Path, lang: Lang) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error(messages::file_error(path, &e.to_string(), lang)))?;
    if let Ok(v) = serde_json::from_str(&text) {
        return Ok(v);
    }
    serde_norway::from_str(&text)
        .map_err(|e| Error(messages::file_error(path, &e.to_string(), lang)))
}

/// `KEY=VALUE` arguments as a map.
pub fn attributes(pairs: &[String], lang: Lang) -> Result<BTreeMap<String, String>, Error> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error(messages::bad_attribute(p, lang)))
        })
        .collect()
}

/// A file's list: the document's `field`, or the document itself when it is the list (a file
/// of checks may be `{checks: [...]}` or just `[...]`).
pub fn list_in(path: &Path, field: &str, lang: Lang) -> Result<Value, Error> {
    let list = match document(path, lang)? {
        list @ Value::Array(_) => list,
        mut other => other.get_mut(field).map(Value::take).unwrap_or_default(),
    };
    if list.is_array() {
        Ok(list)
    } else {
        Err(Error(messages::no_list(path, field, lang)))
    }
}
