//! What the benches of this crate share: the timing loops. [`compare`] alternates its two
//! contenders sample by sample, so a noisy neighbour on the shared cores slows both
//! alike, and reports the median of the per-round ratios beside each median time.

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

/// Times `a` and `b` in 15 alternating rounds of ~100 ms each, after a warm-up of each:
/// (median time per call of `a`, of `b`, median over the rounds of time(a) / time(b)).
pub fn compare(
    mut a: impl FnMut() -> Vec<u8>,
    mut b: impl FnMut() -> Vec<u8>,
) -> (Duration, Duration, f64) {
    let calibrate = |f: &mut dyn FnMut() -> Vec<u8>| {
        let t = Instant::now();
        let mut n = 0u32;
        while t.elapsed() < Duration::from_millis(50) {
            black_box(f());
            n += 1;
        }
        (n * 2).max(1)
    };
    let (na, nb) = (calibrate(&mut a), calibrate(&mut b));
    let time = |f: &mut dyn FnMut() -> Vec<u8>, n: u32| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        t.elapsed() / n
    };
    let mut rounds: Vec<(Duration, Duration)> = (0..15)
        .map(|i| {
            // Which goes first alternates too.
            if i % 2 == 0 {
                let ta = time(&mut a, na);
                (ta, time(&mut b, nb))
            } else {
                let tb = time(&mut b, nb);
                (time(&mut a, na), tb)
            }
        })
        .collect();
    let mut ratios: Vec<f64> = rounds
        .iter()
        .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    rounds.sort_by_key(|r| r.0);
    let ma = rounds[7].0;
    rounds.sort_by_key(|r| r.1);
    (ma, rounds[7].1, ratios[7])
}
