//! Every message of the CLI that reaches a person, in English and Japanese, in one place.

use std::net::SocketAddr;
use std::path::Path;

use canopy_api::DenialReason;
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

pub fn serving_metrics(addr: SocketAddr, lang: Lang) -> String {
    match lang {
        Lang::En => format!("metrics on http://{addr}/metrics"),
        Lang::Ja => format!("メトリクスを http://{addr}/metrics で公開しています"),
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

// ----- the client commands -----

pub fn problem(detail: &str, slug: &str, status: u16, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{detail} ({slug}, HTTP {status})"),
        Lang::Ja => format!("{detail}（{slug}、HTTP {status}）"),
    }
}

pub fn bad_status(status: u16, text: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("the server answered HTTP {status}: {text}"),
        Lang::Ja => format!("サーバーが HTTP {status} を返しました: {text}"),
    }
}

pub fn unreachable(server: &str, error: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("cannot reach {server}: {error}"),
        Lang::Ja => format!("{server} に接続できません: {error}"),
    }
}

pub fn not_logged_in(lang: Lang) -> String {
    match lang {
        Lang::En => {
            "not logged in: run `canopy login`, or set CANOPY_TOKEN or --token".to_string()
        }
        Lang::Ja => {
            "ログインしていません: `canopy login` を実行するか、CANOPY_TOKEN または --token を指定してください".to_string()
        }
    }
}

pub fn no_org(lang: Lang) -> String {
    match lang {
        Lang::En => "which organisation? name it with a path (`acme/eng`), --org or CANOPY_ORG, or log in to one".to_string(),
        Lang::Ja => "組織が指定されていません: パス（`acme/eng`）、--org、CANOPY_ORG のいずれかで指定するか、組織にログインしてください".to_string(),
    }
}

pub fn no_config_dir(lang: Lang) -> String {
    match lang {
        Lang::En => {
            "no place to keep the login: set CANOPY_CONFIG_DIR, XDG_CONFIG_HOME or HOME".to_string()
        }
        Lang::Ja => {
            "ログイン情報の保存先がありません: CANOPY_CONFIG_DIR、XDG_CONFIG_HOME、HOME のいずれかを設定してください".to_string()
        }
    }
}

pub fn file_error(path: &Path, error: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{}: {error}", path.display()),
        Lang::Ja => format!("{}: {error}", path.display()),
    }
}

/// A login answered without a token (a browser session, which the CLI never asks for).
pub fn no_token_in_answer(lang: Lang) -> String {
    match lang {
        Lang::En => "the server answered the login without a token".into(),
        Lang::Ja => "サーバーがトークンなしでログインに応答しました".into(),
    }
}

pub fn logged_in(
    user: &str,
    org: Option<&str>,
    server: &str,
    expires_at: &str,
    path: &Path,
    lang: Lang,
) -> String {
    let path = path.display();
    match (lang, org) {
        (Lang::En, Some(org)) => format!(
            "logged in to {server} as {user} of {org} until {expires_at} (stored in {path})"
        ),
        (Lang::En, None) => format!(
            "logged in to {server} as instance administrator {user} until {expires_at} (stored in {path})"
        ),
        (Lang::Ja, Some(org)) => format!(
            "{server} に {org} の {user} としてログインしました（{expires_at} まで有効、{path} に保存）"
        ),
        (Lang::Ja, None) => format!(
            "{server} にインスタンス管理者 {user} としてログインしました（{expires_at} まで有効、{path} に保存）"
        ),
    }
}

/// `canopy passkey login-finish`: the token is stored.
pub fn logged_in_with_passkey(
    org: Option<&str>,
    server: &str,
    expires_at: &str,
    path: &Path,
    lang: Lang,
) -> String {
    let path = path.display();
    let org = org.unwrap_or("?");
    match lang {
        Lang::En => format!(
            "logged in to {server} with a passkey of {org} until {expires_at} (stored in {path})"
        ),
        Lang::Ja => format!(
            "{server} に {org} のパスキーでログインしました（{expires_at} まで有効、{path} に保存）"
        ),
    }
}

