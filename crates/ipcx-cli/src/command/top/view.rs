//! Drawing `ipcx top`: a title line, one table row per endpoint, a key
//! line. Pure: it takes the rows and draws into any ratatui backend (the
//! tests use `TestBackend`).

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::sample::{short, EndpointRow};

/// What the user chose in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SortBy {
    #[default]
    Rate,
    Bytes,
    Blocked,
    Endpoint,
}

impl SortBy {
    pub(crate) fn next(self) -> SortBy {
        match self {
            SortBy::Rate => SortBy::Bytes,
            SortBy::Bytes => SortBy::Blocked,
            SortBy::Blocked => SortBy::Endpoint,
            SortBy::Endpoint => SortBy::Rate,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SortBy::Rate => "msg/s",
            SortBy::Bytes => "bytes/s",
            SortBy::Blocked => "blocked",
            SortBy::Endpoint => "endpoint",
        }
    }

    pub(crate) fn sort(self, rows: &mut [EndpointRow]) {
        match self {
            SortBy::Rate => rows.sort_by(|a, b| b.messages_per_s.total_cmp(&a.messages_per_s)),
            SortBy::Bytes => rows.sort_by(|a, b| b.bytes_per_s.total_cmp(&a.bytes_per_s)),
            SortBy::Blocked => {
                rows.sort_by(|a, b| b.blocked_fraction.total_cmp(&a.blocked_fraction))
            }
            SortBy::Endpoint => {
                rows.sort_by(|a, b| a.endpoint.cmp(&b.endpoint).then(a.pid.cmp(&b.pid)))
            }
        }
    }
}

/// One column: its header, the width its cells need at most, and a
/// priority: when the terminal is too narrow, the columns with the
/// highest numbers go first, whole (a cut pid or header misleads).
struct Column {
    header: &'static str,
    width: u16,
    drop_order: u8,
    cell: fn(&EndpointRow) -> String,
}

/// The endpoint column's least width; it takes what the others leave.
const ENDPOINT_MIN: u16 = 16;
/// Other columns are dropped to give the endpoint up to this much.
const ENDPOINT_WANT: u16 = 40;

fn columns(rows: &[EndpointRow]) -> Vec<Column> {
    let widest = |f: fn(&EndpointRow) -> String, header: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain(std::iter::once(header.len()))
            .max()
            .unwrap_or(0) as u16
    };
    let mut all = vec![
        Column {
            header: "PID",
            width: 0,
            drop_order: 0,
            cell: |r| r.pid.to_string(),
        },
        Column {
            header: "COMMAND",
            width: 0,
            drop_order: 4,
            cell: |r| r.command.clone(),
        },
        Column {
            header: "ROLE",
            width: 0,
            drop_order: 0,
            cell: |r| r.role.label().into(),
        },
        Column {
            header: "ENDPOINT",
            width: 0,
            drop_order: 0,
            cell: |r| r.endpoint.clone(),
        },
        Column {
            header: "MSG/S",
            width: 0,
            drop_order: 0,
            cell: |r| short(r.messages_per_s),
        },
        Column {
            header: "BYTES/S",
            width: 0,
            drop_order: 2,
            cell: |r| short(r.bytes_per_s),
        },
        Column {
            header: "TOTAL",
            width: 0,
            drop_order: 7,
            cell: |r| short(r.messages as f64),
        },
        Column {
            header: "QUEUE",
            width: 0,
            drop_order: 5,
            cell: |r| r.queue.clone().unwrap_or_default(),
        },
        Column {
            header: "BLOCKED",
            width: 0,
            drop_order: 3,
            cell: |r| format!("{:.0}%", r.blocked_fraction * 100.0),
        },
        Column {
            header: "ERR",
            width: 0,
            drop_order: 6,
            cell: |r| r.errors.to_string(),
        },
        Column {
            header: "PEERS",
            width: 0,
            drop_order: 8,
            cell: |r| {
                r.peers
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        },
    ];
    for c in &mut all {
        c.width = widest(c.cell, c.header);
    }
    // At least as wide as the values usually get, so columns do not jump.
    for (header, least) in [("MSG/S", 6), ("BYTES/S", 7), ("TOTAL", 6), ("COMMAND", 8)] {
        if let Some(c) = all.iter_mut().find(|c| c.header == header) {
            c.width = c.width.max(least);
        }
    }
    all
}

/// The columns that fit in `width` (one space between columns), dropping
/// the most droppable first; the endpoint takes what is left.
fn fitting(mut cols: Vec<Column>, width: u16) -> Vec<Column> {
    let needed = |cols: &[Column]| -> u16 {
        cols.iter()
            .map(|c| match c.header {
                "ENDPOINT" => c.width.min(ENDPOINT_WANT),
                _ => c.width,
            })
            .sum::<u16>()
            + cols.len().saturating_sub(1) as u16
    };
    while needed(&cols) > width {
        let Some(worst) = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.drop_order > 0)
            .max_by_key(|(_, c)| c.drop_order)
            .map(|(i, _)| i)
        else {
            break;
        };
        cols.remove(worst);
    }
    // What is left is the endpoint's.
    let others: u16 = cols
        .iter()
        .filter(|c| c.header != "ENDPOINT")
        .map(|c| c.width + 1)
        .sum();
    if let Some(ep) = cols.iter_mut().find(|c| c.header == "ENDPOINT") {
        ep.width = ep.width.min(width.saturating_sub(others)).max(ENDPOINT_MIN);
    }
    cols
}

