//! The chart: four panels, short and long sessions side by side, the rate
//! above and the 99th-percentile reply time below, against the number of
//! clients; one line per design. Both axes are logarithmic: the figures
//! span several powers of ten.

use std::path::Path;

use plotters::prelude::*;

/// One measured cell, as the chart needs it.
pub struct Point {
    pub design: &'static str,
    pub long: bool,
    pub clients: usize,
    pub rate: f64,
    pub p99_ms: f64,
}

/// One colour per design, in the order of `--designs`; dark enough to read
/// on white.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(100, 100, 100),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

// ANCHOR: draw
pub fn draw(
    path: &Path,
    designs: &[&str],
    points: &[Point],
) -> Result<(), String> {
    let root = SVGBackend::new(path, (1000, 860)).into_drawing_area();
    root.fill(&WHITE).map_err(|err| err.to_string())?;
    // Four panels above, and one legend for all of them below.
    let (charts, legend) = root.split_vertically(800);
    let panels = charts.split_evenly((2, 2));
    let views = [
        (false, true, "Short sessions: sessions per second"),
        (true, true, "Long sessions: replies per second"),
        (false, false, "Short sessions: 99th percentile (ms)"),
        (true, false, "Long sessions: 99th percentile (ms)"),
    ];
    for (panel, (long, rate, title)) in panels.iter().zip(views) {
        let value = |point: &Point| match rate {
            true => point.rate,
            false => point.p99_ms.max(0.001),
        };
        let shown: Vec<&Point> =
            points.iter().filter(|point| point.long == long).collect();
        let (low, high) = shown
            .iter()
            .map(|point| value(point))
            .fold((f64::MAX, f64::MIN), |(low, high), v| {
                (low.min(v), high.max(v))
            });
        let (low, high) = match low <= high {
            true => (low / 2.0, high * 2.0),
            false => (1.0, 10.0),
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (5.0..20_000.0).log_scale(),
                (low..high).log_scale(),
            )
            .map_err(|err| err.to_string())?;
        // Grey lines at the powers of ten only: explicit colours, which
        // every SVG viewer draws alike (some ignore an opacity).
        chart
            .configure_mesh()
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(WHITE)
            .x_desc("clients")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| match *y {
                y if y >= 1.0 => format!("{y:.0}"),
                y => format!("{y:.3}"),
            })
            .draw()
            .map_err(|err| err.to_string())?;
        for (index, design) in designs.iter().enumerate() {
            let colour = COLOURS[index % COLOURS.len()];
            let series: Vec<(f64, f64)> = shown
                .iter()
                .filter(|point| point.design == *design)
                .map(|point| (point.clients as f64, value(point)))
                .collect();
            if series.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    series.clone(),
                    colour.stroke_width(2),
                ))
                .map_err(|err| err.to_string())?;
            chart
                .draw_series(
                    series
                        .iter()
                        .map(|&xy| Circle::new(xy, 3, colour.filled())),
                )
                .map_err(|err| err.to_string())?;
        }
    }
    for (index, design) in designs.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let x = 60 + (index % 5) as i32 * 190;
        let y = 16 + (index / 5) as i32 * 24;
        let line =
            PathElement::new(vec![(x, y), (x + 28, y)], colour.stroke_width(3));
        legend.draw(&line).map_err(|err| err.to_string())?;
        let name = Text::new(*design, (x + 36, y - 10), ("sans-serif", 16));
        legend.draw(&name).map_err(|err| err.to_string())?;
    }
    root.present().map_err(|err| err.to_string())
}
// ANCHOR_END: draw
