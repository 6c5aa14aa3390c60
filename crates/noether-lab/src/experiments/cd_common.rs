//! Shared pieces of the convex-dominance experiments CD1–CD4 (spec `convex-dominance.md` §8–§9):
//! the teacher–student stream job, learning-rate grids, η* per horizon, exponent fits with
//! seed-bootstrap intervals, and the confirm/refute verdict strings.

use noether_nn::Precision;
use noether_theory::fit::ols_line;
use noether_theory::schedule::{Schedule, bootstrap_percentile_interval, parabolic_min_log_eta};
use noether_train::streaming::{StreamMeasure, StreamRecord, StreamSpec, StreamTask};
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::config::{Check, Invalid, at_least_one};
use crate::job::{Job, StreamJob};
use crate::results::Results;

/// The synthetic default of spec §8: d = 20, teacher width 8, σ = 0.5, student width 64,
/// B = 32, 4096 held-out samples.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskParams {
    pub d: usize,
    pub teacher_width: usize,
    pub noise_std: f64,
    pub n_holdout: usize,
    pub student_width: usize,
    pub batch: usize,
    /// Measure the held-out loss against the noise-free teacher (the excess risk, floor 0).
    #[serde(default)]
    pub clean_holdout: bool,
}

impl Check for TaskParams {
    fn check(&self) -> Result<(), Invalid> {
        at_least_one("task.d", self.d)?;
        at_least_one("task.teacher_width", self.teacher_width)?;
        at_least_one("task.student_width", self.student_width)?;
        at_least_one("task.batch", self.batch)?;
        at_least_one("task.n_holdout", self.n_holdout)?;
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(Invalid::new("task.noise_std", format!("must be finite and ≥ 0, got {}", self.noise_std)));
        }
        Ok(())
    }
}

impl TaskParams {
    pub fn spec(&self, seed: u64) -> StreamSpec {
        StreamSpec {
            task: StreamTask::TeacherStudent {
                d: self.d,
                teacher_width: self.teacher_width,
                noise_std: self.noise_std,
                n_holdout: self.n_holdout,
                clean_holdout: self.clean_holdout,
            },
            student_width: self.student_width,
            batch: Some(self.batch),
            seed,
        }
    }
    /// The floor of the measured loss: the Bayes loss σ²/2 (½-MSE; the student can represent
    /// the teacher exactly), or 0 when the held-out set is scored against the clean teacher.
    pub fn noise_floor(&self) -> f64 {
        if self.clean_holdout { 0.0 } else { 0.5 * self.noise_std * self.noise_std }
    }
}

/// Parses a schedule name: `linear`, `cosine`, `constant`, `inv_sqrt`, `wsd:C` (C = stable
/// fraction; `wsd:0.8` is the spec's WSD(0.2), i.e. a 20 % cool-down), `cyclic:N`.
pub fn parse_schedule(s: &str) -> Result<Schedule, String> {
    let bad = || format!("unknown schedule '{s}' (linear, cosine, constant, inv_sqrt, wsd:C with 0 ≤ C < 1, cyclic:N)");
    Ok(match s {
        "linear" => Schedule::Linear,
        "cosine" => Schedule::Cosine,
        "constant" => Schedule::Constant,
        "inv_sqrt" => Schedule::InverseSqrt,
        _ => {
            if let Some(c) = s.strip_prefix("wsd:") {
                let c: f64 = c.parse().map_err(|_| bad())?;
                if !(0.0..1.0).contains(&c) {
                    return Err(bad());
                }
                Schedule::Wsd { stable_fraction: c }
            } else if let Some(n) = s.strip_prefix("cyclic:") {
                Schedule::Cyclic { cycles: n.parse().map_err(|_| bad())?, floor: 0.0 }
            } else {
                return Err(bad());
            }
        }
    })
}

pub fn stream_job(
    spec: StreamSpec,
    precision: Precision,
    schedule: Schedule,
    peak_lr: f64,
    steps: usize,
    measure: StreamMeasure,
) -> Job {
    Job::Stream(StreamJob { spec, precision, schedule, peak_lr, steps, warmup: 0, measure })
}

pub fn record<'a>(results: &'a Results, job: &Job) -> Result<&'a StreamRecord, LabError> {
    results.stream(job)
}

