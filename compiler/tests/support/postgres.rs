//! A real PostgreSQL server for the tests, from Debian's packages (`.ci/run` installs
//! them): `initdb` into a folder of the test's own, started with `pg_ctl` on a free
//! loopback port, password authentication for the role `accord`, stopped and removed when
//! dropped. PostgreSQL refuses to run as root, so under root the server runs as the
//! `postgres` user the package created.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PASSWORD: &str = "accord-test-password";

pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// Serves TLS only (`hostssl`), with a certificate from the test's CA.
    tls: bool,
}

/// The folder of PostgreSQL's programs: `$ACCORD_PG_BIN`, Debian's
/// `/usr/lib/postgresql/N/bin` (the newest), or whatever `PATH` finds.
fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("ACCORD_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_default()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Starts a new server in `dir` (created, and owned by the server's user).
    pub fn start(dir: &Path) -> Postgres {
        Postgres::start_with(dir, None)
    }

    /// Starts a new server that takes TLS connections only, with a certificate for
    /// 127.0.0.1 issued by `ca`.
    pub fn start_tls(dir: &Path, ca: &super::pki::Ca) -> Postgres {
        Postgres::start_with(dir, Some(ca))
    }

    fn start_with(dir: &Path, ca: Option<&super::pki::Ca>) -> Postgres {
        let bin = bin_dir();
        let data = dir.join("pgdata");
        std::fs::create_dir_all(dir).unwrap();
        if let Some(ca) = ca {
            ca.issue(dir, "server", &["127.0.0.1", "localhost"], 30, 7);
        }
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown {} to postgres", dir.display());
        }
        if ca.is_some() {
            // PostgreSQL takes a key only its own user can read.
            let _ = Command::new("chmod")
                .arg("600")
                .arg(dir.join("server.key"))
                .status();
        }
        let pg = Postgres {
            port: super::free_port(),
            dir: dir.to_path_buf(),
            bin,
            tls: ca.is_some(),
        };
        let o = pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "accord",
                "--auth=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(o.status.success(), "initdb: {}", super::text(&o));
        if pg.tls {
            // TLS or nothing: a connection in the clear is refused by the server.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
        }
        pg.start_again();
        pg
    }

    /// Runs one of PostgreSQL's programs (as `postgres` under root).
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let path = if path.exists() {
            path
        } else {
            PathBuf::from(program)
        };
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        c.args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (is Debian's postgresql installed?)",
                    path.display()
                )
            })
    }

    /// Starts the server (again, after [`Postgres::stop`]) and waits until it takes
    /// connections.
    pub fn start_again(&self) {
        let data = self.dir.join("pgdata");
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.dir.join("server.pem").display(),
                self.dir.join("server.key").display()
            ));
        }
        let log = self.dir.join("server.log");
        let o = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            o.status.success(),
            "pg_ctl start: {}\n{}",
            super::text(&o),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (`immediate`: as a crash would).
    pub fn stop(&self) {
        let data = self.dir.join("pgdata");
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// The journal URL of the role `accord` (its password is [`PASSWORD`], given apart).
    pub fn url(&self) -> String {
        format!("postgres://accord@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
