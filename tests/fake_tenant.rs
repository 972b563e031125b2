//! The fake Entra ID tenant, exercised over HTTP on 127.0.0.1 the way clients use it: token
//! endpoint, Graph calls and their error shapes, every fault knob, and the standalone
//! `fake-tenant` command.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use fake_tenant::{decode_token_claims, FakeCredentials, FakeTenant, FakeTenantConfig, Faults};
use msgraph_keystore::secret::ExposeSecret;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const USER_READ_ALL: &str = "df021288-bdef-4463-88db-98f22de89214";
const GROUP_MEMBER_READ_ALL: &str = "98830695-27a2-44f7-8c18-0c3ebc9698f6";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

async fn start(faults: Faults) -> FakeTenant {
    FakeTenant::start(FakeTenantConfig {
        faults,
        tenant_id: None,
    })
    .await
    .expect("fake tenant starts")
}

/// POST a client-credentials form; returns status and JSON body.
async fn token_request(
    tenant: &FakeTenant,
    tenant_id: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let url = format!(
        "{}/{tenant_id}/oauth2/v2.0/token",
        tenant.access_token_host()
    );
    let resp = http()
        .post(url)
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn secret_token(tenant: &FakeTenant, creds: &FakeCredentials) -> (StatusCode, Value) {
    token_request(
        tenant,
        &creds.tenant_id,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &creds.client_id),
            ("client_secret", creds.client_secret.expose_secret()),
            ("scope", GRAPH_SCOPE),
        ],
    )
    .await
}

