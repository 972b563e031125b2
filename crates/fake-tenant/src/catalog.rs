//! Fixed data every fake tenant starts with: Microsoft Graph's application roles (real ids,
//! so code that hard-codes them as a cross-check agrees), the non-gallery application
//! templates, and a small directory of users and groups for the realm's lookups.

use serde_json::{json, Value};

/// `appId` of Microsoft Graph, the same in every tenant. The client has its own copy
/// (`msgraph_keystore::cloud::MICROSOFT_GRAPH_APP_ID`; this crate must not depend on the
/// client it tests), and a unit test there checks the two agree.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Microsoft's own tenant, which owns the Microsoft Graph application.
pub const MICROSOFT_TENANT_ID: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// The "custom / non-gallery" application templates (global, US Gov, China): instantiating
/// any of them is what the portal's "Create your own application" does.
pub const NON_GALLERY_TEMPLATE_IDS: [&str; 3] = [
    "8adf8e6e-67b2-4cf2-a259-e3dc5476c621",
    "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
    "5a532e38-1581-4918-9658-008dc27c1d68",
];

/// One application permission Microsoft Graph offers: (id, value, display name, description).
pub struct GraphRole {
    pub id: &'static str,
    pub value: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
}

/// The Graph app roles this fake knows: those the tool requests, those its callers need, and
/// the neighbours that grant the same reads. Ids are Microsoft's.
pub const GRAPH_ROLES: &[GraphRole] = &[
    GraphRole {
        id: "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        value: "Directory.ReadWrite.All",
        display_name: "Read and write directory data",
        description: "Allows the app to read and write data in your organization's directory, such as users, and groups, without a signed-in user. Does not allow user or group deletion.",
    },
    GraphRole {
        id: "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
        value: "Directory.Read.All",
        display_name: "Read directory data",
        description: "Allows the app to read data in your organization's directory, such as users, groups and apps, without a signed-in user.",
    },
    GraphRole {
        id: "62a82d76-70ea-41e2-9197-370581804d09",
        value: "Group.ReadWrite.All",
        display_name: "Read and write all groups",
        description: "Allows the app to create groups, read all group properties and memberships, update group properties and memberships, and delete groups. Also allows the app to read and write conversations. All of these operations can be performed by the app without a signed-in user.",
    },
    GraphRole {
        id: "5b567255-7703-4780-807c-7be8301ae99b",
        value: "Group.Read.All",
        display_name: "Read all groups",
        description: "Allows the app to read group properties and memberships, and read conversations for all groups, without a signed-in user.",
    },
    GraphRole {
        id: "98830695-27a2-44f7-8c18-0c3ebc9698f6",
        value: "GroupMember.Read.All",
        display_name: "Read all group memberships",
        description: "Allows the app to read memberships and basic group properties for all groups without a signed-in user.",
    },
    GraphRole {
        id: "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
        value: "GroupMember.ReadWrite.All",
        display_name: "Read and write all group memberships",
        description: "Allows the app to list groups, read basic properties, read and update the membership of the groups this app has access to without a signed-in user.",
    },
    GraphRole {
        id: "df021288-bdef-4463-88db-98f22de89214",
        value: "User.Read.All",
        display_name: "Read all users' full profiles",
        description: "Allows the app to read user profiles without a signed in user.",
    },
    GraphRole {
        id: "97235f07-e226-4f63-ace3-39588e11d3a1",
        value: "User.ReadBasic.All",
        display_name: "Read all users' basic profiles",
        description: "Allows the app to read a basic set of profile properties of other users in your organization without a signed-in user.",
    },
    GraphRole {
        id: "741f803b-c850-494e-b5df-cde7c675a1ca",
        value: "User.ReadWrite.All",
        display_name: "Read and write all users' full profiles",
        description: "Allows the app to read and update user profiles without a signed in user.",
    },
    GraphRole {
        id: "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
        value: "Application.Read.All",
        display_name: "Read all applications",
        description: "Allows the app to read all applications and service principals without a signed-in user.",
    },
    GraphRole {
        id: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        value: "Application.ReadWrite.All",
        display_name: "Read and write all applications",
        description: "Allows the app to create, read, update and delete applications and service principals without a signed-in user. Does not allow management of consent grants.",
    },
    GraphRole {
        id: "18a4783c-866b-4cc7-a460-3d5e5662c884",
        value: "Application.ReadWrite.OwnedBy",
        display_name: "Manage apps that this app creates or owns",
        description: "Allows the app to create other applications, and fully manage those applications (read, update, update application secrets and delete), without a signed-in user. It cannot update any apps that it is not an owner of.",
    },
    GraphRole {
        id: "06b708a9-e830-4db3-a914-8e69da51d44f",
        value: "AppRoleAssignment.ReadWrite.All",
        display_name: "Manage app permission grants and app role assignments",
        description: "Allows the app to manage permission grants for application permissions to any API (including Microsoft Graph) and application assignments for any app, without a signed-in user.",
    },
    GraphRole {
        id: "498476ce-e0fe-48b0-b801-37ba7e2685c6",
        value: "Organization.Read.All",
        display_name: "Read organization information",
        description: "Allows the app to read the organization and related resources, without a signed-in user.",
    },
];

/// The roles the built-in admin caller holds: enough to provision and to grant consent.
pub const ADMIN_ROLE_VALUES: [&str; 3] = [
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
];

/// Look a Graph role up by its value (`User.Read.All`).
pub fn graph_role_by_value(value: &str) -> Option<&'static GraphRole> {
    GRAPH_ROLES.iter().find(|r| r.value == value)
}

/// The `appRoles` collection of the Microsoft Graph service principal.
pub fn graph_app_roles_json() -> Value {
    Value::Array(
        GRAPH_ROLES
            .iter()
            .map(|r| {
                json!({
                    "allowedMemberTypes": ["Application"],
                    "description": r.description,
                    "displayName": r.display_name,
                    "id": r.id,
                    "isEnabled": true,
                    "origin": "Application",
                    "value": r.value,
                })
            })
            .collect(),
    )
}

/// A seeded directory user: (display name, mail nickname).
pub const SEED_USERS: [(&str, &str); 4] = [
    ("Ada Lovelace", "ada"),
    ("Grace Hopper", "grace"),
    ("Alan Turing", "alan"),
    ("Edsger Dijkstra", "edsger"),
];

/// A seeded group: (display name, users by nickname, nested groups by index into this list).
/// "Elastic Admins" sits inside "Engineering", so its members are transitively in both.
pub const SEED_GROUPS: [(&str, &[&str], &[usize]); 3] = [
    ("Engineering", &["alan"], &[1]),
    ("Elastic Admins", &["ada", "grace"], &[]),
    ("Elastic Viewers", &["grace", "edsger"], &[]),
];
