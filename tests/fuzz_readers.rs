//! Fuzzed readers: random and mutated bytes fed to every reader of user files — the NPY
//! parser (standalone `.npy`), NPZ archives (whole and headers only), the data-set reader on
//! top of them, MNIST IDX files, experiment configs through the real loader and planner, and
//! cache entries through the store's lookup and verify.
//! Each case must end in a value or in a one-line error that names the file; no panic; and no
//! single allocation larger than the file can justify (a header claiming a (10¹², 10¹²) shape
//! is refused before allocating). `NOETHER_FUZZ_CASES` sets the cases per reader (default
//! 1500, a few seconds); `cargo xtask fuzz --cases N` runs long campaigns.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// Tracks the largest single allocation since the last reset.
struct Tracking;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// The allocation counter is process-wide: the fuzz tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn cases() -> usize {
    std::env::var("NOETHER_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One mutation of `seed`: flips, truncation, insertion, splice of random bytes, or a
/// header-aware edit (digits replaced by huge numbers, a shape widened).
fn mutate(seed: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..7) {
            0 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            2 => b.truncate(rng.random_range(0..=b.len())),
            3 => {
                let i = rng.random_range(0..=b.len());
                let extra: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
                b.splice(i..i, extra);
            }
            4 => {
                // Replace a run of ASCII digits by a huge number.
                let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
                if let Some(&i) = digits.get(rng.random_range(0..digits.len().max(1))) {
                    let huge = ["999999999999", "18446744073709551615", "1000000000000", "0", "-1"];
                    let mut j = i;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    b.splice(i..j, huge[rng.random_range(0..huge.len())].bytes());
                }
            }
            5 if b.len() > 8 => {
                let (i, j) = (rng.random_range(0..b.len()), rng.random_range(0..b.len()));
                let lo = i.min(j);
                let hi = i.max(j).min(lo + 256);
                let chunk = b[lo..hi].to_vec();
                let at = rng.random_range(0..=b.len());
                b.splice(at..at, chunk);
            }
            _ => b = (0..rng.random_range(0..256)).map(|_| rng.random()).collect(),
        }
    }
    b
}

