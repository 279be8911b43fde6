//! Drawing the live plumber: the buffer as a bar with its numbers, the
//! fill level over time, each writer and reader with what it is doing and
//! its rate, the kernel's limits, a plain-words legend and the keys. Pure:
//! it draws a [`Screen`] into any ratatui backend (the tests use
//! `TestBackend`).

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Gauge, Paragraph, Sparkline};
use ratatui::Frame;

use super::history::History;
use super::look::Look;
use super::state::State;
use crate::command::top::short;

/// Everything one frame shows.
pub(crate) struct Screen<'a> {
    pub(crate) look: &'a Look,
    pub(crate) history: &'a History,
    /// The answer to the last key (a resize done or refused), if any.
    pub(crate) status: &'a str,
    /// The keys line.
    pub(crate) keys: &'a str,
    /// Extra lines (the demo's sides and speeds).
    pub(crate) extra: &'a [String],
}

pub(crate) fn render(frame: &mut Frame<'_>, s: &Screen<'_>) {
    let ends = s.look.writers.len() + s.look.readers.len();
    let [title, bar, spark, who, extra, words, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Length(ends.max(2) as u16 + 2),
        Constraint::Length(s.extra.len() as u16),
        Constraint::Length(2),
        Constraint::Min(1),
    ])
    .areas(frame.area());
    let look = s.look;
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!("ipcx plumber — {} ({})", look.target, look.kind))
                .style(Style::new().add_modifier(Modifier::BOLD)),
            Line::from(limits(look)),
        ]),
        title,
    );
    let (ratio, label) = match (look.queued, look.capacity) {
        (Some(q), Some(c)) if c > 0 => (
            (q as f64 / c as f64).min(1.0),
            format!(
                "{q} of {c} {} ({:.0}%)",
                look.unit,
                q as f64 * 100.0 / c as f64
            ),
        ),
        (Some(q), _) => (0.0, format!("{q} {} queued", look.unit)),
        _ => (0.0, "fill level unknown".into()),
    };
    let full = ratio >= 1.0;
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(" kernel buffer "))
            .gauge_style(Style::new().fg(if full { Color::Red } else { Color::Cyan }))
            .ratio(ratio)
            .label(label),
        bar,
    );
    let width = spark.width.saturating_sub(2) as usize;
    let fill: Vec<u64> = s
        .history
        .fill
        .iter()
        .rev()
        .take(width)
        .rev()
        .copied()
        .collect();
    let (rate_in, rate_out) = s.history.through();
    let rate = |r: Option<f64>| r.map_or("?".into(), |r| format!("{}B/s", short(r)));
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(format!(
                " fill over time · in {} · out {} ",
                rate(rate_in),
                rate(rate_out)
            )))
            .max(1000)
            .data(&fill),
        spark,
    );
    let mut lines = Vec::new();
    for (side, list, writing) in [
        ("writer", &look.writers, true),
        ("reader", &look.readers, false),
    ] {
        if list.is_empty() {
            lines.push(Line::from(format!("no {side}")));
        }
        for end in list {
            let moved = s
                .history
                .rates
                .get(&(end.pid, writing))
                .map_or(String::new(), |r| format!("  {}B/s", short(*r)));
            let style = match end.state {
                State::BlockedFull | State::BlockedEmpty => Style::new().fg(Color::Red),
                State::Running => Style::new().fg(Color::Green),
                State::Sleeping => Style::new(),
            };
            lines.push(
                Line::from(format!(
                    "{side} {:>7} {:<16} {}{moved}",
                    end.pid,
                    end.command,
                    look.say(end)
                ))
                .style(style),
            );
            if let Some(note) = &end.note {
                lines.push(Line::from(format!("        ({note})")));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" who holds it ")),
        who,
    );
    frame.render_widget(
        Paragraph::new(
            s.extra
                .iter()
                .map(|l| Line::from(l.as_str()))
                .collect::<Vec<_>>(),
        ),
        extra,
    );
    let mut said = vec![Line::from(legend(look)).style(Style::new().add_modifier(Modifier::BOLD))];
    if !s.status.is_empty() {
        said.push(Line::from(s.status));
    } else if let Some(note) = &look.note {
        said.push(Line::from(format!("({note})")));
    }
    frame.render_widget(Paragraph::new(said), words);
    frame.render_widget(Paragraph::new(s.keys), keys);
}

