use shoal_proto::auth::{AUDIT_PAGE_MAX, AuditEntry, AuditPage, AuditQuery};
use sqlx::{QueryBuilder, Row};

use super::{Store, StoreError, now_millis};

/// One audit record before it is written.
pub struct NewAuditEntry<'a> {
    pub actor_kind: &'a str,
    pub actor_id: Option<&'a str>,
    pub actor_name: Option<&'a str>,
    pub source: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: &'a serde_json::Value,
}

impl Store {
    pub async fn append_audit(&self, entry: NewAuditEntry<'_>) -> Result<(), StoreError> {
        Ok(sqlx::query(
            "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, source, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(now_millis())
        .bind(entry.actor_kind)
        .bind(entry.actor_id)
        .bind(entry.actor_name)
        .bind(entry.source)
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.detail.to_string())
        .execute(&self.pool)
        .await
        .map(drop)?)
    }

    /// Newest first, filtered, one page at a time (keyset pagination on id).
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let limit = query.limit.unwrap_or(50).clamp(1, AUDIT_PAGE_MAX);
        let mut sql = QueryBuilder::new(
            "SELECT id, at, actor_kind, actor_id, actor_name, source, action, target, detail FROM audit_log WHERE 1 = 1",
        );
        if let Some(actor) = &query.actor {
            sql.push(" AND (actor_id = ").push_bind(actor.clone());
            sql.push(" OR actor_name = ").push_bind(actor.clone()).push(")");
        }
        if let Some(action) = &query.action {
            if action.ends_with('.') {
                // A prefix match without LIKE, whose wildcards would need escaping.
                sql.push(" AND substr(action, 1, ").push_bind(action.len() as i64);
                sql.push(") = ").push_bind(action.clone());
            } else {
                sql.push(" AND action = ").push_bind(action.clone());
            }
        }
        if let Some(since) = query.since {
            sql.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            sql.push(" AND at <= ").push_bind(until);
        }
        if let Some(before) = query.before {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = sql.build().fetch_all(&self.pool).await?;
        let mut entries = rows
            .iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor_kind: row.try_get("actor_kind")?,
                    actor_id: row.try_get("actor_id")?,
                    actor_name: row.try_get("actor_name")?,
                    source: row.try_get("source")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let next_before = if entries.len() > limit as usize {
            entries.truncate(limit as usize);
            entries.last().map(|entry| entry.id)
        } else {
            None
        };
        Ok(AuditPage { entries, next_before })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn audit_pages_filter_and_continue() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        for n in 0..5 {
            let action = if n % 2 == 0 {
                "user.create"
            } else {
                "session.login"
            };
            store
                .append_audit(NewAuditEntry {
                    actor_kind: "user",
                    actor_id: Some("u1"),
                    actor_name: Some("alice"),
                    source: None,
                    action,
                    target: Some(&format!("t{n}")),
                    detail: &serde_json::json!({ "n": n }),
                })
                .await
                .unwrap();
        }
        let first = store
            .audit_page(&AuditQuery {
                action: Some("user.".into()),
                limit: Some(2),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(first.entries.len(), 2);
        assert!(first.entries.iter().all(|e| e.action == "user.create"));
        assert_eq!(first.entries[0].detail["n"], 4);
        let rest = store
            .audit_page(&AuditQuery {
                action: Some("user.".into()),
                before: first.next_before,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rest.entries.len(), 1);
        assert_eq!(rest.next_before, None);
        let nobody = store
            .audit_page(&AuditQuery {
                actor: Some("' OR 1=1 --".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(nobody.entries.is_empty());
    }
}
