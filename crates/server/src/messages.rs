//! Every message of the server that reaches a person, in English and Japanese, in one place.

use canopy_core::messages::Lang;
use canopy_core::time::Timestamp;

use crate::notify::{Notice, NoticeKind};

/// The language asked for by an `Accept-Language` header (Japanese if it comes first).
pub fn lang_of(accept_language: Option<&str>) -> Lang {
    let first = accept_language
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match first {
        Some(tag) if tag.starts_with("ja") => Lang::Ja,
        _ => Lang::En,
    }
}

/// The fixed title of a problem type (English, as RFC 7807 titles are not localised here).
pub fn title(slug: &str) -> &'static str {
    match slug {
        "malformed-json" => "Malformed JSON",
        "invalid-field" => "Invalid field",
        "unknown-field" => "Unknown field",
        "unauthenticated" => "Unauthenticated",
        "forbidden" => "Forbidden",
        "escalation" => "Escalation",
        "not-found" => "Not found",
        "duplicate-name" => "Duplicate name",
        "confusable-name" => "Confusable name",
        "lockout" => "Lockout",
        "in-use" => "In use",
        "invalid-name" => "Invalid name",
        "limit" => "Limit exceeded",
        "unknown-reference" => "Unknown reference",
        "catalog-typo" => "Catalog typo",
        "group-cycle" => "Group cycle",
        "stale-revision" => "Stale revision",
        "stale-cursor" => "Stale cursor",
        "payload-too-large" => "Payload too large",
        "revision-not-reached" => "Revision not reached",
        "rate-limited" => "Rate limited",
        "unavailable" => "Unavailable",
        "method-not-allowed" => "Method not allowed",
        "second-factor-required" => "Second factor required",
        _ => "Error",
    }
}

/// No or bad credentials.
pub fn unauthenticated(lang: Lang) -> String {
    match lang {
        Lang::En => "log in first: send `Authorization: Bearer TOKEN` (POST /v1/auth/login)".into(),
        Lang::Ja => "先にログインしてください: `Authorization: Bearer トークン` を送ってください（POST /v1/auth/login）".into(),
    }
}

/// A request of a browser session refused before it is looked at (CSRF protection).
pub fn csrf_refused(why: crate::auth::cookie::CsrfRefusal, lang: Lang) -> String {
    use crate::auth::cookie::CsrfRefusal;
    match (why, lang) {
        (CsrfRefusal::CrossSite, Lang::En) => {
            "a request from another site cannot use this browser's Canopy session".into()
        }
        (CsrfRefusal::CrossSite, Lang::Ja) => {
            "他のサイトからのリクエストでは、このブラウザの Canopy セッションを使えません".into()
        }
        (CsrfRefusal::MissingToken, Lang::En) => {
            "a change made with the session cookie needs its CSRF token in the `Canopy-CSRF-Token` header (given at login)".into()
        }
        (CsrfRefusal::MissingToken, Lang::Ja) => {
            "セッション Cookie による変更には、ログイン時に渡された CSRF トークンを `Canopy-CSRF-Token` ヘッダーで送ってください".into()
        }
    }
}

/// A failed login: the same words whatever was wrong, so that usernames cannot be guessed.
pub fn bad_login(lang: Lang) -> String {
    match lang {
        Lang::En => "the username or password is wrong".into(),
        Lang::Ja => "ユーザー名またはパスワードが正しくありません".into(),
    }
}

/// Someone enrolling a second factor for another user.
pub fn only_self_enrols(lang: Lang) -> String {
    match lang {
        Lang::En => {
            "only the user themself can enrol their second factor (an administrator can remove it)"
                .into()
        }
        Lang::Ja => "多要素認証の登録は本人のみが行えます（管理者は削除のみ可能です）".into(),
    }
}

/// A confirmation without an enrolment begun (or after it lapsed).
pub fn no_enrolment(lang: Lang) -> String {
    match lang {
        Lang::En => "no TOTP enrolment is waiting: begin one first (POST …/totp); it lapses after 10 minutes".into(),
        Lang::Ja => "確認待ちの TOTP 登録がありません。先に登録を開始してください（POST …/totp）。10 分で失効します".into(),
    }
}

