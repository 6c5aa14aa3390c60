//! results/REPORT.md, derived from the claims and the experiment summaries only.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::claims::{ClaimRow, ClaimSpec, Verdict};
use crate::experiment::{Protocol, Summary, fmt};

fn opt(v: Option<f64>) -> String {
    v.map(fmt).unwrap_or_else(|| "—".into())
}

/// A markdown table cell: `|` would end the cell (E05's "mean |ΔC|") and a newline the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn row(cells: impl IntoIterator<Item = String>) -> String {
    let cells: Vec<String> = cells.into_iter().map(|c| cell(&c)).collect();
    format!("| {} |", cells.join(" | "))
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Reproduced => "reproduced",
        Verdict::Differs => "**differs**",
        Verdict::NotRun => "not-run",
        Verdict::Untestable => "untestable",
    }
}

/// How one claim fared across precisions and protocols.
struct ClaimOutcome<'a> {
    spec: &'a ClaimSpec,
    /// Reference-protocol verdicts in (f32, f64).
    reference: [Option<Verdict>; 2],
    /// Robust-protocol verdicts in (f32, f64), if the claim has a robust measurement.
    robust: [Option<Verdict>; 2],
}

impl ClaimOutcome<'_> {
    fn reference_all(&self, v: Verdict) -> bool {
        self.reference.iter().all(|r| *r == Some(v))
    }
    fn robust_any(&self, v: Verdict) -> bool {
        self.robust.iter().any(|r| *r == Some(v))
    }
}

fn outcomes<'a>(rows: &[ClaimRow], specs: &'a [ClaimSpec]) -> Vec<ClaimOutcome<'a>> {
    specs
        .iter()
        .map(|spec| {
            let verdict_of = |protocol: Protocol, precision: &str| {
                rows.iter()
                    .find(|r| r.claim == spec.id && r.protocol == protocol && r.precision == precision)
                    .map(|r| r.verdict)
            };
            ClaimOutcome {
                spec,
                reference: [verdict_of(Protocol::Reference, "f32"), verdict_of(Protocol::Reference, "f64")],
                robust: [verdict_of(Protocol::Robust, "f32"), verdict_of(Protocol::Robust, "f64")],
            }
        })
        .collect()
}

