//! A digest of an installation's state: equal digests, equal states. Replicas compare theirs;
//! backups record theirs.

use canopy_core::installation::Installation;
use sha2::{Digest, Sha256};

/// SHA-256 (hex) over the instance administrators and every organisation's model and revision,
/// in ID order, as JSON (whose maps are ordered, so the text is deterministic).
pub fn state_digest(inst: &Installation) -> String {
    let mut h = Sha256::new();
    for a in inst.admins() {
        h.update(serde_json::to_vec(a).unwrap_or_default());
        h.update(b"\n");
    }
    for e in inst.orgs() {
        h.update(e.revision().to_string().as_bytes());
        h.update(b"\n");
        h.update(serde_json::to_vec(e.model()).unwrap_or_default());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}
