//! Masking secret values in output, before it reaches the console or a log.

/// Replaces every occurrence of any secret value with `[MASKED]`.
#[derive(Clone, Debug)]
pub struct Masker {
    /// Longest first, so a secret that contains another is masked whole.
    values: Vec<String>,
    /// What a secret is replaced with: `[MASKED]` (GitLab) or `***` (GitHub).
    token: &'static str,
}

impl Default for Masker {
    fn default() -> Masker {
        Masker::new(Vec::new())
    }
}

pub const MASK: &str = "[MASKED]";

impl Masker {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Masker {
        let mut values: Vec<String> = Vec::new();
        for v in secrets {
            // A multi-line secret is masked line by line, because output is
            // masked a line at a time.
            for part in v.split('\n') {
                let part = part.trim_end_matches('\r');
                if !part.is_empty() && !values.iter().any(|x| x == part) {
                    values.push(part.to_string());
                }
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Masker { values, token: MASK }
    }

    /// Replace secrets with `token` instead of `[MASKED]`.
    pub fn with_token(mut self, token: &'static str) -> Masker {
        self.token = token;
        self
    }

    pub fn add(&mut self, value: &str) {
        let mut all = std::mem::take(&mut self.values);
        all.push(value.to_string());
        let token = self.token;
        *self = Masker::new(all).with_token(token);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The length in bytes of the longest secret (0 without secrets).
    pub fn longest(&self) -> usize {
        self.values.first().map(|v| v.len()).unwrap_or(0)
    }

    /// Mask a line. A secret split by terminal escape codes (colours between
    /// its characters) would render whole, so when the line without escape
    /// codes still shows a secret, that plain line is masked and returned
    /// (the colours of that line are lost).
    pub fn mask(&self, line: &str) -> String {
        if self.values.is_empty() {
            return line.to_string();
        }
        let replace_all = |text: &str| {
            let mut out = text.to_string();
            for v in &self.values {
                if out.contains(v.as_str()) {
                    out = out.replace(v.as_str(), self.token);
                }
            }
            out
        };
        let out = replace_all(line);
        if out.contains('\u{1b}') {
            let plain = strip_ansi(&out);
            if self.values.iter().any(|v| plain.contains(v.as_str())) {
                return replace_all(&plain);
            }
        }
        out
    }
}

/// Remove terminal escape sequences (CSI such as colours, OSC such as
/// titles and links, and two-byte sequences such as charset selection).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates, then one final byte in @..~.
                for c2 in chars.by_ref() {
                    if ('@'..='~').contains(&c2) {
                        break;
                    }
                }
            }
            Some(']') => {
                // Until BEL or ESC \.
                while let Some(c2) = chars.next() {
                    if c2 == '\u{7}' {
                        break;
                    }
                    if c2 == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            Some('(' | ')' | '*' | '+' | '#' | '%') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first_and_multiline() {
        let m = Masker::new(["abc".to_string(), "abcdef".to_string(), "l1\nl2".to_string()]);
        assert_eq!(m.mask("x abcdef abc y"), "x [MASKED] [MASKED] y");
        assert_eq!(m.mask("l2"), "[MASKED]");
    }

    #[test]
    fn secrets_split_by_colour_codes_are_masked() {
        let m = Masker::new(["SuperSecretToken".to_string()]);
        let line = "\u{1b}[1mSuperSecr\u{1b}[0metToken!";
        assert_eq!(m.mask(line), "[MASKED]!");
        assert_eq!(m.mask("\u{1b}[1mplain\u{1b}[0m"), "\u{1b}[1mplain\u{1b}[0m");
    }

    #[test]
    fn strips_escape_sequences() {
        assert_eq!(strip_ansi("\u{1b}[32;1mok\u{1b}[0;m \u{1b}(Bx \u{1b}]0;title\u{7}y"), "ok x y");
    }
}
