//! Which client secrets a run may remove: only those it can prove belong to the config
//! directories it was given.
//!
//! Names do not prove anything: two clusters without `cluster.name`, with the default realm
//! and app name, share the application and label their secrets alike. What does prove it:
//!
//! - the secret this very run added (Graph answered `addPassword` with its keyId) and whose
//!   value reached no keystore — `setup`'s clean-up;
//! - the secret a config directory held when `rotate` replaced it. The value was read from
//!   the keystore before the rotation, the token endpoint accepted it for this application
//!   (so it is one of the application's live secrets), and exactly one of the application's
//!   secrets has a `hint` (Graph's first three characters of the value) it starts with. The
//!   new secret's display name records that keyId (`replaces:…`), so `rotate` after verifying
//!   and `rotate --finish` after the rolling restart remove exactly it (and, transitively,
//!   what it replaced in turn, for `--keep-old` rotations never finished);
//! - an operator naming keyIds (`rotate --remove-secret-id`), for tool-made secrets nothing
//!   attributes; a secret whose hint matches what a given config directory holds is refused.
//!
//! The replaced secret must also be tool-made: a secret a person created in the portal and
//! put into the keystore by hand may be pasted elsewhere too (other clusters, scripts); the
//! tool never removes it, it only stops using it (it is listed as kept, with the reason).

use std::collections::HashSet;

use crate::cloud::Endpoints;
use crate::esconfig::EsConfigError;
use crate::exit::{ExitCode, UserFacing};
use crate::graph::models::{Application, PasswordCredential};
use crate::graph::GraphClient;
use crate::keystore::KeystoreError;
use crate::provision::{
    is_tool_secret, is_tool_secret_for, parse_secret_display_name, NewSecret, ProvisionError,
    ProvisionOptions,
};
use crate::secret::{ExposeSecret, SecretString};

use super::ConfigDir;

/// How many `replaces:` links `--finish` follows (a chain of unfinished `--keep-old`
/// rotations); a bound, since display names come from the server.
const MAX_CHAIN: usize = 32;

/// Removing client secrets failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    /// `rotate --remove-secret-id` named a keyId this tool may not remove; nothing was removed.
    #[error("refused to remove client secret {}; nothing was removed", refused.iter().map(|r| format!("{} ({})", r.key_id, r.reason)).collect::<Vec<_>>().join("; "))]
    Refused { refused: Vec<Kept> },
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error(transparent)]
    EsConfig(#[from] EsConfigError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
}

impl UserFacing for RetireError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RetireError::Refused { .. } => ExitCode::RemovalRefused,
            RetireError::Keystore(e) => e.exit_code(),
            RetireError::EsConfig(e) => e.exit_code(),
            RetireError::Provision(e) => e.exit_code(),
        }
    }
}

/// A request to remove client secrets, with the proof it rests on.
#[derive(Debug, Clone, Copy)]
pub enum Removal<'a> {
    /// `setup`'s clean-up: the secret this run added, whose value reached no keystore.
    Unused { new_key_id: &'a str },
    /// `rotate` (after verifying) and `rotate --finish`: what the display name of
    /// `successor` (the secret the config directories now hold) records it replaced.
    ReplacedBy { successor: &'a str },
    /// `rotate --remove-secret-id`: keyIds an operator named.
    Named { key_ids: &'a [String] },
}

/// A secret the request asked about that stays, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    pub key_id: String,
    pub reason: String,
}

/// What [`decide`] allows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decision {
    /// keyIds to remove.
    pub remove: Vec<String>,
    /// Secrets that stay although the request concerned them (notes for the summary).
    pub kept: Vec<Kept>,
    /// Named keyIds refused (`Named` only): when any is refused, nothing is removed.
    pub refused: Vec<Kept>,
}

