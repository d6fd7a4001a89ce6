//! Microsoft Graph, for the one question ARM cannot answer: the object id of a service
//! principal known by its appId (client id), as an AKS cluster's `servicePrincipalProfile`
//! gives it. `GET {graph}/v1.0/servicePrincipals?$filter=appId eq '…'` with a token for
//! the cloud's Graph resource.

use crate::arm::{is_guid, CallError, Rest};
use crate::cloud::Cloud;
use crate::context::Context;
use crate::credential::TokenError;
use crate::error::{AppError, Kind};
use reqwest::Method;

/// The object id of the service principal whose appId is `app_id`.
pub async fn service_principal_object_id(
    ctx: &Context,
    cloud: &Cloud,
    app_id: &str,
) -> Result<String, AppError> {
    let what = format!("Looking up service principal {app_id} in Microsoft Graph");
    if !is_guid(app_id) {
        return Err(AppError::new(
            Kind::Failure,
            format!("{what}: '{app_id}' is not an application (client) id."),
        ));
    }
    let Some(graph) = cloud.graph_endpoint.clone() else {
        return Err(AppError::new(
            Kind::Failure,
            format!("{what}: the cloud '{}' names no Microsoft Graph endpoint (microsoftGraphResourceId).", cloud.name),
        )
        .hint("Grant the role by hand: az role assignment create --assignee-object-id <object id> --assignee-principal-type ServicePrincipal --role AcrPull --scope <registry id>."));
    };
    // Graph's resource without the trailing slash gives the canonical scope
    // `https://graph.microsoft.com/.default`.
    let resource = graph.as_str().trim_end_matches('/').to_string();
    let token = ctx
        .credentials
        .token(cloud, &resource)
        .await
        .map_err(|e| match e {
            TokenError::AudienceRefused(e) | TokenError::Other(e) => e,
        })?;
    let rest = Rest::new("Microsoft Graph", token.token, &graph);
    let mut url = graph.join("v1.0/servicePrincipals").expect("static path");
    url.query_pairs_mut()
        .append_pair("$filter", &format!("appId eq '{app_id}'"))
        .append_pair("$select", "id,appId,displayName");
    let page = rest
        .call(Method::GET, url, None, &what)
        .await
        .map_err(|e| match e {
            CallError::Api(a) if a.status == 403 || a.status == 401 => {
                let hint = "Reading service principals needs the Graph permission Application.Read.All (or Directory.Read.All) for an application, or a user sign-in.";
                a.into_app(&what).hint(hint)
            }
            other => other.into_app(&what),
        })?;
    let found: Vec<&str> = page["value"]
        .as_array()
        .map(|v| v.iter().filter_map(|sp| sp["id"].as_str()).collect())
        .unwrap_or_default();
    match found.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(AppError::new(
            Kind::NotFound,
            format!("{what}: no service principal with appId {app_id} exists in the directory."),
        )
        .hint("The cluster's service principal may have been deleted; reset it with `az aks update-credentials --reset-service-principal`.")),
        _ => Err(AppError::new(
            Kind::Failure,
            format!("{what}: {} service principals have appId {app_id}.", found.len()),
        )),
    }
}
