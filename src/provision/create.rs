//! Creating the application the way the portal does (instantiating the non-gallery
//! template: application + service principal) and making sure it has a service principal —
//! each step waiting out replication of what the previous one made.

use std::collections::HashSet;
use std::time::Instant;

use super::error::ProvisionError;
use super::flow::Flow;
use super::record::ChangeKind;
use super::wait::{until_consistent, while_replicating};
use crate::graph::models::{Application, ServicePrincipal};
use crate::graph::{ErrorClass, GraphError};

/// Most extra reads added after broken attempts.
pub(crate) const MAX_EXTRA_LOOKS: u32 = 8;

const CREATE_NEEDS: &str = "Application.ReadWrite.All (or Application.ReadWrite.OwnedBy)";

impl Flow<'_> {
    /// Instantiate the non-gallery template, then wait until both new objects read back
    /// consistently. If the connection breaks after the request was sent, Graph may have
    /// created the pair anyway: look for it by name before trying again, so a flaky
    /// network does not leave duplicates behind.
    pub(crate) async fn create_application(
        &mut self,
    ) -> Result<(Application, ServicePrincipal), ProvisionError> {
        let (graph, opts) = (self.graph, self.opts);
        let started = Instant::now();
        let mut attempt = 0u32;
        let pair = loop {
            match graph
                .instantiate_template(&opts.template_id, &opts.app_name)
                .await
            {
                Ok(pair) => break pair,
                Err(
                    e @ GraphError::Transport {
                        maybe_applied: true,
                        ..
                    },
                ) => {
                    self.progress.step(
                        "The connection broke while creating the application; checking whether it was created",
                    );
                    if let Some(app) = self.look_for_lost_application(attempt).await? {
                        self.change(
                            ChangeKind::CreateApplication,
                            format!(
                                "create the application '{}' (client ID {})",
                                opts.app_name, app.app_id
                            ),
                        );
                        let app = self.wait_for_application(&app.id).await?;
                        let (sp, _) = self.find_or_create_sp(&app, true).await?;
                        return Ok((app, sp));
                    }
                    let pause = graph.retry_policy().backoff(attempt);
                    attempt = attempt.saturating_add(1);
                    if Instant::now() + pause > graph.deadline() {
                        return Err(ProvisionError::ReplicationTimeout {
                            what: "creating the application".to_string(),
                            waited: started.elapsed(),
                            last: Some(Box::new(e)),
                        });
                    }
                    tokio::time::sleep(pause).await;
                }
                Err(e) => {
                    return Err(ProvisionError::from_write(
                        e,
                        "create the application",
                        CREATE_NEEDS,
                    ))
                }
            }
        };
        self.change(
            ChangeKind::CreateApplication,
            format!(
                "create the application '{}' (client ID {}) and its service principal",
                opts.app_name, pair.application.app_id
            ),
        );
        // Both objects are confirmed in the same round trip: neither read needs the other.
        let sp_id = pair.service_principal.id.clone();
        let (app, sp) = tokio::join!(
            self.wait_for_application(&pair.application.id),
            until_consistent(graph, self.progress, "the new service principal", || {
                graph.get_service_principal(&sp_id)
            })
        );
        Ok((app?, sp?))
    }

    async fn wait_for_application(&self, id: &str) -> Result<Application, ProvisionError> {
        let graph = self.graph;
        until_consistent(graph, self.progress, "the new application", || {
            graph.get_application(id)
        })
        .await
    }

    /// After a broken create: a few reads by display name, more after each broken attempt
    /// (the lost object may take a while to show up — and a fixed number of reads between
    /// attempts could keep landing every create on the same bad beat of a periodic fault).
    /// The flow only creates when no application had that name, so one that appears now
    /// is the one we made.
    async fn look_for_lost_application(
        &self,
        attempt: u32,
    ) -> Result<Option<Application>, ProvisionError> {
        let (graph, policy) = (self.graph, self.graph.retry_policy());
        let reads = policy.consistent_reads.max(1) + attempt.min(MAX_EXTRA_LOOKS);
        for _ in 0..reads {
            let mut found = graph
                .find_applications_by_display_name(&self.opts.app_name)
                .await?;
            match found.len() {
                0 => tokio::time::sleep(policy.consistent_read_interval).await,
                1 => return Ok(found.pop()),
                _ => {
                    return Err(ProvisionError::Ambiguous {
                        how: format!("the display name '{}'", self.opts.app_name),
                        app_ids: found.into_iter().map(|a| a.app_id).collect(),
                    })
                }
            }
        }
        Ok(None)
    }

    /// The application's service principal: the one just created with it, the existing
    /// one, or a new one (an app registration made elsewhere may have none). `None` only
    /// in a dry run that would create it. The flag says the service principal is new in
    /// this run (so nothing has been granted to it yet).
    pub(crate) async fn ensure_service_principal(
        &mut self,
        app: &Application,
        known: Option<ServicePrincipal>,
        app_is_new: bool,
    ) -> Result<(Option<ServicePrincipal>, bool), ProvisionError> {
        if let Some(sp) = known {
            return Ok((Some(sp), app_is_new));
        }
        if self.opts.dry_run {
            if let Some(sp) = self.find_sp(&app.app_id, 1, false).await? {
                return Ok((Some(sp), false));
            }
            self.change(
                ChangeKind::CreateServicePrincipal,
                format!("create the service principal for client ID {}", app.app_id),
            );
            return Ok((None, false));
        }
        let (sp, created) = self.find_or_create_sp(app, app_is_new).await?;
        Ok((Some(sp), app_is_new || created))
    }

    /// Find the application's service principal, or create it and wait until it reads
    /// back; the flag says it was created by this call.
    async fn find_or_create_sp(
        &mut self,
        app: &Application,
        app_is_new: bool,
    ) -> Result<(ServicePrincipal, bool), ProvisionError> {
        let graph = self.graph;
        let app_id = app.app_id.clone();
        // A new application's service principal may not be listed everywhere yet; nor may
        // that of an application an interrupted run created a moment ago.
        let rounds = if app_is_new {
            graph.retry_policy().consistent_reads.max(1)
        } else {
            1
        };
        let existing = self.find_sp(&app_id, rounds, false).await?;
        if let Some(sp) = existing {
            return Ok((sp, false));
        }
        let created =
            while_replicating(graph, self.progress, "create the service principal", || {
                graph.create_service_principal(&app_id)
            })
            .await;
        let sp = match created {
            Ok(sp) => {
                self.change(
                    ChangeKind::CreateServicePrincipal,
                    format!("create the service principal for client ID {app_id}"),
                );
                sp
            }
            // Someone (or an earlier, interrupted request) made it meanwhile.
            // It exists, so wait for it to be listed, however long that takes.
            Err(ProvisionError::Graph(e)) if e.class() == ErrorClass::AlreadyExists => {
                return match self.find_sp(&app_id, u32::MAX, true).await? {
                    Some(sp) => Ok((sp, false)),
                    None => Err(ProvisionError::Graph(e)),
                };
            }
            Err(e) => return Err(write_error(e, "create the service principal", CREATE_NEEDS)),
        };
        let sp_id = sp.id.clone();
        let sp = until_consistent(graph, self.progress, "the new service principal", || {
            graph.get_service_principal(&sp_id)
        })
        .await?;
        Ok((sp, true))
    }

    /// Look up the service principal by appId up to `rounds` times, waiting out
    /// replication between them; `None` if it never shows. With `to_deadline`, running out
    /// of time is a [`ProvisionError::ReplicationTimeout`] rather than `None`.
    async fn find_sp(
        &self,
        app_id: &str,
        rounds: u32,
        to_deadline: bool,
    ) -> Result<Option<ServicePrincipal>, ProvisionError> {
        let graph = self.graph;
        let policy = graph.retry_policy().clone();
        let started = Instant::now();
        let mut last = None;
        for round in 0..rounds {
            match graph.find_service_principal_by_app_id(app_id).await {
                Ok(Some(sp)) => {
                    self.progress.done_waiting();
                    return Ok(Some(sp));
                }
                Ok(None) => {}
                Err(e) if e.class() == ErrorClass::ReplicationTransient => last = Some(e),
                Err(e) => return Err(e.into()),
            }
            if round + 1 == rounds {
                break;
            }
            let pause = policy.backoff(round);
            if Instant::now() + pause > graph.deadline() {
                if to_deadline {
                    self.progress.done_waiting();
                    return Err(ProvisionError::ReplicationTimeout {
                        what: format!("the service principal of client ID {app_id}"),
                        waited: started.elapsed(),
                        last: last.map(Box::new),
                    });
                }
                break;
            }
            self.progress
                .waiting("waiting for the service principal to replicate");
            tokio::time::sleep(pause).await;
        }
        self.progress.done_waiting();
        Ok(None)
    }
}

/// A write failed: name the permission on a 403, pass anything else through.
pub(crate) fn write_error(e: ProvisionError, action: &str, needs: &str) -> ProvisionError {
    match e {
        ProvisionError::Graph(g) => ProvisionError::from_write(g, action, needs),
        other => other,
    }
}

/// Ids already present, to tell new objects from old ones.
pub(crate) fn key_ids(app: &Application) -> HashSet<String> {
    app.password_credentials
        .iter()
        .map(|c| c.key_id.clone())
        .collect()
}
