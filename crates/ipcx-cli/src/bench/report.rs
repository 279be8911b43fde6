//! Showing the results: a ranked table for the terminal, and an HTML page
//! with SVG plots (latency percentiles per mechanism; throughput against
//! payload size).

use std::fmt::Write;

use super::results::{Results, NOISY};

fn us(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.1} k/s", r / 1e3)
    }
}

fn bytes_rate(r: f64) -> String {
    if r >= 1e9 {
        format!("{:.2} GB/s", r / 1e9)
    } else {
        format!("{:.1} MB/s", r / 1e6)
    }
}

pub(crate) fn size_name(n: usize) -> String {
    ipcx::endpoint::format_size(n as u64)
        .replace("KiB", " KiB")
        .replace("MiB", " MiB")
        + if n < 1024 { " B" } else { "" }
}

/// The ipcx/raw column: the ratio on ipcx rows that have a baseline.
fn ratio_column(implementation: &str, ratio: Option<f64>) -> String {
    match (implementation, ratio) {
        ("ipcx", Some(ratio)) => format!("{ratio:>5.2}"),
        _ => "     ".into(),
    }
}

fn noise_note(others_load: f64) -> &'static str {
    if others_load > NOISY {
        "  (noisy)"
    } else {
        ""
    }
}

/// The terminal table.
pub(crate) fn print_table(r: &Results) {
    let m = &r.machine;
    match m.pinned {
        Some((a, b)) => println!("pair pinned to CPUs {a} and {b} ({} CPUs allowed)", m.cpus),
        None => println!("one CPU allowed: both processes shared it"),
    }
    println!(
        "floors: cache line one way {}   memcpy {:.1} GB/s (one core)",
        us(m.cache_line_ns),
        m.memcpy_gbps
    );
    let sizes = r.latency_sizes();
    for &size in &sizes {
        println!(
            "\none-way latency at {}, ranked (p50  p90  p99  p99.9  max; ipcx/raw at p50):",
            size_name(size)
        );
        let mut rows: Vec<_> = r.latency.iter().filter(|p| p.size == size).collect();
        rows.sort_by(|a, b| a.one_way.p50.total_cmp(&b.one_way.p50));
        for p in rows {
            let w = p.one_way;
            let raw = r.latency_of(&p.mechanism, "raw", size);
            let ratio = ratio_column(&p.implementation, raw.map(|raw| w.p50 / raw.one_way.p50));
            let noisy = noise_note(p.others_load);
            println!(
                "  {:<15} {:<5} {:>10} {:>10} {:>10} {:>10} {:>10}  {ratio}{noisy}",
                p.mechanism,
                p.implementation,
                us(w.p50),
                us(w.p90),
                us(w.p99),
                us(w.p999),
                us(w.max)
            );
        }
    }
    println!("\nthroughput, one way (messages/s, bytes/s; ipcx/raw):");
    for &size in &sizes {
        println!("  at {}:", size_name(size));
        let mut rows: Vec<_> = r.throughput.iter().filter(|p| p.size == size).collect();
        rows.sort_by(|a, b| b.messages_per_s.total_cmp(&a.messages_per_s));
        for p in rows {
            let raw = r.throughput_of(&p.mechanism, "raw", size);
            let ratio = ratio_column(
                &p.implementation,
                raw.map(|raw| p.messages_per_s / raw.messages_per_s),
            );
            let mut noisy = noise_note(p.others_load).to_owned();
            if p.lost > 0 {
                noisy += &format!("  ({} of {} lost)", p.lost, p.messages);
            }
            println!(
                "    {:<15} {:<5} {:>11} {:>11}  {ratio}{noisy}",
                p.mechanism,
                p.implementation,
                rate(p.messages_per_s),
                bytes_rate(p.bytes_per_s)
            );
        }
    }
    for s in &r.skipped {
        println!(
            "not measured: {} at {}: {}",
            s.mechanism,
            size_name(s.size),
            s.why
        );
    }
    let noisy = r.latency.iter().filter(|p| p.others_load > NOISY).count()
        + r.throughput
            .iter()
            .filter(|p| p.others_load > NOISY)
            .count();
    if noisy > 0 {
        println!(
            "warning: {noisy} points ran while other processes used over {:.0}% of the machine",
            NOISY * 100.0
        );
    }
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// A self-contained HTML page with one SVG plot per figure.
pub(crate) fn html(r: &Results) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ipcx bench</title>\
         <style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}\
         svg{border:1px solid #ddd;margin:1em 0}text{font-size:11px}</style></head><body>\
         <h1>ipcx bench</h1>",
    );
    let m = &r.machine;
    let _ = write!(
        out,
        "<p>{} CPUs; pair pinned: {}; cache line one way {}; memcpy {:.1} GB/s.</p>",
        m.cpus,
        m.pinned
            .map_or("no".into(), |(a, b)| format!("CPUs {a} and {b}")),
        us(m.cache_line_ns),
        m.memcpy_gbps
    );
    let sizes = r.latency_sizes();
    for &size in &sizes {
        out.push_str(&latency_plot(r, size));
    }
    out.push_str(&throughput_plot(r));
    out.push_str("</body></html>\n");
    out
}

