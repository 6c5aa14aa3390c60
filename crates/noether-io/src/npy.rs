//! The NPY array format: in-memory types, decoding and encoding.
//!
//! Format reference: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.
//! A file is the magic `\x93NUMPY`, a version byte pair, a little-endian header
//! length (`u16` for version 1.0, `u32` for 2.0 and 3.0), an ASCII/Latin-1
//! (1.0, 2.0) or UTF-8 (3.0) Python dict literal with keys `descr`,
//! `fortran_order` and `shape`, and then the raw element bytes.
//!
//! Decoding never trusts the header: the element count is computed with
//! overflow checks and must match the payload length exactly before anything
//! is allocated from it, so a truncated file or a header that lies about its
//! shape produces an error rather than a panic or a huge allocation.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::IoError;
use crate::pyliteral::{self, Py};

/// The magic string that starts every NPY file.
pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Element data of an array, one variant per supported NumPy dtype.
///
/// Data is always held in C (row-major) order and native byte order,
/// whatever the order in the file it was read from.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `float32` (`<f4`).
    F32(Vec<f32>),
    /// `float64` (`<f8`).
    F64(Vec<f64>),
    /// `int8` (`|i1`).
    I8(Vec<i8>),
    /// `int16` (`<i2`).
    I16(Vec<i16>),
    /// `int32` (`<i4`).
    I32(Vec<i32>),
    /// `int64` (`<i8`).
    I64(Vec<i64>),
    /// `uint8` (`|u1`).
    U8(Vec<u8>),
    /// `uint16` (`<u2`).
    U16(Vec<u16>),
    /// `uint32` (`<u4`).
    U32(Vec<u32>),
    /// `uint64` (`<u8`).
    U64(Vec<u64>),
    /// `bool` (`|b1`); any non-zero byte in a file reads as `true`.
    Bool(Vec<bool>),
}

/// Applies `$body` to the vector inside any `NpyData` variant, bound as `$v`.
macro_rules! each_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            NpyData::F32($v) => $body,
            NpyData::F64($v) => $body,
            NpyData::I8($v) => $body,
            NpyData::I16($v) => $body,
            NpyData::I32($v) => $body,
            NpyData::I64($v) => $body,
            NpyData::U8($v) => $body,
            NpyData::U16($v) => $body,
            NpyData::U32($v) => $body,
            NpyData::U64($v) => $body,
            NpyData::Bool($v) => $body,
        }
    };
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        each_variant!(self, v => v.len())
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// NumPy's name for the dtype: `"float32"`, `"int64"`, `"bool"`, ...
    pub fn dtype_name(&self) -> &'static str {
        self.dtype().name()
    }

    fn dtype(&self) -> Dtype {
        match self {
            NpyData::F32(_) => Dtype::F32,
            NpyData::F64(_) => Dtype::F64,
            NpyData::I8(_) => Dtype::I8,
            NpyData::I16(_) => Dtype::I16,
            NpyData::I32(_) => Dtype::I32,
            NpyData::I64(_) => Dtype::I64,
            NpyData::U8(_) => Dtype::U8,
            NpyData::U16(_) => Dtype::U16,
            NpyData::U32(_) => Dtype::U32,
            NpyData::U64(_) => Dtype::U64,
            NpyData::Bool(_) => Dtype::Bool,
        }
    }
}

macro_rules! impl_from_vec {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<Vec<$t>> for NpyData {
            fn from(v: Vec<$t>) -> Self { NpyData::$variant(v) }
        }
    )*};
}
impl_from_vec!(f32 => F32, f64 => F64, i8 => I8, i16 => I16, i32 => I32, i64 => I64,
               u8 => U8, u16 => U16, u32 => U32, u64 => U64, bool => Bool);

/// Where an array was read from; used to make conversion errors name the file.
#[derive(Debug, Clone)]
struct Origin {
    file: PathBuf,
    name: String,
}

