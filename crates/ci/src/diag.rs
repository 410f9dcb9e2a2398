//! Diagnostics: a problem, where it is (`file:line:col`), and a rule name.
//!
//! Bad input is data here, never a panic: front ends collect every problem
//! they find and return them alongside whatever they could build.

use serde::Serialize;
use std::fmt::Write as _;

/// Index of a source file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Serialize)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable rule name, e.g. `unknown-key`.
    pub rule: &'static str,
    pub message: String,
    pub file: FileId,
    pub pos: Pos,
    /// Extra advice, e.g. "did you mean `script`?".
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(rule: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            rule,
            message: message.into(),
            file: FileId(0),
            pos: Pos { line: 1, col: 1 },
            help: None,
        }
    }
    pub fn warning(rule: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(rule, message) }
    }
    pub fn at(mut self, file: FileId, pos: Pos) -> Diagnostic {
        self.file = file;
        self.pos = pos;
        self
    }
    pub fn at_mark(self, mark: crate::yaml::Mark) -> Diagnostic {
        self.at(mark.file, mark.pos)
    }
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The files a pipeline was read from, so diagnostics can show snippets.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<(String, String)>,
}

impl SourceMap {
    pub fn add(&mut self, path: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push((path.into(), text.into()));
        FileId((self.files.len() - 1) as u32)
    }
    pub fn path(&self, id: FileId) -> &str {
        self.files.get(id.0 as usize).map(|f| f.0.as_str()).unwrap_or("<unknown>")
    }
    pub fn text(&self, id: FileId) -> &str {
        self.files.get(id.0 as usize).map(|f| f.1.as_str()).unwrap_or("")
    }
    pub fn find(&self, path: &str) -> Option<FileId> {
        self.files.iter().position(|f| f.0 == path).map(|i| FileId(i as u32))
    }
    pub fn line(&self, id: FileId, line: u32) -> Option<&str> {
        if line == 0 {
            return None;
        }
        self.text(id).lines().nth(line as usize - 1)
    }

    /// `file:line:col: error[rule]: message`, then the source line and a caret.
    pub fn render(&self, d: &Diagnostic) -> String {
        let mut out = String::new();
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{}:{}:{}: {sev}[{}]: {}", self.path(d.file), d.pos.line, d.pos.col, d.rule, d.message);
        if let Some(src) = self.line(d.file, d.pos.line) {
            let gutter = d.pos.line.to_string();
            let pad = " ".repeat(gutter.len());
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{gutter} | {src}");
            let caret_pad: String = src
                .chars()
                .take(d.pos.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} | {caret_pad}^");
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }

    pub fn to_json(&self, d: &Diagnostic) -> JsonDiagnostic {
        JsonDiagnostic {
            file: self.path(d.file).to_string(),
            line: d.pos.line,
            col: d.pos.col,
            severity: d.severity,
            rule: d.rule,
            message: d.message.clone(),
            help: d.help.clone(),
            snippet: self.line(d.file, d.pos.line).unwrap_or("").to_string(),
        }
    }
}

/// The `--format json` shape of a diagnostic.
#[derive(Clone, Debug, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub severity: Severity,
    pub rule: &'static str,
    pub message: String,
    pub help: Option<String>,
    pub snippet: String,
}

/// The closest candidate by edit distance, for "did you mean" help.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Rank by edit distance (transpositions count once, so `ulr` finds
    // `url`), break ties by Jaro-Winkler similarity; accept only close
    // candidates so the help never suggests something unrelated.
    let budget = (word.chars().count() / 3).max(1);
    let mut best: Option<(&str, usize, f64)> = None;
    for c in candidates {
        let dist = strsim::damerau_levenshtein(word, c);
        let sim = strsim::jaro_winkler(word, c);
        if dist > budget && sim <= 0.8 {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, d, s)) => dist < d || (dist == d && sim > s),
        };
        if better {
            best = Some((c, dist, sim));
        }
    }
    best.map(|(c, _, _)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggestions() {
        let keys = ["script", "stage", "url", "artifacts", "needs"];
        assert_eq!(did_you_mean("ulr", keys), Some("url"));
        assert_eq!(did_you_mean("scirpt", keys), Some("script"));
        assert_eq!(did_you_mean("artefacts", keys), Some("artifacts"));
        assert_eq!(did_you_mean("xyz", keys), None);
    }
}