/// Horizontal bars: p50 (bar) and p99 (tick) of one-way latency, log scale.
fn latency_plot(r: &Results, size: usize) -> String {
    let mut rows: Vec<_> = r.latency.iter().filter(|p| p.size == size).collect();
    rows.sort_by(|a, b| a.one_way.p50.total_cmp(&b.one_way.p50));
    let (w, row_h, left) = (900.0, 18.0, 190.0);
    let h = 40.0 + row_h * rows.len() as f64;
    let max = rows.iter().map(|p| p.one_way.p99).fold(1.0, f64::max);
    let min = rows
        .iter()
        .map(|p| p.one_way.p50)
        .fold(max, f64::min)
        .max(1.0);
    let x = |v: f64| {
        left + (v.max(min).ln() - min.ln() + 0.3) / (max.ln() - min.ln() + 0.6) * (w - left - 20.0)
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\">\
         <title>one-way latency at {0}</title>\
         <text x=\"10\" y=\"16\" font-weight=\"bold\">one-way latency at {0} (bar p50, tick p99; log scale)</text>",
        size_name(size)
    );
    for (i, p) in rows.iter().enumerate() {
        let y = 30.0 + row_h * i as f64;
        let color = if p.implementation == "ipcx" {
            COLORS[0]
        } else {
            COLORS[1]
        };
        let _ = write!(
            s,
            "<text x=\"10\" y=\"{:.0}\">{} ({})</text>\
             <rect x=\"{left}\" y=\"{y:.0}\" width=\"{:.1}\" height=\"{:.0}\" fill=\"{color}\"/>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.0}\" y2=\"{:.0}\" stroke=\"black\"/>\
             <text x=\"{:.1}\" y=\"{:.0}\">{}</text>",
            y + 12.0,
            p.mechanism,
            p.implementation,
            (x(p.one_way.p50) - left).max(1.0),
            row_h - 4.0,
            x(p.one_way.p99),
            x(p.one_way.p99),
            y + row_h - 4.0,
            x(p.one_way.p99) + 4.0,
            y + 12.0,
            us(p.one_way.p50)
        );
    }
    s.push_str("</svg>");
    s
}

/// Lines: messages/s against payload size per mechanism (ipcx), log-log.
fn throughput_plot(r: &Results) -> String {
    let (w, h, left, bottom) = (900.0, 420.0, 70.0, 40.0);
    let mut mechs: Vec<&str> = r.throughput.iter().map(|p| p.mechanism.as_str()).collect();
    mechs.dedup();
    mechs.sort_unstable();
    mechs.dedup();
    let pts: Vec<_> = r
        .throughput
        .iter()
        .filter(|p| p.implementation == "ipcx")
        .collect();
    let (smin, smax) = pts.iter().fold((f64::MAX, 1.0f64), |(a, b), p| {
        (a.min(p.size as f64), b.max(p.size as f64))
    });
    let (bmin, bmax) = pts.iter().fold((f64::MAX, 1.0f64), |(a, b), p| {
        (a.min(p.bytes_per_s), b.max(p.bytes_per_s))
    });
    let lx = |v: f64| {
        left + (v.ln() - smin.ln()) / (smax.ln() - smin.ln()).max(1e-9) * (w - left - 150.0)
    };
    let ly = |v: f64| {
        h - bottom - (v.ln() - bmin.ln()) / (bmax.ln() - bmin.ln()).max(1e-9) * (h - bottom - 30.0)
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\">\
         <title>throughput against payload size</title>\
         <text x=\"10\" y=\"16\" font-weight=\"bold\">throughput (bytes/s) against payload size, ipcx, log-log</text>\
         <line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/>\
         <line x1=\"{left}\" y1=\"30\" x2=\"{left}\" y2=\"{0}\" stroke=\"black\"/>",
        h - bottom,
        w - 150.0
    );
    let mut sizes: Vec<usize> = pts.iter().map(|p| p.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for size in sizes {
        let _ = write!(
            s,
            "<text x=\"{:.0}\" y=\"{:.0}\">{}</text>",
            lx(size as f64) - 10.0,
            h - bottom + 15.0,
            size_name(size)
        );
    }
    for (i, mech) in mechs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = if i >= COLORS.len() {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        };
        let line: Vec<String> = pts
            .iter()
            .filter(|p| p.mechanism == *mech)
            .map(|p| format!("{:.1},{:.1}", lx(p.size as f64), ly(p.bytes_per_s)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\"{dash} stroke-width=\"2\" points=\"{}\"/>\
             <text x=\"{:.0}\" y=\"{:.0}\" fill=\"{color}\">{mech}</text>",
            line.join(" "),
            w - 140.0,
            40.0 + 14.0 * i as f64
        );
    }
    let _ = write!(
        s,
        "<text x=\"5\" y=\"40\">{}</text><text x=\"5\" y=\"{:.0}\">{}</text></svg>",
        bytes_rate(bmax),
        h - bottom,
        bytes_rate(bmin)
    );
    s
}