/// An n-dimensional array: a shape plus C-order element data.
///
/// Arrays read from disk remember the file and array name they came from, so
/// that the checked conversions ([`to_f64_vec`](Self::to_f64_vec),
/// [`to_labels`](Self::to_labels), [`as_matrix_f64`](Self::as_matrix_f64))
/// can report errors like `data.npz: array 'x' has shape (200,) but (n, d) was
/// expected`. Equality compares only shape and data, not that origin.
///
/// Construct arrays with [`NpyArray::new`] (checks that the shape matches the
/// data length) or the [`vector`](Self::vector)/[`matrix`](Self::matrix)/
/// [`scalar`](Self::scalar) shorthands.
#[derive(Debug, Clone)]
pub struct NpyArray {
    /// Dimensions; empty for a 0-d (scalar) array.
    pub shape: Vec<usize>,
    /// Elements in C (row-major) order; `data.len()` equals the product of `shape`.
    pub data: NpyData,
    origin: Option<Origin>,
}

impl PartialEq for NpyArray {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.data == other.data
    }
}

impl NpyArray {
    /// Builds an array, returning `None` if the product of `shape` does not equal
    /// the number of elements in `data` (or overflows `usize`).
    pub fn new(shape: Vec<usize>, data: impl Into<NpyData>) -> Option<Self> {
        let data = data.into();
        (element_count(&shape) == Some(data.len())).then_some(NpyArray { shape, data, origin: None })
    }

    /// A 1-d array holding `data`.
    pub fn vector(data: impl Into<NpyData>) -> Self {
        let data = data.into();
        NpyArray { shape: vec![data.len()], data, origin: None }
    }

    /// A `rows x cols` array from row-major `data`; `None` if `rows * cols != data.len()`.
    pub fn matrix(rows: usize, cols: usize, data: impl Into<NpyData>) -> Option<Self> {
        Self::new(vec![rows, cols], data)
    }

    /// A 0-d array (shape `()`) holding a single value.
    pub fn scalar<T>(value: T) -> Self
    where
        Vec<T>: Into<NpyData>,
    {
        NpyArray { shape: Vec::new(), data: vec![value].into(), origin: None }
    }

    /// NumPy's name for the dtype: `"float32"`, `"int64"`, `"bool"`, ...
    pub fn dtype_name(&self) -> &'static str {
        self.data.dtype_name()
    }

    /// Number of elements (1 for a 0-d array).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of dimensions (0 for a scalar).
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The file and array name this array was read from, if it was read from disk.
    pub fn origin(&self) -> Option<(&Path, &str)> {
        self.origin.as_ref().map(|o| (o.file.as_path(), o.name.as_str()))
    }

    /// The shape in Python notation, e.g. `()`, `(200,)`, `(3, 4)`.
    pub fn shape_string(&self) -> String {
        shape_repr(&self.shape)
    }

    pub(crate) fn with_origin(mut self, file: &Path, name: &str) -> Self {
        self.origin = Some(Origin { file: file.to_path_buf(), name: name.to_string() });
        self
    }

    /// (file, name) for error messages; placeholders for in-memory arrays.
    fn context(&self) -> (PathBuf, String) {
        match &self.origin {
            Some(o) => (o.file.clone(), o.name.clone()),
            None => (PathBuf::from("<in-memory array>"), "?".to_string()),
        }
    }

    fn wrong_dtype(&self, expected: &str) -> IoError {
        let (file, name) = self.context();
        IoError::WrongDtype { file, name, expected: expected.to_string(), found: self.dtype_name().to_string() }
    }

    /// The elements as `f64`, for `float32` or `float64` arrays (float32 widens
    /// exactly). Other dtypes are a [`IoError::WrongDtype`] error: silently
    /// converting integers would hide a file that holds the wrong thing.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, IoError> {
        match &self.data {
            NpyData::F64(v) => Ok(v.clone()),
            NpyData::F32(v) => Ok(v.iter().map(|&x| f64::from(x)).collect()),
            _ => Err(self.wrong_dtype("float32 or float64")),
        }
    }

    /// The elements as class labels, for any integer dtype. A negative value (or,
    /// on 32-bit targets, one too large for `usize`) is a [`IoError::BadValue`]
    /// error naming its index and value.
    pub fn to_labels(&self) -> Result<Vec<usize>, IoError> {
        fn convert<T: Copy + fmt::Display>(
            arr: &NpyArray,
            v: &[T],
            f: impl Fn(T) -> Option<usize>,
        ) -> Result<Vec<usize>, IoError> {
            v.iter()
                .enumerate()
                .map(|(i, &x)| {
                    f(x).ok_or_else(|| {
                        let (file, name) = arr.context();
                        IoError::BadValue {
                            file,
                            name,
                            reason: format!("label at index {i} is {x}; labels must be non-negative integers"),
                        }
                    })
                })
                .collect()
        }
        match &self.data {
            NpyData::I8(v) => convert(self, v, |x| usize::try_from(x).ok()),
            NpyData::I16(v) => convert(self, v, |x| usize::try_from(x).ok()),
            NpyData::I32(v) => convert(self, v, |x| usize::try_from(x).ok()),
            NpyData::I64(v) => convert(self, v, |x| usize::try_from(x).ok()),
            NpyData::U8(v) => convert(self, v, |x| Some(usize::from(x))),
            NpyData::U16(v) => convert(self, v, |x| Some(usize::from(x))),
            NpyData::U32(v) => convert(self, v, |x| usize::try_from(x).ok()),
            NpyData::U64(v) => convert(self, v, |x| usize::try_from(x).ok()),
            _ => Err(self.wrong_dtype("an integer dtype")),
        }
    }

    /// The array as a row-major matrix `(rows, cols, data)`, for 2-d float arrays.
    ///
    /// `expected` describes the wanted shape for the error message, e.g. `"(n, d)"`;
    /// a non-2-d array is a [`IoError::WrongShape`] error, a non-float one a
    /// [`IoError::WrongDtype`] error.
    pub fn as_matrix_f64(&self, expected: &str) -> Result<(usize, usize, Vec<f64>), IoError> {
        let &[rows, cols] = self.shape.as_slice() else {
            let (file, name) = self.context();
            return Err(IoError::WrongShape { file, name, expected: expected.to_string(), found: self.shape_string() });
        };
        Ok((rows, cols, self.to_f64_vec()?))
    }
}

