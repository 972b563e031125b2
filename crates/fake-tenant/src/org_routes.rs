//! `GET /organization`: the tenant's id, name and verified domain.

use chrono::Utc;
use serde_json::json;

use super::reply::{GraphError, Reply};
use super::request::{Ctx, READ_ORGANIZATION};
use super::state::{fmt_time, TenantState};

pub(super) fn organization(st: &TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_ORGANIZATION)?;
    let org = json!({
        "id": st.tenant_id,
        "displayName": "Fake Tenant (msgraph-keystore)",
        "tenantType": "AAD",
        "createdDateTime": fmt_time(Utc::now()),
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": st.domain,
            "type": "Managed",
        }],
    });
    Ok(ctx.list("organization", vec![org], st.faults.effective_page_size()))
}
