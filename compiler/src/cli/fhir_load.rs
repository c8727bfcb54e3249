//! `accord fhir load`: drives a running production's FHIR API over HTTP/1.1 keep-alive
//! and reports its read throughput (requests per second) and latency percentiles. Several
//! connections each send the same GET, with the bearer token given, and wait for each
//! answer; every status other than 200 is counted and reported, so a refused token is
//! not mistaken for speed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct FhirLoadOptions<'a> {
    /// `http://host:port/path?query`
    pub url: &'a str,
    pub bearer: Option<&'a str>,
    pub connections: usize,
    pub requests: usize,
}

/// `http://host:port/path` -> (`host:port`, `/path`).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Some((host, path.to_string()))
}

/// One request on a kept-alive connection: the status and the time to the last byte.
async fn one(conn: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<(u16, Duration)> {
    let t = Instant::now();
    conn.get_mut().write_all(request).await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await?;
    Ok((status, t.elapsed()))
}

pub fn load(o: &FhirLoadOptions) -> ExitCode {
    let Some((host, path)) = split_url(o.url) else {
        eprintln!("error: `{}` is not an http:// URL\n  = help: e.g. http://127.0.0.1:18080/Patient/patient-300001", o.url);
        return ExitCode::from(2);
    };
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\n");
    if let Some(b) = o.bearer {
        request.push_str(&format!("Authorization: Bearer {b}\r\n"));
    }
    request.push_str("\r\n");
    let request = request.into_bytes();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        let per = o.requests.div_ceil(o.connections.max(1));
        let start = Instant::now();
        let mut tasks = vec![];
        for _ in 0..o.connections.max(1) {
            let (host, request) = (host.clone(), request.clone());
            tasks.push(tokio::spawn(async move {
                let mut out: Vec<(u16, Duration)> = Vec::with_capacity(per);
                let stream = TcpStream::connect(&host).await?;
                stream.set_nodelay(true)?;
                let mut conn = BufReader::new(stream);
                for _ in 0..per {
                    out.push(one(&mut conn, &request).await?);
                }
                Ok::<_, std::io::Error>(out)
            }));
        }
        let mut all = vec![];
        for t in tasks {
            match t.await {
                Ok(Ok(v)) => all.extend(v),
                Ok(Err(e)) => {
                    eprintln!("error: {host}: {e}\n  = help: is the production running with this API endpoint?");
                    return ExitCode::from(1);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        let elapsed = start.elapsed();
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for (s, _) in &all {
            *statuses.entry(*s).or_default() += 1;
        }
        let mut lat: Vec<Duration> = all.iter().map(|(_, d)| *d).collect();
        lat.sort();
        println!(
            "{} requests over {} connections in {:.2} s: {:.0} requests/s",
            all.len(),
            o.connections,
            elapsed.as_secs_f64(),
            all.len() as f64 / elapsed.as_secs_f64()
        );
        println!(
            "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            super::hl7_load::percentile(&lat, 0.50).as_secs_f64() * 1e3,
            super::hl7_load::percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
        let shown: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        println!("statuses: {}", shown.join(", "));
        if statuses.keys().any(|s| *s != 200) {
            eprintln!("warning: not every answer was 200; check the token and the URL");
            return ExitCode::from(1);
        }
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(
            super::split_url("http://127.0.0.1:18080/Patient/p-1?x=1"),
            Some(("127.0.0.1:18080".into(), "/Patient/p-1?x=1".into()))
        );
        assert_eq!(
            super::split_url("http://h"),
            Some(("h:80".into(), "/".into()))
        );
        assert_eq!(super::split_url("https://h/x"), None);
    }
}