/// Python rendering of a shape tuple: `()`, `(5,)`, `(3, 4)`.
pub(crate) fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Product of the dimensions, or `None` on overflow.
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

// ---------------------------------------------------------------------------
// dtypes
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl Dtype {
    fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::U8 => "uint8",
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
            Dtype::U64 => "uint64",
            Dtype::Bool => "bool",
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }

    /// The descriptor NumPy writes for this dtype in little-endian order.
    fn descr_le(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I8 => "|i1",
            Dtype::I16 => "<i2",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
            Dtype::U8 => "|u1",
            Dtype::U16 => "<u2",
            Dtype::U32 => "<u4",
            Dtype::U64 => "<u8",
            Dtype::Bool => "|b1",
        }
    }

    /// Parses a descriptor such as `<f8`, `>i4`, `|u1`, `|b1`, `f8`, `?`.
    /// Returns the dtype and whether the data is big-endian.
    fn parse(descr: &str) -> Option<(Dtype, bool)> {
        let (order, rest) = match descr.as_bytes().first()? {
            b'<' | b'>' | b'|' | b'=' => (descr.as_bytes()[0], &descr[1..]),
            _ => (b'=', descr),
        };
        let big_endian = match order {
            b'>' => true,
            b'<' => false,
            // `|` means "not applicable" (1-byte types); `=` or nothing means native.
            _ => cfg!(target_endian = "big"),
        };
        let dtype = match rest {
            "f4" => Dtype::F32,
            "f8" => Dtype::F64,
            "i1" => Dtype::I8,
            "i2" => Dtype::I16,
            "i4" => Dtype::I32,
            "i8" => Dtype::I64,
            "u1" => Dtype::U8,
            "u2" => Dtype::U16,
            "u4" => Dtype::U32,
            "u8" => Dtype::U64,
            "b1" | "?" => Dtype::Bool,
            _ => return None,
        };
        // A byte-order mark on a multi-byte type must not be '|'.
        if order == b'|' && dtype.size() > 1 {
            return None;
        }
        Some((dtype, big_endian))
    }
}

// ---------------------------------------------------------------------------
// decoding
// ---------------------------------------------------------------------------

