//! The report's charts, drawn with plotters into SVG (text stays text, so
//! the page needs no fonts of ours):
//!
//! - per payload size, one-way latency as horizontal bars, ipcx and raw
//!   side by side for each mechanism (p50 bar, p99 whisker), on a labelled
//!   log axis;
//! - throughput and one-way p99 against payload size as small multiples,
//!   one chart per mechanism, all on the same log-log axes: ipcx a solid
//!   line with circles, raw a thin line with triangles. Fourteen lines in
//!   one chart cannot be told apart; one chart per mechanism can;
//! - `--scaling`'s figures against the number of peers, a line per mechanism.

use plotters::prelude::*;

use super::report::size_name;
use super::results::{Results, NOISY};

const IPCX: RGBColor = RGBColor(31, 119, 180);
const RAW: RGBColor = RGBColor(255, 127, 14);

/// Microseconds for an axis label: 0.25, 3, 120.
fn us_label(ns: f64) -> String {
    let us = ns / 1e3;
    if us < 1.0 {
        format!("{us:.2}")
    } else {
        format!("{us:.0}")
    }
}

/// A time for a log axis spanning µs to seconds: 20µs, 3ms, 1s.
fn time_label(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.0}s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.0}ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.0}µs", ns / 1e3),
        ns => format!("{ns:.0}ns"),
    }
}

/// 64B, 4KiB, 1MiB for an axis label.
fn bytes_label(v: f64) -> String {
    match v {
        v if v >= 1048576.0 => format!("{:.0}MiB", v / 1048576.0),
        v if v >= 1024.0 => format!("{:.0}KiB", v / 1024.0),
        v => format!("{v:.0}B"),
    }
}

/// 1k, 2.5M for an axis label.
fn rate_label(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.0}M", v / 1e6),
        v if v >= 1e3 => format!("{:.0}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// One-way latency at `size`: a row per mechanism, ipcx above raw.
pub(crate) fn latency_svg(r: &Results, size: usize) -> String {
    let mut mechs: Vec<&str> = r
        .latency
        .iter()
        .filter(|p| p.size == size)
        .map(|p| p.mechanism.as_str())
        .collect();
    mechs.sort_by(|a, b| {
        let p50 = |m: &str| {
            r.latency_of(m, "ipcx", size)
                .or_else(|| r.latency_of(m, "raw", size))
                .map_or(f64::MAX, |p| p.one_way.p50)
        };
        p50(a).total_cmp(&p50(b))
    });
    mechs.dedup();
    let points: Vec<_> = r.latency.iter().filter(|p| p.size == size).collect();
    let lo = points
        .iter()
        .map(|p| p.one_way.p50)
        .fold(f64::MAX, f64::min);
    let hi = points.iter().map(|p| p.one_way.p99).fold(1.0, f64::max);
    let (lo, hi) = ((lo / 2.0).max(10.0), hi * 2.0);
    let height = 80 + 44 * mechs.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let n = mechs.len() as f64;
        let chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "one-way latency at {}: ipcx (blue), raw syscalls (orange); bar p50, whisker p99",
                    size_name(size)
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(130)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..n);
        let Ok(mut chart) = chart else {
            return String::new();
        };
        let names = mechs.clone();
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("microseconds, log scale")
            .x_label_formatter(&|v| us_label(*v))
            .y_labels(mechs.len() * 2 + 1)
            .y_label_formatter(&|y| {
                let i = y.floor() as usize;
                if (y - y.floor() - 0.5).abs() < 0.26 && i < names.len() {
                    names[names.len() - 1 - i].to_owned()
                } else {
                    String::new()
                }
            })
            .draw();
        for (i, mech) in mechs.iter().enumerate() {
            // The first mechanism on top.
            let row = n - 1.0 - i as f64;
            for (imp, color, y0) in [("ipcx", IPCX, row + 0.5), ("raw", RAW, row + 0.1)] {
                let Some(p) = r.latency_of(mech, imp, size) else {
                    continue;
                };
                let y1 = y0 + 0.38;
                let _ = chart.draw_series(std::iter::once(Rectangle::new(
                    [(lo, y0), (p.one_way.p50, y1)],
                    color.filled(),
                )));
                let mid = (y0 + y1) / 2.0;
                let _ = chart.draw_series(std::iter::once(PathElement::new(
                    vec![(p.one_way.p50, mid), (p.one_way.p99, mid)],
                    BLACK.stroke_width(1),
                )));
                let _ = chart.draw_series(std::iter::once(PathElement::new(
                    vec![(p.one_way.p99, y0 + 0.05), (p.one_way.p99, y1 - 0.05)],
                    BLACK.stroke_width(1),
                )));
                let noisy = if p.others_load > NOISY {
                    " (noisy)"
                } else {
                    ""
                };
                let _ = chart.draw_series(std::iter::once(Text::new(
                    format!("{} µs{noisy}", us_label(p.one_way.p50)),
                    (p.one_way.p99 * 1.08, y1),
                    ("sans-serif", 11).into_font().color(&BLACK),
                )));
            }
        }
        let _ = root.present();
    }
    svg
}

/// What a chart against payload size shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BySize {
    /// Messages/s streaming.
    Throughput,
    /// One-way latency p99 of a ping-pong.
    LatencyP99,
}

