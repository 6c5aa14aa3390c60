//! Paper claims (data/paper-claims.toml) against what we measured: results/claims.json.
//!
//! Verdicts: under the **reference** protocol a measured number is compared with the reference
//! implementation's own value (did we reproduce what their code did?); under the **robust**
//! protocol it is compared with the paper's claim (does the claim survive an honest protocol?).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::experiment::{Measured, Protocol};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How a measured number is compared with the paper's.
pub enum ClaimKind {
    /// |measured − target| ≤ tolerance.
    #[default]
    Approx,
    /// measured < target (e.g. "drift < 0.003 %").
    LessThan,
    /// measured > target (e.g. "R² > 0.99").
    GreaterThan,
}

/// One claim of the paper with the reference implementation's number.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSpec {
    /// `E05.alpha`, `CD1.beta_eta_star`, …: the experiment id, a dot, a name.
    pub id: String,
    /// The experiment that measures the claim.
    pub experiment: String,
    /// The claim in words, as the paper states it.
    pub statement: String,
    /// The paper's number (or bound).
    pub paper: Option<f64>,
    /// What the reference code actually produced (from the spec).
    pub reference: Option<f64>,
    /// Tolerance of an `approx` comparison (seed spread of the reference).
    pub tolerance: f64,
    /// How the paper's number is meant (approx, less_than, greater_than).
    #[serde(default)]
    pub kind: ClaimKind,
    /// Why a measured value may differ from the paper (one line, from the spec's audit).
    #[serde(default)]
    pub why: String,
    /// The claim rests on a comparison that cannot fail (e.g. the correlation of two
    /// independently sorted lists): agreement says nothing, and the report says so.
    #[serde(default)]
    pub cannot_fail: bool,
    /// What a verdict other than "reproduced" comes from, when that is a property of the test
    /// (a grid edge, one learning rate, a window, …) rather than of the paper.
    #[serde(default)]
    pub cause: Option<Cause>,
    /// The same measurement as another claim (same runs, same number): reported, but counted
    /// once, under that claim.
    #[serde(default)]
    pub duplicate_of: Option<String>,
}

/// What a claim's verdict rests on (issue 12 item 5: every `differs` says which failure it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The optimum or read-out sits at the edge of the grid or of stability.
    GridEdge,
    /// The number hinges on one learning rate (typically the EoS point η = 0.3).
    OneLearningRate,
    /// The number depends on the fit window (the η range, or which checkpoints fall in it).
    Window,
    /// Set by which seeds diverge or where they land: the tolerance is below the seed spread.
    SeedSpread,
    /// The paper's number is not the quantity measured (a rounding, a definition, an identity).
    Definition,
    /// The protocol cannot identify the quantity (signal below the noise, an unidentifiable term).
    Identifiability,
    /// A disagreement with the paper that survives the audit.
    Finding,
}

impl Cause {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Cause::GridEdge => "grid or stability edge",
            Cause::OneLearningRate => "one learning rate",
            Cause::Window => "fit window",
            Cause::SeedSpread => "seed spread",
            Cause::Definition => "definition",
            Cause::Identifiability => "not identifiable",
            Cause::Finding => "finding",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    claim: Vec<ClaimSpec>,
}

