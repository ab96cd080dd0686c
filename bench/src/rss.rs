//! The server's resident memory while a measurement runs: a thread samples
//! `VmRSS` from `/proc/<pid>/status` and keeps the peak.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often the resident set is read.
const SAMPLE_INTERVAL_MS: u64 = 50;

/// A running sampler; [`Peak::stop`] returns the highest reading in MiB.
pub struct Peak {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Peak {
    /// Starts sampling `pid`; `None` when the bench does not know the server's
    /// pid (`BENCH_SERVER_PID`, set by `bench/run.sh`).
    pub fn start(pid: Option<u32>) -> Option<Peak> {
        let pid = pid?;
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak_kib.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = resident_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS));
            }
        });
        Some(Peak { stop, peak_kib, thread })
    }

    pub fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

/// The process's resident set now, in KiB.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
