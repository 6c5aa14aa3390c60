//! The floating-point types noether computes in.
//!
//! Every numerical crate of the workspace is generic over [`Real`], implemented for `f32`
//! (faithful to the float32 reference implementation) and `f64` (clean arithmetic). The trait
//! bundles faer's `RealField` (so views of `Real` can go through faer's GEMM and eigensolvers)
//! with the handful of elementary functions the networks and solvers need.

use core::fmt::{Debug, Display};
use core::iter::Sum;
use core::ops::Neg;

/// A real floating-point scalar: `f32` or `f64`.
pub trait Real:
    faer::traits::RealField
    + Copy
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + Sum
    + Neg<Output = Self>
    + PartialOrd
    + 'static
{
    /// `"f32"` or `"f64"`, as written in configs and records.
    const NAME: &'static str;
    /// Machine epsilon.
    const EPSILON: Self;
    const ZERO: Self;
    const ONE: Self;

    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn is_finite(self) -> bool;
    fn mul_add(self, a: Self, b: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ty, $name:literal) => {
        impl Real for $t {
            const NAME: &'static str = $name;
            const EPSILON: Self = <$t>::EPSILON;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
        }
    };
}
impl_real!(f32, "f32");
impl_real!(f64, "f64");

/// Which [`Real`] a computation runs in, as a value: what configs, jobs and records name
/// (`"f32"` / `"f64"`). Dispatch from a `Precision` to the generic code with a `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE single precision, as the float32 reference implementation ran.
    F32,
    /// IEEE double precision.
    F64,
}

impl Precision {
    /// Both precisions, in the order the suite runs them.
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::F64];

    /// `"f32"` or `"f64"` (= [`Real::NAME`] of the matching type).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => f32::NAME,
            Precision::F64 => f64::NAME,
        }
    }

    /// The precision of the scalar type `T`.
    pub fn of<T: Real>() -> Precision {
        if T::NAME == f32::NAME { Precision::F32 } else { Precision::F64 }
    }
}

impl core::fmt::Display for Precision {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Precision {
    type Err = String;
    /// Parses `"f32"` or `"f64"`; the error names the allowed values.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            _ => Err(format!("precision must be f32 or f64, got '{s}'")),
        }
    }
}
