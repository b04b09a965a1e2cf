//! A software authenticator for tests: it answers the WebAuthn options a server sends as a
//! browser with a platform authenticator would — real CBOR attestation objects with COSE ES256
//! (P-256) keys and `none` attestation, real ECDSA assertions over the authenticator data and
//! the client data's hash — so that a real verifier (webauthn-rs in the server) checks them.
//! Its credentials are discoverable: it answers a login without an allow list with the last
//! credential it registered for the relying party, and always says whose it is (`userHandle`).
//!
//! The answers are JSON as `PublicKeyCredential.toJSON()` gives them (binary in base64url).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One credential the authenticator holds.
#[derive(Clone, Debug)]
struct Credential {
    id: Vec<u8>,
    rp_id: String,
    user_handle: Vec<u8>,
    key: SigningKey,
    counter: u32,
}

/// A software authenticator holding any number of passkeys.
#[derive(Clone, Debug)]
pub struct SoftAuthenticator {
    credentials: Vec<Credential>,
    /// Whether it reports that it verified the user (PIN, biometrics): the UV flag.
    pub user_verified: bool,
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        SoftAuthenticator::new()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(v: &Value, what: &str) -> Result<Vec<u8>, String> {
    let text = v.as_str().ok_or(format!("{what}: not a string"))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("{what}: {e}"))
}

/// CBOR (RFC 8949): the head of an item of major type `major` with argument `n`.
fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        cbor_head(out, 0, i as u64);
    } else {
        cbor_head(out, 1, (-1 - i) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len() as u64);
    out.extend(b);
}

fn cbor_text(out: &mut Vec<u8>, t: &str) {
    cbor_head(out, 3, t.len() as u64);
    out.extend(t.as_bytes());
}

/// The COSE_Key of a P-256 public key for ES256 (RFC 9053): `{1: 2, 3: -7, -1: 1, -2: x, -3: y}`.
fn cose_key(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    let (x, y) = (&bytes[1..33], &bytes[33..65]);
    let mut out = Vec::new();
    cbor_head(&mut out, 5, 5);
    for (k, v) in [(1, 2), (3, -7), (-1, 1)] {
        cbor_int(&mut out, k);
        cbor_int(&mut out, v);
    }
    cbor_int(&mut out, -2);
    cbor_bytes(&mut out, x);
    cbor_int(&mut out, -3);
    cbor_bytes(&mut out, y);
    out
}

/// The client data a browser at `origin` collects for a ceremony of `kind`.
fn client_data(kind: &str, challenge: &Value, origin: &str) -> Vec<u8> {
    json!({
        "type": kind,
        "challenge": challenge,
        "origin": origin,
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes()
}

impl SoftAuthenticator {
    /// An authenticator without credentials, which verifies its user.
    pub fn new() -> SoftAuthenticator {
        SoftAuthenticator {
            credentials: Vec::new(),
            user_verified: true,
        }
    }

    /// The IDs (base64url) of the credentials it holds, oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.credentials.iter().map(|c| b64(&c.id)).collect()
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0x01; // user present
        if self.user_verified {
            flags |= 0x04;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    /// Creates a credential for the options of a registration (`{publicKey: {...}}`, as the
    /// server sent them) as a browser at `origin` would, unless it holds one of the excluded
    /// credentials (a browser's `InvalidStateError`). The answer, as JSON.
    pub fn register(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let o = &options["publicKey"];
        let rp_id = o["rp"]["id"].as_str().ok_or("no rp.id")?.to_string();
        for excluded in o["excludeCredentials"].as_array().into_iter().flatten() {
            let id = unb64(&excluded["id"], "excludeCredentials")?;
            if self.credentials.iter().any(|c| c.id == id) {
                return Err("this authenticator holds an excluded credential".into());
            }
        }
        let user_handle = unb64(&o["user"]["id"], "user.id")?;
        let key = loop {
            if let Ok(k) = SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
                break k;
            }
        };
        let id = rand::random::<[u8; 32]>().to_vec();
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(true));
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(cose_key(&key));
        let mut attestation = Vec::new();
        cbor_head(&mut attestation, 5, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_head(&mut attestation, 5, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);
        let client = client_data("webauthn.create", &o["challenge"], origin);
        self.credentials.push(Credential {
            id: id.clone(),
            rp_id,
            user_handle,
            key,
            counter: 0,
        });
        Ok(json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }))
    }

    /// Answers the options of a login (`{publicKey: {...}}`) as a browser at `origin` would:
    /// with the first credential it holds that the options allow, or — with no allow list —
    /// the last one it registered for the relying party.
    pub fn login(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let o = &options["publicKey"];
        let rp_id = o["rpId"].as_str().ok_or("no rpId")?;
        let allowed: Vec<Vec<u8>> = o["allowCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| unb64(&c["id"], "allowCredentials"))
            .collect::<Result<_, _>>()?;
        let mut held = self.credentials.iter().filter(|c| c.rp_id == rp_id);
        let chosen = match allowed.is_empty() {
            true => held.next_back(),
            false => held.find(|c| allowed.contains(&c.id)),
        }
        .map(|c| b64(&c.id))
        .ok_or("no credential of this authenticator is allowed")?;
        self.login_with(origin, options, &chosen)
    }

    /// Answers the options of a login with the credential `id` (base64url), whether or not the
    /// options allow it (as a rogue client could).
    pub fn login_with(&mut self, origin: &str, options: &Value, id: &str) -> Result<Value, String> {
        let o = &options["publicKey"];
        let rp_id = o["rpId"].as_str().ok_or("no rpId")?.to_string();
        let flags = self.flags(false);
        let c = self
            .credentials
            .iter_mut()
            .find(|c| b64(&c.id) == id)
            .ok_or(format!("no credential {id}"))?;
        c.counter += 1;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend(c.counter.to_be_bytes());
        let client = client_data("webauthn.get", &o["challenge"], origin);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client));
        let signature: Signature = c.key.sign(&signed);
        Ok(json!({
            "id": b64(&c.id),
            "rawId": b64(&c.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": b64(&c.user_handle),
            },
            "clientExtensionResults": {},
        }))
    }
}

