//! `role-mapping`: Entra group names and ids become the body of
//! `PUT /_security/role_mapping/<name>` (realm.name + group object ids), read with the realm's
//! own credentials or the caller's sign-in, against the fake tenant's groups — including two
//! groups sharing a name and one whose name holds a `'`.

mod setup_support;

use std::collections::BTreeMap;
use std::path::Path;

use fake_tenant::Faults;
use msgraph_keystore::auth::client_credentials_token;
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use setup_support::*;

/// A config dir set up for the realm (its app consented with `permissions`).
async fn realm_dir(h: &Harness, permissions: &str) -> std::path::PathBuf {
    let dir = h.dir("config");
    h.setup(&[&dir], &["--permissions", permissions, "--no-verify"])
        .await
        .assert_ok();
    dir
}

/// The realm's client secret, as setup wrote it.
fn realm_secret(dir: &Path) -> SecretString {
    match read_keystore(dir, "").get_string(&secret_key(REALM)) {
        Ok(Some(s)) => s,
        other => panic!("no realm secret in the keystore: {:?}", other.map(|_| ())),
    }
}

/// Every item of the collection at `path`, read straight from the fake tenant with the realm's
/// token (no `$filter`, so independent of the code under test), following every page.
async fn graph_list(h: &Harness, dir: &Path, path: &str) -> Vec<serde_json::Value> {
    let http = match build_client(&HttpOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let client_id = h.the_app().app_id;
    let token = match client_credentials_token(
        &http,
        &h.tenant.access_token_host(),
        &h.tenant.tenant_id(),
        &client_id,
        &realm_secret(dir),
        REALM_SCOPE,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => panic!("realm token: {e}"),
    };
    let mut out = Vec::new();
    let mut next = Some(format!("{}{path}", h.tenant.graph_host()));
    while let Some(url) = next {
        let body: serde_json::Value = match http
            .get(&url)
            .bearer_auth(token.token.expose_secret())
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(e) => panic!("GET {url}: {e}"),
        };
        out.extend(body["value"].as_array().cloned().unwrap_or_default());
        next = body["@odata.nextLink"].as_str().map(str::to_string);
    }
    out
}

/// Every group's object ids by display name.
async fn group_ids(h: &Harness, dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for g in graph_list(h, dir, "/groups?$select=id,displayName").await {
        let name = g["displayName"].as_str().unwrap_or_default().to_string();
        let id = g["id"].as_str().unwrap_or_default().to_string();
        out.entry(name).or_default().push(id);
    }
    out
}