async fn token(tenant: &FakeTenant, creds: &FakeCredentials) -> String {
    let (status, body) = secret_token(tenant, creds).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// One Graph call; `path` is relative to the Graph root unless it is an absolute URL.
async fn graph(
    tenant: &FakeTenant,
    bearer: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{path}", tenant.graph_host())
    };
    let mut req = http().request(method, url).bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("graph request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn instantiate(tenant: &FakeTenant, bearer: &str, name: &str) -> Value {
    let a = graph(
        tenant,
        bearer,
        Method::POST,
        "/applicationTemplates/8adf8e6e-67b2-4cf2-a259-e3dc5476c621/instantiate",
        Some(json!({ "displayName": name })),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body
}

async fn add_password(tenant: &FakeTenant, bearer: &str, app_object_id: &str) -> Answer {
    graph(
        tenant,
        bearer,
        Method::POST,
        &format!("/applications/{app_object_id}/addPassword"),
        Some(json!({"passwordCredential": {"displayName": "test"}})),
    )
    .await
}

fn creds_from(tenant: &FakeTenant, app_id: &str, secret_text: &str) -> FakeCredentials {
    FakeCredentials {
        tenant_id: tenant.tenant_id(),
        client_id: app_id.to_string(),
        client_secret: secret_text.into(),
    }
}

fn assert_graph_error(a: &Answer, status: StatusCode, code: &str, message: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{}", a.body);
    let got = a.body["error"]["message"].as_str().unwrap_or_default();
    assert!(got.contains(message), "{got:?} lacks {message:?}");
    let inner = &a.body["error"]["innerError"];
    let header = |name: &str| {
        a.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(inner["request-id"], header("request-id").as_str());
    assert_eq!(
        inner["client-request-id"],
        header("client-request-id").as_str()
    );
    assert!(inner["date"].is_string());
}

// ------------------------------------------------------------------ token endpoint

#[tokio::test]
async fn admin_token_carries_the_expected_claims() {
    let tenant = start(Faults::default()).await;
    let admin = tenant.admin();
    let (status, body) = secret_token(&tenant, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap_or_default();
    assert_eq!(token.split('.').count(), 3, "JWT-shaped");
    let claims = decode_token_claims(token).expect("decodable claims");
    assert_eq!(claims.tid, tenant.tenant_id());
    assert_eq!(claims.appid, admin.client_id);
    assert_eq!(claims.aud, "https://graph.microsoft.com");
    assert!(claims.exp > chrono::Utc::now().timestamp() + 3000);
    let snap = tenant.snapshot();
    let admin_sp = snap
        .service_principal_of(&admin.client_id)
        .expect("admin SP");
    assert_eq!(claims.oid, admin_sp.id);
    assert_eq!(
        claims.roles,
        vec![
            "AppRoleAssignment.ReadWrite.All",
            "Application.Read.All",
            "Application.ReadWrite.All"
        ]
    );
    assert_eq!(snap.token_request_count, 1);
    tenant.shutdown().await;
}

#[tokio::test]
async fn token_errors_have_entra_shapes() {
    let tenant = start(Faults::default()).await;
    let admin = tenant.admin();
    let tid = tenant.tenant_id();

    let wrong = creds_from(&tenant, &admin.client_id, "abc8Q~not-the-secret");
    let (status, body) = secret_token(&tenant, &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{description}"
    );
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
    assert!(
        !description.contains("not-the-secret"),
        "never echoes the secret"
    );

    let unknown = creds_from(&tenant, "11111111-2222-3333-4444-555555555555", "x");
    let (status, body) = secret_token(&tenant, &unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_codes"], json!([700016]));

    let mut elsewhere = admin.clone();
    elsewhere.tenant_id = "00000000-0000-0000-0000-000000000001".into();
    let (status, body) = secret_token(&tenant, &elsewhere).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"], json!([90002]));

    let secret = admin.client_secret.expose_secret();
    let (status, body) = token_request(
        &tenant,
        &tid,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &admin.client_id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/User.Read.All"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");

    let (status, body) = token_request(
        &tenant,
        &tid,
        &[("client_id", &admin.client_id), ("scope", GRAPH_SCOPE)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"], json!([900144]));

    // An expired secret is told apart from a wrong one.
    let expired = tenant.add_secret(&admin.client_id, -1);
    let (status, body) = secret_token(&tenant, &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_codes"], json!([7000222]));
    tenant.shutdown().await;
}

#[tokio::test]
async fn basic_auth_and_client_assertions_are_accepted() {
    let tenant = start(Faults::default()).await;
    let admin = tenant.admin();
    let url = tenant.token_url();
    let resp = http()
        .post(&url)
        .basic_auth(&admin.client_id, Some(admin.client_secret.expose_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_SCOPE)])
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), StatusCode::OK);

    let assertion = [
        ("grant_type", "client_credentials"),
        ("client_id", admin.client_id.as_str()),
        ("scope", GRAPH_SCOPE),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
    ];
    let (status, body) = token_request(&tenant, &admin.tenant_id, &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An app without a federated credential is refused.
    let seeded = tenant.seed_application("no federation", &[]);
    let mut other = assertion;
    other[1].1 = seeded.app_id.as_str();
    let (status, body) = token_request(&tenant, &admin.tenant_id, &other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_codes"], json!([70021]));
    tenant.allow_client_assertions(&seeded.app_id);
    let (status, _) = token_request(&tenant, &admin.tenant_id, &other).await;
    assert_eq!(status, StatusCode::OK);
    tenant.shutdown().await;
}

// ------------------------------------------------------------------ Graph basics

#[tokio::test]
async fn graph_requires_a_token_from_this_tenant() {
    let tenant = start(Faults::default()).await;
    let a = graph(&tenant, "", Method::GET, "/applications", None).await;
    assert_graph_error(
        &a,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "empty",
    );
    let a = graph(&tenant, "a.b.c", Method::GET, "/applications", None).await;
    assert_graph_error(
        &a,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "",
    );

    let other = start(Faults::default()).await;
    let foreign = token(&other, &other.admin()).await;
    let a = graph(&tenant, &foreign, Method::GET, "/applications", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // Correlation: a client-request-id is echoed in the header and the error body.
    let resp = http()
        .get(format!("{}/applications", tenant.graph_host()))
        .header("client-request-id", "7d0c7a6e-0000-4000-8000-000000000001")
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("7d0c7a6e-0000-4000-8000-000000000001")
    );
    assert!(resp.headers().contains_key("request-id"));
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(
        body["error"]["innerError"]["client-request-id"],
        "7d0c7a6e-0000-4000-8000-000000000001"
    );

    let bearer = token(&tenant, &tenant.admin()).await;
    let a = graph(&tenant, &bearer, Method::GET, "/nonsense", None).await;
    assert_graph_error(&a, StatusCode::BAD_REQUEST, "BadRequest", "nonsense");
    other.shutdown().await;
    tenant.shutdown().await;
}

#[tokio::test]
async fn instantiate_creates_an_app_and_its_service_principal() {
    let tenant = start(Faults::default()).await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "es-realm").await;
    assert!(body["@odata.context"]
        .as_str()
        .unwrap_or_default()
        .ends_with("$metadata#microsoft.graph.applicationServicePrincipal"));
    let app = &body["application"];
    let sp = &body["servicePrincipal"];
    assert_eq!(app["displayName"], "es-realm");
    assert_eq!(app["appId"], sp["appId"]);
    assert_ne!(app["id"], app["appId"]);
    assert_eq!(
        app["applicationTemplateId"],
        "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
    );
    assert_eq!(sp["appOwnerOrganizationId"], tenant.tenant_id().as_str());
    assert_eq!(
        sp["tags"],
        json!([
            "WindowsAzureActiveDirectoryCustomSingleSignOnApplication",
            "WindowsAzureActiveDirectoryIntegratedApp"
        ])
    );
    let app_id = app["appId"].as_str().unwrap_or_default();
    let object_id = app["id"].as_str().unwrap_or_default();

    let snap = tenant.snapshot();
    assert_eq!(snap.applications_named("es-realm").len(), 1);
    assert!(snap.service_principal_of(app_id).is_some());

    // Read back by object id and by the appId alternate key.
    let by_id = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/applications/{object_id}"),
        None,
    )
    .await;
    assert_eq!(by_id.status, StatusCode::OK);
    assert!(by_id.body["@odata.context"]
        .as_str()
        .unwrap_or_default()
        .ends_with("#applications/$entity"));
    let by_app_id = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/applications(appId='{app_id}')?$select=id,appId"),
        None,
    )
    .await;
    assert_eq!(by_app_id.body["id"], object_id);
    assert!(
        by_app_id.body.get("displayName").is_none(),
        "$select honoured"
    );
    let sp_by_app_id = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/servicePrincipals(appId='{app_id}')"),
        None,
    )
    .await;
    assert_eq!(sp_by_app_id.body["id"], sp["id"]);

    // PATCH merges top-level properties; passwords cannot be PATCHed.
    let rra = json!([{"resourceAppId": "00000003-0000-0000-c000-000000000000",
        "resourceAccess": [{"id": USER_READ_ALL, "type": "Role"}]}]);
    let patch = graph(
        &tenant,
        &bearer,
        Method::PATCH,
        &format!("/applications/{object_id}"),
        Some(json!({"tags": ["msgraph-keystore"], "notes": "managed", "requiredResourceAccess": rra})),
    )
    .await;
    assert_eq!(patch.status, StatusCode::NO_CONTENT);
    let snap = tenant.snapshot();
    let stored = snap.applications_named("es-realm")[0].clone();
    assert_eq!(stored.tags, vec!["msgraph-keystore"]);
    assert_eq!(stored.notes.as_deref(), Some("managed"));
    assert_eq!(stored.required_resource_access, rra);
    assert_eq!(stored.display_name, "es-realm", "untouched properties stay");
    let bad = graph(
        &tenant,
        &bearer,
        Method::PATCH,
        &format!("/applications/{object_id}"),
        Some(json!({"passwordCredentials": []})),
    )
    .await;
    assert_graph_error(
        &bad,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "addPassword",
    );

    let unknown = graph(
        &tenant,
        &bearer,
        Method::POST,
        "/applicationTemplates/00000000-0000-0000-0000-000000000000/instantiate",
        Some(json!({"displayName": "x"})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A second SP for the same app is a 409; deleting the app removes its SP.
    let dup = graph(
        &tenant,
        &bearer,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_graph_error(
        &dup,
        StatusCode::CONFLICT,
        "Request_MultipleObjectsWithSameKeyValue",
        "already in use",
    );
    let del = graph(
        &tenant,
        &bearer,
        Method::DELETE,
        &format!("/applications/{object_id}"),
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let snap = tenant.snapshot();
    assert!(snap.applications_named("es-realm").is_empty());
    assert!(snap.service_principal_of(app_id).is_none());
    tenant.shutdown().await;
}

#[tokio::test]
async fn plain_registration_path_works_too() {
    let tenant = start(Faults::default()).await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let created = graph(
        &tenant,
        &bearer,
        Method::POST,
        "/applications",
        Some(json!({"displayName": "registered", "tags": ["t1"]})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body["applicationTemplateId"].is_null());
    let app_id = created.body["appId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sp = graph(
        &tenant,
        &bearer,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_eq!(sp.status, StatusCode::CREATED, "{}", sp.body);
    assert_eq!(
        sp.body["appOwnerOrganizationId"],
        tenant.tenant_id().as_str()
    );
    let orphan = graph(
        &tenant,
        &bearer,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": "11111111-2222-3333-4444-555555555555"})),
    )
    .await;
    assert_graph_error(
        &orphan,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "does not reference a valid application object",
    );
    tenant.shutdown().await;
}

#[tokio::test]
async fn filters_and_paging() {
    let tenant = start(Faults {
        page_size: 1,
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let a = tenant.seed_application("O'Brien realm", &["marker"]);
    let b = tenant.seed_application("O'Brien realm", &[]);
    tenant.seed_application("other", &["marker"]);

    // displayName with '' escaping, percent-encoded by the client: two matches, one per page.
    let mut url =
        reqwest::Url::parse(&format!("{}/applications", tenant.graph_host())).expect("url");
    url.query_pairs_mut()
        .append_pair("$filter", "displayName eq 'O''Brien realm'")
        .append_pair("$select", "id,appId,displayName");
    let first = graph(&tenant, &bearer, Method::GET, url.as_str(), None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body["@odata.context"]
        .as_str()
        .unwrap_or_default()
        .ends_with("$metadata#applications"));
    assert_eq!(first.body["value"].as_array().map(Vec::len), Some(1));
    let next = first.body["@odata.nextLink"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        next.starts_with(&tenant.graph_host()),
        "absolute link to this server: {next}"
    );
    let second = graph(&tenant, &bearer, Method::GET, &next, None).await;
    assert_eq!(second.body["value"].as_array().map(Vec::len), Some(1));
    assert!(second.body.get("@odata.nextLink").is_none());
    let mut ids = vec![
        first.body["value"][0]["id"].clone(),
        second.body["value"][0]["id"].clone(),
    ];
    ids.sort_by_key(|v| v.to_string());
    let mut expected = vec![json!(a.id), json!(b.id)];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(ids, expected);

    // tags/any and appId filters.
    let tagged = graph(
        &tenant,
        &bearer,
        Method::GET,
        "/applications?$filter=tags/any(t:t%20eq%20'marker')&$top=5",
        None,
    )
    .await;
    assert_eq!(
        tagged.body["value"].as_array().map(Vec::len),
        Some(1),
        "page_size caps $top"
    );
    assert!(tagged.body["@odata.nextLink"].is_string());
    let by_app_id = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/servicePrincipals?$filter=appId%20eq%20'{}'", a.app_id),
        None,
    )
    .await;
    assert_eq!(by_app_id.body["value"][0]["id"], a.sp_id.as_str());

    let bad = graph(
        &tenant,
        &bearer,
        Method::GET,
        "/applications?$filter=displayName%20ne%20'x'",
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad_top = graph(&tenant, &bearer, Method::GET, "/applications?$top=0", None).await;
    assert_eq!(bad_top.status, StatusCode::BAD_REQUEST);
    tenant.shutdown().await;
}

// ------------------------------------------------------------------ secrets

#[tokio::test]
async fn add_and_remove_passwords() {
    let tenant = start(Faults::default()).await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "secrets").await;
    let object_id = body["application"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let app_id = body["application"]["appId"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let end = (chrono::Utc::now() + chrono::Duration::days(180))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let added = graph(
        &tenant,
        &bearer,
        Method::POST,
        &format!("/applications/{object_id}/addPassword"),
        Some(json!({"passwordCredential": {"displayName": "es cluster prod", "endDateTime": end}})),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let secret = added.body["secretText"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(secret.len(), 40);
    assert_eq!(&secret[3..6], "8Q~");
    assert!(secret
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "~._-".contains(c)));
    assert_eq!(added.body["hint"], &secret[..3]);
    assert_eq!(added.body["displayName"], "es cluster prod");
    assert_eq!(added.body["endDateTime"], end.as_str());
    let key_id = added.body["keyId"].as_str().unwrap_or_default().to_string();

    // The app's representation lists it without the value.
    let app = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/applications/{object_id}"),
        None,
    )
    .await;
    assert_eq!(app.body["passwordCredentials"][0]["keyId"], key_id.as_str());
    assert!(app.body["passwordCredentials"][0]["secretText"].is_null());

    let creds = creds_from(&tenant, &app_id, &secret);
    let (status, body) = secret_token(&tenant, &creds).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // No body: a two-year secret.
    let default = graph(
        &tenant,
        &bearer,
        Method::POST,
        &format!("/applications(appId='{app_id}')/addPassword"),
        None,
    )
    .await;
    assert_eq!(default.status, StatusCode::OK, "{}", default.body);
    let snap = tenant.snapshot();
    let stored = &snap.applications_named("secrets")[0].password_credentials;
    assert_eq!(stored.len(), 2);
    let life = stored[1].end_date_time - stored[1].start_date_time;
    assert!((729..=731).contains(&life.num_days()), "{life}");

    let removed = graph(
        &tenant,
        &bearer,
        Method::POST,
        &format!("/applications/{object_id}/removePassword"),
        Some(json!({"keyId": key_id})),
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let (status, body) = secret_token(&tenant, &creds).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_codes"], json!([7000215]));
    let again = graph(
        &tenant,
        &bearer,
        Method::POST,
        &format!("/applications/{object_id}/removePassword"),
        Some(json!({"keyId": key_id})),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    tenant.shutdown().await;
}

// ------------------------------------------------------------------ consent

#[tokio::test]
async fn role_assignments_drive_the_roles_claim() {
    let tenant = start(Faults::default()).await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "consented").await;
    let object_id = body["application"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let app_id = body["application"]["appId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sp_id = body["servicePrincipal"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let secret = add_password(&tenant, &bearer, &object_id).await.body["secretText"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let creds = creds_from(&tenant, &app_id, &secret);

    let before = decode_token_claims(&token(&tenant, &creds).await).expect("claims");
    assert!(before.roles.is_empty());

    // The Graph SP is found by its well-known appId and carries the real role ids.
    let graph_sp = graph(
        &tenant,
        &bearer,
        Method::GET,
        "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?$select=id,appId,appRoles",
        None,
    )
    .await;
    let graph_sp_id = graph_sp.body["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(graph_sp_id, tenant.snapshot().graph_sp_id);
    let roles = graph_sp.body["appRoles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(roles
        .iter()
        .any(|r| r["id"] == USER_READ_ALL && r["value"] == "User.Read.All"));

    let grant = |role: &'static str| {
        let (bearer, graph_sp_id, sp_id) = (bearer.clone(), graph_sp_id.clone(), sp_id.clone());
        let tenant = &tenant;
        async move {
            graph(
                tenant,
                &bearer,
                Method::POST,
                &format!("/servicePrincipals/{graph_sp_id}/appRoleAssignedTo"),
                Some(json!({"principalId": sp_id, "resourceId": graph_sp_id, "appRoleId": role})),
            )
            .await
        }
    };
    let created = grant(USER_READ_ALL).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["principalId"], sp_id.as_str());
    assert_eq!(created.body["principalType"], "ServicePrincipal");
    assert_eq!(created.body["resourceDisplayName"], "Microsoft Graph");
    assert_eq!(created.body["id"].as_str().map(str::len), Some(43));
    let dup = grant(USER_READ_ALL).await;
    assert_graph_error(
        &dup,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "Permission being assigned already exists on the object.",
    );
    assert_eq!(
        grant(GROUP_MEMBER_READ_ALL).await.status,
        StatusCode::CREATED
    );
    let unknown = grant("00000000-0000-0000-0000-000000000000").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    let listed = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!(
            "/servicePrincipals/{graph_sp_id}/appRoleAssignedTo?$filter=principalId%20eq%20{sp_id}"
        ),
        None,
    )
    .await;
    assert_eq!(
        listed.body["value"].as_array().map(Vec::len),
        Some(2),
        "{}",
        listed.body
    );
    let own = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
        None,
    )
    .await;
    assert_eq!(own.body["value"].as_array().map(Vec::len), Some(2));

    let after = decode_token_claims(&token(&tenant, &creds).await).expect("claims");
    assert_eq!(after.roles, vec!["GroupMember.Read.All", "User.Read.All"]);
    assert_eq!(
        tenant.snapshot().graph_roles_granted_to(&sp_id),
        vec!["GroupMember.Read.All", "User.Read.All"]
    );

    // Removing one assignment, then revoking the rest, shows in the next token.
    let assignment_id = created.body["id"].as_str().unwrap_or_default();
    let del = graph(
        &tenant,
        &bearer,
        Method::DELETE,
        &format!("/servicePrincipals/{graph_sp_id}/appRoleAssignedTo/{assignment_id}"),
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let fewer = decode_token_claims(&token(&tenant, &creds).await).expect("claims");
    assert_eq!(fewer.roles, vec!["GroupMember.Read.All"]);
    tenant.revoke_app_role_assignments(&sp_id);
    let none = decode_token_claims(&token(&tenant, &creds).await).expect("claims");
    assert!(none.roles.is_empty());
    tenant.shutdown().await;
}

#[tokio::test]
async fn the_realms_calls_need_their_permissions() {
    let tenant = start(Faults::default()).await;
    let seeded = tenant.seed_application("realm app", &[]);
    let creds = tenant.add_secret(&seeded.app_id, 30);
    let call = |bearer: String, path: String| {
        let tenant = &tenant;
        async move { graph(tenant, &bearer, Method::GET, &path, None).await }
    };

    let no_roles = token(&tenant, &creds).await;
    let denied = call(no_roles, "/users?$top=1&$select=id".into()).await;
    assert_graph_error(
        &denied,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    );
    // The provisioning admin cannot read users either.
    let admin = token(&tenant, &tenant.admin()).await;
    assert_eq!(
        call(admin, "/users?$top=1".into()).await.status,
        StatusCode::FORBIDDEN
    );

    tenant.grant_graph_app_roles(&seeded.sp_id, &["User.Read.All"]);
    let users_only = token(&tenant, &creds).await;
    let users = call(users_only.clone(), "/users?$top=1&$select=id".into()).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);
    assert_eq!(users.body["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        users.body["value"][0]
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["id".to_string()])
    );
    assert!(users.body["@odata.nextLink"].is_string());
    let user_id = users.body["value"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let groups_path =
        format!("/users/{user_id}/transitiveMemberOf/microsoft.graph.group?$select=id");
    assert_eq!(
        call(users_only, groups_path.clone()).await.status,
        StatusCode::FORBIDDEN
    );

    // Elastic's documented set (Directory.ReadWrite.All + Group.ReadWrite.All + User.Read.All).
    tenant.grant_graph_app_roles(
        &seeded.sp_id,
        &["Directory.ReadWrite.All", "Group.ReadWrite.All"],
    );
    let full = token(&tenant, &creds).await;
    let groups = call(full.clone(), groups_path).await;
    assert_eq!(groups.status, StatusCode::OK, "{}", groups.body);
    // The first seeded user (Ada) is in Elastic Admins and, through it, Engineering.
    assert_eq!(
        groups.body["value"].as_array().map(Vec::len),
        Some(2),
        "{}",
        groups.body
    );
    let all = call(
        full.clone(),
        format!("/users/{user_id}/transitiveMemberOf/microsoft.graph.group"),
    )
    .await;
    let mut names: Vec<&str> = all.body["value"]
        .as_array()
        .map(|v| v.iter().filter_map(|g| g["displayName"].as_str()).collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, vec!["Elastic Admins", "Engineering"]);
    let org = call(full, "/organization".into()).await;
    assert_eq!(org.body["value"][0]["id"], tenant.tenant_id().as_str());
    tenant.shutdown().await;
}

// ------------------------------------------------------------------ fault knobs

#[tokio::test]
async fn throttling_answers_429_with_retry_after_seconds_or_date() {
    let tenant = start(Faults {
        throttle_every: Some(2),
        throttle_burst: 2,
        retry_after_secs: 0.05,
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let statuses = {
        let mut s = Vec::new();
        for _ in 0..4 {
            let a = graph(&tenant, &bearer, Method::GET, "/applications", None).await;
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(
                    a.headers.get("retry-after").and_then(|v| v.to_str().ok()),
                    Some("0.05")
                );
                assert_eq!(a.body["error"]["code"], "TooManyRequests");
                assert_eq!(a.body["error"]["innerError"]["status"], "429");
            }
            s.push(a.status.as_u16());
        }
        s
    };
    assert_eq!(statuses, vec![200, 429, 429, 200]);

    tenant.set_faults(Faults {
        throttle_every: Some(1),
        retry_after_secs: 3.0,
        retry_after_http_date: true,
        ..Faults::default()
    });
    let a = graph(&tenant, &bearer, Method::GET, "/applications", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let header = a
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let when = httpdate::parse_http_date(header).expect("an HTTP date");
    let ahead = when.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        ahead > Duration::from_secs(1) && ahead <= Duration::from_secs(4),
        "{header}"
    );

    // The token endpoint is never throttled.
    assert!(!token(&tenant, &tenant.admin()).await.is_empty());
    assert_eq!(tenant.snapshot().request_count, 5);
    tenant.shutdown().await;
}

#[tokio::test]
async fn unavailable_answers_503() {
    let tenant = start(Faults {
        unavailable_every: Some(2),
        retry_after_secs: 0.0,
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let first = graph(&tenant, &bearer, Method::GET, "/applications", None).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = graph(&tenant, &bearer, Method::GET, "/applications", None).await;
    assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.body["error"]["code"], "serviceNotAvailable");
    assert!(
        second.headers.get("retry-after").is_none(),
        "0 leaves Retry-After out"
    );
    tenant.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_to_graph_and_token_responses() {
    let tenant = start(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    let bearer = token(&tenant, &tenant.admin()).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    let started = Instant::now();
    let a = graph(&tenant, &bearer, Method::GET, "/applications", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    tenant.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_get_no_response() {
    let tenant = start(Faults {
        drop_connection_every: Some(2),
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let client = http();
    let url = format!("{}/applications", tenant.graph_host());
    let ok = client.get(&url).bearer_auth(&bearer).send().await;
    assert!(ok.is_ok_and(|r| r.status() == StatusCode::OK));
    let started = Instant::now();
    let dropped = client
        .post(format!(
            "{}/applicationTemplates/8adf8e6e-67b2-4cf2-a259-e3dc5476c621/instantiate",
            tenant.graph_host()
        ))
        .bearer_auth(&bearer)
        .json(&json!({"displayName": "lost"}))
        .send()
        .await;
    assert!(dropped.is_err(), "no response expected: {dropped:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed promptly, not timed out"
    );
    assert!(
        tenant.snapshot().applications_named("lost").is_empty(),
        "dropped before processing"
    );
    let ok = client.get(&url).bearer_auth(&bearer).send().await;
    assert!(
        ok.is_ok_and(|r| r.status() == StatusCode::OK),
        "the next request is served"
    );

    // With drop_after_processing the write happens but its answer is lost.
    tenant.set_faults(Faults {
        drop_connection_every: Some(1),
        drop_after_processing: true,
        ..Faults::default()
    });
    let dropped = client
        .post(format!(
            "{}/applicationTemplates/8adf8e6e-67b2-4cf2-a259-e3dc5476c621/instantiate",
            tenant.graph_host()
        ))
        .bearer_auth(&bearer)
        .json(&json!({"displayName": "applied"}))
        .send()
        .await;
    assert!(dropped.is_err());
    assert_eq!(tenant.snapshot().applications_named("applied").len(), 1);
    tenant.shutdown().await;
}

#[tokio::test]
async fn new_objects_are_not_found_until_replicated() {
    let tenant = start(Faults {
        replication_reads: 2,
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "slow").await;
    let object_id = body["application"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let app_id = body["application"]["appId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sp_id = body["servicePrincipal"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The app: two reads miss (one by id, one as the target of addPassword), then it is there.
    let miss = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/applications/{object_id}"),
        None,
    )
    .await;
    assert_graph_error(
        &miss,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &object_id,
    );
    let miss = add_password(&tenant, &bearer, &object_id).await;
    assert_eq!(miss.status, StatusCode::NOT_FOUND);
    let hit = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/applications/{object_id}"),
        None,
    )
    .await;
    assert_eq!(hit.status, StatusCode::OK);

    // The SP: an appId filter does not see it (and uses a read), then a key read misses once.
    let filtered = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/servicePrincipals?$filter=appId%20eq%20'{app_id}'"),
        None,
    )
    .await;
    assert_eq!(filtered.body["value"], json!([]));
    let miss = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/servicePrincipals(appId='{app_id}')"),
        None,
    )
    .await;
    assert_eq!(miss.status, StatusCode::NOT_FOUND);
    let hit = graph(
        &tenant,
        &bearer,
        Method::GET,
        &format!("/servicePrincipals/{sp_id}"),
        None,
    )
    .await;
    assert_eq!(hit.status, StatusCode::OK);
    // Display-name lookups see new objects at once (what a resumed run relies on).
    let by_name = graph(
        &tenant,
        &bearer,
        Method::GET,
        "/applications?$filter=displayName%20eq%20'slow'",
        None,
    )
    .await;
    assert_eq!(by_name.body["value"].as_array().map(Vec::len), Some(1));
    tenant.shutdown().await;
}

#[tokio::test]
async fn a_new_principal_is_not_a_valid_reference_at_first() {
    let tenant = start(Faults {
        replication_reads: 1,
        not_valid_reference: 2,
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "consent later").await;
    let sp_id = body["servicePrincipal"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let graph_sp_id = tenant.snapshot().graph_sp_id;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let a = graph(
            &tenant,
            &bearer,
            Method::POST,
            &format!("/servicePrincipals/{graph_sp_id}/appRoleAssignedTo"),
            Some(json!({"principalId": sp_id, "resourceId": graph_sp_id, "appRoleId": USER_READ_ALL})),
        )
        .await;
        if a.status == StatusCode::BAD_REQUEST && statuses.len() < 3 {
            assert_graph_error(
                &a,
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Not a valid reference update.",
            );
        }
        statuses.push(a.status.as_u16());
    }
    // 404 (principal not replicated), 400, 400, then granted.
    assert_eq!(statuses, vec![404, 400, 400, 201]);
    tenant.shutdown().await;
}

#[tokio::test]
async fn a_new_secret_is_refused_while_it_replicates() {
    let tenant = start(Faults {
        secret_replication_failures: 2,
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "fresh secret").await;
    let object_id = body["application"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let app_id = body["application"]["appId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let secret = add_password(&tenant, &bearer, &object_id).await.body["secretText"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let creds = creds_from(&tenant, &app_id, &secret);
    for _ in 0..2 {
        let (status, body) = secret_token(&tenant, &creds).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error_codes"], json!([7000215]));
    }
    let (status, _) = secret_token(&tenant, &creds).await;
    assert_eq!(status, StatusCode::OK);
    tenant.shutdown().await;
}

#[tokio::test]
async fn consent_can_be_denied() {
    let tenant = start(Faults {
        caller_can_consent: false,
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "no consent").await;
    let sp_id = body["servicePrincipal"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let graph_sp_id = tenant.snapshot().graph_sp_id;
    let a = graph(
        &tenant,
        &bearer,
        Method::POST,
        &format!("/servicePrincipals/{graph_sp_id}/appRoleAssignedTo"),
        Some(json!({"principalId": sp_id, "resourceId": graph_sp_id, "appRoleId": USER_READ_ALL})),
    )
    .await;
    assert_graph_error(
        &a,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    );
    assert!(tenant.snapshot().graph_roles_granted_to(&sp_id).is_empty());
    tenant.shutdown().await;
}

#[tokio::test]
async fn secret_lifetime_policy_rejects_long_secrets() {
    let tenant = start(Faults {
        max_secret_lifetime_days: Some(90),
        ..Faults::default()
    })
    .await;
    let bearer = token(&tenant, &tenant.admin()).await;
    let body = instantiate(&tenant, &bearer, "policy").await;
    let object_id = body["application"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let with_days = |days: i64| {
        let end = (chrono::Utc::now() + chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        json!({"passwordCredential": {"displayName": "p", "endDateTime": end}})
    };
    let path = format!("/applications/{object_id}/addPassword");
    let long = graph(&tenant, &bearer, Method::POST, &path, Some(with_days(180))).await;
    assert_graph_error(
        &long,
        StatusCode::BAD_REQUEST,
        "CredentialInvalidLifetimeAsPerAppPolicy",
        "Credential lifetime exceeds the max value allowed as per assigned policy",
    );
    assert_eq!(
        long.body["error"]["details"][0]["code"],
        "InvalidKeyEndDate"
    );
    assert_eq!(long.body["error"]["details"][0]["target"], "EndDate");
    let default = graph(&tenant, &bearer, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(
        default.status,
        StatusCode::BAD_REQUEST,
        "the 2-year default trips the policy"
    );
    let short = graph(&tenant, &bearer, Method::POST, &path, Some(with_days(60))).await;
    assert_eq!(short.status, StatusCode::OK, "{}", short.body);
    assert_eq!(
        tenant.snapshot().applications_named("policy")[0]
            .password_credentials
            .len(),
        1
    );
    tenant.shutdown().await;
}

#[tokio::test]
async fn writes_need_application_readwrite() {
    let tenant = start(Faults::default()).await;
    let reader = tenant.seed_application("reader", &[]);
    tenant.grant_graph_app_roles(&reader.sp_id, &["Application.Read.All"]);
    let creds = tenant.add_secret(&reader.app_id, 10);
    let bearer = token(&tenant, &creds).await;
    let list = graph(&tenant, &bearer, Method::GET, "/applications", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let write = graph(
        &tenant,
        &bearer,
        Method::POST,
        "/applicationTemplates/8adf8e6e-67b2-4cf2-a259-e3dc5476c621/instantiate",
        Some(json!({"displayName": "nope"})),
    )
    .await;
    assert_graph_error(
        &write,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    tenant.shutdown().await;
}

// ------------------------------------------------------------------ standalone command

struct Running {
    child: Child,
    first_line: String,
    /// Receives everything after the first line once stdout closes.
    rest: mpsc::Receiver<String>,
}

fn spawn_fake_tenant(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .arg("fake-tenant")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn msgraph-keystore");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        let _ = tx.send(rest);
    });
    let first_line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    Running {
        child,
        first_line,
        rest: rx,
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn standalone_command_serves_and_writes_private_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let env_file = dir.path().join("creds.env");
    let env_arg = env_file.to_string_lossy().to_string();
    let mut running = spawn_fake_tenant(&[
        "--listen",
        "127.0.0.1:0",
        "--credentials-file",
        &env_arg,
        "--seed-app",
        "dup",
        "--seed-app",
        "dup",
    ]);
    let line = running.first_line.trim().to_string();
    let host = line
        .strip_prefix("fake tenant listening on ")
        .unwrap_or_else(|| {
            let _ = running.child.kill();
            panic!("unexpected first line {line:?}")
        })
        .to_string();
    assert!(host.starts_with("http://127.0.0.1:"), "{host}");

    let secret_file = dir.path().join("creds.env.secret");
    for f in [&env_file, &secret_file] {
        let mode = std::fs::metadata(f)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let env = std::fs::read_to_string(&env_file).unwrap_or_default();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        var("AZURE_CLIENT_SECRET_FILE"),
        secret_file.to_string_lossy()
    );
    let secret = std::fs::read_to_string(&secret_file).unwrap_or_default();
    assert_eq!(secret.len(), 40);

    // The credentials work against the running server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (token_status, apps) = runtime.block_on(async {
        let resp = http()
            .post(format!(
                "{host}/{}/oauth2/v2.0/token",
                var("AZURE_TENANT_ID")
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", var("AZURE_CLIENT_ID").as_str()),
                ("client_secret", secret.as_str()),
                ("scope", GRAPH_SCOPE),
            ])
            .send()
            .await
            .expect("token request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let bearer = body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let apps: Value = http()
            .get(format!(
                "{host}/v1.0/applications?$filter=displayName%20eq%20'dup'"
            ))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("graph request")
            .json()
            .await
            .unwrap_or(Value::Null);
        (status, apps)
    });
    assert_eq!(token_status, StatusCode::OK);
    assert_eq!(
        apps["value"].as_array().map(Vec::len),
        Some(2),
        "--seed-app twice collides"
    );

    // SIGTERM stops it cleanly and removes the credentials.
    let pid = i32::try_from(running.child.id()).expect("pid");
    // SAFETY: plain kill(2) on the child we spawned.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = wait_with_timeout(&mut running.child, Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(!env_file.exists() && !secret_file.exists());
    let mut stderr = String::new();
    if let Some(mut e) = running.child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let rest = running
        .rest
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_default();
    let stdout = format!("{line}\n{rest}");
    assert!(
        stdout.contains("--access-token-host http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&secret) && !stderr.contains(&secret),
        "secret never printed"
    );
}

#[test]
fn standalone_command_refuses_non_loopback_and_existing_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .args(["fake-tenant", "--listen", "0.0.0.0:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    let env_file = dir.path().join("existing.env");
    std::fs::write(&env_file, "keep me").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .args(["fake-tenant", "--credentials-file"])
        .arg(&env_file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(74));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap_or_default(),
        "keep me"
    );
}

/// The library refuses a non-loopback address itself (not only the `fake-tenant` command), for
/// plain and TLS alike, before binding anything; loopback in either family still starts.
#[tokio::test]
async fn the_library_refuses_to_listen_beyond_loopback() {
    use std::net::{Ipv6Addr, SocketAddr};
    let config = || FakeTenantConfig {
        faults: Faults::default(),
        tenant_id: None,
    };
    let pki = fake_tenant::TestPki::generate().expect("test pki");
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0", "[::ffff:127.0.0.1]:0"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let err = FakeTenant::start_on(addr, config())
            .await
            .err()
            .unwrap_or_else(|| panic!("{addr}: started"));
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::InvalidInput,
            "{addr}: {err}"
        );
        assert!(err.to_string().contains("not a loopback address"), "{err}");
        let err = FakeTenant::start_on_tls(addr, config(), &pki.server)
            .await
            .err()
            .unwrap_or_else(|| panic!("{addr}: started with TLS"));
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::InvalidInput,
            "{addr}: {err}"
        );
    }
    let v4 = FakeTenant::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config())
        .await
        .expect("127.0.0.1 starts");
    assert!(v4.graph_host().starts_with("http://127.0.0.1:"));
    if let Ok(v6) = FakeTenant::start_on(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)), config()).await
    {
        assert!(v6.graph_host().starts_with("http://[::1]:"));
    } else {
        eprintln!("skipped [::1]: IPv6 loopback is not available here");
    }
}
