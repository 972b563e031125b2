//! `status`: what the tenant holds for the realm's application (service principal, granted
//! permissions, every client secret and its expiry) and whether config directories match it.
//! Read-only; meant for people and for monitoring (`--fail-under DAYS`).

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::esconfig::EsYml;
use crate::exit::{ExitCode, UserFacing};
use crate::graph::models::PasswordCredential;
use crate::graph::GraphClient;
use crate::graph::GraphError;
use crate::keystore;
use crate::provision::{self, PermissionSet, ProvisionOptions};
use crate::secret::{ExposeSecret, SecretString};

use super::error::ConfigDirError;
use super::local::{check_config_dir, client_secret_key, PasswordSource};

/// Secrets expiring sooner than this get a warning.
pub const WARN_DAYS: i64 = 30;

/// One client secret of the application.
#[derive(Debug, Clone, Serialize)]
pub struct SecretStatus {
    pub key_id: String,
    pub display_name: Option<String>,
    /// First characters of the secret, as Graph reports them (never the secret).
    pub hint: Option<String>,
    pub end_date_time: Option<DateTime<Utc>>,
    /// Whole days left (negative when expired).
    pub days_left: Option<i64>,
    /// Whether the secret in a config directory's keystore is this one (matched by hint).
    pub in_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A client secret this tool made (its display name says so), whichever deployment holds it.
#[derive(Debug, Clone, Serialize)]
pub struct ToolSecret {
    /// `<cluster>/<realm>` from the display name; labels of unnamed clusters collide.
    pub label: String,
    pub key_id: String,
    /// Whole days since it was made (`startDateTime`).
    pub age_days: Option<i64>,
    /// Whether the secret in a given config directory's keystore is this one (by hint).
    pub in_use: bool,
    /// The keyIds it replaced (what `rotate --finish` removes once it is in use).
    pub replaces: Vec<String>,
}

/// One permission of the set and whether it is granted (admin consent given).
#[derive(Debug, Clone, Serialize)]
pub struct PermissionStatus {
    pub permission: String,
    pub granted: bool,
}

/// How one config directory compares with the application.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigStatus {
    pub config_dir: String,
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    pub has_client_secret: bool,
    /// Every problem found; empty when the directory matches the application.
    pub problems: Vec<String>,
}

/// Local facts `status` compares with the tenant (read by [`read_local`] from a config directory).
pub struct LocalRealm {
    pub config_dir: String,
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    pub client_secret: Option<SecretString>,
}

/// What `dir` holds for `realm`, read only (no lock, nothing written): the IDs from
/// `elasticsearch.yml` and the client secret from the keystore, asking `password` only for
/// a protected keystore.
pub fn read_local(
    dir: &Path,
    realm: &str,
    password: &mut PasswordSource<'_>,
) -> Result<LocalRealm, ConfigDirError> {
    check_config_dir(dir)?;
    let settings = EsYml::load(dir)?.realm(realm)?;
    let client_secret = match keystore::read_header(dir)? {
        None => None,
        Some(header) => {
            let pw = if header.has_password {
                password(dir)?
            } else {
                SecretString::from(String::new())
            };
            keystore::load_read_only(dir, &pw)?.get_string(&client_secret_key(realm))?
        }
    };
    Ok(LocalRealm {
        config_dir: dir.display().to_string(),
        client_id: settings.client_id,
        tenant_id: settings.tenant_id,
        client_secret,
    })
}

/// What `status` concludes (see [`StatusReport::verdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The application and every config directory agree.
    Healthy,
    /// A config directory does not match the application (its problems are in the report).
    ConfigMismatch,
    /// `--fail-under`: the secret that matters has fewer days left than the limit.
    ExpiresSoon { days: i64, limit: i64 },
    /// `--fail-under`: the application has no client secret.
    NoSecret,
}

