//! The one extractor for query strings: a query string that names a parameter the endpoint
//! does not know, or that cannot be read as its type, is a 400 whose detail is the
//! deserializer's message. The values themselves are checked by the handler.

use crate::api::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A query string read as `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(Query(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::PROBLEM_JSON;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::get;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        limit: Option<u32>,
    }

    async fn call(uri: &str) -> (StatusCode, String, String) {
        let router: Router = Router::new().route(
            "/",
            get(|Query(p): Query<Params>| async move { format!("{:?}", p.limit) }),
        );
        let resp = router
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let ctype = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .to_string();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 4096)
            .await
            .expect("body");
        (status, ctype, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn reads_a_query_and_answers_a_bad_one_with_problem_details() {
        let (status, _, body) = call("/?limit=5").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "Some(5)"));
        for (uri, says) in [("/?lmit=5", "unknown field `lmit`"), ("/?limit=x", "limit")] {
            let (status, ctype, body) = call(uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(ctype, PROBLEM_JSON, "{uri}");
            assert!(body.contains(says), "{uri}: {body}");
        }
    }
}
