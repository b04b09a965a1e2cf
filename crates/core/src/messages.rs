//! Every message of this crate that reaches a person, in English and Japanese, in one place.

use crate::error::{CommandError, LimitKind, ObjectKind, PolicyRefusal, QueryError, Rule};
use crate::name::NameProblem;

/// A language a message can be given in (`en`, `ja` where it is stored or sent).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Japanese.
    Ja,
}

fn kind(k: ObjectKind, lang: Lang) -> &'static str {
    use ObjectKind::*;
    match (lang, k) {
        (Lang::En, Org) => "organisation",
        (Lang::En, Node) => "node",
        (Lang::En, Folder) => "folder",
        (Lang::En, Project) => "project",
        (Lang::En, Resource) => "resource",
        (Lang::En, User) => "user",
        (Lang::En, ServiceAccount) => "service account",
        (Lang::En, Group) => "group",
        (Lang::En, Principal) => "principal",
        (Lang::En, Subject) => "user or service account",
        (Lang::En, Role) => "role",
        (Lang::En, Binding) => "binding",
        (Lang::En, Guardrail) => "guardrail",
        (Lang::En, Token) => "token",
        (Lang::En, Action) => "action",
        (Lang::En, Type) => "resource type",
        (Lang::En, Membership) => "membership entry",
        (Lang::Ja, Org) => "組織",
        (Lang::Ja, Node) => "ノード",
        (Lang::Ja, Folder) => "フォルダ",
        (Lang::Ja, Project) => "プロジェクト",
        (Lang::Ja, Resource) => "リソース",
        (Lang::Ja, User) => "ユーザー",
        (Lang::Ja, ServiceAccount) => "サービスアカウント",
        (Lang::Ja, Group) => "グループ",
        (Lang::Ja, Principal) => "プリンシパル",
        (Lang::Ja, Subject) => "ユーザーまたはサービスアカウント",
        (Lang::Ja, Role) => "ロール",
        (Lang::Ja, Binding) => "バインディング",
        (Lang::Ja, Guardrail) => "ガードレール",
        (Lang::Ja, Token) => "トークン",
        (Lang::Ja, Action) => "アクション",
        (Lang::Ja, Type) => "リソースタイプ",
        (Lang::Ja, Membership) => "メンバーシップ",
    }
}

fn name_problem(p: &NameProblem, lang: Lang) -> String {
    match (lang, p) {
        (Lang::En, NameProblem::Empty) => "it is empty".into(),
        (Lang::En, NameProblem::TooLong) => "it is longer than 128 characters".into(),
        (Lang::En, NameProblem::ForbiddenCharacter(c)) => {
            format!("it contains the forbidden character {c:?}")
        }
        (Lang::En, NameProblem::SurroundingSpace) => "it starts or ends with white space".into(),
        (Lang::En, NameProblem::Dots) => "`.` and `..` are not names".into(),
        (Lang::En, NameProblem::IdShaped) => "it looks like an ID (`fld_…`)".into(),
        (Lang::Ja, NameProblem::Empty) => "空です".into(),
        (Lang::Ja, NameProblem::TooLong) => "128 文字を超えています".into(),
        (Lang::Ja, NameProblem::ForbiddenCharacter(c)) => {
            format!("使用できない文字 {c:?} を含みます")
        }
        (Lang::Ja, NameProblem::SurroundingSpace) => "先頭または末尾に空白があります".into(),
        (Lang::Ja, NameProblem::Dots) => "`.` と `..` は名前に使えません".into(),
        (Lang::Ja, NameProblem::IdShaped) => "ID の形（`fld_…`）をしています".into(),
    }
}