/// Reads data/paper-claims.toml; refuses duplicate ids.
pub fn load_claims(path: &Path) -> Result<Vec<ClaimSpec>, LabError> {
    let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
    let f: ClaimsFile = toml::from_str(&text).map_err(|e| LabError::config(path, None, None, e.message()))?;
    let mut seen = std::collections::HashSet::new();
    for c in &f.claim {
        if !seen.insert(c.id.clone()) {
            return Err(LabError::config(path, None, Some("claim.id"), format!("claim '{}' appears twice", c.id)));
        }
    }
    for c in &f.claim {
        if let Some(d) = &c.duplicate_of
            && (d == &c.id || !seen.contains(d))
        {
            return Err(LabError::config(
                path,
                None,
                Some("claim.duplicate_of"),
                format!("claim '{}' is a duplicate of '{d}', which is not another claim of the file", c.id),
            ));
        }
    }
    Ok(f.claim)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// The outcome of one claim under one protocol and precision.
pub enum Verdict {
    /// The measured value meets the claim within its tolerance.
    Reproduced,
    /// It was measured and does not.
    Differs,
    /// Not measured (the experiment did not run, or its value was not finite).
    NotRun,
    /// Measured, but the claim's premise is not met on this task (an optimum at the edge of
    /// the grid or at the stability edge, too few interior points): the number says nothing
    /// for or against the claim. The row's `how` gives the reason.
    Untestable,
}

/// One row of results/claims.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimRow {
    /// The claim id.
    pub claim: String,
    /// The experiment id.
    pub experiment: String,
    /// The paper's number, if it states one.
    pub paper: Option<f64>,
    /// The reference implementation's number, if the spec gives one.
    pub reference: Option<f64>,
    /// What we measured (`None`: not run).
    pub measured: Option<f64>,
    /// `f32` or `f64`.
    pub precision: String,
    /// Reference (the paper's procedure) or robust protocol.
    pub protocol: Protocol,
    /// The comparison's outcome.
    pub verdict: Verdict,
    /// How the measured number was obtained.
    pub how: String,
    /// Why it may differ (from the claims file).
    pub why: String,
}

fn verdict(spec: &ClaimSpec, protocol: Protocol, m: f64, interval: Option<[f64; 2]>) -> Verdict {
    if !m.is_finite() {
        return Verdict::Differs;
    }
    // Reference protocol → the reference's number; robust → the paper's claim. Where the paper
    // states no number (E07's SGD baseline), the robust value is held against the reference's.
    let (target, kind) = match (protocol, spec.reference, spec.paper) {
        (Protocol::Reference, Some(r), _) => (r, ClaimKind::Approx),
        (_, _, Some(p)) => (p, spec.kind),
        (Protocol::Robust, Some(r), None) => (r, ClaimKind::Approx),
        (_, None, None) => return Verdict::NotRun,
    };
    let ok = match (kind, interval) {
        // An interval decides by overlap with the claim: the claim is reproduced unless every
        // value the data allow is outside it.
        (ClaimKind::Approx, Some([lo, hi])) => lo <= target + spec.tolerance && hi >= target - spec.tolerance,
        (ClaimKind::LessThan, Some([lo, _])) => lo < target,
        (ClaimKind::GreaterThan, Some([_, hi])) => hi > target,
        (ClaimKind::Approx, None) => (m - target).abs() <= spec.tolerance,
        (ClaimKind::LessThan, None) => m < target,
        (ClaimKind::GreaterThan, None) => m > target,
    };
    if ok { Verdict::Reproduced } else { Verdict::Differs }
}

