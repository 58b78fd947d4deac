//! `cefrelay tap` and `cefrelay top`: watching a running relay through its admin endpoint, the
//! one way in that it offers (`telemetry::admin`).

pub mod prometheus;
pub mod tap;
pub mod top;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cli::AdminArgs;
use crate::config::{Config, DEFAULT_ADMIN};
use crate::exit;
use crate::sanitize::for_terminal;
use crate::telemetry::admin::Client;
use crate::troubleshoot::DEFAULT_CONFIG;

/// How long the relay may take to accept and to answer the headers (or a whole scrape).
const PATIENCE: Duration = Duration::from_secs(5);
/// A scrape's body: far beyond what the relay's bounded metrics ever write.
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// A response's header lines and the length of each.
const MAX_HEADERS: usize = 64;
const MAX_HEADER_LINE: u64 = 8 * 1024;

/// The admin endpoint to ask: `--admin`, else the `[admin] listen` of `--config` or of the
/// installed configuration, else the default; with the configuration's `[admin] token_file`
/// when it has one. `Err` holds the exit code of a configuration that cannot be read, already
/// reported.
pub fn admin_address(args: &AdminArgs) -> anyhow::Result<Result<Client, u8>> {
    if let Some(admin) = args.admin {
        return Ok(Ok(Client::at(admin)));
    }
    let installed = Path::new(DEFAULT_CONFIG);
    let path = match &args.config {
        Some(path) => path.as_path(),
        None if installed.exists() => installed,
        None => {
            return Ok(Ok(Client::at(
                DEFAULT_ADMIN.parse().expect("a valid default"),
            )))
        }
    };
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(error) => return Ok(Err(exit::bad_config(error))),
    };
    match Client::of(&config) {
        Some(client) => Ok(Ok(client)),
        None => bail!(
            "{} turns the relay's admin endpoint off ([admin] listen = \"\"): set [admin] listen = \
             \"{DEFAULT_ADMIN}\" there and restart cefrelay",
            path.display()
        ),
    }
}

/// Sends `GET path` (with the token, when there is one) and reads the response up to its body:
/// the status code and the body's reader.
pub fn request(admin: &Client, path: &str) -> anyhow::Result<(u16, BufReader<TcpStream>)> {
    let mut stream = TcpStream::connect_timeout(&admin.address, PATIENCE).map_err(|error| {
        anyhow::anyhow!(
            "no relay answers on {admin} ({error}): is `cefrelay run` running, with its admin \
             endpoint there? That is [admin] listen in the relay's configuration (default \
             {DEFAULT_ADMIN}; \"\" turns it off): name it with --admin ADDR, or the \
             configuration with --config FILE"
        )
    })?;
    stream.set_read_timeout(Some(PATIENCE))?;
    let authorization = admin.authorization();
    stream.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: cefrelay\r\n{authorization}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    (&mut reader)
        .take(MAX_HEADER_LINE)
        .read_line(&mut status_line)
        .with_context(|| format!("{admin} does not answer as the relay's admin endpoint"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| {
            format!("{admin} does not answer HTTP: is it the relay's admin endpoint?")
        })?;
    for _ in 0..MAX_HEADERS {
        let mut header = String::new();
        (&mut reader).take(MAX_HEADER_LINE).read_line(&mut header)?;
        if header.trim_end().is_empty() {
            return Ok((status, reader));
        }
    }
    bail!("{admin} answers with more than {MAX_HEADERS} header lines")
}

/// The body of `GET path`, which must answer 200.
pub fn get(admin: &Client, path: &str) -> anyhow::Result<String> {
    let (status, reader) = request(admin, path)?;
    let body = read_body(reader)?;
    if status == 401 {
        bail!("{}", refused(admin));
    }
    if status != 200 {
        bail!(
            "http://{admin}{path}: {status} {}",
            for_terminal(body.trim())
        );
    }
    Ok(body)
}

/// What to say when the relay wants its admin token and did not get it.
pub fn refused(admin: &Client) -> String {
    format!(
        "the relay on {admin} requires its admin token (401): give the relay's configuration \
         with --config FILE, whose [admin] token_file is sent"
    )
}

/// The rest of a response, bounded.
pub fn read_body(reader: BufReader<TcpStream>) -> anyhow::Result<String> {
    let mut body = String::new();
    reader.take(MAX_BODY).read_to_string(&mut body)?;
    Ok(body)
}
