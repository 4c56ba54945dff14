//! Who may run which command: the commenter's GitHub role against the
//! configured minimum.
//!
//! The role comes from GitHub's collaborator permission endpoint
//! (`role_name`), asked when the command runs. Roles are ordered
//! read < triage < write < maintain < admin; a custom role ferry does not
//! know is never sufficient, and when GitHub could not be asked at all the
//! command is refused (fail closed).
//!
//! `status` and `help` need read. `pin`, `unpin`, `revert` and `promote`
//! need the minimum configured for their environment
//! (`chatops.environments`), or else the general minimum
//! (`chatops.permission`, default write). An environment's entry replaces
//! the general minimum for that environment, so it can be stricter
//! (`production: maintain`) or looser (`dev: triage`).

use std::collections::BTreeMap;
use std::fmt;

use super::grammar::Command;

/// A GitHub repository role, as reported in `role_name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// `read`.
    Read,
    /// `triage`.
    Triage,
    /// `write`.
    Write,
    /// `maintain`.
    Maintain,
    /// `admin`.
    Admin,
    /// Any other name (a custom role, `none`, an empty string): never
    /// sufficient, and never satisfied when used as a minimum.
    Unknown(String),
}

impl Role {
    /// The role GitHub's `role_name` names. The match is exact (GitHub
    /// reports the built-in roles in lowercase); anything else is
    /// [`Role::Unknown`].
    pub fn from_role_name(name: &str) -> Role {
        match name {
            "read" => Role::Read,
            "triage" => Role::Triage,
            "write" => Role::Write,
            "maintain" => Role::Maintain,
            "admin" => Role::Admin,
            other => Role::Unknown(other.to_string()),
        }
    }

    /// The role's name as GitHub writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Role::Read => "read",
            Role::Triage => "triage",
            Role::Write => "write",
            Role::Maintain => "maintain",
            Role::Admin => "admin",
            Role::Unknown(name) => name,
        }
    }

    /// The rank of a built-in role, from read = 0; `None` for unknown roles.
    fn rank(&self) -> Option<u8> {
        match self {
            Role::Read => Some(0),
            Role::Triage => Some(1),
            Role::Write => Some(2),
            Role::Maintain => Some(3),
            Role::Admin => Some(4),
            Role::Unknown(_) => None,
        }
    }

    /// Whether this role is at least `needed`. False whenever either is
    /// unknown.
    pub fn satisfies(&self, needed: &Role) -> bool {
        matches!((self.rank(), needed.rank()), (Some(have), Some(need)) if have >= need)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The configured minimum roles (`chatops.permission` and
/// `chatops.environments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Minimum role for `pin`, `unpin`, `revert` and `promote` in an
    /// environment without its own entry. Default write.
    pub permission: Role,
    /// Minimum role per environment; replaces `permission` there.
    pub environments: BTreeMap<String, Role>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            permission: Role::Write,
            environments: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// The role `command` needs under this policy.
    pub fn needed(&self, command: &Command) -> &Role {
        match command.environment() {
            None => &Role::Read,
            Some(env) => self.environments.get(env).unwrap_or(&self.permission),
        }
    }
}

/// Whether a command may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The role found is sufficient.
    Allowed,
    /// The role found is not sufficient, or none could be found.
    Refused {
        /// The role the command needs.
        needed: Role,
        /// The role GitHub reported; `None` when GitHub could not be asked.
        found: Option<Role>,
    },
}

impl Decision {
    /// Whether the command may run.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed => f.write_str("allowed"),
            Decision::Refused {
                needed,
                found: Some(found),
            } => write!(f, "this needs the {needed} role; yours is {found}"),
            Decision::Refused {
                needed,
                found: None,
            } => write!(
                f,
                "this needs the {needed} role; your role could not be checked with GitHub"
            ),
        }
    }
}

