//! Every message of this crate that reaches a person, in English and Japanese, in one place.

pub use canopy_core::messages::Lang;

use crate::StoreError;

/// The message of a store error.
pub fn store_error(e: &StoreError, lang: Lang) -> String {
    use StoreError::*;
    match (lang, e) {
        (Lang::En, Connect { location, detail }) => {
            format!("cannot open the store at {location}: {detail}")
        }
        (Lang::Ja, Connect { location, detail }) => {
            format!("ストア {location} を開けません: {detail}")
        }
        (Lang::En, Database(e)) => format!("database error: {e}"),
        (Lang::Ja, Database(e)) => format!("データベースエラー: {e}"),
        (Lang::En, Migrate(e)) => format!("migration failed: {e}"),
        (Lang::Ja, Migrate(e)) => format!("マイグレーションに失敗しました: {e}"),
        (Lang::En, SchemaNewer { store, binary }) => format!(
            "the store's schema (version {store}) is newer than this binary's ({binary}): \
             run a newer canopy"
        ),
        (Lang::Ja, SchemaNewer { store, binary }) => format!(
            "ストアのスキーマ（バージョン {store}）はこのバイナリ（{binary}）より新しいため、\
             新しい canopy で起動してください"
        ),
        (Lang::En, SchemaOlder { store, binary }) => format!(
            "the store's schema (version {store}) is older than this binary's ({binary}): \
             run `canopy migrate` first"
        ),
        (Lang::Ja, SchemaOlder { store, binary }) => format!(
            "ストアのスキーマ（バージョン {store}）はこのバイナリ（{binary}）より古いため、\
             先に `canopy migrate` を実行してください"
        ),
        (Lang::En, NotInitialised) => "the store is empty: run `canopy init` first".into(),
        (Lang::Ja, NotInitialised) => {
            "ストアが空です。先に `canopy init` を実行してください".into()
        }
        (Lang::En, Corrupt { detail }) => format!("the store is inconsistent: {detail}"),
        (Lang::Ja, Corrupt { detail }) => format!("ストアに不整合があります: {detail}"),
        (Lang::En, Io { path, detail }) => format!("{path}: {detail}"),
        (Lang::Ja, Io { path, detail }) => format!("{path}: {detail}"),
        (Lang::En, AuditKey { detail }) => format!("audit key: {detail}"),
        (Lang::Ja, AuditKey { detail }) => format!("監査キー: {detail}"),
        (Lang::En, Retention { days, minimum }) => format!(
            "audit events are kept at least {minimum} days: {days} is too few, nothing was pruned"
        ),
        (Lang::Ja, Retention { days, minimum }) => format!(
            "監査イベントは少なくとも {minimum} 日間保持します。{days} 日では短すぎるため、何も削除していません"
        ),
        (Lang::En, AuditBroken { detail }) => format!(
            "the audit log does not verify ({detail}): nothing was pruned; \
             see `canopy audit verify`"
        ),
        (Lang::Ja, AuditBroken { detail }) => format!(
            "監査ログの検証に失敗したため（{detail}）、何も削除していません。\
             `canopy audit verify` で確認してください"
        ),
    }
}

