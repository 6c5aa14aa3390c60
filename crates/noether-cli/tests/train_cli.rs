//! End-to-end tests of `noether train`: outputs, determinism across thread counts, NPZ data and
//! weights, and the errors a person gets for bad input (one line, non-zero exit, no output).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use noether_io::{NpyArray, read_npz, write_npz};

fn noether() -> Command {
    Command::new(env!("CARGO_BIN_EXE_noether"))
}

fn run(args: &[&str]) -> Output {
    noether().args(args).output().expect("spawn noether")
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).expect("read json")).expect("parse json")
}

/// A 2-class data set of 30 points in 3 dimensions, as numpy.savez would write it.
fn write_data(dir: &Path, x: NpyArray, y: NpyArray) -> PathBuf {
    let p = dir.join("data.npz");
    write_npz(&p, &[("x", x), ("y", y)]).unwrap();
    p
}

fn toy_x() -> NpyArray {
    let v: Vec<f64> = (0..90).map(|i| ((i * 37 % 17) as f64 - 8.0) / 4.0).collect();
    NpyArray::matrix(30, 3, v).unwrap()
}
fn toy_y() -> NpyArray {
    NpyArray::vector((0..30).map(|i| (i % 2) as i64).collect::<Vec<i64>>())
}

#[test]
fn train_writes_trajectory_summary_and_final_weights() {
    let dir = tmp();
    let out = dir.path().join("run");
    let o = run(&["train", "--steps", "40", "--lr", "0.05", "--record-every", "10", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j = read_json(&out.join("run.json"));
    let traj = j["trajectory"].as_array().unwrap();
    let steps: Vec<u64> = traj.iter().map(|p| p["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![0, 10, 20, 30, 40]);
    for p in traj {
        assert!(p["loss"].as_f64().unwrap().is_finite());
        assert_eq!(p["conserved"].as_array().unwrap().len(), 1);
        assert_eq!(p["imbalance"].as_array().unwrap().len(), 1);
    }
    let s = &j["summary"];
    assert_eq!(s["diverged"], false);
    assert_eq!(s["steps_completed"], 40);
    // The last trajectory point is the final state.
    assert_eq!(s["final_loss"], traj[4]["loss"]);
    let drift = &s["drift"];
    let abs = drift["abs_drift_final"][0].as_f64().unwrap();
    let pred = drift["predicted_drift_eta2_s"][0].as_f64().unwrap();
    assert!((abs - pred).abs() <= 1e-9 * pred, "drift {abs} vs η²S {pred}");
    let npz = read_npz(&out.join("final.npz")).unwrap();
    assert_eq!(npz.require("w1").unwrap().shape, vec![64, 20]);
    assert_eq!(npz.require("w2").unwrap().shape, vec![5, 64]);
    assert_eq!(npz.require("w1").unwrap().dtype_name(), "float64");
}

#[test]
fn same_seed_gives_identical_files_with_one_and_two_threads() {
    let dir = tmp();
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        for prec in ["f32", "f64"] {
            let out = dir.path().join(format!("t{threads}-{prec}"));
            let o = noether()
                .env("RAYON_NUM_THREADS", threads)
                .args(["train", "--steps", "100", "--lr", "0.1", "--precision", prec, "--out", out.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            outputs.push((
                prec,
                std::fs::read(out.join("run.json")).unwrap(),
                std::fs::read(out.join("final.npz")).unwrap(),
            ));
        }
    }
    for prec in ["f32", "f64"] {
        let same: Vec<_> = outputs.iter().filter(|(p, _, _)| *p == prec).collect();
        assert_eq!(same[0].1, same[1].1, "{prec}: run.json differs between 1 and 2 threads");
        assert_eq!(same[0].2, same[1].2, "{prec}: final.npz differs between 1 and 2 threads");
    }
    // And a different seed really changes the run (the comparison above can fail).
    let out = dir.path().join("other-seed");
    assert!(
        run(&["train", "--steps", "100", "--lr", "0.1", "--seed", "7", "--out", out.to_str().unwrap()])
            .status
            .success()
    );
    assert_ne!(std::fs::read(out.join("run.json")).unwrap(), outputs[1].1);
}

#[test]
fn trains_on_npz_data_and_resumes_from_final_weights() {
    let dir = tmp();
    let data = write_data(dir.path(), toy_x(), toy_y());
    let a = dir.path().join("a");
    let o = run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--hidden",
        "8",
        "--loss",
        "mse",
        "--steps",
        "20",
        "--lr",
        "0.1",
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ja = read_json(&a.join("run.json"));
    assert_eq!(ja["widths"], serde_json::json!([3, 8, 2]));
    // Continue 20 more steps from final.npz: the first point equals the last point of run a.
    let b = dir.path().join("b");
    let init = a.join("final.npz");
    let o = run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--hidden",
        "8",
        "--loss",
        "mse",
        "--steps",
        "20",
        "--lr",
        "0.1",
        "--init",
        init.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let jb = read_json(&b.join("run.json"));
    let last_a = ja["trajectory"].as_array().unwrap().last().unwrap().clone();
    let first_b = jb["trajectory"][0].clone();
    assert_eq!(last_a["loss"], first_b["loss"]);
    assert_eq!(last_a["conserved"], first_b["conserved"]);
}

/// Runs a command that must fail; returns its one-line message and checks no output appeared.
fn expect_error(args: &[&str], out: &Path) -> String {
    let o = run(args);
    assert!(!o.status.success(), "expected failure for {args:?}");
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "error should be one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!out.exists(), "no output may be written on error ({args:?})");
    err
}

#[test]
fn bad_input_gets_a_clear_one_line_error_and_no_output() {
    let dir = tmp();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();

    let e = expect_error(&["train", "--data", "/nonexistent/data.npz", "--out", o], &out);
    assert!(e.contains("/nonexistent/data.npz") && e.contains("not found"), "{e}");

    // x with the wrong rank.
    let bad = write_data(dir.path(), NpyArray::vector(vec![1.0f64; 30]), toy_y());
    let e = expect_error(&["train", "--data", bad.to_str().unwrap(), "--out", o], &out);
    assert!(e.contains("'x'") && e.contains("(30,)") && e.contains("(n, d)"), "{e}");

    // x with an integer dtype.
    let bad = write_data(dir.path(), NpyArray::matrix(30, 3, vec![1i64; 90]).unwrap(), toy_y());
    let e = expect_error(&["train", "--data", bad.to_str().unwrap(), "--out", o], &out);
    assert!(e.contains("'x'") && e.contains("int64"), "{e}");

    // Labels of float dtype.
    let bad = write_data(dir.path(), toy_x(), NpyArray::vector(vec![0.0f64; 30]));
    let e = expect_error(&["train", "--data", bad.to_str().unwrap(), "--out", o], &out);
    assert!(e.contains("'y'"), "{e}");

    // Weights whose input width does not match the data (d = 3, w1 has 5 columns).
    let data = write_data(dir.path(), toy_x(), toy_y());
    let w = dir.path().join("w.npz");
    write_npz(
        &w,
        &[
            ("w1", NpyArray::matrix(8, 5, vec![0.1f64; 40]).unwrap()),
            ("w2", NpyArray::matrix(2, 8, vec![0.1f64; 16]).unwrap()),
        ],
    )
    .unwrap();
    let e = expect_error(
        &["train", "--data", data.to_str().unwrap(), "--hidden", "8", "--init", w.to_str().unwrap(), "--out", o],
        &out,
    );
    assert!(e.contains("'w1'") && e.contains("(8, 5)") && e.contains("(8, 3)"), "{e}");

    // A missing weight array.
    let w = dir.path().join("w2only.npz");
    write_npz(&w, &[("w2", NpyArray::matrix(2, 8, vec![0.1f64; 16]).unwrap())]).unwrap();
    let e = expect_error(
        &["train", "--data", data.to_str().unwrap(), "--hidden", "8", "--init", w.to_str().unwrap(), "--out", o],
        &out,
    );
    assert!(e.contains("'w1'") && e.contains("w2"), "{e}");

    // Unknown key in a config file.
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "seed = 1\nlearning_rate = 0.1\n").unwrap();
    let e = expect_error(&["train", "--config", cfg.to_str().unwrap(), "--out", o], &out);
    assert!(e.contains("bad.toml") && e.contains("learning_rate") && e.contains("line 2"), "{e}");

    // Negative learning rate.
    let e = expect_error(&["train", "--lr=-0.1", "--out", o], &out);
    assert!(e.contains("learning rate") && e.contains("-0.1"), "{e}");

    // Unknown activation / loss / optimizer values name the allowed ones.
    let e = expect_error(&["train", "--activation", "tanh", "--out", o], &out);
    assert!(e.contains("tanh") && e.contains("relu"), "{e}");
    let e = expect_error(&["train", "--optimizer", "rmsprop", "--out", o], &out);
    assert!(e.contains("rmsprop") && e.contains("adam"), "{e}");
}

#[test]
fn divergence_is_a_result_not_a_crash() {
    let dir = tmp();
    let out = dir.path().join("div");
    let o = run(&["train", "--lr", "1e6", "--loss", "mse", "--steps", "50", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j = read_json(&out.join("run.json"));
    assert_eq!(j["summary"]["diverged"], true);
    let at = j["summary"]["diverged_at"].as_u64().unwrap();
    assert!(at > 0 && at < 50, "diverged at {at}");
    assert!(j["summary"]["steps_completed"].as_u64().unwrap() < 50);
}

/// The weights define the network: `--init` (train) and `--params` (hessian) without `--hidden`
/// take the widths and the biases from the file; a `--hidden` that disagrees is an error.
#[test]
fn weights_define_the_architecture() {
    let dir = tmp();
    let data = write_data(dir.path(), toy_x(), toy_y());
    let w = dir.path().join("w.npz");
    let vals = |n: usize| (0..n).map(|i| ((i * 7 % 11) as f64 - 5.0) / 20.0).collect::<Vec<f64>>();
    write_npz(
        &w,
        &[
            ("w1", NpyArray::matrix(16, 3, vals(48)).unwrap()),
            ("w2", NpyArray::matrix(2, 16, vals(32)).unwrap()),
            ("b1", NpyArray::vector(vals(16))),
            ("b2", NpyArray::vector(vals(2))),
        ],
    )
    .unwrap();
    let (d, w_s) = (data.to_str().unwrap(), w.to_str().unwrap());
    let out = dir.path().join("run");
    let o = run(&["train", "--data", d, "--init", w_s, "--steps", "5", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j = read_json(&out.join("run.json"));
    assert_eq!(j["widths"], serde_json::json!([3, 16, 2]));
    assert_eq!(j["config"]["bias"], true);
    assert_eq!(j["n_params"], 16 * 3 + 2 * 16 + 16 + 2);
    // The first point is the file's weights: ‖W1‖² as written.
    let w1_sq: f64 = vals(48).iter().map(|v| v * v).sum();
    let got = j["trajectory"][0]["weight_sq_norms"][0].as_f64().unwrap();
    assert!((got - w1_sq).abs() <= 1e-12 * w1_sq, "{got} vs {w1_sq}");

    let h = dir.path().join("h.json");
    let o = run(&["hessian", "--data", d, "--params", w_s, "--top", "2", "--out", h.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_json(&h)["n_params"], 98);

    // Explicit widths must agree with the file.
    let never = dir.path().join("never");
    let e = expect_error(
        &["train", "--data", d, "--init", w_s, "--hidden", "64", "--out", never.to_str().unwrap()],
        &never,
    );
    assert!(e.contains("[64]") && e.contains("[16]") && e.contains("w.npz"), "{e}");
    let e = expect_error(
        &["hessian", "--data", d, "--params", w_s, "--hidden", "8,8", "--top", "1", "--out", never.to_str().unwrap()],
        &never,
    );
    assert!(e.contains("[8, 8]") && e.contains("[16]"), "{e}");
    // Layers that do not chain.
    let bad = dir.path().join("bad.npz");
    write_npz(
        &bad,
        &[("w1", NpyArray::matrix(16, 3, vals(48)).unwrap()), ("w2", NpyArray::matrix(2, 8, vals(16)).unwrap())],
    )
    .unwrap();
    let e = expect_error(
        &["train", "--data", d, "--init", bad.to_str().unwrap(), "--out", never.to_str().unwrap()],
        &never,
    );
    assert!(e.contains("'w2'") && e.contains("chain"), "{e}");
}

/// Every JSON number under `v` (null counts as a non-number: serde_json writes NaN as null).
fn nulls_in(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Null => out.push(path.to_string()),
        serde_json::Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, x)| nulls_in(x, &format!("{path}[{i}]"), out))
        }
        serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| nulls_in(x, &format!("{path}.{k}"), out)),
        _ => {}
    }
}

/// Numeric edge cases through the CLI: each runs and says what it means, or is refused with a
/// reason; never a panic, and never a NaN (null) in the summary of a run that did not diverge.
#[test]
fn numeric_edge_cases_run_meaningfully_or_are_refused() {
    let dir = tmp();
    let x: Vec<f64> = (0..90).map(|i| ((i * 37 % 17) as f64 - 8.0) / 4.0).collect();
    let matrix = |n: usize, scale: f64| {
        NpyArray::matrix(n, 3, x[..n * 3].iter().map(|v| v * scale).collect::<Vec<f64>>()).unwrap()
    };
    let labels = |n: usize, k: i64| NpyArray::vector((0..n as i64).map(|i| i % k).collect::<Vec<i64>>());
    let file = |name: &str, x: NpyArray, y: NpyArray| {
        let p = dir.path().join(name);
        write_npz(&p, &[("x", x), ("y", y)]).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (huge, one, single_class, ok) = (
        file("huge.npz", matrix(30, 1e30), labels(30, 2)),
        file("one.npz", matrix(1, 1.0), labels(1, 1)),
        file("class1.npz", matrix(30, 1.0), labels(30, 1)),
        file("ok.npz", matrix(30, 1.0), labels(30, 2)),
    );
    // (arguments, Ok(stdout must contain) | Err(stderr must contain))
    let cases: Vec<(Vec<&str>, Result<&str, &str>)> = vec![
        (vec!["--data", &huge], Ok("diverged at step")),
        (vec!["--data", &huge, "--precision", "f32", "--loss", "mse"], Ok("diverged at step")),
        (vec!["--data", &ok, "--lr", "0"], Err("learning rate must be a positive finite number, got 0")),
        (vec!["--data", &ok, "--lr", "1e30"], Ok("diverged at step")),
        (vec!["--data", &ok, "--steps", "0"], Ok("steps = 0: θ_0 evaluated only")),
        (vec!["--data", &one, "--loss", "mse"], Ok("final loss")),
        (vec!["--data", &one], Err("one output (K = 1)")),
        (vec!["--data", &single_class], Err("softmax cross-entropy over one class is identically 0")),
        (vec!["--data", &single_class, "--loss", "mse"], Ok("final loss")),
        (vec!["--data", &ok, "--hidden", "1"], Ok("final loss")),
        (vec!["--data", &ok, "--hidden", "0"], Err("zero")),
        (vec!["--data", &ok, "--record-every", "0"], Err("record_every must be at least 1")),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut all = vec!["train"];
        if !args.contains(&"--steps") {
            all.extend(["--steps", "40"]);
        }
        all.extend(args.iter().copied());
        all.extend(["--out", out.to_str().unwrap()]);
        let o = run(&all);
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        match want {
            Ok(text) => {
                assert!(o.status.success(), "{args:?} failed: {stderr}");
                assert!(stdout.contains(text), "{args:?}: expected '{text}' in: {stdout}");
                let summary = read_json(&out.join("run.json"))["summary"].clone();
                if summary["diverged"] == false {
                    let mut nulls = Vec::new();
                    nulls_in(&summary, "summary", &mut nulls);
                    // Only optional parts may be absent: the bias variants (no biases here), the
                    // whole drift of a run without updates, the divergence step.
                    nulls.retain(|p| {
                        !(p.ends_with("_with_bias")
                            || p == "summary.diverged_at"
                            || p == "summary.drift"
                            || p == "summary.switching")
                    });
                    assert!(nulls.is_empty(), "{args:?}: NaN/null in a finished run's summary: {nulls:?}");
                } else {
                    assert!(summary["diverged_at"].is_u64(), "{args:?}: a divergence names its step");
                }
            }
            Err(text) => {
                assert_eq!(o.status.code(), Some(2), "{args:?} should be refused: {stdout}");
                assert!(stderr.contains(text) && stderr.trim().lines().count() == 1, "{args:?}: {stderr}");
                assert!(!out.exists(), "{args:?}: a refused run writes nothing");
            }
        }
    }
}
