//! Login notifications (DESIGN §5). A privileged login is told to the user, a break-glass login
//! to every administrator of the organisation, a login from a browser without one of the user's
//! device cookies to the user: by e-mail through the instance's SMTP server ([`SmtpConfig`]), in
//! the organisation's language, and by a signed webhook when the organisation has one.
//!
//! [`Notifier`] delivers in the background: a login never waits for a notice, nor fails because
//! of one; what goes wrong is logged. [`after_login`] is the one call the login makes.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::{CONTENT_TYPE, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use canopy_core::ids::{Clock, OrgId, PrincipalId};
use canopy_core::messages::Lang;
use canopy_core::model::Notifications;
use canopy_core::time::Timestamp;
use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;

use crate::messages;
use crate::state::App;

/// The credential kind under which an organisation's webhook signing secret is stored.
pub const WEBHOOK_SECRET_KIND: &str = "webhook";
/// The name of the long-lived device cookie.
pub const DEVICE_COOKIE: &str = "canopy_device";
/// How long a browser keeps the device cookie, in seconds (400 days; every login renews it).
pub const DEVICE_COOKIE_MAX_AGE: i64 = canopy_store::DEVICE_LIFETIME_MS / 1000;
/// The header that carries a webhook's signature: `t=UNIX,v1=HEX`.
pub const SIGNATURE_HEADER: &str = "Canopy-Signature";
/// How long a webhook may take, connection included.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest user agent a notice repeats, in characters.
const MAX_USER_AGENT: usize = 256;

// ----- the instance's SMTP server -----

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte, usually port 465.
    Tls,
    /// No encryption: only for a server on this machine (a loopback host).
    None,
}

/// How the server reaches its SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport security.
    pub security: SmtpSecurity,
    /// The sender of every notice (`Canopy <canopy@example.jp>`).
    pub from: String,
    /// The user to authenticate as, if the server wants one.
    pub username: Option<String>,
    /// Its password (read from a file by the CLI).
    pub password: Option<String>,
}

/// Shows everything but the password.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SmtpConfig {
    /// Refuses settings that cannot work or that would send mail in clear over the network, in
    /// one line. Connects to nothing.
    pub fn check(&self) -> Result<(), String> {
        smtp_builder(self).map(|_| ())
    }
}

/// Whether a host names this machine: `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An SMTP transport and the sender, checked once at start.
struct Mail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// The transport's builder and the sender for `c`, checked (without a transport: building one
/// starts its connection pool, which needs the runtime).
fn smtp_builder(c: &SmtpConfig) -> Result<(AsyncSmtpTransportBuilder, Mailbox), String> {
    let lang = Lang::En;
    if c.security == SmtpSecurity::None && !is_loopback(&c.host) {
        return Err(messages::smtp_none_not_loopback(&c.host, lang));
    }
    let from: Mailbox = c
        .from
        .parse()
        .map_err(|_| messages::bad_mail_address("from", &c.from, lang))?;
    let bad = |e: lettre::transport::smtp::Error| messages::bad_smtp(&e.to_string(), lang);
    let builder = match c.security {
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host).map_err(bad)?
        }
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host).map_err(bad)?,
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host),
    };
    let mut builder = builder.port(c.port).timeout(Some(SMTP_TIMEOUT));
    if let Some(user) = &c.username {
        let password = c.password.clone().unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok((builder, from))
}

impl Mail {
    /// Must run inside the Tokio runtime (the transport's pool lives there).
    fn new(c: &SmtpConfig) -> Result<Mail, String> {
        let (builder, from) = smtp_builder(c)?;
        Ok(Mail {
            transport: builder.build(),
            from,
        })
    }

    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| messages::bad_mail_address("to", to, Lang::En))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

// ----- notices -----

/// What kind of login a notice tells of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoticeKind {
    /// A user holding an `admin`-class action logged in (told to the user).
    PrivilegedLogin,
    /// A break-glass account logged in (told to every organisation administrator).
    BreakGlassLogin,
    /// A user logged in from a browser without one of its device cookies (told to the user).
    NewDeviceLogin,
}

impl NoticeKind {
    /// The webhook's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::PrivilegedLogin => "privileged_login",
            NoticeKind::BreakGlassLogin => "break_glass_login",
            NoticeKind::NewDeviceLogin => "new_device_login",
        }
    }
}

/// One login notice, with everything its delivery needs.
#[derive(Clone)]
pub struct Notice {
    /// The organisation's name.
    pub org: String,
    /// The user who logged in.
    pub username: String,
    /// Its display name, if it has one.
    pub display_name: Option<String>,
    /// What kind of login.
    pub kind: NoticeKind,
    /// The client's address, if known.
    pub source_ip: Option<IpAddr>,
    /// The client's `User-Agent`, if it sent one.
    pub user_agent: Option<String>,
    /// When.
    pub time: Timestamp,
    /// Who is e-mailed.
    pub recipients: Vec<String>,
    /// The organisation's notification settings.
    pub settings: Notifications,
    /// The organisation's webhook signing secret, if set.
    pub webhook_secret: Option<String>,
}

