//! The governance site (`accord doc`): the estate as documentation for the board. Reads
//! the IR (plus [`DocInputs`], which the CLI gathers) and returns every file of the site as
//! text, by path; it does no IO. Pages are minijinja templates embedded in the binary, with
//! strict undefined (a template naming a missing value is an error, never a blank), in two
//! formats: plain HTML and CSS that work from `file://` with no network, or Markdown.
//! Output is deterministic: the same IR and inputs give the same bytes.

pub mod conceptmap;
pub mod graph;
pub mod mapping_table;
pub mod matrix;
pub mod view;

use crate::ir::Estate;
use minijinja::{context, AutoEscape, Environment, UndefinedBehavior};
use std::collections::BTreeMap;
pub use view::{Changelog, DocInputs, Warning};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Markdown => "md",
        }
    }
}

/// The site: relative path -> file contents.
pub type Site = BTreeMap<String, String>;

const HTML: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/html/base.html")),
    ("macros.html", include_str!("templates/html/macros.html")),
    ("index.html", include_str!("templates/html/index.html")),
    (
        "interfaces.html",
        include_str!("templates/html/interfaces.html"),
    ),
    (
        "interface.html",
        include_str!("templates/html/interface.html"),
    ),
    ("matrix.html", include_str!("templates/html/matrix.html")),
    (
        "codemaps.html",
        include_str!("templates/html/codemaps.html"),
    ),
    ("codemap.html", include_str!("templates/html/codemap.html")),
    ("records.html", include_str!("templates/html/records.html")),
    ("changes.html", include_str!("templates/html/changes.html")),
];

const MARKDOWN: &[(&str, &str)] = &[
    ("index.md", include_str!("templates/md/index.md")),
    ("interfaces.md", include_str!("templates/md/interfaces.md")),
    ("interface.md", include_str!("templates/md/interface.md")),
    ("matrix.md", include_str!("templates/md/matrix.md")),
    ("codemaps.md", include_str!("templates/md/codemaps.md")),
    ("codemap.md", include_str!("templates/md/codemap.md")),
    ("records.md", include_str!("templates/md/records.md")),
    ("changes.md", include_str!("templates/md/changes.md")),
];

const STYLE: &str = include_str!("templates/html/style.css");

/// A Markdown table cell: pipes escaped, line breaks folded, so a value never breaks the
/// table it sits in.
fn md_cell(value: String) -> String {
    value
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// HTML escaping of the five characters that matter, leaving `/` as it is (minijinja's
/// default writes `&#x2f;`, which is valid but makes every link and path unreadable).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn environment(format: Format) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_filter("cell", md_cell);
    env.set_keep_trailing_newline(true);
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(text) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&html_escape(text))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    let templates = match format {
        Format::Html => HTML,
        Format::Markdown => MARKDOWN,
    };
    for (name, source) in templates {
        env.add_template(name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(env)
}

fn render(env: &Environment<'_>, name: &str, ctx: minijinja::Value) -> Result<String, String> {
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            let mut msg = format!("rendering {name}: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        })
}

/// Every page of the site. An error is a template bug (strict undefined), never user input.
pub fn site(estate: &Estate, inputs: &DocInputs, format: Format) -> Result<Site, String> {
    let env = environment(format)?;
    let ext = format.ext();
    let mut out = Site::new();
    let page = |name: &str| format!("{name}.{ext}");
    let overview = view::overview(estate, inputs);
    let svg = graph::svg(estate, "", ext);
    out.insert(
        page("index"),
        render(
            &env,
            &page("index"),
            context! { root => "", ext, estate => overview, graph => svg, page => "index" },
        )?,
    );
    out.insert("graph.svg".into(), svg);
    out.insert(
        page("interfaces"),
        render(
            &env,
            &page("interfaces"),
            context! { root => "", ext, estate => overview, page => "interfaces" },
        )?,
    );
    for i in &estate.interfaces {
        let p = view::interface_page(estate, i, inputs);
        out.insert(
            format!("interface/{}.{ext}", i.name),
            render(
                &env,
                &page("interface"),
                context! { root => "../", ext, estate => overview, i => p, page => "interfaces" },
            )?,
        );
    }
    out.insert(
        page("matrix"),
        render(
            &env,
            &page("matrix"),
            context! { root => "", ext, estate => overview, grids => view::grids(estate), page => "matrix" },
        )?,
    );
    let maps = view::codemap_pages(estate);
    out.insert(
        page("codemaps"),
        render(
            &env,
            &page("codemaps"),
            context! { root => "", ext, estate => overview, maps => maps, page => "codemaps" },
        )?,
    );
    for (m, ir_map) in maps.iter().zip(&estate.codemaps) {
        out.insert(
            format!("codemap/{}.{ext}", m.name),
            render(
                &env,
                &page("codemap"),
                context! { root => "../", ext, estate => overview, m => m, page => "codemaps" },
            )?,
        );
        let json = conceptmap::concept_map(estate, ir_map);
        out.insert(
            format!("codemap/{}", m.conceptmap),
            serde_json::to_string_pretty(&json).unwrap_or_default() + "\n",
        );
    }
    out.insert(
        page("records"),
        render(
            &env,
            &page("records"),
            context! { root => "", ext, estate => overview, records => view::records(estate), page => "records" },
        )?,
    );
    if let Some(c) = &inputs.changes {
        out.insert(
            page("changes"),
            render(
                &env,
                &page("changes"),
                context! { root => "", ext, estate => overview, log => view::changelog(c), page => "changes" },
            )?,
        );
    }
    if format == Format::Html {
        out.insert("style.css".into(), STYLE.into());
    }
    Ok(out)
}
