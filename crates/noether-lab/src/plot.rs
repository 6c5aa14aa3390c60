//! Figures as data ([`Figure`]: what an experiment's render step produces) and their drawing
//! as SVG (plotters' SVG backend: no system libraries). Files are written to a temporary name
//! and renamed.

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::LabError;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One series: points, and optionally a fitted power law y = e^b·x^α drawn over its x-range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    /// The legend entry.
    pub label: String,
    /// (x, y) pairs; non-finite (and, on log axes, non-positive) points are not drawn.
    pub points: Vec<(f64, f64)>,
    /// A fitted power law y = e^b·x^α as (α, b), drawn over the series' x-range.
    pub fit: Option<(f64, f64)>,
    /// Join the points with a line (time series) rather than markers only.
    pub line: bool,
}

impl Series {
    /// Markers only.
    pub fn points(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { label: label.into(), points, fit: None, line: false }
    }
    /// Points joined by a line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { label: label.into(), points, fit: None, line: true }
    }
    /// Markers with a fitted power law y = e^intercept·x^alpha (if any).
    pub fn with_fit(mut self, fit: Option<(f64, f64)>) -> Series {
        self.fit = fit;
        self
    }
}

/// An axis: its label and whether it is logarithmic.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Axis {
    /// The label.
    pub label: String,
    /// Logarithmic scale.
    pub log: bool,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: impl Into<String>) -> Axis {
        Axis { label: label.into(), log: false }
    }
    /// A logarithmic axis.
    pub fn log(label: impl Into<String>) -> Axis {
        Axis { label: label.into(), log: true }
    }
}

/// A line plot or scatter plot with optional horizontal reference lines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct XyPlot {
    /// The caption.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// The data.
    pub series: Vec<Series>,
    /// Horizontal lines (value, legend label), e.g. 2/η.
    pub hlines: Vec<(f64, String)>,
}

/// A heat map of `values[row][col]` with labelled rows and columns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeatmapPlot {
    /// The caption (the colour range is appended).
    pub title: String,
    /// Horizontal axis label.
    pub xlabel: String,
    /// Vertical axis label.
    pub ylabel: String,
    /// Column labels.
    pub col_labels: Vec<String>,
    /// Row labels (row 0 at the bottom).
    pub row_labels: Vec<String>,
    /// The cells.
    pub values: Vec<Vec<f64>>,
    /// Cell texts (default: the values).
    pub annotations: Option<Vec<Vec<String>>>,
}

/// What a figure shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Plot {
    /// Lines and markers.
    Xy(XyPlot),
    /// A coloured grid.
    Heatmap(HeatmapPlot),
}

/// A figure as data: a file name in the experiment's output directory and what to draw.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// The SVG file name (`drift_vs_lr.svg`).
    pub file: String,
    /// What to draw.
    pub plot: Plot,
}

impl Figure {
    /// A line/scatter figure.
    pub fn xy(file: &str, title: impl Into<String>, x: Axis, y: Axis, series: Vec<Series>) -> Figure {
        Figure { file: file.into(), plot: Plot::Xy(XyPlot { title: title.into(), x, y, series, hlines: Vec::new() }) }
    }
    /// Adds horizontal reference lines to an xy figure.
    pub fn with_hlines(mut self, lines: Vec<(f64, String)>) -> Figure {
        if let Plot::Xy(p) = &mut self.plot {
            p.hlines = lines;
        }
        self
    }
    /// A heat-map figure.
    pub fn heatmap(file: &str, plot: HeatmapPlot) -> Figure {
        Figure { file: file.into(), plot: Plot::Heatmap(plot) }
    }
}

/// Draws `figure` into `dir/<figure.file>`. An xy figure without a single finite point (on
/// its log axes) draws nothing.
pub fn draw(figure: &Figure, dir: &Path) -> Result<(), LabError> {
    let path = dir.join(&figure.file);
    match &figure.plot {
        Plot::Xy(p) => xy_plot(&path, &p.title, &p.x.label, &p.y.label, &p.series, &p.hlines, p.x.log, p.y.log),
        Plot::Heatmap(h) => heatmap(
            &path,
            &h.title,
            &h.xlabel,
            &h.ylabel,
            &h.col_labels,
            &h.row_labels,
            &h.values,
            h.annotations.as_deref(),
        ),
    }
}

/// A plotting error; [`with_path`] fills in the file.
fn err<E: std::fmt::Display>(e: E) -> LabError {
    LabError::Plot { path: std::path::PathBuf::new(), reason: e.to_string() }
}

fn with_path(e: LabError, path: &Path) -> LabError {
    match e {
        LabError::Plot { reason, .. } => LabError::Plot { path: path.to_path_buf(), reason },
        other => other,
    }
}

fn finite_positive(series: &[Series], logx: bool, logy: bool) -> Vec<Vec<(f64, f64)>> {
    series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!logx || *x > 0.0) && (!logy || *y > 0.0))
                .collect()
        })
        .collect()
}

