//! SVG plots (plotters' SVG backend: no system libraries). Files are written to a temporary
//! name and renamed.

use std::path::Path;

use plotters::prelude::*;

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
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub fit: Option<(f64, f64)>,
    /// Join the points with a line (time series) rather than markers only.
    pub line: bool,
}

fn err<E: std::fmt::Display>(e: E) -> LabError {
    LabError::Io(format!("plot: {e}"))
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
pub fn xy_plot(
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
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (820, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart.configure_mesh().x_desc(xlabel).y_desc(ylabel).draw().map_err(err)?;
                for (i, (s, p)) in series.iter().zip(&pts).enumerate() {
                    let c = COLORS[i % COLORS.len()];
                    if s.line {
                        chart.draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2))).map_err(err)?
                            .label(s.label.clone())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
                    } else {
                        chart.draw_series(p.iter().map(|&xy| Circle::new(xy, 4, c.filled()))).map_err(err)?
                            .label(s.label.clone())
                            .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
                    }
                    if let (Some((alpha, b)), false) = (s.fit, p.is_empty()) {
                        let (lo, hi) = p.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, z), q| (a.min(q.0), z.max(q.0)));
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
                chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
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
    std::fs::rename(&tmp, path).map_err(|e| LabError::Io(format!("{}: {e}", path.display())))?;
    Ok(())
}