/// Shows everything but the webhook secret.
impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice")
            .field("org", &self.org)
            .field("username", &self.username)
            .field("kind", &self.kind)
            .field("source_ip", &self.source_ip)
            .field("recipients", &self.recipients)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .finish_non_exhaustive()
    }
}

/// The webhook body of a notice: `{type, org, user, source_ip, user_agent, time}`.
pub fn webhook_body(n: &Notice) -> Vec<u8> {
    serde_json::json!({
        "type": n.kind.as_str(),
        "org": n.org,
        "user": n.username,
        "source_ip": n.source_ip.map(|ip| ip.to_string()),
        "user_agent": n.user_agent,
        "time": n.time.to_string(),
    })
    .to_string()
    .into_bytes()
}

/// The `Canopy-Signature` of a webhook body sent at `t` (Unix seconds):
/// `t=UNIX,v1=HEX(HMAC-SHA256(secret, t + "." + body))`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> Result<String, String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "t={t},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

// ----- delivery -----

/// Delivers login notices by e-mail and webhook, each in a task of its own.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    mail: Option<Mail>,
    http: reqwest::Client,
    clock: Arc<dyn Clock + Send + Sync>,
}

impl Notifier {
    /// A notifier that e-mails through `smtp` (none: notices are not e-mailed) and signs
    /// webhooks with the time of `clock`. Refuses SMTP settings that cannot work or that would
    /// send mail in clear over the network, in one line. Must run inside the Tokio runtime.
    pub fn new(
        smtp: Option<&SmtpConfig>,
        clock: Arc<dyn Clock + Send + Sync>,
    ) -> Result<Notifier, String> {
        let mail = smtp.map(Mail::new).transpose()?;
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Notifier {
            inner: Arc::new(Inner { mail, http, clock }),
        })
    }

    /// Delivers `notice` in the background; returns at once.
    pub fn send(&self, notice: Notice) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            tokio::join!(inner.email(&notice), inner.webhook(&notice));
        });
    }
}

impl Inner {
    async fn email(&self, n: &Notice) {
        let (kind, org, user) = (n.kind.as_str(), n.org.as_str(), n.username.as_str());
        if !n.settings.email {
            return;
        }
        if n.recipients.is_empty() {
            tracing::info!(
                kind,
                org,
                user,
                "no recipient of the notice has an e-mail address"
            );
            return;
        }
        let Some(mail) = &self.mail else {
            tracing::warn!(kind, org, user, "{}", messages::no_smtp(Lang::En));
            return;
        };
        let lang = n.settings.lang;
        let (subject, body) = (
            messages::notice_subject(n, lang),
            messages::notice_body(n, lang),
        );
        for to in &n.recipients {
            match mail.send(to, &subject, &body).await {
                Ok(()) => tracing::info!(kind, org, user, to, "login notice e-mailed"),
                Err(error) => {
                    tracing::warn!(kind, org, user, to, %error, "login notice not e-mailed")
                }
            }
        }
    }

    async fn webhook(&self, n: &Notice) {
        let (kind, org, user) = (n.kind.as_str(), n.org.as_str(), n.username.as_str());
        let Some(url) = &n.settings.webhook_url else {
            return;
        };
        let Some(secret) = &n.webhook_secret else {
            tracing::warn!(
                kind,
                org,
                user,
                "the organisation has a webhook URL but no signing secret: the notice is not posted"
            );
            return;
        };
        let body = webhook_body(n);
        let t = self.clock.now().millis().div_euclid(1000);
        let signature = match signature(secret, t, &body) {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(kind, org, user, %error, "login notice not signed");
                return;
            }
        };
        let sent = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::info!(kind, org, user, "login notice posted")
            }
            Ok(r) => {
                let status = r.status().as_u16();
                tracing::warn!(
                    kind,
                    org,
                    user,
                    status,
                    "login notice refused by the webhook"
                )
            }
            Err(error) => tracing::warn!(kind, org, user, %error, "login notice not posted"),
        }
    }
}

// ----- after a login -----

/// What a login request says of the browser it comes from.
#[derive(Clone, Debug, Default)]
pub struct Browser {
    /// The client's address.
    pub source_ip: Option<IpAddr>,
    /// Its `User-Agent`, cut to a sensible length, control characters removed.
    pub user_agent: Option<String>,
    /// Its device cookie, when it has a well-formed one.
    pub device: Option<String>,
}