/// A TOTP code that does not match.
pub fn wrong_code(lang: Lang) -> String {
    match lang {
        Lang::En => "`code` is not the current code of this secret: check the authenticator's clock and try the next code".into(),
        Lang::Ja => "`code` がこのシークレットの現在のコードと一致しません。認証アプリの時刻を確認し、次のコードで再試行してください".into(),
    }
}

/// A correct password for an account that needs a second factor.
pub fn second_factor_needed(lang: Lang) -> String {
    match lang {
        Lang::En => "this account needs a second factor: send `totp` (a current code) or `recovery_code`, or log in with a passkey".into(),
        Lang::Ja => "このアカウントには第二要素が必要です。`totp`（現在のコード）または `recovery_code` を送るか、パスキーでログインしてください".into(),
    }
}

/// A wrong or already used second factor.
pub fn bad_second_factor(lang: Lang) -> String {
    match lang {
        Lang::En => "the second factor is wrong or was already used: wait for the next TOTP code".into(),
        Lang::Ja => "第二要素が正しくないか、既に使用されています。次の TOTP コードを待って再試行してください".into(),
    }
}

/// A break-glass account without a second factor.
pub fn break_glass_needs_second_factor(lang: Lang) -> String {
    match lang {
        Lang::En => "a break-glass account logs in with a second factor only: send `totp` (enrol TOTP or a passkey first)".into(),
        Lang::Ja => "緊急用（ブレークグラス）アカウントは第二要素でのみログインできます。`totp` を送ってください（未登録の場合は先に TOTP またはパスキーを登録してください）".into(),
    }
}

/// The warning of every privileged login while the organisation does not require MFA (DESIGN
/// §5).
pub fn mfa_not_required(lang: Lang) -> String {
    match lang {
        Lang::En => "you hold administrative rights, and this organisation does not require a second factor: an administrator should enable `mfa_required` in the organisation's policy".into(),
        Lang::Ja => "あなたは管理者権限を持っていますが、この組織では多要素認証が必須になっていません。組織の管理者はポリシーの `mfa_required` を有効にしてください".into(),
    }
}

/// A new password outside the organisation's policy.
pub fn password_length(min: usize, max_bytes: usize, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "`password` must have at least {min} characters (the organisation's policy) and at most {max_bytes} bytes"
        ),
        Lang::Ja => format!(
            "`password` は {min} 文字以上（組織のポリシー）、{max_bytes} バイト以下にしてください"
        ),
    }
}

/// A password longer than the server takes.
pub fn password_too_long(max: usize, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`password` is longer than {max} bytes"),
        Lang::Ja => format!("`password` が {max} バイトを超えています"),
    }
}

/// Logins refused for a while after repeated failures.
pub fn login_rate_limited(wait_s: i64, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "too many failed logins for this account or from this address; try again in {wait_s} s"
        ),
        Lang::Ja => format!(
            "このアカウントまたはこのアドレスからのログイン失敗が多すぎます。{wait_s} 秒後に再試行してください"
        ),
    }
}

/// The store cannot take the request now.
pub fn unavailable(lang: Lang) -> String {
    match lang {
        Lang::En => "the store is unavailable; try again shortly".into(),
        Lang::Ja => "ストアが利用できません。しばらくしてから再試行してください".into(),
    }
}

/// `/readyz` of a replica whose engines have not applied the store's head.
pub fn behind_the_store(at: u64, head: u64, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "not ready: this replica is at revision {at}, the store at {head}; it is catching up or cannot apply the change log (see its log)"
        ),
        Lang::Ja => format!(
            "準備ができていません: このレプリカはリビジョン {at}、ストアは {head} です。追従中か、変更ログを適用できません（ログを確認してください）"
        ),
    }
}

/// An organisation in the URL that is unknown or not the caller's.
pub fn org_not_found(org: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("no organisation `{org}`"),
        Lang::Ja => format!("組織 `{org}` は見つかりません"),
    }
}

