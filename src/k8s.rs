//! ECK (Elastic Cloud on Kubernetes) output for `setup --output k8s-secret`.
//!
//! On ECK nobody writes `elasticsearch.keystore` by hand: the operator's init container runs
//! `elasticsearch-keystore add-file <key> <file>` for every key of the Secrets listed under the
//! Elasticsearch resource's `spec.secureSettings`, storing each value's bytes verbatim. So the
//! client secret goes into a Kubernetes Secret whose key is the full setting name, and the
//! realm's non-secure settings go into `spec.nodeSets[].config`, ECK's `elasticsearch.yml`.
//!
//! The Secret carries the value base64-encoded under `data` rather than as `stringData` text, so
//! no YAML quoting or line folding can add or change a byte (a trailing newline would become
//! part of the secret). ECK restarts the pods when the Secret's content changes.

use base64::Engine as _;

use crate::esconfig::{realm_setting_key, validate_realm_name, yaml_value, EsConfigError};
use crate::exit::{ExitCode, UserFacing};
use crate::secret::{ExposeSecret, SecretString, Zeroizing};

/// The two pieces `setup --output k8s-secret` emits.
pub struct EckOutput {
    /// The Secret manifest (`kubectl apply -f`); it holds the client secret.
    pub secret_manifest: SecretString,
    /// The part of the Elasticsearch resource to merge by hand; no secret in it.
    pub config_snippet: String,
}

impl EckOutput {
    /// Validate the names and build both pieces for realm `realm` with the non-secure `settings`
    /// (`("client_id", …)`, `("tenant_id", …)`, `("order", …)`, hosts when not the defaults).
    pub fn build(
        namespace: Option<&str>,
        secret_name: &str,
        realm: &str,
        settings: &[(&str, String)],
        client_secret: &SecretString,
    ) -> Result<EckOutput, K8sError> {
        validate_realm_name(realm)?;
        validate_secret_name(secret_name)?;
        if let Some(namespace) = namespace {
            validate_namespace(namespace)?;
        }
        let setting_key = realm_setting_key(realm, "client_secret");
        Ok(EckOutput {
            secret_manifest: secret_manifest(namespace, secret_name, &setting_key, client_secret),
            config_snippet: eck_config_snippet(realm, settings, secret_name),
        })
    }
}

/// Why the Kubernetes output cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("invalid Kubernetes Secret name [{name}]: use at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (--secret-name)")]
    InvalidSecretName { name: String },
    #[error("invalid Kubernetes namespace [{namespace}]: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (--namespace)")]
    InvalidNamespace { namespace: String },
    #[error(transparent)]
    Realm(#[from] EsConfigError),
}

impl UserFacing for K8sError {
    fn exit_code(&self) -> ExitCode {
        match self {
            K8sError::InvalidSecretName { .. } | K8sError::InvalidNamespace { .. } => {
                ExitCode::Usage
            }
            K8sError::Realm(e) => e.exit_code(),
        }
    }
}

/// The Secret name used when `--secret-name` is not given: the realm name made a valid
/// Kubernetes name (`microsoft_graph1` → `microsoft-graph1-client-secret`).
pub fn default_secret_name(realm: &str) -> String {
    let base: String = realm
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    let base = base.trim_matches('-');
    if base.is_empty() {
        "msgraph-client-secret".to_owned()
    } else {
        format!("{base}-client-secret")
    }
}

/// A DNS-1123 subdomain, the rule for Secret names.
pub fn validate_secret_name(name: &str) -> Result<(), K8sError> {
    let ok = name.len() <= 253
        && dns_chars(name, true)
        && name.split('.').all(|label| dns_chars(label, false));
    if ok {
        Ok(())
    } else {
        Err(K8sError::InvalidSecretName {
            name: name.to_owned(),
        })
    }
}

/// A DNS-1123 label, the rule for namespaces.
pub fn validate_namespace(namespace: &str) -> Result<(), K8sError> {
    if namespace.len() <= 63 && dns_chars(namespace, false) {
        Ok(())
    } else {
        Err(K8sError::InvalidNamespace {
            namespace: namespace.to_owned(),
        })
    }
}

/// Non-empty, lowercase letters, digits and `-` (and `.` when `dots`), alphanumeric at both ends.
fn dns_chars(s: &str, dots: bool) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars()
            .all(|c| alnum(c) || c == '-' || (dots && c == '.'))
}

