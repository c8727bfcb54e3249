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
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=200 \
             -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on",
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

    /// A production configuration's `[journal]` section for this server, its password in
    /// a file written into `dir`.
    pub fn journal_toml(&self, dir: &Path) -> String {
        let secret = dir.join("journal-password");
        std::fs::write(&secret, PASSWORD).unwrap();
        format!(
            "[journal]\nurl = \"{}\"\npassword = {{ file = \"{}\" }}\n",
            self.url(),
            secret.display()
        )
    }

    /// The journal URL of the role `accord` (its password is [`PASSWORD`], given apart).
    pub fn url(&self) -> String {
        format!("postgres://accord@127.0.0.1:{}/postgres", self.port)
    }

    /// A session of its own on the journal, as the role `accord`, for a test that sets
    /// something for the session or counts what one connection did.
    pub fn session(&self) -> postgres::Client {
        connect(&self.url())
    }
}

/// A connection to the journal at `url`, as the role `accord`.
fn connect(url: &str) -> postgres::Client {
    let mut config: postgres::Config = url.parse().unwrap();
    config.password(PASSWORD);
    config.connect(postgres::NoTls).unwrap()
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A production's journal as a test reads it: a SQLite file or a PostgreSQL database.
pub enum JournalAt {
    Sqlite(PathBuf),
    Postgres(String),
}

impl JournalAt {
    /// Every row of `sql`, each column as text (integers in decimal, NULL as "").
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            JournalAt::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                let mut st = c.prepare(sql).unwrap();
                let n = st.column_count();
                st.query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                                rusqlite::types::Value::Integer(v) => v.to_string(),
                                rusqlite::types::Value::Text(t) => t,
                                rusqlite::types::Value::Real(f) => f.to_string(),
                                _ => String::new(),
                            })
                        })
                        .collect()
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
            JournalAt::Postgres(url) => connect(url)
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.try_get::<_, Option<String>>(i)
                                .map(Option::unwrap_or_default)
                                .or_else(|_| r.try_get::<_, i64>(i).map(|v| v.to_string()))
                                .unwrap()
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// The first column of the first row of `sql`, a count.
    pub fn count(&self, sql: &str) -> i64 {
        self.rows(sql)
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Waits (at most 15 s) until the journal stores `n` distinct records of type `record`.
    pub fn wait_for_records(&self, record: &str, n: i64) {
        let t = std::time::Instant::now();
        let sql = format!("SELECT COUNT(DISTINCT key) FROM records WHERE record = '{record}'");
        loop {
            let stored = self.count(&sql);
            if stored >= n {
                return;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(15),
                "{n} {record} records are not stored ({stored})"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
