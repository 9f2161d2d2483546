use shoal_proto::status::ServerStatus;

use crate::ctx::Ctx;

pub fn status(ctx: &Ctx) -> ServerStatus {
    ServerStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        cluster_id: ctx.cluster_id.to_string(),
        database: ctx.store.kind().display_name().to_owned(),
        uptime_secs: ctx.started.elapsed().as_secs(),
    }
}
