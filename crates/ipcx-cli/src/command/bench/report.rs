//! Showing the results: a ranked table for the terminal, and an HTML page
//! with SVG plots (latency percentiles per mechanism; throughput against
//! payload size).

use std::fmt::Write;

use super::results::{baseline_of, Results, NOISY};

pub(crate) fn us(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub(crate) fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.1} /s")
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

/// The ipcx/raw column: the ratio on the rows that have a baseline at
/// the same waiting policy (`results::baseline_of`).
fn ratio_column(ratio: Option<f64>) -> String {
    match ratio {
        Some(ratio) => format!("{ratio:>5.2}"),
        None => "     ".into(),
    }
}

/// CPU time per message (or round trip), both processes.
fn cpu_column(cpu: Option<f64>) -> String {
    cpu.map_or("          ".into(), |ns| format!("{:>10}", us(ns)))
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
            "\none-way latency at {}, ranked (p50  p90  p99  p99.9  max; CPU per round trip,\n  both processes; ipcx/raw at p50 at the same waiting policy: ipcx against\n  raw+poll, ipcx+block against raw; call: an ipcx request/reply, half its round trip):",
            size_name(size)
        );
        let mut rows: Vec<_> = r.latency.iter().filter(|p| p.size == size).collect();
        rows.sort_by(|a, b| a.one_way.p50.total_cmp(&b.one_way.p50));
        for p in rows {
            let w = p.one_way;
            let raw = baseline_of(&p.implementation)
                .iter()
                .find_map(|b| r.latency_of(&p.mechanism, b, size));
            let ratio = ratio_column(raw.map(|raw| w.p50 / raw.one_way.p50));
            let cpu = cpu_column(p.cpu_per_message_ns);
            let noisy = noise_note(p.others_load);
            let line = format!(
                "  {:<15} {:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {cpu}  {ratio}{noisy}",
                p.mechanism,
                p.implementation,
                us(w.p50),
                us(w.p90),
                us(w.p99),
                us(w.p999),
                us(w.max)
            );
            println!("{}", line.trim_end());
        }
    }
    if !sizes.is_empty() {
        println!(
            "\nthroughput, one way (messages/s, bytes/s, CPU per message; ipcx/raw at the same\n  waiting policy):"
        );
    }
    for &size in &sizes {
        println!("  at {}:", size_name(size));
        let mut rows: Vec<_> = r.throughput.iter().filter(|p| p.size == size).collect();
        rows.sort_by(|a, b| b.messages_per_s.total_cmp(&a.messages_per_s));
        for p in rows {
            let raw = baseline_of(&p.implementation)
                .iter()
                .find_map(|b| r.throughput_of(&p.mechanism, b, size));
            let ratio = ratio_column(raw.map(|raw| p.messages_per_s / raw.messages_per_s));
            let cpu = cpu_column(p.cpu_per_message_ns);
            let mut noisy = noise_note(p.others_load).to_owned();
            if p.lost > 0 {
                noisy += &format!("  ({} of {} lost)", p.lost, p.messages);
            }
            let line = format!(
                "    {:<15} {:<10} {:>11} {:>11} {cpu}  {ratio}{noisy}",
                p.mechanism,
                p.implementation,
                rate(p.messages_per_s),
                bytes_rate(p.bytes_per_s)
            );
            println!("{}", line.trim_end());
        }
    }
    print_polling(r, &sizes);
    super::scaling_report::print(r);
    if let Some(note) = shm_note(r) {
        println!("\n{note}");
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

/// How the `shm` rows are measured, and how that differs from
/// `scripts/bench-shm` (`shm-bench`), so the two figures are not mistaken
/// for two answers to one question.
fn shm_note(r: &Results) -> Option<&'static str> {
    r.throughput
        .iter()
        .any(|p| p.mechanism.starts_with("shm"))
        .then_some(
            "shm rows: the API most programs use, Sender::send_bytes and\n  \
         Receiver::recv_bytes_with through &self (a lock per message), every byte read in\n  \
         place; `shm` and `shm+loan` wait adaptively. scripts/bench-shm's headline ipcx row\n  \
         holds both ends with lock() (no lock per message) and waits with wait=spin: its\n  \
         `ipcx &self` row is the one to set beside shm+spin here (its guarded `ipcx` row\n  \
         has no counterpart in ipcx bench).",
        )
}

