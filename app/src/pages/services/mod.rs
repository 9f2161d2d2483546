//! Services: the list, one service with its tasks and history, and the form
//! that creates or changes one.

mod detail;
mod draft;
mod edit;
mod fields;
mod form;
mod ingress;
mod list;
mod revisions;
mod rollout;
mod tasks;
mod webhooks;
mod words;

pub use detail::ServicePage;
pub use edit::{EditServicePage, NewServicePage};
pub use list::{ServiceState, ServicesPage};

/// The service's page, by its id or its name.
pub(crate) fn service_href(id: &str) -> String {
    format!("/services/{id}")
}

/// The `s` of `3 replicas`.
fn plural(count: impl Into<u64>) -> &'static str {
    if count.into() == 1 { "" } else { "s" }
}
