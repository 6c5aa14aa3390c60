//! E01–E03 — the conservation-law experiments of `exp_conservation_laws_v1.py` (results folder
//! `conservation_laws`; spec E01–E12 §2, E1–E3). One script, one planner, three experiments:
//!
//! * **E01** — conservation verification: GM-200, `mlp_2layer_nobias` (m = 64), CE, plain GD,
//!   η = 1e−3, T = 2000, 5 seeds. Paper: relative drift < 0.003 %.
//! * **E02** — biases break conservation: the same run for `mlp_2layer` (m = 64, biases),
//!   `deep4_nobias` (20→32→32→32→32→5) and `deep4_bias`, next to the bias-free 2-layer baseline.
//! * **E03** — drift ∼ η: the 2-layer bias-free net at η ∈ {1e−3, 1e−2, 1e−1}.
//!
//! **Reference protocol** (all three): the script's drift — for each conserved quantity
//! C_l = ‖W_{l+1}‖² − ‖W_l‖² (weights only, even with biases), the maximum over every step
//! t = 1..T of |C_l(t) − C_l(0)|/|C_l(0)| (`DriftSummary::max_rel_drift_per_layer`), the mean
//! over l (`max_rel_drift`), then the NaN-propagating mean and population std over seeds. The
//! script's printed verdict ("conserved" < 0.01, "partial" < 0.1, else "no") is a table column.
//! E03's slope is the OLS log-log fit of the three seed means (`power_law_fit`, mask
//! `GT_1E10` as in the drift-scaling family; the script itself does not fit, and no point is
//! anywhere near the threshold).
//!
//! **Robust protocols**, one per claim:
//! * E01: the *worst seed* instead of the seed mean. "Drift < 0.003 %" is offered as a
//!   verification of Theorem 1, and a verification bound has to hold in every run, not on
//!   average.
//! * E02: the *bias-corrected invariant* ‖W_{l+1}‖² − ‖W_l‖² − ‖b_l‖²
//!   (`DriftSummary::max_rel_drift_with_bias`), which is what gradient flow conserves when the
//!   hidden layers have biases (the spec's "log the corrected quantity too"). The paper gives no
//!   number for "bias breaks conservation"; the claim is read with the script's own verdict
//!   rule, i.e. "breaks" = relative drift > 0.01 (data/paper-claims.toml, E02).
//! * E03: the *per-seed* slopes over a denser grid on the same range,
//!   η ∈ {1e−3, 3e−3, 1e−2, 3e−2, 1e−1} (mean ± population std over seeds). Three seed means
//!   over two decades give one slope with no error bar and hide the curvature of the drift curve
//!   (local slope ≈ 1.0 at small η, rising towards 2 near the edge of stability); per-seed fits
//!   on a denser grid show both. The dense grid coincides with E05's grid points, so those runs
//!   are shared through the cache.
//!
//! Only summaries are stored per run (no per-step C(t)), so the plots show the per-seed /
//! per-configuration relative drift and E03's log-log fit rather than trajectories.

use noether_nn::Precision;
use noether_theory::fit::{
    FitMask, local_loglog_slopes, mean_finite_only, mean_nan_propagating, power_law_fit, std_pop_finite_only,
};
use noether_train::OptimizerKind;
use noether_train::probes::DriftSummary;
use serde::{Deserialize, Serialize};

use super::common::{Sweep, gm200, identity_violation};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule};
use crate::experiment::{Protocol, SEEDS5, Summary, Table, fmt};
use crate::job::{DataSpec, Job, Measure, NetSpec};
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;
use crate::results::TrainResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    E01,
    E02,
    E03,
}

/// One of the three experiments of the script.
pub struct ConservationLaws(Part);

pub static E01: ConservationLaws = ConservationLaws(Part::E01);
pub static E02: ConservationLaws = ConservationLaws(Part::E02);
pub static E03: ConservationLaws = ConservationLaws(Part::E03);

/// The script's architectures (all ReLU; `depth` = hidden layers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
enum Arch {
    #[serde(rename = "mlp_2layer_nobias")]
    TwoLayerPlain,
    #[serde(rename = "mlp_2layer")]
    TwoLayerWithBias,
    #[serde(rename = "deep4_nobias")]
    Deep4Plain,
    #[serde(rename = "deep4_bias")]
    Deep4WithBias,
}

impl Arch {
    fn bias(self) -> bool {
        matches!(self, Arch::TwoLayerWithBias | Arch::Deep4WithBias)
    }
    fn deep(self) -> bool {
        matches!(self, Arch::Deep4Plain | Arch::Deep4WithBias)
    }
    /// Prefix of the script's configuration key `<prefix>_lr<η>`.
    fn key(self) -> &'static str {
        match self {
            Arch::TwoLayerPlain => "2layer_nobias",
            Arch::TwoLayerWithBias => "2layer_bias",
            Arch::Deep4Plain => "deep4_nobias",
            Arch::Deep4WithBias => "deep4_bias",
        }
    }
}