/// Parsed NPY header.
pub(crate) struct Header {
    dtype: Dtype,
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Decodes a complete NPY file image. `file` and `member` are used only for
/// error messages (`member` is empty for a standalone `.npy` file).
pub(crate) fn decode(bytes: &[u8], file: &Path, member: &str) -> Result<NpyArray, IoError> {
    let bad = |reason: String| IoError::BadNpyHeader { file: file.to_path_buf(), member: member.to_string(), reason };
    let (header, header_end, nbytes) = decode_header(bytes, file, member)?;
    let payload = &bytes[header_end..];
    if payload.len() != nbytes {
        return Err(bad(format!(
            "header says shape {} of {} ({} bytes) but the data section has {} bytes{}",
            shape_repr(&header.shape),
            header.dtype.name(),
            nbytes,
            payload.len(),
            if payload.len() < nbytes { " (truncated file?)" } else { "" }
        )));
    }

    let mut data = decode_elements(payload, header.dtype, header.big_endian);
    if header.fortran_order {
        data = fortran_to_c(data, &header.shape);
    }
    Ok(NpyArray { shape: header.shape, data, origin: None })
}

/// What an NPY header declares, read without the data section (see
/// [`read_npz_headers`](crate::read_npz_headers)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// The element type, as [`NpyArray::dtype_name`] spells it.
    pub dtype: &'static str,
    /// Bytes of the data section the shape and dtype imply.
    pub data_bytes: usize,
    /// Bytes before the data section (magic, version, length, header).
    pub header_bytes: usize,
}

/// The header of an NPY image (`bytes` needs to hold only the header, not the data); returns
/// it, where the data section starts, and its length in bytes. Shapes whose element or byte
/// count overflows are refused here, before anything is allocated.
pub(crate) fn decode_header(bytes: &[u8], file: &Path, member: &str) -> Result<(Header, usize, usize), IoError> {
    let bad = |reason: String| IoError::BadNpyHeader { file: file.to_path_buf(), member: member.to_string(), reason };

    if bytes.len() < 8 || &bytes[..6] != MAGIC {
        return Err(bad(format!(
            "does not start with the NPY magic \\x93NUMPY (file is {} bytes{})",
            bytes.len(),
            if bytes.len() < 8 { ", too short" } else { "" }
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, header_start) = match (major, minor) {
        (1, 0) => {
            let b = bytes.get(8..10).ok_or_else(|| bad("truncated before header length".into()))?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10usize)
        }
        (2, 0) | (3, 0) => {
            let b = bytes.get(8..12).ok_or_else(|| bad("truncated before header length".into()))?;
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (usize::try_from(len).map_err(|_| bad("header length too large".into()))?, 12)
        }
        _ => return Err(bad(format!("unsupported NPY format version {major}.{minor}"))),
    };
    let header_end = header_start.checked_add(header_len).filter(|&end| end <= bytes.len()).ok_or_else(|| {
        bad(format!(
            "header claims {header_len} bytes but only {} remain (truncated file?)",
            bytes.len() - header_start.min(bytes.len())
        ))
    })?;
    let raw_header = &bytes[header_start..header_end];
    let header_text: String = if major == 3 {
        std::str::from_utf8(raw_header).map_err(|_| bad("version 3.0 header is not valid UTF-8".into()))?.to_string()
    } else {
        // Versions 1.0 and 2.0 are Latin-1: every byte is one char.
        raw_header.iter().map(|&b| char::from(b)).collect()
    };

    let header = parse_header(&header_text, file, member)?;
    let count = element_count(&header.shape)
        .ok_or_else(|| bad(format!("shape {} overflows the element count", shape_repr(&header.shape))))?;
    let nbytes = count
        .checked_mul(header.dtype.size())
        .ok_or_else(|| bad(format!("shape {} overflows the byte count", shape_repr(&header.shape))))?;
    Ok((header, header_end, nbytes))
}

/// The public form of a decoded header.
pub(crate) fn public_header(header: &Header, header_end: usize, nbytes: usize) -> NpyHeader {
    NpyHeader { shape: header.shape.clone(), dtype: header.dtype.name(), data_bytes: nbytes, header_bytes: header_end }
}

fn parse_header(text: &str, file: &Path, member: &str) -> Result<Header, IoError> {
    let bad = |reason: String| IoError::BadNpyHeader { file: file.to_path_buf(), member: member.to_string(), reason };
    let value = pyliteral::parse(text).map_err(|e| bad(format!("unparseable header: {e}")))?;
    let Py::Dict(entries) = value else {
        return Err(bad(format!("header is not a dict: {}", value.repr())));
    };
    let lookup = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| matches!(k, Py::Str(s) if s == key))
            .map(|(_, v)| v)
            .ok_or_else(|| bad(format!("header has no '{key}' key")))
    };

    let (dtype, big_endian) = match lookup("descr")? {
        Py::Str(descr) => Dtype::parse(descr).ok_or_else(|| IoError::UnsupportedDtype {
            file: file.to_path_buf(),
            member: member.to_string(),
            dtype: format!("'{descr}'"),
        })?,
        other => {
            return Err(IoError::UnsupportedDtype {
                file: file.to_path_buf(),
                member: member.to_string(),
                dtype: format!("{} (structured dtype)", other.repr()),
            });
        }
    };
    let fortran_order = match lookup("fortran_order")? {
        Py::Bool(b) => *b,
        other => return Err(bad(format!("'fortran_order' is {} instead of True/False", other.repr()))),
    };
    let shape = match lookup("shape")? {
        Py::Tuple(dims) => dims
            .iter()
            .map(|d| match d {
                Py::Int(n) => {
                    usize::try_from(*n).map_err(|_| bad(format!("shape dimension {n} is negative or too large")))
                }
                other => Err(bad(format!("shape dimension {} is not an integer", other.repr()))),
            })
            .collect::<Result<Vec<usize>, _>>()?,
        other => return Err(bad(format!("'shape' is {} instead of a tuple", other.repr()))),
    };
    Ok(Header { dtype, big_endian, fortran_order, shape })
}

