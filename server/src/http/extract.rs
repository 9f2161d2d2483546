//! Extractors whose failures speak the API's JSON error format.

use axum::{
    extract::{FromRequest, FromRequestParts, Query, Request, rejection::JsonRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

use shoal_proto::FieldError;

use crate::{auth::Caller, error::AppError};

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AppError::Internal("the authentication layer did not run for this route".into()))
    }
}

/// A JSON body; malformed, mistyped or oversized bodies become a 4xx that
/// says what is wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            AppError::BadRequest("send the body as JSON with `Content-Type: application/json`".into())
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::TooLarge("the request body is too large".into())
        }
        JsonRejection::JsonDataError(error) => match field_error(&error) {
            Some(invalid) => AppError::Invalid(invalid),
            None => AppError::BadRequest(format!("invalid JSON body: {}", error.body_text())),
        },
        other => AppError::BadRequest(format!("invalid JSON body: {}", other.body_text())),
    }
}

/// The field a body's value was wrong for (`replicas`, `ports[0].target`),
/// so the error can point at it like a validation error does.
fn field_error(error: &axum::extract::rejection::JsonDataError) -> Option<FieldError> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(located) = cause.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            let field = located.path().to_string();
            if field == "." {
                return None;
            }
            let message = located.inner().to_string();
            // serde_json appends where in the text it was; the field says it better.
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            return Some(FieldError::new(field, message));
        }
        source = cause.source();
    }
    None
}

/// Query parameters, with the same treatment as [`ApiJson`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| AppError::BadRequest(format!("invalid query: {}", rejection.body_text())))
    }
}
