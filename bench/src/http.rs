//! HTTP load with `wrk`: requests per second and p99 latency for one route.

use anyhow::{Context, bail};
use std::process::Command;

pub const CONNECTIONS: u32 = 64;
pub const WRK_SECONDS: u32 = 10;

/// Runs wrk at [`CONNECTIONS`]; returns (requests/s, p99 ms).
pub fn wrk(base: &str, path: &str, bearer: Option<&str>, post_body: Option<&str>) -> anyhow::Result<(f64, f64)> {
    wrk_at(CONNECTIONS, base, path, bearer, post_body)
}

/// Runs wrk with `connections` open; returns (requests/s, p99 ms).
pub fn wrk_at(
    connections: u32,
    base: &str,
    path: &str,
    bearer: Option<&str>,
    post_body: Option<&str>,
) -> anyhow::Result<(f64, f64)> {
    wrk_with(connections, base, path, bearer, post_body.map(|b| ("POST", b)))
}

/// Runs wrk with `connections` open, sending `body` with `method` when given;
/// returns (requests/s, p99 ms).
pub fn wrk_with(
    connections: u32,
    base: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<(&str, &str)>,
) -> anyhow::Result<(f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{WRK_SECONDS}s"),
        "--latency",
    ]);
    if let Some(token) = bearer {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let script;
    if let Some((method, body)) = body {
        script = std::env::temp_dir().join(format!("kttipay-bench-{}.lua", std::process::id()));
        let lua = format!(
            "wrk.method = \"{method}\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             local bad = 0\nresponse = function(status) if status ~= 200 then bad = bad + 1 end end\n\
             done = function() if bad > 0 then io.stderr:write(bad .. \" non-200 responses\\n\") end end\n"
        );
        std::fs::write(&script, lua)?;
        cmd.args(["-s", script.to_str().context("temp path")?]);
    }
    cmd.arg(format!("{base}{path}"));
    let out = cmd.output().context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("Non-2xx") {
        bail!(
            "wrk on {path} failed or saw errors:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .context("wrk printed no Requests/sec")?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| parse_duration_ms(v.trim()))
        .context("wrk printed no 99% latency")?;
    Ok((rps, p99))
}

fn parse_duration_ms(v: &str) -> f64 {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * factor
}