/// Parameters shared by E01–E03 (configs/E0{1,2,3}.toml): the configurations `archs × lrs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    seeds: Vec<u64>,
    steps: usize,
    archs: Vec<Arch>,
    lrs: Vec<f64>,
    /// Hidden width of the `mlp_2layer*` nets (64).
    #[serde(default)]
    width: Option<usize>,
    /// Hidden width of the four hidden layers of the `deep4_*` nets (32).
    #[serde(default)]
    deep_width: Option<usize>,
    /// E03 only: the robust learning-rate grid.
    #[serde(default)]
    robust_lrs: Vec<f64>,
}

impl Params {
    fn net(&self, arch: Arch) -> Result<NetSpec, LabError> {
        let missing = |k: &str| LabError::LegacyConfig(format!("arch {} needs `{k}`", arch.key()));
        let hidden = if arch.deep() {
            vec![self.deep_width.ok_or_else(|| missing("deep_width"))?; 4]
        } else {
            vec![self.width.ok_or_else(|| missing("width"))?]
        };
        // Same NetSpec as NetSpec::two_layer(m, 1.0) for the bias-free 2-layer net, so those
        // runs are shared with E05 through the cache.
        Ok(NetSpec { hidden, activation_eps: 1.0, bias: arch.bias() })
    }
}

/// The runs of one architecture over a learning-rate grid.
struct ArchRuns {
    arch: Arch,
    net: NetSpec,
    sweep: Sweep,
}

/// The planner shared by E01–E03: every configuration of the experiment, plus E03's robust grid.
struct Planned {
    p: Params,
    archs: Vec<ArchRuns>,
    robust: Option<ArchRuns>,
}

impl Planned {
    fn load(ctx: &Context<'_>, part: Part) -> Result<Planned, LabError> {
        let p: Params = ctx.params()?;
        let bad = |msg: &str| {
            LabError::LegacyConfig(format!(
                "{} [{}]: {msg}",
                ctx.config.path.display(),
                if ctx.quick { "quick" } else { "full" }
            ))
        };
        if p.seeds.is_empty() || p.steps == 0 || p.archs.is_empty() || p.lrs.is_empty() {
            return Err(bad("seeds, steps, archs and lrs must be non-empty"));
        }
        if p.lrs.iter().chain(&p.robust_lrs).any(|&lr| !(lr.is_finite() && lr > 0.0)) {
            return Err(bad("learning rates must be finite and > 0"));
        }
        match part {
            Part::E01 if p.archs.len() != 1 || p.lrs.len() != 1 => {
                return Err(bad("E01 is one configuration: one arch, one lr"));
            }
            Part::E03 if p.archs.len() != 1 || p.lrs.len() < 3 || p.robust_lrs.len() < 3 => {
                return Err(bad("E03 needs one arch, ≥ 3 lrs and ≥ 3 robust_lrs"));
            }
            Part::E01 | Part::E02 if !p.robust_lrs.is_empty() => return Err(bad("robust_lrs is only used by E03")),
            _ => {}
        }
        let runs = |arch: Arch, lrs: &[f64]| -> Result<ArchRuns, LabError> {
            let net = p.net(arch)?;
            let precision = ctx.precision;
            let template = net.clone();
            let sweep = Sweep::new(lrs, &p.seeds, p.steps, OptimizerKind::Gd, &Measure::default(), move |seed| {
                gm200(seed, precision, template.clone(), 1.0)
            });
            Ok(ArchRuns { arch, net, sweep })
        };
        let archs = p.archs.iter().map(|&a| runs(a, &p.lrs)).collect::<Result<Vec<_>, _>>()?;
        let robust = if p.robust_lrs.is_empty() { None } else { Some(runs(p.archs[0], &p.robust_lrs)?) };
        Ok(Planned { p, archs, robust })
    }

    fn jobs(&self) -> Vec<Job> {
        self.archs.iter().chain(&self.robust).flat_map(|a| a.sweep.all_jobs()).collect()
    }
}

/// One configuration `<arch>_lr<η>` of the script: its runs, one per seed.
struct Config<'a> {
    arch: Arch,
    lr: f64,
    net: NetSpec,
    seeds: Vec<u64>,
    runs: Vec<&'a TrainResult>,
}