/// An object in the URL that is unknown or not the caller's to see.
pub fn object_not_found(what: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("no `{what}` here"),
        Lang::Ja => format!("`{what}` は見つかりません"),
    }
}

/// `Canopy-Min-Revision` was not reached in time.
pub fn revision_not_reached(wanted: u64, at: u64, lang: Lang) -> String {
    match lang {
        Lang::En => {
            format!("this replica is at revision {at} and did not reach {wanted} in time; retry")
        }
        Lang::Ja => format!(
            "このレプリカはリビジョン {at} で、時間内に {wanted} に到達しませんでした。再試行してください"
        ),
    }
}

/// A header or query value that does not parse.
pub fn bad_value(field: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{field}` is not valid"),
        Lang::Ja => format!("`{field}` の値が正しくありません"),
    }
}

/// A body that is not the expected JSON.
pub fn bad_body(detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("the request body is not valid: {detail}"),
        Lang::Ja => format!("リクエスト本文が正しくありません: {detail}"),
    }
}

/// A request refused before it reached its route: a query string or path segment that does not
/// parse (`detail` says which).
pub fn bad_request(detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("the request is not valid: {detail}"),
        Lang::Ja => format!("リクエストが正しくありません: {detail}"),
    }
}

/// No route has this path.
pub fn no_route(lang: Lang) -> String {
    match lang {
        Lang::En => "no such route; the API is described at /openapi.json".into(),
        Lang::Ja => "このパスのルートはありません。API の説明は /openapi.json にあります".into(),
    }
}

/// The route does not take this method.
pub fn method_not_allowed(lang: Lang) -> String {
    match lang {
        Lang::En => {
            "this route does not take this method; the API is described at /openapi.json".into()
        }
        Lang::Ja => {
            "このルートはこのメソッドを受け付けません。API の説明は /openapi.json にあります".into()
        }
    }
}

/// A body over the limit.
pub fn too_large(lang: Lang) -> String {
    match lang {
        Lang::En => "the request body is over 1 MiB".into(),
        Lang::Ja => "リクエスト本文が 1 MiB を超えています".into(),
    }
}

/// Only instance administrators may do this.
pub fn instance_admins_only(lang: Lang) -> String {
    match lang {
        Lang::En => "only instance administrators may do this".into(),
        Lang::Ja => "この操作はインスタンス管理者のみ可能です".into(),
    }
}

/// The caller may not do this action here.
pub fn forbidden(action: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("you may not {action} here"),
        Lang::Ja => format!("ここで {action} を行う権限がありません"),
    }
}

/// A request in a plan that is not one of the API's mutations.
pub fn not_a_mutation(method: &str, path: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{method} {path}` is not a change the API offers"),
        Lang::Ja => format!("`{method} {path}` は API が提供する変更ではありません"),
    }
}

/// A batch larger than the server takes.
pub fn too_many(field: &str, max: usize, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{field}` may hold at most {max} items"),
        Lang::Ja => format!("`{field}` に指定できるのは最大 {max} 件です"),
    }
}

/// A cursor from an answer at another revision (plan pages).
pub fn stale_cursor(lang: Lang) -> String {
    match lang {
        Lang::En => "the cursor belongs to an older revision; start again without it".into(),
        Lang::Ja => "カーソルが古いリビジョンのものです。カーソルなしでやり直してください".into(),
    }
}

/// Only the instance administrators may set an organisation's limits, and they read nothing
/// else of it.
pub fn org_admins_only(lang: Lang) -> String {
    match lang {
        Lang::En => "instance administrators manage organisations, not their contents".into(),
        Lang::Ja => "インスタンス管理者は組織を管理できますが、その中身は扱えません".into(),
    }
}

/// A webhook URL that is not an absolute `http` or `https` URL.
pub fn bad_webhook_url(field: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{field}` must be an absolute http or https URL"),
        Lang::Ja => format!("`{field}` は http または https の絶対 URL で指定してください"),
    }
}

