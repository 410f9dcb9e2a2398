//! GitLab `rules:if` / `only:variables` expressions.
//!
//! The grammar is GitLab's: `$VAR`, `"str"`/`'str'`, `/regex/flags`, `null`,
//! `==`, `!=`, `=~`, `!~`, `&&` (binds tighter than `||`) and parentheses.
//! A bare `$VAR` is true when the variable is set and not empty. GitHub
//! expressions are a different language with other coercion rules, so they
//! get their own evaluator; sharing one would make both subtly wrong.

use regex::Regex;

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Var(String),
    Str(String),
    Regex { pattern: String, flags: String },
    Null,
    Cmp { op: CmpOp, lhs: Box<Expr>, rhs: Box<Expr> },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Match,
    NoMatch,
}

/// A parse error with the 0-based character offset into the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Var(String),
    Str(String),
    Regex(String, String),
    Null,
    Op(CmpOp),
    And,
    Or,
    LParen,
    RParen,
}

/// GitLab's lexer gives up after this many tokens.
const MAX_TOKENS: usize = 100;

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let err = |offset: usize, m: &str| ExprError { offset, message: m.to_string() };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push((Tok::LParen, start));
                i += 1;
            }
            ')' => {
                out.push((Tok::RParen, start));
                i += 1;
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    return Err(err(start, "`${NAME}` does not work in expressions; write `$NAME`"));
                }
                let name_start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                if i == name_start {
                    return Err(err(start, "expected a variable name after `$`"));
                }
                let name: String = chars[name_start..i].iter().collect();
                out.push((Tok::Var(name), start));
            }
            '"' | '\'' => {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated string")),
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Str(s), start));
            }
            '/' => {
                i += 1;
                let mut pat = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated regular expression")),
                        Some('\\') if chars.get(i + 1) == Some(&'/') => {
                            pat.push('/');
                            i += 2;
                        }
                        Some('\\') => {
                            pat.push('\\');
                            if let Some(&n) = chars.get(i + 1) {
                                pat.push(n);
                            }
                            i += 2;
                        }
                        Some('/') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            pat.push(ch);
                            i += 1;
                        }
                    }
                }
                // GitLab's lexer wants at least two characters between the
                // slashes: `/a/` is not a regular expression to it.
                if i - start < 4 {
                    return Err(err(start, "a regular expression needs at least two characters between its slashes"));
                }
                let mut flags = String::new();
                while i < chars.len() && chars[i].is_ascii_alphabetic() {
                    flags.push(chars[i]);
                    i += 1;
                }
                out.push((Tok::Regex(pat, flags), start));
            }
            '=' | '!' => {
                let next = chars.get(i + 1).copied();
                let op = match (c, next) {
                    ('=', Some('=')) => CmpOp::Eq,
                    ('!', Some('=')) => CmpOp::Ne,
                    ('=', Some('~')) => CmpOp::Match,
                    ('!', Some('~')) => CmpOp::NoMatch,
                    _ => return Err(err(start, &format!("unexpected `{c}`"))),
                };
                out.push((Tok::Op(op), start));
                i += 2;
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                out.push((Tok::And, start));
                i += 2;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                out.push((Tok::Or, start));
                i += 2;
            }
            _ if c.is_ascii_alphabetic() => {
                while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word == "null" {
                    out.push((Tok::Null, start));
                } else {
                    return Err(err(
                        start,
                        &format!("unexpected word `{word}` (variables start with `$`, strings are quoted)"),
                    ));
                }
            }
            _ => return Err(err(start, &format!("unexpected character `{c}`"))),
        }
        if out.len() > MAX_TOKENS {
            return Err(err(start, &format!("too many tokens: GitLab reads at most {MAX_TOKENS} in one expression")));
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<(Tok, usize)>,
    i: usize,
    len: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.i).map(|t| t.1).unwrap_or(self.len)
    }
    fn or(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut lhs = self.and(depth)?;
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            let rhs = self.and(depth)?;
            lhs = Expr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn and(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut lhs = self.primary(depth)?;
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            let rhs = self.primary(depth)?;
            lhs = Expr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn primary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        if depth > 64 {
            return Err(ExprError { offset: self.offset(), message: "expression nested too deeply".into() });
        }
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.or(depth + 1)?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(ExprError { offset: self.offset(), message: "expected `)`".into() });
            }
            self.i += 1;
            return Ok(e);
        }
        let lhs = self.operand()?;
        if let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            self.i += 1;
            let rhs = self.operand()?;
            return Ok(Expr::Cmp { op, lhs: Box::new(lhs), rhs: Box::new(rhs) });
        }
        Ok(lhs)
    }
    fn operand(&mut self) -> Result<Expr, ExprError> {
        let off = self.offset();
        let tok = self.toks.get(self.i).map(|t| t.0.clone());
        let e = match tok {
            Some(Tok::Var(v)) => Expr::Var(v),
            Some(Tok::Str(s)) => Expr::Str(s),
            Some(Tok::Null) => Expr::Null,
            Some(Tok::Regex(p, f)) => {
                check_regex(&p, &f).map_err(|m| ExprError { offset: off, message: m })?;
                Expr::Regex { pattern: p, flags: f }
            }
            Some(t) => {
                return Err(ExprError { offset: off, message: format!("expected a value, found {}", describe(&t)) });
            }
            None => return Err(ExprError { offset: off, message: "expression ends too early".into() }),
        };
        self.i += 1;
        Ok(e)
    }
}