/// The configurations of `a`, one per learning rate of its sweep.
fn configs<'a>(a: &ArchRuns, results: &'a Results) -> Result<Vec<Config<'a>>, LabError> {
    a.sweep
        .jobs
        .iter()
        .zip(&a.sweep.lrs)
        .map(|(row, &lr)| {
            let runs = row
                .iter()
                .map(|j| {
                    results.get(j)?.train().ok_or_else(|| LabError::LegacyRun("expected a training result".into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Config { arch: a.arch, lr, net: a.net.clone(), seeds: a.sweep.seeds.clone(), runs })
        })
        .collect()
}

/// NaN-propagating seed mean (`np.mean`, as the script) and population std of the finite values.
fn mean_std(v: &[f64]) -> (f64, f64) {
    (mean_nan_propagating(v).unwrap_or(f64::NAN), std_pop_finite_only(v).0)
}

/// The verdict `exp_conservation_laws_v1.py` prints for a seed-mean relative drift.
fn script_verdict(mean: f64) -> &'static str {
    if mean < 0.01 {
        "conserved"
    } else if mean < 0.1 {
        "partial"
    } else {
        "no"
    }
}

/// |C_l(0)| with the threshold of the relative-drift definition.
fn rel_denominator(c0: f64) -> f64 {
    if c0.abs() <= noether_theory::conservation::REL_DRIFT_ABS_THRESHOLD { 1.0 } else { c0.abs() }
}

impl Config<'_> {
    fn label(&self) -> String {
        format!("{}_lr{}", self.arch.key(), self.lr)
    }
    fn layers(&self) -> usize {
        self.net.hidden.len()
    }
    /// `f` of every seed's drift summary; NaN for a diverged run.
    fn per_seed(&self, f: impl Fn(&DriftSummary) -> f64) -> Vec<f64> {
        self.runs.iter().map(|r| (if r.diverged { None } else { r.drift.as_ref() }).map_or(f64::NAN, &f)).collect()
    }
    /// Seed mean of `f(summary, l)` for every conserved quantity l.
    fn per_layer(&self, f: impl Fn(&DriftSummary, usize) -> f64) -> Vec<f64> {
        (0..self.layers()).map(|l| mean_std(&self.per_seed(|d| f(d, l))).0).collect()
    }
    /// Parameter count (spec: 1600, 1669, 3872, 4005).
    fn n_params(&self) -> usize {
        let (d, k) = DataSpec::gm200().dims();
        let mut w = vec![d];
        w.extend(&self.net.hidden);
        w.push(k);
        w.windows(2).map(|p| p[0] * p[1] + if self.net.bias { p[1] } else { 0 }).sum()
    }
    /// Largest relative deviation from drift = η²S over seeds and quantities (bias-free GD only).
    fn identity(&self) -> Option<f64> {
        if self.net.bias {
            return None;
        }
        let drift: Vec<Vec<f64>> = (0..self.layers()).map(|l| self.per_seed(|d| d.abs_drift_final[l])).collect();
        let pred: Vec<Vec<f64>> = (0..self.layers()).map(|l| self.per_seed(|d| d.predicted_drift_eta2_s[l])).collect();
        Some(identity_violation(&drift, &pred))
    }
    fn row(&self) -> ConfigRow {
        let rel = self.per_seed(|d| d.max_rel_drift);
        let (mean, std) = mean_std(&rel);
        let corrected = self.net.bias.then(|| self.per_seed(|d| d.max_rel_drift_with_bias.unwrap_or(f64::NAN)));
        let (corrected_mean, corrected_std) = corrected.as_deref().map_or((f64::NAN, f64::NAN), mean_std);
        let final_ce = mean_std(&self.runs.iter().map(|r| r.loss_before_last_update).collect::<Vec<_>>()).0;
        ConfigRow {
            config: self.label(),
            arch: self.arch,
            lr: self.lr,
            params: self.n_params(),
            seeds: self.seeds.clone(),
            diverged: self.runs.iter().filter(|r| r.diverged).count(),
            verdict: script_verdict(mean),
            rel,
            mean,
            std,
            per_layer: self.per_layer(|d, l| d.max_rel_drift_per_layer[l]),
            corrected,
            corrected_mean,
            corrected_std,
            c0: self.per_layer(|d, l| d.conserved_initial[l]),
            abs_final: self.per_layer(|d, l| d.abs_drift_final[l]),
            eta2_s: self.per_layer(|d, l| d.predicted_drift_eta2_s[l]),
            abs_final_corrected: self
                .net
                .bias
                .then(|| self.per_layer(|d, l| d.abs_drift_final_with_bias.as_ref().map_or(f64::NAN, |v| v[l]))),
            final_ce,
            identity_max_rel_violation: self.identity(),
        }
    }
}

/// Everything a configuration measured, aggregated over seeds (also written to summary.json).
#[derive(Serialize)]
struct ConfigRow {
    config: String,
    arch: Arch,
    lr: f64,
    params: usize,
    seeds: Vec<u64>,
    diverged: usize,
    verdict: &'static str,
    /// Per seed: mean over l of max_t |C_l(t) − C_l(0)|/|C_l(0)|.
    rel: Vec<f64>,
    mean: f64,
    std: f64,
    /// Seed means, per l.
    per_layer: Vec<f64>,
    /// Per seed, the same drift of C_l − ‖b_l‖² (bias nets).
    corrected: Option<Vec<f64>>,
    corrected_mean: f64,
    corrected_std: f64,
    c0: Vec<f64>,
    abs_final: Vec<f64>,
    eta2_s: Vec<f64>,
    abs_final_corrected: Option<Vec<f64>>,
    final_ce: f64,
    identity_max_rel_violation: Option<f64>,
}

