//! The OpenAPI 3.1 document of both dialects, answered at `GET
//! /openapi.json` (no key needed) and kept in the repository as
//! `docs/openapi.json`.
//!
//! The document is generated (with utoipa) from the two route tables,
//! [`crate::api::ROUTES`] and [`crate::zerodb::ROUTES`], and the request
//! types' schemas; a unit test fails when the committed file differs from
//! what the tables give, and rewrites it when `ZERODB_UPDATE_OPENAPI=1`.

/// The document, as committed.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// One route as the document describes it.
#[derive(Clone, Copy, Debug)]
pub struct RouteDoc {
    /// `GET`, `PUT`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The path template: whole for the v1 API (`/v1/collections/{name}`),
    /// after `/{prefix}/{project_id}/` for ZeroDB's (`database/vectors`).
    pub path: &'static str,
    /// What it does, in a line.
    pub summary: &'static str,
    /// Its query parameters.
    pub query: &'static [&'static str],
    /// The schema of its JSON body, if it takes one.
    pub body: Option<&'static str>,
}

impl RouteDoc {
    /// A route's entry (for the route tables, which are constants).
    pub const fn new(
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        query: &'static [&'static str],
        body: Option<&'static str>,
    ) -> RouteDoc {
        RouteDoc {
            method,
            path,
            summary,
            query,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zerodb;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder};
    use utoipa::openapi::{Ref, Required, ResponseBuilder};
    use utoipa::{PartialSchema, ToSchema};

    fn method(name: &str) -> HttpMethod {
        match name {
            "GET" => HttpMethod::Get,
            "PUT" => HttpMethod::Put,
            "POST" => HttpMethod::Post,
            "DELETE" => HttpMethod::Delete,
            other => panic!("no method {other}"),
        }
    }

    /// `{name}` segments of a path template.
    fn path_params(path: &str) -> Vec<&str> {
        path.split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }

    fn operation(route: &RouteDoc, full_path: &str, tag: &str, error: &str) -> utoipa::openapi::path::Operation {
        let mut op = OperationBuilder::new().summary(Some(route.summary)).tag(tag);
        for name in path_params(full_path) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(String::schema())),
            );
        }
        for name in route.query {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .schema(Some(String::schema())),
            );
        }
        if let Some(body) = route.body {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(body))).build();
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", content)
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        let json = |schema: Option<Ref>| ContentBuilder::new().schema(schema).build();
        op.response(
            "200",
            ResponseBuilder::new()
                .description("Success")
                .content("application/json", json(None)),
        )
        .response(
            "default",
            ResponseBuilder::new()
                .description("An error")
                .content("application/json", json(Some(Ref::from_schema_name(error)))),
        )
        .build()
    }

    /// An error body, for the document only.
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code, reason = "read by utoipa's derive only")]
    struct V1Error {
        /// `{"code": "<error code>", "message": "..."}`
        error: std::collections::BTreeMap<String, String>,
    }

    /// ZeroDB's error body, for the document only: `detail` is a string, or
    /// for a 422 a list of `{loc, msg, type}`.
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code, reason = "read by utoipa's derive only")]
    struct ZeroDbError {
        #[schema(value_type = Object)]
        detail: serde_json::Value,
    }

    fn build() -> OpenApi {
        let mut paths = PathsBuilder::new();
        for route in crate::api::ROUTES {
            let op = operation(route, route.path, "v1", "V1Error");
            paths = paths.path(route.path, PathItem::new(method(route.method), op));
        }
        for prefix in zerodb::PREFIXES {
            for route in zerodb::ROUTES {
                let path = format!("/{}/{{project_id}}/{}", prefix.join("/"), route.path);
                let op = operation(route, &path, "ZeroDB", "ZeroDbError");
                paths = paths.path(path, PathItem::new(method(route.method), op));
            }
        }
        for prefix in zerodb::MEMORY_PREFIXES {
            for route in zerodb::MEMORY_ROUTES {
                let path = format!("/{}/{}", prefix.join("/"), route.path);
                let op = operation(route, &path, "ZeroDB", "ZeroDbError");
                paths = paths.path(path, PathItem::new(method(route.method), op));
            }
        }
        let mut schemas: Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)> = Vec::new();
        macro_rules! schemas {
            ($($ty:ty),*) => {$(
                schemas.push((<$ty as ToSchema>::name().into_owned(), <$ty as PartialSchema>::schema()));
                <$ty as ToSchema>::schemas(&mut schemas);
            )*};
        }
        use crate::wire as v1;
        use crate::zerodb::wire as z;
        schemas!(
            v1::CreateCollection,
            v1::Upsert,
            v1::Search,
            v1::MemoryIn,
            v1::MemorySearch,
            z::VectorIn,
            z::Search,
            z::MemoryIn,
            z::MemoryUpdate,
            z::MemorySearch,
            z::Generate,
            z::EmbedAndStore,
            z::TextSearch,
            z::Remember,
            z::Recall,
            z::Forget,
            V1Error,
            ZeroDbError
        );
        OpenApiBuilder::new()
            .info(
                InfoBuilder::new()
                    .title("ZeroDB Edge")
                    .version(env!("CARGO_PKG_VERSION"))
                    .description(Some(
                        "The edge's two dialects: its own v1 API (`/v1/...`), and ZeroDB's API \
                         under `/api/v1/projects/{project_id}/`, `/v1/projects/{project_id}/` and \
                         `/v1/public/{project_id}/`, and its agent memory under \
                         `/api/v1/public/memory/v2/` and `/v1/public/memory/v2/`. Every route but `/healthz` and `/openapi.json` \
                         takes the key as `X-API-Key: <key>` or `Authorization: Bearer <key>`.",
                    )),
            )
            .paths(paths.build())
            .components(Some(ComponentsBuilder::new().schemas_from_iter(schemas).build()))
            .build()
    }

    #[test]
    fn the_committed_document_is_current() {
        let built = build().to_pretty_json().unwrap() + "\n";
        if std::env::var_os("ZERODB_UPDATE_OPENAPI").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
            std::fs::write(path, &built).unwrap();
            return;
        }
        assert!(
            built == DOCUMENT,
            "docs/openapi.json is not what the route tables give; \
             regenerate it with ZERODB_UPDATE_OPENAPI=1 cargo test -p edge-core openapi"
        );
    }

    /// Each documented operation is one the router answers (its route
    /// allows the method), and each method a documented path's route allows
    /// is documented: the tables and the routers agree both ways.
    #[test]
    fn the_document_and_the_routers_agree() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let fill = |path: &str| {
            path.replace("{project_id}", "0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e")
                .replace("{name}", "docs")
                .replace("{id}", "v1")
                .replace("{key}", "a/b.txt")
                .replace("{vector_id}", "v1")
                .replace("{memory_id}", "m1")
        };
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let concrete = fill(path);
            for method in ["GET", "PUT", "POST", "DELETE"] {
                let documented = item.get(method.to_lowercase()).is_some();
                let answered = if zerodb::claims(&concrete) {
                    zerodb::answers(method, &concrete)
                } else {
                    crate::api::answers(method, &concrete)
                };
                assert_eq!(documented, answered, "{method} {path}");
                operations += documented as usize;
            }
        }
        assert_eq!(
            operations,
            crate::api::ROUTES.len()
                + zerodb::PREFIXES.len() * zerodb::ROUTES.len()
                + zerodb::MEMORY_PREFIXES.len() * zerodb::MEMORY_ROUTES.len()
        );
    }
}
