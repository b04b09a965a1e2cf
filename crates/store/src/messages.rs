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
        (Lang::En, EditedChanges { first, count }) => format!(
            "{count} changes of the log differ from what their audit events recorded (the first: \
             revision {first}): the change log was edited"
        ),
        (Lang::Ja, EditedChanges { first, count }) => format!(
            "変更ログの {count} 件の変更が監査イベントに記録された内容と異なります（最初はリビジョン \
             {first}）。変更ログが書き換えられています"
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

/// The message of a backup error: what is wrong, and where.
pub fn backup_error(e: &crate::backup::BackupError, lang: Lang) -> String {
    use crate::backup::BackupError::*;
    match (lang, e) {
        (_, Store(e)) => store_error(e, lang),
        (_, Io { path, detail }) => format!("{path}: {detail}"),
        (Lang::En, NotABackup { path }) => format!("{path} is not a canopy backup"),
        (Lang::Ja, NotABackup { path }) => format!("{path} は canopy のバックアップではありません"),
        (Lang::En, UnknownFormat { found }) => {
            format!("a backup of an unknown format ({found:?}): run a newer canopy")
        }
        (Lang::Ja, UnknownFormat { found }) => {
            format!("未知の形式のバックアップです（{found:?}）。新しい canopy を使ってください")
        }
        (Lang::En, Unsupported { detail }) => format!("this canopy cannot restore it: {detail}"),
        (Lang::Ja, Unsupported { detail }) => {
            format!("この canopy では復元できません: {detail}")
        }
        (Lang::En, Decompress { offset, detail }) => format!(
            "backup is corrupt: decompression failed near byte {offset} of the file ({detail})"
        ),
        (Lang::Ja, Decompress { offset, detail }) => format!(
            "バックアップが壊れています: ファイルの {offset} バイト付近で展開に失敗しました（{detail}）"
        ),
        (Lang::En, Truncated { line }) => {
            format!("backup is corrupt: it ends at line {line}, before its trailer (truncated)")
        }
        (Lang::Ja, Truncated { line }) => format!(
            "バックアップが壊れています: 末尾の検査行より前、{line} 行目で終わっています（途中で切れています）"
        ),
        (Lang::En, Malformed { line, detail }) => {
            format!("backup is corrupt: line {line}: {detail}")
        }
        (Lang::Ja, Malformed { line, detail }) => {
            format!("バックアップが壊れています: {line} 行目: {detail}")
        }
        (Lang::En, SectionDiffers { section, from, to }) => format!(
            "backup is corrupt: section {section:?} checksum differs (lines {from} to {to})"
        ),
        (Lang::Ja, SectionDiffers { section, from, to }) => format!(
            "バックアップが壊れています: セクション {section:?} のチェックサムが一致しません（{from} 行目から {to} 行目）"
        ),
        (Lang::En, TrailerDiffers { line }) => {
            format!("backup is corrupt: the checksum of the whole file (line {line}) differs")
        }
        (Lang::Ja, TrailerDiffers { line }) => format!(
            "バックアップが壊れています: ファイル全体のチェックサム（{line} 行目）が一致しません"
        ),
        (Lang::En, TargetNotEmpty { table }) => {
            format!("the target store is not empty ({table} has rows): restore into an empty store")
        }
        (Lang::Ja, TargetNotEmpty { table }) => format!(
            "復元先のストアが空ではありません（{table} に行があります）。空のストアに復元してください"
        ),
        (Lang::En, NoSuchOrg { org }) => format!("the backup holds no organisation `{org}`"),
        (Lang::Ja, NoSuchOrg { org }) => format!("バックアップに組織 `{org}` はありません"),
        (Lang::En, CopyRefused { detail }) => format!("cannot restore the copy: {detail}"),
        (Lang::Ja, CopyRefused { detail }) => format!("複製を復元できません: {detail}"),
        (Lang::En, NoSnapshot { point }) => {
            format!("no backup in the directory was taken at or before {point}")
        }
        (Lang::Ja, NoSnapshot { point }) => {
            format!("{point} 以前に取得したバックアップがディレクトリにありません")
        }
        (Lang::En, BeyondArchive { point, reached }) => {
            format!("the archived log reaches {reached} only, not {point}")
        }
        (Lang::Ja, BeyondArchive { point, reached }) => {
            format!("アーカイブされたログは {reached} までで、{point} には届きません")
        }
        (Lang::En, ArchiveGap { file, detail }) => {
            format!("the archived log has a gap before {file}: {detail}")
        }
        (Lang::Ja, ArchiveGap { file, detail }) => {
            format!("アーカイブされたログの {file} の前に欠落があります: {detail}")
        }
        (Lang::En, Internal { detail }) => format!("the backup failed: {detail}"),
        (Lang::Ja, Internal { detail }) => format!("バックアップに失敗しました: {detail}"),
    }
}

/// What the restore test found wrong, one line.
pub fn backup_problem(p: &crate::backup::VerifyProblem, lang: Lang) -> String {
    use crate::backup::VerifyProblem::*;
    let answer = |a: &crate::backup::sample::Answer| {
        let verdict = match (lang, a.allowed) {
            (Lang::En, true) => "allowed",
            (Lang::En, false) => "denied",
            (Lang::Ja, true) => "許可",
            (Lang::Ja, false) => "拒否",
        };
        format!("{verdict} (revision {})", a.revision)
    };
    match (lang, p) {
        (_, File(e)) => backup_error(e, lang),
        (
            Lang::En,
            RowCount {
                table,
                backup,
                restored,
            },
        ) => {
            format!("table {table}: the backup holds {backup} rows, {restored} were restored")
        }
        (
            Lang::Ja,
            RowCount {
                table,
                backup,
                restored,
            },
        ) => format!(
            "テーブル {table}: バックアップには {backup} 行ありますが、復元されたのは {restored} 行です"
        ),
        (_, Store(p)) => verify_problem(p, lang),
        (
            Lang::En,
            ChainEnd {
                chain,
                anchored,
                last,
            },
        ) => format!(
            "audit chain {chain} ends at event {} but the backup's header anchors it at event {anchored}",
            last.unwrap_or(0)
        ),
        (
            Lang::Ja,
            ChainEnd {
                chain,
                anchored,
                last,
            },
        ) => format!(
            "監査チェーン {chain} はイベント {} で終わっていますが、バックアップのヘッダーのアンカーはイベント {anchored} です",
            last.unwrap_or(0)
        ),
        (Lang::En, AnchorRow { chain }) => format!(
            "audit chain {chain}: the restored anchor is not the one the backup's header records"
        ),
        (Lang::Ja, AnchorRow { chain }) => format!(
            "監査チェーン {chain}: 復元されたアンカーがバックアップのヘッダーの記録と異なります"
        ),
        (Lang::En, StateDigest { recorded, restored }) => {
            format!("the restored state's digest {restored} differs from the recorded {recorded}")
        }
        (Lang::Ja, StateDigest { recorded, restored }) => {
            format!("復元した状態のダイジェスト {restored} が記録された {recorded} と異なります")
        }
        (
            Lang::En,
            Decision {
                line,
                question,
                recorded,
                now,
            },
        ) => format!(
            "decision at line {line} differs: {question} was {}, is now {}",
            answer(recorded),
            now.as_ref()
                .map_or_else(|e| format!("an error ({e})"), answer)
        ),
        (
            Lang::Ja,
            Decision {
                line,
                question,
                recorded,
                now,
            },
        ) => format!(
            "{line} 行目の判定が異なります: {question} は {} でしたが、現在は {} です",
            answer(recorded),
            now.as_ref()
                .map_or_else(|e| format!("エラー（{e}）"), answer)
        ),
        (Lang::En, BadDecision { line }) => {
            format!("backup is corrupt: line {line} of the decisions is not a question")
        }
        (Lang::Ja, BadDecision { line }) => {
            format!("バックアップが壊れています: 判定の {line} 行目が質問の形をしていません")
        }
        (Lang::En, TooFewDecisions { found, wanted }) => {
            format!("the backup records {found} decisions, fewer than {wanted}")
        }
        (Lang::Ja, TooFewDecisions { found, wanted }) => {
            format!("バックアップに記録された判定は {found} 件で、{wanted} 件に足りません")
        }
    }
}

/// The report of the restore test: one line per check (each check's problems in its place),
/// and a last line that says whether the backup passed.
pub fn backup_report(r: &crate::backup::VerifyReport, lang: Lang) -> Vec<String> {
    use crate::backup::VerifyProblem as P;
    let mut lines = Vec::new();
    let of = |keep: &dyn Fn(&P) -> bool| -> Vec<String> {
        r.problems
            .iter()
            .filter(|p| keep(p))
            .map(|p| backup_problem(p, lang))
            .collect()
    };
    let mut check = |ok: String, problems: Vec<String>| match problems.is_empty() {
        true => lines.push(format!("ok    {ok}")),
        false => lines.extend(problems.into_iter().map(|p| format!("FAIL  {p}"))),
    };
    let file = of(&|p| matches!(p, P::File(_)));
    let broken = !file.is_empty();
    let rows: u64 = r
        .sections
        .iter()
        .filter(|s| s.name != "decisions")
        .map(|s| s.rows)
        .sum();
    let sections = r.sections.len();
    check(
        match lang {
            Lang::En => format!("checksums: {sections} sections, {rows} rows, the whole file"),
            Lang::Ja => format!("チェックサム: {sections} セクション、{rows} 行、ファイル全体"),
        },
        file,
    );
    if !broken {
        let restored = r.restored_rows;
        check(
            match lang {
                Lang::En => format!(
                    "restore: {restored} rows into a scratch SQLite store, as many as the backup holds"
                ),
                Lang::Ja => {
                    format!("復元: 一時的な SQLite ストアに {restored} 行、バックアップと同数")
                }
            },
            of(&|p| matches!(p, P::RowCount { .. })),
        );
        let (head, changes, orgs, events) = r.store.as_ref().map_or((0, 0, 0, 0), |s| {
            (s.head, s.changes, s.orgs, s.audit_events)
        });
        check(
            match lang {
                Lang::En => format!(
                    "verify: revision {head}, {changes} changes replayed, {orgs} organisations, {events} audit events with their HMACs and anchors"
                ),
                Lang::Ja => format!(
                    "検証: リビジョン {head}、変更 {changes} 件を再生、組織 {orgs} 件、監査イベント {events} 件（HMAC とアンカーを含む）"
                ),
            },
            of(&|p| matches!(p, P::Store(_))),
        );
        let anchors = r.anchors;
        check(
            match lang {
                Lang::En => format!(
                    "anchors: {anchors} audit chains end where the backup's header anchors them"
                ),
                Lang::Ja => format!(
                    "アンカー: 監査チェーン {anchors} 本がバックアップのヘッダーのアンカーで終わっています"
                ),
            },
            of(&|p| matches!(p, P::ChainEnd { .. } | P::AnchorRow { .. })),
        );
        check(
            match lang {
                Lang::En => "state: the restored state has the recorded digest".to_string(),
                Lang::Ja => "状態: 復元した状態のダイジェストが記録と一致します".to_string(),
            },
            of(&|p| matches!(p, P::StateDigest { .. })),
        );
        let (n, allowed) = (r.decisions, r.allowed);
        let at = r
            .header
            .as_ref()
            .map_or(String::new(), |h| h.created.clone());
        check(
            match lang {
                Lang::En => format!(
                    "decisions: {n} sampled decisions identical at {at} ({allowed} allowed)"
                ),
                Lang::Ja => {
                    format!("判定: 抽出した {n} 件の判定が {at} 時点で一致（許可 {allowed} 件）")
                }
            },
            of(&|p| {
                matches!(
                    p,
                    P::Decision { .. } | P::BadDecision { .. } | P::TooFewDecisions { .. }
                )
            }),
        );
    }
    let problems = r.problems.len();
    lines.push(match (lang, problems) {
        (Lang::En, 0) => "the backup restores and proves itself".into(),
        (Lang::Ja, 0) => "バックアップは復元でき、内容が証明されました".into(),
        (Lang::En, n) => format!("the backup FAILED the restore test: {n} problems"),
        (Lang::Ja, n) => format!("バックアップは復元テストに失敗しました: 問題 {n} 件"),
    });
    lines
}
