//! The API's documentation: the head of the OpenAPI document (title, description, tags,
//! the bearer scheme), to which each resource adds its paths and schemas, and the
//! Swagger UI page that shows the finished document.

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

/// The documentation page at [`DOCS_PATH`], serving `doc` at [`OPENAPI_PATH`].
pub fn ui(doc: utoipa::openapi::OpenApi) -> SwaggerUi {
    SwaggerUi::new(DOCS_PATH)
        .url(OPENAPI_PATH, doc)
        // Swagger UI would otherwise fetch a badge from validator.swagger.io.
        .config(Config::default().validator_url("none"))
}
