//! The tenant id for the realm's `tenant_id`: from the service principal
//! (`appOwnerOrganizationId`), else the caller's token (`tid`), else `GET /organization`
//! (which app-only callers with only Application.* permissions may not read).

use super::error::ProvisionError;
use super::flow::Flow;
use crate::graph::models::ServicePrincipal;
use crate::secret::ExposeSecret;

impl Flow<'_> {
    pub(crate) async fn tenant_id(
        &self,
        sp: Option<&ServicePrincipal>,
    ) -> Result<String, ProvisionError> {
        if let Some(id) = sp
            .and_then(|s| s.app_owner_organization_id.as_deref())
            .filter(|id| !id.is_empty())
        {
            return Ok(id.to_string());
        }
        let graph = self.graph;
        match graph.token_source().token(graph.scope()).await {
            Ok(token) => match crate::auth::jwt::tenant_id(token.token.expose_secret()) {
                Ok(Some(tid)) if !tid.is_empty() => return Ok(tid),
                Ok(_) => {}
                Err(e) => tracing::debug!("cannot read tid from the access token: {e}"),
            },
            Err(e) => return Err(crate::graph::GraphError::from(e).into()),
        }
        match graph.organization().await {
            Ok(orgs) => {
                orgs.into_iter()
                    .next()
                    .map(|o| o.id)
                    .ok_or_else(|| ProvisionError::TenantUnknown {
                        reason: "GET /organization returned no organization".to_string(),
                    })
            }
            Err(e) => Err(ProvisionError::TenantUnknown {
                reason: format!("GET /organization failed: {e}"),
            }),
        }
    }
}