/// The decoded `clientDataJSON` of an answer, to tamper with in tests.
pub fn client_data_of(answer: &Value) -> Result<Value, String> {
    let bytes = unb64(&answer["response"]["clientDataJSON"], "clientDataJSON")?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// The answer with another `clientDataJSON` (its signature no longer matches).
pub fn with_client_data(answer: &Value, client_data: &Value) -> Value {
    let mut a = answer.clone();
    a["response"]["clientDataJSON"] = b64(client_data.to_string().as_bytes()).into();
    a
}

/// Registers a passkey of `auth` for `user` of `org` over HTTP, as that user (`token`), with
/// the browser at `origin`: the passkey as the server shows it.
pub async fn register(
    http: &crate::http::Http,
    token: &str,
    org: &str,
    user: &str,
    name: &str,
    auth: &mut SoftAuthenticator,
    origin: &str,
) -> Result<Value, String> {
    let base = format!("/v1/orgs/{org}/users/{user}/passkeys/register");
    let start = http.send(Some(token), "POST", &base, None).await?;
    if start.status != 200 {
        return Err(format!("{base}: {} {}", start.status, start.body));
    }
    let credential = auth.register(origin, &start.body["options"])?;
    let body = json!({
        "challenge_id": start.body["challenge_id"],
        "name": name,
        "credential": credential,
    });
    let finish = http
        .send(Some(token), "POST", &format!("{base}/finish"), Some(&body))
        .await?;
    if finish.status != 201 {
        return Err(format!("{base}/finish: {} {}", finish.status, finish.body));
    }
    Ok(finish.body)
}

/// Starts a passkey login to `org` (as `username`, or discoverable) over HTTP: the
/// `{challenge_id, options}` answer.
pub async fn start_login(
    http: &crate::http::Http,
    org: &str,
    username: Option<&str>,
) -> Result<Value, String> {
    let mut body = json!({ "org": org });
    if let Some(u) = username {
        body["username"] = u.into();
    }
    let a = http
        .send(None, "POST", "/v1/auth/passkey/start", Some(&body))
        .await?;
    if a.status != 200 {
        return Err(format!("passkey start: {} {}", a.status, a.body));
    }
    Ok(a.body)
}

/// Logs in to `org` with a passkey of `auth` (as `username`, or discoverable) over HTTP, with
/// the browser at `origin`: the bearer token.
pub async fn login(
    http: &crate::http::Http,
    org: &str,
    username: Option<&str>,
    auth: &mut SoftAuthenticator,
    origin: &str,
) -> Result<String, String> {
    let start = start_login(http, org, username).await?;
    let credential = auth.login(origin, &start["options"])?;
    let body = json!({"challenge_id": start["challenge_id"], "credential": credential});
    let a = http
        .send(None, "POST", "/v1/auth/passkey/finish", Some(&body))
        .await?;
    a.body["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("passkey login failed: {} {}", a.status, a.body))
}
