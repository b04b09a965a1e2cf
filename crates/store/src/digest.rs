//! A digest of an installation's state: equal digests, equal states. Replicas compare theirs;
//! backups record theirs.

use canopy_core::installation::Installation;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// SHA-256 (hex) over the instance administrators and every organisation's revision and objects,
/// in ID order, each object as JSON (whose maps are ordered, so the text is deterministic).
pub fn state_digest(inst: &Installation) -> Result<String, serde_json::Error> {
    let mut h = Sha256::new();
    let mut put = |v: &dyn erased::Json| -> Result<(), serde_json::Error> {
        h.update(v.json()?);
        h.update(b"\n");
        Ok(())
    };
    for a in inst.admins() {
        put(a)?;
    }
    for e in inst.orgs() {
        let m = e.model();
        put(&e.revision())?;
        put(&m.org)?;
        put(&m.catalog)?;
        for v in m.nodes.values() {
            put(v)?;
        }
        for v in m.resources.values() {
            put(v)?;
        }
        for v in m.users.values() {
            put(v)?;
        }
        for v in m.service_accounts.values() {
            put(v)?;
        }
        for v in m.groups.values() {
            put(v)?;
        }
        for v in m.memberships.values() {
            put(v)?;
        }
        for v in m.roles.values() {
            put(v)?;
        }
        for v in m.bindings.values() {
            put(v)?;
        }
        for v in m.guardrails.values() {
            put(v)?;
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Serialising objects of different types through one closure.
mod erased {
    pub trait Json {
        fn json(&self) -> Result<Vec<u8>, serde_json::Error>;
    }
    impl<T: super::Serialize> Json for T {
        fn json(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}
