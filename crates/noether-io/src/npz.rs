//! `.npy` and `.npz` files on disk.
//!
//! An `.npz` file is a zip archive whose members are `.npy` files, one per array,
//! named `<array name>.npy`. `numpy.savez` stores members uncompressed,
//! `numpy.savez_compressed` deflates them; both are read here. Writing always
//! produces an uncompressed archive (fast to write and read, and what
//! `numpy.savez` produces), atomically.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::atomic::{write_atomic, write_atomic_with};
use crate::error::IoError;
use crate::npy::{self, NpyArray, NpyHeader};

/// The arrays of an `.npz` archive, keyed by name (member name without `.npy`).
#[derive(Debug, Clone)]
pub struct Npz {
    path: PathBuf,
    arrays: BTreeMap<String, NpyArray>,
}

impl Npz {
    /// The file the arrays were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The array called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&NpyArray> {
        self.arrays.get(name)
    }

    /// The array called `name`, or an [`IoError::MissingArray`] error naming the
    /// file, the missing array and the arrays that are present.
    pub fn require(&self, name: &str) -> Result<&NpyArray, IoError> {
        self.arrays.get(name).ok_or_else(|| self.missing(name))
    }

    /// Removes and returns the array called `name` (avoids copying large arrays);
    /// errors like [`require`](Self::require).
    pub fn take(&mut self, name: &str) -> Result<NpyArray, IoError> {
        self.arrays.remove(name).ok_or_else(|| self.missing(name))
    }

    /// Array names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.arrays.keys().map(String::as_str).collect()
    }

    /// Number of arrays.
    pub fn len(&self) -> usize {
        self.arrays.len()
    }

    /// True if there are no arrays (never the case for an `Npz` from [`read_npz`]).
    pub fn is_empty(&self) -> bool {
        self.arrays.is_empty()
    }

    /// All arrays, keyed by name.
    pub fn arrays(&self) -> &BTreeMap<String, NpyArray> {
        &self.arrays
    }

    /// Consumes the archive, returning its arrays.
    pub fn into_arrays(self) -> BTreeMap<String, NpyArray> {
        self.arrays
    }

    fn missing(&self, name: &str) -> IoError {
        IoError::MissingArray {
            file: self.path.clone(),
            name: name.to_string(),
            present: self.arrays.keys().cloned().collect(),
        }
    }
}

/// Reads every `.npy` member of the `.npz` archive at `path`.
///
/// Both stored (`numpy.savez`) and deflated (`numpy.savez_compressed`) members
/// are supported. Members whose names do not end in `.npy` are ignored; an
/// archive with no `.npy` member at all is an [`IoError::NotAZip`] error.
pub fn read_npz(path: &Path) -> Result<Npz, IoError> {
    let mut arrays = BTreeMap::new();
    let other_members = for_each_npy_member(path, |key, member_name, declared, member| {
        // Never more than the member declares (more is corruption); `decode` then checks the
        // bytes against what the header says.
        let not_zip = |reason: String| IoError::NotAZip { file: path.to_path_buf(), reason };
        let bytes = read_bounded(member, declared, member_name).map_err(not_zip)?;
        let array = npy::decode(&bytes, path, member_name)?.with_origin(path, key);
        arrays.insert(key.to_string(), array);
        Ok(())
    })?;
    if arrays.is_empty() {
        let found = if other_members.is_empty() {
            "the archive is empty".to_string()
        } else {
            format!("it contains only: {}", other_members.join(", "))
        };
        return Err(IoError::NotAZip { file: path.to_path_buf(), reason: format!("no .npy members ({found})") });
    }
    Ok(Npz { path: path.to_path_buf(), arrays })
}

/// Opens the archive at `path` and calls `visit(key, member name, declared size, reader)` for
/// every `.npy` member in archive order (`key` is the name without `.npy`); a key that appears
/// twice is an error. Returns the names of the other members.
fn for_each_npy_member(
    path: &Path,
    mut visit: impl FnMut(&str, &str, u64, &mut dyn Read) -> Result<(), IoError>,
) -> Result<Vec<String>, IoError> {
    let file = File::open(path).map_err(|e| IoError::io(path, "opening", e))?;
    let not_zip = |reason: String| IoError::NotAZip { file: path.to_path_buf(), reason };
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(|e| not_zip(e.to_string()))?;
    let mut seen = BTreeSet::new();
    let mut other_members = Vec::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| not_zip(format!("cannot open member #{i}: {e}")))?;
        let member_name = match member.name() {
            Ok(n) => n.into_owned(),
            Err(e) => return Err(not_zip(format!("member #{i} has an unreadable name: {e}"))),
        };
        let Some(key) = member_name.strip_suffix(".npy").filter(|_| !member.is_dir()) else {
            other_members.push(member_name);
            continue;
        };
        if !seen.insert(key.to_string()) {
            return Err(not_zip(format!("member '{member_name}' appears more than once")));
        }
        let declared = member.size();
        visit(key, &member_name, declared, &mut member)?;
    }
    Ok(other_members)
}

/// Reads at most `declared` bytes of a member, allocating no more than it holds; more bytes
/// than declared is corruption.
fn read_bounded(member: &mut (impl Read + ?Sized), declared: u64, name: &str) -> Result<Vec<u8>, String> {
    let cap = usize::try_from(declared).map_err(|_| format!("member '{name}' declares {declared} bytes"))?;
    // The declaration is the archive's word, not evidence: reserve little, grow with the data.
    let mut bytes = Vec::with_capacity(cap.min(1 << 20));
    member
        .take(declared.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("member '{name}' is corrupt or truncated: {e}"))?;
    if bytes.len() as u64 > declared {
        return Err(format!("member '{name}' holds more than the {declared} bytes it declares"));
    }
    Ok(bytes)
}

