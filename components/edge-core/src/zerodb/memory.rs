//! `…/database/memory`: a project's memory records (create, list, get,
//! update, delete, and search by embedding), stored with the v1 API's
//! memory records. `agent_id` and `session_id` are UUIDs, as ZeroDB
//! requires; a record written without a session belongs to the nil UUID's.

use super::error::{At, Result};
use super::params::{limit, Query};
use super::route::is_uuid;
use super::wire::{self, MemoryIn, MemorySearch, MemoryUpdate};
use super::{deleted, ok, Context};
use crate::error::{code, ApiError};
use crate::model::*;
use crate::origin::Origin;
use crate::validate::{self, MAX_BATCH, MAX_CONTENT_BYTES};
use crate::Response;
use serde_json::{json, Value};

/// The session of a record written without one.
const NO_SESSION: &str = "00000000-0000-0000-0000-000000000000";

/// The roles ZeroDB accepts.
const ROLES: [&str; 3] = ["user", "assistant", "system"];

fn uuid_field(name: &str, value: &Option<String>, loc: &str) -> Result<()> {
    match value {
        Some(v) if !is_uuid(v) => {
            Err(ApiError::new(code::INVALID_ID, format!("{name} must be a UUID"))).at(&[loc, name])
        }
        _ => Ok(()),
    }
}

fn role(value: &Option<String>, loc: &str) -> Result<()> {
    match value {
        Some(r) if !ROLES.contains(&r.as_str()) => Err(ApiError::new(
            code::INVALID_REQUEST,
            format!("role must be one of {ROLES:?}"),
        ))
        .at(&[loc, "role"]),
        _ => Ok(()),
    }
}

fn metadata(value: &Option<Value>) -> Result<Option<String>> {
    match value {
        Some(Value::Null) | None => Ok(None),
        Some(m) => Ok(Some(validate::metadata(m).at(&["body", "memory_metadata"])?)),
    }
}

fn embedding(value: &Option<Vec<f32>>) -> Result<()> {
    if let Some(values) = value {
        validate::vector(values, None).at(&["body", "embedding"])?;
        validate::vector_for_metric(values, Metric::Cosine).at(&["body", "embedding"])?;
    }
    Ok(())
}

/// A missing record, as ZeroDB words it.
fn not_found(e: ApiError) -> ApiError {
    if e.code == code::MEMORY_NOT_FOUND.name {
        ApiError::new(code::MEMORY_NOT_FOUND, "Memory not found")
    } else {
        e
    }
}

/// `POST …/database/memory`: stores a record; answers it as stored.
pub async fn create<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let memory: MemoryIn = validate::json_body(body)?;
    if let Some(id) = &memory.memory_id {
        validate::id("memory_id", id).at(&["body", "memory_id"])?;
    }
    validate::text("content", &memory.content, MAX_CONTENT_BYTES).at(&["body", "content"])?;
    uuid_field("agent_id", &memory.agent_id, "body")?;
    uuid_field("session_id", &memory.session_id, "body")?;
    role(&memory.role, "body")?;
    embedding(&memory.embedding)?;
    let new = NewMemory {
        id: memory.memory_id,
        session_id: memory.session_id.unwrap_or_else(|| NO_SESSION.into()),
        agent_id: memory.agent_id,
        role: memory.role.unwrap_or_else(|| "user".into()),
        content: memory.content,
        embedding: memory.embedding,
        metadata: metadata(&memory.memory_metadata)?.unwrap_or_else(|| "{}".into()),
    };
    let record = ctx.served.origin(ctx.session.put_memory(new)).await?;
    ok(wire::memory(&ctx.project, &record))
}