/// Converts the raw element bytes (whose length is a multiple of the dtype size).
fn decode_elements(payload: &[u8], dtype: Dtype, big_endian: bool) -> NpyData {
    macro_rules! numbers {
        ($t:ty, $variant:ident) => {{
            const N: usize = std::mem::size_of::<$t>();
            NpyData::$variant(
                payload
                    .chunks_exact(N)
                    .map(|c| {
                        let mut b = [0u8; N];
                        b.copy_from_slice(c);
                        if big_endian { <$t>::from_be_bytes(b) } else { <$t>::from_le_bytes(b) }
                    })
                    .collect(),
            )
        }};
    }
    match dtype {
        Dtype::F32 => numbers!(f32, F32),
        Dtype::F64 => numbers!(f64, F64),
        Dtype::I8 => numbers!(i8, I8),
        Dtype::I16 => numbers!(i16, I16),
        Dtype::I32 => numbers!(i32, I32),
        Dtype::I64 => numbers!(i64, I64),
        Dtype::U8 => NpyData::U8(payload.to_vec()),
        Dtype::U16 => numbers!(u16, U16),
        Dtype::U32 => numbers!(u32, U32),
        Dtype::U64 => numbers!(u64, U64),
        Dtype::Bool => NpyData::Bool(payload.iter().map(|&b| b != 0).collect()),
    }
}

/// Reorders elements stored in Fortran (column-major) order into C order.
fn fortran_to_c(data: NpyData, shape: &[usize]) -> NpyData {
    fn reorder<T: Copy>(src: Vec<T>, shape: &[usize]) -> Vec<T> {
        let nd = shape.len();
        if nd <= 1 || src.is_empty() {
            return src;
        }
        // Fortran strides (in elements): the first axis varies fastest.
        let mut fstride = vec![0usize; nd];
        let mut acc = 1usize;
        for (k, &d) in shape.iter().enumerate() {
            fstride[k] = acc;
            acc *= d; // cannot overflow: the product was checked during decoding
        }
        // Walk the C-order multi-index (last axis fastest), tracking the F offset.
        let mut index = vec![0usize; nd];
        let mut offset = 0usize;
        let mut out = Vec::with_capacity(src.len());
        for _ in 0..src.len() {
            out.push(src[offset]);
            for k in (0..nd).rev() {
                index[k] += 1;
                offset += fstride[k];
                if index[k] < shape[k] {
                    break;
                }
                offset -= fstride[k] * shape[k];
                index[k] = 0;
            }
        }
        out
    }
    macro_rules! go {
        ($($variant:ident),*) => {
            match data { $(NpyData::$variant(v) => NpyData::$variant(reorder(v, shape)),)* }
        };
    }
    go!(F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool)
}

