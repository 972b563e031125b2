//! Everything the flow sets on the application itself — the marker tag, the notes, the
//! Microsoft Graph permissions in `requiredResourceAccess` — in one PATCH: a PATCH replaces
//! just the properties it names, so one request does what two did, and a new application
//! is configured in a single round trip.

use super::create::write_error;
use super::error::ProvisionError;
use super::flow::Flow;
use super::options::APP_NOTES;
use super::permissions::{declares, merged_required_access, GraphPermission};
use super::record::ChangeKind;
use super::wait::while_replicating;
use crate::graph::models::Application;
use crate::graph::ApplicationPatch;

const CONFIGURE_NEEDS: &str = "Application.ReadWrite.All (or Application.ReadWrite.OwnedBy)";

/// The tags and notes that mark `app` as the tool's: its tags plus `tag`, and the notes
/// when it has none. `None` when the tag is there and the notes need no writing (they are
/// written only with the tag, or on an application this run created).
pub(crate) fn marker_update(
    app: &Application,
    tag: &str,
    created: bool,
) -> Option<(Vec<String>, Option<String>)> {
    let has_tag = app.tags.iter().any(|t| t == tag);
    let blank_notes = app.notes.as_deref().is_none_or(|n| n.trim().is_empty());
    if has_tag && !(created && blank_notes) {
        return None;
    }
    let mut tags = app.tags.clone();
    if !has_tag {
        tags.push(tag.to_string());
    }
    Some((tags, blank_notes.then(|| APP_NOTES.to_string())))
}

impl Flow<'_> {
    /// Tag the application (keeping its other tags), write its notes when blank, and declare
    /// the permissions (merging with what it declares) — whatever of that is missing, in one
    /// PATCH. `permissions` is `None` only in a dry run where Graph's service principal does
    /// not exist yet, so the ids are unknown: the declaration is then planned as a whole.
    /// Returns the application as it now is.
    pub(crate) async fn configure_application(
        &mut self,
        mut app: Application,
        created: bool,
        permissions: Option<&[GraphPermission]>,
    ) -> Result<Application, ProvisionError> {
        let opts = self.opts;
        let declare = |values: Vec<&str>| {
            format!(
                "declare the Microsoft Graph application permissions {}",
                values.join(", ")
            )
        };
        let mut patch = ApplicationPatch::default();
        let mut changes: Vec<(ChangeKind, String)> = Vec::new();
        if let Some((tags, notes)) = marker_update(&app, &opts.marker_tag, created) {
            patch.tags = Some(tags);
            patch.notes = notes;
            changes.push((
                ChangeKind::TagApplication,
                format!("tag the application '{}'", opts.marker_tag),
            ));
        }
        match permissions {
            None => changes.push((
                ChangeKind::SetRequiredResourceAccess,
                declare(opts.permissions.role_values().to_vec()),
            )),
            Some(wanted) => {
                if let Some(merged) = merged_required_access(&app.required_resource_access, wanted)
                {
                    // Name only the permissions this adds.
                    let added: Vec<&str> = wanted
                        .iter()
                        .filter(|p| !declares(&app.required_resource_access, p))
                        .map(|p| p.value.as_str())
                        .collect();
                    changes.push((ChangeKind::SetRequiredResourceAccess, declare(added)));
                    patch.required_resource_access = Some(merged);
                }
            }
        }
        let writes = patch.tags.is_some() || patch.required_resource_access.is_some();
        if writes && !opts.dry_run {
            let action = match (&patch.tags, &patch.required_resource_access) {
                (Some(_), Some(_)) => "tag the application and declare its permissions",
                (Some(_), None) => "tag the application",
                _ => "declare the application's permissions",
            };
            let graph = self.graph;
            let id = app.id.clone();
            while_replicating(graph, self.progress, action, || {
                graph.update_application(&id, &patch)
            })
            .await
            .map_err(|e| write_error(e, action, CONFIGURE_NEEDS))?;
        }
        for (kind, detail) in changes {
            self.change(kind, detail);
        }
        if let Some(tags) = patch.tags {
            app.tags = tags;
        }
        if let Some(notes) = patch.notes {
            app.notes = Some(notes);
        }
        if let Some(access) = patch.required_resource_access {
            app.required_resource_access = access;
        }
        Ok(app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(tags: &[&str], notes: Option<&str>) -> Application {
        Application {
            id: "object".into(),
            app_id: "client".into(),
            display_name: Some("x".into()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            notes: notes.map(str::to_string),
            required_resource_access: Vec::new(),
            password_credentials: Vec::new(),
        }
    }

    #[test]
    fn a_missing_tag_is_added_to_the_others_with_notes_when_blank() {
        let update = marker_update(&app(&["keep"], None), "msgraph-keystore:x", false);
        let (tags, notes) = update.unwrap_or_default();
        assert_eq!(tags, vec!["keep", "msgraph-keystore:x"]);
        assert_eq!(notes.as_deref(), Some(APP_NOTES));
        // Someone's own notes stay.
        let update = marker_update(&app(&[], Some("mine")), "msgraph-keystore:x", false);
        assert_eq!(update.and_then(|(_, n)| n), None);
    }

    #[test]
    fn a_tagged_application_needs_nothing_unless_just_created_without_notes() {
        let tagged = app(&["msgraph-keystore:x"], None);
        assert_eq!(marker_update(&tagged, "msgraph-keystore:x", false), None);
        let (tags, notes) = marker_update(&tagged, "msgraph-keystore:x", true).unwrap_or_default();
        assert_eq!(tags, vec!["msgraph-keystore:x"]);
        assert_eq!(notes.as_deref(), Some(APP_NOTES));
        let noted = app(&["msgraph-keystore:x"], Some("notes"));
        assert_eq!(marker_update(&noted, "msgraph-keystore:x", true), None);
    }
}