/// Decide which of the application's `credentials` `request` may remove. `held` are the
/// secrets the given config directories hold now: a credential whose hint matches one of
/// them is never removed.
pub fn decide(
    request: Removal<'_>,
    credentials: &[PasswordCredential],
    held: &[SecretString],
) -> Decision {
    let mut decision = Decision::default();
    let find = |key_id: &str| credentials.iter().find(|c| c.key_id == key_id);
    match request {
        Removal::Unused { new_key_id } => decision.remove.push(new_key_id.to_string()),
        Removal::ReplacedBy { successor } => {
            let Some(start) = find(successor) else {
                decision.kept.push(Kept {
                    key_id: successor.to_string(),
                    reason: "the secret in use is not listed on the application (yet), so what it replaced cannot be read".to_string(),
                });
                return decision;
            };
            let mut seen: HashSet<&str> = HashSet::from([successor]);
            let mut queue: Vec<&str> = replaced_by(start);
            let mut steps = 0;
            while let Some(key_id) = queue.pop() {
                steps += 1;
                if steps > MAX_CHAIN || !seen.insert(key_id) {
                    continue;
                }
                let keep = |reason: &str| Kept {
                    key_id: key_id.to_string(),
                    reason: reason.to_string(),
                };
                match find(key_id) {
                    // Removed earlier (by hand, or by a previous --finish): nothing to do.
                    None => {}
                    Some(c) if !is_tool_secret(c) => decision.kept.push(keep(
                        "not made by msgraph-keystore: remove it in the portal once nothing uses it",
                    )),
                    Some(c) if held_here(c, held) != Held::No => decision.kept.push(keep(
                        "its hint matches the secret a given config directory holds",
                    )),
                    Some(c) => {
                        decision.remove.push(key_id.to_string());
                        queue.extend(replaced_by(c));
                    }
                }
            }
        }
        Removal::Named { key_ids } => {
            for key_id in key_ids {
                let refuse = |reason: &str| Kept {
                    key_id: key_id.clone(),
                    reason: reason.to_string(),
                };
                let refusal = match find(key_id) {
                    None => Some(refuse("the application has no client secret with this keyId")),
                    Some(c) if !is_tool_secret(c) => Some(refuse(
                        "not made by msgraph-keystore: remove it in the portal once nothing uses it",
                    )),
                    Some(c) => match held_here(c, held) {
                        Held::Yes => Some(refuse("a given config directory holds it: it is in use")),
                        Held::Unknown => Some(refuse(
                            "Graph shows no hint for it, so whether a given config directory holds it cannot be told",
                        )),
                        Held::No => None,
                    },
                };
                match refusal {
                    Some(r) => decision.refused.push(r),
                    None if !decision.remove.contains(key_id) => {
                        decision.remove.push(key_id.clone())
                    }
                    None => {}
                }
            }
            if !decision.refused.is_empty() {
                decision.remove.clear();
            }
        }
    }
    decision
}

/// The keyIds a credential's display name says it replaced.
fn replaced_by(c: &PasswordCredential) -> Vec<&str> {
    c.display_name
        .as_deref()
        .and_then(parse_secret_display_name)
        .map(|n| n.replaces)
        .unwrap_or_default()
}

#[derive(Debug, PartialEq, Eq)]
enum Held {
    Yes,
    No,
    /// No hint to compare with.
    Unknown,
}

/// Whether one of `held` could be `c`: Graph's hint is the value's first characters.
fn held_here(c: &PasswordCredential, held: &[SecretString]) -> Held {
    match c.hint.as_deref() {
        Some(hint) if !hint.is_empty() => {
            if held.iter().any(|s| s.expose_secret().starts_with(hint)) {
                Held::Yes
            } else {
                Held::No
            }
        }
        _ if held.is_empty() => Held::No,
        _ => Held::Unknown,
    }
}

/// Which of the application's credentials a secret value is, by hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<'c> {
    One(&'c PasswordCredential),
    None,
    /// Several credentials share the hint: none of them is proven.
    Several(Vec<String>),
}

/// The credential `secret` is, when exactly one hint matches (a proof only for a secret the
/// token endpoint accepted: then it is one of the application's live secrets).
pub fn credential_of<'c>(
    secret: &SecretString,
    credentials: &'c [PasswordCredential],
) -> Match<'c> {
    let found: Vec<&PasswordCredential> = credentials
        .iter()
        .filter(|c| held_here(c, std::slice::from_ref(secret)) == Held::Yes)
        .collect();
    match found.as_slice() {
        [] => Match::None,
        [one] => Match::One(one),
        several => Match::Several(several.iter().map(|c| c.key_id.clone()).collect()),
    }
}

/// `rotate`, before adding the new secret: the keyIds of the secrets the config directories
/// hold (`held`, each with whether the token endpoint accepted it), when each is proven (see
/// the module documentation); the others are returned as kept, with the reason.
pub fn replaced_by_rotation(
    held: &[(SecretString, bool)],
    credentials: &[PasswordCredential],
) -> (Vec<String>, Vec<Kept>) {
    let mut replaces = Vec::new();
    let mut kept = Vec::new();
    for (secret, accepted) in held {
        let note = |key_id: &str, reason: &str| Kept {
            key_id: key_id.to_string(),
            reason: reason.to_string(),
        };
        match credential_of(secret, credentials) {
            Match::None => kept.push(note(
                "-",
                "the secret the config directories held matches none of the application's secrets (already removed?)",
            )),
            Match::Several(ids) => kept.push(note(
                &ids.join(","),
                "several of the application's secrets share the hint of the secret the config directories held, so which one it was cannot be proven; none is removed",
            )),
            Match::One(c) if !accepted => kept.push(note(
                &c.key_id,
                "the token endpoint refused the secret the config directories held, so it is not proven to be this one",
            )),
            Match::One(c) if !is_tool_secret(c) => kept.push(note(
                &c.key_id,
                "not made by msgraph-keystore: remove it in the portal once nothing uses it",
            )),
            Match::One(c) if !replaces.contains(&c.key_id) => replaces.push(c.key_id.clone()),
            Match::One(_) => {}
        }
    }
    (replaces, kept)
}

