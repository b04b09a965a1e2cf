//! WebAuthn ceremonies and the passkey credentials they produce. A ceremony's state lives in
//! `webauthn_challenges` between its start and its finish, so that any replica can finish what
//! another started; it is taken exactly once. Passkeys themselves are rows of `credentials`
//! (kind `passkey:CREDENTIAL_ID`), written and removed by the writer with the change that counts
//! them; only their use (sign counter, last use) is updated here, in place, without a change.
//! Nothing here is a change (DESIGN §2.1).

use canopy_core::time::Timestamp;
use sqlx::Row;

use crate::{Store, StoreError};

/// The prefix of the credential kind of a passkey: `passkey:` then its credential ID
/// (base64url).
pub const PASSKEY_KIND_PREFIX: &str = "passkey:";

/// A ceremony in progress.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Challenge {
    /// Its public ID (`wch_…`): the client sends it back with the finish.
    pub id: String,
    /// The organisation it is for (empty: an organisation that does not exist).
    pub org: String,
    /// The organisation as the client named it at the start (for the back-off account).
    pub org_ref: String,
    /// The user it is for (empty: not known yet, as in a login without a username).
    pub principal: String,
    /// The username given at the start (empty: none given).
    pub username: String,
    /// What it is for (`register`, `login`…), as the server names it.
    pub purpose: String,
    /// The ceremony's state (webauthn-rs's, serialised): never sent to the client.
    pub state: String,
    /// When it stops being accepted.
    pub expires: Timestamp,
}

/// What taking a challenge found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Taken {
    /// It was there and not taken: it is now, by this call only.
    Fresh(Challenge),
    /// It was there, but its time was over (it is taken now all the same).
    Expired(Challenge),
    /// Another finish took it already: this one is a replay.
    Replayed(Challenge),
    /// There is no such challenge (never was, or purged after it expired).
    Unknown,
}

/// The columns of a challenge, in the order [`challenge_of_row`] reads them.
macro_rules! columns {
    () => {
        "id, org_id, org_ref, principal_id, username, purpose, state, expires_ms"
    };
}

fn challenge_of_row(r: &sqlx::any::AnyRow) -> Result<Challenge, StoreError> {
    Ok(Challenge {
        id: r.try_get(0)?,
        org: r.try_get(1)?,
        org_ref: r.try_get(2)?,
        principal: r.try_get(3)?,
        username: r.try_get(4)?,
        purpose: r.try_get(5)?,
        state: r.try_get(6)?,
        expires: Timestamp::from_millis(r.try_get(7)?),
    })
}

impl Store {
    /// Records a ceremony's start, and forgets the ceremonies that expired before `now`.
    pub async fn put_challenge(&self, c: &Challenge, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM webauthn_challenges WHERE expires_ms < $1")
            .bind(now.millis())
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO webauthn_challenges (id, org_id, org_ref, principal_id, username, purpose, \
             state, expires_ms, taken_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        )
        .bind(&c.id)
        .bind(&c.org)
        .bind(&c.org_ref)
        .bind(&c.principal)
        .bind(&c.username)
        .bind(&c.purpose)
        .bind(&c.state)
        .bind(c.expires.millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes a challenge for its finish at `now`. One statement marks it taken only if it was
    /// not, so of two finishes racing on any replicas exactly one gets it
    /// [`Fresh`](Taken::Fresh) (or [`Expired`](Taken::Expired)); the other sees a replay.
    pub async fn take_challenge(&self, id: &str, now: Timestamp) -> Result<Taken, StoreError> {
        let taken = sqlx::query(concat!(
            "UPDATE webauthn_challenges SET taken_ms = $1 WHERE id = $2 AND taken_ms = 0 \
             RETURNING ",
            columns!()
        ))
        .bind(now.millis().max(1))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = taken {
            let c = challenge_of_row(&row)?;
            return Ok(if c.expires > now {
                Taken::Fresh(c)
            } else {
                Taken::Expired(c)
            });
        }
        let seen = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM webauthn_challenges WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match seen {
            Some(row) => Ok(Taken::Replayed(challenge_of_row(&row)?)),
            None => Ok(Taken::Unknown),
        }
    }

    /// A challenge that is neither taken nor expired at `now`, without taking it (a dry run of
    /// a finish).
    pub async fn peek_challenge(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Challenge>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM webauthn_challenges WHERE id = $1 AND taken_ms = 0 AND expires_ms > $2"
        ))
        .bind(id)
        .bind(now.millis())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(challenge_of_row).transpose()
    }

    /// A principal's secrets whose kind starts with `prefix` (letters and `:` only), as
    /// `(kind, secret)`, by kind.
    pub async fn secrets_with_prefix(
        &self,
        principal: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        if !prefix.chars().all(|c| c.is_ascii_alphabetic() || c == ':') {
            return Err(StoreError::corrupt(format!(
                "a bad prefix of kinds: {prefix}"
            )));
        }
        let rows = sqlx::query(
            "SELECT kind, secret FROM credentials \
             WHERE principal_id = $1 AND kind LIKE $2 ORDER BY kind",
        )
        .bind(principal)
        .bind(format!("{prefix}%"))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The principals of an organisation holding a secret of this kind (a passkey's credential
    /// is held by one at most).
    pub async fn secret_holders(&self, org: &str, kind: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT principal_id FROM credentials WHERE kind = $1 AND org_id = $2",
        )
        .bind(kind)
        .bind(org)
        .fetch_all(self.pool())
        .await?)
    }

    /// Whether anyone, in any organisation, holds a secret of this kind.
    pub async fn secret_held(&self, kind: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE kind = $1")
            .bind(kind)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Replaces an existing secret in place (a passkey's sign counter and last use after a
    /// login): not a change. A secret removed meanwhile stays removed; whether one was there.
    pub async fn update_secret(
        &self,
        principal: &str,
        kind: &str,
        secret: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE credentials SET secret = $1 WHERE principal_id = $2 AND kind = $3")
                .bind(secret)
                .bind(principal)
                .bind(kind)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
