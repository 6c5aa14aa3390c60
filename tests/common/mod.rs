//! Shared helpers of the workspace-level tests: the PyTorch golden cases.
#![allow(dead_code)]

use std::path::PathBuf;

use noether::nn::{Activation, Dataset, Loss, Mlp, Real};
use serde::Deserialize;

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

#[derive(Deserialize)]
pub struct TrajPoint {
    pub step: usize,
    pub loss: f64,
    pub weight_sq_norms: Vec<f64>,
    pub grad_sq_norms: Vec<f64>,
    pub conserved: Vec<f64>,
    pub imbalance: Vec<f64>,
}

/// One golden file of ../shared/golden (PyTorch float64 autograd).
#[derive(Deserialize)]
pub struct Golden {
    pub name: String,
    pub n: usize,
    pub widths: Vec<usize>,
    pub activation_eps: f64,
    pub ce_weight: f64,
    pub bias: bool,
    pub x: Vec<Vec<f64>>,
    pub y: Vec<usize>,
    pub weights: Vec<Vec<Vec<f64>>>,
    pub biases: Vec<Vec<f64>>,
    pub loss: f64,
    pub grad: Vec<serde_json::Value>,
    pub hvp_direction: Vec<serde_json::Value>,
    pub hvp: Vec<serde_json::Value>,
    pub hessian_eigenvalues: Vec<f64>,
    pub optimizer: String,
    pub lr: f64,
    pub steps: usize,
    pub trajectory: Vec<TrajPoint>,
    pub final_weights: Vec<Vec<Vec<f64>>>,
}

pub const CASES: [&str; 6] =
    ["relu2_ce_gd", "relu2_mse_gd", "linear2_mse_gd", "interp_deep_mix_gd", "relu2_bias_mse_momentum", "relu2_ce_adam"];

pub fn load(name: &str) -> Golden {
    let path = data_dir().join("golden").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Flattens nested JSON arrays of numbers (any depth) in order: row-major for matrices.
pub fn flatten(values: &[serde_json::Value]) -> Vec<f64> {
    fn rec(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| rec(x, out)),
            serde_json::Value::Number(n) => out.push(n.as_f64().expect("number")),
            other => panic!("unexpected JSON value {other}"),
        }
    }
    let mut out = Vec::new();
    values.iter().for_each(|v| rec(v, &mut out));
    out
}

impl Golden {
    pub fn net(&self) -> Mlp {
        Mlp::new(self.widths.clone(), Activation::interpolated(self.activation_eps).unwrap(), self.bias).unwrap()
    }
    pub fn loss_kind(&self) -> Loss {
        Loss::mix(self.ce_weight).unwrap()
    }
    pub fn dataset<T: Real>(&self) -> Dataset<T> {
        let d = self.widths[0];
        let rows: Vec<f64> = self.x.iter().flatten().copied().collect();
        Dataset::from_rows(self.n, d, &rows, self.y.clone(), *self.widths.last().unwrap()).unwrap()
    }
    /// Initial parameters in noether's flat order (W_1..W_L row-major, then b_1..b_L).
    pub fn params<T: Real>(&self) -> Vec<T> {
        let mut p: Vec<f64> = self.weights.iter().flatten().flatten().copied().collect();
        p.extend(self.biases.iter().flatten());
        p.into_iter().map(T::from_f64).collect()
    }
}

/// max_i |a_i − b_i| / max_i |b_i|: the relative error of a whole vector.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

pub fn to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}
