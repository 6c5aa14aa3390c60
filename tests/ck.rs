//! Acceptance tests of the c_k pipeline (spec E13–E23 §1.10, §2-E20/E21) through the lab's
//! `CkModes` job, against quantities computed independently of the dense eigendecomposition:
//!
//! * pairing identities: with c_k = p_k²|δ0|/‖g‖², p_k = v_kᵀg, the moments Σ_k λ_k^r c_k equal
//!   |δ0|·gᵀH^r g/‖g‖² for r = 0, 1, 2, where Hg comes from a central finite difference of the
//!   network's gradient. A c_k vector paired with the wrong eigenvalues (e.g. reversed order),
//!   eigenvectors in another flattening order, or a wrong δ0 fails these;
//! * first principles: the Σ_x⁻¹-corrected c^th equals (K/2)²‖G·u_k‖² with G = ∂L/∂W_eff
//!   recovered from the network's own backprop gradient (∂L/∂W1 = W2ᵀG for a linear net);
//! * the sorted reference metric is blind to which prediction goes with which mode, the
//!   mode-matched one is not.

use noether::lab::job::{DataSpec, HessianJob, Job, NetSpec, ProblemSpec, RngOrder};
use noether::lab::results::{CkModesResult, JobResult};
use noether::lab::runner::{build, run_job};
use noether::nn::Evaluator;
use noether::theory::crossover::{ck_comparison_matched, ck_comparison_sorted, theoretical_ck_linear};
use noether::train::run::Precision;

const N: usize = 100;
const D: usize = 6;
const K: usize = 3;
const M: usize = 8;

fn problem(seed: u64, eps: f64) -> ProblemSpec {
    ProblemSpec {
        seed,
        precision: Precision::F64,
        net: NetSpec::two_layer(M, eps),
        data: DataSpec::GaussianMixture { n: N, d: D, classes: K, separation: 2.0, n_test: 10 },
        rng_order: RngOrder::ModelThenData,
        ce_weight: 0.0,
    }
}

fn run(p: &ProblemSpec) -> CkModesResult {
    let job = Job::CkModes(HessianJob { problem: p.clone(), train_steps: 0, train_lr: 0.0, ck: true });
    match run_job(&job).unwrap() {
        JobResult::CkModes(r) => r,
        _ => panic!("wrong result kind"),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn ck_moments_match_finite_difference_hessian_products() {
    for (seed, eps) in [(3u64, 0.0), (5, 1.0), (11, 0.5)] {
        let p = problem(seed, eps);
        let r = run(&p);
        let h = &r.hessian;
        let ck = h.ck.as_ref().unwrap();
        let (net, data, params, loss) = build::<f64>(&p).unwrap();
        let mut eval = Evaluator::new(&net, loss, &data).unwrap();
        let np = params.len();
        let mut g = vec![0.0; np];
        eval.loss_and_grad(&params, &mut g);
        let gn2: f64 = g.iter().map(|x| x * x).sum();
        let gn = gn2.sqrt();
        // Hg by a central difference along ĝ.
        let step = 1e-5;
        let (mut gp, mut gm) = (vec![0.0; np], vec![0.0; np]);
        let shifted = |s: f64| -> Vec<f64> { params.iter().zip(&g).map(|(t, gi)| t + s * gi / gn).collect() };
        eval.loss_and_grad(&shifted(step), &mut gp);
        eval.loss_and_grad(&shifted(-step), &mut gm);
        let hg: Vec<f64> = gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * step) * gn).collect();
        let ghg: f64 = g.iter().zip(&hg).map(|(a, b)| a * b).sum();
        let hg2: f64 = hg.iter().map(|x| x * x).sum();
        let a = h.delta0.abs();
        let m0: f64 = ck.iter().sum();
        let m1: f64 = ck.iter().zip(&h.eigenvalues).map(|(c, l)| c * l).sum();
        let m2: f64 = ck.iter().zip(&h.eigenvalues).map(|(c, l)| c * l * l).sum();
        assert!(rel(m0, a) < 1e-12, "seed {seed} ε {eps}: Σc = {m0} vs |δ0| = {a}");
        assert!(rel(m1, a * ghg / gn2) < 1e-6, "seed {seed} ε {eps}: Σλc = {m1} vs {}", a * ghg / gn2);
        assert!(rel(m2, a * hg2 / gn2) < 1e-6, "seed {seed} ε {eps}: Σλ²c = {m2} vs {}", a * hg2 / gn2);
        // The same moments with c_k paired in reversed order are far off (the test can fail).
        let m1_rev: f64 = ck.iter().rev().zip(&h.eigenvalues).map(|(c, l)| c * l).sum();
        assert!(rel(m1_rev, a * ghg / gn2) > 0.1, "seed {seed}: reversed pairing not detected");
        // δ0 itself: ‖∂L/∂W2‖² − ‖∂L/∂W1‖² from the independent gradient.
        let d0: f64 = g[M * D..].iter().map(|x| x * x).sum::<f64>() - g[..M * D].iter().map(|x| x * x).sum::<f64>();
        assert!(rel(h.delta0, d0) < 1e-12);
        // Soft aggregation onto input modes conserves the total.
        let modes = r.modes.as_ref().unwrap();
        let agg: f64 = modes.emp.soft.iter().sum::<f64>() + modes.emp.unassigned;
        assert!(rel(agg, a) < 1e-10);
    }
}

