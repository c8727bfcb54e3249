//! Why the FHIR facade could not answer a request, as a type: each failure knows the HTTP
//! status and the OperationOutcome issue code its client gets, so no handler picks them
//! from a bare message.

use crate::journal::JournalError;
use axum::http::StatusCode;
use std::fmt;

#[derive(Debug)]
pub(super) enum FacadeError {
    /// The journal could not be opened, read or written.
    Journal(String),
    /// The interface's mapping made a resource that is not JSON.
    Resource(String),
    /// A task reading the journal stopped before it answered.
    Task(String),
    /// The request asks for what this facade does not take (a search parameter).
    Unsupported(String),
    /// A value in the request is not what it must be (`_count`, `If-Match`).
    Invalid(String),
}

impl FacadeError {
    /// The HTTP status the client gets.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            FacadeError::Journal(_) | FacadeError::Resource(_) | FacadeError::Task(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            FacadeError::Unsupported(_) | FacadeError::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The OperationOutcome issue code (FHIR's `IssueType`).
    pub(super) fn code(&self) -> &'static str {
        match self {
            FacadeError::Journal(_) | FacadeError::Resource(_) | FacadeError::Task(_) => {
                "exception"
            }
            FacadeError::Unsupported(_) => "not-supported",
            FacadeError::Invalid(_) => "invalid",
        }
    }
}

impl fmt::Display for FacadeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FacadeError::Journal(why) => write!(f, "the journal: {why}"),
            FacadeError::Resource(why) => write!(f, "a stored record gives no resource: {why}"),
            FacadeError::Task(why) => write!(f, "the request's reader stopped: {why}"),
            FacadeError::Unsupported(why) | FacadeError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FacadeError {}

impl From<crate::journal::db::DbError> for FacadeError {
    fn from(e: crate::journal::db::DbError) -> Self {
        FacadeError::Journal(e.to_string())
    }
}

impl From<JournalError> for FacadeError {
    fn from(e: JournalError) -> Self {
        FacadeError::Journal(e.to_string())
    }
}

impl From<tokio::task::JoinError> for FacadeError {
    fn from(e: tokio::task::JoinError) -> Self {
        FacadeError::Task(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_status_and_issue_code() {
        let cases = [
            (FacadeError::Journal("locked".into()), 500, "exception"),
            (FacadeError::Task("panicked".into()), 500, "exception"),
            (
                FacadeError::Unsupported("`foo`".into()),
                400,
                "not-supported",
            ),
            (FacadeError::Invalid("`_count`".into()), 400, "invalid"),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status().as_u16(), status, "{e}");
            assert_eq!(e.code(), code, "{e}");
        }
        assert_eq!(
            FacadeError::Journal("locked".into()).to_string(),
            "the journal: locked"
        );
    }
}