pub fn logged_out(path: &Path, lang: Lang) -> String {
    match lang {
        Lang::En => format!("logged out (removed {})", path.display()),
        Lang::Ja => format!("ログアウトしました（{} を削除）", path.display()),
    }
}

/// A warning the server gave with a login.
pub fn login_warning(text: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("warning: {text}"),
        Lang::Ja => format!("警告: {text}"),
    }
}

/// `canopy logout` could not tell the server; the stored login is gone all the same.
pub fn session_not_ended(error: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "the stored login is forgotten, but the server did not end the session (the token may still work until it expires): {error}"
        ),
        Lang::Ja => format!(
            "保存されたログイン情報は削除しましたが、サーバー側のセッションは終了していません（トークンは期限まで有効な可能性があります）: {error}"
        ),
    }
}

pub fn not_stored(path: &Path, lang: Lang) -> String {
    match lang {
        Lang::En => format!("no stored login ({} does not exist)", path.display()),
        Lang::Ja => format!(
            "保存されたログインはありません（{} は存在しません）",
            path.display()
        ),
    }
}

pub fn password_prompt(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "password: ",
        Lang::Ja => "パスワード: ",
    }
}

pub fn empty_password(lang: Lang) -> String {
    match lang {
        Lang::En => "the password is empty".to_string(),
        Lang::Ja => "パスワードが空です".to_string(),
    }
}

