//! A small CSV reader (RFC 4180, as the `csv` crate writes it: comma
//! separated, fields quoted with `"` when needed and `""` inside quotes,
//! `\n` or `\r\n` line ends) that keeps each field's line and column.
//! Empty lines are skipped.

use super::{ParseError, ParseErrorKind, Source};

pub(crate) struct Field {
    pub(crate) text: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

pub(crate) struct Record {
    pub(crate) line: usize,
    /// Where the record ends (for "expected more fields").
    pub(crate) end_column: usize,
    pub(crate) fields: Vec<Field>,
}

pub(crate) fn records(src: Source<'_>, text: &str) -> Result<Vec<Record>, ParseError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut col) = (1usize, 1usize);
    let mut record: Option<Record> = None;
    loop {
        // At the start of a field.
        let (start_line, start_col) = (line, col);
        let mut field = String::new();
        let ended_by; // the character after the field, None at the end of the text
        if chars.peek() == Some(&'"') {
            chars.next();
            col += 1;
            loop {
                match chars.next() {
                    None => {
                        return Err(src.at(start_line, start_col, ParseErrorKind::Csv("unterminated quoted field")));
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        col += 2;
                        field.push('"');
                    }
                    Some('"') => {
                        col += 1;
                        break;
                    }
                    Some('\n') => {
                        line += 1;
                        col = 1;
                        field.push('\n');
                    }
                    Some(c) => {
                        col += 1;
                        field.push(c);
                    }
                }
            }
            ended_by = chars.next();
            match ended_by {
                None | Some(',' | '\n' | '\r') => {}
                Some(_) => return Err(src.at(line, col, ParseErrorKind::Csv("text after a closing quote"))),
            }
        } else {
            loop {
                match chars.next() {
                    c @ (None | Some(',' | '\n' | '\r')) => {
                        ended_by = c;
                        break;
                    }
                    Some('"') => return Err(src.at(line, col, ParseErrorKind::Csv("quote inside an unquoted field"))),
                    Some(c) => {
                        col += 1;
                        field.push(c);
                    }
                }
            }
        }
        let end_column = col;
        let rec = record.get_or_insert_with(|| Record { line: start_line, end_column, fields: Vec::new() });
        rec.fields.push(Field { text: field, line: start_line, column: start_col });
        rec.end_column = end_column;
        match ended_by {
            Some(',') => col += 1,
            end => {
                if end == Some('\r') && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                line += 1;
                col = 1;
                if let Some(rec) = record.take() {
                    let blank = rec.fields.len() == 1 && rec.fields[0].text.is_empty() && rec.end_column == 1;
                    if !blank {
                        out.push(rec);
                    }
                }
                if end.is_none() {
                    return Ok(out);
                }
            }
        }
    }
}
