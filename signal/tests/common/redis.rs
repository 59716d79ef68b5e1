//! A real `redis-server` on a free loopback port, with persistence off, stopped (killed
//! and reaped) when dropped; and cluster nodes in-process or as `signal serve` processes.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use signal::cluster::ClusterConfig;
use signal::{RunningServer, SignalServer};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts redis-server on a free port and waits until it answers.
    pub fn start() -> Self {
        let mut s = Self {
            port: free_port(),
            child: None,
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port (empty: nothing is saved).
    pub fn restart(&mut self) {
        assert_ne!(self.port, 6379);
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/setup.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9` and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster node in this process.
pub async fn node(redis: &RedisServer, name: &str) -> RunningServer {
    node_with(redis, name, |_| {}).await
}

pub async fn node_with(
    redis: &RedisServer,
    name: &str,
    tweak: impl FnOnce(&mut signal::ServerConfig),
) -> RunningServer {
    let mut config = super::config();
    config.cluster = Some(ClusterConfig::new(redis.url(), name));
    tweak(&mut config);
    SignalServer::start(config).await.unwrap()
}

/// A `signal serve --redis` process (so that it can be `kill -9`ed); killed when dropped.
pub struct NodeProcess {
    pub url: String,
    child: Child,
}

impl NodeProcess {
    pub fn start(redis: &RedisServer, name: &str) -> Self {
        Self::start_with(redis, name, &[])
    }

    /// With extra `signal serve` flags (every node of a cluster needs the same hub flags).
    pub fn start_with(redis: &RedisServer, name: &str, extra: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_signal"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--redis",
                &redis.url(),
                "--node-id",
                name,
            ])
            .args(extra)
            .env(
                "SIGNAL_JWT_SECRET",
                std::str::from_utf8(super::SECRET).unwrap(),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("signal listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { url, child }
    }

    /// Sends a signal (`STOP`, `CONT`) with `kill -<sig>`.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{sig} failed");
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