/// Joins the claims file with measured values. `measured[(precision, experiment)]` holds what
/// each experiment reported; claims of experiments that did not run are `not-run`. A measured
/// claim id missing from the claims file is an error (a typo would otherwise vanish).
pub fn build_rows(
    specs: &[ClaimSpec],
    measured: &BTreeMap<(String, String), Vec<Measured>>,
    ran: &[(String, String)],
) -> Result<Vec<ClaimRow>, LabError> {
    let by_id: BTreeMap<&str, &ClaimSpec> = specs.iter().map(|c| (c.id.as_str(), c)).collect();
    for ((_, exp), ms) in measured {
        for m in ms {
            if !by_id.contains_key(m.claim.as_str()) {
                return Err(LabError::analysis(
                    exp,
                    format!("measured claim '{}', which data/paper-claims.toml does not define", m.claim),
                ));
            }
        }
    }
    let mut rows = Vec::new();
    let precisions: Vec<String> = {
        let mut p: Vec<String> = ran.iter().map(|(p, _)| p.clone()).collect();
        p.sort();
        p.dedup();
        if p.is_empty() { vec!["f32".into(), "f64".into()] } else { p }
    };
    for spec in specs {
        for precision in &precisions {
            let key = (precision.clone(), spec.experiment.clone());
            let ms: Vec<&Measured> =
                measured.get(&key).map(|v| v.iter().filter(|m| m.claim == spec.id).collect()).unwrap_or_default();
            if ms.is_empty() {
                rows.push(ClaimRow {
                    claim: spec.id.clone(),
                    experiment: spec.experiment.clone(),
                    paper: spec.paper,
                    reference: spec.reference,
                    measured: None,
                    precision: precision.clone(),
                    protocol: Protocol::Reference,
                    verdict: Verdict::NotRun,
                    how: if ran.contains(&key) {
                        "not measured by this experiment".into()
                    } else {
                        "experiment not run".into()
                    },
                    why: spec.why.clone(),
                });
            }
            for m in ms {
                rows.push(ClaimRow {
                    claim: spec.id.clone(),
                    experiment: spec.experiment.clone(),
                    paper: spec.paper,
                    reference: spec.reference,
                    measured: m.value.is_finite().then_some(m.value),
                    precision: precision.clone(),
                    protocol: m.protocol,
                    verdict: if m.untestable.is_some() {
                        Verdict::Untestable
                    } else {
                        verdict(spec, m.protocol, m.value, m.interval)
                    },
                    how: match (&m.untestable, m.interval) {
                        (Some(reason), _) => format!("untestable here: {reason}; measured as: {}", m.how),
                        (None, Some(_)) => format!("{} (verdict from the interval)", m.how),
                        (None, None) => m.how.clone(),
                    },
                    why: spec.why.clone(),
                });
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(paper: Option<f64>, reference: Option<f64>, kind: ClaimKind) -> ClaimSpec {
        ClaimSpec {
            id: "X.c".into(),
            experiment: "X".into(),
            statement: String::new(),
            paper,
            reference,
            tolerance: 0.03,
            kind,
            why: String::new(),
            cannot_fail: false,
            cause: None,
            duplicate_of: None,
        }
    }

    #[test]
    fn reference_protocol_compares_with_the_reference_within_tolerance() {
        let s = spec(Some(1.16), Some(1.1628), ClaimKind::Approx);
        assert_eq!(verdict(&s, Protocol::Reference, 1.144, None), Verdict::Reproduced);
        assert_eq!(verdict(&s, Protocol::Reference, 1.20, None), Verdict::Differs);
        assert_eq!(verdict(&s, Protocol::Reference, f64::NAN, None), Verdict::Differs);
    }

    #[test]
    fn robust_protocol_compares_with_the_paper_by_its_kind() {
        let lt = spec(Some(3e-5), Some(3.25e-5), ClaimKind::LessThan);
        assert_eq!(verdict(&lt, Protocol::Robust, 2.9e-5, None), Verdict::Reproduced);
        assert_eq!(verdict(&lt, Protocol::Robust, 3.1e-5, None), Verdict::Differs);
        let gt = spec(Some(0.99), Some(0.9907), ClaimKind::GreaterThan);
        assert_eq!(verdict(&gt, Protocol::Robust, 0.994, None), Verdict::Reproduced);
        assert_eq!(verdict(&gt, Protocol::Robust, 0.98, None), Verdict::Differs);
        // Without a paper number the robust value is held against the reference's.
        let no_paper = spec(None, Some(1.055), ClaimKind::Approx);
        assert_eq!(verdict(&no_paper, Protocol::Robust, 1.094, None), Verdict::Differs);
        assert_eq!(verdict(&no_paper, Protocol::Robust, 1.06, None), Verdict::Reproduced);
        assert_eq!(verdict(&spec(None, None, ClaimKind::Approx), Protocol::Robust, 1.0, None), Verdict::NotRun);
    }

    #[test]
    fn a_measured_claim_missing_from_the_claims_file_is_an_error() {
        let specs = vec![spec(Some(1.0), Some(1.0), ClaimKind::Approx)];
        let mut measured = BTreeMap::new();
        measured.insert(
            ("f32".to_string(), "X".to_string()),
            vec![Measured {
                claim: "X.typo".into(),
                value: 1.0,
                protocol: Protocol::Reference,
                how: String::new(),
                untestable: None,
                interval: None,
            }],
        );
        let err = build_rows(&specs, &measured, &[("f32".into(), "X".into())]).unwrap_err();
        assert!(err.to_string().contains("X.typo"), "{err}");
    }

    /// A measurement whose premise is not met is `untestable`, never `differs`, whatever its
    /// value, and its row says why; the same value without the flag is judged as usual.
    #[test]
    fn a_duplicate_must_name_another_claim_of_the_file() {
        let dir = std::env::temp_dir().join(format!("noether-claims-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("claims.toml");
        let claim = |id: &str, extra: &str| {
            format!("[[claim]]\nid = \"{id}\"\nexperiment = \"X\"\nstatement = \"s\"\ntolerance = 0.1\n{extra}\n")
        };
        std::fs::write(&file, claim("A", "cause = \"window\"") + &claim("B", "duplicate_of = \"A\"")).unwrap();
        let specs = load_claims(&file).unwrap();
        assert_eq!(specs[0].cause, Some(Cause::Window));
        assert_eq!(specs[1].duplicate_of.as_deref(), Some("A"));
        for bad in ["duplicate_of = \"Z\"", "duplicate_of = \"B\""] {
            std::fs::write(&file, claim("A", "") + &claim("B", bad)).unwrap();
            let e = load_claims(&file).unwrap_err().to_string();
            assert!(e.contains("duplicate of") && e.contains("claim 'B'"), "{e}");
        }
        std::fs::write(&file, claim("A", "cause = \"bad luck\"")).unwrap();
        assert!(load_claims(&file).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_unmet_premise_gives_untestable_with_the_reason() {
        let specs = vec![spec(Some(0.5), None, ClaimKind::Approx)];
        let m = |untestable: Option<&str>| Measured {
            claim: "X.c".into(),
            value: 0.0,
            protocol: Protocol::Reference,
            how: "OLS".into(),
            untestable: untestable.map(String::from),
            interval: None,
        };
        let run = |ms: Vec<Measured>| {
            let mut measured = BTreeMap::new();
            measured.insert(("f64".to_string(), "X".to_string()), ms);
            build_rows(&specs, &measured, &[("f64".into(), "X".into())]).unwrap()
        };
        let rows = run(vec![m(Some("η* at the edge at every T"))]);
        assert_eq!(rows[0].verdict, Verdict::Untestable);
        assert!(rows[0].how.contains("η* at the edge at every T") && rows[0].how.contains("OLS"), "{}", rows[0].how);
        assert_eq!(run(vec![m(None)])[0].verdict, Verdict::Differs);
        let json = serde_json::to_string(&rows[0].verdict).unwrap();
        assert_eq!(json, "\"untestable\"");
        // An unmet premise stays untestable when no finite number came out either (it is not
        // "not run"), and the summary round-trips through JSON (NaN is written as null).
        let mut sum = crate::experiment::Summary::default();
        sum.measure_premised("X.c", Protocol::Reference, f64::NAN, "fit on 1 point", Some("η* at the edge"));
        let back: crate::experiment::Summary = serde_json::from_str(&serde_json::to_string(&sum).unwrap()).unwrap();
        assert!(back.measured[0].value.is_nan());
        let rows = run(back.measured);
        assert_eq!(rows[0].verdict, Verdict::Untestable);
        assert_eq!(rows[0].measured, None);
        assert!(rows[0].how.contains("no finite value"), "{}", rows[0].how);
    }

    /// With an interval the verdict is its overlap with the claim's band, whatever the point
    /// value; without, the point value decides.
    #[test]
    fn an_interval_decides_by_overlap() {
        let approx = spec(Some(0.5), None, ClaimKind::Approx); // band [0.47, 0.53]
        assert_eq!(verdict(&approx, Protocol::Robust, 0.33, Some([0.30, 0.48])), Verdict::Reproduced);
        assert_eq!(verdict(&approx, Protocol::Robust, 0.33, Some([0.30, 0.46])), Verdict::Differs);
        assert_eq!(verdict(&approx, Protocol::Robust, 0.33, None), Verdict::Differs);
        assert_eq!(verdict(&approx, Protocol::Robust, 0.5, Some([0.54, 0.9])), Verdict::Differs);
        let below = spec(Some(1.0), None, ClaimKind::LessThan);
        assert_eq!(verdict(&below, Protocol::Robust, 1.2, Some([0.9, 1.5])), Verdict::Reproduced);
        assert_eq!(verdict(&below, Protocol::Robust, 1.2, Some([1.1, 1.5])), Verdict::Differs);
    }
}