// ---------------------------------------------------------------------------
// encoding
// ---------------------------------------------------------------------------

/// Encodes an array as an NPY version 1.0 file image: little-endian, C order,
/// header padded with spaces and a final newline so that the data starts at a
/// multiple of 64 bytes (what NumPy itself writes).
///
/// Errors (reported against `file`) if the shape does not match the data length
/// or the header would not fit the 1.0 format's 65535-byte limit.
pub(crate) fn encode(array: &NpyArray, file: &Path, name: &str) -> Result<Vec<u8>, IoError> {
    let invalid = |reason: String| IoError::InvalidInput { file: file.to_path_buf(), reason };
    if element_count(&array.shape) != Some(array.len()) {
        return Err(invalid(format!(
            "array '{name}' has shape {} but holds {} elements",
            shape_repr(&array.shape),
            array.len()
        )));
    }
    let dtype = array.data.dtype();
    let dict =
        format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", dtype.descr_le(), shape_repr(&array.shape));
    // magic(6) + version(2) + header length(2) + dict + padding + '\n'
    let unpadded = 6 + 2 + 2 + dict.len() + 1;
    let total_header = unpadded.div_ceil(64) * 64;
    let header_len = u16::try_from(total_header - 10)
        .map_err(|_| invalid(format!("array '{name}' has too many dimensions for an NPY 1.0 header")))?;

    let mut out = Vec::with_capacity(total_header + array.len() * dtype.size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total_header - 1, b' ');
    out.push(b'\n');
    match &array.data {
        NpyData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        NpyData::U8(v) => out.extend_from_slice(v),
        NpyData::I8(v) => out.extend(v.iter().map(|&x| x.to_le_bytes()[0])),
        NpyData::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::U16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::U32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::U64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("t.npy")
    }

    #[test]
    fn header_is_padded_to_64() {
        for shape in [vec![], vec![0], vec![3, 4], vec![2, 3, 4], vec![usize::MAX / 8, 0, 7]] {
            let n = element_count(&shape).unwrap();
            let arr = NpyArray::new(shape, vec![0u8; n]).unwrap();
            let bytes = encode(&arr, p(), "a").unwrap();
            let hl = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
            assert_eq!((10 + hl) % 64, 0);
            assert_eq!(bytes[10 + hl - 1], b'\n');
            assert_eq!(decode(&bytes, p(), "").unwrap(), arr);
        }
    }

    #[test]
    fn fortran_reorder_3d() {
        // shape (2, 3, 4); F-order storage of C-order values 0..24.
        let shape = [2usize, 3, 4];
        let mut f = vec![0i32; 24];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    let c = (i * 3 + j) * 4 + k;
                    let fo = i + 2 * (j + 3 * k);
                    f[fo] = c as i32;
                }
            }
        }
        let NpyData::I32(c) = fortran_to_c(NpyData::I32(f), &shape) else { unreachable!() };
        assert_eq!(c, (0..24).collect::<Vec<i32>>());
    }

    #[test]
    fn descr_parsing() {
        assert_eq!(Dtype::parse("<f8"), Some((Dtype::F64, false)));
        assert_eq!(Dtype::parse(">f4"), Some((Dtype::F32, true)));
        assert_eq!(Dtype::parse("|b1"), Some((Dtype::Bool, cfg!(target_endian = "big"))));
        assert_eq!(Dtype::parse("|f8"), None);
        assert_eq!(Dtype::parse("<f2"), None);
        assert_eq!(Dtype::parse("<U10"), None);
        assert_eq!(Dtype::parse(""), None);
        assert_eq!(Dtype::parse("<"), None);
    }

    #[test]
    fn never_panics_on_mangled_bytes() {
        let arr = NpyArray::new(vec![3, 4], (0..12).map(f64::from).collect::<Vec<_>>()).unwrap();
        let good = encode(&arr, p(), "a").unwrap();
        // Every truncation.
        for n in 0..good.len() {
            assert!(decode(&good[..n], p(), "").is_err(), "truncated to {n} accepted");
        }
        // Every single-byte corruption of the header region: may succeed or fail, never panic.
        for i in 0..64 {
            for v in [0u8, b'(', b')', b'\'', b'9', 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = decode(&b, p(), "");
            }
        }
    }
}
