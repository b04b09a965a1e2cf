//! Login sessions: bearer tokens kept as their SHA-256 only. Not changes (DESIGN §2.1): they are
//! not in the log, and every replica reads the same table, so a session works on any of them.

use canopy_core::time::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Store, StoreError};

/// A login session.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Session {
    /// The organisation (`None`: an instance administrator).
    pub org: Option<String>,
    /// The user's (or instance administrator's) ID.
    pub principal: String,
    /// Its username when it logged in.
    pub username: String,
    /// When it was created.
    pub created: Timestamp,
    /// When it stops working.
    pub expires: Timestamp,
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Records a session under the hash of its token.
    pub async fn create_session(&self, token: &str, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, org_id, principal_id, username, created_ms, \
             expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash(token))
        .bind(s.org.clone().unwrap_or_default())
        .bind(&s.principal)
        .bind(&s.username)
        .bind(s.created.millis())
        .bind(s.expires.millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session of a token, if it exists and has not expired at `now`.
    pub async fn session(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT org_id, principal_id, username, created_ms, expires_ms FROM sessions \
             WHERE token_hash = $1 AND expires_ms > $2",
        )
        .bind(token_hash(token))
        .bind(now.millis())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let org: String = r.try_get(0)?;
            Ok(Session {
                org: (!org.is_empty()).then_some(org),
                principal: r.try_get(1)?,
                username: r.try_get(2)?,
                created: Timestamp::from_millis(r.try_get(3)?),
                expires: Timestamp::from_millis(r.try_get(4)?),
            })
        })
        .transpose()
    }
}