/// What polling buys and costs: ipcx's default (`wait=adaptive`) against
/// `wait=block`, per mechanism and size, latency and throughput with the
/// CPU time each spends.
fn print_polling(r: &Results, sizes: &[usize]) {
    let mut lines = Vec::new();
    for &size in sizes {
        for p in r
            .latency
            .iter()
            .filter(|p| p.size == size && p.implementation == "ipcx")
        {
            let Some(block) = r.latency_of(&p.mechanism, "ipcx+block", size) else {
                continue;
            };
            let stream = |imp| r.throughput_of(&p.mechanism, imp, size);
            let (fast, slow) = (stream("ipcx"), stream("ipcx+block"));
            lines.push(format!(
                "  {:<15} {:>8}  p50 {:>10} vs {:>10} ({:>4.1}x)  CPU/round {} vs {}  rate {} vs {}",
                p.mechanism,
                size_name(size),
                us(p.one_way.p50),
                us(block.one_way.p50),
                block.one_way.p50 / p.one_way.p50,
                cpu_column(p.cpu_per_message_ns).trim(),
                cpu_column(block.cpu_per_message_ns).trim(),
                fast.map_or("-".into(), |t| rate(t.messages_per_s)),
                slow.map_or("-".into(), |t| rate(t.messages_per_s)),
            ));
        }
    }
    if !lines.is_empty() {
        println!(
            "\nwhat polling buys: ipcx's default (polls 20 µs, then sleeps) vs wait=block\n  (one-way p50, CPU per round trip, messages/s streaming):"
        );
        for line in lines {
            println!("{line}");
        }
    }
}

/// A self-contained HTML page: the machine, one latency chart per payload
/// size, the throughput charts, and every note (noisy points, lost
/// messages, what was not measured and why).
pub(crate) fn html(r: &Results) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ipcx bench</title>\
         <style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}\
         svg{margin:.5em 0}.grid{display:flex;flex-wrap:wrap;gap:8px}\
         .note{color:#8a5300}</style></head><body>\
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
    out.push_str(&notes_html(r));
    out.push_str("<h2>One-way latency</h2>");
    for size in r.latency_sizes() {
        out.push_str(&super::plots::latency_svg(r, size));
    }
    out.push_str(
        "<h2>Throughput</h2><p>Messages per second against payload size, one chart \
         per mechanism on the same axes: ipcx (circles) and the same mechanism \
         driven by raw syscalls (triangles).</p><div class=\"grid\">",
    );
    for svg in super::plots::by_size_svgs(r, super::plots::BySize::Throughput) {
        out.push_str(&svg);
    }
    out.push_str(
        "</div><h2>Tail latency</h2><p>One-way p99 of the ping-pong against payload size, \
         one chart per mechanism on the same axes.</p><div class=\"grid\">",
    );
    for svg in super::plots::by_size_svgs(r, super::plots::BySize::LatencyP99) {
        out.push_str(&svg);
    }
    out.push_str("</div>");
    out.push_str(&super::scaling_report::html(r));
    out.push_str("</body></html>\n");
    out
}

/// The notes the terminal table gives, for the page.
fn notes_html(r: &Results) -> String {
    let mut notes = Vec::new();
    for p in r.latency.iter().filter(|p| p.others_load > NOISY) {
        notes.push(format!(
            "noisy: latency of {} ({}) at {}: other processes used {:.0}% of the machine",
            p.mechanism,
            p.implementation,
            size_name(p.size),
            p.others_load * 100.0
        ));
    }
    for p in &r.throughput {
        if p.others_load > NOISY {
            notes.push(format!(
                "noisy: throughput of {} ({}) at {}: other processes used {:.0}% of the machine",
                p.mechanism,
                p.implementation,
                size_name(p.size),
                p.others_load * 100.0
            ));
        }
        if p.lost > 0 {
            notes.push(format!(
                "{} ({}) at {}: {} of {} messages lost",
                p.mechanism,
                p.implementation,
                size_name(p.size),
                p.lost,
                p.messages
            ));
        }
    }
    for s in &r.skipped {
        notes.push(format!(
            "not measured: {} at {}: {}",
            s.mechanism,
            size_name(s.size),
            s.why
        ));
    }
    if let Some(note) = shm_note(r) {
        notes.push(note.replace("\n  ", " "));
    }
    if notes.is_empty() {
        return String::new();
    }
    let items: String = notes
        .iter()
        .map(|n| format!("<li>{}</li>", escape(n)))
        .collect();
    let noisy = notes.iter().filter(|n| n.starts_with("noisy")).count();
    let other = notes.len() - noisy;
    format!(
        "<details class=\"note\" open><summary>{noisy} noisy point(s) (others used over {:.0}% \
         of the machine while they ran), {other} other note(s)</summary><ul>{items}</ul></details>",
        NOISY * 100.0
    )
}

/// Text for HTML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