/// A plot with log or linear axes, horizontal reference lines (e.g. 2/η) and a legend.
#[allow(clippy::too_many_arguments)]
fn xy_plot(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[Series],
    hlines: &[(f64, String)],
    logx: bool,
    logy: bool,
) -> Result<(), LabError> {
    xy_plot_inner(path, title, xlabel, ylabel, series, hlines, logx, logy).map_err(|e| with_path(e, path))
}

#[allow(clippy::too_many_arguments)]
fn xy_plot_inner(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[Series],
    hlines: &[(f64, String)],
    logx: bool,
    logy: bool,
) -> Result<(), LabError> {
    let pts = finite_positive(series, logx, logy);
    let all: Vec<(f64, f64)> = pts.iter().flatten().copied().chain(hlines.iter().map(|h| (f64::NAN, h.0))).collect();
    let xs: Vec<f64> = all.iter().map(|p| p.0).filter(|x| x.is_finite()).collect();
    let ys: Vec<f64> = all.iter().map(|p| p.1).filter(|y| y.is_finite() && (!logy || *y > 0.0)).collect();
    if xs.is_empty() || ys.is_empty() {
        return Ok(());
    }
    let range = |v: &[f64], log: bool| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        if log {
            (lo / 1.5, hi * 1.5)
        } else {
            let pad = ((hi - lo) * 0.05).max(1e-12);
            (lo - pad, hi + pad)
        }
    };
    let (x0, x1) = range(&xs, logx);
    let (y0, y1) = range(&ys, logy);
    // Drawn into memory, then written atomically: a full disk leaves neither a half-written
    // plot nor a temporary file.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                let xf = |v: &f64| tick_label(*v, logx);
                let yf = |v: &f64| tick_label(*v, logy);
                chart
                    .configure_mesh()
                    .x_desc(xlabel)
                    .y_desc(ylabel)
                    .x_label_formatter(&xf)
                    .y_label_formatter(&yf)
                    .light_line_style(RGBColor(238, 238, 238))
                    .draw()
                    .map_err(err)?;
                for (i, (s, p)) in series.iter().zip(&pts).enumerate() {
                    let c = COLORS[i % COLORS.len()];
                    if s.line {
                        chart
                            .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                            .map_err(err)?
                            .label(s.label.clone())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
                    } else {
                        chart
                            .draw_series(p.iter().map(|&xy| Circle::new(xy, 4, c.filled())))
                            .map_err(err)?
                            .label(s.label.clone())
                            .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
                    }
                    if let (Some((alpha, b)), false) = (s.fit, p.is_empty()) {
                        let (lo, hi) =
                            p.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, z), q| (a.min(q.0), z.max(q.0)));
                        let line: Vec<(f64, f64)> = (0..=40)
                            .map(|k| {
                                let x = lo * (hi / lo).powf(k as f64 / 40.0);
                                (x, (b + alpha * x.ln()).exp())
                            })
                            .collect();
                        chart.draw_series(LineSeries::new(line, c.stroke_width(1))).map_err(err)?;
                    }
                }
                for (i, (y, label)) in hlines.iter().enumerate() {
                    let c = COLORS[(series.len() + i) % COLORS.len()];
                    chart
                        .draw_series(LineSeries::new(vec![(x0, *y), (x1, *y)], c.stroke_width(1)))
                        .map_err(err)?
                        .label(label.clone())
                        .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 16, yy)], c));
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(err)?;
            }};
        }
        let cb = || {
            let mut b = ChartBuilder::on(&root);
            b.caption(title, ("sans-serif", 18)).margin(12).x_label_area_size(40).y_label_area_size(70);
            b
        };
        match (logx, logy) {
            (true, true) => draw!(cb().build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale()).map_err(err)?),
            (true, false) => draw!(cb().build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(err)?),
            (false, true) => draw!(cb().build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(err)?),
            (false, false) => draw!(cb().build_cartesian_2d(x0..x1, y0..y1).map_err(err)?),
        }
        root.present().map_err(err)?;
    }
    noether_io::write_atomic(path, svg.as_bytes())?;
    Ok(())
}

/// Viridis-like colour for t ∈ [0, 1] (five stops, linear interpolation).
/// A tick label: compact numbers ("1000", "0.05", "2e4", not "1000.0"); on a log axis only the
/// 1, 2 and 5 × 10^k grid lines are labelled, so labels never run into each other.
fn tick_label(v: f64, log: bool) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if log {
        if v <= 0.0 {
            return String::new();
        }
        let mantissa = v / 10f64.powf(v.log10().floor());
        if ![1.0, 2.0, 5.0, 10.0].iter().any(|d| (mantissa - d).abs() < 1e-6 * d) {
            return String::new();
        }
    }
    compact_number(v)
}

/// 4 significant digits at most, no trailing zeros; scientific notation outside [1e−3, 1e5).
fn compact_number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
        return format!("{m}e{e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" { "0".into() } else { s }
}

