//! The Entra ID v2.0 token endpoint, client-credentials grant only:
//! `POST /{tenant}/oauth2/v2.0/token` with `client_id` plus `client_secret` (form field or
//! HTTP Basic) or `client_assertion`. Errors carry the real AADSTS codes and the OAuth error
//! shape (`error`, `error_description`, `error_codes`, `trace_id`, `correlation_id`, …).

use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use base64::Engine;
use chrono::Utc;
use serde_json::json;
use zeroize::Zeroizing;

use super::graph_routes::GRAPH_AUDIENCES;
use super::jwt::Claims;
use super::reply::{Reply, RequestIds};
use super::secret_text;
use super::state::{new_id, TenantState};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime of issued tokens, as Entra reports it for app-only tokens.
const TOKEN_LIFETIME_SECS: i64 = 3599;

/// The parsed form, with the credential fields held in zeroizing strings.
#[derive(Default)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    client_secret: Option<Zeroizing<String>>,
    client_assertion: Option<Zeroizing<String>>,
    client_assertion_type: Option<String>,
}

impl TokenForm {
    fn parse(body: &[u8], headers: &HeaderMap) -> TokenForm {
        let mut form = TokenForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "grant_type" => form.grant_type = Some(v),
                "client_id" => form.client_id = Some(v),
                "scope" => form.scope = Some(v),
                "client_secret" => form.client_secret = Some(Zeroizing::new(v)),
                "client_assertion" => form.client_assertion = Some(Zeroizing::new(v)),
                "client_assertion_type" => form.client_assertion_type = Some(v),
                _ => {}
            }
        }
        // client_secret_basic: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
        if let Some((id, secret)) = basic_credentials(headers) {
            form.client_id.get_or_insert(id);
            if form.client_secret.is_none() {
                form.client_secret = Some(secret);
            }
        }
        form
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, Zeroizing<String>)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), Zeroizing::new(unescape(secret))))
}

/// An OAuth error as login.microsoftonline.com sends it.
fn oauth_error(
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
    ids: &RequestIds,
    host: &str,
) -> Reply {
    let timestamp = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description} Trace ID: {} Correlation ID: {} Timestamp: {timestamp}",
            ids.request_id, ids.client_request_id
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": ids.request_id,
        "correlation_id": ids.client_request_id,
        "error_uri": format!("{host}/error?code={code}"),
    });
    Reply::Raw {
        status,
        body,
        headers: token_headers(ids),
    }
}

fn token_headers(ids: &RequestIds) -> Vec<(HeaderName, String)> {
    vec![
        (
            HeaderName::from_static("x-ms-request-id"),
            ids.request_id.clone(),
        ),
        (
            axum::http::header::CACHE_CONTROL,
            "no-store, no-cache".into(),
        ),
    ]
}

/// Handle a request to `/{tenant}/oauth2/v2.0/token`. `host` is this server's root URL.
pub(crate) fn handle(
    st: &mut TenantState,
    tenant: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    ids: &RequestIds,
    host: &str,
) -> Reply {
    st.token_requests += 1;
    let err = |status, error: &str, code, description: &str| {
        oauth_error(status, error, code, description, ids, host)
    };
    let bad = StatusCode::BAD_REQUEST;
    if *method != Method::POST {
        return err(
            bad,
            "invalid_request",
            900561,
            &format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {method} request."
            ),
        );
    }
    if !tenant.eq_ignore_ascii_case(&st.tenant_id) {
        return err(bad, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."));
    }
    let form = TokenForm::parse(body, headers);
    let missing = |name: &str| {
        err(
            bad,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let Some(grant_type) = form.grant_type.as_deref() else {
        return missing("grant_type");
    };
    if grant_type != "client_credentials" {
        return err(
            bad,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    let Some(client_id) = form.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return missing("client_id");
    };
    let Some(app) = st.app_index_by_app_id(client_id) else {
        return err(bad, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", st.domain));
    };
    let Some(scope) = form.scope.as_deref().filter(|s| !s.is_empty()) else {
        return missing("scope");
    };
    let Some(resource) = scope.strip_suffix("/.default") else {
        return err(bad, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    };
    let resource = resource.trim_end_matches('/');
    if !GRAPH_AUDIENCES.contains(&resource) {
        return err(bad, "invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", st.domain));
    }

    let unauthorized = StatusCode::UNAUTHORIZED;
    let app_id = st.apps[app].app_id.clone();
    if let Some(secret) = form.client_secret.as_ref().filter(|s| !s.is_empty()) {
        let digest = secret_text::digest(secret);
        let invalid = format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'.");
        let Some(password) = st.apps[app]
            .passwords
            .iter_mut()
            .find(|p| p.digest == digest)
        else {
            return err(unauthorized, "invalid_client", 7000215, &invalid);
        };
        if password.end <= Utc::now() {
            return err(unauthorized, "invalid_client", 7000222, &format!("The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."));
        }
        if password.token_refusals_left > 0 {
            // A freshly added secret has not reached every login replica yet.
            password.token_refusals_left -= 1;
            return err(unauthorized, "invalid_client", 7000215, &invalid);
        }
    } else if let Some(_assertion) = form.client_assertion.as_ref().filter(|a| !a.is_empty()) {
        if form.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return err(bad, "invalid_request", 900144, &format!("The request body must contain the following parameter: 'client_assertion_type' with the value '{JWT_BEARER}'."));
        }
        // Any assertion is accepted for an app with a federated credential: the fake checks
        // the plumbing (file read, form fields), not a real OIDC issuer.
        if !st.apps[app].accepts_assertions {
            return err(
                unauthorized,
                "invalid_client",
                70021,
                "No matching federated identity record found for presented assertion.",
            );
        }
    } else {
        return err(unauthorized, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    }

    let Some(sp) = st.sp_index_by_app_id(&app_id).map(|i| st.sps[i].id.clone()) else {
        return err(
            unauthorized,
            "invalid_client",
            7000229,
            &format!(
                "The client application {app_id} is missing service principal in the tenant {}.",
                st.tenant_id
            ),
        );
    };
    if let Some(i) = st.sp_index(&sp) {
        if st.sps[i].token_refusals_left > 0 {
            // A brand-new service principal has not reached the login service yet.
            st.sps[i].token_refusals_left -= 1;
            return err(
                unauthorized,
                "invalid_client",
                7000229,
                &format!(
                    "The client application {app_id} is missing service principal in the tenant {}.",
                    st.tenant_id
                ),
            );
        }
    }
    let roles = st.token_roles_of(&sp);
    let now = Utc::now().timestamp();
    let claims = Claims {
        aud: resource.to_string(),
        iss: format!("https://sts.windows.net/{}/", st.tenant_id),
        iat: now,
        nbf: now,
        exp: now + TOKEN_LIFETIME_SECS,
        appid: app_id,
        appidacr: "1".into(),
        idtyp: "app".into(),
        oid: sp.clone(),
        sub: sp.clone(),
        tid: st.tenant_id.clone(),
        roles,
        uti: new_id(),
        ver: "1.0".into(),
    };
    let token = st.signer.sign(&claims);
    st.issued.token(&token);
    Reply::Raw {
        status: StatusCode::OK,
        body: json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "ext_expires_in": TOKEN_LIFETIME_SECS,
            "access_token": token.as_str(),
        }),
        headers: token_headers(ids),
    }
}
