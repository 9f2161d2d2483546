use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::error::AppError;

/// Every REST error, as `{"error": {"code": …, "message": …}}` with its
/// status; field errors also name the field.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code(), "message": self.public_message() });
        if let AppError::Invalid(field) = &self {
            error["field"] = json!(field.field);
        }
        let mut response = (self.status(), Json(json!({ "error": error }))).into_response();
        if let AppError::Throttled { retry_after_secs, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
