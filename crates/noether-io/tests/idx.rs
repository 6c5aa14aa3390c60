//! MNIST IDX reading: the real 10k-digit files and malformed input.

use std::io::Write;
use std::path::{Path, PathBuf};

use noether_io::{IoError, read_idx_images, read_idx_labels};

fn mnist(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k").join(name)
}

#[test]
fn reads_mnist_10k() {
    let images = read_idx_images(&mnist("images-idx3-ubyte.gz")).unwrap();
    assert_eq!((images.n, images.rows, images.cols), (10_000, 28, 28));
    assert_eq!(images.pixels.len(), 10_000 * 28 * 28);
    assert_eq!(images.image(9_999).unwrap().len(), 784);
    assert!(images.image(10_000).is_none());
    // Digits are dark-on-light strokes: every image has some ink and some background.
    assert!(images.pixels.chunks(784).all(|im| im.contains(&0) && im.iter().any(|&p| p > 128)));

    let labels = read_idx_labels(&mnist("labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.len(), 10_000);
    let mut counts = [0usize; 10];
    for &l in &labels {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
}

fn idx_bytes(magic: u32, dims: &[u32], payload_len: usize) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend((0..payload_len).map(|i| i as u8));
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn plain_and_gzipped_by_magic_or_extension() {
    let dir = tempfile::tempdir().unwrap();
    let raw = idx_bytes(0x803, &[2, 3, 4], 24);
    let plain = dir.path().join("imgs");
    std::fs::write(&plain, &raw).unwrap();
    let gz_no_ext = dir.path().join("imgs-gz");
    std::fs::write(&gz_no_ext, gzip(&raw)).unwrap();
    let gz_ext = dir.path().join("imgs.gz");
    std::fs::write(&gz_ext, gzip(&raw)).unwrap();
    for p in [&plain, &gz_no_ext, &gz_ext] {
        let im = read_idx_images(p).unwrap();
        assert_eq!((im.n, im.rows, im.cols), (2, 3, 4));
        assert_eq!(im.pixels, (0..24).collect::<Vec<u8>>());
        assert_eq!(im.image(1).unwrap(), &im.pixels[12..]);
    }
    let labels = dir.path().join("labels");
    std::fs::write(&labels, idx_bytes(0x801, &[5], 5)).unwrap();
    assert_eq!(read_idx_labels(&labels).unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn malformed_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad-idx");
    let cases: Vec<(Vec<u8>, bool, &str)> = vec![
        // (bytes, read as images?, expected message fragment)
        (idx_bytes(0x801, &[5], 5), true, "magic number is 0x00000801 but 0x00000803 (images) was expected"),
        (idx_bytes(0x803, &[1, 2, 2], 4), false, "magic number is 0x00000803 but 0x00000801 (labels) was expected"),
        (
            idx_bytes(0x803, &[10, 28, 28], 100),
            true,
            "header says 10 x 28 x 28 = 7840 bytes of images but 100 bytes follow the header (truncated file?)",
        ),
        (idx_bytes(0x801, &[3], 4), false, "header says 3 = 3 bytes of labels but 4 bytes"),
        (idx_bytes(0x803, &[u32::MAX, u32::MAX, u32::MAX], 1), true, "overflowing"),
        (idx_bytes(0x803, &[1], 0), true, "fewer than the 16-byte images header"),
        (vec![0, 0], false, "only 2 bytes"),
        (vec![0x1f, 0x8b, 8, 0, 0], false, "gzip data is corrupt or truncated"),
    ];
    for (bytes, images, needle) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = if images {
            read_idx_images(&path).map(|_| ()).unwrap_err()
        } else {
            read_idx_labels(&path).map(|_| ()).unwrap_err()
        };
        let msg = err.to_string();
        assert!(matches!(err, IoError::BadIdx { .. }), "{err:?}");
        assert!(msg.starts_with(&format!("{}: bad IDX file: ", path.display())), "{msg}");
        assert!(msg.contains(needle), "wanted {needle:?} in {msg}");
    }
    let err = read_idx_labels(&dir.path().join("absent.gz")).unwrap_err();
    assert!(matches!(err, IoError::NotFound { .. }));
}

#[test]
fn truncated_gzip_of_real_file_is_an_error() {
    let bytes = std::fs::read(mnist("labels-idx1-ubyte.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(read_idx_labels(&path).is_err());
}