/// The reference's numbers (spec E1–E3, recomputed there from the stored JSON), typed in.
struct RefRow {
    arch: Arch,
    lr: f64,
    mean: f64,
    std: f64,
    per_layer: &'static [f64],
    final_ce: f64,
}

const REFERENCE: &[RefRow] = &[
    RefRow { arch: Arch::TwoLayerPlain, lr: 1e-3, mean: 3.250e-5, std: 4.4e-6, per_layer: &[], final_ce: 0.050 },
    RefRow { arch: Arch::TwoLayerWithBias, lr: 1e-3, mean: 5.67e-4, std: 3.5e-4, per_layer: &[], final_ce: 0.052 },
    RefRow {
        arch: Arch::Deep4Plain,
        lr: 1e-3,
        mean: 1.27e-4,
        std: 1.45e-4,
        per_layer: &[2.1e-5, 3.6e-4, 1.3e-4, 1.1e-6],
        final_ce: 1.53,
    },
    RefRow {
        arch: Arch::Deep4WithBias,
        lr: 1e-3,
        mean: 4.15e-2,
        std: 3.7e-2,
        per_layer: &[4.4e-3, 8.7e-2, 7.2e-2, 2.1e-3],
        final_ce: 1.51,
    },
    RefRow { arch: Arch::TwoLayerPlain, lr: 1e-2, mean: 3.288e-4, std: 4.6e-5, per_layer: &[], final_ce: 0.00287 },
    RefRow { arch: Arch::TwoLayerPlain, lr: 1e-1, mean: 3.718e-3, std: 5.1e-4, per_layer: &[], final_ce: 0.000211 },
];

/// E1 per seed (42, 137, 256, 512, 1024): max relative drift and C(0).
const REF_E01_SEEDS: [f64; 5] = [3.20e-5, 3.30e-5, 2.62e-5, 4.00e-5, 3.13e-5];
const REF_E01_C0: [f64; 5] = [-20.10, -19.37, -19.39, -18.88, -20.50];

fn reference(arch: Arch, lr: f64) -> Option<&'static RefRow> {
    REFERENCE.iter().find(|r| r.arch == arch && (r.lr - lr).abs() <= 1e-12 * lr)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), fmt)
}

/// The per-configuration table shared by E01–E03, with the reference's values beside ours.
fn config_table(title: &str, rows: &[ConfigRow]) -> Table {
    let mut t = Table::new(
        title,
        &[
            "config",
            "P",
            "mean rel. drift",
            "std",
            "verdict (script rule)",
            "reference mean [ref.]",
            "reference std [ref.]",
            "reference verdict [ref.]",
            "C − ‖b‖² invariant: mean ± std",
            "mean_l |ΔC_l(T)|",
            "final CE",
            "reference final CE [ref.]",
            "diverged",
        ],
    );
    for r in rows {
        let rf = reference(r.arch, r.lr);
        let layers = r.abs_final.len().max(1) as f64;
        t.row(vec![
            r.config.clone(),
            r.params.to_string(),
            fmt(r.mean),
            fmt(r.std),
            r.verdict.into(),
            opt(rf.map(|x| x.mean)),
            opt(rf.map(|x| x.std)),
            rf.map_or("—", |x| script_verdict(x.mean)).into(),
            if r.corrected.is_some() {
                format!("{} ± {}", fmt(r.corrected_mean), fmt(r.corrected_std))
            } else {
                "— (no bias)".into()
            },
            fmt(r.abs_final.iter().sum::<f64>() / layers),
            fmt(r.final_ce),
            opt(rf.map(|x| x.final_ce)),
            format!("{}/{}", r.diverged, r.seeds.len()),
        ]);
    }
    t
}

fn identity_note(precision: Precision, rows: &[ConfigRow]) -> Option<String> {
    let checked: Vec<(String, f64)> =
        rows.iter().filter_map(|r| r.identity_max_rel_violation.map(|v| (r.config.clone(), v))).collect();
    if checked.is_empty() {
        return None;
    }
    let list: Vec<String> = checked.iter().map(|(c, v)| format!("{c}: {}", fmt(*v))).collect();
    let deep = rows.iter().any(|r| r.identity_max_rel_violation.is_some() && r.abs_final.len() > 1);
    Some(format!(
        "Identity drift = η²S (bias-free GD, every quantity l and seed), largest relative deviation |ΔC_l(T) − η²S_l|/η²S_l: {} ({}).",
        list.join("; "),
        match (precision, deep) {
            (Precision::F64, _) => "f64: exact up to rounding",
            (Precision::F32, false) => "f32: float32 rounding of the weights and of ‖W‖² adds to the true drift",
            (Precision::F32, true) => {
                "f32: float32 rounding of the weights and of ‖W‖² adds to the true drift; the deep bias-free net's |ΔC_l| ≈ 1e−5 at η = 1e−3 is at this noise floor (spec §1.10), compare the f64 run"
            }
        }
    ))
}