impl FromRequestParts<crate::state::App> for Browser {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &crate::state::App,
    ) -> Result<Self, Infallible> {
        let crate::auth::ClientAddr(source_ip) =
            crate::auth::ClientAddr::from_request_parts(parts, app).await?;
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string())
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT)
                    .collect::<String>()
            })
            .filter(|ua| !ua.is_empty());
        Ok(Browser {
            source_ip,
            user_agent,
            device: device_cookie_of(&parts.headers),
        })
    }
}

/// The device cookie among the request's cookies, if it is one this server could have made.
fn device_cookie_of(headers: &HeaderMap) -> Option<String> {
    crate::auth::cookie::cookie_value(headers, DEVICE_COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// The `Set-Cookie` value of a device cookie.
fn set_device_cookie(device: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{DEVICE_COOKIE}={device}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={DEVICE_COOKIE_MAX_AGE}"
    ))
    .ok()
}

/// After a successful login of the user `user` of `org`: remembers the browser as one of the
/// user's devices and sends the notices the login calls for (a break-glass login to every
/// organisation administrator, else a privileged login to the user; a new device to the user).
/// Returns the headers to add to the answer: the device cookie (the browser's own, renewed, or a
/// new one). Never fails; what goes wrong is logged.
pub async fn after_login(
    app: &App,
    browser: &Browser,
    org: &OrgId,
    user: &PrincipalId,
) -> HeaderMap {
    let now = app.clock.now();
    let device = browser
        .device
        .clone()
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
    let known = app
        .store
        .remember_device(org.as_str(), user.as_str(), &device, now)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, user = user.as_str(), "the login's device was not recorded");
            true
        });
    let mut notices = notices(app, browser, org, user, now, !known);
    if notices.iter().any(|n| n.settings.webhook_url.is_some()) {
        let secret = app
            .store
            .secret(org.as_str(), WEBHOOK_SECRET_KIND)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, org = org.as_str(), "the webhook secret was not read");
                None
            });
        for n in &mut notices {
            n.webhook_secret = secret.clone();
        }
    }
    for n in notices {
        app.notifier.send(n);
    }
    let mut headers = HeaderMap::new();
    if let Some(cookie) = set_device_cookie(&device) {
        headers.insert(SET_COOKIE, cookie);
    }
    headers
}