/// What is happening, in plain words: who is held up and why, or that it flows.
pub(crate) fn legend(look: &Look) -> String {
    let what = look.what();
    let level = match (look.queued, look.capacity) {
        (Some(q), Some(c)) => format!("{q} of {c} {}", look.unit),
        _ => "level unknown".into(),
    };
    let blocked = |list: &[super::look::End], state| list.iter().any(|e| e.state == state);
    if blocked(&look.writers, State::BlockedFull) {
        format!("writer blocked: {what} full, {level}")
    } else if blocked(&look.readers, State::BlockedEmpty) {
        format!("reader blocked: {what} empty, waiting for the writer")
    } else if look.queued.is_some() && look.queued == look.capacity {
        format!("{what} full, {level}: a write now waits for the reader")
    } else if look.queued == Some(0) {
        format!("{what} empty: a read now waits for the writer")
    } else if look.writers.is_empty() && look.readers.is_empty() {
        format!("nobody holds the {what}")
    } else {
        format!("flowing: {level} waiting")
    }
}

/// The kernel's limits for this kind of buffer.
fn limits(look: &Look) -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|_| "?".into())
    };
    match look.kind {
        "unix" => format!(
            "the writer's SO_SNDBUF {} bytes (net.core.wmem_default {}); payload waiting {}",
            look.capacity.map_or("?".into(), |c| c.to_string()),
            read("/proc/sys/net/core/wmem_default"),
            look.payload.map_or("?".into(), |p| p.to_string())
        ),
        "sysvmq" => format!(
            "{} messages · limits: msgmnb {} bytes a queue, msgmax {} a message (/proc/sys/kernel)",
            look.messages.map_or("?".into(), |m| m.to_string()),
            read("/proc/sys/kernel/msgmnb"),
            read("/proc/sys/kernel/msgmax")
        ),
        "mq" => format!(
            "limits: msg_max {} · msgsize_max {} (/proc/sys/fs/mqueue)",
            read("/proc/sys/fs/mqueue/msg_max"),
            read("/proc/sys/fs/mqueue/msgsize_max")
        ),
        _ => format!(
            "size {} · pipe-max-size {} (/proc/sys/fs/pipe-max-size; more needs CAP_SYS_RESOURCE)",
            look.capacity.map_or("?".into(), |c| c.to_string()),
            read("/proc/sys/fs/pipe-max-size")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::plumber::look::End;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn end(pid: i32, state: State) -> End {
        End {
            pid,
            command: "demo".into(),
            fds: vec![1],
            state,
            note: None,
        }
    }

    #[test]
    fn a_full_pipe_draws_a_full_bar_and_says_the_writer_is_blocked() {
        let look = Look {
            target: "pipe:[42]".into(),
            kind: "pipe",
            capacity: Some(65536),
            queued: Some(65536),
            unit: "bytes",
            writers: vec![end(10, State::BlockedFull)],
            readers: vec![end(11, State::Sleeping)],
            note: None,
            payload: None,
            messages: None,
            through: None,
        };
        let mut history = History::default();
        history.push(&look);
        let mut terminal = Terminal::new(TestBackend::new(100, 24)).unwrap();
        terminal
            .draw(|f| {
                render(
                    f,
                    &Screen {
                        look: &look,
                        history: &history,
                        status: "",
                        keys: "q quit",
                        extra: &[],
                    },
                )
            })
            .unwrap();
        let text: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(text.contains("65536 of 65536 bytes (100%)"), "{text}");
        assert!(text.contains("writer blocked: pipe full, 65536 of 65536 bytes"));
        assert!(text.contains("blocked writing: the pipe is full"));
    }
}