/// `GET …/database/memory?skip&limit&session_id&agent_id&role`: newest
/// first, in the `data` envelope with `total`, `skip`, `limit`, `has_more`.
pub async fn list<S: Origin>(ctx: &mut Context<'_, S>, query: &Query<'_>) -> Result<Response> {
    let given = query.number("limit", MAX_BATCH as u64)?.map(|n| n as i64);
    let limit = limit(given, 100, MAX_BATCH as i64, &["query", "limit"])?;
    let skip = query.number("skip", u64::from(u32::MAX))?.unwrap_or(0) as u32;
    let (session_id, agent_id, role_name) = (query.text("session_id")?, query.text("agent_id")?, query.text("role")?);
    uuid_field("session_id", &session_id, "query")?;
    uuid_field("agent_id", &agent_id, "query")?;
    role(&role_name, "query")?;
    let page = MemoryList {
        skip,
        limit,
        session_id,
        agent_id,
        role: role_name,
    };
    let found = ctx.served.origin(ctx.session.list_memory(&page)).await?;
    let data: Vec<_> = found.records.iter().map(|r| wire::memory(&ctx.project, r)).collect();
    let has_more = u64::from(skip) + (data.len() as u64) < found.total;
    ok(json!({"data": data, "total": found.total, "skip": skip, "limit": limit, "has_more": has_more}))
}

/// `GET …/database/memory/{memory_id}`.
pub async fn get<S: Origin>(ctx: &mut Context<'_, S>, id: &str) -> Result<Response> {
    validate::id("memory_id", id).at(&["path", "memory_id"])?;
    let record = ctx.served.origin(ctx.session.get_memory(id)).await.map_err(not_found)?;
    ok(wire::memory(&ctx.project, &record))
}

/// `PUT …/database/memory/{memory_id}`: the fields given replace the
/// stored ones; answers the record as stored.
pub async fn update<S: Origin>(ctx: &mut Context<'_, S>, id: &str, body: &[u8]) -> Result<Response> {
    validate::id("memory_id", id).at(&["path", "memory_id"])?;
    let update: MemoryUpdate = validate::json_body(body)?;
    if let Some(content) = &update.content {
        validate::text("content", content, MAX_CONTENT_BYTES).at(&["body", "content"])?;
    }
    uuid_field("agent_id", &update.agent_id, "body")?;
    uuid_field("session_id", &update.session_id, "body")?;
    role(&update.role, "body")?;
    embedding(&update.embedding)?;
    let patch = MemoryPatch {
        metadata: metadata(&update.memory_metadata)?,
        session_id: update.session_id,
        agent_id: update.agent_id,
        role: update.role,
        content: update.content,
        embedding: update.embedding,
    };
    // One statement at the origin: a concurrent update keeps its own fields,
    // and a concurrent delete is not undone.
    let record = ctx
        .served
        .origin(ctx.session.update_memory(id, &patch))
        .await
        .map_err(not_found)?;
    ok(wire::memory(&ctx.project, &record))
}

/// `DELETE …/database/memory/{memory_id}`.
pub async fn delete<S: Origin>(ctx: &mut Context<'_, S>, id: &str) -> Result<Response> {
    validate::id("memory_id", id).at(&["path", "memory_id"])?;
    ctx.served
        .origin(ctx.session.delete_memory(id))
        .await
        .map_err(not_found)?;
    deleted(json!({"memory_id": id}))
}

/// `POST …/database/memory/search`: the records nearest an embedding (by
/// cosine), optionally of one session, agent or role; `{memories,
/// total_count}`, each record with its `similarity`.
pub async fn search<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let search: MemorySearch = validate::json_body(body)?;
    embedding(&Some(search.embedding.clone()))?;
    uuid_field("agent_id", &search.agent_id, "body")?;
    uuid_field("session_id", &search.session_id, "body")?;
    role(&search.role, "body")?;
    let query = MemoryQuery {
        embedding: search.embedding,
        k: limit(search.limit, 10, 100, &["body", "limit"])?,
        session_id: search.session_id,
        agent_id: search.agent_id,
        role: search.role,
        include_embedding: false,
    };
    let hits = ctx.served.origin(ctx.session.search_memory(&query)).await?;
    let memories: Vec<_> = hits
        .iter()
        .map(|hit| {
            let mut out = wire::memory(&ctx.project, &hit.memory);
            out["similarity"] = json!(hit.score);
            out
        })
        .collect();
    ok(json!({"total_count": memories.len(), "memories": memories}))
}
