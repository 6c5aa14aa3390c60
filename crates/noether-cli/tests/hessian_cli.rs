//! End-to-end tests of `noether hessian`: JSON fields and their order, agreement between
//! methods, density plot, and errors.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_noether")).args(args).output().expect("spawn noether")
}

fn json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn lanczos_and_dense_agree_and_fields_are_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l.json");
    let d = dir.path().join("d.json");
    let o = run(&["hessian", "--top", "3", "--bottom", "2", "--out", l.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o =
        run(&["hessian", "--top", "3", "--bottom", "2", "--full", "--method", "dense", "--out", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (jl, jd) = (json(&l), json(&d));
    assert_eq!(jl["method"], "lanczos");
    assert_eq!(jd["method"], "dense");
    assert_eq!(jl["n_params"], 1600);
    let top = floats(&jl["top"]["values"]);
    let bottom = floats(&jl["bottom"]["values"]);
    assert!(top.windows(2).all(|w| w[0] >= w[1]), "top must be descending: {top:?}");
    assert!(bottom.windows(2).all(|w| w[0] <= w[1]), "bottom must be ascending: {bottom:?}");
    assert!(floats(&jl["top"]["residuals"]).iter().all(|&r| r <= 1e-8));
    assert!(jl["top"]["converged"].as_array().unwrap().iter().all(|c| c == true));
    assert!(jl["products"].as_u64().unwrap() > 0 && jl["wall_seconds"].as_f64().unwrap() >= 0.0);
    let full = floats(&jd["full"]);
    assert_eq!(full.len(), 1600);
    assert!(full.windows(2).all(|w| w[0] <= w[1]), "full spectrum must be ascending");
    for k in 0..3 {
        assert!((top[k] - full[1599 - k]).abs() < 1e-8 * full[1599].abs(), "top {k}");
    }
    for k in 0..2 {
        assert!((bottom[k] - full[k]).abs() < 1e-8 * full[1599].abs(), "bottom {k}");
    }
    assert_eq!(floats(&jd["top"]["values"]), vec![full[1599], full[1598], full[1597]]);
}

#[test]
fn density_and_trace_with_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.json");
    let svg = dir.path().join("density.svg");
    let o = run(&[
        "hessian",
        "--density",
        "--trace",
        "--probes",
        "4",
        "--steps",
        "30",
        "--plot",
        svg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&out);
    let integral = j["density"]["integral"].as_f64().unwrap();
    assert!((integral - 1.0).abs() < 1e-3, "density integrates to {integral}");
    let tr = j["trace"]["estimate"].as_f64().unwrap();
    let mean = j["density"]["mean_eigenvalue"].as_f64().unwrap();
    // Both estimate tr(H) (with the same probes here): they must agree.
    assert!((tr / 1600.0 - mean).abs() < 1e-9 * tr.abs().max(1.0), "{tr} vs {mean}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("<polyline"), "not an SVG line plot");
}

#[test]
fn hessian_errors_are_actionable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.json");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &[&str]); 4] = [
        (&["hessian", "--out", o], &["nothing to compute"]),
        (&["hessian", "--top", "3", "--method", "power", "--out", o], &["power iteration", "lanczos"]),
        (
            &["hessian", "--full", "--memory-gib", "0.001", "--out", o],
            &["GiB", "Lanczos", "--method lanczos", "--memory-gib"],
        ),
        (&["hessian", "--top", "1", "--method", "qr", "--out", o], &["qr", "lanczos, power, dense"]),
    ];
    for (args, needles) in cases {
        let r = run(args);
        assert!(!r.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&r.stderr).trim().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: '{err}' lacks '{n}'");
        }
        assert!(!out.exists());
    }
}