fn describe(t: &Tok) -> &'static str {
    match t {
        Tok::Op(_) => "an operator",
        Tok::And => "`&&`",
        Tok::Or => "`||`",
        Tok::LParen => "`(`",
        Tok::RParen => "`)`",
        _ => "a value",
    }
}

fn build_regex(pattern: &str, flags: &str) -> Result<Regex, String> {
    let mut b = regex::RegexBuilder::new(pattern);
    for f in flags.chars() {
        match f {
            'i' => {
                b.case_insensitive(true);
            }
            'm' => {
                b.multi_line(true);
            }
            's' => {
                b.dot_matches_new_line(true);
            }
            'U' => {
                b.swap_greed(true);
            }
            other => return Err(format!("unknown regular expression flag `{other}`")),
        }
    }
    b.size_limit(1 << 20).build().map_err(|e| {
        // The regex crate explains syntax errors over several lines (the
        // pattern, a caret, the reason); a diagnostic wants the reason.
        let text = e.to_string();
        let reason = text.lines().rev().find_map(|l| l.strip_prefix("error: ")).unwrap_or(&text).to_string();
        format!("invalid regular expression: {reason}")
    })
}

fn check_regex(p: &str, f: &str) -> Result<(), String> {
    build_regex(p, f).map(|_| ())
}

pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err(ExprError { offset: 0, message: "empty expression".into() });
    }
    let len = src.chars().count();
    let mut p = P { toks, i: 0, len };
    let e = p.or(0)?;
    if p.i < p.toks.len() {
        return Err(ExprError {
            offset: p.offset(),
            message: format!("expected `&&`, `||` or the end of the expression, found {}", describe(&p.toks[p.i].0)),
        });
    }
    Ok(e)
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Null,
    Str(String),
    Regex(String, String),
}

/// Evaluate with `lookup` giving variable values (`None` = undefined).
pub fn eval(e: &Expr, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, lookup) && eval(b, lookup),
        Expr::Or(a, b) => eval(a, lookup) || eval(b, lookup),
        Expr::Cmp { op, lhs, rhs } => {
            let l = value(lhs, lookup);
            let r = value(rhs, lookup);
            match op {
                CmpOp::Eq => l == r,
                CmpOp::Ne => l != r,
                CmpOp::Match => matches(&l, &r).unwrap_or(false),
                CmpOp::NoMatch => matches(&l, &r).is_none_or(|m| !m),
            }
        }
        other => match value(other, lookup) {
            Val::Null => false,
            Val::Str(s) => !s.is_empty(),
            Val::Regex(..) => true,
        },
    }
}

fn value(e: &Expr, lookup: &dyn Fn(&str) -> Option<String>) -> Val {
    match e {
        Expr::Var(v) => lookup(v).map(Val::Str).unwrap_or(Val::Null),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Null => Val::Null,
        Expr::Regex { pattern, flags } => Val::Regex(pattern.clone(), flags.clone()),
        _ => Val::Str(if eval(e, lookup) { "true".into() } else { String::new() }),
    }
}