/// η_ref grid: `n` values spaced by 2^{1/2} and centred (geometrically) on `centre`.
pub fn eta_ref_grid(centre: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| centre * 2f64.powf(0.5 * (i as f64 - (n as f64 - 1.0) / 2.0))).collect()
}

/// A geometric grid of `n` values from `min`, `per_octave` values per factor 2 (spacing
/// 2^{1/per_octave}); CD4's absolute η_peak grid.
pub fn geometric_grid(min: f64, n: usize, per_octave: usize) -> Vec<f64> {
    (0..n).map(|i| min * 2f64.powf(i as f64 / per_octave.max(1) as f64)).collect()
}

/// Final population loss per (outer index, η index, seed) of a job cube `jobs[h][e][s]`.
pub fn final_loss_cube(results: &Results, jobs: &[Vec<Vec<Job>>]) -> Result<Vec<Vec<Vec<f64>>>, LabError> {
    jobs.iter()
        .map(|row| row.iter().map(|js| js.iter().map(|j| Ok(record(results, j)?.final_loss)).collect()).collect())
        .collect()
}

/// Seed means (NaN-propagating) of a loss cube: `[h][e]`.
pub fn seed_means(c: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    c.iter().map(|row| row.iter().map(|s| mean(s)).collect()).collect()
}

/// Seed-mean of a column of values (NaN-propagating: a diverged seed makes the mean NaN).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Standard error of the mean over seeds (sample std / √n; NaN for n < 2).
pub fn sem(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt() / n.sqrt()
}

/// η* and the loss at η* of one loss-vs-peak-LR curve (parabola in ln η through the best grid
/// point and its neighbours); `None` if the minimum is at the grid's edge or not convex.
pub fn eta_star(etas: &[f64], losses: &[f64]) -> Option<(f64, f64)> {
    parabolic_min_log_eta(etas, losses).ok().map(|p| (p.eta_star, p.loss_at_min))
}

/// η* of one loss-vs-peak-LR curve, allowing a minimum at the stability limit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EtaStar {
    pub eta: f64,
    pub loss: f64,
    /// The best grid point is the largest stable one (the next larger η diverged): the
    /// parabola has no right neighbour and η* is that grid point, a lower bound within one
    /// grid step of the divergence edge.
    pub stability_limited: bool,
}

/// η* of a loss curve over an ascending η grid: the parabola in ln η of [`eta_star`] when the
/// best grid point has finite neighbours on both sides; else, when the best finite point is
/// the largest finite one and some larger η diverged (non-finite loss), that grid point
/// (`stability_limited`). `None` when the minimum is at the grid's lower end, at its upper end
/// with nothing diverged above it (the grid is too short), or the triple is not convex.
pub fn eta_star_or_edge(etas: &[f64], losses: &[f64]) -> Option<EtaStar> {
    if let Some((eta, loss)) = eta_star(etas, losses) {
        return Some(EtaStar { eta, loss, stability_limited: false });
    }
    let finite: Vec<usize> = (0..losses.len().min(etas.len())).filter(|&i| losses[i].is_finite()).collect();
    let best = *finite.iter().min_by(|&&a, &&b| losses[a].total_cmp(&losses[b]))?;
    let last = *finite.last()?;
    let diverged_above = (best + 1..losses.len()).any(|i| !losses[i].is_finite());
    (best == last && best != finite[0] && diverged_above).then(|| EtaStar {
        eta: etas[best],
        loss: losses[best],
        stability_limited: true,
    })
}

/// True if `v` (ordered from the largest to the smallest batch) never decreases and ends
/// strictly above where it starts ("β rises monotonically as the batch shrinks"); false with a
/// non-finite entry or fewer than 2 values.
pub fn rises_monotonically(v: &[f64]) -> bool {
    v.len() >= 2 && v.iter().all(|x| x.is_finite()) && v.windows(2).all(|w| w[1] >= w[0]) && v[v.len() - 1] > v[0]
}