/// The tool-made secrets for `label` that nothing here attributes: not held by the given
/// config directories and not among `removed`. Another deployment may hold them.
pub fn unattributed<'c>(
    credentials: &'c [PasswordCredential],
    label: &str,
    held: &[SecretString],
    removed: &[String],
) -> Vec<&'c PasswordCredential> {
    credentials
        .iter()
        .filter(|c| is_tool_secret_for(c, label))
        .filter(|c| held_here(c, held) == Held::No)
        .filter(|c| !removed.contains(&c.key_id))
        .collect()
}

/// The distinct client secrets the config directories hold for `realm`.
pub fn held_secrets(dirs: &[ConfigDir], realm: &str) -> Result<Vec<SecretString>, KeystoreError> {
    let mut held: Vec<SecretString> = Vec::new();
    for dir in dirs {
        if let Some(s) = dir.client_secret(realm)? {
            if !held.iter().any(|h| h.expose_secret() == s.expose_secret()) {
                held.push(s);
            }
        }
    }
    Ok(held)
}

/// `setup`'s warning when it added a secret while the application already holds secrets this
/// tool made for the same label (an image build that runs `setup`, or a second cluster with
/// the same names): each such run leaves one more secret behind.
pub fn extra_secret_warning<'a>(
    other_names: impl IntoIterator<Item = Option<&'a str>>,
    label: &str,
) -> Option<String> {
    let n = other_names
        .into_iter()
        .filter(|n| crate::provision::is_tool_secret_name_for(*n, label))
        .count();
    (n > 0).then(|| format!(
        "the application already held {n} client secret(s) this tool made for {label}, and this run added one more: for image builds, provision once (`msgraph-keystore provision --secret-file FILE`) and run `keystore add` in the build; for another cluster, set cluster.name so the labels differ"
    ))
}

/// What a removing step did, for the summary and `--output json`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Retired {
    /// keyIds removed.
    pub removed: Vec<String>,
    /// Secrets the step concerned that stay, with the reason.
    pub kept: Vec<Kept>,
    /// Tool-made secrets for the label that nothing here attributes: listed, never removed
    /// (another deployment may hold them); `rotate --remove-secret-id` removes one on request.
    pub unattributed: Vec<String>,
}

/// `rotate`, before adding the new secret: which secrets the config directories hold now
/// (see [`replaced_by_rotation`]). Each held value is offered to the token endpoint first; a
/// value it refuses proves nothing (it may be a removed secret whose hint another shares).
pub async fn rotation_predecessors(
    graph: &GraphClient,
    http: &reqwest::Client,
    endpoints: &Endpoints,
    dirs: &[ConfigDir],
    realm: &str,
    opts: &ProvisionOptions,
) -> Result<(Vec<String>, Vec<Kept>), RetireError> {
    let held = held_secrets(dirs, realm)?;
    let Some(first) = dirs.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let yml = first.realm_yml(realm)?;
    let (Some(client_id), Some(tenant_id), false) = (yml.client_id, yml.tenant_id, held.is_empty())
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut opts = opts.clone();
    opts.configured_client_id = Some(client_id.clone());
    let Some(found) = crate::provision::find_app(graph, &opts).await? else {
        return Ok((Vec::new(), Vec::new()));
    };
    if found.app.app_id != client_id {
        // Not the application the directories are configured for: nothing of it is theirs.
        return Ok((Vec::new(), Vec::new()));
    }
    let mut checked = Vec::with_capacity(held.len());
    for secret in held {
        let accepted = crate::auth::client_credentials_token(
            http,
            &endpoints.access_token_host,
            &tenant_id,
            &client_id,
            &secret,
            super::verify::REALM_SCOPE,
        )
        .await
        .is_ok();
        checked.push((secret, accepted));
    }
    Ok(replaced_by_rotation(
        &checked,
        &found.app.password_credentials,
    ))
}