impl BySize {
    /// (mechanism, implementation, size, value) of every point.
    fn points(self, r: &Results) -> Vec<(&str, &str, f64, f64)> {
        match self {
            BySize::Throughput => r
                .throughput
                .iter()
                .map(|p| {
                    let v = p.messages_per_s.max(1.0);
                    (
                        p.mechanism.as_str(),
                        p.implementation.as_str(),
                        p.size as f64,
                        v,
                    )
                })
                .collect(),
            BySize::LatencyP99 => r
                .latency
                .iter()
                .map(|p| {
                    let v = p.one_way.p99.max(1.0);
                    (
                        p.mechanism.as_str(),
                        p.implementation.as_str(),
                        p.size as f64,
                        v,
                    )
                })
                .collect(),
        }
    }
}

/// A figure against payload size, one small chart per mechanism, all on
/// the same axes: messages/s, or the one-way p99.
pub(crate) fn by_size_svgs(r: &Results, what: BySize) -> Vec<String> {
    let all = what.points(r);
    let mut mechs: Vec<&str> = all.iter().map(|p| p.0).collect();
    mechs.sort_unstable();
    mechs.dedup();
    let sizes = || all.iter().map(|p| p.2);
    let values = || all.iter().map(|p| p.3);
    let (smin, smax) = (
        sizes().fold(f64::MAX, f64::min),
        sizes().fold(1.0, f64::max),
    );
    let (vmin, vmax) = (
        values().fold(f64::MAX, f64::min),
        values().fold(1.0, f64::max),
    );
    if smin > smax {
        return Vec::new();
    }
    let x_range = (smin / 1.5)..(smax * 1.5);
    let y_range = (vmin / 2.0)..(vmax * 2.0);
    let y_desc = match what {
        BySize::Throughput => "messages/s",
        BySize::LatencyP99 => "one-way p99, µs",
    };
    let legend_at = || match what {
        BySize::Throughput => SeriesLabelPosition::UpperRight,
        BySize::LatencyP99 => SeriesLabelPosition::UpperLeft,
    };
    mechs
        .into_iter()
        .map(|mech| {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (440, 300)).into_drawing_area();
                let _ = root.fill(&WHITE);
                let Ok(mut chart) = ChartBuilder::on(&root)
                    .caption(mech, ("sans-serif", 16))
                    .margin(8)
                    .x_label_area_size(36)
                    .y_label_area_size(52)
                    .build_cartesian_2d(x_range.clone().log_scale(), y_range.clone().log_scale())
                else {
                    return String::new();
                };
                let _ = chart
                    .configure_mesh()
                    .x_desc("payload size")
                    .y_desc(y_desc)
                    .x_label_formatter(&|v| bytes_label(*v))
                    .y_label_formatter(&|v| match what {
                        BySize::Throughput => rate_label(*v),
                        BySize::LatencyP99 => us_label(*v),
                    })
                    .light_line_style(WHITE.mix(0.0))
                    .draw();
                for (imp, color, width, label) in
                    [("ipcx", IPCX, 2, "ipcx"), ("raw", RAW, 1, "raw syscalls")]
                {
                    let mut pts: Vec<(f64, f64)> = all
                        .iter()
                        .filter(|p| p.0 == mech && p.1 == imp)
                        .map(|p| (p.2, p.3))
                        .collect();
                    if pts.is_empty() {
                        continue;
                    }
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let style = color.stroke_width(width);
                    let _ = chart
                        .draw_series(LineSeries::new(pts.clone(), style))
                        .map(|s| {
                            s.label(label).legend(move |(x, y)| {
                                PathElement::new(
                                    vec![(x, y), (x + 16, y)],
                                    color.stroke_width(width),
                                )
                            })
                        });
                    let _ = if imp == "ipcx" {
                        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    } else {
                        chart.draw_series(
                            pts.iter()
                                .map(|&p| TriangleMarker::new(p, 5, color.filled())),
                        )
                    };
                }
                let _ = chart
                    .configure_series_labels()
                    .position(legend_at())
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK)
                    .draw();
                let _ = root.present();
            }
            svg
        })
        .collect()
}

/// Colours for the lines of one chart, one per mechanism.
const SERIES: [RGBColor; 7] = [
    IPCX,
    RAW,
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];

/// A figure against the number of peers (log axis), a line per
/// mechanism; `y_desc` "time" draws nanosecond values as times.
pub(crate) fn peers_svg(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let all = || series.iter().flat_map(|(_, pts)| pts.iter());
    let xmax = all().map(|p| p.0).fold(1.0, f64::max);
    let (ymin, ymax) = (
        all().map(|p| p.1.max(1.0)).fold(f64::MAX, f64::min),
        all().map(|p| p.1).fold(1.0, f64::max),
    );
    if ymin > ymax {
        return String::new();
    }
    let time = y_desc == "time";
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (440, 300)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(52)
            // Room on the right (log axis) for the legend.
            .build_cartesian_2d(
                (0.8..xmax * 8.0).log_scale(),
                (ymin / 2.0..ymax * 2.0).log_scale(),
            )
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| if time { time_label(*v) } else { rate_label(*v) })
            .light_line_style(WHITE.mix(0.0))
            .draw();
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = SERIES[i % SERIES.len()];
            let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x, y.max(1.0))).collect();
            let _ = chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map(|s| {
                    s.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    })
                });
            let _ = chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())));
        }
        let _ = chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}