/// The outcome class of one claim (one function, so the first page's table and the lists of
/// "What holds" can never disagree; the classes are disjoint).
fn class(o: &ClaimOutcome<'_>) -> &'static str {
    let ran = o.reference.iter().any(|v| matches!(v, Some(v) if *v != Verdict::NotRun));
    let [a, b] = o.reference;
    // Where the specified task does not meet a claim's premise, the robust protocol is the
    // in-regime task (CD1, CD4): its verdict is the finding.
    let robust_tested: Vec<Verdict> =
        o.robust.iter().flatten().copied().filter(|v| matches!(v, Verdict::Reproduced | Verdict::Differs)).collect();
    let reference_untestable = o.reference.iter().any(|v| *v == Some(Verdict::Untestable));
    if !ran {
        "not run"
    } else if o.spec.duplicate_of.is_some() {
        "duplicate"
    } else if reference_untestable && !robust_tested.is_empty() && !o.robust_any(Verdict::Untestable) {
        if robust_tested.iter().all(|v| *v == Verdict::Reproduced) {
            "holds in regime"
        } else if robust_tested.iter().all(|v| *v == Verdict::Differs) {
            "fails in regime"
        } else {
            "mixed"
        }
    } else if o.reference.iter().chain(&o.robust).any(|v| *v == Some(Verdict::Untestable)) {
        "untestable"
    } else if o.spec.cannot_fail {
        "cannot fail"
    } else if o.reference_all(Verdict::Reproduced) && !o.robust_any(Verdict::Differs) {
        "holds"
    } else if o.reference_all(Verdict::Reproduced) {
        "reference only"
    } else if a != b && a.is_some() && b.is_some() && a != Some(Verdict::NotRun) && b != Some(Verdict::NotRun) {
        "one precision"
    } else if o.reference_all(Verdict::Differs) {
        "does not reproduce"
    } else {
        "mixed"
    }
}

/// The first page: one row per claim — paper, reference, ours in f32 and f64 under each
/// protocol (✓ reproduced, ✗ differs), and its outcome class. Statements and the ways each
/// number was obtained follow in the experiments' sections.
fn at_a_glance(s: &mut String, rows: &[ClaimRow], specs: &[ClaimSpec]) {
    let _ = writeln!(
        s,
        "## At a glance
"
    );
    let _ = writeln!(
        s,
        "One row per claim: the paper's number, the reference code's, and ours (✓ reproduced, ✗ differs, — no such \
         measurement) under the reference protocol and the robust one, in f32 and f64; the outcome class is \
         explained under *What holds and what does not*, each claim's statement and method in its experiment's section.\n"
    );
    let _ = writeln!(
        s,
        "| claim | paper | reference | ours f32 (reference) | ours f32 (robust) | ours f64 (reference) | ours f64 (robust) | outcome |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for o in outcomes(rows, specs) {
        let find = |p: Protocol, precision: &str| {
            rows.iter().find(|r| r.claim == o.spec.id && r.protocol == p && r.precision == precision)
        };
        let ours = |p: Protocol, precision: &str| match find(p, precision) {
            None => "—".to_string(),
            Some(r) => match r.verdict {
                Verdict::NotRun => "not run".into(),
                Verdict::Reproduced => format!("{} ✓", opt(r.measured)),
                Verdict::Differs => format!("{} ✗", opt(r.measured)),
                Verdict::Untestable => format!("{} (untestable)", opt(r.measured)),
            },
        };
        let any = find(Protocol::Reference, "f32").or(find(Protocol::Reference, "f64"));
        let cells = [
            o.spec.id.clone(),
            opt(any.and_then(|r| r.paper).or(o.spec.paper)),
            opt(any.and_then(|r| r.reference).or(o.spec.reference)),
            ours(Protocol::Reference, "f32"),
            ours(Protocol::Robust, "f32"),
            ours(Protocol::Reference, "f64"),
            ours(Protocol::Robust, "f64"),
            match &o.spec.duplicate_of {
                Some(d) if class(&o) == "duplicate" => format!("duplicate of {d}"),
                _ => class(&o).to_string(),
            },
        ];
        let _ = writeln!(s, "{}", row(cells));
    }
    let _ = writeln!(s);
}

fn id_list(items: &[&ClaimOutcome<'_>]) -> String {
    if items.is_empty() {
        return "none.".into();
    }
    items.iter().map(|o| format!("`{}`", o.spec.id)).collect::<Vec<_>>().join(", ") + "."
}

/// "What holds and what does not": the claims sorted into outcome classes, computed from the
/// verdicts alone (plus the claims file's `cannot_fail` flag), so it can never disagree with
/// the tables below it.
fn what_holds(s: &mut String, rows: &[ClaimRow], specs: &[ClaimSpec]) {
    let all = outcomes(rows, specs);
    let _ = writeln!(s, "## What holds and what does not\n");
    // Every list is one outcome class of `class`, as on the first page.
    let of_class = |c: &str| -> Vec<&ClaimOutcome> { all.iter().filter(|o| class(o) == c).collect() };
    let untestable = of_class("untestable");
    let holds_in_regime = of_class("holds in regime");
    let fails_in_regime = of_class("fails in regime");
    let mixed = of_class("mixed");
    let duplicates = of_class("duplicate");
    let cannot_fail = of_class("cannot fail");
    let holds = of_class("holds");
    let protocol_only = of_class("reference only");
    let precision_split = of_class("one precision");
    let fails = of_class("does not reproduce");
    let _ = writeln!(
        s,
        "- **Reproduced in f32 and f64, and survives the robust protocol where there is one** ({}): {}",
        holds.len(),
        id_list(&holds)
    );
    let _ = writeln!(
        s,
        "- **Reproduces the reference code but not the robust protocol** — the number depends on the \
         protocol (typically one learning rate, a divergence rule or a fit window; see each claim's note) ({}): {}",
        protocol_only.len(),
        id_list(&protocol_only)
    );
    let _ = writeln!(
        s,
        "- **Depends on the precision** (reproduced in one of f32/f64 only) ({}): {}",
        precision_split.len(),
        id_list(&precision_split)
    );
    let _ = writeln!(
        s,
        "- **Does not reproduce even under the reference protocol** ({}): {}",
        fails.len(),
        id_list(&fails)
    );
    let _ = writeln!(
        s,
        "- **Rests on a comparison that cannot fail** (agreement carries no evidence) ({}): {}",
        cannot_fail.len(),
        id_list(&cannot_fail)
    );
    let _ = writeln!(
        s,
        "- **Untestable on this task** — the claim's premise is not met (an optimum at a grid or stability edge, \
         too few interior points); the number says nothing for or against the claim ({}): {}",
        untestable.len(),
        id_list(&untestable)
    );
    let _ = writeln!(
        s,
        "- **Untestable on the specified task, holds on an in-regime task** — the robust protocol is a task on \
         which the premise is met (see the experiment's section) ({}): {}",
        holds_in_regime.len(),
        id_list(&holds_in_regime)
    );
    let _ = writeln!(
        s,
        "- **Untestable on the specified task, does not hold on an in-regime task** ({}): {}",
        fails_in_regime.len(),
        id_list(&fails_in_regime)
    );
    let _ = writeln!(
        s,
        "- **Mixed** — the verdicts split across protocols and precisions in no pattern above (typically a \
         measurement that exists under one protocol or precision only) ({}): {}",
        mixed.len(),
        id_list(&mixed)
    );
    let _ = writeln!(
        s,
        "- **Counted once** — the same runs and the same number as another claim, listed under that one ({}): {}",
        duplicates.len(),
        if duplicates.is_empty() {
            "none.".to_string()
        } else {
            duplicates
                .iter()
                .map(|o| format!("`{}` (= `{}`)", o.spec.id, o.spec.duplicate_of.as_deref().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
                + "."
        }
    );
    let _ = writeln!(s);
    for o in protocol_only
        .iter()
        .chain(&precision_split)
        .chain(&fails)
        .chain(&cannot_fail)
        .chain(&holds_in_regime)
        .chain(&fails_in_regime)
        .chain(&mixed)
        .chain(&duplicates)
    {
        if !o.spec.why.is_empty() {
            let cause = o.spec.cause.map_or(String::new(), |c| format!(" [{}]", c.label()));
            let _ = writeln!(s, "- *{}*{cause}: {}", o.spec.id, o.spec.why);
        }
    }
    let _ = writeln!(s);
}

/// Renders the report. `summaries[(experiment, precision)]`, `titles[experiment]`.
pub fn render(
    rows: &[ClaimRow],
    specs: &[ClaimSpec],
    summaries: &BTreeMap<(String, String), Summary>,
    titles: &BTreeMap<String, String>,
    quick: bool,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# noether report\n");
    let _ = writeln!(
        s,
        "Reproduction and audit of arXiv 2604.07405 (experiments E01–E23) and a test of the scaling \
         laws of arXiv 2602.07145, *Convex Dominance in Deep Learning I* (CD1–CD4). Scale: **{}**. Generated by `noether suite` from \
         results/claims.json and the experiment summaries; every number below was measured by this run \
         (paper and reference values come from data/paper-claims.toml).\n",
        if quick { "quick (CI-sized variants; numbers are not comparable to the paper)" } else { "paper scale" }
    );
    let _ = writeln!(
        s,
        "Verdicts: under the *reference* protocol a number is compared with what the reference code \
         produced (tolerance = its seed spread); under the *robust* protocol it is compared with the \
         paper's claim. Where there is no reference code (CD1–CD4) both are compared with the \
         paper's claim.\n"
    );
    if quick {
        let _ = writeln!(
            s,
            "*Quick scale: CI-sized runs compared with paper-scale numbers; the verdicts mean nothing about the paper.*\n"
        );
    }
    at_a_glance(&mut s, rows, specs);
    what_holds(&mut s, rows, specs);
    // A duplicate claim's rows are the other claim's, counted there.
    let duplicate = |id: &str| specs.iter().any(|c| c.id == id && c.duplicate_of.is_some());
    let count = |p: Protocol, v: Verdict| {
        rows.iter().filter(|r| r.protocol == p && r.verdict == v && !duplicate(&r.claim)).count()
    };
    let _ = writeln!(s, "## Overview\n");
    let _ = writeln!(s, "Claim rows per protocol (one per claim and precision; duplicates counted once).\n");
    let _ = writeln!(s, "| protocol | reproduced | differs | untestable | not-run |\n|---|---|---|---|---|");
    for p in [Protocol::Reference, Protocol::Robust] {
        let _ = writeln!(
            s,
            "| {p:?} | {} | {} | {} | {} |",
            count(p, Verdict::Reproduced),
            count(p, Verdict::Differs),
            count(p, Verdict::Untestable),
            count(p, Verdict::NotRun)
        );
    }
    let _ = writeln!(s);
    // The paper's experiments first (E01 … E23), then the convex-dominance ones (CD1 …).
    let mut experiments: Vec<&String> = titles.keys().collect();
    experiments.sort_by_key(|e| (e.starts_with("CD"), e.len(), e.as_str()));
    for exp in experiments {
        let by_precision: BTreeMap<String, &Summary> = ["f32", "f64"]
            .iter()
            .filter_map(|p| summaries.get(&(exp.clone(), p.to_string())).map(|sum| (p.to_string(), sum)))
            .collect();
        experiment_section(&mut s, exp, &titles[exp], rows, specs, &by_precision, exp);
    }
    s
}

/// One experiment's section: its claims table (with the audit's reasons where a claim
/// differs), then per precision its tables, notes and figures. `link` is the directory of the
/// figures relative to the report.
fn experiment_section(
    s: &mut String,
    exp: &str,
    title: &str,
    rows: &[ClaimRow],
    specs: &[ClaimSpec],
    summaries: &BTreeMap<String, &Summary>,
    link: &str,
) {
    let _ = writeln!(s, "## {exp} — {title}\n");
    let claims: Vec<&ClaimSpec> = specs.iter().filter(|c| c.experiment == exp).collect();
    if !claims.is_empty() {
        for c in &claims {
            let mine: Vec<&ClaimRow> = rows.iter().filter(|r| r.claim == c.id).collect();
            let first = mine.first();
            let _ = writeln!(
                s,
                "**{}** — {} (paper {}, reference {})\n",
                c.id,
                c.statement,
                opt(first.and_then(|r| r.paper).or(c.paper)),
                opt(first.and_then(|r| r.reference).or(c.reference))
            );
            if mine.is_empty() {
                continue;
            }
            let _ = writeln!(s, "| precision | protocol | measured | verdict | how |\n|---|---|---|---|---|");
            for r in mine {
                let cells = [
                    r.precision.clone(),
                    format!("{:?}", r.protocol),
                    opt(r.measured),
                    verdict(r.verdict).to_string(),
                    r.how.clone(),
                ];
                let _ = writeln!(s, "{}", row(cells));
            }
            let _ = writeln!(s);
        }
        for c in &claims {
            if !c.why.is_empty() && rows.iter().any(|r| r.claim == c.id && r.verdict == Verdict::Differs) {
                let _ = writeln!(s, "- *{}*: {}", c.id, c.why);
            }
        }
        let _ = writeln!(s);
    }
    for (precision, sum) in summaries {
        let _ = writeln!(s, "### {exp} in {precision}\n");
        for t in &sum.tables {
            let _ = writeln!(s, "**{}**\n", t.title);
            let _ = writeln!(s, "{}", row(t.header.iter().cloned()));
            let _ = writeln!(s, "|{}", "---|".repeat(t.header.len()));
            for r in &t.rows {
                let _ = writeln!(s, "{}", row(r.iter().cloned()));
            }
            let _ = writeln!(s);
        }
        for n in &sum.notes {
            let _ = writeln!(s, "- {n}");
        }
        if !sum.notes.is_empty() {
            let _ = writeln!(s);
        }
        for p in &sum.plots {
            let _ = writeln!(s, "![{exp} {precision} {p}]({link}/{precision}/{p})\n");
        }
    }
}

/// The report of a user's config (`noether run my.toml`): what was run, the experiment's claims
/// measured on this problem beside the paper's values, and the experiment's tables, notes and
/// figures. Figures are linked relative to `results/<name>/`.
#[allow(clippy::too_many_arguments)]
pub fn render_user_run(
    name: &str,
    id: &str,
    title: &str,
    config: &std::path::Path,
    parameters: &str,
    rows: &[ClaimRow],
    specs: &[ClaimSpec],
    summaries: &BTreeMap<String, Summary>,
    quick: bool,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {name}: {id} on a user's problem\n");
    let _ = writeln!(
        s,
        "Config `{}` ({} table). The claims below are the paper's statements about *its* problem, measured here on \
         this config's problem, under both protocols against the paper's number (the reference code's numbers belong \
         to the paper's problem). A `differs` says the law does not carry over as stated, not that the run is wrong.\n",
        config.display(),
        if quick { "quick" } else { "full" }
    );
    let _ = writeln!(
        s,
        "Parameters as run ([full] with the [quick] overrides applied where quick):\n\n```toml\n{parameters}```\n"
    );
    let by_precision: BTreeMap<String, &Summary> = summaries.iter().map(|(p, s)| (p.clone(), s)).collect();
    experiment_section(&mut s, id, title, rows, specs, &by_precision, ".");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::ClaimKind;

    fn spec(id: &str, cannot_fail: bool) -> ClaimSpec {
        ClaimSpec {
            id: id.into(),
            experiment: "X".into(),
            statement: String::new(),
            paper: Some(1.0),
            reference: Some(1.0),
            tolerance: 0.1,
            kind: ClaimKind::Approx,
            why: format!("why {id}"),
            cannot_fail,
            cause: None,
            duplicate_of: None,
        }
    }

    fn claim_row(id: &str, precision: &str, protocol: Protocol, verdict: Verdict) -> ClaimRow {
        ClaimRow {
            claim: id.into(),
            experiment: "X".into(),
            paper: Some(1.0),
            reference: Some(1.0),
            measured: Some(1.0),
            precision: precision.into(),
            protocol,
            verdict,
            how: String::new(),
            why: String::new(),
        }
    }

    #[test]
    fn claims_are_sorted_into_outcome_classes_by_their_verdicts() {
        use Protocol::*;
        use Verdict::*;
        let specs = vec![spec("A", false), spec("B", false), spec("C", false), spec("D", false), spec("E", true)];
        let mut rows = vec![];
        for p in ["f32", "f64"] {
            rows.push(claim_row("A", p, Reference, Reproduced));
            rows.push(claim_row("A", p, Robust, Reproduced));
            rows.push(claim_row("B", p, Reference, Reproduced));
            rows.push(claim_row("B", p, Robust, Differs));
            rows.push(claim_row("D", p, Reference, Differs));
            rows.push(claim_row("E", p, Reference, Reproduced));
        }
        rows.push(claim_row("C", "f32", Reference, Reproduced));
        rows.push(claim_row("C", "f64", Reference, Differs));
        let mut s = String::new();
        what_holds(&mut s, &rows, &specs);
        let line = |start: &str| s.lines().find(|l| l.starts_with(start)).unwrap().to_string();
        assert!(line("- **Reproduced in f32").ends_with("(1): `A`."), "{s}");
        assert!(line("- **Reproduces the reference code").ends_with("(1): `B`."), "{s}");
        assert!(line("- **Depends on the precision").ends_with("(1): `C`."), "{s}");
        assert!(line("- **Does not reproduce").ends_with("(1): `D`."), "{s}");
        assert!(line("- **Rests on a comparison").ends_with("(1): `E`."), "{s}");
        assert!(s.contains("*B*: why B") && !s.contains("*A*: why A"));
        // The first page agrees with the lists: one row per claim, its class, ✓/✗ per cell.
        let mut page = String::new();
        at_a_glance(&mut page, &rows, &specs);
        let glance = |id: &str| page.lines().find(|l| l.starts_with(&format!("| {id} |"))).unwrap().to_string();
        assert!(glance("A").ends_with("| holds |") && glance("A").matches('✓').count() == 4, "{page}");
        assert!(glance("B").ends_with("| reference only |") && glance("B").matches('✗').count() == 2, "{page}");
        assert!(glance("C").ends_with("| one precision |") && glance("C").contains("| — |"), "{page}");
        assert!(glance("D").ends_with("| does not reproduce |"));
        assert!(glance("E").ends_with("| cannot fail |"));
        assert_eq!(page.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| claim")).count(), 5);
    }

    #[test]
    fn an_untestable_specified_task_defers_to_the_in_regime_verdict() {
        use Protocol::*;
        use Verdict::*;
        let specs = vec![spec("F", false), spec("G", false), spec("H", false), spec("I", false)];
        let mut rows = vec![];
        for p in ["f32", "f64"] {
            rows.push(claim_row("F", p, Reference, Untestable));
            rows.push(claim_row("F", p, Robust, Reproduced));
            rows.push(claim_row("G", p, Reference, Untestable));
            rows.push(claim_row("G", p, Robust, Differs));
            // Untestable on both tasks stays untestable.
            rows.push(claim_row("H", p, Reference, Untestable));
            rows.push(claim_row("H", p, Robust, Untestable));
        }
        // One precision each way is not a clean finding.
        rows.push(claim_row("I", "f32", Reference, Untestable));
        rows.push(claim_row("I", "f32", Robust, Reproduced));
        rows.push(claim_row("I", "f64", Reference, Untestable));
        rows.push(claim_row("I", "f64", Robust, Differs));
        let mut s = String::new();
        what_holds(&mut s, &rows, &specs);
        let line = |start: &str| s.lines().find(|l| l.starts_with(start)).unwrap().to_string();
        assert!(line("- **Untestable on the specified task, holds").ends_with("(1): `F`."), "{s}");
        assert!(line("- **Untestable on the specified task, does not").ends_with("(1): `G`."), "{s}");
        assert!(line("- **Untestable on this task").ends_with("(1): `H`."), "{s}");
        assert!(s.contains("*F*: why F") && s.contains("*G*: why G"), "{s}");
        let mut page = String::new();
        at_a_glance(&mut page, &rows, &specs);
        let glance = |id: &str| page.lines().find(|l| l.starts_with(&format!("| {id} |"))).unwrap().to_string();
        assert!(glance("F").ends_with("| holds in regime |"), "{page}");
        assert!(glance("G").ends_with("| fails in regime |"), "{page}");
        assert!(glance("I").ends_with("| mixed |"), "{page}");
        assert!(line("- **Mixed**").ends_with("(1): `I`."), "{s}");
    }

    #[test]
    fn a_duplicate_is_counted_once_and_a_cause_labels_its_why_line() {
        use Protocol::*;
        use Verdict::*;
        let mut a = spec("A", false);
        a.cause = Some(crate::claims::Cause::OneLearningRate);
        let mut b = spec("B", false);
        b.duplicate_of = Some("A".into());
        let specs = vec![a, b];
        let mut rows = vec![];
        for p in ["f32", "f64"] {
            for id in ["A", "B"] {
                rows.push(claim_row(id, p, Reference, Differs));
            }
        }
        let mut s = String::new();
        what_holds(&mut s, &rows, &specs);
        let line = |start: &str| s.lines().find(|l| l.starts_with(start)).unwrap().to_string();
        assert!(line("- **Does not reproduce").ends_with("(1): `A`."), "{s}");
        assert!(line("- **Counted once**").ends_with("(1): `B` (= `A`)."), "{s}");
        assert!(s.contains("- *A* [one learning rate]: why A") && s.contains("- *B*: why B"), "{s}");
        let mut page = String::new();
        at_a_glance(&mut page, &rows, &specs);
        assert!(page.lines().any(|l| l.starts_with("| B |") && l.ends_with("| duplicate of A |")), "{page}");
        // The overview counts A's rows, not B's.
        let report = render(&rows, &specs, &BTreeMap::new(), &BTreeMap::new(), true);
        assert!(report.contains("| Reference | 0 | 2 | 0 | 0 |"), "{report}");
    }

    #[test]
    fn pipes_in_cells_are_escaped_so_the_table_keeps_its_columns() {
        let r = row(["mean |ΔC|".to_string(), "a\nb".to_string()]);
        assert_eq!(r, "| mean \\|ΔC\\| | a b |");
        // Unescaped pipes left in the row: exactly the three column separators.
        assert_eq!(r.replace("\\|", "").matches('|').count(), 3);
    }
}