#[test]
fn corrected_theoretical_ck_is_the_effective_gradient_energy() {
    let p = problem(7, 0.0);
    let r = run(&p);
    let modes = r.modes.as_ref().unwrap();
    let (net, data, params, loss) = build::<f64>(&p).unwrap();
    let mut eval = Evaluator::new(&net, loss, &data).unwrap();
    let mut g = vec![0.0; params.len()];
    eval.loss_and_grad(&params, &mut g);
    let (w1, w2) = params.split_at(M * D);
    let g1 = &g[..M * D];
    // G = (W2 W2ᵀ)⁻¹ W2 (∂L/∂W1), K×K solve by Gauss–Jordan.
    let mut a = vec![0.0; K * K];
    for i in 0..K {
        for j in 0..K {
            a[i * K + j] = (0..M).map(|h| w2[i * M + h] * w2[j * M + h]).sum();
        }
    }
    let mut b = vec![0.0; K * D];
    for i in 0..K {
        for l in 0..D {
            b[i * D + l] = (0..M).map(|h| w2[i * M + h] * g1[h * D + l]).sum();
        }
    }
    for c in 0..K {
        let piv = a[c * K + c];
        for j in 0..K {
            a[c * K + j] /= piv;
        }
        for l in 0..D {
            b[c * D + l] /= piv;
        }
        for rr in 0..K {
            if rr != c {
                let f = a[rr * K + c];
                for j in 0..K {
                    a[rr * K + j] -= f * a[c * K + j];
                }
                for l in 0..D {
                    b[rr * D + l] -= f * b[c * D + l];
                }
            }
        }
    }
    let gmat = b;
    // The same input eigenbasis from the data, W_eff = W2·W1.
    let x: Vec<f64> = (0..N * D).map(|i| data.get(i / D, i % D)).collect();
    let mut y = vec![0.0; N * K];
    for (i, &c) in data.labels.iter().enumerate() {
        y[i * K + c] = 1.0;
    }
    let mut w_eff = vec![0.0; K * D];
    for i in 0..K {
        for l in 0..D {
            w_eff[i * D + l] = (0..M).map(|h| w2[i * M + h] * w1[h * D + l]).sum();
        }
    }
    let th = theoretical_ck_linear(&x, &y, &w_eff, N, D, K).unwrap();
    for k in 0..D {
        let u = &th.u[k * D..(k + 1) * D];
        let e: f64 = (0..K).map(|i| (0..D).map(|l| gmat[i * D + l] * u[l]).sum::<f64>().powi(2)).sum();
        let want = e * (K as f64 / 2.0).powi(2);
        assert!(rel(modes.ck_th_ls[k], want) < 1e-8, "mode {k}: c^LS = {} vs (K/2)²‖Gu‖² = {want}", modes.ck_th_ls[k]);
        assert!(rel(th.ck_ls[k], modes.ck_th_ls[k]) < 1e-12);
    }
    // The literal (reference) formula is not this quantity.
    let lit: f64 = modes.ck_th.iter().sum();
    let ls: f64 = modes.ck_th_ls.iter().sum();
    assert!(rel(lit, ls) > 0.05, "literal {lit} vs corrected {ls}");
}

#[test]
fn sorted_metric_ignores_the_pairing_matched_metric_does_not() {
    let r = run(&problem(9, 0.0));
    let h = &r.hessian;
    let modes = r.modes.as_ref().unwrap();
    let ck = h.ck.as_ref().unwrap();
    let right = &modes.ck_th_ls;
    let reversed: Vec<f64> = right.iter().rev().copied().collect();
    let s_right = ck_comparison_sorted(ck, right, D, false).unwrap().r;
    let s_rev = ck_comparison_sorted(ck, &reversed, D, false).unwrap().r;
    assert_eq!(s_right, s_rev, "the sorted metric cannot tell a permuted prediction apart");
    let m_right = ck_comparison_matched(&modes.emp.soft, right, D, false).unwrap().r;
    let m_rev = ck_comparison_matched(&modes.emp.soft, &reversed, D, false).unwrap().r;
    assert!(m_right > m_rev + 0.5, "matched: right pairing {m_right} vs reversed {m_rev}");
}
