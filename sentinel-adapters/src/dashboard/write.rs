//! `PUT api/v1/rules/<kind>`: replaces one kind's rules, for holders of the write token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_datasource::{EditError, Format, RuleEditor};
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::Dashboard;
use super::api::error;

/// Largest rule set accepted, bytes of JSON.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The write token and where writes go.
pub(super) struct Writes {
    pub(super) token: Box<[u8]>,
    pub(super) editor: RuleEditor,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writes")
            .field("token", &"<redacted>")
            .field("editor", &self.editor)
            .finish()
    }
}

impl Writes {
    /// Whether the request carries `Authorization: Bearer <the token>` (the scheme in any
    /// case, as HTTP has it; compared in constant time in the token's content).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some((scheme, given)) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
        else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && given.trim_start().as_bytes().ct_eq(&self.token).into()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    rule: String,
    resource: Option<String>,
    field: Option<String>,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Written {
    kind: String,
    rules: usize,
    added: usize,
    removed: usize,
    modified: usize,
    persisted: bool,
}

fn unauthorized() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "a write needs the header `Authorization: Bearer <token>` with the dashboard's write token",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Ids (else resources) of the rules of a JSON list, for the log.
fn rule_names(body: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Array(rules)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    rules
        .iter()
        .map(|r| {
            let text = |k| r.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
            text("id").or(text("resource")).unwrap_or("?").to_string()
        })
        .collect()
}

/// `PUT api/v1/rules/<kind>` with a JSON list of rules of that kind: the whole set, loaded
/// all or nothing and saved through the editor.
///
/// Answers 405 when writes are off, 401 without the token, 415 for a body that is not
/// JSON, 413 above [`MAX_BODY_BYTES`], 404 for an unknown kind, 422 naming each bad rule
/// and field (nothing changed), 409 when the stored rules changed since they were read,
/// 500 when they could not be saved (nothing changed), 200 with what changed.
pub(super) async fn put_rules(
    State(d): State<Arc<Dashboard>>,
    Path(kind): Path<String>,
    request: Request,
) -> Response {
    let Some(writes) = &d.writes else {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "writes are off: the dashboard was started without a write token",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    };
    let (parts, body) = request.into_parts();
    if !writes.authorized(&parts.headers) {
        return unauthorized();
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be a JSON list of rules (Content-Type: application/json)",
        );
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a rule set may have at most {MAX_BODY_BYTES} bytes"),
        );
    };
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let editor = writes.editor.clone();
    let kind_for_edit = kind.clone();
    let body_for_edit = body.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        editor.replace(&kind_for_edit, &body_for_edit, Format::Json)
    })
    .await;
    let rules = rule_names(&body);
    match outcome {
        Ok(Ok(applied)) => {
            let k = applied.kinds.first();
            tracing::info!(%kind, rules = ?rules, %remote, changes = %applied, "dashboard write accepted");
            Json(Written {
                kind,
                rules: k.map_or(0, |k| k.rules),
                added: k.map_or(0, |k| k.added),
                removed: k.map_or(0, |k| k.removed),
                modified: k.map_or(0, |k| k.modified),
                persisted: writes.editor.persisted(),
            })
            .into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(%kind, rules = ?rules, %remote, error = %e, "dashboard write refused");
            refusal(e)
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the write failed: {e}"),
        ),
    }
}

/// The answer to a refused edit.
fn refusal(e: EditError) -> Response {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match e {
        EditError::Invalid(_) | EditError::Unreadable(_) => {
            let errors: Vec<Problem> = e
                .problems()
                .iter()
                .map(|p| Problem {
                    rule: format!("#{}", p.index),
                    resource: non_empty(&p.resource),
                    field: non_empty(&p.field),
                    message: p.reason.clone(),
                })
                .collect();
            let body = serde_json::json!({ "error": e.to_string(), "errors": errors });
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        EditError::UnknownKind { .. } => error(StatusCode::NOT_FOUND, e.to_string()),
        EditError::Conflict { .. } => error(StatusCode::CONFLICT, e.to_string()),
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}
