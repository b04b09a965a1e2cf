//! Every message of the CLI that reaches a person, in English and Japanese, in one place.

use std::net::SocketAddr;
use std::path::Path;

use canopy_core::messages::Lang;
use canopy_store::verify::Report;

/// The password of every demo account (demo mode only).
pub const DEMO_PASSWORD: &str = "canopy-demo";

pub fn one_time_password(user: &str, password: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "one-time password for {user}: {password} (shown once; change it after logging in)"
        ),
        Lang::Ja => format!(
            "{user} のワンタイムパスワード: {password}（一度だけ表示されます。ログイン後に変更してください）"
        ),
    }
}

pub fn initialised(store: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("initialised {store}"),
        Lang::Ja => format!("{store} を初期化しました"),
    }
}

pub fn already_initialised(store: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{store} is already initialised"),
        Lang::Ja => format!("{store} はすでに初期化されています"),
    }
}

pub fn listening(addr: SocketAddr, lang: Lang) -> String {
    match lang {
        Lang::En => format!("listening on http://{addr}"),
        Lang::Ja => format!("http://{addr} で待ち受けています"),
    }
}

pub fn migrated(version: i64, lang: Lang) -> String {
    match lang {
        Lang::En => format!("the schema is at version {version}"),
        Lang::Ja => format!("スキーマはバージョン {version} です"),
    }
}

pub fn verified(r: &Report, lang: Lang) -> String {
    let (head, changes, orgs, events, problems) =
        (r.head, r.changes, r.orgs, r.audit_events, r.problems.len());
    match lang {
        Lang::En => format!(
            "revision {head}: {changes} changes replayed, {orgs} organisations, {events} audit events; {problems} problems"
        ),
        Lang::Ja => format!(
            "リビジョン {head}: 変更 {changes} 件を再生、組織 {orgs} 件、監査イベント {events} 件、問題 {problems} 件"
        ),
    }
}

pub fn empty_secret(path: &Path, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{} is empty", path.display()),
        Lang::Ja => format!("{} が空です", path.display()),
    }
}

pub fn demo(lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "demo (demo mode only; every password is `{DEMO_PASSWORD}`):\n  \
             organisation `acme`: aiko (administrator), ken (operator), mei (viewer), taro (payments team)\n  \
             instance administrator: admin\n  \
             try: canopy login --org acme --username aiko"
        ),
        Lang::Ja => format!(
            "デモ（デモモードのみ。パスワードはすべて `{DEMO_PASSWORD}`）:\n  \
             組織 `acme`: aiko（管理者）、ken（オペレーター）、mei（閲覧者）、taro（決済チーム）\n  \
             インスタンス管理者: admin\n  \
             例: canopy login --org acme --username aiko"
        ),
    }
}
