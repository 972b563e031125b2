//! `verify --principal`: the realm's own lookup of a user, request line for request line,
//! with every page of groups; the unknown-principal path; permissions read from the token;
//! the fast failure of an old wrong secret; and the replication retries after create and
//! consent (AADSTS7000229, a token or Graph that lags a grant made by this run).

mod setup_support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use fake_tenant::Faults;
use msgraph_keystore::keystore;
use msgraph_keystore::secret::ExposeSecret;
use setup_support::*;

fn json(out: &Run) -> serde_json::Value {
    match serde_json::from_str(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("not JSON: {e}\n{}", out.all()),
    }
}

/// A config dir set up (without verify) against `h`, with extra setup flags.
async fn configured(h: &Harness, name: &str, flags: &[&str]) -> std::path::PathBuf {
    let dir = h.dir(name);
    let mut args = vec!["--format-version", "4", "--no-verify"];
    args.extend_from_slice(flags);
    h.setup(&[&dir], &args).await.assert_ok();
    dir
}

/// The request lines the realm sends for `principal`, made the way the realm's code makes
/// them (written from `MicrosoftGraphAuthzRealm.fetchUserProperties` /
/// `fetchGroupMembership` and Kiota's URL templates, independently of the tool): the user,
/// the first page of groups, then each `@odata.nextLink` as Graph wrote it.
async fn realm_reference_lines(h: &Harness, dir: &Path, principal: &str) -> Vec<String> {
    let secret = realm_secret(dir, "");
    let client_id = yml_value(dir, REALM, "client_id").unwrap_or_default();
    let http = reqwest::Client::new();
    let token: serde_json::Value = match http
        .post(h.tenant.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.expose_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
    {
        Ok(r) => match r.json().await {
            Ok(v) => v,
            Err(e) => panic!("token body: {e}"),
        },
        Err(e) => panic!("token: {e}"),
    };
    let bearer = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // RFC 6570 simple expansion of {user%2Did}: `@` is reserved, so it is encoded.
    let user = principal.replace('@', "%40");
    let graph = h.tenant.graph_host();
    let mut urls = vec![
        format!("{graph}/users/{user}?%24select=displayName,mail"),
        format!("{graph}/users/{user}/transitiveMemberOf/graph.group?%24select=id&%24top=999"),
    ];
    let mut i = 0;
    while i < urls.len() {
        let body: serde_json::Value = match http.get(&urls[i]).bearer_auth(&bearer).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(e) => panic!("{}: {e}", urls[i]),
        };
        if i >= 1 {
            if let Some(next) = body["@odata.nextLink"].as_str() {
                urls.push(next.to_string());
            }
        }
        i += 1;
    }
    let origin = h.tenant.access_token_host();
    urls.iter()
        .map(|u| format!("GET {}", u.strip_prefix(&origin).unwrap_or(u)))
        .collect()
}

