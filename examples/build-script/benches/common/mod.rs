//! What the benches of this crate share: the timing loop.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Median time per call over 9 samples of ~300 ms, after a warm-up of ~50 ms.
pub fn measure(mut f: impl FnMut() -> Vec<u8>) -> Duration {
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed() < Duration::from_millis(50) {
        black_box(f());
        n += 1;
    }
    let iters = n * 6;
    let mut samples: Vec<Duration> = (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed() / iters
        })
        .collect();
    samples.sort();
    samples[4]
}
