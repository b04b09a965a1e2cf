//! Every message of the server that reaches a person, in English and Japanese, in one place.

use canopy_core::messages::Lang;

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

/// A failed login: the same words whatever was wrong, so that usernames cannot be guessed.
pub fn bad_login(lang: Lang) -> String {
    match lang {
        Lang::En => "the username or password is wrong".into(),
        Lang::Ja => "ユーザー名またはパスワードが正しくありません".into(),
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
