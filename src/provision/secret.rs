//! Client secrets: adding one (only when asked; Graph shows its value once), reading a
//! tenant policy's refusal, and removing secrets by keyId for rotation.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{Duration as Days, Utc};

use super::create::{key_ids, write_error};
use super::error::{limit_days_from_message, ProvisionError};
use super::flow::Flow;
use super::options::AddSecret;
use super::record::{ChangeKind, NewSecret};
use super::wait::while_replicating;
use crate::graph::classify::is_credential_policy_rejection;
use crate::graph::models::Application;
use crate::graph::{GraphClient, GraphError};

const SECRET_NEEDS: &str =
    "Application.ReadWrite.All (or Application.ReadWrite.OwnedBy as an owner of the application)";

impl Flow<'_> {
    /// Add a client secret if `opts.add_secret` says so for this application.
    pub(crate) async fn secret(
        &mut self,
        app: &Application,
    ) -> Result<Option<NewSecret>, ProvisionError> {
        let opts = self.opts;
        let wanted = match opts.add_secret {
            AddSecret::Never => false,
            AddSecret::Always => true,
            AddSecret::IfNone => app.password_credentials.is_empty(),
        };
        if !wanted {
            if opts.add_secret == AddSecret::IfNone {
                self.progress.step(&format!(
                    "No client secret added: the application already has {} (pass --new-secret to add one)",
                    match app.password_credentials.len() {
                        1 => "one".to_string(),
                        n => n.to_string(),
                    }
                ));
            }
            return Ok(None);
        }
        let detail = format!(
            "add a client secret '{}' valid for {} days",
            opts.credential_name, opts.secret_lifetime_days
        );
        if opts.dry_run {
            self.change(ChangeKind::AddSecret, detail);
            return Ok(None);
        }
        let added = self.add_password(app).await?;
        self.change(
            ChangeKind::AddSecret,
            format!("{detail} (keyId {})", added.key_id),
        );
        Ok(Some(added))
    }

    /// `addPassword`, retried through replication. If the connection breaks after the
    /// request went out, a secret may have been added whose value we never saw: try again,
    /// and once a secret is ours, remove such orphans (our display name, a keyId that was
    /// not there before and is not the one we got).
    async fn add_password(&mut self, app: &Application) -> Result<NewSecret, ProvisionError> {
        let (graph, opts) = (self.graph, self.opts);
        let end = Utc::now() + Days::days(i64::from(opts.secret_lifetime_days));
        let mut keep = key_ids(app);
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut maybe_orphaned = false;
        loop {
            let result = while_replicating(graph, self.progress, "add a client secret", || {
                graph.add_password(&app.id, &opts.credential_name, end)
            })
            .await;
            let failure = match result {
                Ok(p) => {
                    if maybe_orphaned {
                        keep.insert(p.key_id.clone());
                        self.remove_orphan_secrets(app, &keep).await?;
                    }
                    return Ok(NewSecret {
                        key_id: p.key_id,
                        display_name: p.display_name,
                        end_date_time: p.end_date_time,
                        value: p.secret_text,
                    });
                }
                Err(ProvisionError::Graph(GraphError::Api(api)))
                    if is_credential_policy_rejection(api.status, &api.code) =>
                {
                    ProvisionError::SecretPolicy {
                        days: opts.secret_lifetime_days,
                        limit_days: limit_days_from_message(&api.message),
                        graph: api,
                    }
                }
                Err(ProvisionError::Graph(
                    e @ GraphError::Transport {
                        maybe_applied: true,
                        ..
                    },
                )) => {
                    maybe_orphaned = true;
                    let pause = graph.retry_policy().backoff(attempt);
                    attempt = attempt.saturating_add(1);
                    if Instant::now() + pause <= graph.deadline() {
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                    ProvisionError::ReplicationTimeout {
                        what: "adding the client secret".to_string(),
                        waited: started.elapsed(),
                        last: Some(Box::new(e)),
                    }
                }
                Err(e) => write_error(e, "add a client secret", SECRET_NEEDS),
            };
            if maybe_orphaned {
                // Best effort: the failure is what the user needs to see.
                if let Err(e) = self.remove_orphan_secrets(app, &keep).await {
                    tracing::warn!("could not remove secrets added by lost requests: {e}");
                }
            }
            return Err(failure);
        }
    }

    /// Best effort, after another step of the run failed: remove the secret this run added,
    /// whose value nobody will ever receive. The failure is what the user must see; a secret
    /// that cannot be removed is only logged (it expires, and `rotate` removes it).
    pub(crate) async fn remove_unused_secret(&self, app: &Application, secret: &NewSecret) {
        self.progress.step(&format!(
            "Removing the new client secret (keyId {}) again: the run failed before it could be handed on",
            secret.key_id
        ));
        let key_ids = [secret.key_id.clone()];
        if let Err(e) = remove_passwords(self.graph, &app.id, &key_ids).await {
            tracing::warn!(
                "could not remove the unused client secret {}: {e}",
                secret.key_id
            );
        }
    }

    /// Remove secrets with our display name whose keyId is not in `keep`. A lost secret may
    /// not have reached every replica, so read a few times and remove what any read shows.
    /// The display name carries this run's random id (`run:…`, see
    /// [`super::options::secret_display_name`]), so a secret another deployment with the same
    /// label added meanwhile never matches: only secrets this run's own requests made do.
    async fn remove_orphan_secrets(
        &mut self,
        app: &Application,
        keep: &HashSet<String>,
    ) -> Result<(), ProvisionError> {
        let graph = self.graph;
        let policy = graph.retry_policy().clone();
        let mut orphans: Vec<String> = Vec::new();
        for read in 0..policy.consistent_reads.max(1) {
            if read > 0 {
                tokio::time::sleep(policy.consistent_read_interval).await;
            }
            let current = while_replicating(graph, self.progress, "read the application", || {
                graph.get_application(&app.id)
            })
            .await?;
            for c in &current.password_credentials {
                let ours = c.display_name.as_deref() == Some(self.opts.credential_name.as_str());
                if ours && !keep.contains(&c.key_id) && !orphans.contains(&c.key_id) {
                    orphans.push(c.key_id.clone());
                }
            }
        }
        for key_id in remove_passwords(graph, &app.id, &orphans).await? {
            self.change(
                ChangeKind::RemoveOrphanSecret,
                format!(
                    "remove the client secret {key_id}, added by a request whose answer was lost"
                ),
            );
        }
        Ok(())
    }
}

/// Remove the client secrets `key_ids` from the application `app_object_id` (rotation
/// uses this for the old secrets once the new one works). A secret that is already gone
/// counts as removed. Returns the keyIds removed.
pub async fn remove_passwords(
    graph: &GraphClient,
    app_object_id: &str,
    key_ids: &[String],
) -> Result<Vec<String>, ProvisionError> {
    let mut removed = Vec::new();
    for key_id in key_ids {
        match graph.remove_password(app_object_id, key_id).await {
            Ok(()) => removed.push(key_id.clone()),
            Err(e) if e.api().is_some_and(|a| a.status == 404) => {
                tracing::debug!("client secret {key_id} was already gone: {e}");
                removed.push(key_id.clone());
            }
            Err(e) => {
                return Err(ProvisionError::from_write(
                    e,
                    "remove a client secret",
                    SECRET_NEEDS,
                ))
            }
        }
    }
    Ok(removed)
}
