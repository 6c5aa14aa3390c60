//! MNIST IDX files (<http://yann.lecun.com/exdb/mnist/>), plain or gzipped.
//!
//! An IDX file is a big-endian header — a magic number `0x000008nn` (`08` =
//! unsigned bytes, `nn` = number of dimensions) followed by one `u32` per
//! dimension — and then the raw bytes. Images are 3-d (`n, rows, cols`,
//! magic `0x00000803`), labels 1-d (`n`, magic `0x00000801`).

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::IoError;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
const LABELS_MAGIC: u32 = 0x0000_0801;

/// A stack of greyscale images from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// `n * rows * cols` pixels: image-major, then row-major within an image.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `i` (`rows * cols` bytes, row-major), if `i < n`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let size = self.rows * self.cols;
        self.pixels.get(i.checked_mul(size)?..(i + 1).checked_mul(size)?)
    }
}

/// Reads an IDX image file (magic `0x00000803`), gunzipping it if its name ends
/// in `.gz` or it starts with the gzip magic bytes `1f 8b`.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, IoError> {
    let bytes = read_maybe_gz(path)?;
    let (dims, payload) = parse(&bytes, path, IMAGES_MAGIC, "images")?;
    match dims[..] {
        [n, rows, cols] => Ok(IdxImages { n, rows, cols, pixels: payload.to_vec() }),
        // `parse` returns exactly as many dimensions as the magic number encodes (3).
        _ => Err(IoError::BadIdx { file: path.to_path_buf(), reason: "expected 3 dimensions".into() }),
    }
}

/// Reads an IDX label file (magic `0x00000801`), gunzipping it if its name ends
/// in `.gz` or it starts with the gzip magic bytes `1f 8b`.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, IoError> {
    let bytes = read_maybe_gz(path)?;
    let (_, payload) = parse(&bytes, path, LABELS_MAGIC, "labels")?;
    Ok(payload.to_vec())
}

/// Reads the whole file, decompressing it when it is gzipped.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, IoError> {
    let raw = std::fs::read(path).map_err(|e| IoError::io(path, "reading", e))?;
    let gz_name = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if !(gz_name || raw.starts_with(&[0x1f, 0x8b])) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(|e| IoError::BadIdx {
        file: path.to_path_buf(),
        reason: format!("gzip data is corrupt or truncated: {e}"),
    })?;
    Ok(out)
}

/// Checks the header against `magic` and returns the dimensions and the payload,
/// whose length must equal the product of the dimensions.
fn parse<'a>(bytes: &'a [u8], path: &Path, magic: u32, what: &str) -> Result<(Vec<usize>, &'a [u8]), IoError> {
    let bad = |reason: String| IoError::BadIdx { file: path.to_path_buf(), reason };
    let ndim = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndim;
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);

    if bytes.len() < 4 {
        return Err(bad(format!("file has only {} bytes; expected an IDX {what} header", bytes.len())));
    }
    let found = word(0);
    if found != magic {
        return Err(bad(format!("magic number is 0x{found:08x} but 0x{magic:08x} ({what}) was expected")));
    }
    if bytes.len() < header_len {
        return Err(bad(format!("file has {} bytes, fewer than the {header_len}-byte {what} header", bytes.len())));
    }
    let dims: Vec<usize> = (0..ndim).map(|k| word(4 + 4 * k) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let payload = &bytes[header_len..];
    if expected != Some(payload.len()) {
        let dims_str: Vec<String> = dims.iter().map(usize::to_string).collect();
        return Err(bad(format!(
            "header says {} = {} bytes of {what} but {} bytes follow the header{}",
            dims_str.join(" x "),
            expected.map_or("an overflowing number of".to_string(), |e| e.to_string()),
            payload.len(),
            if expected.is_some_and(|e| e > payload.len()) { " (truncated file?)" } else { "" }
        )));
    }
    Ok((dims, payload))
}
