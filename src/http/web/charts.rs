//! Charts as inline SVG, built on the server from numbers: no script, no chart
//! library, no inline styles (the pages' CSP forbids them). Shapes carry classes
//! (`chart-fill-<key>`, `chart-hatch`, ...) that `assets/css/admin.css` colours with
//! the theme's variables; series are also told apart by a pattern and a printed
//! label, never by colour alone. Every chart is an `<svg role="img">` named by its
//! `<title>` and described by its `<desc>`; the page puts the same numbers in a table.
//!
//! Every function here is pure: numbers and labels in, markup out. Labels are
//! escaped.

use std::fmt::Write;

/// The plotting area of both charts, in SVG user units (the viewBox scales it).
const WIDTH: f64 = 720.0;

/// A texture laid over a series' colour so that series differ without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Solid,
    /// Lines rising to the right.
    Diagonal,
    /// Lines falling to the right.
    BackDiagonal,
    Horizontal,
    Vertical,
    Dots,
    Cross,
}

impl Pattern {
    fn id(self) -> Option<&'static str> {
        match self {
            Pattern::Solid => None,
            Pattern::Diagonal => Some("diagonal"),
            Pattern::BackDiagonal => Some("back-diagonal"),
            Pattern::Horizontal => Some("horizontal"),
            Pattern::Vertical => Some("vertical"),
            Pattern::Dots => Some("dots"),
            Pattern::Cross => Some("cross"),
        }
    }

    /// The `<pattern>` element, with ids prefixed by the chart's `prefix`.
    fn definition(self, prefix: &str) -> String {
        let Some(id) = self.id() else {
            return String::new();
        };
        let body = match self {
            Pattern::Solid => "",
            Pattern::Diagonal => {
                r#"<path class="chart-hatch" d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4"/>"#
            }
            Pattern::BackDiagonal => {
                r#"<path class="chart-hatch" d="M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4"/>"#
            }
            Pattern::Horizontal => r#"<path class="chart-hatch" d="M0,2 h8 M0,6 h8"/>"#,
            Pattern::Vertical => r#"<path class="chart-hatch" d="M2,0 v8 M6,0 v8"/>"#,
            Pattern::Dots => r#"<circle class="chart-dot" cx="4" cy="4" r="1.6"/>"#,
            Pattern::Cross => r#"<path class="chart-hatch" d="M0,4 h8 M4,0 v8"/>"#,
        };
        format!(
            r#"<pattern id="{prefix}-{id}" width="8" height="8" patternUnits="userSpaceOnUse">{body}</pattern>"#
        )
    }
}

/// One series of a chart: `key` names its colour class (`chart-fill-<key>`).
#[derive(Debug, Clone)]
pub struct Series {
    pub key: String,
    pub label: String,
    pub pattern: Pattern,
}

/// Bars of whole counts, one per category, stacked by series.
#[derive(Debug, Clone)]
pub struct StackedBars {
    /// Unique on the page: prefixes the ids inside the SVG.
    pub id: String,
    pub title: String,
    pub desc: String,
    pub series: Vec<Series>,
    /// (axis label, one value per series).
    pub bars: Vec<(String, Vec<u64>)>,
    /// What the vertical axis counts, e.g. "Appointments".
    pub y_label: String,
}

/// One row of a horizontal two-part bar: used vs unused, with the share printed.
#[derive(Debug, Clone)]
pub struct SplitBar {
    pub label: String,
    pub used: i64,
    pub unused: i64,
    /// Printed after the bar, e.g. "62.5%" or "no hours".
    pub note: String,
}

/// Escapes text for SVG (XML) content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 does not allow.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Shortens `text` to `max` characters with an ellipsis.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", kept.trim_end())
    }
}

/// The top of the value axis and its tick step: a "nice" step (1, 2 or 5 times a
/// power of ten) giving at most `max_ticks` steps, and the smallest multiple of it
/// at or above `max`. An empty chart still gets an axis of 0..1.
pub fn nice_axis(max: u64, max_ticks: u64) -> (u64, u64) {
    let max = max.max(1);
    let ticks = max_ticks.max(1);
    let mut magnitude = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * magnitude;
            if max.div_ceil(step) <= ticks {
                return (max.div_ceil(step) * step, step);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// Where `value` lands on an axis of `length` units going up to `top`.
pub fn scale(value: u64, top: u64, length: f64) -> f64 {
    if top == 0 {
        0.0
    } else {
        value as f64 / top as f64 * length
    }
}

fn number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded == rounded.trunc() {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded}")
    }
}

fn defs(prefix: &str, patterns: impl IntoIterator<Item = Pattern>) -> String {
    let mut seen = Vec::new();
    let mut out = String::from("<defs>");
    for pattern in patterns {
        if !seen.contains(&pattern) {
            seen.push(pattern);
            out.push_str(&pattern.definition(prefix));
        }
    }
    out.push_str("</defs>");
    out
}

