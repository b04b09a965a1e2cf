//! Passkeys (WebAuthn): the relying party built once at start, how a passkey is stored, and the
//! ceremonies' state kept in the store between a start and its finish (so that any replica can
//! finish what another started). The routes are in [`crate::routes::passkeys`] (registering,
//! listing, removing) and [`crate::auth::passkey`] (logging in).
//!
//! A passkey is one row of `credentials`, kind `passkey:CREDENTIAL_ID` (base64url), whose secret
//! is a [`StoredPasskey`]: webauthn-rs's `Passkey` (public key, sign counter, backup state) with
//! the name the user gave it and when it was registered and last used. The row is written and
//! removed by the writer together with the change that counts it in the model
//! (`SetCredential`/`RemoveCredential` of kind `passkey`), so the model's count and the rows move
//! together; the change log says "credential set" and nothing of the key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canopy_core::ids::PrincipalId;
use canopy_core::time::Timestamp;
use canopy_store::{AuditKey, Challenge, PASSKEY_KIND_PREFIX};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webauthn_rs::fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator};
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, RequestChallengeResponse, Url, Uuid, Webauthn,
    WebauthnBuilder,
};
use webauthn_rs_proto::AllowCredentials;

use crate::state::WebauthnSettings;

/// How long a ceremony may take from its start to its finish, in milliseconds (5 minutes, the
/// timeout the options give the authenticator too).
pub const CHALLENGE_TTL_MS: i64 = 5 * 60_000;

/// What a ceremony is for: the `purpose` of its stored challenge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Purpose {
    /// Registering a passkey for the user who started it.
    Register,
    /// Logging in as the user named at the start, with one of their passkeys.
    Login,
    /// Logging in without a username: the authenticator says whose passkey it used.
    LoginDiscoverable,
    /// A login started for a username that has no passkey (or does not exist): its options look
    /// like a real one's, and no answer can finish it.
    LoginDecoy,
}

