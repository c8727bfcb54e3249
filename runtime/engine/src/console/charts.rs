//! The console's charts, drawn on the server as SVG (no script): a column per minute, the
//! axis labelled with the largest value and the first and last minutes.

use std::fmt::Write;

/// The chart's size in SVG units.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 22.0;

/// A column chart of `points` (the first minute of a column `step` minutes wide, in Unix
/// minutes, and its value) over the minutes `first` to `last`, titled `title`, the values
/// shown with `unit`. Empty when there is nothing to draw.
pub fn columns(
    title: &str,
    (first, last): (i64, i64),
    step: i64,
    points: &[(i64, f64)],
    unit: &str,
) -> String {
    if points.is_empty() {
        return String::new();
    }
    let span = (last - first + 1).max(1) as f64;
    let top = points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - BOTTOM - 8.0;
    let minute_w = plot_w / span;
    let bar = (minute_w * step.max(1) as f64).max(1.0);
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" aria-label=\"{}\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"8\" x2=\"{LEFT}\" y2=\"{y}\" stroke=\"#333\"/><line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{x}\" y2=\"{y}\" stroke=\"#333\"/>",
        y = HEIGHT - BOTTOM,
        x = WIDTH - 8.0
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"16\" text-anchor=\"end\" font-size=\"11\">{} {}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">0</text>",
        LEFT - 4.0,
        round(top),
        escape(unit),
        LEFT - 4.0,
        HEIGHT - BOTTOM
    );
    for (minute, value) in points {
        let x = LEFT + (minute - first) as f64 * minute_w;
        let h = value / top * plot_h;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#0b3d5c\"><title>{} UTC: {} {}</title></rect>",
            HEIGHT - BOTTOM - h,
            (bar - 1.0).max(1.0),
            crate::time::iso(minute * 60_000).get(11..16).unwrap_or(""),
            round(*value),
            escape(unit)
        );
    }
    let label = |m: i64| {
        crate::time::iso(m * 60_000)
            .get(11..16)
            .unwrap_or("")
            .to_string()
    };
    let _ = write!(
        svg,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\">{} UTC</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{} UTC</text></svg>",
        HEIGHT - 6.0,
        label(first),
        WIDTH - 8.0,
        HEIGHT - 6.0,
        label(last)
    );
    svg
}

fn round(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_charts_draw_a_column_per_minute_with_their_values() {
        let svg = columns(
            "Messages a minute",
            (100, 159),
            1,
            &[(100, 4.0), (102, 8.0)],
            "msg",
        );
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("8.0 msg") && svg.contains("<title>Messages a minute</title>"));
        assert!(
            svg.contains("width=\"9.9\""),
            "a column a minute of the hour: {svg}"
        );
        assert!(columns("x", (0, 1), 1, &[], "msg").is_empty());
        // Five-minute columns over an hour: each as wide as five minutes.
        let svg = columns("x", (0, 59), 5, &[(0, 1.0)], "msg");
        assert!(svg.contains("width=\"53.7\""), "{svg}");
    }
}