fn prec(ctx: &Context<'_>) -> &'static str {
    ctx.precision.name()
}

fn index_points(v: &[f64]) -> Vec<(f64, f64)> {
    v.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect()
}

fn points(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter().copied().zip(y.iter().copied()).collect()
}

fn series(label: String, points: Vec<(f64, f64)>, fit: Option<(f64, f64)>) -> Series {
    Series { label, points, fit, line: false }
}

impl Experiment for ConservationLaws {
    fn id(&self) -> &'static str {
        match self.0 {
            Part::E01 => "E01",
            Part::E02 => "E02",
            Part::E03 => "E03",
        }
    }
    fn title(&self) -> &'static str {
        match self.0 {
            Part::E01 => "Conservation verification (bias-free 2-layer, η = 1e−3)",
            Part::E02 => "Conservation with biases and depth",
            Part::E03 => "Conservation drift vs learning rate",
        }
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        Ok(Planned::load(ctx, self.0)?.jobs())
    }
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let planned = Planned::load(ctx, self.0)?;
        match self.0 {
            Part::E01 => summarize_e01(ctx, &planned, results),
            Part::E02 => summarize_e02(ctx, &planned, results),
            Part::E03 => summarize_e03(ctx, &planned, results),
        }
    }
}

fn summarize_e01(ctx: &Context<'_>, pl: &Planned, results: &Results) -> Result<Summary, LabError> {
    let cfgs = configs(&pl.archs[0], results)?;
    let c = &cfgs[0];
    let row = c.row();
    let mut sum = Summary::default();
    let worst = if row.rel.iter().all(|v| v.is_finite()) {
        row.rel.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    } else {
        f64::NAN
    };
    sum.measure(
        "E01.max_rel_drift",
        Protocol::Reference,
        row.mean,
        format!(
            "seed mean of max_t |C(t)−C(0)|/|C(0)|, {}, T = {}, {} seeds (std {})",
            row.config,
            pl.p.steps,
            row.seeds.len(),
            fmt(row.std)
        ),
    );
    sum.measure(
        "E01.max_rel_drift",
        Protocol::Robust,
        worst,
        format!("worst of {} seeds (a verification bound must hold in every run)", row.seeds.len()),
    );
    sum.tables.push(config_table(
        "The configuration (script's drift: max over t, mean over seeds)",
        std::slice::from_ref(&row),
    ));

    let c0 = c.per_seed(|d| d.conserved_initial[0]);
    let final_rel = c.per_seed(|d| d.abs_drift_final[0] / rel_denominator(d.conserved_initial[0]));
    let eta2s_rel = c.per_seed(|d| d.predicted_drift_eta2_s[0] / rel_denominator(d.conserved_initial[0]));
    let mut t = Table::new(
        "Per seed (the reference's seeds use torch's random streams: same seed numbers, different draws)",
        &[
            "seed",
            "C(0)",
            "max_t rel. drift",
            "final rel. drift",
            "η²S/|C(0)|",
            "final CE",
            "reference max rel. drift [ref.]",
            "reference C(0) [ref.]",
        ],
    );
    for (i, &seed) in c.seeds.iter().enumerate() {
        let k = SEEDS5.iter().position(|&s| s == seed);
        t.row(vec![
            seed.to_string(),
            fmt(c0[i]),
            fmt(row.rel[i]),
            fmt(final_rel[i]),
            fmt(eta2s_rel[i]),
            fmt(c.runs[i].loss_before_last_update),
            opt(k.map(|k| REF_E01_SEEDS[k])),
            opt(k.map(|k| REF_E01_C0[k])),
        ]);
    }
    sum.tables.push(t);

    let ratio = mean_finite_only(&row.rel.iter().zip(&final_rel).map(|(m, f)| m / f).collect::<Vec<_>>()).0;
    sum.notes.push(format!(
        "The paper's bound is 3e−5 (0.003 %); the reference's own seed mean is 3.25e−5 (0.00325 %, rounded to 0.003 % in the log) and its worst seed 4.00e−5, both above the bound. Ours: mean {} ({} %), worst seed {}.",
        fmt(row.mean),
        fmt(row.mean * 100.0),
        fmt(worst)
    ));
    sum.notes.push(format!(
        "This \"conservation\" is the GD discretisation drift η²S at η = {} (Theorem 2), not a test of exact conservation: it scales with η (E03). δ(t) keeps one sign, so max over t / final drift = {} (reference seed 42: 1.02).",
        c.lr,
        fmt(ratio)
    ));
    if let Some(n) = identity_note(ctx.precision, std::slice::from_ref(&row)) {
        sum.notes.push(n);
    }
    let plot = "rel_drift_per_seed.svg";
    let ref_pts: Vec<(f64, f64)> = c
        .seeds
        .iter()
        .enumerate()
        .filter_map(|(i, s)| SEEDS5.iter().position(|x| x == s).map(|k| ((i + 1) as f64, REF_E01_SEEDS[k])))
        .collect();
    xy_plot(
        &ctx.out_dir.join(plot),
        &format!("E01 max relative drift of C per seed, {} ({})", row.config, prec(ctx)),
        &format!("seed index ({})", c.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
        "max_t |C(t) − C(0)| / |C(0)|",
        &[
            series("measured".into(), index_points(&row.rel), None),
            series("reference (typed in, torch seeds)".into(), ref_pts, None),
        ],
        &[(3e-5, "paper bound 0.003 %".into())],
        false,
        false,
    )?;
    sum.plots.push(plot.into());
    sum.data = serde_json::json!({ "config": row, "worst_seed": worst, "final_rel_drift": final_rel, "eta2_s_rel": eta2s_rel });
    Ok(sum)
}

fn summarize_e02(ctx: &Context<'_>, pl: &Planned, results: &Results) -> Result<Summary, LabError> {
    let mut cfgs = Vec::new();
    for a in &pl.archs {
        cfgs.extend(configs(a, results)?);
    }
    let rows: Vec<ConfigRow> = cfgs.iter().map(Config::row).collect();
    let mut sum = Summary::default();
    let find = |arch: Arch| rows.iter().find(|r| r.arch == arch);
    if let Some(b) = find(Arch::TwoLayerWithBias) {
        sum.measure(
            "E02.rel_drift_bias_2layer",
            Protocol::Reference,
            b.mean,
            format!(
                "weight-only C = ‖W2‖² − ‖W1‖², seed mean of max_t rel. drift, {}, {} seeds (std {})",
                b.config,
                b.seeds.len(),
                fmt(b.std)
            ),
        );
        sum.measure(
            "E02.rel_drift_bias_2layer",
            Protocol::Robust,
            b.corrected_mean,
            format!(
                "bias-corrected invariant ‖W2‖² − ‖W1‖² − ‖b1‖², same drift definition (std {})",
                fmt(b.corrected_std)
            ),
        );
    }
    sum.tables.push(config_table(
        "Per configuration (weight-only C as the script; corrected invariant for bias nets)",
        &rows,
    ));

    let mut t = Table::new(
        "Per conserved quantity of the deep nets (seed means)",
        &[
            "config",
            "l",
            "C_l(0)",
            "min over seeds |C_l(0)|",
            "max rel. drift",
            "reference [ref.]",
            "|ΔC_l(T)|",
            "η²S_l",
            "|Δ(C_l − ‖b_l‖²)(T)|",
        ],
    );
    for (c, r) in cfgs.iter().zip(&rows).filter(|(c, _)| c.layers() > 1) {
        let rf = reference(r.arch, r.lr);
        for l in 0..c.layers() {
            let min_c0 = c.per_seed(|d| d.conserved_initial[l].abs()).into_iter().fold(f64::INFINITY, f64::min);
            t.row(vec![
                r.config.clone(),
                (l + 1).to_string(),
                fmt(r.c0[l]),
                fmt(min_c0),
                fmt(r.per_layer[l]),
                opt(rf.and_then(|x| x.per_layer.get(l).copied())),
                fmt(r.abs_final[l]),
                if c.net.bias { "— (bias)".into() } else { fmt(r.eta2_s[l]) },
                r.abs_final_corrected.as_ref().map_or("— (no bias)".into(), |v| fmt(v[l])),
            ]);
        }
    }
    if !t.rows.is_empty() {
        sum.tables.push(t);
    }

    if let (Some(b), Some(n)) = (find(Arch::TwoLayerWithBias), find(Arch::TwoLayerPlain)) {
        sum.notes.push(format!(
            "2-layer with bias: weight-only drift {} = {}× the bias-free drift (reference 5.67e−4/3.25e−5 = 17×), verdict by the script's own rule: \"{}\". With the invariant gradient flow actually conserves, ‖W2‖² − ‖W1‖² − ‖b1‖², the drift is {} = {}× the bias-free drift: the weight-only \"breaking\" is mostly ‖b1‖² changing, not a failure of conservation.",
            fmt(b.mean),
            fmt(b.mean / n.mean),
            b.verdict,
            fmt(b.corrected_mean),
            fmt(b.corrected_mean / n.mean),
        ));
    }
    if let (Some(b), Some(n)) = (find(Arch::Deep4WithBias), find(Arch::Deep4Plain)) {
        sum.notes.push(format!(
            "deep4: weight-only drift {} with biases vs {} without (verdicts \"{}\" / \"{}\"); corrected invariant with biases {}. Relative deep-net drifts are inflated by small |C_l(0)| (C_1..C_3 compare layers of equal expected norm), so one seed with a tiny denominator dominates the mean; the deep nets barely train at η = 1e−3 (final CE {} / {}, ln 5 = 1.609).",
            fmt(b.mean),
            fmt(n.mean),
            b.verdict,
            n.verdict,
            fmt(b.corrected_mean),
            fmt(b.final_ce),
            fmt(n.final_ce),
        ));
    }
    sum.notes.push(
        "Reading of the claim: the paper states no number for \"bias breaks conservation\"; the claim is checked with the script's own verdict rule (\"breaks\" = mean relative drift > 0.01). Reference protocol = weight-only C as the script (compared with the reference's 5.67e−4); robust protocol = the bias-corrected invariant."
            .into(),
    );
    if let Some(n) = identity_note(ctx.precision, &rows) {
        sum.notes.push(n);
    }
    let plot = "rel_drift_per_config.svg";
    let corrected: Vec<(f64, f64)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.corrected.is_some())
        .map(|(i, r)| ((i + 1) as f64, r.corrected_mean))
        .collect();
    let refs: Vec<(f64, f64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| reference(r.arch, r.lr).map(|x| ((i + 1) as f64, x.mean)))
        .collect();
    let labels: Vec<String> = rows.iter().enumerate().map(|(i, r)| format!("{} = {}", i + 1, r.config)).collect();
    xy_plot(
        &ctx.out_dir.join(plot),
        &format!("E02 relative drift of C per configuration ({})", prec(ctx)),
        &labels.join(", "),
        "seed-mean max_t rel. drift",
        &[
            series(
                "weight-only C (script)".into(),
                index_points(&rows.iter().map(|r| r.mean).collect::<Vec<_>>()),
                None,
            ),
            series("C − ‖b‖² (bias nets)".into(), corrected, None),
            series("reference, weight-only (typed in)".into(), refs, None),
        ],
        &[(0.01, "script: conserved < 0.01".into()), (0.1, "script: partial < 0.1".into())],
        false,
        true,
    )?;
    sum.plots.push(plot.into());
    sum.data = serde_json::json!({ "configs": rows });
    Ok(sum)
}

