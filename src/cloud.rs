//! National-cloud presets: which login host, Graph host, token scope and non-gallery
//! application template belong together. Values from `docs/setup.md` (Microsoft's
//! "national cloud deployments" page); every one can be overridden by its own flag.

use clap::ValueEnum;

/// Well-known Microsoft Graph application (its `appId` is the same in every tenant).
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// A Microsoft cloud whose endpoints we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Cloud {
    /// Worldwide Azure (also Microsoft 365 GCC moderate).
    #[default]
    Global,
    /// US Government L4 (GCC High).
    Usgov,
    /// US Government L5 (DoD).
    UsgovDod,
    /// Azure China, operated by 21Vianet.
    China,
}

/// The endpoints one run talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Authority root, as the realm's `access_token_host` setting (no tenant, no trailing slash).
    pub access_token_host: String,
    /// Graph root including the version segment, as the realm's `graph_host` setting.
    pub graph_host: String,
    /// OAuth scope for app-only Graph tokens.
    pub scope: String,
    /// Id of the "custom / non-gallery" application template in this cloud.
    pub non_gallery_template_id: String,
}

impl Cloud {
    pub fn endpoints(self) -> Endpoints {
        let (login, graph, template) = match self {
            Cloud::Global => (
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com",
                "8adf8e6e-67b2-4cf2-a259-e3dc5476c621",
            ),
            Cloud::Usgov => (
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
                "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
            ),
            Cloud::UsgovDod => (
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
                "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
            ),
            Cloud::China => (
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
                "5a532e38-1581-4918-9658-008dc27c1d68",
            ),
        };
        Endpoints {
            access_token_host: login.to_string(),
            graph_host: format!("{graph}/v1.0"),
            scope: format!("{graph}/.default"),
            non_gallery_template_id: template.to_string(),
        }
    }
}

/// The realm's defaults: a setting equal to these need not be written to `elasticsearch.yml`.
pub const DEFAULT_ACCESS_TOKEN_HOST: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_HOST: &str = "https://graph.microsoft.com/v1.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_matches_the_realm_defaults() {
        let e = Cloud::Global.endpoints();
        assert_eq!(e.access_token_host, DEFAULT_ACCESS_TOKEN_HOST);
        assert_eq!(e.graph_host, DEFAULT_GRAPH_HOST);
        assert_eq!(e.scope, "https://graph.microsoft.com/.default");
    }

    #[test]
    fn sovereign_clouds_have_their_own_hosts() {
        let e = Cloud::China.endpoints();
        assert_eq!(e.graph_host, "https://microsoftgraph.chinacloudapi.cn/v1.0");
        assert_eq!(
            e.non_gallery_template_id,
            "5a532e38-1581-4918-9658-008dc27c1d68"
        );
        assert_eq!(
            Cloud::UsgovDod.endpoints().scope,
            "https://dod-graph.microsoft.us/.default"
        );
    }

    /// The fake tenant keeps its own copy of Graph's appId (it cannot depend on this crate,
    /// which depends on it); if the two drifted, every consent test would exercise a tenant
    /// whose Graph is not the one the client looks for.
    #[test]
    fn the_fake_tenant_knows_graph_by_the_same_app_id() {
        assert_eq!(fake_tenant::GRAPH_APP_ID, MICROSOFT_GRAPH_APP_ID);
    }
}
