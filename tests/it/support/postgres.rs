//! A throwaway PostgreSQL cluster for the tests, started from the machine's own binaries
//! (`initdb`, `pg_ctl`) in a temp dir on a free loopback port, and a fresh database per
//! test. No hand setup and nothing reached beyond loopback.
//!
//! - One cluster per test process, started on first use. A watchdog shell stops it (by the
//!   postmaster's pid) once this process has gone, however it ended.
//! - As root (CI), the cluster runs as the `postgres` user (or `nobody`): PostgreSQL
//!   refuses to run as root.
//! - Without PostgreSQL binaries, [`database`] returns None after saying loudly that the
//!   PostgreSQL tests did not run; under `CI=true` it panics instead, so CI cannot pass
//!   without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Cluster {
    pub port: u16,
    bin: PathBuf,
    data: String,
    opts: String,
    log: String,
    _dir: tempfile::TempDir,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

/// Set before the first [`database`] call to keep PostgreSQL's durability (fsync on every
/// commit) as in production; the tests turn it off for speed. `benches/replicas.rs` sets it.
#[allow(dead_code)]
pub static DURABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// Where `initdb` and `pg_ctl` are: `PAYLINK_PG_BIN`, the PATH, or Debian's layout.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PAYLINK_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        && out.status.success()
    {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        // /usr/local/bin/initdb may be a symlink into the real bin dir: pg_ctl is beside it.
        if let Some(dir) = p.parent()
            && dir.join("pg_ctl").exists()
        {
            return Some(dir.to_path_buf());
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The user the cluster runs as when this process is root.
fn service_user() -> &'static str {
    let has = |u: &str| {
        Command::new("id")
            .arg(u)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has("postgres") {
        "postgres"
    } else {
        "nobody"
    }
}

/// Runs a PostgreSQL program, as the service user when we are root.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let exe = bin.join(program);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", service_user(), "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    assert!(
        out.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn start() -> Option<Cluster> {
    let Some(bin) = bin_dir() else {
        let msg = "PostgreSQL binaries (initdb, pg_ctl) not found: the PostgreSQL tests DID NOT RUN. \
                   Install Debian's `postgresql` package or set PAYLINK_PG_BIN to their directory.";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("\n*** {msg} ***\n");
        return None;
    };
    let dir = tempfile::Builder::new()
        .prefix("paylink-pg-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("socket");
    std::fs::create_dir(&socket).unwrap();
    if is_root() {
        let owner = service_user();
        let ok = Command::new("chown")
            .args([
                "-R",
                &format!("{owner}:"),
                &dir.path().display().to_string(),
            ])
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "cannot hand the cluster's directory to {owner}"
        );
    }
    let data_s = data.display().to_string();
    run(
        &bin,
        "initdb",
        &[
            "-D",
            &data_s,
            "-U",
            "paylink",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    );
    let port = free_port();
    let durability = if DURABLE.load(Ordering::Relaxed) {
        ""
    } else {
        "-c fsync=off -c full_page_writes=off"
    };
    let opts = format!(
        "-p {port} -h 127.0.0.1 -k {} {durability} -c max_connections=300",
        socket.display()
    );
    let log = dir.path().join("server.log").display().to_string();
    let cluster = Cluster {
        port,
        bin,
        data: data_s,
        opts,
        log,
        _dir: dir,
    };
    cluster.start_server();
    Some(cluster)
}

impl Cluster {
    /// Starts the server (again) and a watchdog that stops it once this test process is
    /// gone (statics are never dropped).
    pub fn start_server(&self) {
        run(
            &self.bin,
            "pg_ctl",
            &[
                "-D", &self.data, "-o", &self.opts, "-l", &self.log, "-w", "-t", "60", "start",
            ],
        );
        let pid = std::fs::read_to_string(Path::new(&self.data).join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
            .expect("postmaster.pid names the server");
        let me = std::process::id();
        let mut watchdog = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -QUIT {pid} 2>/dev/null"
                ),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the cluster's watchdog starts");
        // Reaped if it ever ends while this process lives.
        std::thread::spawn(move || watchdog.wait());
    }

    /// Stops the server at once, as a crash or a lost network would (`-m immediate`).
    #[allow(dead_code)]
    pub fn stop_server(&self) {
        run(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data, "-m", "immediate", "-w", "stop"],
        );
    }
}

/// A cluster of the caller's own (not the shared one), for a test that stops and restarts
/// its server; None (said loudly) when this machine has no PostgreSQL.
#[allow(dead_code)]
pub fn own_cluster() -> Option<Cluster> {
    start()
}

/// A URL of the database `paylink` on `c`, created empty.
#[allow(dead_code)]
pub async fn database_on(c: &Cluster) -> String {
    let admin = format!("postgres://paylink@127.0.0.1:{}/postgres", c.port);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("the cluster accepts connections");
    sqlx::query("CREATE DATABASE paylink")
        .execute(&mut conn)
        .await
        .expect("the database is created");
    format!("postgres://paylink@127.0.0.1:{}/paylink", c.port)
}

/// The cluster, or None (said loudly) when this machine has no PostgreSQL.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

/// A URL of a new, empty database on the throwaway cluster.
pub async fn database() -> Option<String> {
    let c = cluster()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let admin = format!("postgres://paylink@127.0.0.1:{}/postgres", c.port);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("the throwaway cluster accepts connections");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("a test database is created");
    Some(format!("postgres://paylink@127.0.0.1:{}/{name}", c.port))
}
