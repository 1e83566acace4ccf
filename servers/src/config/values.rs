//! Value parsers: durations, sizes, counts, listen addresses, base URLs and origins, with the messages the problem list shows.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;

/// Parses a duration such as `30s`, `5m`, `90d` or `1h 30m`.
///
/// # Errors
/// The message for a malformed duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like `30s`, `5m` or `90d`: {e}"))
}

/// Parses a byte size: a number of bytes, or with a unit `KiB`, `MiB`, `GiB` (1024-based) or
/// `KB`, `MB`, `GB` (1000-based), e.g. `1MiB`, `512KiB`, `2000000`.
///
/// # Errors
/// The message for a malformed or zero size.
pub fn parse_byte_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let unit = unit.trim();
    let bad = || format!("`{s}` is not a size like `1MiB`, `512KiB` or a number of bytes");
    let n: usize = digits.parse().map_err(|_| bad())?;
    let factor: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    match n.checked_mul(factor) {
        Some(0) => Err(format!("`{s}` must be more than zero bytes")),
        Some(v) => Ok(v),
        None => Err(bad()),
    }
}

/// The longest `KISUM_REQUEST_TIMEOUT`: 10 minutes.
pub(super) const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// The largest `KISUM_EVENTS_STREAM_MAX_LEN`.
pub(super) const MAX_EVENTS_STREAM_LEN: usize = 100_000_000;
/// The largest `KISUM_MAX_CONCURRENT_REQUESTS`.
pub(super) const MAX_CONCURRENT_REQUESTS: usize = 100_000;
/// The longest `KISUM_ACCESS_CACHE_TTL` (5 minutes): it is the staleness bound of access
/// decisions without Redis (ARCHITECTURE.md, *Caching, invalidation, freshness*), so a longer one
/// would let a revoked grant keep working for that long.
pub const MAX_ACCESS_CACHE_TTL: Duration = Duration::from_secs(300);

/// A count from 1 to `max`.
pub(super) fn parse_count(s: &str, max: usize) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a count"))?;
    if n == 0 || n > max {
        return Err(format!("must be between 1 and {max} (`{s}`)"));
    }
    Ok(n)
}

pub(super) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an address like `127.0.0.1:8080` or `[::]:8080`"))
}

/// An `http(s)://` base URL without query or fragment; returns it without a trailing slash.
pub(super) fn parse_base_url(s: &str) -> Result<String, String> {
    let bad = || format!("`{s}` is not an `http://` or `https://` URL");
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ']) || host.contains('@') {
        return Err(bad());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// Whether the host of an `http(s)://` URL is loopback: `localhost`, `127.0.0.0/8` or `::1`.
pub(super) fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        // `[::1]:8081`
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Production refuses a plain `http://` URL to another host for `setting`: what crosses it
/// (a service key, the keys that verify every token) would travel in clear.
pub(super) fn refuse_plain_http(
    p: &mut Problems,
    mode: Option<Mode>,
    setting: &'static str,
    url: Option<&str>,
    what: &str,
) {
    if mode == Some(Mode::Production)
        && let Some(url) = url
        && url.starts_with("http://")
        && !is_loopback_url(url)
    {
        p.add(
            setting,
            format!(
                "an `http://` URL to another host is refused in production mode: {what} would \
                 cross the network in clear; use `https://` (a TLS-terminating proxy in front of \
                 the listener) or a loopback address; on a private network you trust, set \
                 KISUM_INTERNAL_PLAIN_HTTP=true"
            ),
        );
    }
}

/// A CORS origin: `scheme://host[:port]`, nothing after.
pub(super) fn parse_origin(s: &str) -> Result<HeaderValue, String> {
    let bad = || {
        format!(
            "`{s}` is not an origin like `https://app.example.com` (scheme, host and port only; no `*`)"
        )
    };
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '*', '@', ' ']) || !rest.is_ascii() {
        return Err(bad());
    }
    HeaderValue::from_str(s).map_err(|_| bad())
}

/// A lifetime as the settings write it, in its largest whole unit: `7d`, `10m`, `0s`; the text
/// form of the crates' default lifetimes in `--help` (negative lifetimes read as `0s`).
#[must_use]
pub fn delta_text(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_byte_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_byte_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_byte_size("2000"), Ok(2000));
        assert_eq!(parse_byte_size("1MB"), Ok(1_000_000));
        assert!(parse_byte_size("0").is_err());
        assert!(parse_byte_size("1XB").is_err());
        assert!(parse_byte_size("99999999999999999999GiB").is_err());
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
    }
}