/// `rotate` after the new secret `new` is verified, and `rotate --finish` with the secret in
/// use: remove what the successor's display name records it replaced (transitively). `held`
/// are the secrets the config directories hold now. `app` is read fresh by the caller;
/// `new`'s entry is added when replication has not shown it yet.
pub async fn retire_replaced(
    graph: &GraphClient,
    app: &Application,
    successor: Successor<'_>,
    held: &[SecretString],
    label: &str,
) -> Result<Retired, RetireError> {
    let mut credentials = app.password_credentials.clone();
    let mut kept = Vec::new();
    let successor_key = match successor {
        Successor::New(new) => {
            if !credentials.iter().any(|c| c.key_id == new.key_id) {
                credentials.push(PasswordCredential {
                    key_id: new.key_id.clone(),
                    display_name: new.display_name.clone(),
                    start_date_time: None,
                    end_date_time: new.end_date_time,
                    hint: None,
                });
            }
            Some(new.key_id.clone())
        }
        Successor::InUse(secret) => match credential_of(secret, &credentials) {
            Match::One(c) => Some(c.key_id.clone()),
            Match::Several(ids) => {
                kept.push(Kept {
                    key_id: ids.join(","),
                    reason: "several of the application's secrets share the hint of the secret in use, so which one it is cannot be proven; none is removed".to_string(),
                });
                None
            }
            Match::None => {
                kept.push(Kept {
                    key_id: "-".to_string(),
                    reason: "the secret in use matches none of the application's secrets by hint, so what it replaced cannot be read".to_string(),
                });
                None
            }
        },
    };
    let mut decision = match &successor_key {
        Some(key) => decide(Removal::ReplacedBy { successor: key }, &credentials, held),
        None => Decision::default(),
    };
    kept.append(&mut decision.kept);
    let removed = remove(graph, &app.id, &decision.remove).await?;
    let unattributed = unattributed(&credentials, label, held, &removed)
        .into_iter()
        .map(|c| c.key_id.clone())
        .collect();
    Ok(Retired {
        removed,
        kept,
        unattributed,
    })
}

