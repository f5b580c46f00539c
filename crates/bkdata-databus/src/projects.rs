//! Projects (`/v3/meta/projects/`): the owners of dataflows. A project reads the result tables
//! of its biz (`bk_biz_id`, when set) and those granted to it; a grant needs the granting app
//! to own the result table. Projects are visible to the app that created them.
use crate::error::DatabusError;
use crate::rawdata::bk_time;
use bkdata_api::databus::{GrantRequest, ProjectInfo, ProjectRequest};
use bkdata_models::auth::Caller;
use bkdata_models::databus::{Project, ProjectData, ResultTable};
use bkdata_models::schema::{project_data as pd, projects as p, result_tables as rt};
use diesel::prelude::*;
use serde_json::{json, Value};

pub fn view(x: &Project) -> ProjectInfo {
    ProjectInfo {
        project_id: x.project_id,
        project_name: x.project_name.clone(),
        description: x.description.clone(),
        bk_biz_id: x.bk_biz_id,
        bk_app_code: x.bk_app_code.clone(),
        created_by: x.created_by.clone(),
        created_at: Some(bk_time(x.created_at)),
        updated_by: x.updated_by.clone(),
        updated_at: Some(bk_time(x.updated_at)),
    }
}

pub fn data_view(x: &ProjectData) -> Value {
    json!({
        "project_id": x.project_id, "result_table_id": x.result_table_id, "bk_biz_id": x.bk_biz_id,
        "created_by": x.created_by, "created_at": bk_time(x.created_at),
    })
}

fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim)
}

pub fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &ProjectRequest,
) -> Result<Project, DatabusError> {
    let name = text(&req.project_name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DatabusError::field("project_name", "project_name is required"))?;
    if name.chars().count() > 255 {
        return Err(DatabusError::field(
            "project_name",
            "project_name is longer than 255 characters",
        ));
    }
    let biz = req.bk_biz_id;
    let description = text(&req.description).unwrap_or_default();
    let inserted = diesel::insert_into(p::table)
        .values((
            p::project_name.eq(name),
            p::description.eq(description),
            p::bk_biz_id.eq(biz),
            p::bk_app_code.eq(&caller.app_code),
            p::created_by.eq(&caller.username),
            p::updated_by.eq(&caller.username),
        ))
        .on_conflict_do_nothing()
        .returning(Project::as_returning())
        .get_result(conn)
        .optional()?;
    inserted.ok_or_else(|| DatabusError::AlreadyExists(format!("project {name:?} already exists")))
}

pub fn list(conn: &mut PgConnection, caller: &Caller) -> Result<Vec<Project>, DatabusError> {
    Ok(p::table
        .filter(p::bk_app_code.eq(&caller.app_code))
        .order(p::project_id)
        .select(Project::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut PgConnection, caller: &Caller, id: i64) -> Result<Project, DatabusError> {
    p::table
        .find(id)
        .filter(p::bk_app_code.eq(&caller.app_code))
        .select(Project::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DatabusError::NotFound(format!("project {id} does not exist")))
}

/// Grant a result table to a project (`{bk_biz_id, result_table_id}`); granting twice is fine.
pub fn grant(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    req: &GrantRequest,
) -> Result<ProjectData, DatabusError> {
    get(conn, caller, id)?;
    let rt_id = text(&req.result_table_id)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DatabusError::field("result_table_id", "result_table_id is required"))?;
    let table: ResultTable = rt::table
        .find(rt_id)
        .filter(rt::bk_app_code.eq(&caller.app_code))
        .select(ResultTable::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            DatabusError::field(
                "result_table_id",
                format!("result table {rt_id} does not exist or is not yours to grant"),
            )
        })?;
    if let Some(biz) = req.bk_biz_id {
        if biz != table.bk_biz_id {
            return Err(DatabusError::field(
                "bk_biz_id",
                format!(
                    "result table {rt_id} belongs to biz {}, not {biz}",
                    table.bk_biz_id
                ),
            ));
        }
    }
    diesel::insert_into(pd::table)
        .values((
            pd::project_id.eq(id),
            pd::result_table_id.eq(rt_id),
            pd::bk_biz_id.eq(table.bk_biz_id),
            pd::created_by.eq(&caller.username),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(pd::table
        .find((id, rt_id))
        .select(ProjectData::as_select())
        .first(conn)?)
}

pub fn data(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
) -> Result<Vec<ProjectData>, DatabusError> {
    get(conn, caller, id)?;
    Ok(pd::table
        .filter(pd::project_id.eq(id))
        .order(pd::result_table_id)
        .select(ProjectData::as_select())
        .load(conn)?)
}

pub fn revoke(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    rt_id: &str,
) -> Result<(), DatabusError> {
    get(conn, caller, id)?;
    let n = diesel::delete(pd::table.find((id, rt_id))).execute(conn)?;
    if n == 0 {
        return Err(DatabusError::NotFound(format!(
            "result table {rt_id} is not granted to project {id}"
        )));
    }
    Ok(())
}

/// The result table if project `id` may read it: of the project's biz, or granted.
pub fn readable(
    conn: &mut PgConnection,
    project: &Project,
    rt_id: &str,
) -> Result<Option<ResultTable>, DatabusError> {
    let Some(table) = rt::table
        .find(rt_id)
        .select(ResultTable::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if project.bk_biz_id == Some(table.bk_biz_id) {
        return Ok(Some(table));
    }
    let granted: i64 = pd::table
        .filter(pd::project_id.eq(project.project_id))
        .filter(pd::result_table_id.eq(rt_id))
        .count()
        .get_result(conn)?;
    Ok((granted > 0).then_some(table))
}
