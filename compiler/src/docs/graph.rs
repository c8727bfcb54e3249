//! The dependency graph of systems (nodes) and interfaces (edges, from -> to) as a
//! self-contained SVG, laid out in Rust with no external binaries: the engine system in the
//! middle, the others on an ellipse in declaration order, parallel interfaces between the
//! same pair of systems bent apart. Deterministic: the same IR gives the same bytes.

use crate::ir::Estate;
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 620.0;
const NODE_W: f64 = 170.0;
const NODE_H: f64 = 48.0;
const BEND: f64 = 46.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Two decimals, no trailing noise: deterministic across platforms for these magnitudes.
fn n(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    // No `-0`.
    let r = if r == 0.0 { 0.0 } else { r };
    let s = format!("{r:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[derive(Clone, Copy)]
struct P {
    x: f64,
    y: f64,
}

/// Where a ray from the centre of a node towards `d` leaves the node's box.
fn exit(c: P, d: P) -> P {
    let (hw, hh) = (NODE_W / 2.0 + 4.0, NODE_H / 2.0 + 4.0);
    let tx = if d.x.abs() > 1e-9 {
        hw / d.x.abs()
    } else {
        f64::MAX
    };
    let ty = if d.y.abs() > 1e-9 {
        hh / d.y.abs()
    } else {
        f64::MAX
    };
    let t = tx.min(ty);
    P {
        x: c.x + d.x * t,
        y: c.y + d.y * t,
    }
}

fn unit(a: P, b: P) -> P {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len = (dx * dx + dy * dy).sqrt().max(1e-9);
    P {
        x: dx / len,
        y: dy / len,
    }
}

/// Positions of the systems, by name.
fn layout(estate: &Estate) -> BTreeMap<&str, P> {
    let engine = crate::codegen::spec::engine_system(estate);
    let ring: Vec<&str> = estate
        .systems
        .iter()
        .map(|s| s.name.as_str())
        .filter(|s| Some(*s) != engine)
        .collect();
    let (cx, cy) = (WIDTH / 2.0, HEIGHT / 2.0);
    let (rx, ry) = (
        WIDTH / 2.0 - NODE_W / 2.0 - 20.0,
        HEIGHT / 2.0 - NODE_H / 2.0 - 30.0,
    );
    let mut pos = BTreeMap::new();
    if let Some(e) = engine {
        pos.insert(e, P { x: cx, y: cy });
    }
    let k = ring.len().max(1) as f64;
    for (i, s) in ring.iter().enumerate() {
        // Start at the left and go clockwise, so a two-system estate reads left to right.
        let a = std::f64::consts::PI + (i as f64) * 2.0 * std::f64::consts::PI / k;
        pos.insert(
            *s,
            P {
                x: cx + rx * a.cos(),
                y: cy + ry * a.sin(),
            },
        );
    }
    pos
}

/// The graph as SVG; interface labels link to `{link_prefix}interface/NAME.{ext}`.
pub fn svg(estate: &Estate, link_prefix: &str, ext: &str) -> String {
    let pos = layout(estate);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="graph-title" class="graph">"#,
        w = n(WIDTH),
        h = n(HEIGHT)
    );
    let _ = writeln!(
        out,
        r#"<title id="graph-title">Systems and the interfaces between them: {}</title>"#,
        esc(&estate.name)
    );
    out.push_str(concat!(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#3d5a80"/></marker></defs>"##,
        "\n",
        r##"<style>.edge{fill:none;stroke:#3d5a80;stroke-width:1.6}.edge.deprecated,.edge.retired{stroke:#b5651d;stroke-dasharray:6 4}.label{font:12px sans-serif;fill:#1d3557;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}.node rect{fill:#f1f5f9;stroke:#1d3557;stroke-width:1.5}.node.engine rect{fill:#e0ecff}.node .name{font:bold 14px sans-serif;fill:#1d3557}.node .title{font:11px sans-serif;fill:#475569}</style>"##,
        "\n"
    ));
    // Interfaces grouped by the unordered pair of systems they join.
    let mut pairs: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (idx, i) in estate.interfaces.iter().enumerate() {
        let key = if i.from <= i.to {
            (i.from.clone(), i.to.clone())
        } else {
            (i.to.clone(), i.from.clone())
        };
        pairs.entry(key).or_default().push(idx);
    }
    let mut edges = vec![];
    for ((a, b), members) in &pairs {
        let (Some(&pa), Some(&pb)) = (pos.get(a.as_str()), pos.get(b.as_str())) else {
            continue;
        };
        let count = members.len() as f64;
        for (k, idx) in members.iter().enumerate() {
            let i = &estate.interfaces[*idx];
            let (p0, p2) = if &i.from == a { (pa, pb) } else { (pb, pa) };
            let offset = (k as f64 - (count - 1.0) / 2.0) * BEND;
            // The normal of the pair's canonical direction, so edges of one pair fan out
            // whichever way they point.
            let u = unit(pa, pb);
            let normal = P { x: -u.y, y: u.x };
            let mid = P {
                x: (pa.x + pb.x) / 2.0 + normal.x * offset * 2.0,
                y: (pa.y + pb.y) / 2.0 + normal.y * offset * 2.0,
            };
            let start = exit(p0, unit(p0, mid));
            let end = exit(p2, unit(p2, mid));
            let label = P {
                x: 0.25 * start.x + 0.5 * mid.x + 0.25 * end.x,
                y: 0.25 * start.y + 0.5 * mid.y + 0.25 * end.y,
            };
            edges.push((i, start, mid, end, label));
        }
    }
    for (i, start, mid, end, _) in &edges {
        let _ = writeln!(
            out,
            r#"<path class="edge {status}" d="M {} {} Q {} {} {} {}" marker-end="url(#arrow)"><title>{name} ({from} to {to})</title></path>"#,
            n(start.x),
            n(start.y),
            n(mid.x),
            n(mid.y),
            n(end.x),
            n(end.y),
            status = esc(&i.status),
            name = esc(&i.name),
            from = esc(&i.from),
            to = esc(&i.to),
        );
    }
    for s in &estate.systems {
        let Some(p) = pos.get(s.name.as_str()) else {
            continue;
        };
        let engine = s.properties.get("role").map(String::as_str) == Some("engine");
        let title = s.properties.get("name").cloned().unwrap_or_default();
        let _ = writeln!(
            out,
            r#"<g class="node{}" id="system-{}"><rect x="{}" y="{}" width="{}" height="{}" rx="8"/><text class="name" x="{}" y="{}" text-anchor="middle">{}</text><text class="title" x="{}" y="{}" text-anchor="middle">{}</text></g>"#,
            if engine { " engine" } else { "" },
            esc(&s.name),
            n(p.x - NODE_W / 2.0),
            n(p.y - NODE_H / 2.0),
            n(NODE_W),
            n(NODE_H),
            n(p.x),
            n(p.y - 4.0),
            esc(&s.name),
            n(p.x),
            n(p.y + 13.0),
            esc(&title),
        );
    }
    for (i, _, _, _, label) in &edges {
        let _ = writeln!(
            out,
            r#"<a href="{prefix}interface/{name}.{ext}"><text class="label" x="{}" y="{}" text-anchor="middle">{name}</text></a>"#,
            n(label.x),
            n(label.y + 4.0),
            prefix = esc(link_prefix),
            name = esc(&i.name),
            ext = ext,
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_short_and_stable() {
        assert_eq!(super::n(12.0), "12");
        assert_eq!(super::n(12.345), "12.35");
        assert_eq!(super::n(-0.5), "-0.5");
    }
}