/// Decides whether a commenter whose role is `role_found` (`None` when
/// GitHub could not be asked) may run `command` under `policy`.
pub fn decide(command: &Command, role_found: Option<&Role>, policy: &Policy) -> Decision {
    let needed = policy.needed(command);
    match role_found {
        Some(found) if found.satisfies(needed) => Decision::Allowed,
        found => Decision::Refused {
            needed: needed.clone(),
            found: found.cloned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chatops::grammar::parse_line;

    fn cmd(line: &str) -> Command {
        parse_line(line).unwrap().unwrap()
    }

    fn policy(permission: &str, envs: &[(&str, &str)]) -> Policy {
        Policy {
            permission: Role::from_role_name(permission),
            environments: envs
                .iter()
                .map(|(e, r)| (e.to_string(), Role::from_role_name(r)))
                .collect(),
        }
    }

    #[test]
    fn role_names() {
        for name in ["read", "triage", "write", "maintain", "admin"] {
            let role = Role::from_role_name(name);
            assert!(!matches!(role, Role::Unknown(_)), "{name}");
            assert_eq!(role.as_str(), name);
        }
        for name in [
            "Admin",
            "WRITE",
            " write",
            "none",
            "",
            "security-manager",
            "écrire",
        ] {
            assert_eq!(Role::from_role_name(name), Role::Unknown(name.to_string()));
        }
    }

    #[test]
    fn order() {
        let roles = ["read", "triage", "write", "maintain", "admin"].map(Role::from_role_name);
        for (i, have) in roles.iter().enumerate() {
            for (j, need) in roles.iter().enumerate() {
                assert_eq!(have.satisfies(need), i >= j, "{have} vs {need}");
            }
        }
        let custom = Role::Unknown("deployer".into());
        for role in &roles {
            assert!(!custom.satisfies(role), "custom satisfies {role}");
            assert!(!role.satisfies(&custom), "{role} satisfies custom");
        }
        assert!(!custom.satisfies(&custom));
    }

    #[test]
    fn decide_table() {
        let default = Policy::default();
        let prod = policy("write", &[("production", "maintain"), ("dev", "triage")]);
        let strict = policy("admin", &[]);
        let unknown_min = policy("deployer", &[]);
        let allowed = || Decision::Allowed;
        let refused = |needed: &str, found: Option<&str>| Decision::Refused {
            needed: Role::from_role_name(needed),
            found: found.map(Role::from_role_name),
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, &Policy, Option<&str>, Decision)> = vec![
            // Default policy: write for changes, read for status and help.
            ("/ferry pin api production", &default, Some("write"), allowed()),
            ("/ferry pin api production", &default, Some("admin"), allowed()),
            ("/ferry pin api production", &default, Some("triage"), refused("write", Some("triage"))),
            ("/ferry unpin api staging", &default, Some("read"), refused("write", Some("read"))),
            ("/ferry revert api staging", &default, Some("maintain"), allowed()),
            ("/ferry promote api v1 to staging", &default, Some("write"), allowed()),
            ("/ferry status", &default, Some("read"), allowed()),
            ("/ferry status api", &default, Some("triage"), allowed()),
            ("/ferry help", &default, Some("read"), allowed()),
            // Per-environment minimum, stricter and looser.
            ("/ferry revert api production", &prod, Some("write"), refused("maintain", Some("write"))),
            ("/ferry revert api production", &prod, Some("maintain"), allowed()),
            ("/ferry unpin api production", &prod, Some("admin"), allowed()),
            ("/ferry promote api v1 to production", &prod, Some("write"), refused("maintain", Some("write"))),
            ("/ferry pin api dev", &prod, Some("triage"), allowed()),
            ("/ferry pin api dev", &prod, Some("read"), refused("triage", Some("read"))),
            ("/ferry pin api staging", &prod, Some("triage"), refused("write", Some("triage"))),
            ("/ferry pin api staging", &prod, Some("write"), allowed()),
            // status and help need read whatever the minimum.
            ("/ferry status", &strict, Some("read"), allowed()),
            ("/ferry help", &strict, Some("read"), allowed()),
            ("/ferry unpin api dev", &strict, Some("maintain"), refused("admin", Some("maintain"))),
            // Unknown roles are never sufficient.
            ("/ferry pin api production", &default, Some("deployer"), refused("write", Some("deployer"))),
            ("/ferry status", &default, Some("none"), refused("read", Some("none"))),
            ("/ferry help", &default, Some(""), refused("read", Some(""))),
            ("/ferry pin api production", &default, Some("Admin"), refused("write", Some("Admin"))),
            // An unknown minimum is never satisfied.
            ("/ferry pin api production", &unknown_min, Some("admin"), refused("deployer", Some("admin"))),
            ("/ferry status", &unknown_min, Some("read"), allowed()),
            // GitHub could not be asked: fail closed, even for help.
            ("/ferry pin api production", &default, None, refused("write", None)),
            ("/ferry revert api production", &prod, None, refused("maintain", None)),
            ("/ferry status", &default, None, refused("read", None)),
            ("/ferry help", &default, None, refused("read", None)),
        ];
        let mut failures = Vec::new();
        for (line, policy, found, want) in &cases {
            let found = found.map(Role::from_role_name);
            let got = decide(&cmd(line), found.as_ref(), policy);
            if &got != want {
                failures.push(format!("{line} as {found:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn refusal_names_both_roles() {
        let d = decide(
            &cmd("/ferry unpin api production"),
            Some(&Role::Read),
            &policy("write", &[("production", "maintain")]),
        );
        assert!(!d.is_allowed());
        assert_eq!(d.to_string(), "this needs the maintain role; yours is read");
        let d = decide(&cmd("/ferry help"), None, &Policy::default());
        assert!(d.to_string().contains("could not be checked"), "{d}");
    }
}
