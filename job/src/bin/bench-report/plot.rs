//! SVG line charts: side-by-side panels sharing a categorical x axis and a log y axis,
//! each series with vertical bars for its spread.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// One point: x position (an index into the x labels), value, and its interval.
#[derive(Clone, Copy)]
pub struct Point {
    pub x: usize,
    pub y: f64,
    pub lo: f64,
    pub hi: f64,
}

pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

/// A chart: panels side by side, `x_labels` under each, a log-scale y axis described by
/// `y_desc`, and a dashed reference line at `reference` (1 for ratio charts).
pub struct Chart {
    pub title: String,
    pub x_desc: String,
    pub x_labels: Vec<String>,
    pub y_desc: String,
    pub reference: Option<f64>,
    pub panels: Vec<Panel>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `chart` to an SVG file at `path`.
pub fn draw(chart: &Chart, path: &Path) -> Result<()> {
    let values = chart.panels.iter().flat_map(|p| &p.series).flat_map(|s| &s.points).flat_map(|p| [p.lo, p.hi, p.y]);
    let values: Vec<f64> = values.chain(chart.reference).filter(|v| v.is_finite() && *v > 0.0).collect();
    if values.is_empty() || chart.panels.is_empty() {
        return Ok(());
    }
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let (y_lo, y_hi) = (lo / 1.25, hi * 1.25);
    let width = 380 * chart.panels.len() as u32 + 40;
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    let svg = |e: DrawingAreaErrorKind<_>| anyhow!("drawing {}: {e:?}", path.display());
    root.fill(&WHITE).map_err(svg)?;
    let root = root.titled(&chart.title, ("sans-serif", 18)).map_err(svg)?;
    let n = chart.x_labels.len().max(1);
    for (panel_index, (area, panel)) in root.split_evenly((1, chart.panels.len())).iter().zip(&chart.panels).enumerate()
    {
        let mut ctx = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (y_lo..y_hi).log_scale())
            .map_err(svg)?;
        let x_label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                chart.x_labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        ctx.configure_mesh()
            .x_labels(n)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|y: &f64| crate::stats::fmt_ratio(*y))
            .x_desc(chart.x_desc.as_str())
            .y_desc(chart.y_desc.as_str())
            .disable_x_mesh()
            .light_line_style(WHITE)
            .draw()
            .map_err(svg)?;
        if let Some(reference) = chart.reference {
            ctx.draw_series(DashedLineSeries::new(
                [(-0.5, reference), (n as f64 - 0.5, reference)],
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(svg)?;
        }
        for (index, series) in panel.series.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            // Nudge series sideways so their bars do not overlap.
            let nudge = (index as f64 - (panel.series.len() as f64 - 1.0) / 2.0) * 0.06;
            let at = |p: &Point| p.x as f64 + nudge;
            ctx.draw_series(LineSeries::new(series.points.iter().map(|p| (at(p), p.y)), color.stroke_width(2)))
                .map_err(svg)?
                .label(series.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
            ctx.draw_series(series.points.iter().map(|p| Circle::new((at(p), p.y), 3, color.filled()))).map_err(svg)?;
            ctx.draw_series(
                series.points.iter().map(|p| PathElement::new([(at(p), p.lo), (at(p), p.hi)], color.stroke_width(1))),
            )
            .map_err(svg)?;
        }
        // One legend (the series are the same in every panel), where lines are least likely.
        if panel_index == 0 {
            ctx.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 11))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(svg)?;
        }
    }
    root.present().map_err(svg)?;
    Ok(())
}