/// Runs `read` on `cases` mutations of each seed file, written to `path`; checks the error
/// contract and the allocation bound; returns (cases, errors).
fn fuzz<T, E: std::fmt::Display>(
    seeds: &[Vec<u8>],
    path: &Path,
    rng_seed: u64,
    mut read: impl FnMut(&Path) -> Result<T, E>,
) -> (usize, usize) {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    let (mut n, mut errors) = (0, 0);
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    for k in 0..cases() {
        let bytes = mutate(&seeds[k % seeds.len()], &mut rng);
        std::fs::write(path, &bytes).unwrap();
        LARGEST.store(0, Ordering::Relaxed);
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(path)));
        let largest = LARGEST.load(Ordering::Relaxed);
        let Ok(out) = out else {
            std::fs::write(path.with_extension("crash"), &bytes).unwrap();
            panic!("case {k}: the reader panicked (input kept beside {})", path.display());
        };
        // Everything a reader may hold is bounded by the bytes it was given (decoded arrays
        // are at most 8× the stored bytes: u8 labels widened to f64) plus a fixed slack.
        let bound = 64 * bytes.len() + (4 << 20);
        assert!(largest <= bound, "case {k}: an allocation of {largest} bytes for a {}-byte file", bytes.len());
        if let Err(e) = out {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "case {k}: a multi-line error: {msg}");
            assert!(msg.contains(&name), "case {k}: the error does not name the file: {msg}");
            errors += 1;
        }
        n += 1;
    }
    (n, errors)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn npy_and_npz_readers_survive_mutation() {
    let fx = root().join("crates/noether-io/tests/fixtures");
    let dir = std::env::temp_dir().join(format!("noether-fuzz-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy: Vec<Vec<u8>> = ["v1.npy", "v2.npy", "v3.npy"].iter().map(|f| read(&fx.join(f))).collect();
    let (n, e) = fuzz(&npy, &dir.join("case.npy"), 1, |p| noether_io::read_npy(p));
    eprintln!("fuzz read_npy: {n} cases, {e} errors");
    let npz: Vec<Vec<u8>> =
        ["savez.npz", "savez_compressed.npz", "rust_written.npz"].iter().map(|f| read(&fx.join(f))).collect();
    let (n, e) = fuzz(&npz, &dir.join("case.npz"), 2, |p| noether_io::read_npz(p));
    eprintln!("fuzz read_npz: {n} cases, {e} errors");
    let (n, e) = fuzz(&npz, &dir.join("case.npz"), 3, |p| noether_io::read_npz_headers(p));
    eprintln!("fuzz read_npz_headers: {n} cases, {e} errors");
    // The data-set reader on top: x (30, 3) float64, y (30,) int64.
    let data = dir.join("seed.npz");
    let x = noether_io::NpyArray::matrix(30, 3, (0..90).map(|i| i as f64 / 7.0).collect::<Vec<f64>>()).unwrap();
    let y = noether_io::NpyArray::vector((0..30).map(|i| (i % 3) as i64).collect::<Vec<i64>>());
    noether_io::write_npz(&data, &[("x", x), ("y", y)]).unwrap();
    let (n, e) =
        fuzz(&[read(&data)], &dir.join("data.npz"), 4, |p| noether::nn::files::dataset_from_npz::<f64>(p, None));
    eprintln!("fuzz dataset_from_npz: {n} cases, {e} errors");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn idx_readers_survive_mutation() {
    let dir = std::env::temp_dir().join(format!("noether-fuzz-idx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Small IDX seeds: 3 images of 4×4, and 5 labels.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4];
    images.extend((0..48).map(|i| (i * 5) as u8));
    let labels = vec![0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3, 4, 9];
    let (n, e) = fuzz(&[images], &dir.join("images-idx3-ubyte"), 5, |p| noether_io::read_idx_images(p));
    eprintln!("fuzz read_idx_images: {n} cases, {e} errors");
    let (n, e) = fuzz(&[labels], &dir.join("labels-idx1-ubyte"), 6, |p| noether_io::read_idx_labels(p));
    eprintln!("fuzz read_idx_labels: {n} cases, {e} errors");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn experiment_configs_survive_mutation() {
    // A root with the claims and reference tables, and a mutated configs/E05.toml, through
    // the real loader and planner (parameters parsed, checked, the problem resolved).
    let dir = std::env::temp_dir().join(format!("noether-fuzz-cfg-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("configs")).unwrap();
    std::fs::create_dir_all(dir.join("data/reference")).unwrap();
    std::fs::copy(root().join("data/paper-claims.toml"), dir.join("data/paper-claims.toml")).unwrap();
    for (k, id) in ["E05", "E08", "E16"].into_iter().enumerate() {
        if id != "E05" {
            let r = format!("data/reference/{id}.toml");
            std::fs::copy(root().join(&r), dir.join(&r)).unwrap();
        }
        let seed = read(&root().join(format!("configs/{id}.toml")));
        let (n, e) = fuzz(&[seed], &dir.join(format!("configs/{id}.toml")), 7 + k as u64, |p| {
            let quick = p.metadata().map(|m| m.len() % 2 == 0).unwrap_or(false);
            noether::lab::suite::planned_jobs(&dir, id, noether::nn::Precision::F64, quick).map(|j| j.len())
        });
        eprintln!("fuzz configs/{id}.toml (loader and planner): {n} cases, {e} errors");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cache_entries_survive_mutation() {
    // Real entries of E05's quick plan (a train record with drift, switching and trajectory
    // numbers), mutated in place: the lookup must give the record, or name the entry as
    // corrupt with a one-line reason; verify must sort the directory without failing.
    use noether::lab::store::{Lookup, Record, Store};
    let dir = std::env::temp_dir().join(format!("noether-fuzz-cache-{}", std::process::id()));
    let store = Store::open(&dir).unwrap();
    // The set-up allocates too (planning, running the job): not while another test measures.
    let turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let jobs = noether::lab::suite::planned_jobs(&root(), "E05", noether::nn::Precision::F64, true).unwrap();
    let job = jobs[0].clone();
    // (Running one quick E05 job makes a single ~960 MiB allocation somewhere below the job
    // runner, which is why this must not overlap another test's measurement.)
    let result = noether::lab::runner::run_job(&job).unwrap();
    let rec = Record { key: job.key(), result, job: job.clone(), seconds: 0.5 };
    store.put(&rec).unwrap();
    drop(turn);
    let path = dir.join("cache").join(format!("{}.cbor", rec.key));
    let seed = read(&path);
    let (mut hits, mut verified) = (0, 0);
    let (n, e) = fuzz(&[seed], &path, 11, |_| {
        verified += store.verify().map(|r| r.ok + r.corrupt.len() + r.stale.len()).unwrap_or(0);
        match store.lookup(&job) {
            Lookup::Hit(got) => {
                hits += 1;
                // What reads back is the record itself: a changed number is corrupt, not a hit
                // (only the job's wall time is outside the digest).
                assert_eq!(format!("{:?}", got.result), format!("{:?}", rec.result), "a damaged result read back");
                Ok(())
            }
            Lookup::Missing => Err("the entry exists but was reported missing".to_string()),
            Lookup::Corrupt { path, reason } => Err(format!("{}: {reason}", path.display())),
        }
    });
    eprintln!("fuzz cache entries (lookup + verify): {n} cases, {e} corrupt, {hits} read back");
    assert_eq!(verified, n, "verify saw every mutated entry");
    std::fs::remove_dir_all(&dir).unwrap();
}