fn rule(r: &Rule, lang: Lang) -> String {
    use Rule::*;
    match (lang, r) {
        (Lang::En, ProjectHoldsResourcesOnly) => "projects hold resources only; put folders and projects in the organisation or a folder".into(),
        (Lang::En, LinkToProjectOnly) => "resources can be linked to projects only".into(),
        (Lang::En, AlreadyLinked) => "the resource is already linked to that project, or homed there".into(),
        (Lang::En, NotLinked) => "the resource is not linked to that project".into(),
        (Lang::En, MoveIntoOwnSubtree) => "a node cannot be moved into its own subtree".into(),
        (Lang::En, RootIsFixed) => "the organisation node cannot be moved or deleted this way".into(),
        (Lang::En, AlreadyExpired) => "the binding would already be expired; give an `expires_at` in the future".into(),
        (Lang::En, SystemRoleReadOnly) => "system roles are read-only; create a custom role instead".into(),
        (Lang::En, EmptyStatement) => "every statement needs at least one action pattern or class".into(),
        (Lang::En, UnknownType(t)) => format!("the resource type `{t}` is not in the catalog"),
        (Lang::En, SelfMembership) => "a group cannot be a member of itself".into(),
        (Lang::En, NotAGroup) => "only groups have members".into(),
        (Lang::En, NoSuchCredential) => "the user has no credential of that kind".into(),
        (Lang::En, CredentialTaken) => "this passkey is already registered; an authenticator's credential belongs to one account".into(),
        (Lang::En, BadCatalog(d)) => format!("the catalog is not well formed: {d}"),
        (Lang::En, InstanceAdminsOnly) => "only instance administrators may do this".into(),
        (Lang::En, OwnTokensOnly) => "a user's personal tokens are created by that user only".into(),
        (Lang::En, TokenOfAGroup) => "tokens belong to users and service accounts, not groups".into(),
        (Lang::En, LimitBelowCurrent) => "a limit cannot be set below what the organisation already holds".into(),
        (Lang::Ja, ProjectHoldsResourcesOnly) => "プロジェクトにはリソースのみ置けます。フォルダやプロジェクトは組織かフォルダの下に作成してください".into(),
        (Lang::Ja, LinkToProjectOnly) => "リソースはプロジェクトにのみリンクできます".into(),
        (Lang::Ja, AlreadyLinked) => "リソースはすでにそのプロジェクトにリンクされているか、そこに所属しています".into(),
        (Lang::Ja, NotLinked) => "リソースはそのプロジェクトにリンクされていません".into(),
        (Lang::Ja, MoveIntoOwnSubtree) => "ノードを自分自身の配下に移動することはできません".into(),
        (Lang::Ja, RootIsFixed) => "組織ノードはこの方法では移動・削除できません".into(),
        (Lang::Ja, AlreadyExpired) => "このバインディングはすでに期限切れです。未来の `expires_at` を指定してください".into(),
        (Lang::Ja, SystemRoleReadOnly) => "システムロールは変更できません。カスタムロールを作成してください".into(),
        (Lang::Ja, EmptyStatement) => "各ステートメントには少なくとも 1 つのアクションパターンまたはクラスが必要です".into(),
        (Lang::Ja, UnknownType(t)) => format!("リソースタイプ `{t}` はカタログにありません"),
        (Lang::Ja, SelfMembership) => "グループを自分自身のメンバーにすることはできません".into(),
        (Lang::Ja, NotAGroup) => "メンバーを持てるのはグループだけです".into(),
        (Lang::Ja, NoSuchCredential) => "ユーザーにはその種類の認証情報がありません".into(),
        (Lang::Ja, CredentialTaken) => "このパスキーはすでに登録されています。認証器の資格情報は 1 つのアカウントにのみ属します".into(),
        (Lang::Ja, BadCatalog(d)) => format!("カタログの形式が正しくありません: {d}"),
        (Lang::Ja, InstanceAdminsOnly) => "この操作はインスタンス管理者のみ実行できます".into(),
        (Lang::Ja, OwnTokensOnly) => "個人用トークンは本人のみが作成できます".into(),
        (Lang::Ja, TokenOfAGroup) => "トークンはユーザーとサービスアカウントのものです（グループには作成できません）".into(),
        (Lang::Ja, LimitBelowCurrent) => "上限を組織の現在の数より小さくすることはできません".into(),
    }
}

