//! What every Prometheus exporter says about itself: `cefrelay_build_info` and the standard
//! `process_*` metrics (CPU, memory, file descriptors, start time), read from /proc at scrape
//! time. Apart from [`super::metrics`], whose rendering is golden-tested: these values change by
//! themselves.

use std::fmt::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// When the process started, as the first scrape after start sees it (close enough: the admin
/// endpoint starts with the relay).
static STARTED: OnceLock<f64> = OnceLock::new();

/// Notes the start time; call once at start.
pub fn started() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let _ = STARTED.set(now);
}

pub fn render(out: &mut String) {
    let version = env!("CARGO_PKG_VERSION");
    let commit = env!("CEFRELAY_COMMIT");
    let _ = writeln!(
        out,
        "# HELP cefrelay_build_info The relay's version and commit\n# TYPE cefrelay_build_info gauge\n\
         cefrelay_build_info{{version=\"{version}\",commit=\"{commit}\"}} 1"
    );
    if let Some((cpu_seconds, resident_bytes)) = cpu_and_memory() {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu_seconds}\n\
             # HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {resident_bytes}"
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let _ = writeln!(
            out,
            "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {}",
            fds.count()
        );
    }
    if let Some(max) = max_fds() {
        let _ = writeln!(
            out,
            "# HELP process_max_fds Maximum number of open file descriptors.\n# TYPE process_max_fds gauge\nprocess_max_fds {max}"
        );
    }
    if let Some(start) = STARTED.get() {
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n\
             # TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {start:.3}"
        );
    }
}

/// CPU seconds (user + system) and resident bytes, from /proc/self/stat.
fn cpu_and_memory() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, field 2, may hold spaces: count fields after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 (utime), 15 (stime) and 24 (rss, pages); fields[0] is field 3.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    Some((ticks as f64 / clock_ticks(), rss_pages * page_size()))
}

fn clock_ticks() -> f64 {
    #[expect(unsafe_code, reason = "sysconf has no safe wrapper")]
    // SAFETY: sysconf reads a constant of the system; no memory is touched.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    #[expect(unsafe_code, reason = "sysconf has no safe wrapper")]
    // SAFETY: as above.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// The soft limit of open files, from /proc/self/limits.
fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_cpu_memory_and_descriptors() {
        let mut out = String::new();
        super::started();
        super::render(&mut out);
        for name in [
            "cefrelay_build_info{",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(out.contains(name), "{name} missing from:\n{out}");
        }
        let rss: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse().ok())
            .expect("a number");
        assert!(rss > 1024 * 1024, "{rss} bytes resident");
    }
}