fn heat_color(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heat map of `values[row][col]` (e.g. α over a 2-D parameter grid): one coloured cell per
/// entry (viridis-like scale from the finite minimum to the finite maximum, given in the title),
/// NaN cells light grey, each cell annotated with `annotations[row][col]` (default: the value,
/// 4 significant digits). Row 0 is drawn at the bottom.
#[allow(clippy::too_many_arguments)]
fn heatmap(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    col_labels: &[String],
    row_labels: &[String],
    values: &[Vec<f64>],
    annotations: Option<&[Vec<String>]>,
) -> Result<(), LabError> {
    heatmap_inner(path, title, xlabel, ylabel, col_labels, row_labels, values, annotations)
        .map_err(|e| with_path(e, path))
}

#[allow(clippy::too_many_arguments)]
fn heatmap_inner(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    col_labels: &[String],
    row_labels: &[String],
    values: &[Vec<f64>],
    annotations: Option<&[Vec<String>]>,
) -> Result<(), LabError> {
    let (nr, nc) = (row_labels.len(), col_labels.len());
    if nr == 0 || nc == 0 || values.len() != nr || values.iter().any(|r| r.len() != nc) {
        return Err(err(format!("{nr}×{nc} labels do not match the values")));
    }
    if annotations.is_some_and(|a| a.len() != nr || a.iter().any(|r| r.len() != nc)) {
        return Err(err("annotations do not match the values"));
    }
    let finite: Vec<f64> = values.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let span = if finite.is_empty() || hi <= lo { 1.0 } else { hi - lo };
    let full_title = if finite.is_empty() {
        title.to_string()
    } else {
        format!("{title}  [colour: {} (dark) … {} (light)]", crate::experiment::fmt(lo), crate::experiment::fmt(hi))
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (120 + 110 * nc as u32, 140 + 70 * nr as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(full_title, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..nc as f64 - 0.5, -0.5..nr as f64 - 0.5)
            .map_err(err)?;
        // Cell (i, j) spans [j − ½, j + ½] × [i − ½, i + ½], so the key points are the integers.
        let at = |labels: &[String], v: f64| {
            let k = v.round();
            if (v - k).abs() < 1e-6 && k >= 0.0 {
                labels.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let xf = |v: &f64| at(col_labels, *v);
        let yf = |v: &f64| at(row_labels, *v);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(xlabel)
            .y_desc(ylabel)
            .x_labels(nc)
            .y_labels(nr)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .draw()
            .map_err(err)?;
        let cells = (0..nr).flat_map(|i| (0..nc).map(move |j| (i, j)));
        chart
            .draw_series(cells.clone().map(|(i, j)| {
                let v = values[i][j];
                let c = if v.is_finite() { heat_color((v - lo) / span) } else { RGBColor(210, 210, 210) };
                Rectangle::new([(j as f64 - 0.5, i as f64 - 0.5), (j as f64 + 0.5, i as f64 + 0.5)], c.filled())
            }))
            .map_err(err)?;
        chart
            .draw_series(cells.map(|(i, j)| {
                let v = values[i][j];
                let text = annotations.map_or_else(|| crate::experiment::fmt(v), |a| a[i][j].clone());
                let color = if v.is_finite() && (v - lo) / span < 0.55 { WHITE } else { BLACK };
                Text::new(text, (j as f64 - 0.38, i as f64 + 0.12), ("sans-serif", 16).into_font().color(&color))
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    noether_io::write_atomic(path, svg.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{compact_number, heatmap, tick_label};

    #[test]
    fn tick_labels_are_compact_and_log_axes_label_only_1_2_5() {
        assert_eq!(compact_number(1000.0), "1000");
        assert_eq!(compact_number(0.05), "0.05");
        assert_eq!(compact_number(0.1234567), "0.1235");
        assert_eq!(compact_number(20000.0), "20000");
        assert_eq!(compact_number(200000.0), "2e5");
        assert_eq!(compact_number(0.0002), "2e-4");
        assert_eq!(compact_number(0.0), "0");
        assert_eq!(compact_number(-2.5), "-2.5");
        assert_eq!(tick_label(20.0, true), "20");
        assert_eq!(tick_label(30.0, true), "");
        assert_eq!(tick_label(0.005, true), "0.005");
        assert_eq!(tick_label(30.0, false), "30");
    }

    #[test]
    fn heatmap_writes_every_cell_and_refuses_mismatched_shapes() {
        let dir = std::env::temp_dir().join(format!("noether-heatmap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.svg");
        let labels = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let values = vec![vec![1.25, 1.5, f64::NAN], vec![2.0, 1.0, 1.75]];
        heatmap(&path, "t", "x", "y", &labels(&["a", "b", "c"]), &labels(&["r0", "r1"]), &values, None).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for text in ["1.250", "1.500", "NaN", "2.000", "1.000", "1.750", "r0", "r1", "c"] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.contains("#D2D2D2"), "NaN cell is grey");
        assert!(heatmap(&path, "t", "x", "y", &labels(&["a", "b"]), &labels(&["r0", "r1"]), &values, None).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