/// The Kubernetes Secret for ECK `spec.secureSettings`: one `data` key, the full setting name
/// `setting_key`, whose value is `client_secret` base64-encoded. Names are written quoted, so
/// the YAML is well-formed for any input; validate them with [`validate_secret_name`] and
/// [`validate_namespace`] (or use [`EckOutput::build`]) for Kubernetes to accept them.
pub fn secret_manifest(
    namespace: Option<&str>,
    secret_name: &str,
    setting_key: &str,
    client_secret: &SecretString,
) -> SecretString {
    let mut head = String::new();
    head.push_str(
        "# Kubernetes Secret for ECK spec.secureSettings, written by msgraph-keystore.\n\
         # It holds a credential: keep this file private, do not commit it.\n\
         # Apply it with `kubectl apply -f <file>`.\n\
         apiVersion: v1\n\
         kind: Secret\n\
         metadata:\n",
    );
    head.push_str(&format!("  name: {}\n", quoted(secret_name)));
    if let Some(namespace) = namespace {
        head.push_str(&format!("  namespace: {}\n", quoted(namespace)));
    }
    head.push_str("  labels:\n    app.kubernetes.io/managed-by: msgraph-keystore\n");
    head.push_str("type: Opaque\ndata:\n");
    head.push_str(&format!("  {}: \"", quoted(setting_key)));
    let tail = "\"\n";

    let secret = client_secret.expose_secret().as_bytes();
    let encoded_len = base64::encoded_len(secret.len(), true).unwrap_or(0);
    // Sized up front so the buffer holding the encoded secret never reallocates (a
    // reallocation would leave an unwiped copy behind); it is wiped when dropped.
    let mut manifest = Zeroizing::new(String::with_capacity(head.len() + encoded_len + tail.len()));
    manifest.push_str(&head);
    base64::engine::general_purpose::STANDARD.encode_string(secret, &mut manifest);
    manifest.push_str(tail);
    SecretString::from(manifest.as_str())
}

/// The part of the Elasticsearch resource that wires the realm on ECK: the Secret under
/// `spec.secureSettings` and the realm's non-secure settings under a nodeSet's `config`, as
/// YAML with comments saying what to adapt.
pub fn eck_config_snippet(realm: &str, settings: &[(&str, String)], secret_name: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Merge into your Elasticsearch resource (apiVersion: elasticsearch.k8s.elastic.co/v1).\n\
         # The Secret {} must exist in the cluster's namespace first; ECK adds its key to every\n\
         # node's keystore and restarts the nodes when the Secret changes.\n\
         # Every node also needs the microsoft-graph-authz plugin (a custom image or an init\n\
         # container running `bin/elasticsearch-plugin install --batch microsoft-graph-authz`).\n\
         spec:\n  \
           secureSettings:\n    \
             - secretName: {}\n  \
           nodeSets:\n    \
             - name: default  # your nodeSet's name; add the same config to every nodeSet\n      \
               config:\n",
        quoted(secret_name),
        quoted(secret_name),
    ));
    for (setting, value) in settings {
        out.push_str(&format!(
            "        {}: {}\n",
            realm_setting_key(realm, setting),
            yaml_value(setting, value)
        ));
    }
    out
}

/// A double-quoted YAML scalar (names here never need more than `"` and `\` escaped).
fn quoted(s: &str) -> String {
    yaml_value("", s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_secret_names_are_valid() {
        for realm in ["microsoft_graph1", "Graph_Realm-2", "_", "a"] {
            let name = default_secret_name(realm);
            assert!(validate_secret_name(&name).is_ok(), "{realm} -> {name}");
        }
        assert_eq!(
            default_secret_name("microsoft_graph1"),
            "microsoft-graph1-client-secret"
        );
    }

    #[test]
    fn kubernetes_name_rules() {
        assert!(validate_secret_name("es.realm-secret1").is_ok());
        for bad in [
            "",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "a_b",
            &"x".repeat(254),
        ] {
            assert!(validate_secret_name(bad).is_err(), "{bad}");
        }
        assert!(validate_namespace("elastic-system").is_ok());
        for bad in ["", "a.b", "A", "-a", &"x".repeat(64)] {
            assert!(validate_namespace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_refuses_bad_names_with_usage_code() {
        let secret = SecretString::from("s3cr3t");
        let err = EckOutput::build(None, "Bad_Name", "g1", &[], &secret)
            .err()
            .map(|e| (e.exit_code(), e.to_string()));
        let (code, msg) = err.unwrap_or((ExitCode::Ok, String::new()));
        assert_eq!(code, ExitCode::Usage);
        assert!(msg.contains("Bad_Name") && !msg.contains("s3cr3t"), "{msg}");
        assert!(EckOutput::build(Some("ns"), "ok", "a.b", &[], &secret).is_err());
    }
}