fn limit(l: LimitKind, max: u32, lang: Lang) -> String {
    match (lang, l) {
        (Lang::En, LimitKind::Depth) => {
            format!("the depth limit of {max} levels below the organisation would be exceeded")
        }
        (Lang::En, LimitKind::Nodes) => {
            format!("the limit of {max} folders and projects in the organisation would be exceeded")
        }
        (Lang::Ja, LimitKind::Depth) => format!("組織の下の階層数の上限（{max} レベル）を超えます"),
        (Lang::Ja, LimitKind::Nodes) => {
            format!("組織内のフォルダとプロジェクトの上限（{max} 個）を超えます")
        }
    }
}

/// The message of a command error.
pub fn command_error(e: &CommandError, lang: Lang) -> String {
    use CommandError::*;
    let en = lang == Lang::En;
    match e {
        NotFound { kind: k, reference } if en => {
            format!("no {} `{reference}` in this organisation", kind(*k, lang))
        }
        NotFound { kind: k, reference } => {
            format!("この組織に{} `{reference}` はありません", kind(*k, lang))
        }
        UnknownReference { field, reference } if en => {
            format!("`{field}`: `{reference}` does not name anything in this organisation")
        }
        UnknownReference { field, reference } => {
            format!("`{field}`: `{reference}` はこの組織に存在しません")
        }
        InvalidName {
            field,
            value,
            problem,
        } if en => format!(
            "`{field}`: `{value}` is not a valid name: {}",
            name_problem(problem, lang)
        ),
        InvalidName {
            field,
            value,
            problem,
        } => format!(
            "`{field}`: `{value}` は名前として使えません: {}",
            name_problem(problem, lang)
        ),
        InvalidField { field, detail } if en => format!("`{field}`: {detail}"),
        InvalidField { field, detail } => format!("`{field}`: {detail}"),
        DuplicateName { kind: k, name } if en => {
            format!("a {} named `{name}` already exists here", kind(*k, lang))
        }
        DuplicateName { kind: k, name } => {
            format!("`{name}` という名前の{}はすでに存在します", kind(*k, lang))
        }
        ConfusableName {
            kind: k,
            name,
            existing,
        } if en => format!(
            "`{name}` is too similar to the existing {} `{existing}` (they differ only in width or case)",
            kind(*k, lang)
        ),
        ConfusableName {
            kind: k,
            name,
            existing,
        } => format!(
            "`{name}` は既存の{} `{existing}` と紛らわしい名前です（全角・半角や大文字・小文字の違いのみ）",
            kind(*k, lang)
        ),
        Limit { limit: l, max } => limit(*l, *max, lang),
        CatalogTypo { pattern } if en => {
            format!("the pattern `{pattern}` matches no action of the catalog (a typo?)")
        }
        CatalogTypo { pattern } => format!(
            "パターン `{pattern}` はカタログのどのアクションにも一致しません（入力ミスではありませんか）"
        ),
        InUse {
            kind: k,
            reference,
            dependents,
        } if en => format!(
            "the {} `{reference}` is still in use by {}; remove those first or use `cascade=true`",
            kind(*k, lang),
            dependents.join(", ")
        ),
        InUse {
            kind: k,
            reference,
            dependents,
        } => format!(
            "{} `{reference}` はまだ {} で使われています。先にそれらを削除するか `cascade=true` を指定してください",
            kind(*k, lang),
            dependents.join("、")
        ),
        GroupCycle { group, member } if en => {
            format!("adding `{member}` to `{group}` would make a group contain itself")
        }
        GroupCycle { group, member } => {
            format!("`{member}` を `{group}` に追加するとグループが自分自身を含むことになります")
        }
        Lockout { organisation } if en => format!(
            "this would leave `{organisation}` without an enabled user who holds `admin` at the organisation with a usable local credential"
        ),
        Lockout { organisation } => format!(
            "この変更を行うと、`{organisation}` に組織レベルで `admin` を持ち、ローカル認証情報でログインできる有効なユーザーがいなくなります"
        ),
        Forbidden { action, scope } if en => format!("you may not `{action}` on `{scope}`"),
        Forbidden { action, scope } => format!("`{scope}` に対する `{action}` の権限がありません"),
        PolicyRefused { action, reason } => policy_refusal(action, *reason, lang),
        Escalation { action, scope } if en => {
            format!("this would grant `{action}` on `{scope}`, which you do not hold yourself")
        }
        Escalation { action, scope } => format!(
            "自分が持っていない権限（`{scope}` に対する `{action}`）を付与することになります"
        ),
        Rule(r) => rule(r, lang),
        StaleRevision { expected, actual } if en => format!(
            "the object changed at revision {actual}, after the revision {expected} you based this on; read it again"
        ),
        StaleRevision { expected, actual } => format!(
            "オブジェクトはリビジョン {actual} で更新されています（指定されたリビジョンは {expected}）。再取得してください"
        ),
    }
}

