//! The `--scaling` curves in the terminal table and on the HTML page:
//! for each test and mechanism, a row per number of peers, with the rate
//! against one peer's, each peer's share, and the delays.

use std::fmt::Write;

use super::report::{escape, rate, size_name, us};
use super::results::{Results, ScalingPoint, NOISY};

/// The goals the curves are held to (issue 19): at the most peers, the
/// fan-in's aggregate rate against one sender's, and a broadcast
/// reader's rate against a lone reader's.
const FAN_IN_GOAL: f64 = 0.8;
const BROADCAST_GOAL: f64 = 0.7;

/// One test's curve on one mechanism, by number of peers.
struct Curve<'a> {
    test: &'a str,
    mechanism: &'a str,
    points: Vec<&'a ScalingPoint>,
}

impl Curve<'_> {
    /// `p`'s figure against one peer's (the curve's first point).
    fn against_first(&self, p: &ScalingPoint) -> Option<f64> {
        let first = self.points.first().filter(|f| f.peers == 1)?;
        Some(p.figure() / first.figure())
    }

    fn goal(&self) -> f64 {
        if self.test == "fan-in" {
            FAN_IN_GOAL
        } else {
            BROADCAST_GOAL
        }
    }
}

fn curves(r: &Results) -> Vec<Curve<'_>> {
    let mut curves: Vec<Curve<'_>> = Vec::new();
    for p in &r.scaling {
        match curves
            .iter_mut()
            .find(|c| c.test == p.test && c.mechanism == p.mechanism)
        {
            Some(c) => c.points.push(p),
            None => curves.push(Curve {
                test: &p.test,
                mechanism: &p.mechanism,
                points: vec![p],
            }),
        }
    }
    for c in &mut curves {
        c.points.sort_by_key(|p| p.peers);
    }
    curves
}

/// What a two-CPU machine (or any with fewer CPUs than processes) cannot show.
fn cpu_note(r: &Results) -> Option<String> {
    let most = r.scaling.iter().map(|p| p.peers).max()?;
    (most + 1 > r.machine.cpus).then(|| {
        format!(
            "{} CPUs: the receiver (fan-in) or the sender (broadcast) runs on one, and all \
             the peers share the other{}. Past one peer, the peers take turns on that CPU: \
             a broadcast reader's rate at N readers is bounded by 1/N of a CPU, so the \
             per-reader goal (0.7× one reader at 8) cannot be shown here; the readers' \
             total shows what the ring itself sustains.",
            r.machine.cpus,
            if r.machine.pinned.is_some() {
                " (pinned)"
            } else {
                ""
            }
        )
    })
}

/// One line of a curve.
fn line(c: &Curve<'_>, p: &ScalingPoint) -> String {
    let against = c
        .against_first(p)
        .map_or("     ".into(), |x| format!("{x:>5.2}"));
    let low = p.per_peer.iter().copied().fold(f64::MAX, f64::min);
    let high = p.per_peer.iter().copied().fold(0.0, f64::max);
    let (figure, others) = if c.test == "fan-in" {
        (
            rate(p.aggregate_per_s),
            format!("each {}–{}", rate(low), rate(high)),
        )
    } else {
        (
            rate(p.mean_per_peer()),
            format!("slowest {}, all {}", rate(low), rate(p.aggregate_per_s)),
        )
    };
    let cpu = p.cpu_per_message_ns.map_or(String::new(), us);
    let noisy = if p.others_load > NOISY {
        "  (noisy)"
    } else {
        ""
    };
    format!(
        "{:>3} {:>11}  {against}  {others:<34} delay p50 {:>9} p99 {:>9}  CPU/msg {cpu}{noisy}",
        p.peers,
        figure,
        us(p.delay.p50),
        us(p.delay.p99)
    )
}

/// The goal line of a curve: its last point against the goal.
fn verdict(c: &Curve<'_>) -> Option<String> {
    let last = c.points.last()?;
    let x = c.against_first(last)?;
    Some(format!(
        "{} {} at {} peers: {x:.2}× one peer (goal {:.1}×): {}",
        c.test,
        c.mechanism,
        last.peers,
        c.goal(),
        if x >= c.goal() { "met" } else { "missed" }
    ))
}

const HEADER: &str = "how cost grows with peers (each peer a process; the streams are saturated, \
    so a delay, send to receive, includes time queued; `vs 1`: against one peer):\n  \
    fan-in: N senders into one receiver, messages/s received, and each sender's share;\n  \
    broadcast: one sender, N readers of one ring, messages/s per reader (mean).";

/// The curves for the terminal.
pub(crate) fn print(r: &Results) {
    let curves = curves(r);
    if curves.is_empty() {
        return;
    }
    let size = r.scaling.first().map_or(0, |p| p.size);
    println!("\n{HEADER}\n  at {}:", size_name(size));
    for c in &curves {
        println!("    {} {}:", c.test, c.mechanism);
        for p in &c.points {
            println!("      {}", line(c, p).trim_end());
        }
    }
    for v in curves.iter().filter_map(verdict) {
        println!("  {v}");
    }
    if let Some(note) = cpu_note(r) {
        println!("  note: {note}");
    }
}

/// The curves' section of the page: their charts and the same table.
pub(crate) fn html(r: &Results) -> String {
    let curves = curves(r);
    if curves.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h2>How cost grows with peers</h2>");
    let _ = write!(out, "<p>{}</p>", escape(&HEADER.replace("\n  ", " ")));
    if let Some(note) = cpu_note(r) {
        let _ = write!(out, "<p class=\"note\">{}</p>", escape(&note));
    }
    out.push_str("<div class=\"grid\">");
    for test in ["fan-in", "broadcast"] {
        let of_test: Vec<_> = curves.iter().filter(|c| c.test == test).collect();
        if of_test.is_empty() {
            continue;
        }
        let series: Vec<(String, Vec<(f64, f64)>)> = of_test
            .iter()
            .map(|c| {
                let pts = c
                    .points
                    .iter()
                    .map(|p| (p.peers as f64, p.figure()))
                    .collect();
                (c.mechanism.to_owned(), pts)
            })
            .collect();
        let delays: Vec<(String, Vec<(f64, f64)>)> = of_test
            .iter()
            .map(|c| {
                let pts = c
                    .points
                    .iter()
                    .map(|p| (p.peers as f64, p.delay.p99))
                    .collect();
                (c.mechanism.to_owned(), pts)
            })
            .collect();
        let (rate_title, peers) = if test == "fan-in" {
            ("fan-in: messages/s received", "senders")
        } else {
            ("broadcast: messages/s per reader", "readers")
        };
        out.push_str(&super::plots::peers_svg(
            rate_title,
            peers,
            "messages/s",
            &series,
        ));
        out.push_str(&super::plots::peers_svg(
            &format!("{test}: delay p99"),
            peers,
            "time",
            &delays,
        ));
    }
    out.push_str("</div><pre>");
    for c in &curves {
        let _ = writeln!(out, "{} {}:", c.test, c.mechanism);
        for p in &c.points {
            let _ = writeln!(out, "  {}", escape(line(c, p).trim_end()));
        }
    }
    for v in curves.iter().filter_map(verdict) {
        let _ = writeln!(out, "{}", escape(&v));
    }
    out.push_str("</pre>");
    out
}