pub fn bad_attribute(arg: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{arg}` is not KEY=VALUE"),
        Lang::Ja => format!("`{arg}` は KEY=VALUE の形ではありません"),
    }
}

pub fn need_parent(path: &str, lang: Lang) -> String {
    match lang {
        Lang::En => {
            format!("`{path}` names no parent: give the whole path (`acme/eng/{path}`) or --parent")
        }
        Lang::Ja => format!(
            "`{path}` に親がありません: パス全体（`acme/eng/{path}`）か --parent を指定してください"
        ),
    }
}

pub fn no_statements(lang: Lang) -> String {
    match lang {
        Lang::En => "no statements: give --allow, --deny or --file".to_string(),
        Lang::Ja => {
            "ステートメントがありません: --allow、--deny、--file のいずれかを指定してください"
                .to_string()
        }
    }
}

pub fn verdict(allowed: bool, lang: Lang) -> &'static str {
    match (lang, allowed) {
        (Lang::En, true) => "allowed",
        (Lang::En, false) => "denied",
        (Lang::Ja, true) => "許可",
        (Lang::Ja, false) => "拒否",
    }
}

pub fn decision(allowed: bool, revision: u64, lang: Lang) -> String {
    let verdict = verdict(allowed, lang);
    match lang {
        Lang::En => format!("{verdict} (revision {revision})"),
        Lang::Ja => format!("{verdict}（リビジョン {revision}）"),
    }
}

pub fn at_revision(revision: u64, lang: Lang) -> String {
    match lang {
        Lang::En => format!("at revision {revision}"),
        Lang::Ja => format!("リビジョン {revision} 時点"),
    }
}

pub fn valid_until(until: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("valid until {until} (an expiring binding bounds it)"),
        Lang::Ja => format!("{until} まで有効（期限付きバインディングによる）"),
    }
}

pub fn reason(reason: DenialReason, lang: Lang) -> String {
    match (lang, reason) {
        (Lang::En, DenialReason::NoBinding) => "no binding grants this".to_string(),
        (Lang::En, DenialReason::Disabled) => "the principal is disabled".to_string(),
        (Lang::Ja, DenialReason::NoBinding) => {
            "これを許可するバインディングはありません".to_string()
        }
        (Lang::Ja, DenialReason::Disabled) => "プリンシパルが無効です".to_string(),
    }
}

pub fn no_allow_matched(lang: Lang) -> String {
    match lang {
        Lang::En => "no allow statement matches".to_string(),
        Lang::Ja => "一致する allow ステートメントがありません".to_string(),
    }
}

pub fn fixes_heading(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "to allow it:",
        Lang::Ja => "許可するには:",
    }
}

pub fn fix(f: &canopy_api::Fix, lang: Lang) -> String {
    let v = |o: &Option<String>| o.clone().unwrap_or_else(|| "?".into());
    let (principal, role, scope) = (v(&f.principal), v(&f.role), v(&f.scope));
    let alternatives = f.alternatives.join(", ");
    match (lang, f.fix.as_str()) {
        (Lang::En, "enable") => format!("enable {principal}"),
        (Lang::En, "remove_binding") => format!(
            "remove binding {} ({principal}, role {role} at {scope})",
            v(&f.binding)
        ),
        (Lang::En, "amend_guardrail") => format!(
            "remove guardrail {} ({}) or amend it to permit the action",
            v(&f.name),
            v(&f.guardrail)
        ),
        (Lang::En, "bind") if f.alternatives.is_empty() => {
            format!("bind role {role} to {principal} at {scope}")
        }
        (Lang::En, "bind") => format!(
            "bind role {role} to {principal} at {scope} (or to one of its groups: {alternatives})"
        ),
        (Lang::Ja, "enable") => format!("{principal} を有効にする"),
        (Lang::Ja, "remove_binding") => format!(
            "バインディング {} を削除する（{principal}、{scope} のロール {role}）",
            v(&f.binding)
        ),
        (Lang::Ja, "amend_guardrail") => format!(
            "ガードレール {}（{}）を削除するか、この操作を許可するよう修正する",
            v(&f.name),
            v(&f.guardrail)
        ),
        (Lang::Ja, "bind") if f.alternatives.is_empty() => {
            format!("{scope} でロール {role} を {principal} にバインドする")
        }
        (Lang::Ja, "bind") => format!(
            "{scope} でロール {role} を {principal}（またはそのグループ {alternatives} のいずれか）にバインドする"
        ),
        (_, other) => format!("{other}: {}", serde_json::to_string(f).unwrap_or_default()),
    }
}

pub fn dry_run(revision: u64, lang: Lang) -> String {
    match lang {
        Lang::En => format!("dry run against revision {revision}: nothing was changed"),
        Lang::Ja => format!("リビジョン {revision} に対するドライラン: 何も変更していません"),
    }
}

pub fn plan(revision: u64, lang: Lang) -> String {
    match lang {
        Lang::En => format!("plan against revision {revision}: nothing was changed"),
        Lang::Ja => format!("リビジョン {revision} に対する計画: 何も変更していません"),
    }
}

pub fn no_access_change(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "no one gains or loses access",
        Lang::Ja => "アクセス権の増減はありません",
    }
}

pub fn done(revision: &serde_json::Value, lang: Lang) -> String {
    match lang {
        Lang::En => format!("done (revision {revision})"),
        Lang::Ja => format!("完了しました（リビジョン {revision}）"),
    }
}

pub fn next_page(cursor: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("more: --cursor {cursor}"),
        Lang::Ja => format!("続き: --cursor {cursor}"),
    }
}

pub fn stream_broken(error: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("the stream of changes broke: {error}"),
        Lang::Ja => format!("変更のストリームが切れました: {error}"),
    }
}

pub fn stream_ended(lang: Lang) -> String {
    match lang {
        Lang::En => "the server ended the stream of changes".to_string(),
        Lang::Ja => "サーバーが変更のストリームを終了しました".to_string(),
    }
}

pub fn no_list(path: &Path, field: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "{} holds no list of {field} (`{{{field}: [...]}}` or the list itself)",
            path.display()
        ),
        Lang::Ja => format!(
            "{} に {field} のリストがありません（`{{{field}: [...]}}` またはリストそのもの）",
            path.display()
        ),
    }
}

pub fn anchored(chain: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("anchored audit chain {chain}"),
        Lang::Ja => format!("監査チェーン {chain} にアンカーを設定しました"),
    }
}

pub fn anchor_later(lang: Lang) -> String {
    match lang {
        Lang::En => "no audit key given: audit chains without an anchor are anchored when the \
                     server starts"
            .into(),
        Lang::Ja => {
            "監査キーが指定されていないため、アンカーのない監査チェーンはサーバーの起動時に\
                     アンカーを設定します"
                .into()
        }
    }
}

pub fn audit_verified(chains: usize, events: u64, broken: usize, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{chains} audit chains, {events} events checked; {broken} broken"),
        Lang::Ja => format!(
            "監査チェーン {chains} 本、イベント {events} 件を検証しました。壊れているもの {broken} 本"
        ),
    }
}

pub fn no_chain(chain: &str, lang: Lang) -> String {
    match lang {
        Lang::En => {
            format!("no audit chain `{chain}` (an organisation's name or ID, or `instance`)")
        }
        Lang::Ja => format!(
            "監査チェーン `{chain}` がありません（組織の名前か ID、または `instance` を指定してください）"
        ),
    }
}

pub fn bad_export_line(path: &Path, line: usize, detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "{}, line {line}: not an event of `canopy audit export`: {detail}",
            path.display()
        ),
        Lang::Ja => format!(
            "{} の {line} 行目は `canopy audit export` のイベントではありません: {detail}",
            path.display()
        ),
    }
}

/// `canopy export`: which organisation, at which revision (on stderr: not part of the file).
pub fn document_exported(org: &str, revision: &serde_json::Value, lang: Lang) -> String {
    match lang {
        Lang::En => format!("exported `{org}` at revision {revision}"),
        Lang::Ja => format!("`{org}` をリビジョン {revision} でエクスポートしました"),
    }
}

/// A document's problem, said of its file.
pub fn in_file(path: &Path, detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{}: {detail}", path.display()),
        Lang::Ja => format!("{}: {detail}", path.display()),
    }
}

/// `canopy diff` of two organisations' documents: paths are compared below their roots.
pub fn other_org(from: &str, to: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "note: the documents are of `{from}` and `{to}`; paths are compared below the organisation"
        ),
        Lang::Ja => format!(
            "注意: ドキュメントは `{from}` と `{to}` のものです。パスは組織より下で比較します"
        ),
    }
}

pub fn bad_event(detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("the server sent an audit event that cannot be exported: {detail}"),
        Lang::Ja => format!("サーバーから受け取った監査イベントをエクスポートできません: {detail}"),
    }
}

pub fn exported(count: u64, path: &Path, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{count} audit events written to {}", path.display()),
        Lang::Ja => format!(
            "監査イベント {count} 件を {} に書き出しました",
            path.display()
        ),
    }
}

pub fn pruned(chain: &str, events: u64, through: u64, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "audit chain {chain}: {events} events removed; it now starts after event {through}"
        ),
        Lang::Ja => format!(
            "監査チェーン {chain}: イベント {events} 件を削除しました。イベント {through} の次から始まります"
        ),
    }
}

pub fn nothing_pruned(days: u32, lang: Lang) -> String {
    match lang {
        Lang::En => format!("no audit event is older than {days} days: nothing was removed"),
        Lang::Ja => format!("{days} 日より古い監査イベントはないため、何も削除していません"),
    }
}

/// A semantic diff with nothing in it.
pub fn no_changes(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "no object is added, changed or removed",
        Lang::Ja => "追加・変更・削除されるオブジェクトはありません",
    }
}

/// The heading of a plan's semantic diff.
pub fn objects_heading(revision: u64, lang: Lang) -> String {
    match lang {
        Lang::En => format!("objects (against revision {revision}):"),
        Lang::Ja => format!("オブジェクト（リビジョン {revision} に対して）:"),
    }
}

/// The heading of a plan's access diff.
pub fn access_heading(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "access:",
        Lang::Ja => "アクセス:",
    }
}

/// `canopy apply` of a document.
pub fn applied(objects: u64, commands: u64, revision: u64, lang: Lang) -> String {
    match (lang, objects) {
        (Lang::En, 0) => format!("nothing to change (revision {revision})"),
        (Lang::Ja, 0) => format!("変更はありません（リビジョン {revision}）"),
        (Lang::En, _) => {
            format!("applied {objects} object changes ({commands} commands) as revision {revision}")
        }
        (Lang::Ja, _) => format!(
            "{objects} 件のオブジェクト変更（{commands} コマンド）をリビジョン {revision} として適用しました"
        ),
    }
}

pub fn backup_created(r: &canopy_store::BackupReport, lang: Lang) -> String {
    let (path, head, rows, decisions, bytes) = (
        r.path.display(),
        r.header.head_revision,
        r.rows(),
        r.decisions(),
        r.bytes,
    );
    match lang {
        Lang::En => format!(
            "wrote {path}: revision {head}, {rows} rows, {decisions} sampled decisions, {bytes} bytes"
        ),
        Lang::Ja => format!(
            "{path} を書き出しました: リビジョン {head}、{rows} 行、抽出した判定 {decisions} 件、{bytes} バイト"
        ),
    }
}

pub fn restored(r: &canopy_store::RestoreReport, store: &str, lang: Lang) -> String {
    let (head, rows, source) = (r.header.head_revision, r.total(), &r.header.source);
    match lang {
        Lang::En => format!(
            "restored {store} at revision {head}: {rows} rows (backed up from {source} at {})",
            r.header.created
        ),
        Lang::Ja => format!(
            "{store} をリビジョン {head} に復元しました: {rows} 行（{} に {source} から取得したバックアップ）",
            r.header.created
        ),
    }
}

pub fn backup_needs_key(lang: Lang) -> String {
    match lang {
        Lang::En => "the restore test needs the audit key of the store the backup came from: give \
             --audit-key-file or CANOPY_AUDIT_KEY"
            .into(),
        Lang::Ja => "復元テストにはバックアップ元ストアの監査キーが必要です。--audit-key-file か \
             CANOPY_AUDIT_KEY を指定してください"
            .into(),
    }
}

/// `--to-time` that is not a time.
pub fn bad_time(text: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{text}` is not an RFC 3339 time (2026-12-01T09:00:00+09:00)"),
        Lang::Ja => {
            format!("`{text}` は RFC 3339 の時刻ではありません（2026-12-01T09:00:00+09:00）")
        }
    }
}

