//! The system roles present in every organisation (§3.4).

use std::sync::OnceLock;

use crate::action::{ActionClass, Effect, Statement};
use crate::ids::RoleId;
use crate::model::Role;
use crate::name::Name;

/// The names of the system roles, most powerful first.
pub const SYSTEM_ROLE_NAMES: [&str; 4] = ["admin", "power-user", "operator", "viewer"];

fn classes_for(name: &str) -> &'static [ActionClass] {
    use ActionClass::*;
    match name {
        "admin" => &[Read, Operate, Configure, Admin],
        "power-user" => &[Read, Operate, Configure],
        "operator" => &[Read, Operate],
        _ => &[Read],
    }
}

/// The four read-only system roles: `admin`, `power-user`, `operator`, `viewer`.
pub fn system_roles() -> &'static [Role] {
    static ROLES: OnceLock<Vec<Role>> = OnceLock::new();
    ROLES.get_or_init(|| {
        SYSTEM_ROLE_NAMES
            .iter()
            .filter_map(|name| {
                Some(Role {
                    id: RoleId::system(name),
                    name: Name::parse(name).ok()?,
                    statements: vec![Statement {
                        effect: Effect::Allow,
                        actions: vec![],
                        classes: classes_for(name).to_vec(),
                    }],
                    system: true,
                })
            })
            .collect()
    })
}

/// The ID of the system `admin` role.
pub fn admin_role_id() -> RoleId {
    RoleId::system("admin")
}

#[cfg(test)]
mod tests {
    #[test]
    fn there_are_four_system_roles() {
        let roles = super::system_roles();
        assert_eq!(roles.len(), 4);
        assert_eq!(roles[0].id.as_str(), "rol_admin");
    }
}
