//! SVG plots drawn by the CLI (plotters, SVG backend: no system libraries).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

/// A line plot of a spectral density, drawn in memory and written atomically.
pub fn density_svg(path: &Path, grid: &[f64], density: &[f64], title: &str) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (x0, x1) = (grid[0], grid[grid.len() - 1]);
        let ymax = density.iter().fold(0.0f64, |m, v| m.max(*v)) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0.0..ymax.max(f64::MIN_POSITIVE))
            .map_err(|e| anyhow!("{e}"))?;
        chart.configure_mesh().x_desc("eigenvalue λ").y_desc("density").draw().map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new(grid.iter().copied().zip(density.iter().copied()), &BLUE))
            .map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    noether_io::write_atomic(path, svg.as_bytes())?;
    Ok(())
}
