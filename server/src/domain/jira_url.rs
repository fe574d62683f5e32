//! Which Jira URLs the service will talk to, and their normal form.
use std::net::IpAddr;

/// The longest Jira base URL accepted.
pub const MAX_LEN: usize = 2048;

/// Why a Jira URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// Not an absolute http(s) URL with a host.
    #[error("must be an absolute https:// URL such as https://acme.atlassian.net")]
    Malformed,
    /// Longer than any Jira site's base URL (the stored column and logs stay bounded).
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    /// Credentials inside the URL would be logged and sent in the clear.
    #[error("must not contain a user name or password")]
    UserInfo,
    /// http://, or a loopback, private or link-local host, without the insecure allowance.
    #[error("{0} is only allowed when the server runs with NORTHSTAR_ALLOW_INSECURE_JIRA")]
    Insecure(&'static str),
}

/// Normalizes a Jira base URL: scheme and host lower-cased, default port, query, fragment and
/// trailing slash dropped. A path is kept, for the `api.atlassian.com/ex/jira/<cloud id>` form
/// that scoped tokens need. http:// and hosts on loopback, private or link-local addresses are
/// refused unless `allow_insecure` (simulators and tests).
pub fn normalize(input: &str, allow_insecure: bool) -> Result<String, UrlProblem> {
    if input.len() > MAX_LEN {
        return Err(UrlProblem::TooLong);
    }
    let url = url::Url::parse(input.trim()).map_err(|_| UrlProblem::Malformed)?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(UrlProblem::Malformed);
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or(UrlProblem::Malformed)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::UserInfo);
    }
    if !allow_insecure {
        if url.scheme() == "http" {
            return Err(UrlProblem::Insecure("http://"));
        }
        if is_internal_host(host) {
            return Err(UrlProblem::Insecure("a loopback or private address"));
        }
    }
    let mut out = format!("{}://{}", url.scheme(), host.to_ascii_lowercase());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(url.path().trim_end_matches('/'));
    Ok(out)
}

fn is_internal_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast()
        }
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (ip.segments()[0] & 0xffc0) == 0xfe80 // link local
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_cloud_urls() {
        assert_eq!(normalize(" https://Acme.Atlassian.net/ ", false).unwrap(), "https://acme.atlassian.net");
        assert_eq!(normalize("https://acme.atlassian.net/?x=1#f", false).unwrap(), "https://acme.atlassian.net");
        assert_eq!(
            normalize("https://api.atlassian.com/ex/jira/abc-123/", false).unwrap(),
            "https://api.atlassian.com/ex/jira/abc-123"
        );
        assert_eq!(normalize("https://jira.example.com:8443", false).unwrap(), "https://jira.example.com:8443");
    }

    #[test]
    fn refuses_what_it_should() {
        assert_eq!(normalize("acme.atlassian.net", false), Err(UrlProblem::Malformed));
        assert_eq!(normalize("ftp://acme", false), Err(UrlProblem::Malformed));
        assert_eq!(normalize("https://u:p@acme.atlassian.net", false), Err(UrlProblem::UserInfo));
        let long = format!("https://acme.atlassian.net/{}", "x".repeat(MAX_LEN));
        assert_eq!(normalize(&long, false), Err(UrlProblem::TooLong));
        assert!(matches!(normalize("http://acme.atlassian.net", false), Err(UrlProblem::Insecure(_))));
        for internal in [
            "https://127.0.0.1",
            "https://localhost:8080",
            "https://10.1.2.3",
            "https://[::1]",
            "https://169.254.169.254",
            "https://192.168.0.1",
        ] {
            assert!(matches!(normalize(internal, false), Err(UrlProblem::Insecure(_))), "{internal}");
            assert!(normalize(internal, true).is_ok(), "{internal}");
        }
        assert_eq!(normalize("http://127.0.0.1:8090", true).unwrap(), "http://127.0.0.1:8090");
    }
}