fn policy_refusal(action: &str, reason: PolicyRefusal, lang: Lang) -> String {
    match (reason, lang) {
        (PolicyRefusal::MfaRequired, Lang::En) => format!(
            "the organisation requires a second factor for `{action}`: log in again with TOTP or a passkey (enrol one first if you have none)"
        ),
        (PolicyRefusal::MfaRequired, Lang::Ja) => format!(
            "組織のポリシーにより `{action}` には多要素認証が必要です。TOTP またはパスキーで再ログインしてください（未登録の場合は先に登録してください）"
        ),
        (PolicyRefusal::PasskeyRequired, Lang::En) => format!(
            "the organisation requires a passkey for `{action}`: log in again with a passkey"
        ),
        (PolicyRefusal::PasskeyRequired, Lang::Ja) => {
            format!("組織のポリシーにより `{action}` にはパスキーでのログインが必要です")
        }
        (PolicyRefusal::SourceNotAllowed, Lang::En) => format!(
            "the organisation allows `{action}` only from its administrative networks; this request comes from elsewhere (reads still work)"
        ),
        (PolicyRefusal::SourceNotAllowed, Lang::Ja) => format!(
            "組織のポリシーにより `{action}` は許可された管理用ネットワークからのみ実行できます（参照は可能です）"
        ),
    }
}

/// The message of a query error.
pub fn query_error(e: &QueryError, lang: Lang) -> String {
    use QueryError::*;
    match (lang, e) {
        (Lang::En, UnknownPrincipal(p)) => format!("no principal `{p}` in this organisation"),
        (Lang::En, NotASubject(p)) => {
            format!("`{p}` is a group; ask about a user or service account")
        }
        (Lang::En, UnknownAction(a)) => format!("the action `{a}` is not in the catalog"),
        (Lang::En, UnknownType(t)) => format!("the resource type `{t}` is not in the catalog"),
        (Lang::En, UnknownTarget(t)) => format!("no node or resource `{t}` in this organisation"),
        (Lang::En, BadReference { field, value }) => {
            format!("`{field}`: `{value}` is not a valid reference")
        }
        (Lang::En, BadCursor) => "the cursor does not belong to this listing".into(),
        (Lang::Ja, UnknownPrincipal(p)) => format!("この組織にプリンシパル `{p}` はありません"),
        (Lang::Ja, NotASubject(p)) => {
            format!("`{p}` はグループです。ユーザーまたはサービスアカウントを指定してください")
        }
        (Lang::Ja, UnknownAction(a)) => format!("アクション `{a}` はカタログにありません"),
        (Lang::Ja, UnknownType(t)) => format!("リソースタイプ `{t}` はカタログにありません"),
        (Lang::Ja, UnknownTarget(t)) => {
            format!("この組織にノードまたはリソース `{t}` はありません")
        }
        (Lang::Ja, BadReference { field, value }) => {
            format!("`{field}`: `{value}` は参照として正しくありません")
        }
        (Lang::Ja, BadCursor) => "カーソルがこの一覧のものではありません".into(),
    }
}

