//! Building console addresses. Pure functions, so the server render and the
//! browser produce the same links.

/// Percent-encodes a query value (like JavaScript's `encodeURIComponent`,
/// but keeping `/` readable: it is harmless in a query).
pub fn encode_component(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `path?key=value&…`, leaving out empty values.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", encode_component(value)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Where to go after logging in: `next` when it is a path on this console,
/// else the dashboard. Anything else would make the login page an open
/// redirect (`//evil.example`, `/\evil.example` and `https://…` all leave
/// the site).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && !path.starts_with("/login") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The login page, coming back to `here` afterwards.
pub fn login_then(here: &str) -> String {
    with_query("/login", &[("next", here)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            encode_component("/audit?actor=a b&x=ü"),
            "/audit%3Factor%3Da%20b%26x%3D%C3%BC"
        );
        assert_eq!(
            with_query("/audit", &[("actor", "alice"), ("action", ""), ("before", "42")]),
            "/audit?actor=alice&before=42"
        );
        assert_eq!(with_query("/audit", &[("actor", "")]), "/audit");
        assert_eq!(login_then("/users"), "/login?next=/users");
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/users")), "/users");
        assert_eq!(local_path(Some("/audit?actor=alice")), "/audit?actor=alice");
        for outside in [
            None,
            Some(""),
            Some("users"),
            Some("//evil.example/"),
            Some("/\\evil.example"),
            Some("https://evil.example"),
            Some("/\tevil"),
            Some("/login?next=/users"),
        ] {
            assert_eq!(local_path(outside), "/", "{outside:?}");
        }
    }
}
