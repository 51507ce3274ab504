//! A small Lambda Runtime API emulator: the HTTP endpoints a custom runtime polls
//! (`/2018-06-01/runtime/invocation/next`, `.../{id}/response`, `.../{id}/error`,
//! `.../init/error`), so the real `ddb-audit-lambda` binary can be invoked in tests.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Response(serde_json::Value),
    Error(serde_json::Value),
}

#[derive(Default)]
struct State {
    pending: VecDeque<(String, Vec<u8>, u64)>,
    replies: HashMap<String, Reply>,
    init_error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

pub struct RuntimeApi {
    shared: Arc<Shared>,
    pub address: String,
    next_id: AtomicUsize,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind runtime api");
        let address = listener.local_addr().expect("address").to_string();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn_shared = accept_shared.clone();
                std::thread::spawn(move || serve_connection(stream, &conn_shared));
            }
        });
        RuntimeApi {
            shared,
            address,
            next_id: AtomicUsize::new(0),
        }
    }

    /// Queues an invocation and waits for the function's reply.
    pub fn invoke(&self, payload: &[u8], timeout: Duration) -> Reply {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
            + timeout.as_millis() as u64;
        let mut state = self.shared.state.lock().expect("lock");
        state
            .pending
            .push_back((id.clone(), payload.to_vec(), deadline_ms));
        self.shared.changed.notify_all();
        let started = Instant::now();
        loop {
            if let Some(reply) = state.replies.remove(&id) {
                return reply;
            }
            if let Some(init) = &state.init_error {
                panic!("the function reported an init error: {init}");
            }
            let left = timeout
                .checked_sub(started.elapsed())
                .unwrap_or_else(|| panic!("no reply to {id} within {timeout:?}"));
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .expect("wait")
                .0;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.address);
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let ok = match (method.as_str(), path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let Some((id, payload, deadline)) = next_invocation(shared) else {
                    return;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:ddb-audit\r\n\
                     Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\r\n",
                    payload.len()
                );
                writer
                    .write_all(head.as_bytes())
                    .and_then(|_| writer.write_all(&payload))
                    .is_ok()
            }
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &p["/2018-06-01/runtime/invocation/".len()..];
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                let value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
                });
                let reply = if kind == "response" {
                    Reply::Response(value)
                } else {
                    Reply::Error(value)
                };
                let mut state = shared.state.lock().expect("lock");
                state.replies.insert(id.to_owned(), reply);
                shared.changed.notify_all();
                drop(state);
                accepted(&mut writer)
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                let mut state = shared.state.lock().expect("lock");
                state.init_error = Some(String::from_utf8_lossy(&body).into_owned());
                shared.changed.notify_all();
                drop(state);
                accepted(&mut writer)
            }
            _ => writer
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .is_ok(),
        };
        if !ok {
            return;
        }
    }
}

fn accepted(writer: &mut TcpStream) -> bool {
    writer
        .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}")
        .is_ok()
}

fn next_invocation(shared: &Shared) -> Option<(String, Vec<u8>, u64)> {
    let mut state = shared.state.lock().expect("lock");
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(next) = state.pending.pop_front() {
            return Some(next);
        }
        state = shared
            .changed
            .wait_timeout(state, Duration::from_millis(200))
            .expect("wait")
            .0;
    }
}