/// `backup restore` without a file or a point.
pub fn backup_needs_point(lang: Lang) -> String {
    match lang {
        Lang::En => "give a backup FILE, or --from-dir DIR with --to-revision N or --to-time T".into(),
        Lang::Ja => "バックアップファイル、または --from-dir DIR と --to-revision N か --to-time T を指定してください"
            .into(),
    }
}

/// A point-in-time restore done.
pub fn restored_to_point(r: &canopy_store::backup::PointReport, store: &str, lang: Lang) -> String {
    let (snapshot, from, to) = (r.snapshot.display(), r.snapshot_revision, r.revision);
    let (segments, changes) = (r.segments, r.changes);
    match lang {
        Lang::En => format!(
            "restored {store} to revision {to}: {snapshot} (revision {from}) and {changes} changes \
             of {segments} archived segments"
        ),
        Lang::Ja => format!(
            "{store} をリビジョン {to} に復元しました: {snapshot}（リビジョン {from}）とアーカイブ \
             {segments} 個の変更 {changes} 件"
        ),
    }
}

pub fn org_copied(c: &canopy_store::backup::OrgCopy, source: &str, lang: Lang) -> String {
    let (name, id, revision, objects) = (&c.name, &c.org, c.revision, c.objects);
    match lang {
        Lang::En => format!(
            "restored `{source}` beside the live organisations as `{name}` ({id}): {objects} objects with fresh IDs, revision {revision}; no credential was copied"
        ),
        Lang::Ja => format!(
            "`{source}` を稼働中の組織の横に `{name}`（{id}）として復元しました: 新しい ID のオブジェクト {objects} 件、リビジョン {revision}。認証情報は複製していません"
        ),
    }
}

pub fn bad_name(name: &str, detail: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("`{name}` is not a valid name ({detail})"),
        Lang::Ja => format!("`{name}` は有効な名前ではありません（{detail}）"),
    }
}
