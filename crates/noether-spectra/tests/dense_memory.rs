//! The memory guard's estimate against what the allocator actually hands out.
//!
//! A counting global allocator (this test binary only) records the peak of live heap bytes
//! while `dense_eigen` runs. The first call on the thread is a warm-up: faer's GEMM allocates a
//! thread-local packing buffer sized from the machine's cache (2 × L3, hundreds of MB of
//! *virtual* memory on some hosts) once per thread, which is not part of the p² cost.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use faer::Mat;
use noether_spectra::{dense_bytes, dense_eigen};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak live bytes above the starting level while `f` runs.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = f();
    (r, PEAK.load(Ordering::SeqCst) - base)
}

fn symmetric(p: usize) -> Mat<f64> {
    Mat::from_fn(p, p, |i, j| 1.0 / (1.0 + (i as f64 - j as f64).abs()) + if i == j { i as f64 } else { 0.0 })
}

// One test function so that no other test allocates concurrently in this binary.
#[test]
fn dense_bytes_bounds_the_measured_peak_within_a_factor_of_two() {
    // Sequential faer: a rayon worker that skipped the warm-up would otherwise allocate its own
    // packing buffer inside the measured call.
    faer::set_global_parallelism(faer::Par::Seq);
    for p in [100, 400, 1000] {
        let a = symmetric(p);
        dense_eigen(a.as_ref(), true).unwrap(); // warm-up: per-thread GEMM buffers
        for vectors in [false, true] {
            let (eig, peak) = peak_during(|| dense_eigen(a.as_ref(), vectors).unwrap());
            assert_eq!(eig.values.len(), p);
            // The caller's matrix is allocated before the call; the estimate counts it.
            let measured = peak + p * p * 8;
            let estimate = dense_bytes(p, 8, vectors) as usize;
            let in_p2 = |b: usize| b as f64 / (p * p * 8) as f64;
            assert!(
                measured <= estimate && 2 * measured >= estimate,
                "p = {p}, vectors = {vectors}: measured peak {:.2} p² vs dense_bytes {:.2} p²",
                in_p2(measured),
                in_p2(estimate)
            );
        }
    }
}
