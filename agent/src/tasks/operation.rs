//! The engine work behind each planned operation, step by step, with a
//! report to the driver for every state a task reaches on the way.

use shoal_proto::{
    service::{PullPolicy, TaskState},
    wire::{Assignment, TaskReport},
};
use tokio::sync::mpsc::UnboundedSender;
use tracing::warn;

use super::{
    plan::Operation,
    report::{failure, progress},
    runtime::{Runtime, Status},
};

pub async fn perform<R: Runtime>(runtime: &R, operation: Operation, reports: &UnboundedSender<TaskReport>) {
    match operation {
        Operation::Run(assignment) => run(runtime, &assignment, reports).await,
        Operation::Start {
            task_id,
            container_id,
        } => start(runtime, &task_id, &container_id, reports).await,
        Operation::Stop {
            task_id,
            container_id,
            grace,
        } => {
            // The next look at the container reports the task shut down, or
            // tries again.
            if let Err(error) = runtime.stop(&container_id, grace).await {
                warn!(task = %task_id, container = %container_id, "cannot stop the container: {error}");
            }
        }
        Operation::Remove { task_id, containers } => {
            for container in containers {
                // A task leaving the node still gets its grace period to end
                // cleanly; removal would kill it at once.
                if container.status == Status::Running
                    && let Err(error) = runtime.stop(&container.id, container.stop_grace).await
                {
                    warn!(task = %task_id, container = %container.id, "cannot stop the container: {error}");
                }
                if let Err(error) = runtime.remove(&container.id).await {
                    warn!(task = %task_id, container = %container.id, "cannot remove the container: {error}");
                }
            }
        }
    }
}

async fn run<R: Runtime>(runtime: &R, assignment: &Assignment, reports: &UnboundedSender<TaskReport>) {
    let task_id = assignment.task_id.as_str();
    tell(
        reports,
        progress(task_id, TaskState::Accepted, "accepted by the node"),
    );
    if let Err(rejection) = prepare_image(runtime, assignment, reports).await {
        tell(reports, rejection);
        return;
    }
    // The one guard against a second container for a task: whatever made
    // one (another operation, an agent before a restart), the next look at
    // the engine adopts it.
    match runtime.containers_of(task_id).await {
        Ok(existing) if existing.is_empty() => {}
        Ok(_) => return,
        Err(error) => {
            warn!(task = %task_id, "cannot check for an existing container, will retry: {error}");
            return;
        }
    }
    tell(
        reports,
        progress(task_id, TaskState::Preparing, "creating the container"),
    );
    match runtime.create(assignment).await {
        Ok(container_id) => start(runtime, task_id, &container_id, reports).await,
        Err(error) => tell(
            reports,
            failure(
                task_id,
                TaskState::Failed,
                "cannot create the container",
                error.engine_message(),
            ),
        ),
    }
}

/// Makes sure the image is there as the pull policy asks; the report
/// rejecting the task when it cannot be.
async fn prepare_image<R: Runtime>(
    runtime: &R,
    assignment: &Assignment,
    reports: &UnboundedSender<TaskReport>,
) -> Result<(), TaskReport> {
    let task_id = assignment.task_id.as_str();
    let spec = &assignment.container;
    let image = &spec.image;
    let pull = match spec.pull_policy {
        PullPolicy::Always => true,
        policy => match runtime.has_image(image).await {
            Ok(present) if present || policy == PullPolicy::Missing => !present,
            Ok(_) => {
                return Err(failure(
                    task_id,
                    TaskState::Rejected,
                    format!("image {image} is not on this node"),
                    format!(
                        "image {image} is not on this node and the service's pull_policy is never: \
                         load the image onto the node (docker load or docker pull), or set pull_policy \
                         to missing"
                    ),
                ));
            }
            Err(error) => {
                let message = format!("cannot look up image {image}");
                return Err(failure(
                    task_id,
                    TaskState::Rejected,
                    message,
                    error.engine_message(),
                ));
            }
        },
    };
    if pull {
        tell(
            reports,
            progress(task_id, TaskState::Preparing, format!("pulling {image}")),
        );
        if let Err(error) = runtime.pull(image, spec.registry_auth.as_ref()).await {
            let message = format!("pulling {image} failed");
            return Err(failure(
                task_id,
                TaskState::Rejected,
                message,
                error.engine_message(),
            ));
        }
    }
    Ok(())
}

async fn start<R: Runtime>(
    runtime: &R,
    task_id: &str,
    container_id: &str,
    reports: &UnboundedSender<TaskReport>,
) {
    let of_container = |report: TaskReport| TaskReport {
        container_id: Some(container_id.to_owned()),
        ..report
    };
    tell(
        reports,
        of_container(progress(task_id, TaskState::Starting, "starting the container")),
    );
    // `running`, with the host ports the engine chose and the health, comes
    // from the next look at the container.
    if let Err(error) = runtime.start(container_id).await {
        let message = "cannot start the container";
        tell(
            reports,
            of_container(failure(
                task_id,
                TaskState::Failed,
                message,
                error.engine_message(),
            )),
        );
    }
}

/// Sending fails only once the driver has stopped, and then nobody listens.
fn tell(reports: &UnboundedSender<TaskReport>, report: TaskReport) {
    let _ = reports.send(report);
}
