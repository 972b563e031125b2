//! Provisioning the realm's Entra ID application through Microsoft Graph, idempotently:
//! find or create it, wait out replication, declare and grant the Graph permissions, add a
//! client secret when asked. Every step reads before it writes, so re-running converges.
//!
//! `setup`, `rotate` and `status` reuse [`provision`], [`find_app`], [`remove_passwords`]
//! and the naming helpers in [`options`]. This module knows nothing about files: the
//! secret is handed back in [`Provisioned::new_secret`] for the caller to store.

mod concurrent;
mod configure;
mod consent;
mod create;
mod deprovision;
pub mod error;
mod flow;
pub mod options;
pub mod outcome;
pub mod permissions;
pub mod progress;
pub mod record;
mod resolve;
mod secret;
mod tenant;
pub mod wait;

pub use consent::{admin_consent_instructions, admin_consent_url, CONSENT_REDIRECT_URI};
pub use deprovision::{deprovision, Deprovisioned};
pub use error::ProvisionError;
pub use flow::provision;
pub use options::{
    is_tool_secret, is_tool_secret_for, is_tool_secret_name_for, marker_tag,
    parse_secret_display_name, secret_display_name, secret_display_name_prefix,
    secret_display_name_replacing, AddSecret, ConsentMode, PermissionSet, ProvisionOptions,
    ToolSecretName, DEFAULT_APP_NAME, DEFAULT_SECRET_LIFETIME_DAYS, MARKER_TAG_PREFIX,
    SECRET_DISPLAY_NAME_PREFIX,
};
pub use permissions::GraphPermission;
pub use progress::{NoProgress, Progress, StderrProgress};
pub use record::{Change, ChangeKind, ConsentOutcome, FoundBy, NewSecret, Provisioned, SecretInfo};
pub use resolve::{find_app, FoundApp};
pub use secret::remove_passwords;