/// `=~` as GitLab evaluates it: `None` when the right side is null (then
/// `=~` is false and `!~` true). An undefined left side is the empty string.
/// A string on the right that reads as `/pattern/flags` is a regular
/// expression; any other string matches when it contains the left side
/// (Ruby's `String#scan`).
fn matches(l: &Val, r: &Val) -> Option<bool> {
    let text = match l {
        Val::Str(s) => s.as_str(),
        Val::Regex(p, _) => p.as_str(),
        Val::Null => "",
    };
    match r {
        Val::Null => None,
        Val::Regex(p, f) => Some(build_regex(p, f).is_ok_and(|re| re.is_match(text))),
        Val::Str(s) => {
            let as_regex = s
                .strip_prefix('/')
                .and_then(|rest| rest.rfind('/').map(|i| (&rest[..i], &rest[i + 1..])))
                .filter(|(_, flags)| flags.chars().all(|f| matches!(f, 'i' | 's' | 'm' | 'U')))
                .and_then(|(p, f)| build_regex(p, f).ok());
            Some(match as_regex {
                Some(re) => re.is_match(text),
                None => s.contains(text),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(src: &str, vars: &[(&str, &str)]) -> bool {
        let e = parse(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
        let vars: Vec<(String, String)> = vars.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        eval(&e, &|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn gitlab_semantics() {
        assert!(ev("$A == \"x\"", &[("A", "x")]));
        assert!(!ev("$A == 'x'", &[]));
        assert!(ev("$A == null", &[]));
        assert!(!ev("$A == null", &[("A", "")]));
        assert!(!ev("$A", &[("A", "")]));
        assert!(ev("$A", &[("A", "1")]));
        assert!(ev("$B =~ /^rel-\\d+$/", &[("B", "rel-12")]));
        assert!(ev("$B =~ /REL/i", &[("B", "rel")]));
        assert!(ev("$B !~ /xy/", &[("B", "y")]));
        // An undefined left side is the empty string; a null right side
        // never matches; a plain string on the right is a substring test.
        assert!(ev("$U =~ /.*/", &[]));
        assert!(!ev("$U =~ /.+/", &[]));
        assert!(!ev("$A =~ $U", &[("A", "x")]));
        assert!(ev("$A !~ $U", &[("A", "x")]));
        assert!(ev("$A =~ \"main\"", &[("A", "ai")]));
        assert!(!ev("$A =~ $P", &[("A", "x"), ("P", "main")]));
        assert!(ev("$B =~ /^A.C/s", &[("B", "A\nC")]));
        assert!(ev("$A || $B && $C", &[("A", "1")]));
        assert!(!ev("($A || $B) && $C", &[("A", "1")]));
        assert!(ev("$B =~ $P", &[("B", "main"), ("P", "/^ma/")]));
        assert!(ev("$A == $B", &[("A", "1"), ("B", "1")]));
    }

    #[test]
    fn gitlab_lexer_rules() {
        // `${NAME}` is not a variable to GitLab's lexer; one-character
        // regular expressions are not regular expressions to it either.
        assert_eq!(parse("$A == ${B}").unwrap_err().offset, 6);
        assert_eq!(parse("$A =~ /a/").unwrap_err().offset, 6);
        assert!(parse("$A =~ /ab/").is_ok());
        assert!(parse("$A =~ /ab/x").is_err());
        let long = vec!["$A"; 51].join(" || ");
        assert!(parse(&long).is_err());
        assert!(parse(&vec!["$A"; 50].join(" || ")).is_ok());
    }

    #[test]
    fn errors_have_offsets() {
        assert_eq!(parse("$A == ").unwrap_err().offset, 6);
        assert_eq!(parse("$A = 'x'").unwrap_err().offset, 3);
        assert_eq!(parse("$A == 'x").unwrap_err().offset, 6);
        assert_eq!(parse("$A =~ /(/").unwrap_err().offset, 6);
        assert!(parse("main").is_err());
        assert!(parse("$A == 'x' 'y'").is_err());
        let e = parse("$A =~ /(x/").unwrap_err();
        assert_eq!(e.message, "invalid regular expression: unclosed group");
    }
}
