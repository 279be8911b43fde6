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

const HEADER: [&str; 11] = [
    "PID", "COMMAND", "ROLE", "ENDPOINT", "MSG/S", "BYTES/S", "TOTAL", "QUEUE", "BLOCKED", "ERR",
    "PEERS",
];

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
    let table_rows = rows.iter().map(|r| {
        Row::new(vec![
            Cell::from(r.pid.to_string()),
            Cell::from(r.command.clone()),
            Cell::from(match r.role {
                ipcx::stats::Role::Sender => "send",
                ipcx::stats::Role::Receiver => "recv",
            }),
            Cell::from(r.endpoint.clone()),
            Cell::from(short(r.messages_per_s)),
            Cell::from(short(r.bytes_per_s)),
            Cell::from(short(r.messages as f64)),
            Cell::from(r.queue.clone().unwrap_or_default()),
            Cell::from(format!("{:.0}%", r.blocked_fraction * 100.0)),
            Cell::from(r.errors.to_string()),
            Cell::from(
                r.peers
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ])
    });
    let widths = [
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(4),
        Constraint::Min(20),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(14),
    ];
    let table = Table::new(table_rows, widths)
        .header(Row::new(HEADER.to_vec()).style(Style::default().add_modifier(Modifier::REVERSED)));
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
            "PID     COMMAND ROLE ENDPOINT             MSG/S   BYTES/S TOTAL   QUEUE   BLOCKED ERR  PEERS        ",
            "4242    worker  recv shm:/frames          1.5M    96.0M   123k    3 msg   25%     2    17,18        ",
            "4242    worker  recv mq:/jobs             20      1.3k    123k    3 msg   25%     2    17,18        ",
            "                                                                                                    ",
            "q quit   s sort (msg/s, bytes/s, blocked, endpoint)                                                 ",
        ];
        let buffer = terminal.backend().buffer();
        let lines: Vec<String> = (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect()
            })
            .collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn sorting_cycles_and_orders() {
        let mut rows = vec![row("b", 1.0), row("a", 5.0)];
        SortBy::Endpoint.sort(&mut rows);
        assert_eq!(rows[0].endpoint, "a");
        assert_eq!(SortBy::Endpoint.next(), SortBy::Rate);
    }
}