/// A rectangle in a series' colour with its pattern laid over it.
fn swatch_rect(prefix: &str, series: &Series, x: f64, y: f64, w: f64, h: f64) -> String {
    let (x, y, w, h) = (number(x), number(y), number(w), number(h));
    let key = escape(&series.key);
    let mut out =
        format!(r#"<rect class="chart-fill-{key}" x="{x}" y="{y}" width="{w}" height="{h}"/>"#);
    if let Some(id) = series.pattern.id() {
        let _ = write!(
            out,
            r#"<rect fill="url(#{prefix}-{id})" x="{x}" y="{y}" width="{w}" height="{h}"/>"#
        );
    }
    out
}

fn open_svg(id: &str, title: &str, desc: &str, height: f64) -> String {
    let id = escape(id);
    format!(
        r#"<svg class="chart" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {h}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>"#,
        h = number(height),
        title = escape(title),
        desc = escape(desc),
    )
}

/// A stacked bar chart with a value axis, category labels (thinned out to fit) and
/// a legend whose entries show each series' colour, pattern and name.
pub fn stacked_bar_chart(chart: &StackedBars) -> String {
    let prefix = escape(&chart.id);
    let legend_rows = chart.series.len().div_ceil(4).max(1);
    let (left, right, top) = (48.0, 12.0, 16.0);
    let plot_height = 220.0;
    let axis_bottom = top + plot_height;
    let legend_top = axis_bottom + 40.0;
    let height = legend_top + legend_rows as f64 * 22.0 + 4.0;
    let plot_width = WIDTH - left - right;

    let max = chart
        .bars
        .iter()
        .map(|(_, values)| values.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let (axis_top, step) = nice_axis(max, 5);

    let mut out = open_svg(&chart.id, &chart.title, &chart.desc, height);
    out.push_str(&defs(&prefix, chart.series.iter().map(|s| s.pattern)));

    // The value axis: gridlines and tick labels.
    out.push_str(r#"<g class="chart-axis">"#);
    let mut tick = 0;
    while tick <= axis_top {
        let y = axis_bottom - scale(tick, axis_top, plot_height);
        let _ = write!(
            out,
            r#"<line class="chart-grid" x1="{l}" x2="{r}" y1="{y}" y2="{y}"/><text class="chart-label" x="{tx}" y="{ty}" text-anchor="end">{tick}</text>"#,
            l = number(left),
            r = number(WIDTH - right),
            y = number(y),
            tx = number(left - 6.0),
            ty = number(y + 4.0),
        );
        tick += step;
    }
    let _ = write!(
        out,
        r#"<text class="chart-label" x="{x}" y="{y}" text-anchor="end" transform="rotate(-90 {x} {y})">{label}</text>"#,
        x = number(12.0),
        y = number(top),
        label = escape(&chart.y_label),
    );
    out.push_str("</g>");

    // The bars.
    let count = chart.bars.len();
    if count == 0 {
        let _ = write!(
            out,
            r#"<text class="chart-label" x="{x}" y="{y}" text-anchor="middle">No data</text>"#,
            x = number(left + plot_width / 2.0),
            y = number(top + plot_height / 2.0),
        );
    } else {
        let slot = plot_width / count as f64;
        let gap = if slot > 6.0 { slot * 0.2 } else { 0.0 };
        let bar_width = slot - gap;
        // At most about 12 category labels.
        let every = count.div_ceil(12).max(1);
        out.push_str(r#"<g class="chart-bars">"#);
        for (i, (label, values)) in chart.bars.iter().enumerate() {
            let x = left + i as f64 * slot + gap / 2.0;
            let mut base = 0u64;
            for (series, &value) in chart.series.iter().zip(values) {
                if value == 0 {
                    continue;
                }
                let y0 = axis_bottom - scale(base, axis_top, plot_height);
                let y1 = axis_bottom - scale(base + value, axis_top, plot_height);
                out.push_str(&swatch_rect(&prefix, series, x, y1, bar_width, y0 - y1));
                base += value;
            }
            if i % every == 0 {
                let _ = write!(
                    out,
                    r#"<text class="chart-label" x="{x}" y="{y}" text-anchor="middle">{label}</text>"#,
                    x = number(x + bar_width / 2.0),
                    y = number(axis_bottom + 16.0),
                    label = escape(label),
                );
            }
        }
        out.push_str("</g>");
    }
    let _ = write!(
        out,
        r#"<line class="chart-baseline" x1="{l}" x2="{r}" y1="{y}" y2="{y}"/>"#,
        l = number(left),
        r = number(WIDTH - right),
        y = number(axis_bottom),
    );

    out.push_str(&legend(&prefix, &chart.series, left, legend_top));
    out.push_str("</svg>");
    out
}

/// Legend entries, four to a row: a swatch (colour and pattern) and the name.
fn legend(prefix: &str, series: &[Series], left: f64, top: f64) -> String {
    let mut out = String::from(r#"<g class="chart-legend">"#);
    let column = (WIDTH - left) / 4.0;
    for (i, s) in series.iter().enumerate() {
        let x = left + (i % 4) as f64 * column;
        let y = top + (i / 4) as f64 * 22.0;
        out.push_str(&swatch_rect(prefix, s, x, y, 16.0, 14.0));
        let _ = write!(
            out,
            r#"<rect class="chart-swatch-edge" x="{x}" y="{y}" width="16" height="14"/><text class="chart-label" x="{tx}" y="{ty}">{label}</text>"#,
            x = number(x),
            y = number(y),
            tx = number(x + 22.0),
            ty = number(y + 11.5),
            label = escape(&s.label),
        );
    }
    out.push_str("</g>");
    out
}

/// Horizontal bars, one per row, split into used (solid) and unused (hatched) parts
/// on a common scale, with each row's note printed at the end of its bar.
pub fn split_bar_chart(
    id: &str,
    title: &str,
    desc: &str,
    used: &Series,
    unused: &Series,
    rows: &[SplitBar],
) -> String {
    let prefix = escape(id);
    let (label_width, note_width, top, row_height) = (170.0, 90.0, 8.0, 30.0);
    let bar_height = 18.0;
    let plot_width = WIDTH - label_width - note_width;
    let body = (rows.len().max(1)) as f64 * row_height;
    let legend_top = top + body + 12.0;
    let height = legend_top + 26.0;
    let max = rows
        .iter()
        .map(|r| (r.used.max(0) + r.unused.max(0)) as u64)
        .max()
        .unwrap_or(0)
        .max(1);

    let mut out = open_svg(id, title, desc, height);
    out.push_str(&defs(&prefix, [used.pattern, unused.pattern]));
    if rows.is_empty() {
        let _ = write!(
            out,
            r#"<text class="chart-label" x="{x}" y="{y}" text-anchor="middle">No data</text>"#,
            x = number(WIDTH / 2.0),
            y = number(top + row_height / 2.0 + 4.0),
        );
    }
    out.push_str(r#"<g class="chart-bars">"#);
    for (i, row) in rows.iter().enumerate() {
        let y = top + i as f64 * row_height;
        let bar_y = y + (row_height - bar_height) / 2.0;
        let used_width = scale(row.used.max(0) as u64, max, plot_width);
        let unused_width = scale(row.unused.max(0) as u64, max, plot_width);
        let _ = write!(
            out,
            r#"<text class="chart-label" x="{x}" y="{ty}" text-anchor="end">{label}</text>"#,
            x = number(label_width - 8.0),
            ty = number(bar_y + 13.0),
            label = escape(&clip(&row.label, 24)),
        );
        if used_width > 0.0 {
            out.push_str(&swatch_rect(
                &prefix,
                used,
                label_width,
                bar_y,
                used_width,
                bar_height,
            ));
        }
        if unused_width > 0.0 {
            out.push_str(&swatch_rect(
                &prefix,
                unused,
                label_width + used_width,
                bar_y,
                unused_width,
                bar_height,
            ));
        }
        let _ = write!(
            out,
            r#"<text class="chart-label chart-value" x="{x}" y="{ty}">{note}</text>"#,
            x = number(label_width + used_width + unused_width + 6.0),
            ty = number(bar_y + 13.0),
            note = escape(&row.note),
        );
    }
    out.push_str("</g>");
    out.push_str(&legend(
        &prefix,
        &[used.clone(), unused.clone()],
        label_width,
        legend_top,
    ));
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(key: &str, pattern: Pattern) -> Series {
        Series {
            key: key.into(),
            label: format!("{key} label"),
            pattern,
        }
    }

    fn rects(svg: &str, class: &str) -> Vec<(f64, f64, f64, f64)> {
        let needle = format!(r#"<rect class="{class}" "#);
        svg.match_indices(&needle)
            .map(|(at, _)| {
                let rest = &svg[at..];
                let rest = &rest[..rest.find("/>").unwrap()];
                let attr = |name: &str| -> f64 {
                    let key = format!(" {name}=\"");
                    let from = rest.find(&key).unwrap() + key.len();
                    rest[from..from + rest[from..].find('"').unwrap()]
                        .parse()
                        .unwrap()
                };
                (attr("x"), attr("y"), attr("width"), attr("height"))
            })
            .collect()
    }

    #[test]
    fn axes_get_nice_round_steps() {
        assert_eq!(nice_axis(0, 5), (1, 1));
        assert_eq!(nice_axis(4, 5), (4, 1));
        assert_eq!(nice_axis(7, 5), (8, 2));
        assert_eq!(nice_axis(23, 5), (25, 5));
        assert_eq!(nice_axis(100, 5), (100, 20));
        assert_eq!(nice_axis(1234, 5), (1500, 500));
        assert_eq!(scale(5, 10, 200.0), 100.0);
        assert_eq!(scale(3, 0, 200.0), 0.0);
    }

    #[test]
    fn stacked_bars_are_scaled_to_the_axis_and_stacked_in_series_order() {
        let chart = StackedBars {
            id: "t".into(),
            title: "Per day".into(),
            desc: "Counts".into(),
            series: vec![series("a", Pattern::Solid), series("b", Pattern::Diagonal)],
            bars: vec![("Mon".into(), vec![2, 2]), ("Tue".into(), vec![0, 1])],
            y_label: "Appointments".into(),
        };
        let svg = stacked_bar_chart(&chart);
        // Max 4 -> axis 0..4, plot 220 high from y=16 to y=236: 55 per appointment.
        let a = rects(&svg, "chart-fill-a");
        let b = rects(&svg, "chart-fill-b");
        // One bar of `a` in the chart, one swatch in the legend.
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].1, a[0].3), (126.0, 110.0));
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].1, b[0].3), (16.0, 110.0));
        assert_eq!((b[1].1, b[1].3), (181.0, 55.0));
        // The patterned series is overlaid with its pattern, in the bars and the legend.
        assert_eq!(svg.matches(r#"fill="url(#t-diagonal)""#).count(), 3);
        assert!(svg.contains(r#"<pattern id="t-diagonal""#));
        assert!(svg.contains(r#"role="img" aria-labelledby="t-title t-desc""#));
        assert!(svg.contains(r#"<title id="t-title">Per day</title>"#));
        assert!(svg.contains(">b label</text>"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let chart = StackedBars {
            id: "x\"y".into(),
            title: "<script>".into(),
            desc: "a & b".into(),
            series: vec![series("s", Pattern::Dots)],
            bars: vec![("<b>".into(), vec![1])],
            y_label: "'".into(),
        };
        let svg = stacked_bar_chart(&chart);
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("x&quot;y-title"));
        assert_eq!(escape("a\u{0}b<"), "ab&lt;");

        let used = series("used", Pattern::Solid);
        let unused = series("unused", Pattern::Diagonal);
        let rows = [SplitBar {
            label: "Dr <Evil> & Sons, a very long name indeed".into(),
            used: 1,
            unused: 1,
            note: "50%".into(),
        }];
        let svg = split_bar_chart("u", "T", "D", &used, &unused, &rows);
        assert!(svg.contains("Dr &lt;Evil&gt; &amp; Sons, a ver…"), "{svg}");
    }

    #[test]
    fn empty_charts_say_so_and_keep_an_axis() {
        let chart = StackedBars {
            id: "e".into(),
            title: "T".into(),
            desc: "D".into(),
            series: vec![series("a", Pattern::Solid)],
            bars: Vec::new(),
            y_label: "n".into(),
        };
        let svg = stacked_bar_chart(&chart);
        assert!(svg.contains("No data"));
        assert!(svg.ends_with("</svg>"));
        // All-zero bars: an axis 0..1 and no bar rectangles but the legend's.
        let zero = StackedBars {
            bars: vec![("Mon".into(), vec![0])],
            ..chart
        };
        let svg = stacked_bar_chart(&zero);
        assert_eq!(rects(&svg, "chart-fill-a").len(), 1);
        assert!(svg.contains(">1</text>"));
        let svg = split_bar_chart(
            "u",
            "T",
            "D",
            &series("a", Pattern::Solid),
            &series("b", Pattern::Diagonal),
            &[],
        );
        assert!(svg.contains("No data"));
    }

    #[test]
    fn split_bars_share_one_scale() {
        let used = series("used", Pattern::Solid);
        let unused = series("unused", Pattern::Diagonal);
        let rows = [
            SplitBar {
                label: "A".into(),
                used: 30,
                unused: 90,
                note: "25%".into(),
            },
            SplitBar {
                label: "B".into(),
                used: 60,
                unused: 0,
                note: "100%".into(),
            },
        ];
        let svg = split_bar_chart("u", "T", "D", &used, &unused, &rows);
        // Plot width 720 - 170 - 90 = 460 for the longest total (120 minutes).
        let used_bars = rects(&svg, "chart-fill-used");
        assert_eq!(used_bars[0].2, 115.0);
        assert_eq!(used_bars[1].2, 230.0);
        let unused_bars = rects(&svg, "chart-fill-unused");
        assert_eq!((unused_bars[0].0, unused_bars[0].2), (285.0, 345.0));
        // B has no unused part: only A's and the legend's.
        assert_eq!(unused_bars.len(), 2);
        assert!(svg.contains(">100%</text>"));
    }
}