/// Request lines of the realm's calls: those selecting what the realm selects
/// (`displayName,mail` or `id`), not verify's extra calls for ids and group names.
fn realm_calls(lines: &[String]) -> Vec<String> {
    let select = |line: &str| {
        let query = line.split_once('?').map(|(_, q)| q).unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "$select")
            .map(|(_, v)| v.into_owned())
    };
    lines
        .iter()
        .filter(|l| l.starts_with("GET /v1.0/users/"))
        .filter(|l| matches!(select(l).as_deref(), Some("displayName,mail" | "id")))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_principal_sends_the_realms_request_lines_and_reads_every_page() {
    // Graph may put fewer items on a page than `$top` asks for: 100 here, so 250 groups
    // take three pages.
    let h = Harness::with_faults(Faults {
        page_size: 100,
        ..Faults::default()
    })
    .await;
    let dir = configured(&h, "config", &[]).await;
    let (user_id, upn, groups) = h
        .tenant
        .add_user_with_groups("Many Groups", "many", "Team", 250);
    // One nested group too: the realm asks for transitive membership.
    let parent = h.tenant.add_group("Parent of Team 1");
    h.tenant.add_member(&parent, &groups[0]);

    let reference = realm_reference_lines(&h, &dir, &upn).await;
    assert_eq!(
        reference.len(),
        1 + 3,
        "user + three pages of groups: {reference:#?}"
    );

    h.tenant.clear_graph_request_lines();
    let out = h
        .verify(&dir, &["--principal", &upn, "--output", "json"])
        .await;
    out.assert_ok();
    let sent = realm_calls(&h.tenant.graph_request_lines());
    assert_eq!(
        sent, reference,
        "verify sends exactly the realm's request lines"
    );
    for page in &sent[1..] {
        assert!(
            page.contains("/transitiveMemberOf/graph.group?")
                && page.contains("%24select=id")
                && page.contains("%24top=999"),
            "every page keeps $select=id and $top=999: {page}"
        );
    }

    let report = json(&out);
    let p = &report["principals"][0];
    assert_eq!(p["principal"], upn.as_str());
    assert_eq!(p["found"], true);
    assert_eq!(p["id"], user_id.as_str());
    assert_eq!(p["displayName"], "Many Groups");
    assert_eq!(p["mail"], upn.as_str());
    assert_eq!(p["group_pages"], 3);
    let mut got: Vec<&str> = p["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g["id"].as_str()).collect())
        .unwrap_or_default();
    got.sort_unstable();
    let mut want: Vec<&str> = groups.iter().map(String::as_str).collect();
    want.push(&parent);
    want.sort_unstable();
    assert_eq!(got, want, "all 251 transitive groups, over every page");
    let named = p["groups"]
        .as_array()
        .map(|a| a.iter().filter(|g| g["displayName"].is_string()).count())
        .unwrap_or_default();
    assert_eq!(named, 251, "the default permissions can read group names");

    // By object id, and the text report.
    let out = h.verify(&dir, &["--principal", &user_id]).await;
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!("principal {user_id}: found"))
            && out.stdout.contains("251 group(s) over 3 page(s)")
            && out.stdout.contains("(Team 17)"),
        "{}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_principal_that_graph_does_not_know_exits_6_and_says_why() {
    let h = Harness::start().await;
    let dir = configured(&h, "config", &[]).await;
    let ada = format!("ada@{}", h.tenant.domain());
    // A transient SAML NameID: neither a UPN nor an object id.
    let name_id = "_3f6c1a0e9b2d4c8f";

    let out = h
        .verify(
            &dir,
            &[
                "--principal",
                &ada,
                "--principal",
                name_id,
                "--output",
                "json",
            ],
        )
        .await;
    out.assert_code(6);
    let report = json(&out);
    assert_eq!(report["verdict"], "principal-not-found");
    assert_eq!(report["principals"][0]["found"], true);
    let ada_groups = report["principals"][0]["groups"].as_array().map(Vec::len);
    assert_eq!(
        ada_groups,
        Some(2),
        "Elastic Admins and, through it, Engineering"
    );
    assert_eq!(report["principals"][1]["principal"], name_id);
    assert_eq!(report["principals"][1]["found"], false);
    assert_eq!(report["principals"][1]["groups"], serde_json::json!([]));
    for words in [
        "gets no roles from this realm",
        "NameID",
        "exit code 6",
        name_id,
    ] {
        assert!(out.stderr.contains(words), "`{words}`\n{}", out.all());
    }
    // The realm stops at the 404 of its first call: no group request for the unknown name.
    let lines = h.tenant.graph_request_lines();
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("GET /v1.0/users/{name_id}?%24select=displayName,mail")),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&format!("/users/{name_id}/"))),
        "{lines:#?}"
    );

    let text = h.verify(&dir, &["--principal", name_id]).await;
    text.assert_code(6);
    assert!(
        text.stdout
            .contains(&format!("principal {name_id}: NOT FOUND")),
        "{}",
        text.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_tenant_answers_an_unknown_user_with_graphs_404_body() {
    let h = Harness::start().await;
    let dir = configured(&h, "config", &[]).await;
    let secret = realm_secret(&dir, "");
    let client_id = yml_value(&dir, REALM, "client_id").unwrap_or_default();
    let http = reqwest::Client::new();
    let token: serde_json::Value = match http
        .post(h.tenant.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.expose_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    let url = format!(
        "{}/users/nobody%40example.com?%24select=displayName,mail",
        h.tenant.graph_host()
    );
    let response = match http
        .get(&url)
        .bearer_auth(token["access_token"].as_str().unwrap_or_default())
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(response.status().as_u16(), 404);
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(
        body["error"]["message"],
        "Resource 'nobody@example.com' does not exist or one of its queried reference-property objects are not present."
    );
    for field in ["date", "request-id", "client-request-id"] {
        assert!(
            body["error"]["innerError"][field].is_string(),
            "{field}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_least_privilege_realm_verifies_without_flags() {
    let h = Harness::start().await;
    let dir = configured(&h, "config", &["--permissions", "least-privilege"]).await;
    let ada = format!("ada@{}", h.tenant.domain());
    let out = h.verify(&dir, &["--principal", &ada]).await;
    out.assert_ok();
    for line in [
        "permission set least-privilege (from the roles in the realm's token)",
        "permission User.Read.All granted",
        "permission GroupMember.Read.All granted",
    ] {
        assert!(out.stdout.contains(line), "`{line}`\n{}", out.all());
    }
    // The override still works, and still fails when the set differs.
    let out = h.verify(&dir, &["--permissions", "default"]).await;
    out.assert_code(5);
    assert!(
        out.stdout
            .contains("permission Directory.ReadWrite.All MISSING"),
        "{}",
        out.all()
    );
}

/// Set a file's modification time `ago` in the past.
fn age_file(path: &Path, ago: Duration) {
    let file = match std::fs::File::options().write(true).open(path) {
        Ok(f) => f,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    if let Err(e) = file.set_modified(SystemTime::now() - ago) {
        panic!("{e}");
    }
}

fn put_wrong_secret(dir: &Path) {
    let mut ks = read_keystore(dir, "");
    if let Err(e) = ks.set_string(&secret_key(REALM), "Xyz8Q~not-the-secret-at-all-0123456789") {
        panic!("{e}");
    }
    if let Err(e) = keystore::save(dir, &ks) {
        panic!("{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_wrong_secret_fails_in_seconds_with_the_remedy() {
    let h = Harness::start().await;
    let dir = configured(&h, "config", &[]).await;
    put_wrong_secret(&dir);
    age_file(&keystore::keystore_path(&dir), Duration::from_secs(3600));

    let started = Instant::now();
    let out = h.verify(&dir, &[]).await; // default --wait 2m
    let took = started.elapsed();
    out.assert_code(4);
    // It takes about 4 s; a verify that did not fail fast would use the whole 2-minute wait.
    // Half of that wait tells the two apart with room for a loaded 2-core CI machine.
    assert!(
        took < Duration::from_secs(60),
        "took {took:?}\n{}",
        out.all()
    );
    for words in [
        "AADSTS7000215",
        "60 minute(s) ago",
        "msgraph-keystore rotate",
    ] {
        assert!(out.stderr.contains(words), "`{words}`\n{}", out.all());
    }
    assert!(
        !out.stderr.contains("retrying"),
        "no replication wait\n{}",
        out.all()
    );

    // Written moments ago, the same refusal may be replication: it is retried.
    put_wrong_secret(&dir);
    let started = Instant::now();
    let out = h.verify(&dir, &["--wait", "5s"]).await;
    out.assert_code(4);
    assert!(started.elapsed() >= Duration::from_secs(3), "{}", out.all());
    assert!(out.stderr.contains("retrying"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_principal_is_waited_for_aadsts7000229() {
    let h = Harness::with_faults(Faults {
        sp_replication_failures: 2,
        ..Faults::default()
    })
    .await;
    let dir = h.dir("config");
    let out = h.setup(&[&dir], &["--format-version", "4"]).await;
    out.assert_ok();
    assert!(
        out.stderr.contains("refuses the secret (AADSTS7000229)"),
        "the wait is explained\n{}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_made_by_this_run_is_waited_for_in_the_token_and_in_graph() {
    // The token leaves the new roles out twice; then Graph refuses the realm's reads once.
    let h = Harness::with_faults(Faults {
        grant_replication_tokens: 2,
        grant_forbidden_reads: 1,
        ..Faults::default()
    })
    .await;
    let dir = h.dir("config");
    let out = h.setup(&[&dir], &["--format-version", "4"]).await;
    out.assert_ok();
    assert!(
        out.stderr
            .contains("has not reached the token service or Graph yet"),
        "{}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_grant_in_this_run_missing_roles_are_not_retried() {
    let h = Harness::with_faults(Faults {
        grant_replication_tokens: 5,
        ..Faults::default()
    })
    .await;
    // setup grants, but does not verify; `verify` granted nothing, so it does not wait.
    let dir = configured(&h, "config", &[]).await;
    let started = Instant::now();
    let out = h.verify(&dir, &[]).await;
    out.assert_code(5);
    assert!(started.elapsed() < Duration::from_secs(3), "{}", out.all());
    assert!(!out.stderr.contains("has not reached"), "{}", out.all());

    // Same for a Graph 403 right after the grant.
    let h = Harness::with_faults(Faults {
        grant_forbidden_reads: 5,
        ..Faults::default()
    })
    .await;
    let dir = configured(&h, "config", &[]).await;
    let started = Instant::now();
    let out = h.verify(&dir, &[]).await;
    out.assert_code(5);
    assert!(started.elapsed() < Duration::from_secs(3), "{}", out.all());
    assert!(out.stdout.contains("FAILED"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_tenant_names_the_yml_setting() {
    let h = Harness::start().await;
    let dir = configured(&h, "config", &[]).await;
    let yml_path = dir.join("elasticsearch.yml");
    let yml = read_text(&yml_path);
    let tenant = h.tenant.tenant_id();
    write(
        &yml_path,
        &yml.replace(&tenant, "11111111-2222-3333-4444-555555555555"),
    );
    let out = h.verify(&dir, &[]).await;
    assert_ne!(out.code, 0, "{}", out.all());
    let key = msgraph_keystore::esconfig::realm_setting_key(REALM, "tenant_id");
    assert!(out.stderr.contains(&key), "names [{key}]\n{}", out.all());
    assert!(!out.stderr.contains("AZURE_TENANT_ID"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_realms_timeouts_come_from_the_yml() {
    let h = Harness::with_faults(Faults {
        latency: Duration::from_millis(1500),
        ..Faults::default()
    })
    .await;
    let dir = configured(&h, "config", &[]).await;
    let yml_path = dir.join("elasticsearch.yml");
    let exec_key = msgraph_keystore::esconfig::realm_setting_key(REALM, "execution_timeout");
    let yml = read_text(&yml_path);
    write(&yml_path, &format!("{yml}{exec_key}: 2s\n"));
    let ada = format!("ada@{}", h.tenant.domain());
    let out = h.verify(&dir, &["--principal", &ada]).await;
    out.assert_code(75);
    assert!(
        out.stderr.contains("execution_timeout (2s)"),
        "{}",
        out.all()
    );
    write(&yml_path, &format!("{yml}{exec_key}: soon\n"));
    let out = h.verify(&dir, &["--principal", &ada]).await;
    out.assert_code(78);
    assert!(out.stderr.contains(&exec_key), "{}", out.all());
}