/// Which secret starts the `replaces:` chain.
#[derive(Debug, Clone, Copy)]
pub enum Successor<'a> {
    /// The secret this run added (its keyId is known from Graph's answer).
    New(&'a NewSecret),
    /// The secret the config directories hold (`--finish`): found by its hint.
    InUse(&'a SecretString),
}

/// `rotate --remove-secret-id`: remove the named tool-made secrets, all or none; refused (exit
/// 8) when any is held by a given config directory, not tool-made, or not on the application.
pub async fn remove_named(
    graph: &GraphClient,
    app: &Application,
    key_ids: &[String],
    held: &[SecretString],
) -> Result<Retired, RetireError> {
    let decision = decide(Removal::Named { key_ids }, &app.password_credentials, held);
    if !decision.refused.is_empty() {
        return Err(RetireError::Refused {
            refused: decision.refused,
        });
    }
    let removed = remove(graph, &app.id, &decision.remove).await?;
    Ok(Retired {
        removed,
        ..Retired::default()
    })
}

async fn remove(
    graph: &GraphClient,
    object_id: &str,
    key_ids: &[String],
) -> Result<Vec<String>, ProvisionError> {
    if key_ids.is_empty() {
        return Ok(Vec::new());
    }
    crate::provision::remove_passwords(graph, object_id, key_ids).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(key: &str, name: &str, hint: &str) -> PasswordCredential {
        PasswordCredential {
            key_id: key.to_string(),
            display_name: Some(name.to_string()),
            start_date_time: None,
            end_date_time: None,
            hint: Some(hint.to_string()),
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    const L: &str = "elasticsearch/microsoft_graph1";

    #[test]
    fn finish_removes_the_recorded_chain_and_nothing_else() {
        let creds = [
            cred(
                "a",
                &format!("msgraph-keystore {L} 2026-01-01 run:1"),
                "aaa",
            ),
            cred(
                "b0",
                &format!("msgraph-keystore {L} 2026-01-01 run:2"),
                "b00",
            ),
            cred(
                "b1",
                &format!("msgraph-keystore {L} 2026-01-02 run:3 replaces:b0"),
                "b11",
            ),
            cred(
                "b2",
                &format!("msgraph-keystore {L} 2026-01-03 run:4 replaces:b1,gone"),
                "b22",
            ),
            cred("p", "added by a person", "ppp"),
        ];
        let d = decide(
            Removal::ReplacedBy { successor: "b2" },
            &creds,
            &[secret("b22-value")],
        );
        assert_eq!(d.remove, ["b1", "b0"]);
        assert!(d.kept.is_empty(), "{d:?}");
        // Nothing recorded: nothing removed, whatever shares the label.
        let d = decide(
            Removal::ReplacedBy { successor: "a" },
            &creds,
            &[secret("aaa-value")],
        );
        assert!(d.remove.is_empty());
    }

    #[test]
    fn a_recorded_secret_that_is_held_or_not_tool_made_or_a_loop_stays() {
        let creds = [
            cred(
                "x",
                &format!("msgraph-keystore {L} 2026-01-01 run:1 replaces:y,p"),
                "xxx",
            ),
            cred(
                "y",
                &format!("msgraph-keystore {L} 2026-01-01 run:2 replaces:x"),
                "yyy",
            ),
            cred("p", "added by a person", "ppp"),
        ];
        let d = decide(
            Removal::ReplacedBy { successor: "x" },
            &creds,
            &[secret("xxx-1"), secret("yyy-2")],
        );
        assert!(d.remove.is_empty(), "{d:?}");
        assert_eq!(d.kept.len(), 2, "{d:?}");
        let d = decide(
            Removal::ReplacedBy { successor: "x" },
            &creds,
            &[secret("xxx-1")],
        );
        assert_eq!(d.remove, ["y"]);
    }

    #[test]
    fn named_removal_is_all_or_nothing_and_refuses_held_foreign_unknown_and_hintless() {
        let mut hintless = cred("h", &format!("msgraph-keystore {L} 2026-01-01 run:9"), "");
        hintless.hint = None;
        let creds = [
            cred(
                "a",
                &format!("msgraph-keystore {L} 2026-01-01 run:1"),
                "aaa",
            ),
            cred(
                "b",
                &format!("msgraph-keystore {L} 2026-01-01 run:2"),
                "bbb",
            ),
            cred("p", "added by a person", "ppp"),
            hintless,
        ];
        let held = [secret("aaa-mine")];
        let ok = ["b".to_string()];
        assert_eq!(
            decide(Removal::Named { key_ids: &ok }, &creds, &held).remove,
            ["b"]
        );
        for bad in ["a", "p", "nope", "h"] {
            let ids = ["b".to_string(), bad.to_string()];
            let d = decide(Removal::Named { key_ids: &ids }, &creds, &held);
            assert!(d.remove.is_empty(), "{bad}: {d:?}");
            assert_eq!(d.refused.len(), 1, "{bad}: {d:?}");
            assert_eq!(d.refused[0].key_id, bad);
        }
    }

    #[test]
    fn rotation_attributes_only_a_unique_accepted_tool_made_match() {
        let creds = [
            cred(
                "a",
                &format!("msgraph-keystore {L} 2026-01-01 run:1"),
                "abc",
            ),
            cred(
                "b",
                &format!("msgraph-keystore {L} 2026-01-01 run:2"),
                "xyz",
            ),
            cred(
                "c",
                &format!("msgraph-keystore {L} 2026-01-01 run:3"),
                "xyz",
            ),
            cred("p", "added by a person", "ppp"),
        ];
        let (ids, kept) = replaced_by_rotation(&[(secret("abc-1"), true)], &creds);
        assert_eq!((ids, kept.len()), (vec!["a".to_string()], 0));
        for (held, accepted) in [
            ("abc-1", false),
            ("xyz-1", true),
            ("ppp-1", true),
            ("zzz", true),
        ] {
            let (ids, kept) = replaced_by_rotation(&[(secret(held), accepted)], &creds);
            assert!(ids.is_empty(), "{held}");
            assert_eq!(kept.len(), 1, "{held}");
        }
    }

    #[test]
    fn unattributed_lists_the_labels_tool_secrets_not_held_here() {
        let creds = [
            cred(
                "a",
                &format!("msgraph-keystore {L} 2026-01-01 run:1"),
                "aaa",
            ),
            cred(
                "b",
                &format!("msgraph-keystore {L} 2026-01-01 run:2"),
                "bbb",
            ),
            cred(
                "o",
                "msgraph-keystore other/microsoft_graph1 2026-01-01 run:3",
                "ooo",
            ),
            cred("p", "added by a person", "ppp"),
        ];
        let left = unattributed(&creds, L, &[secret("bbb-1")], &[]);
        assert_eq!(
            left.iter().map(|c| c.key_id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(unattributed(&creds, L, &[secret("bbb-1")], &["a".to_string()]).is_empty());
        assert!(
            extra_secret_warning([Some(creds[0].display_name.as_deref().unwrap_or(""))], L)
                .is_some()
        );
        assert!(extra_secret_warning([Some("added by a person"), None], L).is_none());
    }
}
