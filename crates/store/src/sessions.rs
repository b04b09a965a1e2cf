//! Login sessions and failed logins. Neither is a change (DESIGN §2.1): they are not in the log.
//! Every replica reads the same tables, so a session works on any of them, and ending one (or
//! blocking a login after repeated failures) holds on all of them.

use canopy_core::time::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Store, StoreError};

/// How a session's second factor was verified.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SecondFactor {
    /// A TOTP code.
    Totp,
    /// A single-use recovery code.
    RecoveryCode,
    /// A passkey (WebAuthn).
    Passkey,
}

impl SecondFactor {
    /// How the store and the audit log name it.
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactor::Totp => "totp",
            SecondFactor::RecoveryCode => "recovery_code",
            SecondFactor::Passkey => "passkey",
        }
    }

    fn parse(text: &str) -> Option<SecondFactor> {
        match text {
            "totp" => Some(SecondFactor::Totp),
            "recovery_code" => Some(SecondFactor::RecoveryCode),
            "passkey" => Some(SecondFactor::Passkey),
            _ => None,
        }
    }
}

/// A login session.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Session {
    /// Its public ID (`ses_…`), for the audit log and for ending it; never the token.
    pub id: String,
    /// The organisation (`None`: an instance administrator).
    pub org: Option<String>,
    /// The user's (or instance administrator's) ID.
    pub principal: String,
    /// Its username when it logged in.
    pub username: String,
    /// The second factor that verified it, if any.
    pub second_factor: Option<SecondFactor>,
    /// The client address it was opened from (empty: unknown).
    pub source: String,
    /// When it was created.
    pub created: Timestamp,
    /// When it stops working whatever happens.
    pub expires: Timestamp,
    /// When it was last seen in use (precise to [`Store::SEEN_EVERY_MS`]).
    pub last_seen: Timestamp,
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// How often a session's last use is written back: the idle timeout is this precise.
    pub const SEEN_EVERY_MS: i64 = 60_000;

    /// Records a session under the hash of its token.
    pub async fn create_session(&self, token: &str, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, id, org_id, principal_id, username, second_factor, \
             source, created_ms, expires_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(token_hash(token))
        .bind(&s.id)
        .bind(s.org.clone().unwrap_or_default())
        .bind(&s.principal)
        .bind(&s.username)
        .bind(s.second_factor.map_or("", SecondFactor::as_str))
        .bind(&s.source)
        .bind(s.created.millis())
        .bind(s.expires.millis())
        .bind(s.last_seen.millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session of a token, if it exists, has not expired at `now` and was last used less
    /// than `idle_ms` ago. Reading it does not count as a use: see [`Store::touch_session`].
    pub async fn session(
        &self,
        token: &str,
        now: Timestamp,
        idle_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        let hash = token_hash(token);
        let row = sqlx::query(
            "SELECT id, org_id, principal_id, username, second_factor, source, created_ms, \
             expires_ms, last_seen_ms FROM sessions \
             WHERE token_hash = $1 AND expires_ms > $2 AND last_seen_ms > $3",
        )
        .bind(&hash)
        .bind(now.millis())
        .bind(now.millis() - idle_ms)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let org: String = r.try_get(1)?;
        let factor: String = r.try_get(4)?;
        let session = Session {
            id: r.try_get(0)?,
            org: (!org.is_empty()).then_some(org),
            principal: r.try_get(2)?,
            username: r.try_get(3)?,
            second_factor: SecondFactor::parse(&factor),
            source: r.try_get(5)?,
            created: Timestamp::from_millis(r.try_get(6)?),
            expires: Timestamp::from_millis(r.try_get(7)?),
            last_seen: Timestamp::from_millis(r.try_get(8)?),
        };
        Ok(Some(session))
    }

    /// Records that `session` (of `token`) was used at `now`, if its last use on record is
    /// [`Store::SEEN_EVERY_MS`] old or more (so the idle timeout costs a write a minute, not one
    /// a request); whether it wrote. The caller first checks that the session is still in force:
    /// a session past its idle timeout must not be revived by being looked at.
    pub async fn touch_session(
        &self,
        token: &str,
        session: &mut Session,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if now.millis() - session.last_seen.millis() < Self::SEEN_EVERY_MS {
            return Ok(false);
        }
        sqlx::query("UPDATE sessions SET last_seen_ms = $1 WHERE token_hash = $2")
            .bind(now.millis())
            .bind(token_hash(token))
            .execute(self.pool())
            .await?;
        session.last_seen = now;
        Ok(true)
    }

    /// Ends the session of a token; whether there was one.
    pub async fn end_session(&self, token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Until when logins under any of `keys` are blocked, if one of them is at `now`.
    pub async fn login_blocked_until(
        &self,
        keys: &[&str],
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let mut until: Option<i64> = None;
        for key in keys {
            let blocked: Option<i64> = sqlx::query_scalar(
                "SELECT blocked_until_ms FROM login_failures \
                 WHERE failure_key = $1 AND blocked_until_ms > $2",
            )
            .bind(*key)
            .bind(now.millis())
            .fetch_optional(self.pool())
            .await?;
            until = until.max(blocked);
        }
        Ok(until.map(Timestamp::from_millis))
    }

    /// Counts one more failed login under `key` at `now` (the count starts again when the last
    /// failure is older than `forget_ms`) and blocks further logins under it until
    /// `block(count)` from now; the new count.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        forget_ms: i64,
        block: impl Fn(i64) -> i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_failures (failure_key, failures, last_ms, blocked_until_ms) \
             VALUES ($1, 1, $2, 0) \
             ON CONFLICT (failure_key) DO UPDATE SET \
             failures = CASE WHEN login_failures.last_ms < $3 THEN 1 \
             ELSE login_failures.failures + 1 END, last_ms = $2 \
             RETURNING failures",
        )
        .bind(key)
        .bind(now.millis())
        .bind(now.millis() - forget_ms)
        .fetch_one(&mut *tx)
        .await?;
        let wait = block(failures);
        if wait > 0 {
            sqlx::query("UPDATE login_failures SET blocked_until_ms = $1 WHERE failure_key = $2")
                .bind(now.millis() + wait)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(failures)
    }

    /// Forgets the failed logins under `key` (after a successful login).
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE failure_key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// Second factors: TOTP enrolments waiting for their first code, the TOTP steps already used,
/// and recovery codes spent. None of it is a change; all of it is shared by every replica.
impl Store {
    /// Keeps a TOTP secret until the principal confirms it with a code (replacing one waiting).
    pub async fn begin_enrolment(
        &self,
        principal: &str,
        secret: &str,
        expires: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending_enrolments (principal_id, secret, expires_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (principal_id) DO UPDATE SET secret = excluded.secret, \
             expires_ms = excluded.expires_ms",
        )
        .bind(principal)
        .bind(secret)
        .bind(expires.millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The TOTP secret waiting for the principal's confirmation, if it has not expired.
    pub async fn pending_enrolment(
        &self,
        principal: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT secret FROM pending_enrolments WHERE principal_id = $1 AND expires_ms > $2",
        )
        .bind(principal)
        .bind(now.millis())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Forgets the principal's waiting enrolment.
    pub async fn end_enrolment(&self, principal: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_enrolments WHERE principal_id = $1")
            .bind(principal)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Marks TOTP time step `step` used by the principal: false when it (or a later one) was
    /// used already — a replayed code.
    pub async fn use_totp_step(&self, principal: &str, step: u64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO totp_steps (principal_id, last_step) VALUES ($1, $2) \
             ON CONFLICT (principal_id) DO UPDATE SET last_step = excluded.last_step \
             WHERE totp_steps.last_step < excluded.last_step",
        )
        .bind(principal)
        .bind(step as i64)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the principal's secret of `kind` by `new` only if it is still `old` (a recovery
    /// code spent once, even when two replicas race); whether it was replaced.
    pub async fn swap_secret(
        &self,
        principal: &str,
        kind: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE credentials SET secret = $1 WHERE principal_id = $2 AND kind = $3 \
             AND secret = $4",
        )
        .bind(new)
        .bind(principal)
        .bind(kind)
        .bind(old)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// API tokens: their hashes are credentials of the token (`principal_id` = its `tok_…` ID, kind
/// `token`), written and deleted with the changes that create and revoke them.
impl Store {
    /// The organisation of the token `id` whose whole text hashes to `hash`, if it exists.
    pub async fn token_org(&self, id: &str, hash: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT org_id FROM credentials WHERE principal_id = $1 AND kind = 'token' \
             AND secret = $2",
        )
        .bind(id)
        .bind(hash)
        .fetch_optional(self.pool())
        .await?)
    }
}
