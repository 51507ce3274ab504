//! Starts a private moto server (AWS protocols on localhost) for one test, and stops it on drop.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `moto_server` on a free localhost port.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// The moto_server executable: `MOTO_SERVER_BIN`, else the project's `.tools/venv`.
pub fn moto_server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("MOTO_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "MOTO_SERVER_BIN={} does not exist: install moto[server] (tests/tools/install.sh) or fix the variable",
            bin.display()
        );
        return bin;
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/moto_server");
    assert!(
        bin.is_file(),
        "moto_server not found: set MOTO_SERVER_BIN or install moto[server] into {} \
         (tests/tools/install.sh does it). These tests need it and do not skip.",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free localhost port")
}

impl Moto {
    pub fn start() -> Moto {
        let bin = moto_server_bin();
        let port = free_port();
        let log = std::env::temp_dir().join(format!("moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("moto log file");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("moto_server exited with {status} before listening:\n{output}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on port {port} within 30 s (log: {})",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
