//! Deliveries to a webhook's URL: a registry push or a CI job asking to roll
//! a service to a new image. Each is authenticated (secret, then signature),
//! rate limited, parsed, decided, and recorded whatever its outcome.

pub mod decide;
pub mod gate;
pub mod payload;
pub mod rate;
pub mod signature;

use std::{net::IpAddr, time::Instant};

use http::StatusCode;
use shoal_proto::webhook::{Delivery, DeliveryReceipt, Outcome, Webhook};

use self::decide::Decision;
use crate::{
    auth::{Actor, ActorKind, Caller, secret},
    ctx::Ctx,
    error::AppError,
    ops::services,
    store::{WebhookRecord, now_millis},
};
use shoal_proto::auth::Role;

/// Bodies bigger than this are refused unread: real payloads are a few KiB.
pub const BODY_LIMIT: usize = 256 * 1024;

/// A delivery as the HTTP layer hands it over.
pub struct Inbound<'a> {
    pub webhook_id: &'a str,
    pub source: Option<IpAddr>,
    /// From `Authorization: Bearer` or `?token=`.
    pub secret: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub github_event: Option<&'a str>,
    /// From `X-GitHub-Delivery` or `X-Delivery-Id`.
    pub delivery_id: Option<&'a str>,
    /// `None` when the body was over [`BODY_LIMIT`].
    pub body: Option<&'a [u8]>,
}

/// What the sender is told.
pub struct Answer {
    pub status: StatusCode,
    pub receipt: DeliveryReceipt,
    pub retry_after_secs: Option<u64>,
}

/// A delivery's result before it is recorded.
struct Verdict {
    status: StatusCode,
    outcome: Outcome,
    reason: String,
    format: Option<&'static str>,
    delivery_id: Option<String>,
    image: Option<String>,
    revision: Option<u64>,
    rollout_id: Option<String>,
    retry_after_secs: Option<u64>,
}

impl Verdict {
    fn refused(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            outcome: Outcome::Refused,
            reason: reason.into(),
            format: None,
            delivery_id: None,
            image: None,
            revision: None,
            rollout_id: None,
            retry_after_secs: None,
        }
    }
}

/// Unknown webhooks (404) and requests without the webhook's secret (401,
/// 429) are answered as errors and not recorded; everything else is
/// answered with a receipt and recorded.
pub async fn deliver(ctx: &Ctx, inbound: Inbound<'_>) -> Result<Answer, AppError> {
    let Some(webhook) = ctx.store.webhook(inbound.webhook_id).await? else {
        return Err(AppError::NotFound(format!(
            "no webhook {}: it was deleted, or the URL is mistyped",
            inbound.webhook_id
        )));
    };
    let verdict = judge(ctx, &webhook, &inbound).await?;
    let delivery = Delivery {
        id: secret::new_id(),
        webhook_id: webhook.webhook.id.clone(),
        received_at: now_millis(),
        source: inbound
            .source
            .map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        delivery_id: verdict.delivery_id.clone(),
        format: verdict.format.map(str::to_owned),
        status: verdict.status.as_u16(),
        outcome: verdict.outcome,
        reason: verdict.reason.clone(),
        image: verdict.image.clone(),
        rollout_id: verdict.rollout_id.clone(),
    };
    ctx.store.insert_delivery(&delivery).await?;
    if verdict.outcome == Outcome::Refused {
        tracing::info!(webhook = %webhook.webhook.id, status = %verdict.status, reason = %verdict.reason, "webhook delivery refused");
    }
    Ok(Answer {
        status: verdict.status,
        receipt: DeliveryReceipt {
            delivery: delivery.id,
            outcome: verdict.outcome,
            message: verdict.reason,
            image: verdict.image,
            revision: verdict.revision,
            status_url: verdict
                .rollout_id
                .as_ref()
                .map(|id| format!("/api/v1/rollouts/{id}")),
            rollout_id: verdict.rollout_id,
        },
        retry_after_secs: verdict.retry_after_secs,
    })
}

