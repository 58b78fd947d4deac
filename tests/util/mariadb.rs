//! A real MariaDB server of the test's own (Debian's `mariadb-server`, installed by .ci/peers):
//! a fresh data directory, a port on 127.0.0.1, root without a password, stopped when dropped.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{free_port, wait_until, PATIENCE};

pub struct MariaDb {
    child: Child,
    socket: PathBuf,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl MariaDb {
    /// Starts a server with an empty database `nac`; `None` when Debian's MariaDB is not
    /// installed (`bash .ci/peers` installs it).
    pub fn start() -> Option<MariaDb> {
        let install_db = which("mariadb-install-db")?;
        let server = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists())?;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        // Its own temporary directory: with the default /tmp, a bootstrap once failed on an
        // internal temporary table (`#sql-temptable-….MAI`) that had gone from under it while
        // the rest of the suite ran.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("the server's temporary directory");
        let tmpdir = format!("--tmpdir={}", tmp.display());
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let installed = Command::new(install_db)
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(&tmpdir)
            .arg(format!("--user={user}"))
            .output()
            .expect("run mariadb-install-db");
        assert!(
            installed.status.success(),
            "mariadb-install-db failed ({}): {}{}",
            installed.status,
            String::from_utf8_lossy(&installed.stdout),
            String::from_utf8_lossy(&installed.stderr)
        );
        let socket = dir.path().join("mysqld.sock");
        // A port another test takes between free_port and the bind fails the start: try again.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&server)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(&tmpdir)
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--port={port}"))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--user={user}"))
                .arg(format!(
                    "--pid-file={}",
                    dir.path().join("mysqld.pid").display()
                ))
                .arg("--skip-log-bin")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn mariadbd");
            let mut exited = false;
            let up = wait_until(PATIENCE, || {
                exited = matches!(child.try_wait(), Ok(Some(_)));
                exited || client(&socket, "SELECT 1").is_ok()
            });
            assert!(up, "mariadbd never answered");
            if !exited {
                let db = MariaDb {
                    child,
                    socket,
                    port,
                    _dir: dir,
                };
                client(&db.socket, "CREATE DATABASE nac").expect("create the database");
                return Some(db);
            }
        }
        panic!("mariadbd did not start on five fresh ports");
    }

    /// The URL the relay connects with.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/nac", self.port)
    }

    /// Runs SQL statements in `nac`; panics on an error.
    pub fn sql(&self, statements: &str) {
        if let Err(error) = client(&self.socket, &format!("USE nac; {statements}")) {
            panic!("SQL failed: {error}\n{statements}");
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(socket: &std::path::Path, statements: &str) -> Result<(), String> {
    let mut child = Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", socket.display()))
        .args(["-u", "root"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(statements.as_bytes())
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(program))
        .find(|path| path.exists())
}
