//! The one place errors become envelopes: the pipeline API's
//! `{success:false, code, message, error_type, details}` under `/api/v0/`, BKData's
//! `{result:false, data:null, code:"15MMCCC", message, errors}` everywhere else.
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bkdata_api::{BkEnvelope, PipelineErrorBody};
use bkdata_models::error::PlatformError;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
    pub details: Value,
    /// BKData flavour: answer with the BKData envelope and this code.
    pub bk_code: Option<&'static str>,
    /// Refused before any API ran (credentials, body size, no such route), as BKData's API
    /// gateway refuses: the only BKData answers that keep their HTTP status.
    pub gateway: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_type,
            message: message.into(),
            details: json!({}),
            bk_code: None,
            gateway: false,
        }
    }
    /// See [`ApiError::gateway`].
    pub fn at_gateway(mut self) -> Self {
        self.gateway = true;
        self
    }
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn bkdata(mut self, code: &'static str) -> Self {
        self.bk_code = Some(code);
        self
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }
}

/// A handler's blocking task panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        log::error!("blocking task failed: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )
        .bkdata("1500500")
    }
}

/// No database connection for a handler.
impl From<bkdata_models::PoolError> for ApiError {
    fn from(e: bkdata_models::PoolError) -> Self {
        PlatformError::from(e).into()
    }
}

/// The one mapping of the platform's error: each kind's HTTP status and `error_type` (the
/// pipeline API's envelope) and its BKData code (BKData's envelope, answered with HTTP 200).
/// `for_path` keeps the envelope of the path that answers.
impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        use PlatformError as P;
        let msg = e.to_string();
        match e {
            P::Validation { errors, .. } => Self::validation(msg).details(errors).bkdata("1500400"),
            P::CleanConfig { errors, .. } => {
                Self::validation(msg).details(errors).bkdata("1570001")
            }
            P::Dependency { details, .. } => {
                Self::new(StatusCode::BAD_REQUEST, "dependency_error", msg)
                    .details(details)
                    .bkdata("1500400")
            }
            P::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", msg).bkdata("1500004"),
            P::AlreadyExists(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", msg).bkdata("1500005")
            }
            P::Conflict { details, .. } => Self::new(StatusCode::CONFLICT, "conflict", msg)
                .details(details)
                .bkdata("1500005"),
            P::TooLarge { limit, .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", msg)
                    .details(json!({"limit": limit}))
                    .bkdata("1500413")
            }
            P::Unavailable { details, .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", msg)
                    .details(details)
                    .bkdata("1500503")
            }
            P::Internal(_) => {
                log::error!("internal error: {msg}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", msg)
                    .bkdata("1500500")
            }
            P::Denied { code, .. } => {
                Self::new(StatusCode::FORBIDDEN, "permission_denied", msg).bkdata(code)
            }
        }
    }
}

impl From<bkdata_alert::store::AlertError> for ApiError {
    fn from(e: bkdata_alert::store::AlertError) -> Self {
        PlatformError::from(e).into()
    }
}

/// An error answered in the pipeline API's envelope (`/api/v0/`), whatever its kind: the
/// pipeline's handlers answer it, so the platform error they share with the BKData routes
/// keeps its status and `error_type` and drops its BKData code.
#[derive(Debug)]
pub struct PipelineApiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PipelineApiError {
    fn from(e: E) -> Self {
        PipelineApiError(e.into())
    }
}

impl IntoResponse for PipelineApiError {
    fn into_response(self) -> Response {
        ApiError {
            bk_code: None,
            ..self.0
        }
        .into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(code) = self.bk_code {
            // BKData answers every API error with HTTP 200 and the code in the envelope (bklog
            // turns any other status into a transport error and loses the code); only what its
            // gateway refuses keeps a status.
            let status = if self.gateway {
                self.status
            } else {
                StatusCode::OK
            };
            let errors = if self.details == json!({}) {
                None
            } else {
                Some(self.details)
            };
            return (
                status,
                Json(BkEnvelope::<Value>::error(code, self.message, errors)),
            )
                .into_response();
        }
        let body = PipelineErrorBody {
            success: false,
            code: self.status.as_u16(),
            message: self.message,
            error_type: self.error_type.to_string(),
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

pub fn is_pipeline_path(path: &str) -> bool {
    path.starts_with("/api/")
}

/// The BKData code for a status: "15" + module "00" (common) + the status.
pub fn bk_code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "1511401",
        404 => "1500004",
        413 => "1500413",
        503 => "1500503",
        400 => "1500400",
        _ => "1500500",
    }
}

/// Give an error the envelope of the path it answers.
pub fn for_path(e: ApiError, path: &str) -> ApiError {
    if is_pipeline_path(path) {
        ApiError { bk_code: None, ..e }
    } else if e.bk_code.is_some() {
        e
    } else {
        let code = bk_code_for(e.status);
        e.bkdata(code)
    }
}

pub async fn route_not_found(uri: Uri) -> ApiError {
    for_path(
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such endpoint: {}", uri.path()),
        )
        .details(json!({"path": uri.path()}))
        .at_gateway(),
        uri.path(),
    )
}