/// A value shorter than it must be.
pub fn too_short(field: &str, min: usize, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{field}` must be at least {min} characters long"),
        Lang::Ja => format!("`{field}` は {min} 文字以上で指定してください"),
    }
}

// ----- login notices (DESIGN §5): e-mail in the organisation's language -----

/// The subject of a login notice.
pub fn notice_subject(notice: &Notice, lang: Lang) -> String {
    let (org, user) = (&notice.org, &notice.username);
    match (lang, notice.kind) {
        (Lang::En, NoticeKind::PrivilegedLogin) => {
            format!("[Canopy] Privileged login: {user} ({org})")
        }
        (Lang::En, NoticeKind::BreakGlassLogin) => {
            format!("[Canopy] Break-glass login: {user} ({org})")
        }
        (Lang::En, NoticeKind::NewDeviceLogin) => {
            format!("[Canopy] Login from a new device: {user} ({org})")
        }
        (Lang::Ja, NoticeKind::PrivilegedLogin) => {
            format!("[Canopy] 特権ユーザーのログイン: {user}（{org}）")
        }
        (Lang::Ja, NoticeKind::BreakGlassLogin) => {
            format!("[Canopy] 緊急用アカウントのログイン: {user}（{org}）")
        }
        (Lang::Ja, NoticeKind::NewDeviceLogin) => {
            format!("[Canopy] 新しいデバイスからのログイン: {user}（{org}）")
        }
    }
}

/// The text of a login notice: what happened, then the facts line by line, then what to do.
pub fn notice_body(notice: &Notice, lang: Lang) -> String {
    let who = match &notice.display_name {
        Some(name) => format!("{name} ({})", notice.username),
        None => notice.username.clone(),
    };
    let org = &notice.org;
    let source = notice.source_ip.map(|ip| ip.to_string());
    let agent = notice.user_agent.as_deref();
    match lang {
        Lang::En => {
            let what = match notice.kind {
                NoticeKind::PrivilegedLogin => format!(
                    "{who}, who holds administrative rights in the organisation {org}, logged in."
                ),
                NoticeKind::BreakGlassLogin => format!(
                    "The break-glass account {who} of the organisation {org} logged in. \
                     Every administrator of {org} is told of this login."
                ),
                NoticeKind::NewDeviceLogin => format!(
                    "{who} logged in to the organisation {org} from a browser or device not seen before."
                ),
            };
            format!(
                "{what}\n\n\
                 Organisation: {org}\n\
                 User: {who}\n\
                 Time: {time}\n\
                 Source address: {source}\n\
                 User agent: {agent}\n\n\
                 If you do not recognise this login, tell your organisation's administrators \
                 at once.\n",
                time = notice.time,
                source = source.as_deref().unwrap_or("unknown"),
                agent = agent.unwrap_or("unknown"),
            )
        }
        Lang::Ja => {
            let what = match notice.kind {
                NoticeKind::PrivilegedLogin => {
                    format!("組織 {org} の管理権限を持つ {who} がログインしました。")
                }
                NoticeKind::BreakGlassLogin => format!(
                    "組織 {org} の緊急用（ブレークグラス）アカウント {who} がログインしました。\
                     このお知らせは {org} の管理者全員に送られています。"
                ),
                NoticeKind::NewDeviceLogin => format!(
                    "{who} が、これまでに使われていないブラウザまたはデバイスから組織 {org} にログインしました。"
                ),
            };
            format!(
                "{what}\n\n\
                 組織: {org}\n\
                 ユーザー: {who}\n\
                 日時: {jst}（{time}）\n\
                 送信元アドレス: {source}\n\
                 ユーザーエージェント: {agent}\n\n\
                 このログインに心当たりがない場合は、直ちに組織の管理者に連絡してください。\n",
                jst = jst(notice.time),
                time = notice.time,
                source = source.as_deref().unwrap_or("不明"),
                agent = agent.unwrap_or("不明"),
            )
        }
    }
}

/// A failed passkey login: the same words whatever was wrong (an unknown challenge, a replay,
/// an answer that does not verify, a removed passkey, a disabled user).
pub fn bad_passkey_login(lang: Lang) -> String {
    match lang {
        Lang::En => {
            "the passkey login failed; start again with POST /v1/auth/passkey/start".into()
        }
        Lang::Ja => {
            "パスキーによるログインに失敗しました。POST /v1/auth/passkey/start からやり直してください"
                .into()
        }
    }
}

/// A time as Japan Standard Time: `2026-11-23 19:00:00 JST`.
pub fn jst(t: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000)
        .ok()
        .map(|utc| utc.to_offset(time::macros::offset!(+9)))
        .and_then(|local| local.format(&format).ok())
        .map_or_else(|| t.to_string(), |s| format!("{s} JST"))
}

/// A notice could not be e-mailed because the instance has no SMTP server.
pub fn no_smtp(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "no SMTP server is configured (`smtp` in the configuration file): the notice is not e-mailed"
        }
        Lang::Ja => {
            "SMTP サーバーが設定されていないため（設定ファイルの `smtp`）、通知はメールで送られません"
        }
    }
}

/// Someone registering a passkey for another user.
pub fn passkeys_are_registered_by_their_user(lang: Lang) -> String {
    match lang {
        Lang::En => "only the user themself may register their passkeys: log in as them".into(),
        Lang::Ja => {
            "パスキーを登録できるのはそのユーザー本人だけです。本人としてログインしてください"
                .into()
        }
    }
}

/// `smtp.security: none` for a host that is not on this machine.
pub fn smtp_none_not_loopback(host: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "smtp: `security: none` sends mail in clear and is allowed only for a loopback host, not `{host}`; use starttls or tls"
        ),
        Lang::Ja => format!(
            "smtp: `security: none` はメールを平文で送るため、ループバックのホストにのみ使えます（`{host}` は不可）。starttls か tls を使ってください"
        ),
    }
}

/// A registration's `challenge_id` that is unknown, expired, used, or another user's.
pub fn unknown_challenge(id: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "`challenge_id` `{id}` is not a registration of this user in progress (unknown, \
             expired after 5 minutes, or used); start again with POST …/passkeys/register"
        ),
        Lang::Ja => format!(
            "`challenge_id` `{id}` はこのユーザーの進行中の登録ではありません（不明、5 分で期限切れ、\
             または使用済み）。POST …/passkeys/register からやり直してください"
        ),
    }
}

/// An address the mail library does not take.
pub fn bad_mail_address(field: &str, value: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("smtp: `{field}` is not an e-mail address: `{value}`"),
        Lang::Ja => format!("smtp: `{field}` はメールアドレスではありません: `{value}`"),
    }
}

/// The SMTP settings the mail library refuses.
pub fn bad_smtp(detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("smtp: {detail}"),
        Lang::Ja => format!("smtp の設定が正しくありません: {detail}"),
    }
}

/// An authenticator's answer to a registration that does not verify.
pub fn credential_refused(detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "`credential` does not verify against the registration's challenge and this \
             server's origin: {detail}"
        ),
        Lang::Ja => format!(
            "`credential` を登録のチャレンジとこのサーバーのオリジンで検証できません: {detail}"
        ),
    }
}

/// A passkey name that is empty, too long or holds control characters.
pub fn bad_passkey_name(max: usize, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`name` must be 1 to {max} characters without control characters"),
        Lang::Ja => format!("`name` は制御文字を含まない 1〜{max} 文字にしてください"),
    }
}

/// `plan` or `apply` with both or neither of `commands` and `document`.
pub fn commands_or_document(lang: Lang) -> String {
    match lang {
        Lang::En => "send either `commands` or `document`, not both and not neither".into(),
        Lang::Ja => "`commands` と `document` のどちらか一方だけを送ってください".into(),
    }
}

/// A document that does not have the shape of one.
pub fn bad_document(detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("the document is not valid: {detail}"),
        Lang::Ja => format!("ドキュメントが正しくありません: {detail}"),
    }
}