impl Verdict {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Verdict::Healthy => ExitCode::Ok,
            Verdict::ConfigMismatch => ExitCode::Config,
            Verdict::ExpiresSoon { .. } | Verdict::NoSecret => ExitCode::Negative,
        }
    }

    /// The line to print after `ERROR: ` for a `--fail-under` failure (a config mismatch is
    /// already shown in the report).
    pub fn failure_line(&self) -> Option<String> {
        match self {
            Verdict::ExpiresSoon { days, limit } => Some(format!("the client secret expires in {days} day(s), under --fail-under {limit}; run `msgraph-keystore rotate`")),
            Verdict::NoSecret => Some("the application has no client secret; run `msgraph-keystore setup`".to_string()),
            Verdict::Healthy | Verdict::ConfigMismatch => None,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub display_name: Option<String>,
    pub app_object_id: String,
    pub client_id: String,
    pub tenant_id: Option<String>,
    pub service_principal_id: Option<String>,
    pub permissions: Vec<PermissionStatus>,
    pub secrets: Vec<SecretStatus>,
    /// The secrets this tool made, for every label: label, keyId, age, in use.
    pub tool_secrets: Vec<ToolSecret>,
    pub config: Vec<ConfigStatus>,
}

impl StatusReport {
    /// The fewest days left among the secrets that matter: the ones in use when a config
    /// directory was given and matched, else the one that lasts longest (the one a rotation
    /// would keep). `None` when the application has no secret.
    pub fn relevant_days_left(&self) -> Option<i64> {
        let in_use: Vec<i64> = self
            .secrets
            .iter()
            .filter(|s| s.in_use)
            .filter_map(|s| s.days_left)
            .collect();
        if !in_use.is_empty() {
            return in_use.into_iter().min();
        }
        self.secrets.iter().filter_map(|s| s.days_left).max()
    }

    /// What the report means for the exit code: a config directory that does not match the
    /// application wins over everything but `--fail-under DAYS`, which fails on the secret
    /// that matters expiring sooner, or on an application with no secret at all.
    pub fn verdict(&self, fail_under: Option<i64>) -> Verdict {
        if let Some(limit) = fail_under {
            match self.relevant_days_left() {
                Some(days) if days < limit => return Verdict::ExpiresSoon { days, limit },
                None => return Verdict::NoSecret,
                Some(_) => {}
            }
        }
        if self.config.iter().any(|c| !c.problems.is_empty()) {
            Verdict::ConfigMismatch
        } else {
            Verdict::Healthy
        }
    }

    pub fn missing_permissions(&self) -> Vec<&str> {
        self.permissions
            .iter()
            .filter(|p| !p.granted)
            .map(|p| p.permission.as_str())
            .collect()
    }
}

/// `status` could not read the application.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No application matches the name, the marker tag or the configured client_id.
    #[error("no application named '{app_name}' (nor tagged '{marker_tag}') exists in the tenant; run `setup` or `provision` first, or pass --app-id")]
    NoApplication {
        app_name: String,
        marker_tag: String,
    },
    #[error(transparent)]
    Provision(#[from] provision::ProvisionError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl UserFacing for StatusError {
    fn exit_code(&self) -> ExitCode {
        match self {
            StatusError::NoApplication { .. } => ExitCode::Config,
            StatusError::Provision(e) => e.exit_code(),
            StatusError::Graph(e) => e.exit_code(),
        }
    }
}

/// Build the status report. `local` lists the config directories to compare (may be empty).
pub async fn status(
    graph: &GraphClient,
    opts: &ProvisionOptions,
    permissions: PermissionSet,
    local: &[LocalRealm],
    now: DateTime<Utc>,
) -> Result<StatusReport, StatusError> {
    let Some(found) = provision::find_app(graph, opts).await? else {
        return Err(StatusError::NoApplication {
            app_name: opts.app_name.clone(),
            marker_tag: opts.marker_tag.clone(),
        });
    };
    let app = found.app;
    let sp = graph.find_service_principal_by_app_id(&app.app_id).await?;

    let mut permission_status = Vec::new();
    let granted_ids: Vec<String> = match &sp {
        Some(sp) => graph
            .list_app_role_assignments(&sp.id)
            .await?
            .into_iter()
            .map(|a| a.app_role_id)
            .collect(),
        None => Vec::new(),
    };
    let graph_sp = graph.microsoft_graph_service_principal().await?;
    for value in permissions.role_values() {
        let role_id = graph_sp.as_ref().and_then(|g| {
            g.app_roles
                .iter()
                .find(|r| r.value.as_deref() == Some(*value) && r.is_application_permission())
                .map(|r| r.id.clone())
        });
        permission_status.push(PermissionStatus {
            permission: value.to_string(),
            granted: role_id.is_some_and(|id| granted_ids.contains(&id)),
        });
    }

    let secrets: Vec<SecretStatus> = app
        .password_credentials
        .iter()
        .map(|c| secret_status(c, local, now))
        .collect();

    let tool_secrets = tool_secrets(&app.password_credentials, &secrets, now);
    let tenant_id = sp
        .as_ref()
        .and_then(|s| s.app_owner_organization_id.clone());
    let config = local
        .iter()
        .map(|l| {
            config_status(
                l,
                &app.app_id,
                tenant_id.as_deref(),
                &app.password_credentials,
            )
        })
        .collect();

    Ok(StatusReport {
        display_name: app.display_name.clone(),
        app_object_id: app.id.clone(),
        client_id: app.app_id.clone(),
        tenant_id,
        service_principal_id: sp.map(|s| s.id),
        permissions: permission_status,
        secrets,
        tool_secrets,
        config,
    })
}

fn secret_status(c: &PasswordCredential, local: &[LocalRealm], now: DateTime<Utc>) -> SecretStatus {
    let days_left = c.end_date_time.map(|end| days_until(end, now));
    let expired = c.end_date_time.is_some_and(|end| end <= now);
    let warning = match days_left {
        _ if expired => Some("expired".to_string()),
        Some(d) if d < WARN_DAYS => Some(format!("expires in {d} day(s): rotate it soon")),
        _ => None,
    };
    SecretStatus {
        key_id: c.key_id.clone(),
        display_name: c.display_name.clone(),
        hint: c.hint.clone(),
        end_date_time: c.end_date_time,
        days_left,
        in_use: local
            .iter()
            .any(|l| l.client_secret.as_ref().is_some_and(|s| matches_hint(s, c))),
        warning,
    }
}

fn tool_secrets(
    credentials: &[PasswordCredential],
    statuses: &[SecretStatus],
    now: DateTime<Utc>,
) -> Vec<ToolSecret> {
    credentials
        .iter()
        .zip(statuses)
        .filter_map(|(c, st)| {
            let name = provision::parse_secret_display_name(c.display_name.as_deref()?)?;
            Some(ToolSecret {
                label: name.label.to_string(),
                key_id: c.key_id.clone(),
                // Whole days since; a start in the future (clock skew) counts as 0.
                age_days: c
                    .start_date_time
                    .map(|start| (now - start).num_days().max(0)),
                in_use: st.in_use,
                replaces: name.replaces.iter().map(|k| k.to_string()).collect(),
            })
        })
        .collect()
}

/// Days from `now` to `end`: started days count (a secret made for 10 days has 10 left, not
/// 9, a moment later); once past, whole days since (0 on the day it expired).
fn days_until(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    const DAY: i64 = 24 * 60 * 60;
    // `endDateTime` comes from Graph: checked, so no date it can send overflows (chrono's
    // range fits in a TimeDelta today, but this must not depend on that).
    let secs = end.signed_duration_since(now).num_seconds();
    if secs > 0 {
        secs.saturating_add(DAY - 1) / DAY
    } else {
        secs / DAY
    }
}

/// Graph's `hint` is the first characters of the secret; a keystore secret with the same
/// prefix is (very likely) that credential. Used for reporting only.
fn matches_hint(secret: &SecretString, c: &PasswordCredential) -> bool {
    match c.hint.as_deref() {
        Some(hint) if !hint.is_empty() => secret.expose_secret().starts_with(hint),
        _ => false,
    }
}

fn config_status(
    l: &LocalRealm,
    app_id: &str,
    tenant_id: Option<&str>,
    credentials: &[PasswordCredential],
) -> ConfigStatus {
    let mut problems = Vec::new();
    match &l.client_id {
        None => problems.push("client_id is not set in elasticsearch.yml".to_string()),
        Some(id) if id != app_id => problems.push(format!(
            "client_id {id} is not the application's ({app_id})"
        )),
        _ => {}
    }
    match (&l.tenant_id, tenant_id) {
        (None, _) => problems.push("tenant_id is not set in elasticsearch.yml".to_string()),
        (Some(local), Some(remote)) if local != remote => problems.push(format!(
            "tenant_id {local} is not the application's tenant ({remote})"
        )),
        _ => {}
    }
    match &l.client_secret {
        None => problems.push("the keystore holds no client_secret for the realm".to_string()),
        Some(s) if !credentials.iter().any(|c| matches_hint(s, c)) => problems.push(
            "the keystore's client_secret matches none of the application's secrets (removed or from another application)".to_string(),
        ),
        _ => {}
    }
    ConfigStatus {
        config_dir: l.config_dir.clone(),
        client_id: l.client_id.clone(),
        tenant_id: l.tenant_id.clone(),
        has_client_secret: l.client_secret.is_some(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(days_left: &[(Option<i64>, bool)], config_problems: &[&str]) -> StatusReport {
        StatusReport {
            display_name: None,
            app_object_id: "o".into(),
            client_id: "c".into(),
            tenant_id: None,
            service_principal_id: None,
            permissions: Vec::new(),
            secrets: days_left
                .iter()
                .enumerate()
                .map(|(n, (days, in_use))| SecretStatus {
                    key_id: format!("k{n}"),
                    display_name: None,
                    hint: None,
                    end_date_time: None,
                    days_left: *days,
                    in_use: *in_use,
                    warning: None,
                })
                .collect(),
            tool_secrets: Vec::new(),
            config: vec![ConfigStatus {
                config_dir: "/etc/elasticsearch".into(),
                client_id: Some("c".into()),
                tenant_id: None,
                has_client_secret: true,
                problems: config_problems.iter().map(|p| p.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn the_verdict_fails_under_the_limit_on_the_secret_in_use_and_else_on_config_mismatch() {
        // In use: 5 days left, another secret 300: the one in use decides.
        let r = report(&[(Some(5), true), (Some(300), false)], &[]);
        assert_eq!(r.verdict(None), Verdict::Healthy);
        assert_eq!(r.verdict(Some(5)), Verdict::Healthy, "5 is not under 5");
        let v = r.verdict(Some(30));
        assert_eq!(v, Verdict::ExpiresSoon { days: 5, limit: 30 });
        assert_eq!(v.exit_code(), ExitCode::Negative);
        assert!(v
            .failure_line()
            .unwrap()
            .contains("expires in 5 day(s), under --fail-under 30"));
        // Nothing in use: the longest-lived secret decides.
        let r = report(&[(Some(5), false), (Some(300), false)], &[]);
        assert_eq!(r.verdict(Some(30)), Verdict::Healthy);
        // No secret at all.
        let r = report(&[], &[]);
        assert_eq!(r.verdict(Some(30)), Verdict::NoSecret);
        assert_eq!(r.verdict(None), Verdict::Healthy);
        // A mismatching config dir is exit 78, unless --fail-under fails first.
        let r = report(&[(Some(5), true)], &["client_id differs"]);
        assert_eq!(r.verdict(None), Verdict::ConfigMismatch);
        assert_eq!(r.verdict(None).exit_code(), ExitCode::Config);
        assert!(r.verdict(None).failure_line().is_none());
        assert_eq!(
            r.verdict(Some(30)),
            Verdict::ExpiresSoon { days: 5, limit: 30 }
        );
    }

    #[test]
    fn a_local_realm_is_read_asking_the_password_only_for_a_protected_keystore() {
        use crate::keystore::{FormatVersion, Keystore};
        use crate::setup::error::PasswordFailure;
        const REALM: &str = "microsoft_graph1";
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        std::fs::write(
            dir.join("elasticsearch.yml"),
            format!("xpack.security.authc.realms.microsoft_graph.{REALM}.client_id: app-1\n"),
        )
        .unwrap();
        let mut asked = 0;
        let mut password = |_: &Path| -> Result<SecretString, PasswordFailure> {
            asked += 1;
            Ok(SecretString::from("pw".to_string()))
        };
        // No keystore yet: the IDs alone, nothing asked.
        let local = read_local(dir, REALM, &mut password).unwrap();
        assert_eq!(local.client_id.as_deref(), Some("app-1"));
        assert!(local.client_secret.is_none());

        let mut ks = Keystore::new(FormatVersion::V4).unwrap();
        ks.set_password(SecretString::from("pw".to_string()));
        ks.set_string(&client_secret_key(REALM), "s3cret").unwrap();
        keystore::save(dir, &ks).unwrap();
        let local = read_local(dir, REALM, &mut password).unwrap();
        assert_eq!(
            local
                .client_secret
                .as_ref()
                .map(|s| s.expose_secret().to_string()),
            Some("s3cret".to_string())
        );
        assert_eq!(asked, 1);

        // The password source's failure passes through with its own code.
        let mut refused = |_: &Path| -> Result<SecretString, PasswordFailure> {
            Err(PasswordFailure::new(
                ExitCode::Usage,
                std::io::Error::other("no terminal"),
            ))
        };
        let err = read_local(dir, REALM, &mut refused).err().expect("refused");
        assert_eq!(err.exit_code(), ExitCode::Usage);
        assert_eq!(err.to_string(), "no terminal");
        let err = read_local(&dir.join("missing"), REALM, &mut refused)
            .err()
            .expect("missing");
        assert!(
            matches!(err, ConfigDirError::DirUnreadable { .. }),
            "{err:?}"
        );
    }

    fn cred(key: &str, hint: &str, days: i64, now: DateTime<Utc>) -> PasswordCredential {
        PasswordCredential {
            key_id: key.to_string(),
            display_name: Some(format!("msgraph-keystore x/{key} 2026-01-01")),
            start_date_time: None,
            end_date_time: Some(now + chrono::Duration::days(days)),
            hint: Some(hint.to_string()),
        }
    }

    #[test]
    fn warns_under_thirty_days_and_flags_expired() {
        let now = Utc::now();
        let s = secret_status(&cred("a", "abc", 10, now), &[], now);
        assert!(s.warning.as_deref().unwrap().contains("expires in"));
        let s = secret_status(&cred("b", "abc", 90, now), &[], now);
        assert!(s.warning.is_none());
        let s = secret_status(&cred("c", "abc", -2, now), &[], now);
        assert_eq!(s.warning.as_deref(), Some("expired"));
        assert_eq!(s.days_left, Some(-2));
    }

    #[test]
    fn days_left_count_started_days_and_an_hour_past_the_end_is_expired() {
        let now = Utc::now();
        let made_for_ten = cred("a", "abc", 10, now - chrono::Duration::seconds(5));
        assert_eq!(secret_status(&made_for_ten, &[], now).days_left, Some(10));
        let mut just_expired = cred("b", "abc", 0, now);
        just_expired.end_date_time = Some(now - chrono::Duration::hours(1));
        let s = secret_status(&just_expired, &[], now);
        assert_eq!(s.days_left, Some(0));
        assert_eq!(s.warning.as_deref(), Some("expired"));
    }

    #[test]
    fn in_use_secret_is_matched_by_hint() {
        let now = Utc::now();
        let local = [LocalRealm {
            config_dir: "/etc/es".into(),
            client_id: Some("app".into()),
            tenant_id: Some("t".into()),
            client_secret: Some(SecretString::from("xyZ8Q~rest".to_string())),
        }];
        assert!(secret_status(&cred("a", "xyZ", 50, now), &local, now).in_use);
        assert!(!secret_status(&cred("b", "abc", 50, now), &local, now).in_use);
        let cfg = config_status(&local[0], "app", Some("t"), &[cred("a", "xyZ", 5, now)]);
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        let cfg = config_status(&local[0], "other", Some("t2"), &[]);
        assert_eq!(cfg.problems.len(), 3, "{:?}", cfg.problems);
    }

    #[test]
    fn relevant_days_prefer_the_secret_in_use() {
        let report = |secrets: Vec<SecretStatus>| StatusReport {
            display_name: None,
            app_object_id: "o".into(),
            client_id: "c".into(),
            tenant_id: None,
            service_principal_id: None,
            permissions: vec![],
            secrets,
            tool_secrets: vec![],
            config: vec![],
        };
        let s = |days: i64, in_use: bool| SecretStatus {
            key_id: "k".into(),
            display_name: None,
            hint: None,
            end_date_time: None,
            days_left: Some(days),
            in_use,
            warning: None,
        };
        assert_eq!(
            report(vec![s(5, false), s(100, false)]).relevant_days_left(),
            Some(100)
        );
        assert_eq!(
            report(vec![s(5, true), s(100, false)]).relevant_days_left(),
            Some(5)
        );
        assert_eq!(report(vec![]).relevant_days_left(), None);
    }
}