/// The message of a replay error (an inconsistent log or model; for operators).
pub fn replay_error(e: &crate::engine::ReplayError, lang: Lang) -> String {
    use crate::engine::ReplayError::*;
    match (lang, e) {
        (Lang::En, Dangling { what }) => format!("`{what}` is referenced but does not exist"),
        (Lang::En, StillReferenced { what }) => {
            format!("`{what}` cannot be deleted: other objects still refer to it")
        }
        (Lang::En, WrongOrganisation) => "the change belongs to another organisation".into(),
        (Lang::Ja, Dangling { what }) => format!("`{what}` が参照されていますが存在しません"),
        (Lang::Ja, StillReferenced { what }) => {
            format!("`{what}` は他のオブジェクトから参照されているため削除できません")
        }
        (Lang::Ja, WrongOrganisation) => "この変更は別の組織のものです".into(),
        (Lang::En, OutOfOrder { expected, found }) => {
            format!("the change log skips from revision {expected} to {found}")
        }
        (Lang::Ja, OutOfOrder { expected, found }) => {
            format!("変更ログのリビジョンが {expected} ではなく {found} です（欠番があります）")
        }
    }
}

/// A kind of object of a configuration document, as a reader names it.
pub fn change_kind(k: crate::document::ChangeKind, lang: Lang) -> &'static str {
    use crate::document::ChangeKind::*;
    match (lang, k) {
        (Lang::En, Policy) => "policy",
        (Lang::En, Catalog) => "catalog",
        (Lang::En, Node) => "node",
        (Lang::En, Resource) => "resource",
        (Lang::En, User) => "user",
        (Lang::En, ServiceAccount) => "service account",
        (Lang::En, Group) => "group",
        (Lang::En, Member) => "member",
        (Lang::En, Role) => "role",
        (Lang::En, Binding) => "binding",
        (Lang::En, Guardrail) => "guardrail",
        (Lang::Ja, Policy) => "ポリシー",
        (Lang::Ja, Catalog) => "カタログ",
        (Lang::Ja, Node) => "ノード",
        (Lang::Ja, Resource) => "リソース",
        (Lang::Ja, User) => "ユーザー",
        (Lang::Ja, ServiceAccount) => "サービスアカウント",
        (Lang::Ja, Group) => "グループ",
        (Lang::Ja, Member) => "メンバー",
        (Lang::Ja, Role) => "ロール",
        (Lang::Ja, Binding) => "バインディング",
        (Lang::Ja, Guardrail) => "ガードレール",
    }
}

/// What a document does to an object, as a verb.
pub fn change_op(op: crate::document::Op, lang: Lang) -> &'static str {
    use crate::document::Op::*;
    match (lang, op) {
        (Lang::En, Add) => "add",
        (Lang::En, Change) => "change",
        (Lang::En, Remove) => "remove",
        (Lang::Ja, Add) => "追加",
        (Lang::Ja, Change) => "変更",
        (Lang::Ja, Remove) => "削除",
    }
}

/// A command of a document's plan that was refused, said of the object it came from.
pub fn document_step(change: &crate::document::Change, detail: &str, lang: Lang) -> String {
    let (kind, op) = (change_kind(change.kind, lang), change_op(change.op, lang));
    match lang {
        Lang::En => format!("{kind} `{}` ({op}): {detail}", change.object),
        Lang::Ja => format!("{kind} `{}`（{op}）: {detail}", change.object),
    }
}

