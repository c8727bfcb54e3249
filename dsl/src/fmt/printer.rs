//! The line printer behind the formatter: indentation, and placing comments. A comment is
//! printed before the first node that starts after it (at that node's indentation), or at
//! the end of the line of the node it follows on the same source line, or before the `}`
//! that closes its block. Every comment is printed exactly once.

use super::comments::Comment;

pub(crate) struct Printer<'s> {
    pub src: &'s str,
    out: String,
    indent: usize,
    comments: Vec<Comment>,
    next: usize,
}

impl<'s> Printer<'s> {
    pub fn new(src: &'s str, comments: Vec<Comment>) -> Printer<'s> {
        Printer {
            src,
            out: String::with_capacity(src.len() + 64),
            indent: 0,
            comments,
            next: 0,
        }
    }

    /// Comments that start before `pos` become lines of their own here.
    pub fn leading(&mut self, pos: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pos {
                break;
            }
            let (text, c_end) = (c.text.clone(), c.end);
            self.next += 1;
            self.push_line(&text);
            let following = self
                .comments
                .get(self.next)
                .map(|n| n.start)
                .filter(|&s| s < pos)
                .unwrap_or(pos);
            if following != usize::MAX && self.blank_between(c_end, following) {
                self.blank();
            }
        }
    }

    /// Writes one line for a node ending at `end`; a comment after it on the same source
    /// line is kept at the end of the printed line.
    pub fn line(&mut self, text: &str, end: usize) {
        let mut text = text.to_string();
        if let Some(c) = self.comments.get(self.next) {
            let between = self.src.get(end..c.start).unwrap_or("\n");
            if c.start >= end && !between.contains('\n') {
                text.push(' ');
                text.push_str(&c.text);
                self.next += 1;
            }
        }
        self.push_line(&text);
    }

    fn push_line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    pub fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// `header {`, then the body at one more level.
    pub fn open(&mut self, header: &str, header_end: usize) {
        self.line(&format!("{header} {{"), header_end);
        self.indent += 1;
    }

    /// Comments left before the closing brace at `close`, then `}`.
    pub fn close(&mut self, close: usize) {
        self.leading(close);
        self.indent = self.indent.saturating_sub(1);
        self.line("}", close + 1);
    }

    /// A line one level out, such as `} else {`, then back in.
    pub fn dedent_line(&mut self, text: &str, end: usize) {
        self.indent = self.indent.saturating_sub(1);
        self.line(text, end);
        self.indent += 1;
    }

    pub fn docs(&mut self, docs: &[String]) {
        for d in docs {
            self.push_line(&format!("///{d}"));
        }
    }

    /// Was there an empty line in the source between two offsets (comments aside)?
    pub fn blank_between(&self, from: usize, to: usize) -> bool {
        let gap = self.src.get(from..to).unwrap_or("");
        let pieces: Vec<&str> = gap.split('\n').collect();
        pieces.len() > 2
            && pieces[1..pieces.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    pub fn finish(mut self) -> String {
        self.leading(usize::MAX);
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
        self.out
    }
}