async fn judge(ctx: &Ctx, record: &WebhookRecord, inbound: &Inbound<'_>) -> Result<Verdict, AppError> {
    let webhook = &record.webhook;
    let now = Instant::now();
    if !inbound
        .secret
        .is_some_and(|given| secret::matches(given, &record.secret_hash))
    {
        return Err(unauthenticated(ctx, webhook, inbound, now));
    }
    if let Err(wait) = ctx.hooks.rate.take(&webhook.id, now) {
        let secs = wait.as_secs().max(1);
        let mut verdict = Verdict::refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many deliveries to this webhook; try again in {secs} s"),
        );
        verdict.retry_after_secs = Some(secs);
        return Ok(verdict);
    }
    if !webhook.enabled {
        return Ok(Verdict::refused(
            StatusCode::FORBIDDEN,
            format!(
                "webhook {:?} is disabled; enable it on the service's page or with PATCH /api/v1/webhooks/{}",
                webhook.name, webhook.id
            ),
        ));
    }
    let Some(body) = inbound.body else {
        return Ok(Verdict::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is over {} KiB; webhook payloads are small JSON documents",
                BODY_LIMIT / 1024
            ),
        ));
    };
    if let Some(key) = &record.signing_secret
        && let Err(error) = signature::verify(key, inbound.signature, body)
    {
        return Ok(Verdict::refused(StatusCode::UNAUTHORIZED, error.to_string()));
    }
    let payload = match payload::parse(body, inbound.github_event) {
        Ok(payload) => payload,
        Err(error) => return Ok(Verdict::refused(StatusCode::BAD_REQUEST, error.to_string())),
    };
    let _one_at_a_time = ctx.hooks.one_at_a_time().await;
    let Some(service) = ctx.store.find_service(&webhook.service_id).await? else {
        return Ok(Verdict::refused(
            StatusCode::GONE,
            "the webhook's service was deleted",
        ));
    };
    let decision = decide::decide(&service.spec.image, &webhook.allow, &payload);
    let format = Some(payload.format.as_str());
    let event_id = match &decision {
        Decision::Deploy { event_id, .. } | Decision::Unchanged { event_id, .. } => event_id.clone(),
        _ => None,
    };
    let delivery_id = inbound.delivery_id.map(str::to_owned).or(event_id);
    let answered = |status, outcome, reason: String, image: Option<String>| Verdict {
        status,
        outcome,
        reason,
        format,
        delivery_id: delivery_id.clone(),
        image,
        revision: None,
        rollout_id: None,
        retry_after_secs: None,
    };
    if matches!(decision, Decision::Deploy { .. } | Decision::Unchanged { .. })
        && let Some(key) = &delivery_id
        && let Some(earlier) = ctx.store.settled_delivery(&webhook.id, key).await?
    {
        let mut verdict = answered(
            StatusCode::OK,
            Outcome::Duplicate,
            format!(
                "delivery {key} was handled already ({}); nothing new was started",
                earlier.outcome.as_str()
            ),
            earlier.image,
        );
        verdict.rollout_id = earlier.rollout_id;
        return Ok(verdict);
    }
    Ok(match decision {
        Decision::Ignored(reason) => answered(StatusCode::OK, Outcome::Ignored, reason, None),
        Decision::NotAllowed { image, reason } => {
            answered(StatusCode::UNPROCESSABLE_ENTITY, Outcome::Refused, reason, image)
        }
        Decision::Unchanged { image, .. } => answered(
            StatusCode::OK,
            Outcome::Unchanged,
            format!("{} runs {image} already; nothing to deploy", service.name),
            Some(image),
        ),
        Decision::Deploy { image, .. } => {
            let mut spec = service.spec.clone();
            spec.image = image.clone();
            let deployed = services::deploy(ctx, &caller(webhook, inbound.source), &service.id, spec).await;
            match deployed {
                Ok(services::Deployed {
                    service: updated,
                    rollout,
                }) => {
                    let mut verdict = answered(
                        StatusCode::ACCEPTED,
                        Outcome::Deployed,
                        format!(
                            "rolling {} out to {image} as revision {}",
                            service.name, updated.revision
                        ),
                        Some(image),
                    );
                    verdict.revision = Some(updated.revision);
                    verdict.rollout_id = rollout.map(|rollout| rollout.id);
                    verdict
                }
                Err(error @ (AppError::Internal(_) | AppError::Database(_) | AppError::Unavailable(_))) => {
                    return Err(error);
                }
                Err(error) => answered(
                    error.status(),
                    Outcome::Refused,
                    format!("the service could not be changed: {}", error.public_message()),
                    Some(image),
                ),
            }
        }
    })
}

/// A request without the right secret: answered as an error and kept out
/// of the delivery history, so guesses cannot push real deliveries (and the
/// record of what they deployed) out of it; logged instead. Guessers are
/// slowed per source address, apart from the webhook's own budget.
fn unauthenticated(ctx: &Ctx, webhook: &Webhook, inbound: &Inbound<'_>, now: Instant) -> AppError {
    let source = inbound
        .source
        .map_or_else(|| "unknown".into(), |ip| ip.to_string());
    tracing::warn!(webhook = %webhook.id, %source, "webhook request without the right secret");
    if let Err(wait) = ctx.hooks.unauthenticated.take(&source, now) {
        let secs = wait.as_secs().max(1);
        return AppError::Throttled {
            message: format!("too many requests without the right secret; try again in {secs} s"),
            retry_after_secs: secs,
        };
    }
    let what = if inbound.secret.is_some() {
        "wrong"
    } else {
        "missing"
    };
    AppError::BadCredentials(format!(
        "{what} webhook secret: send it as Authorization: Bearer <secret> or as ?token=<secret> in the URL"
    ))
}

/// The webhook as the audit log and the revision's author name it.
fn caller(webhook: &Webhook, source: Option<IpAddr>) -> Caller {
    Caller {
        actor: Some(Actor {
            kind: ActorKind::Webhook,
            user_id: webhook.id.clone(),
            username: format!("webhook {}", webhook.name),
            role: Role::Operator,
            token_id: None,
            account: None,
        }),
        source,
        session: None,
    }
}
