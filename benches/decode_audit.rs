//! Decoding + auditing throughput on a Lambda-sized batch, side by side with the floor any
//! JSON-reading auditor pays: serde_json validating the same bytes into `IgnoredAny`.
//!
//! Run: `cargo bench --bench decode_audit` (add `-- --records N --rounds R` to change the size).
//! The batch is generated: 10,000 MODIFY records of an accounts table with realistic images
//! (strings and exact decimals), compact JSON as Lambda delivers
//! it, just under the 6 MB invocation payload limit. Every measurement runs interleaved with the
//! others, round after round, and the medians are reported, so a noisy neighbour hits all alike.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ddb_stream_audit::source::decode_event;
use ddb_stream_audit::{AuditState, Auditor, Config};

/// Counts allocations so the report can say what decoding costs in allocator calls and bytes.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A batch of `records` stream records for `records / 4` hot accounts, every version advancing
/// by one (a clean history, so the audit path is the common one: every rule runs, none fires).
fn generate_batch(records: usize) -> Vec<u8> {
    let accounts = (records / 4).max(1);
    let mut versions = vec![0u64; accounts];
    let mut balances = vec![1_000_000i64; accounts];
    let mut last_request = vec![0usize; accounts];
    let mut out = String::with_capacity(records * 620);
    out.push_str("{\"Records\":[");
    for i in 0..records {
        let a = (i * 7919) % accounts;
        let (old_v, old_b, old_req) = (versions[a], balances[a], last_request[a]);
        let amount = 100 + (i as i64 * 37) % 5000;
        versions[a] += 1;
        balances[a] -= amount;
        last_request[a] = i;
        let image = |v: u64, b: i64, req: usize| {
            format!(
                concat!(
                    "{{\"id\":{{\"S\":\"acct-{a:06}\"}},\"version\":{{\"N\":\"{v}\"}},",
                    "\"balance\":{{\"N\":\"{bi}.{bf:02}\"}},",
                    "\"req\":{{\"S\":\"{req:x}\"}}}}"
                ),
                a = a,
                v = v,
                bi = b / 100,
                bf = b % 100,
                req = req
            )
        };
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            concat!(
                "{{\"eventID\":\"{id:032x}\",\"eventName\":\"MODIFY\",\"eventVersion\":\"1.1\",\"eventSource\":\"aws:dynamodb\",",
                "\"awsRegion\":\"eu-west-1\",\"dynamodb\":{{\"ApproximateCreationDateTime\":{t},",
                "\"Keys\":{{\"id\":{{\"S\":\"acct-{a:06}\"}}}},\"NewImage\":{new},\"OldImage\":{old},",
                "\"SequenceNumber\":\"{seq}\",\"SizeBytes\":{size},\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}},",
                "\"eventSourceARN\":\"arn:aws:dynamodb:eu-west-1:123456789012:table/Accounts/stream/2026-11-20T09:00:00.000\"}}"
            ),
            id = i as u128 * 0x9e37_79b9_7f4a_7c15,
            t = 1_795_683_600 + i / 100,
            a = a,
            new = image(versions[a], balances[a], i),
            old = image(old_v, old_b, old_req),
            seq = 49_680_000_000_000_000_001_000_000_000u128 + i as u128 * 1000,
            size = 420,
        ));
    }
    out.push_str("]}");
    out.into_bytes()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let records = arg("--records", 10_000);
    let rounds = arg("--rounds", 25);
    let bytes = generate_batch(records);
    let mb = bytes.len() as f64 / 1e6;
    let auditor = Auditor::new(Config::default());

    // Sanity: the batch decodes cleanly and audits without findings (a clean history).
    let decoded = decode_event(&bytes).expect("generated batch decodes");
    assert_eq!(decoded.len(), records);
    let mut state = AuditState::new();
    let findings = auditor.audit_batch(&decoded, &mut state);
    assert!(
        findings.is_empty(),
        "generated batch should be clean: {:?}",
        findings.first()
    );
    drop(decoded);

    let (mut floor, mut decode_only, mut full) = (Vec::new(), Vec::new(), Vec::new());
    let (mut allocs, mut alloc_bytes) = (0u64, 0u64);
    for _ in 0..rounds {
        let start = Instant::now();
        let _: serde::de::IgnoredAny = serde_json::from_slice(black_box(&bytes)).unwrap();
        floor.push(start.elapsed());

        let start = Instant::now();
        let decoded = decode_event(black_box(&bytes)).unwrap();
        black_box(&decoded);
        drop(decoded);
        decode_only.push(start.elapsed());

        let (a0, b0) = (
            ALLOCATIONS.load(Ordering::Relaxed),
            ALLOCATED_BYTES.load(Ordering::Relaxed),
        );
        let start = Instant::now();
        let decoded = decode_event(black_box(&bytes)).unwrap();
        let mut state = AuditState::new();
        let findings = auditor.audit_batch(&decoded, &mut state);
        black_box((&findings, &state));
        drop(decoded);
        full.push(start.elapsed());
        allocs = ALLOCATIONS.load(Ordering::Relaxed) - a0;
        alloc_bytes = ALLOCATED_BYTES.load(Ordering::Relaxed) - b0;
    }
    let (floor, decode_only, full) = (median(floor), median(decode_only), median(full));
    let rate = |d: Duration| (records as f64 / d.as_secs_f64(), mb / d.as_secs_f64());
    println!(
        "batch: {records} records, {:.2} MB, {rounds} rounds, medians",
        mb
    );
    for (label, d) in [
        ("serde_json -> IgnoredAny (floor)", floor),
        ("decode_event", decode_only),
        ("decode_event + audit", full),
    ] {
        let (rps, mbps) = rate(d);
        println!(
            "{label:34} {:>9.2} ms  {:>12.0} records/s  {:>8.1} MB/s",
            d.as_secs_f64() * 1e3,
            rps,
            mbps
        );
    }
    println!(
        "decode+audit throughput / floor throughput: {:.2} (aim: >= 0.50)",
        floor.as_secs_f64() / full.as_secs_f64()
    );
    println!(
        "allocations per decode+audit of the batch: {allocs} ({:.1} per record), {:.1} MB requested",
        allocs as f64 / records as f64,
        alloc_bytes as f64 / 1e6
    );
}