/// Whether η is one of the robust grid's learning rates (its runs are then the same jobs).
fn main_in_robust(robust_lrs: &[f64], lr: f64) -> bool {
    robust_lrs.iter().any(|&x| (x - lr).abs() <= 1e-12 * lr)
}

/// Per-seed OLS slopes of ln(value) on ln η (NaN where a seed has < 3 usable points).
fn per_seed_slopes(etas: &[f64], by_eta: &[Vec<f64>], mask: FitMask) -> Vec<f64> {
    let n = by_eta.first().map_or(0, Vec::len);
    (0..n)
        .map(|s| {
            let y: Vec<f64> = by_eta.iter().map(|v| v[s]).collect();
            power_law_fit(etas, &y, mask).map_or(f64::NAN, |f| f.alpha)
        })
        .collect()
}

fn summarize_e03(ctx: &Context<'_>, pl: &Planned, results: &Results) -> Result<Summary, LabError> {
    let main = &pl.archs[0];
    let robust = pl.robust.as_ref().ok_or_else(|| LabError::LegacyConfig("E03 needs robust_lrs".into()))?;
    let rel_of = |r: &TrainResult| r.drift.as_ref().map_or(f64::NAN, |d| d.max_rel_drift);
    let mask = FitMask::GT_1E10;
    let rel = main.sweep.matrix(results, rel_of)?;
    let curve = Curve::from_seeds(&main.sweep.lrs, &rel, SeedRule::NanPropagating);
    let fit = curve.alpha(mask);
    let rrel = robust.sweep.matrix(results, rel_of)?;
    let rcurve = Curve::from_seeds(&robust.sweep.lrs, &rrel, SeedRule::NanPropagating);
    let rfit = rcurve.alpha(mask);
    let slopes3 = per_seed_slopes(&main.sweep.lrs, &rel, mask);
    let slopes_dense = per_seed_slopes(&robust.sweep.lrs, &rrel, mask);
    let (ps_mean, ps_n) = mean_finite_only(&slopes_dense);
    let ps_std = std_pop_finite_only(&slopes_dense).0;
    let grid = |v: &[f64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
    let mut sum = Summary::default();
    if let Some(f) = &fit {
        sum.measure(
            "E03.slope",
            Protocol::Reference,
            f.alpha,
            format!(
                "OLS ln(seed-mean rel. drift) on ln η over η = {{{}}} ({} points, {} seeds), R² = {}",
                grid(&main.sweep.lrs),
                f.n_points,
                pl.p.seeds.len(),
                fmt(f.r2)
            ),
        );
    }
    sum.measure(
        "E03.slope",
        Protocol::Robust,
        ps_mean,
        format!(
            "mean of per-seed slopes over η = {{{}}}: {} ± {} (pop. std, {} seeds); seed-mean fit on that grid {}",
            grid(&robust.sweep.lrs),
            fmt(ps_mean),
            fmt(ps_std),
            ps_n,
            rfit.as_ref().map_or("—".into(), |f| fmt(f.alpha))
        ),
    );
    let rows: Vec<ConfigRow> = configs(main, results)?.iter().map(Config::row).collect();
    sum.tables.push(config_table("The script's three configurations", &rows));

    let robust_cfgs = configs(robust, results)?;
    let rows_dense: Vec<ConfigRow> = robust_cfgs.iter().map(Config::row).collect();
    let local = local_loglog_slopes(&rcurve.etas, &rcurve.mean).unwrap_or_default();
    let mut t = Table::new(
        "Robust grid (same range, more η): seed means",
        &[
            "η",
            "mean rel. drift",
            "std",
            "mean η²S/|C(0)|",
            "final CE",
            "local slope to next η",
            "reference mean [ref.]",
        ],
    );
    for (i, r) in rows_dense.iter().enumerate() {
        let eta2s_rel = mean_std(
            &robust_cfgs[i].per_seed(|d| d.predicted_drift_eta2_s[0] / rel_denominator(d.conserved_initial[0])),
        )
        .0;
        t.row(vec![
            fmt(r.lr),
            fmt(r.mean),
            fmt(r.std),
            fmt(eta2s_rel),
            fmt(r.final_ce),
            local.get(i).map_or("—".into(), |v| fmt(*v)),
            opt(reference(r.arch, r.lr).map(|x| x.mean)),
        ]);
    }
    sum.tables.push(t);

    let mut t = Table::new("Per-seed log-log slopes", &["seed", "slope, script grid", "slope, robust grid"]);
    for (i, seed) in pl.p.seeds.iter().enumerate() {
        t.row(vec![seed.to_string(), fmt(slopes3[i]), fmt(slopes_dense[i])]);
    }
    let (m3, s3) = (mean_finite_only(&slopes3).0, std_pop_finite_only(&slopes3).0);
    t.row(vec![
        "mean ± std".into(),
        format!("{} ± {}", fmt(m3), fmt(s3)),
        format!("{} ± {}", fmt(ps_mean), fmt(ps_std)),
    ]);
    sum.tables.push(t);

    sum.notes.push(format!(
        "Reference: slope 1.029 (R² 0.9998) over the seed means 3.250e−5, 3.288e−4, 3.718e−3 (the script itself does not fit). Ours: {} (R² {}). \"drift ∼ η\" is a mid-range local slope of drift = η²S, not a contradiction of Theorem 2's per-step η²: S(η) ≈ ∫δ dτ/η over a horizon ηT after which training has converged. The local slope rises towards 2 near the edge of stability (E05), so the slope depends on the η window.",
        opt(fit.as_ref().map(|f| f.alpha)),
        opt(fit.as_ref().map(|f| f.r2)),
    ));
    let mut all_rows: Vec<ConfigRow> = rows_dense;
    all_rows.extend(rows.into_iter().filter(|r| !main_in_robust(&robust.sweep.lrs, r.lr)));
    all_rows.sort_by(|a, b| a.lr.total_cmp(&b.lr));
    if let Some(n) = identity_note(ctx.precision, &all_rows) {
        sum.notes.push(n);
    }
    let plot = "drift_vs_lr.svg";
    let ref_pts: Vec<(f64, f64)> =
        main.sweep.lrs.iter().filter_map(|&lr| reference(main.arch, lr).map(|x| (lr, x.mean))).collect();
    xy_plot(
        &ctx.out_dir.join(plot),
        &format!("E03 relative drift vs η, {} ({})", main.arch.key(), prec(ctx)),
        "learning rate η",
        "seed-mean max_t |C(t) − C(0)|/|C(0)|",
        &[
            series(
                format!("script grid, slope {}", opt(fit.as_ref().map(|f| f.alpha))),
                points(&curve.etas, &curve.mean),
                fit.as_ref().map(|f| (f.alpha, f.intercept)),
            ),
            series(
                format!("robust grid, slope {}", opt(rfit.as_ref().map(|f| f.alpha))),
                points(&rcurve.etas, &rcurve.mean),
                rfit.as_ref().map(|f| (f.alpha, f.intercept)),
            ),
            series("reference (typed in)".into(), ref_pts, None),
        ],
        &[],
        true,
        true,
    )?;
    sum.plots.push(plot.into());
    sum.data = serde_json::json!({
        "curve": curve,
        "fit": fit,
        "robust_curve": rcurve,
        "robust_fit": rfit,
        "per_seed_slopes_script_grid": slopes3,
        "per_seed_slopes_robust_grid": slopes_dense,
        "configs": all_rows,
    });
    Ok(sum)
}