/// A problem found by `verify`, one line each.
pub fn verify_problem(p: &crate::verify::Problem, lang: Lang) -> String {
    use crate::verify::Problem::*;
    match (lang, p) {
        (Lang::En, RevisionGap { expected, found }) => {
            format!("the change log skips from revision {expected} to {found}")
        }
        (Lang::Ja, RevisionGap { expected, found }) => {
            format!("変更ログがリビジョン {expected} から {found} に飛んでいます")
        }
        (Lang::En, HeadMismatch { head, last }) => {
            format!("the head says revision {head} but the last change is {last}")
        }
        (Lang::Ja, HeadMismatch { head, last }) => {
            format!("head はリビジョン {head} ですが、最後の変更は {last} です")
        }
        (Lang::En, Replay { detail }) => format!("the change log does not replay: {detail}"),
        (Lang::Ja, Replay { detail }) => format!("変更ログを再生できません: {detail}"),
        (Lang::En, StateDiffers { scope, detail }) => {
            format!("{scope}: the state tables differ from the replayed log ({detail})")
        }
        (Lang::Ja, StateDiffers { scope, detail }) => {
            format!("{scope}: 状態テーブルが変更ログの再生結果と異なります（{detail}）")
        }
        (Lang::En, State { detail }) => format!("the state tables do not load: {detail}"),
        (Lang::Ja, State { detail }) => format!("状態テーブルを読み込めません: {detail}"),
        (Lang::En, Limit { org, detail }) => format!("{org}: a limit is exceeded: {detail}"),
        (Lang::Ja, Limit { org, detail }) => format!("{org}: 上限を超えています: {detail}"),
        (Lang::En, Lockout { org }) => format!("{org}: no usable administrator is left"),
        (Lang::Ja, Lockout { org }) => format!("{org}: 利用可能な管理者がいません"),
        (Lang::En, Audit { chain, seq, detail }) => {
            format!("audit chain {chain}, event {seq}: {detail}")
        }
        (Lang::Ja, Audit { chain, seq, detail }) => {
            format!("監査チェーン {chain} のイベント {seq}: {detail}")
        }
        (
            Lang::En,
            AuditTruncated {
                chain,
                anchored,
                last,
            },
        ) => format!(
            "audit chain {chain} ends at event {last} but its anchor is at event {anchored}: \
             the last {} events were removed",
            anchored - last
        ),
        (
            Lang::Ja,
            AuditTruncated {
                chain,
                anchored,
                last,
            },
        ) => format!(
            "監査チェーン {chain} はイベント {last} で終わっていますが、アンカーはイベント \
             {anchored} です。末尾の {} 件が削除されています",
            anchored - last
        ),
        (Lang::En, AuditAnchor { chain, problem }) => {
            format!("audit chain {chain}: {}", anchor_problem(problem, lang))
        }
        (Lang::Ja, AuditAnchor { chain, problem }) => {
            format!("監査チェーン {chain}: {}", anchor_problem(problem, lang))
        }
        (Lang::En, UnauditedChanges { first, count }) => format!(
            "{count} changes of the log have no audit event (the first: revision {first}): \
             audit events were removed, or an anchor was rolled back with them"
        ),
        (Lang::Ja, UnauditedChanges { first, count }) => format!(
            "変更ログの {count} 件の変更に監査イベントがありません（最初はリビジョン {first}）。\
             監査イベントが削除されたか、アンカーとともに巻き戻されています"
        ),
        (Lang::En, DanglingSecret { principal }) => {
            format!("a credential belongs to {principal}, which does not exist")
        }
        (Lang::Ja, DanglingSecret { principal }) => {
            format!("存在しない {principal} の認証情報が残っています")
        }
        (
            Lang::En,
            PasskeyCount {
                principal,
                counted,
                stored,
            },
        ) => format!("{principal} has {counted} passkeys in the model but {stored} stored"),
        (
            Lang::Ja,
            PasskeyCount {
                principal,
                counted,
                stored,
            },
        ) => format!(
            "{principal} のパスキーはモデルでは {counted} 個ですが、保存されているのは {stored} 個です"
        ),
    }
}

/// What an audit event's chain check found.
pub fn audit_problem(p: &crate::audit::ChainProblem, lang: Lang) -> String {
    use crate::audit::ChainProblem::*;
    match (lang, p) {
        (Lang::En, Gap { expected }) => format!("event {expected} is missing"),
        (Lang::Ja, Gap { expected }) => format!("イベント {expected} が欠けています"),
        (Lang::En, BrokenLink) => "does not continue the previous event's hash".into(),
        (Lang::Ja, BrokenLink) => "直前のイベントのハッシュに続いていません".into(),
        (Lang::En, BadHash) => "its hash does not match its content".into(),
        (Lang::Ja, BadHash) => "ハッシュが内容と一致しません".into(),
        (Lang::En, BadMac) => "its HMAC does not verify under the audit key".into(),
        (Lang::Ja, BadMac) => "監査キーで HMAC を検証できません".into(),
        (Lang::En, ColumnsDiffer) => {
            "its columns (time, actor, action, outcome, revision) differ from its content".into()
        }
        (Lang::Ja, ColumnsDiffer) => {
            "列（時刻・実行者・操作・結果・リビジョン）が内容と一致しません".into()
        }
    }
}

/// What is wrong with an audit chain's anchor.
pub fn anchor_problem(p: &crate::verify::AnchorProblem, lang: Lang) -> String {
    use crate::verify::AnchorProblem::*;
    match (lang, p) {
        (Lang::En, Missing) => "it has events but no anchor (the anchor was removed)".into(),
        (Lang::Ja, Missing) => {
            "イベントがあるのにアンカーがありません（アンカーが削除されています）".into()
        }
        (Lang::En, BadMac) => "its anchor's HMAC does not verify under the audit key".into(),
        (Lang::Ja, BadMac) => "アンカーの HMAC を監査キーで検証できません".into(),
        (Lang::En, Beyond { anchored, last }) => format!(
            "events {} to {last} follow its anchor (event {anchored}): written behind the writer's back",
            anchored + 1
        ),
        (Lang::Ja, Beyond { anchored, last }) => format!(
            "アンカー（イベント {anchored}）の後にイベント {} から {last} があります。\
             書き込み経路を通らずに追加されています",
            anchored + 1
        ),
        (Lang::En, Differs { seq }) => {
            format!("event {seq} is not the one its anchor names (another hash)")
        }
        (Lang::Ja, Differs { seq }) => {
            format!("イベント {seq} がアンカーの示すもの（ハッシュ）と異なります")
        }
    }
}