/// β of η* ∝ T^{−β}: −slope of OLS ln η* on ln T (points with an interior minimum only;
/// `None` with fewer than 2).
pub fn beta_of(horizons: &[f64], eta_stars: &[Option<f64>]) -> Option<f64> {
    let (x, y): (Vec<f64>, Vec<f64>) =
        horizons.iter().zip(eta_stars).filter_map(|(t, e)| e.map(|e| (t.ln(), e.ln()))).unzip();
    if x.len() < 2 {
        return None;
    }
    ols_line(&x, &y).ok().map(|f| -f.slope)
}

/// A 95 % percentile-bootstrap interval over seeds: `losses[h][e][s]` (horizon, grid point,
/// seed) resampled by seed, statistic evaluated on the seed-mean matrix.
pub fn seed_bootstrap<F>(
    losses: &[Vec<Vec<f64>>],
    n_seeds: usize,
    stat: F,
    resamples: usize,
    seed: u64,
) -> Option<(f64, f64, f64)>
where
    F: Fn(&[Vec<f64>]) -> Option<f64>,
{
    let mean_of = |idx: &[usize]| -> Vec<Vec<f64>> {
        losses
            .iter()
            .map(|row| row.iter().map(|s| idx.iter().map(|&i| s[i]).sum::<f64>() / idx.len() as f64).collect())
            .collect()
    };
    bootstrap_percentile_interval(n_seeds, |idx| stat(&mean_of(idx)), resamples, 0.95, seed)
        .ok()
        .map(|b| (b.estimate, b.lower, b.upper))
}

/// "confirmed" / "refuted" / "neither (inconclusive)" for a spec criterion pair.
pub fn verdict(confirm: bool, refute: bool) -> &'static str {
    match (confirm, refute) {
        (true, false) => "CONFIRMED",
        (false, true) => "REFUTED",
        (true, true) => "mixed (both criteria met)",
        (false, false) => "inconclusive (neither criterion met)",
    }
}

/// Does the interval [lo, hi] overlap [a, b]?
pub fn overlaps(lo: f64, hi: f64, a: f64, b: f64) -> bool {
    lo <= b && hi >= a
}

/// Does [lo, hi] exclude [a, b] entirely (lies outside it)?
pub fn excludes(lo: f64, hi: f64, a: f64, b: f64) -> bool {
    hi < a || lo > b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_star_interior_edge_and_off_grid() {
        let etas = [0.1, 0.2, 0.4, 0.8];
        // Interior minimum: symmetric in ln η around 0.2 → the parabola's vertex is exactly 0.2.
        let s = eta_star_or_edge(&etas, &[3.0, 1.0, 3.0, 7.0]).unwrap();
        assert!((s.eta - 0.2).abs() < 1e-12 && (s.loss - 1.0).abs() < 1e-12 && !s.stability_limited);
        // Loss falls up to the divergence edge: η* = last stable grid point, flagged.
        let s = eta_star_or_edge(&etas, &[3.0, 2.0, 1.0, f64::NAN]).unwrap();
        assert_eq!((s.eta, s.loss, s.stability_limited), (0.4, 1.0, true));
        // Still falling at the top of the grid with nothing diverged: off grid.
        assert!(eta_star_or_edge(&etas, &[4.0, 3.0, 2.0, 1.0]).is_none());
        // Minimum at the bottom of the grid: off grid.
        assert!(eta_star_or_edge(&etas, &[1.0, 2.0, 3.0, f64::NAN]).is_none());
    }

    #[test]
    fn monotone_rise_and_grids() {
        assert!(rises_monotonically(&[0.0, 0.1, 0.1, 0.4]));
        assert!(!rises_monotonically(&[0.0, 0.2, 0.1]));
        assert!(!rises_monotonically(&[0.1, 0.1]));
        assert!(!rises_monotonically(&[0.0, f64::NAN, 0.5]));
        let g = geometric_grid(0.1, 5, 2);
        assert!((g[2] - 0.2).abs() < 1e-15 && (g[4] - 0.4).abs() < 1e-15 && (g[1] - 0.1 * 2f64.sqrt()).abs() < 1e-15);
        // β from exact power laws η* = T^−½.
        let hs = [256.0, 1024.0, 4096.0];
        let st: Vec<Option<f64>> = hs.iter().map(|t: &f64| Some(t.powf(-0.5))).collect();
        assert!((beta_of(&hs, &st).unwrap() - 0.5).abs() < 1e-12);
    }
}