/// The userPrincipalName of the seeded user whose UPN starts with `nick@`.
async fn upn(h: &Harness, dir: &Path, nick: &str) -> String {
    graph_list(h, dir, "/users?$select=userPrincipalName")
        .await
        .iter()
        .filter_map(|u| u["userPrincipalName"].as_str())
        .find(|u| u.starts_with(&format!("{nick}@")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no user {nick}"))
}

fn one(ids: &BTreeMap<String, Vec<String>>, name: &str) -> String {
    match ids.get(name).map(Vec::as_slice) {
        Some([id]) => id.clone(),
        other => panic!("expected one group named {name}, got {other:?}"),
    }
}

async fn role_mapping(h: &Harness, args: &[&str]) -> Run {
    let mut all = vec!["role-mapping"];
    all.extend_from_slice(args);
    run(h.command(&all)).await
}

fn body(r: &Run) -> serde_json::Value {
    match serde_json::from_str(&r.stdout) {
        Ok(v) => v,
        Err(e) => panic!("stdout is not the JSON body: {e}\n{}", r.all()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_ids_become_a_body_that_pins_the_realm_and_lists_group_ids() {
    let h = Harness::start().await;
    let dir = realm_dir(&h, "default").await;
    let ids = group_ids(&h, &dir).await;
    let admins = one(&ids, "Elastic Admins");
    let quoted = one(&ids, "O'Brien's Readers");
    let config = dir.display().to_string();

    // A name, a name with a quote (an unescaped OData literal would be a 400), and an id given
    // in upper case (Graph's canonical lower-case id is what the realm hands to role mapping).
    let upper = admins.to_uppercase();
    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "O'Brien's Readers",
            "--group",
            &upper,
            "--group",
            "Elastic Admins",
            "--role",
            "viewer",
            "--role",
            "kibana_admin",
        ],
    )
    .await;
    r.assert_ok();
    let b = body(&r);
    assert_eq!(b["enabled"], true);
    assert_eq!(b["roles"], serde_json::json!(["viewer", "kibana_admin"]));
    assert_eq!(
        b["rules"],
        serde_json::json!({"all": [
            {"field": {"realm.name": REALM}},
            {"field": {"groups": [quoted, admins]}},
        ]}),
        "the same group by id and by name is listed once\n{}",
        r.all()
    );
    assert_eq!(
        b["metadata"]["entra_groups"],
        serde_json::json!([
            {"id": quoted, "displayName": "O'Brien's Readers"},
            {"id": admins, "displayName": "Elastic Admins"},
        ])
    );
    // stderr: the request line, what each group became, and a curl with placeholders only.
    let path = format!("PUT /_security/role_mapping/{REALM}-viewer-kibana_admin");
    assert!(r.stderr.contains(&path), "{}", r.all());
    assert!(
        r.stderr.contains(&format!(
            "curl -sS -X PUT \"$ES_URL/_security/role_mapping/{REALM}-viewer-kibana_admin\" -H \"Authorization: ApiKey $ES_API_KEY\""
        )),
        "{}",
        r.all()
    );
    let secret = realm_secret(&dir);
    assert!(!r.all().contains(secret.expose_secret()), "{}", r.all());
    assert!(!r.all().contains("Bearer"), "{}", r.all());

    // --name and --silent: the body alone on stdout, nothing on stderr.
    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "Elastic Viewers",
            "--role",
            "viewer",
            "--name",
            "entra-viewers",
            "--silent",
        ],
    )
    .await;
    r.assert_ok();
    assert_eq!(
        body(&r)["rules"]["all"][1]["field"]["groups"][0],
        one(&ids, "Elastic Viewers")
    );
    assert_eq!(r.stderr, "", "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_and_unknown_groups_are_errors_that_print_no_body() {
    // Pages of one group: the name lookup must follow @odata.nextLink to see both namesakes.
    let h = Harness::with_faults(Faults {
        page_size: 1,
        ..Faults::default()
    })
    .await;
    let dir = realm_dir(&h, "least-privilege").await;
    let ids = group_ids(&h, &dir).await;
    let operators = ids.get("Elastic Operators").cloned().unwrap_or_default();
    assert_eq!(operators.len(), 2, "{ids:?}");
    let config = dir.display().to_string();

    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "Elastic Operators",
            "--role",
            "ops",
        ],
    )
    .await;
    r.assert_code(65);
    assert_eq!(r.stdout, "", "{}", r.all());
    for id in &operators {
        assert!(
            r.stderr.contains(&format!("{id} ('Elastic Operators')")),
            "{}",
            r.all()
        );
    }
    assert!(
        r.stderr
            .contains("2 Entra groups are named 'Elastic Operators'"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("pass the object ID"), "{}", r.all());

    // Either namesake by id is fine.
    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            &operators[1],
            "--role",
            "ops",
        ],
    )
    .await;
    r.assert_ok();
    assert_eq!(
        body(&r)["rules"]["all"][1]["field"]["groups"],
        serde_json::json!([operators[1]])
    );

    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "Elastic Admins",
            "--group",
            "No Such Group",
            "--role",
            "ops",
        ],
    )
    .await;
    r.assert_code(65);
    assert_eq!(r.stdout, "", "{}", r.all());
    assert!(
        r.stderr.contains("no Entra group is named 'No Such Group'"),
        "{}",
        r.all()
    );

    let ghost = "0b5f2c1e-7d44-4a0e-9a51-0c2f3c7d9e11";
    let r = role_mapping(
        &h,
        &["--config", &config, "--group", ghost, "--role", "ops"],
    )
    .await;
    r.assert_code(65);
    assert!(
        r.stderr
            .contains(&format!("no Entra group has the object ID {ghost}")),
        "{}",
        r.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principal_shows_which_of_the_users_groups_the_mapping_matches() {
    let h = Harness::start().await;
    let dir = realm_dir(&h, "default").await;
    let ids = group_ids(&h, &dir).await;
    let config = dir.display().to_string();
    let grace = upn(&h, &dir, "grace").await;
    let ada = upn(&h, &dir, "ada").await;

    // Grace: Elastic Admins, Elastic Viewers, O'Brien's Readers, and Engineering through Admins.
    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "Engineering",
            "--group",
            "Elastic Operators",
            "--role",
            "viewer",
            "--principal",
            &grace,
        ],
    )
    .await;
    // "Elastic Operators" is ambiguous: the principal is never looked at.
    r.assert_code(65);

    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "Engineering",
            "--group",
            "Elastic Viewers",
            "--group",
            &one(&ids, "Elastic Admins"),
            "--role",
            "viewer",
            "--principal",
            &grace,
        ],
    )
    .await;
    r.assert_ok();
    assert!(
        r.stderr.contains(&format!(
            "principal '{grace}': in 4 group(s); this mapping matches 3:"
        )),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains(&format!("Engineering ({})", one(&ids, "Engineering"))),
        "{}",
        r.all()
    );

    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "Elastic Viewers",
            "--role",
            "viewer",
            "--principal",
            &ada,
        ],
    )
    .await;
    r.assert_ok();
    assert!(
        r.stderr.contains(&format!(
            "principal '{ada}': in 2 group(s), none of them in this mapping"
        )),
        "{}",
        r.all()
    );

    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "Elastic Viewers",
            "--role",
            "viewer",
            "--principal",
            "CN=ada,O=saml",
        ],
    )
    .await;
    r.assert_code(6);
    assert_eq!(r.stdout, "", "{}", r.all());
    assert!(
        r.stderr
            .contains("Microsoft Graph has no user 'CN=ada,O=saml'"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("would get no roles from this realm"),
        "{}",
        r.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_config_the_callers_sign_in_reads_the_groups() {
    let h = Harness::start().await;
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "role-mapping",
            "--group",
            "Elastic Admins",
            "--role",
            "superuser",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(h.graph_flags());
        a
    };
    // The provisioning admin may not read groups: Graph's 403, exit 77, no body.
    let r = run(h.command(&args(&[]))).await;
    r.assert_code(77);
    assert_eq!(r.stdout, "", "{}", r.all());
    assert!(r.stderr.contains("/groups"), "{}", r.all());

    // With GroupMember.Read.All (Graph's least-privileged permission for reading a group).
    let admin_sp = h.sp_id(&h.admin.client_id);
    h.tenant
        .grant_graph_app_roles(&admin_sp, &["GroupMember.Read.All"]);
    let r = run(h.command(&args(&["--realm", "saml_authz"]))).await;
    r.assert_ok();
    assert_eq!(
        body(&r)["rules"]["all"][0]["field"]["realm.name"],
        "saml_authz"
    );
    assert!(!r.all().contains(h.admin.client_secret.expose_secret()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_and_misplaced_hosts_are_usage_errors_before_any_request() {
    let h = Harness::start().await;
    let dir = realm_dir(&h, "default").await;
    let config = dir.display().to_string();
    let before = h.tenant.request_count();
    for (args, needle) in [
        (vec!["--role", " viewer"], "role ' viewer' is not valid"),
        (
            vec!["--role", "viewer", "--name", "a/b"],
            "mapping name 'a/b' is not valid",
        ),
        (
            vec![
                "--role",
                "viewer",
                "--graph-host",
                "http://127.0.0.1:9/v1.0",
            ],
            "do not go with --config",
        ),
    ] {
        let mut all = vec!["--config", config.as_str(), "--group", "Elastic Admins"];
        all.extend(args);
        let r = role_mapping(&h, &all).await;
        r.assert_code(64);
        assert!(r.stderr.contains(needle), "{needle}\n{}", r.all());
        assert_eq!(r.stdout, "");
    }
    let r = role_mapping(
        &h,
        &[
            "--config",
            &config,
            "--group",
            "x",
            "--role",
            "viewer",
            "--realm",
            "bad realm",
        ],
    )
    .await;
    r.assert_code(65);
    assert!(r.stderr.contains("bad realm"), "{}", r.all());
    // No --group or no --role: clap's usage error.
    role_mapping(&h, &["--config", &config, "--role", "viewer"])
        .await
        .assert_code(64);
    role_mapping(&h, &["--config", &config, "--group", "x"])
        .await
        .assert_code(64);
    assert_eq!(
        h.tenant.request_count(),
        before,
        "a usage error sent requests"
    );
}

/// The fenced blocks of docs/setup.md §8 ("Map groups to roles"), by info string, in order.
fn setup_md_section_8_blocks() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/setup.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let section = text
        .split("\n## 8. Map groups to roles\n")
        .nth(1)
        .unwrap_or_else(|| panic!("docs/setup.md has no section 8. Map groups to roles"));
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            blocks.push((info.to_string(), body.join("\n")));
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_md_example_runs_and_prints_what_the_docs_show() {
    let h = Harness::start().await;
    let dir = realm_dir(&h, "default").await;
    let admins = one(&group_ids(&h, &dir).await, "Elastic Admins");
    let blocks = setup_md_section_8_blocks();
    let find = |info: &str| {
        blocks
            .iter()
            .find(|(i, _)| i == info)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no ```{info} block in §8: {blocks:?}"))
    };

    // The shell example, as written, with the config dir pointed at the test's.
    let example = find("sh").replace("/etc/elasticsearch", &dir.display().to_string());
    assert!(
        example.starts_with("msgraph-keystore role-mapping"),
        "{example}"
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
    let path = format!(
        "{}:{}",
        bin.parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&example)
        .current_dir(h.scratch.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", h.scratch.path())
        .env("NO_COLOR", "1");
    let r = run(cmd).await;
    r.assert_ok();

    // The file it wrote is the JSON the docs show, with the group's real id.
    let written = std::fs::read_to_string(h.scratch.path().join("entra-admins.json"))
        .unwrap_or_else(|e| panic!("the example wrote no entra-admins.json: {e}"));
    let shown = find("json").replace("<object ID of Elastic Admins>", &admins);
    let as_json = |t: &str| -> serde_json::Value {
        serde_json::from_str(t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
    };
    assert_eq!(as_json(&written), as_json(&shown));

    // stderr is the block the docs show, with the group's real id.
    let stderr_doc = find("").replace("<object ID>", &admins);
    assert_eq!(r.stderr.trim_end(), stderr_doc.trim_end(), "{}", r.all());
}