/// The notices a login calls for (the webhook secret not yet filled in).
fn notices(
    app: &App,
    browser: &Browser,
    org: &OrgId,
    user: &PrincipalId,
    now: Timestamp,
    new_device: bool,
) -> Vec<Notice> {
    let inst = app.shared.read();
    let Some(engine) = inst.org(org) else {
        return Vec::new();
    };
    let m = engine.model();
    let Some(u) = m.users.get(user) else {
        return Vec::new();
    };
    let email_of = |id: &PrincipalId| m.users.get(id).and_then(|u| u.email.clone());
    let notice = |kind, recipients| Notice {
        org: m.org.name.to_string(),
        username: u.username.to_string(),
        display_name: u.display_name.clone(),
        kind,
        source_ip: browser.source_ip,
        user_agent: browser.user_agent.clone(),
        time: now,
        recipients,
        settings: m.org.policy.notifications.clone(),
        webhook_secret: None,
    };
    let own: Vec<String> = u.email.iter().cloned().collect();
    let mut out = Vec::new();
    if u.break_glass {
        let admins = engine.org_admins(now).iter().filter_map(email_of).collect();
        out.push(notice(NoticeKind::BreakGlassLogin, admins));
    } else if engine.is_privileged(user, now) {
        out.push(notice(NoticeKind::PrivilegedLogin, own.clone()));
    }
    if new_device {
        out.push(notice(NoticeKind::NewDeviceLogin, own));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            org: "acme".into(),
            username: "aiko".into(),
            display_name: Some("佐藤 愛子".into()),
            kind,
            source_ip: "192.0.2.7".parse().ok(),
            user_agent: Some("Mozilla/5.0 (X11)".into()),
            time: Timestamp::parse("2026-11-23T10:00:00Z").unwrap_or(Timestamp::MAX),
            recipients: vec!["aiko@acme.example.jp".into()],
            settings: Notifications::default(),
            webhook_secret: Some("whsec-0123456789abcdef0123456789abcdef".into()),
        }
    }

    const KINDS: [NoticeKind; 3] = [
        NoticeKind::PrivilegedLogin,
        NoticeKind::BreakGlassLogin,
        NoticeKind::NewDeviceLogin,
    ];

    #[test]
    fn notices_name_the_user_the_org_the_address_and_the_time_in_japanese() {
        let expected = [
            ("特権ユーザーのログイン", "管理権限を持つ"),
            ("緊急用アカウントのログイン", "管理者全員"),
            ("新しいデバイスからのログイン", "これまでに使われていない"),
        ];
        for (kind, (subject_words, body_words)) in KINDS.into_iter().zip(expected) {
            let n = notice(kind);
            let subject = messages::notice_subject(&n, Lang::Ja);
            assert_eq!(subject, format!("[Canopy] {subject_words}: aiko（acme）"));
            let body = messages::notice_body(&n, Lang::Ja);
            for part in [
                body_words,
                "組織: acme",
                "ユーザー: 佐藤 愛子 (aiko)",
                "日時: 2026-11-23 19:00:00 JST（2026-11-23T10:00:00Z）",
                "送信元アドレス: 192.0.2.7",
                "ユーザーエージェント: Mozilla/5.0 (X11)",
                "心当たりがない場合",
            ] {
                assert!(body.contains(part), "{kind:?}: {part} not in\n{body}");
            }
        }
    }

    #[test]
    fn notices_name_the_user_the_org_the_address_and_the_time_in_english() {
        let expected = [
            ("Privileged login", "holds administrative rights"),
            ("Break-glass login", "Every administrator of acme"),
            ("Login from a new device", "not seen before"),
        ];
        for (kind, (subject_words, body_words)) in KINDS.into_iter().zip(expected) {
            let mut n = notice(kind);
            n.display_name = None;
            n.source_ip = None;
            n.user_agent = None;
            let subject = messages::notice_subject(&n, Lang::En);
            assert_eq!(subject, format!("[Canopy] {subject_words}: aiko (acme)"));
            let body = messages::notice_body(&n, Lang::En);
            for part in [
                body_words,
                "Organisation: acme",
                "User: aiko\n",
                "Time: 2026-11-23T10:00:00Z",
                "Source address: unknown",
                "User agent: unknown",
                "do not recognise this login",
            ] {
                assert!(body.contains(part), "{kind:?}: {part} not in\n{body}");
            }
            assert!(!body.contains("JST"), "{body}");
        }
    }

    #[test]
    fn the_webhook_body_and_signature_are_as_documented() {
        let body = webhook_body(&notice(NoticeKind::PrivilegedLogin));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"type": "privileged_login", "org": "acme", "user": "aiko",
                "source_ip": "192.0.2.7", "user_agent": "Mozilla/5.0 (X11)",
                "time": "2026-11-23T10:00:00Z"})
        );
        // Computed independently: HMAC-SHA256(secret, "1700000000." + body), in hex.
        let signed = signature(
            "whsec-0123456789abcdef0123456789abcdef",
            1_700_000_000,
            br#"{"type":"privileged_login"}"#,
        );
        assert_eq!(
            signed.as_deref(),
            Ok("t=1700000000,v1=5416ae1e3776112473c874cdc8ad7711d734c4978b6365b6b3c10302a330764a")
        );
        let debug = format!("{:?}", notice(NoticeKind::PrivilegedLogin));
        assert!(!debug.contains("whsec-"), "{debug}");
    }

    #[test]
    fn only_loopback_hosts_may_take_mail_in_clear() {
        let config = |host: &str, security| SmtpConfig {
            host: host.into(),
            port: 25,
            security,
            from: "Canopy <canopy@example.jp>".into(),
            username: None,
            password: None,
        };
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert_eq!(config(host, SmtpSecurity::None).check(), Ok(()), "{host}");
        }
        for host in ["mail.example.jp", "10.0.0.1", "0.0.0.0"] {
            let e = config(host, SmtpSecurity::None)
                .check()
                .err()
                .unwrap_or_default();
            assert!(e.contains(host) && !e.contains('\n'), "{host}: {e}");
        }
        assert_eq!(
            config("mail.example.jp", SmtpSecurity::Starttls).check(),
            Ok(())
        );
        assert_eq!(config("mail.example.jp", SmtpSecurity::Tls).check(), Ok(()));
        let mut bad = config("127.0.0.1", SmtpSecurity::None);
        bad.from = "not an address".into();
        assert!(bad.check().is_err());
        let mut secret = config("127.0.0.1", SmtpSecurity::None);
        secret.password = Some("hunter2-hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn the_device_cookie_is_read_only_when_well_formed() {
        let id = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        let cookie = format!("other=1; {DEVICE_COOKIE}={id}; x=y");
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(device_cookie_of(&headers), Some(id));
        headers.insert(COOKIE, HeaderValue::from_static("canopy_device=short"));
        assert_eq!(device_cookie_of(&headers), None);
        let set = set_device_cookie(&"0".repeat(64)).map(|v| v.to_str().unwrap_or("").to_string());
        assert_eq!(
            set.as_deref(),
            Some(
                "canopy_device=0000000000000000000000000000000000000000000000000000000000000000; \
                 HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=34560000"
            )
        );
    }
}