/// `text` in `width` columns: an endpoint too long keeps its scheme and
/// its end (where endpoints differ) around an ellipsis.
fn fit(text: &str, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_owned();
    }
    let head = text
        .find(':')
        .map_or(0, |i| i + 1)
        .min(width.saturating_sub(2));
    let tail = width.saturating_sub(head + 1);
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

pub(crate) fn render(frame: &mut Frame<'_>, rows: &[EndpointRow], sort: SortBy, interval_s: f64) {
    let [title, body, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let total_rate: f64 = rows
        .iter()
        .filter(|r| r.role == ipcx::stats::Role::Receiver)
        .map(|r| r.messages_per_s)
        .sum();
    frame.render_widget(
        Paragraph::new(Line::from(format!(
            "ipcx top - {} endpoints, {} msg/s received, every {interval_s:.1}s, sorted by {}",
            rows.len(),
            short(total_rate),
            sort.name()
        )))
        .style(Style::default().add_modifier(Modifier::BOLD)),
        title,
    );
    let cols = fitting(columns(rows), body.width);
    let table_rows = rows.iter().map(|r| {
        Row::new(
            cols.iter()
                .map(|c| Cell::from(fit(&(c.cell)(r), c.width.into())))
                .collect::<Vec<_>>(),
        )
    });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| match c.header {
            "ENDPOINT" => Constraint::Min(c.width),
            _ => Constraint::Length(c.width),
        })
        .collect();
    let table = Table::new(table_rows, widths).header(
        Row::new(cols.iter().map(|c| c.header).collect::<Vec<_>>())
            .style(Style::default().add_modifier(Modifier::REVERSED)),
    );
    frame.render_widget(table, body);
    frame.render_widget(
        Paragraph::new(Line::from(
            "q quit   s sort (msg/s, bytes/s, blocked, endpoint)",
        )),
        keys,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn row(endpoint: &str, rate: f64) -> EndpointRow {
        EndpointRow {
            pid: 4242,
            command: "worker".into(),
            role: ipcx::stats::Role::Receiver,
            endpoint: endpoint.into(),
            messages: 123_456,
            bytes: 7_890_000,
            errors: 2,
            blocked_ns: 0,
            messages_per_s: rate,
            bytes_per_s: rate * 64.0,
            blocked_fraction: 0.25,
            queue: Some("3 msg".into()),
            peers: vec![17, 18],
        }
    }

    /// The whole screen, as text, for a known set of rows.
    #[test]
    fn renders_the_expected_screen() {
        let mut terminal = Terminal::new(TestBackend::new(100, 6)).unwrap();
        let rows = vec![row("shm:/frames", 1_500_000.0), row("mq:/jobs", 20.0)];
        terminal
            .draw(|f| render(f, &rows, SortBy::Rate, 1.0))
            .unwrap();
        let expected = [
            "ipcx top - 2 endpoints, 1.5M msg/s received, every 1.0s, sorted by msg/s                            ",
            "PID  COMMAND  ROLE ENDPOINT                            MSG/S  BYTES/S TOTAL  QUEUE BLOCKED ERR PEERS",
            "4242 worker   recv shm:/frames                         1.5M   96.0M   123k   3 msg 25%     2   17,18",
            "4242 worker   recv mq:/jobs                            20     1.3k    123k   3 msg 25%     2   17,18",
            "                                                                                                    ",
            "q quit   s sort (msg/s, bytes/s, blocked, endpoint)                                                 ",
        ];
        assert_eq!(screen(&terminal), expected);
    }

    fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
        let buffer = terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect()
            })
            .collect()
    }

    /// At 80×24 with 7-digit pids and long endpoints: pids whole, headers
    /// whole, and the columns that do not fit left out, last first.
    #[test]
    fn at_80_columns_nothing_is_cut() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let mut rows = Vec::new();
        for (i, pid) in [1_122_334u32, 1_122_335, 1_122_399].into_iter().enumerate() {
            let mut r = row(
                &format!("unix:/run/some-service/endpoint-{i}.sock"),
                12_345.0,
            );
            r.pid = pid;
            r.peers = vec![pid + 1, pid + 2, pid + 3];
            rows.push(r);
        }
        terminal
            .draw(|f| render(f, &rows, SortBy::Rate, 1.0))
            .unwrap();
        let lines = screen(&terminal);
        let header: Vec<&str> = lines[1].split_whitespace().collect();
        for h in &header {
            assert!(
                [
                    "PID", "COMMAND", "ROLE", "ENDPOINT", "MSG/S", "BYTES/S", "TOTAL", "QUEUE",
                    "BLOCKED", "ERR", "PEERS"
                ]
                .contains(h),
                "a cut header: {h} in {}",
                lines[1]
            );
        }
        assert!(
            !header.contains(&"PEERS"),
            "the widest, least needed column went first"
        );
        for (line, r) in lines[2..5].iter().zip(&rows) {
            assert!(line.starts_with(&format!("{} ", r.pid)), "{line}");
            let tail = format!(
                "endpoint-{}.sock",
                rows.iter().position(|x| x.pid == r.pid).unwrap()
            );
            assert!(line.contains(&tail), "the endpoint's end stays: {line}");
        }
    }

    #[test]
    fn sorting_cycles_and_orders() {
        let mut rows = vec![row("b", 1.0), row("a", 5.0)];
        SortBy::Endpoint.sort(&mut rows);
        assert_eq!(rows[0].endpoint, "a");
        assert_eq!(SortBy::Endpoint.next(), SortBy::Rate);
    }
}