impl Purpose {
    /// How the store names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Login => "login",
            Purpose::LoginDiscoverable => "login_discoverable",
            Purpose::LoginDecoy => "login_decoy",
        }
    }

    /// The purpose the store names so.
    pub fn parse(text: &str) -> Option<Purpose> {
        [
            Purpose::Register,
            Purpose::Login,
            Purpose::LoginDiscoverable,
            Purpose::LoginDecoy,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

/// A passkey as stored: the secret of its `credentials` row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// The name its user gave it.
    pub name: String,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it last logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// webauthn-rs's credential: public key, sign counter, backup state.
    pub passkey: Passkey,
}

impl StoredPasskey {
    /// Reads a stored passkey.
    pub fn parse(secret: &str) -> Result<StoredPasskey, String> {
        serde_json::from_str(secret).map_err(|e| format!("a stored passkey does not parse: {e}"))
    }

    /// Its stored form.
    pub fn to_secret(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }

    /// Its ID in the API: the credential ID, base64url without padding.
    pub fn id(&self) -> String {
        passkey_id(self.passkey.cred_id())
    }
}

/// The API's ID of a passkey: its credential ID, base64url without padding. Not a secret: a
/// login's options list the credential IDs of the user.
pub fn passkey_id(cred_id: &CredentialID) -> String {
    URL_SAFE_NO_PAD.encode(cred_id)
}

/// The credential kind of the passkey whose API ID this is.
pub fn kind_of(id: &str) -> String {
    format!("{PASSKEY_KIND_PREFIX}{id}")
}

/// The user handle of a user's passkeys (WebAuthn's `user.id`): derived from their ID, so that
/// nothing more is stored, and opaque (it says nothing of the ID to whoever reads it).
pub fn user_handle(user: &PrincipalId) -> Uuid {
    let digest = Sha256::digest(format!("canopy passkey user: {user}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A fresh challenge ID (`wch_…`).
pub fn challenge_id() -> String {
    format!("wch_{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// A challenge to store for a ceremony started at `now`.
pub fn challenge(
    purpose: Purpose,
    org: (&str, &str),
    principal: &str,
    username: &str,
    state: String,
    now: Timestamp,
) -> Challenge {
    Challenge {
        id: challenge_id(),
        org: org.0.into(),
        org_ref: org.1.into(),
        principal: principal.into(),
        username: username.into(),
        purpose: purpose.as_str().into(),
        state,
        expires: now.plus_millis(CHALLENGE_TTL_MS),
    }
}

/// The relying party: one `Webauthn` for the server's life, and the generator of decoy
/// credential IDs for logins of usernames without passkeys.
pub struct RelyingParty {
    webauthn: Webauthn,
    origin: Url,
    decoys: WebauthnFakeCredentialGenerator<FakePasskeyDistribution>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("origin", &self.origin.as_str())
            .finish()
    }
}

/// Why a ceremony's answer was refused (the detail is for the log and for a registrant; a login
/// answers one message whatever it is).
pub type CeremonyError = String;

impl RelyingParty {
    /// The relying party of `settings`; `port` is the one the server listens on (the default
    /// origin's). The decoy generator's key is derived from the audit key, which replicas
    /// share, so a username gets the same decoys from every replica. Refuses an origin that is
    /// not a URL, or whose host is not the relying party ID or below it.
    pub fn new(
        settings: &WebauthnSettings,
        port: u16,
        audit_key: &AuditKey,
    ) -> Result<RelyingParty, String> {
        let origin_text = settings.origin_for(port);
        let origin = Url::parse(&origin_text)
            .map_err(|e| format!("webauthn origin `{origin_text}`: {e}"))?;
        let webauthn = WebauthnBuilder::new(&settings.rp_id, &origin)
            .and_then(|b| {
                b.rp_name("Canopy")
                    .timeout(std::time::Duration::from_millis(CHALLENGE_TTL_MS as u64))
                    .build()
            })
            .map_err(|e| {
                format!(
                    "webauthn: the relying party ID `{}` must be the host of the origin `{origin}` \
                     or a domain above it ({e})",
                    settings.rp_id
                )
            })?;
        let decoys = WebauthnFakeCredentialGenerator::new(
            &audit_key.derive("webauthn decoy credential IDs"),
        )
        .map_err(|e| format!("webauthn: {e}"))?;
        Ok(RelyingParty {
            webauthn,
            origin,
            decoys,
        })
    }

    /// The origin browsers must be at.
    pub fn origin(&self) -> &str {
        self.origin.as_str()
    }

    /// Starts registering a passkey for `user`, excluding the credentials they have: the
    /// options for the authenticator and the state to keep.
    pub fn start_registration(
        &self,
        user: &PrincipalId,
        username: &str,
        display_name: &str,
        exclude: Vec<CredentialID>,
    ) -> Result<(CreationChallengeResponse, String), CeremonyError> {
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                user_handle(user),
                username,
                display_name,
                Some(exclude).filter(|e| !e.is_empty()),
            )
            .map_err(|e| e.to_string())?;
        Ok((options, to_state(&state)?))
    }

    /// Verifies the authenticator's answer to a registration: the new passkey.
    pub fn finish_registration(
        &self,
        state: &str,
        credential: &serde_json::Value,
    ) -> Result<Passkey, CeremonyError> {
        let state: PasskeyRegistration = from_state(state)?;
        let credential = serde_json::from_value(credential.clone())
            .map_err(|e| format!("`credential` is not a WebAuthn credential: {e}"))?;
        self.webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| e.to_string())
    }

    /// Starts a login with one of these passkeys (none: a decoy for `username`, with credential
    /// IDs that look real and are the same each time). The options and the state to keep.
    pub fn start_login(
        &self,
        passkeys: &[Passkey],
        username: &str,
    ) -> Result<(RequestChallengeResponse, Purpose, String), CeremonyError> {
        if passkeys.is_empty() {
            let (mut options, state) = self.start_discoverable()?;
            let ids = self
                .decoys
                .generate(username.as_bytes())
                .map_err(|e| e.to_string())?;
            options.public_key.allow_credentials = ids
                .into_iter()
                .map(|id| AllowCredentials {
                    type_: "public-key".into(),
                    id,
                    transports: None,
                })
                .collect();
            // As a real login's options have them.
            options.public_key.extensions = None;
            return Ok((options, Purpose::LoginDecoy, state));
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(passkeys)
            .map_err(|e| e.to_string())?;
        Ok((options, Purpose::Login, to_state(&state)?))
    }

    /// Starts a login without a username: the authenticator offers the passkeys it keeps for
    /// this relying party. `mediation` is left to the client (a button: none; autofill:
    /// `conditional`).
    pub fn start_discoverable(&self) -> Result<(RequestChallengeResponse, String), CeremonyError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| e.to_string())?;
        options.mediation = None;
        Ok((options, to_state(&state)?))
    }

    /// Verifies a login's answer against the state of a [`Purpose::Login`] start: the credential
    /// used, its new counter state applied to `passkey` by the caller.
    pub fn finish_login(
        &self,
        state: &str,
        credential: &webauthn_rs::prelude::PublicKeyCredential,
    ) -> Result<webauthn_rs::prelude::AuthenticationResult, CeremonyError> {
        let state: PasskeyAuthentication = from_state(state)?;
        self.webauthn
            .finish_passkey_authentication(credential, &state)
            .map_err(|e| e.to_string())
    }

    /// Whose passkey a discoverable login's answer says it used: the user handle and the
    /// credential ID.
    pub fn identify(
        &self,
        credential: &webauthn_rs::prelude::PublicKeyCredential,
    ) -> Result<(Uuid, String), CeremonyError> {
        let (handle, id) = self
            .webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|e| e.to_string())?;
        Ok((handle, URL_SAFE_NO_PAD.encode(id)))
    }

    /// Verifies a discoverable login's answer with the passkey it named.
    pub fn finish_discoverable(
        &self,
        state: &str,
        credential: &webauthn_rs::prelude::PublicKeyCredential,
        passkey: &Passkey,
    ) -> Result<webauthn_rs::prelude::AuthenticationResult, CeremonyError> {
        let state: DiscoverableAuthentication = from_state(state)?;
        self.webauthn
            .finish_discoverable_authentication_v2(credential, state, passkey)
            .map_err(|e| e.to_string())
    }
}

fn to_state<T: Serialize>(state: &T) -> Result<String, CeremonyError> {
    serde_json::to_string(state).map_err(|e| e.to_string())
}

fn from_state<T: serde::de::DeserializeOwned>(state: &str) -> Result<T, CeremonyError> {
    serde_json::from_str(state).map_err(|e| format!("a ceremony's state does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_handles_are_stable_and_opaque() {
        for p in [
            Purpose::Register,
            Purpose::Login,
            Purpose::LoginDiscoverable,
            Purpose::LoginDecoy,
        ] {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        let id = PrincipalId::parse("usr_0123456789abcdef").unwrap_or_else(|| unreachable!());
        assert_eq!(user_handle(&id), user_handle(&id));
        assert!(!user_handle(&id).to_string().contains("0123456789"));
    }

    #[test]
    fn the_default_origin_is_localhost_at_the_port_listened_on() {
        let key = AuditKey::generate();
        let rp = RelyingParty::new(&WebauthnSettings::default(), 8750, &key)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(rp.origin(), "http://localhost:8750/");
        let wrong = WebauthnSettings {
            rp_id: "example.com".into(),
            origin: Some("https://iam.example.org".into()),
        };
        assert!(RelyingParty::new(&wrong, 0, &key).is_err());
    }
}