/// Why a configuration document cannot be taken: where, what, and the problem.
pub fn document_error(e: &crate::document::DocumentError, lang: Lang) -> String {
    use crate::document::Problem::*;
    let en = lang == Lang::En;
    let problem = match (&e.problem, en) {
        (Format(v), true) => format!("format version {v} is not read by this Canopy (it reads 1)"),
        (Format(v), false) => format!("形式バージョン {v} はこの Canopy では読めません（読めるのは 1）"),
        (BadPath, true) => "is not a path that starts with the document's `org`".into(),
        (BadPath, false) => "ドキュメントの `org` で始まるパスではありません".into(),
        (BadPrincipal, true) => "is not `user:NAME`, `sa:NAME` or `group:NAME`".into(),
        (BadPrincipal, false) => "`user:NAME`、`sa:NAME`、`group:NAME` のいずれでもありません".into(),
        (Duplicate, true) => "appears twice".into(),
        (Duplicate, false) => "が二度現れます".into(),
        (Unknown(field), true) => format!("names a {field} that the document does not hold"),
        (Unknown(field), false) => format!("ドキュメントにない {field} を参照しています"),
        (BadParent, true) => "is inside a project (projects hold resources only)".into(),
        (BadParent, false) => "プロジェクトの中にあります（プロジェクトはリソースのみを持てます）".into(),
        (LinkNotProject, true) => "is a link to something that is not a project of the document".into(),
        (LinkNotProject, false) => "ドキュメントのプロジェクトではないものへのリンクです".into(),
        (SystemRoleName, true) => "is the name of a system role".into(),
        (SystemRoleName, false) => "はシステムロールの名前です".into(),
        (RemovesCaller, true) => {
            "is you: the document would delete the user applying it (add it to the document, or apply as another administrator)".into()
        }
        (RemovesCaller, false) => {
            "はあなた自身です: このドキュメントは適用するユーザーを削除します（ドキュメントに追加するか、別の管理者で適用してください）".into()
        }
    };
    format!("{}: `{}` {problem}", e.at, e.object)
}

/// One line describing a fix proposed by `explain`.
pub fn fix(f: &crate::engine::Fix, lang: Lang) -> String {
    use crate::engine::Fix::*;
    match (lang, f) {
        (Lang::En, Enable { principal }) => format!("enable {principal}"),
        (
            Lang::En,
            RemoveBinding {
                principal,
                role,
                scope,
                ..
            },
        ) => format!("remove the binding of {role} at {scope} to {principal}"),
        (Lang::En, AmendGuardrail { name, .. }) => format!("remove or amend the guardrail {name}"),
        (
            Lang::En,
            Bind {
                principal,
                role,
                scope,
                ..
            },
        ) => format!("bind {role} at {scope} to {principal}"),
        (Lang::Ja, Enable { principal }) => format!("{principal} を有効にする"),
        (
            Lang::Ja,
            RemoveBinding {
                principal,
                role,
                scope,
                ..
            },
        ) => format!("{scope} で {principal} に付与された {role} のバインディングを削除する"),
        (Lang::Ja, AmendGuardrail { name, .. }) => {
            format!("ガードレール {name} を削除または修正する")
        }
        (
            Lang::Ja,
            Bind {
                principal,
                role,
                scope,
                ..
            },
        ) => format!("{scope} で {principal} に {role} をバインドする"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_both_languages() {
        let errors = [
            CommandError::Lockout {
                organisation: "acme".into(),
            },
            CommandError::Limit {
                limit: LimitKind::Depth,
                max: 10,
            },
            CommandError::Rule(Rule::ProjectHoldsResourcesOnly),
            CommandError::ConfusableName {
                kind: ObjectKind::Folder,
                name: "ＶＭ".into(),
                existing: "vm".into(),
            },
        ];
        for e in errors {
            let (en, ja) = (e.message(Lang::En), e.message(Lang::Ja));
            assert!(!en.is_empty() && !ja.is_empty());
            assert_ne!(en, ja);
        }
    }
}