/// The headers of every `.npy` member of the `.npz` archive at `path`, read without
/// decompressing any data section: what a reader checks (shapes that fit together, sizes a file
/// can justify) before it allocates for the payloads. A member whose declared size disagrees
/// with its header's shape and dtype is an error here.
pub fn read_npz_headers(path: &Path) -> Result<BTreeMap<String, NpyHeader>, IoError> {
    let not_zip = |reason: String| IoError::NotAZip { file: path.to_path_buf(), reason };
    let mut headers = BTreeMap::new();
    for_each_npy_member(path, |key, member_name, declared, member| {
        let corrupt = |e: std::io::Error| not_zip(format!("member '{member_name}' is corrupt or truncated: {e}"));
        // Magic + version + length (at most 12 bytes), then the header itself (≤ 64 KiB for
        // version 1.0; versions 2 and 3 are capped at 1 MiB here, far above any real header).
        let mut reader = member.take(12 + (1 << 20));
        let mut prefix = vec![0u8; 12];
        let got = read_up_to(&mut reader, &mut prefix).map_err(corrupt)?;
        prefix.truncate(got);
        let header_len = match prefix.get(6..8) {
            Some([1, 0]) => prefix.get(8..10).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])) + 10),
            Some([2 | 3, 0]) => prefix.get(8..12).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize + 12),
            _ => None,
        };
        let mut image = prefix;
        if let Some(total) = header_len.filter(|&t| t > image.len() && t <= 12 + (1 << 20)) {
            let start = image.len();
            image.resize(total, 0);
            let got = read_up_to(&mut reader, &mut image[start..]).map_err(corrupt)?;
            image.truncate(start + got);
        }
        let (header, header_end, nbytes) = npy::decode_header(&image, path, member_name)?;
        let h = npy::public_header(&header, header_end, nbytes);
        if (h.header_bytes as u64).checked_add(h.data_bytes as u64) != Some(declared) {
            return Err(IoError::BadNpyHeader {
                file: path.to_path_buf(),
                member: member_name.to_string(),
                reason: format!(
                    "header says shape {} of {} ({} bytes of data) but the member holds {declared} bytes",
                    npy::shape_repr(&h.shape),
                    h.dtype,
                    h.data_bytes
                ),
            });
        }
        headers.insert(key.to_string(), h);
        Ok(())
    })?;
    Ok(headers)
}

/// Fills as much of `buf` as the reader has; returns the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads a standalone `.npy` file. The array's name (for error messages) is the
/// file stem.
pub fn read_npy(path: &Path) -> Result<NpyArray, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::io(path, "reading", e))?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(npy::decode(&bytes, path, "")?.with_origin(path, &name))
}

/// Atomically writes `array` as a standalone `.npy` file (format 1.0,
/// little-endian, C order).
pub fn write_npy(path: &Path, array: &NpyArray) -> Result<(), IoError> {
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = npy::encode(array, path, &name)?;
    write_atomic(path, &bytes)
}

/// Atomically writes `arrays` to an uncompressed `.npz` archive at `path`, as
/// `numpy.savez` would: one stored member `<name>.npy` per array, each an NPY
/// 1.0 file (little-endian, C order, header padded to 64 bytes).
///
/// The archive is built in a temporary file next to `path` and renamed over it
/// only once complete and flushed to disk (see [`write_atomic`]); on any error
/// the temporary file is removed and an existing `path` is left untouched.
/// Names must be non-empty and distinct, and each shape must match its data
/// length, or nothing is written and [`IoError::InvalidInput`] is returned.
pub fn write_npz(path: &Path, arrays: &[(&str, NpyArray)]) -> Result<(), IoError> {
    let invalid = |reason: String| IoError::InvalidInput { file: path.to_path_buf(), reason };
    let mut seen = BTreeSet::new();
    for (name, array) in arrays {
        if name.is_empty() {
            return Err(invalid("an array name is empty".to_string()));
        }
        if !seen.insert(*name) {
            return Err(invalid(format!("array name '{name}' is used twice")));
        }
        if npy::element_count(&array.shape) != Some(array.len()) {
            return Err(invalid(format!(
                "array '{name}' has shape {} but holds {} elements",
                array.shape_string(),
                array.len()
            )));
        }
    }

    write_atomic_with(path, |file| {
        let zip_err = |e: zip::result::ZipError| match e {
            zip::result::ZipError::Io(io) => IoError::io_write(path, "writing zip archive", io),
            other => invalid(format!("zip writer failed: {other}")),
        };
        let mut zip = ZipWriter::new(BufWriter::new(&*file));
        for (name, array) in arrays {
            let bytes = npy::encode(array, path, name)?;
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Stored)
                .last_modified_time(DateTime::default())
                .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
            zip.start_file(format!("{name}.npy"), options).map_err(zip_err)?;
            zip.write_all(&bytes).map_err(|e| IoError::io_write(path, "writing zip archive", e))?;
        }
        let mut buffered = zip.finish().map_err(zip_err)?;
        buffered.flush().map_err(|e| IoError::io_write(path, "writing zip archive", e))
    })
}
