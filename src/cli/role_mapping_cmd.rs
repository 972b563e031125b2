//! `role-mapping`: parse the flags, pick whose credentials read the groups (the realm's, from
//! a config directory, or the caller's sign-in), and render what `setup::role_mapping` made:
//! the JSON body on stdout, the request line and a placeholder `curl` on stderr.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::realm_args::{self, DEFAULT_REALM};
use super::{GlobalOpts, Verbosity};
use crate::auth::AuthArgs;
use crate::exit::{CliError, ExitCode};
use crate::graph::{EndpointArgs, GraphClient};
use crate::realm_check;
use crate::setup::realm_config::read_realm_connection;
use crate::setup::role_mapping::{self, MappedGroup};

/// Print the body of an Elasticsearch role mapping for Entra groups named by display name or object ID.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  msgraph-keystore role-mapping --config /etc/elasticsearch --group 'Elastic Admins' --role superuser\n  msgraph-keystore role-mapping --config /etc/elasticsearch --group 'Elastic Viewers' --role viewer --name entra-viewers \\\n      | curl -sS -X PUT \"$ES_URL/_security/role_mapping/entra-viewers\" -H \"Authorization: ApiKey $ES_API_KEY\" -H \"Content-Type: application/json\" --data-binary @-\n\nExit codes: 0 ok, 64 usage (bad role or mapping name), 65 unknown or ambiguous group, 6 unknown --principal, 77 Graph refused to read groups, 78 local configuration."
)]
pub struct RoleMappingArgs {
    /// Elasticsearch config directory: read the groups with the realm's own credentials (keystore + elasticsearch.yml). Without it, the caller's sign-in (--auth) is used.
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Name of the microsoft_graph realm the mapping is for (the rule requires realm.name = NAME).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_REALM)]
    pub realm: String,
    /// An Entra group's display name or object ID; repeat for several (the mapping matches any of them).
    #[arg(long = "group", value_name = "NAME_OR_ID", required = true)]
    pub groups: Vec<String>,
    /// An Elasticsearch role to grant; repeat for several.
    #[arg(long = "role", value_name = "ROLE", required = true)]
    pub roles: Vec<String>,
    /// Name of the role mapping [default: <realm>-<role>[-<role>…]].
    #[arg(long, value_name = "MAPPING")]
    pub name: Option<String>,
    /// Also show which of this user's groups (userPrincipalName or object ID) the mapping matches.
    #[arg(long, value_name = "USER")]
    pub principal: Option<String>,
    /// File holding the keystore password, for a password-protected keystore (with --config).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

pub async fn run(args: RoleMappingArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    crate::setup::check_realm_name(&args.realm)?;
    for role in &args.roles {
        role_mapping::check_role_name(role)?;
    }
    let name = match &args.name {
        Some(n) => n.clone(),
        None => role_mapping::default_mapping_name(&args.realm, &args.roles),
    };
    role_mapping::check_mapping_name(&name)?;
    let talk = global.verbosity() > Verbosity::Silent;

    let graph = match &args.config {
        Some(dir) => realm_graph(&args, dir, global)?,
        None => realm_args::connect(&args.auth, &args.endpoints, talk)?.graph,
    };
    let groups = role_mapping::resolve_groups(&graph, &args.groups).await?;
    let principal = match &args.principal {
        Some(p) => Some((p, role_mapping::principal_group_ids(&graph, p).await?)),
        None => None,
    };

    let body = role_mapping::mapping_body(&args.realm, &args.roles, &groups);
    realm_args::print_json(&body)?;
    if talk {
        eprint!("{}", render_notes(&name, &groups));
        if let Some((user, ids)) = &principal {
            eprintln!("{}", render_principal(user, ids, &groups));
        }
    }
    Ok(ExitCode::Ok)
}

/// The request line, what each `--group` became, and the `curl` to send the body.
fn render_notes(name: &str, groups: &[MappedGroup]) -> String {
    let mut out = format!("PUT {}\n", role_mapping::es_path(name));
    for g in groups {
        out.push_str(&format!(
            "  group '{}' → {} ({})\n",
            g.requested,
            g.id,
            g.display_name.as_deref().unwrap_or("no display name")
        ));
    }
    out.push_str(&format!(
        "To create the mapping, pipe this command's output into:\n  {}\n",
        role_mapping::curl_line(name)
    ));
    out
}

/// Which of the principal's groups the mapping would match.
fn render_principal(user: &str, ids: &[String], groups: &[MappedGroup]) -> String {
    let hit = role_mapping::matching(groups, ids);
    if hit.is_empty() {
        return format!(
            "principal '{user}': in {} group(s), none of them in this mapping: it would get none of these roles",
            ids.len()
        );
    }
    let names: Vec<String> = hit
        .iter()
        .map(|g| {
            format!(
                "{} ({})",
                g.display_name.as_deref().unwrap_or("no display name"),
                g.id
            )
        })
        .collect();
    format!(
        "principal '{user}': in {} group(s); this mapping matches {}: {}",
        ids.len(),
        hit.len(),
        names.join(", ")
    )
}

/// A Graph client that signs in as the realm does (`realm_check::realm_graph`); the
/// realm's hosts come from elasticsearch.yml, so the host flags do not go with `--config`.
fn realm_graph(
    args: &RoleMappingArgs,
    dir: &Path,
    global: &GlobalOpts,
) -> Result<GraphClient, CliError> {
    if args.endpoints.access_token_host.is_some() || args.endpoints.graph_host.is_some() {
        return Err(CliError::usage(
            "--access-token-host and --graph-host do not go with --config: the realm's hosts are read from elasticsearch.yml",
        ));
    }
    let realm = read_realm_connection(dir, &args.realm)?;
    let secret =
        realm_args::realm_client_secret(dir, &args.realm, args.password_file.clone(), global)?;
    Ok(realm_check::realm_graph(
        &realm,
        secret,
        args.endpoints.ca_cert.clone(),
        Instant::now() + args.endpoints.timeout,
        args.endpoints.request_timeout,
    )?)
}
