//! The tenant's people: users, groups and memberships. One helper per kind of object so the
//! seed data (`catalog::SEED_USERS` / `SEED_GROUPS`), tests and new routes all make them the
//! same way, with the properties Graph returns.

use serde_json::{json, Value};

use super::state::{new_id, Group, TenantState, User};

impl TenantState {
    /// Add a user named `display_name` whose userPrincipalName (and mail) is
    /// `nick@{tenant domain}`. Returns its object id.
    pub fn add_user(&mut self, display_name: &str, nick: &str) -> String {
        let (given, surname) = display_name.split_once(' ').unwrap_or((display_name, ""));
        let upn = format!("{nick}@{}", self.domain);
        let id = new_id();
        self.users.push(User {
            doc: json!({
                "id": id,
                "businessPhones": [],
                "displayName": display_name,
                "givenName": given,
                "jobTitle": null,
                "mail": upn,
                "mobilePhone": null,
                "officeLocation": null,
                "preferredLanguage": null,
                "surname": surname,
                "userPrincipalName": upn,
            }),
            id: id.clone(),
        });
        id
    }

    /// Add a security group named `display_name` (names need not be unique, as in Entra).
    /// Returns its object id.
    pub fn add_group(&mut self, display_name: &str) -> String {
        let id = new_id();
        self.groups.push(Group {
            doc: json!({
                "@odata.type": "#microsoft.graph.group",
                "id": id,
                "displayName": display_name,
                "description": null,
                "groupTypes": [],
                "mailEnabled": false,
                "mailNickname": display_name.to_lowercase().replace(' ', "-"),
                "securityEnabled": true,
            }),
            id: id.clone(),
            user_members: Vec::new(),
            group_members: Vec::new(),
        });
        id
    }

    /// Make user `user_id` a direct member of group `group_id`. False if either is unknown.
    pub fn add_user_to_group(&mut self, group_id: &str, user_id: &str) -> bool {
        if !self.users.iter().any(|u| u.id == user_id) {
            return false;
        }
        match self.groups.iter_mut().find(|g| g.id == group_id) {
            Some(g) => {
                if !g.user_members.iter().any(|m| m == user_id) {
                    g.user_members.push(user_id.to_string());
                }
                true
            }
            None => false,
        }
    }

    /// Make group `member_id` a member of group `group_id` (nesting). False if either is unknown.
    pub fn add_group_to_group(&mut self, group_id: &str, member_id: &str) -> bool {
        if !self.groups.iter().any(|g| g.id == member_id) {
            return false;
        }
        match self.groups.iter_mut().find(|g| g.id == group_id) {
            Some(g) => {
                if !g.group_members.iter().any(|m| m == member_id) {
                    g.group_members.push(member_id.to_string());
                }
                true
            }
            None => false,
        }
    }

    /// The object id of the user whose userPrincipalName is `upn` (ignoring case).
    pub fn user_id_by_upn(&self, upn: &str) -> Option<String> {
        self.users
            .iter()
            .find(|u| {
                u.doc["userPrincipalName"]
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(upn))
            })
            .map(|u| u.id.clone())
    }
}

// Also seeded: groups that make name resolution interesting, two sharing one display name
// (Entra does not make display names unique) and one whose name holds a `'`, which an OData
// string literal must escape as `''`.

/// Groups seeded next to the catalog's: (display name, members by user nickname). The two
/// "Elastic Operators" are namesakes; Ada is in neither (tests count her groups).
pub(crate) const SEED_EXTRA_GROUPS: [(&str, &[&str]); 3] = [
    ("Elastic Operators", &["edsger"]),
    ("Elastic Operators", &["alan"]),
    ("O'Brien's Readers", &["grace"]),
];

impl TenantState {
    /// Add [`SEED_EXTRA_GROUPS`] to the directory (after the users exist).
    pub(crate) fn seed_extra_groups(&mut self) {
        let st = self;
        for (name, nicks) in SEED_EXTRA_GROUPS {
            let user_members = nicks
                .iter()
                .filter_map(|nick| {
                    let upn = format!("{nick}@{}", st.domain);
                    st.users
                        .iter()
                        .find(|u| u.doc["userPrincipalName"] == upn.as_str())
                        .map(|u| u.id.clone())
                })
                .collect();
            let id = new_id();
            st.groups.push(Group {
                doc: group_doc(&id, name),
                id,
                user_members,
                group_members: Vec::new(),
            });
        }
    }
}

/// A security group as Graph returns it (the default property set, trimmed to what matters).
fn group_doc(id: &str, name: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.group",
        "id": id,
        "displayName": name,
        "description": null,
        "groupTypes": [],
        "mailEnabled": false,
        "mailNickname": name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
            .collect::<String>()
            .to_lowercase()
            .replace(' ', "-"),
        "securityEnabled": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Faults;

    #[test]
    fn namesakes_and_a_quote_are_seeded_without_touching_ada() {
        let (st, _) = TenantState::new(new_id(), Faults::default());
        let named = |n: &str| {
            st.groups
                .iter()
                .filter(|g| g.doc["displayName"] == n)
                .count()
        };
        assert_eq!(named("Elastic Operators"), 2);
        assert_eq!(named("O'Brien's Readers"), 1);
        let ada = &st.users[0].id;
        assert!(st.transitive_groups(ada).iter().all(|g| !SEED_EXTRA_GROUPS
            .iter()
            .any(|(n, _)| g.doc["displayName"] == *n)));
    }
}
