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
use super::api::{error, section_of};
use super::version::Versions;

/// Largest rule set accepted, bytes of JSON.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The write token and where writes go.
pub(super) struct Writes {
    pub(super) token: Box<[u8]>,
    pub(super) editor: RuleEditor,
    /// Held from the version check to the end of the edit, so that two writes of the
    /// same version cannot both pass.
    pub(super) serial: tokio::sync::Mutex<()>,
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
    version: Option<String>,
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

/// The answer to a request without the write token, logged with where it came from.
fn unauthorized(remote: &str, kind: &str) -> Response {
    tracing::warn!(%kind, %remote, "dashboard write without the right token refused");
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "a write needs the header `Authorization: Bearer <token>` with the dashboard's write token",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Where a request came from, when the server tells (`ConnectInfo`).
fn remote_of(parts: &axum::http::request::Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.to_string())
}

/// `PUT api/v1/rules/<kind>` with a JSON list of rules of that kind: the whole set, loaded
/// all or nothing and saved through the editor, if the rules in force are still the
/// version named by `If-Match` (from `GET api/v1/rules`; `*` for any).
///
/// Answers 405 when writes are off, 401 without the token, 415 for a body that is not
/// JSON, 413 above [`MAX_BODY_BYTES`], 404 for an unknown kind, 428 without `If-Match`,
/// 409 when the rules in force are not the version named (someone saved, a hand edit or
/// an etcd put was loaded) or the stored rules hold content not loaded yet, 422 naming
/// each bad rule and field (nothing changed), 500 when they could not be saved (nothing
/// changed), 200 with what changed and the kind's new version.
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
    let remote = remote_of(&parts);
    if !writes.authorized(&parts.headers) {
        return unauthorized(&remote, &kind);
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
    let section = section_of(&kind);
    let _serial = writes.serial.lock().await;
    let versions = match Versions::now(&d) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let Some(current) = versions.of(section).map(str::to_string) else {
        let known: Vec<&String> = versions.kinds.keys().collect();
        return error(
            StatusCode::NOT_FOUND,
            format!("no rule kind `{kind}`: one of {known:?}"),
        );
    };
    let Ok(if_match) = parts
        .headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(|v| v.to_str())
        .collect::<Result<Vec<&str>, _>>()
    else {
        return error(StatusCode::BAD_REQUEST, "`If-Match` must be visible ASCII");
    };
    if if_match.is_empty() {
        return error(
            StatusCode::PRECONDITION_REQUIRED,
            format!(
                "send `If-Match` with the version the new set was built on (`versions.{section}` \
                 of GET api/v1/rules, now \"{current}\"), or `*` to replace whatever is in force"
            ),
        );
    }
    if !versions.matches(section, &if_match) {
        let if_match = if_match.join(", ");
        tracing::warn!(%kind, %remote, if_match, current, "dashboard write on stale rules refused");
        let body = serde_json::json!({
            "error": format!(
                "the {section} rules in force changed since version {if_match} was read \
                 (someone saved, or a hand edit or a store update was loaded); read them again \
                 and apply the change to them"
            ),
            "current": current,
        });
        return (StatusCode::CONFLICT, Json(body)).into_response();
    }
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
            let version = Versions::now(&d)
                .ok()
                .and_then(|v| v.of(section).map(str::to_string));
            Json(Written {
                kind: section.to_string(),
                rules: k.map_or(0, |k| k.rules),
                added: k.map_or(0, |k| k.added),
                removed: k.map_or(0, |k| k.removed),
                modified: k.map_or(0, |k| k.modified),
                persisted: writes.editor.persisted(),
                version,
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
