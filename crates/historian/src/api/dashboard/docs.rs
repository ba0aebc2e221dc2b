//! The API's documentation: the head of the OpenAPI document (title, description, tags,
//! the bearer scheme), to which each resource adds its paths and schemas, and the
//! Swagger UI page that shows the finished document.

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// Where the interactive documentation is served.
pub const DOCS_PATH: &str = "/api/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "modbus-historian",
        description = "Polls Modbus devices and keeps every reading as a queryable time series. \
            Errors are RFC 9457 problem details (`application/problem+json`). Timestamps are \
            RFC 3339; register addresses are six-digit references (400001 = holding register 0)."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "status", description = "Health and store figures"),
        (name = "devices", description = "Devices and their polling status"),
        (name = "discover", description = "Read-only scans of a device that propose its register map"),
        (name = "readings", description = "Latest values and history"),
        (name = "audit", description = "Who changed the configuration, when, and how"),
        (name = "dashboard", description = "The web dashboard (HTML, script, style sheet)"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` security scheme that write endpoints name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document's head, before any route is added.
pub fn head() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The Content-Security-Policy of the documentation: every page's (`layers::PAGE_CSP`)
/// plus, by its hash, the one inline style sheet Swagger UI has (its logo's SVG colours),
/// so that nothing else inline is applied.
pub const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; \
                            style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
                            script-src 'self'; connect-src 'self'; object-src 'none'; \
                            base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The documentation page at [`DOCS_PATH`], serving `doc` at [`OPENAPI_PATH`].
pub fn ui<S: Clone + Send + Sync + 'static>(doc: utoipa::openapi::OpenApi) -> Router<S> {
    let ui = SwaggerUi::new(DOCS_PATH)
        .url(OPENAPI_PATH, doc)
        // Swagger UI would otherwise fetch a badge from validator.swagger.io.
        .config(Config::default().validator_url("none"));
    Router::from(ui).layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ))
}

#[cfg(test)]
mod tests {
    use super::DOCS_CSP;
    use crate::api::layers::PAGE_CSP;

    #[test]
    fn the_docs_policy_is_the_pages_policy_plus_one_style_hash() {
        let hash = " 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";
        assert_eq!(
            DOCS_CSP.replacen(hash, "", 1),
            PAGE_CSP,
            "keep the two policies alike but for the hash"
        );
    }
}
