//! Known devices (DESIGN §5): the browsers each user has logged in from, kept as the SHA-256 of
//! their long-lived device cookie. Not changes (not in the log): every replica reads the same
//! table, so a device known to one is known to all.

use canopy_core::time::Timestamp;

use crate::sessions::token_hash;
use crate::{Store, StoreError};

/// How long a device is remembered after its last login, in milliseconds: the lifetime of its
/// cookie (400 days), which every login renews.
pub const DEVICE_LIFETIME_MS: i64 = 400 * 24 * 3600 * 1000;

impl Store {
    /// Records that the user `principal` of `org` logged in at `now` from the browser holding
    /// the device cookie `cookie`; whether that browser was already one of the user's known
    /// devices. Devices unused for [`DEVICE_LIFETIME_MS`] are forgotten.
    pub async fn remember_device(
        &self,
        org: &str,
        principal: &str,
        cookie: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let hash = token_hash(cookie);
        let oldest = now.millis().saturating_sub(DEVICE_LIFETIME_MS);
        sqlx::query("DELETE FROM devices WHERE principal_id = $1 AND last_seen_ms <= $2")
            .bind(principal)
            .bind(oldest)
            .execute(self.pool())
            .await?;
        let seen = sqlx::query(
            "UPDATE devices SET last_seen_ms = $3 WHERE principal_id = $1 AND device_hash = $2",
        )
        .bind(principal)
        .bind(&hash)
        .bind(now.millis())
        .execute(self.pool())
        .await?;
        if seen.rows_affected() > 0 {
            return Ok(true);
        }
        sqlx::query(
            "INSERT INTO devices (principal_id, device_hash, org_id, first_seen_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (principal_id, device_hash) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
        )
        .bind(principal)
        .bind(&hash)
        .bind(org)
        .bind(now.millis())
        .execute(self.pool())
        .await?;
        Ok(false)
    }
}
