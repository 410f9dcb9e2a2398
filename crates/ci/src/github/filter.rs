//! `on:` filters: branch, tag and path patterns with GitHub's glob syntax.
//!
//! From GitHub's filter pattern cheat sheet: `*` matches any characters
//! except `/`; `**` matches any characters; `?` makes the preceding
//! character optional; `+` repeats it; `[...]` is a character class; a
//! leading `!` negates a pattern, and later patterns override earlier ones.
//! `\` escapes a special character.

use regex::Regex;

/// A compiled filter pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub negated: bool,
    re: Regex,
}

/// Compile one pattern; `Err` explains what is wrong with it.
pub fn compile(pattern: &str) -> Result<Pattern, String> {
    let (negated, body) = match pattern.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    if body.is_empty() {
        return Err("empty pattern".into());
    }
    let chars: Vec<char> = body.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // `**/` also matches no directory at all: `**/README.md`
            // matches the root README.md, `a/**/b` matches `a/b`.
            '*' if chars.get(i + 1) == Some(&'*') && chars.get(i + 2) == Some(&'/') => {
                re.push_str("(?:.*/)?");
                i += 3;
                continue;
            }
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 2;
                continue;
            }
            '*' => re.push_str("[^/]*"),
            '?' | '+' => {
                if i == 0 {
                    return Err(format!("`{c}` at the start has no preceding character to apply to"));
                }
                re.push(c);
            }
            '[' => {
                let close = chars[i + 1..].iter().position(|&x| x == ']').map(|p| p + i + 1);
                let Some(close) = close else { return Err("unclosed `[`".into()) };
                let class: String = chars[i + 1..close].iter().collect();
                if class.is_empty() {
                    return Err("empty character class `[]`".into());
                }
                re.push('[');
                for ch in class.chars() {
                    if matches!(ch, '\\' | '[' | ']' | '^') {
                        re.push('\\');
                    }
                    re.push(ch);
                }
                re.push(']');
                i = close + 1;
                continue;
            }
            '\\' => {
                let Some(&next) = chars.get(i + 1) else { return Err("trailing `\\`".into()) };
                re.push_str(&regex::escape(&next.to_string()));
                i += 2;
                continue;
            }
            _ => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    let re = Regex::new(&re).map_err(|e| format!("invalid pattern: {e}"))?;
    Ok(Pattern { negated, re })
}

impl Pattern {
    pub fn matches(&self, s: &str) -> bool {
        self.re.is_match(s)
    }
}

/// Whether `s` is included by a list of patterns (with `!` negations
/// applied in order). An empty list includes nothing.
pub fn included(patterns: &[Pattern], s: &str) -> bool {
    let mut inc = false;
    for p in patterns {
        if p.matches(s) {
            inc = !p.negated;
        }
    }
    inc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        compile(p).unwrap().matches(s)
    }

    #[test]
    fn cheat_sheet() {
        assert!(m("feature/*", "feature/my-branch"));
        assert!(!m("feature/*", "feature/your/branch"));
        assert!(m("feature/**", "feature/your/branch"));
        assert!(m("main", "main"));
        assert!(!m("main", "main2"));
        assert!(m("*", "main"));
        assert!(!m("*", "releases/v1"));
        assert!(m("**", "releases/v1"));
        assert!(m("v2*", "v2.0"));
        assert!(m("v[12].[0-9]+.[0-9]+", "v1.10.1"));
        assert!(!m("v[12].[0-9]+.[0-9]+", "v3.1.1"));
        assert!(m("**.js", "src/a/app.js"));
        assert!(m("*.js", "app.js"));
        assert!(!m("*.js", "src/app.js"));
        assert!(m("docs/**", "docs/a/b.md"));
        assert!(m("**/docs/**", "a/docs/b.md"));
        assert!(m("**/docs/**", "docs/hello.md"));
        assert!(m("**/README.md", "README.md"));
        assert!(m("**/README.md", "server/README.md"));
        assert!(!m("**/README.md", "xREADME.md"));
        assert!(m("a/**/b", "a/b"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(m("*feature", "my-feature"));
        assert!(m("ver*", "version"));
        assert!(m("1.?", "1."));
        assert!(m("1.?", "1"));
        let list = [compile("releases/**").unwrap(), compile("!releases/**-alpha").unwrap()];
        assert!(included(&list, "releases/10"));
        assert!(!included(&list, "releases/10-alpha"));
    }
}
