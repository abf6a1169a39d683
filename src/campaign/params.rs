//! Template parameters: `params = ["{{name}}", "20%", "Olá {{name}}, até {{date}}"]`.
//!
//! Each entry is literal text with `{{column}}` placeholders naming audience columns. A template
//! is parsed when the campaign file loads (syntax errors point at the file), bound to the CSV
//! header when the audience opens (an unknown column refuses the audience), and rendered per row
//! (an empty referenced cell skips that row as `missing_param`: WhatsApp rejects empty
//! parameters with 132000, DOMAIN.md §3, and it would pause the whole campaign).
use std::fmt;

/// One parsed template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamTemplate {
    source: String,
    parts: Vec<Part>,
    /// The campaign-file key it was written under (e.g. `template.buttons[0].param`); empty
    /// for a body parameter, which errors name by its position.
    key: String,
    /// What the filled value must be, checked per row.
    shape: ValueShape,
}

/// What a filled value must look like; a row whose value does not fit is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueShape {
    /// Any text without newlines, tabs or runs of more than four spaces (Meta refuses them,
    /// 132000; `audience.param_cleanup` says whether to collapse them or skip the row).
    #[default]
    Text,
    /// A public `https://` link (header media): WhatsApp fetches it.
    HttpsLink,
    /// A whole number (Meta's `amount_1000`: the amount times 1000).
    Integer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Column(String),
}

/// What is wrong with a parameter or its binding to the audience header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("`{{{{` at byte {0} is not closed, expected `{{{{column}}}}`")]
    Unclosed(usize),
    #[error("empty `{{{{}}}}` at byte {0}, expected a column name inside")]
    EmptyName(usize),
    #[error("column `{column}` is not in the audience header (columns: {header})")]
    UnknownColumn { column: String, header: String },
}

impl ParamTemplate {
    pub fn parse(source: &str) -> Result<Self, ParamError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or(ParamError::Unclosed(offset + open))?;
            let name = after[..close].trim();
            if name.is_empty() {
                return Err(ParamError::EmptyName(offset + open));
            }
            parts.push(Part::Column(name.to_string()));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self {
            source: source.to_string(),
            parts,
            key: String::new(),
            shape: ValueShape::Text,
        })
    }

    /// The same parameter, named by its campaign-file key and checked as `shape` per row.
    pub fn placed(mut self, key: impl Into<String>, shape: ValueShape) -> Self {
        self.key = key.into();
        self.shape = shape;
        self
    }

    /// The campaign-file key (empty for body parameters named by position).
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn shape(&self) -> ValueShape {
        self.shape
    }

    /// True when the text has no placeholder and is empty once trimmed: WhatsApp refuses an
    /// empty parameter for every contact (132000).
    pub fn is_empty_literal(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Text(t) => t.trim().is_empty(),
            Part::Column(_) => false,
        })
    }

    /// The literal text before the first placeholder (all of it when there is none).
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Text(t)) => t,
            _ => "",
        }
    }

    /// The text as written in the campaign file.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The audience columns this parameter reads.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Column(c) => Some(c.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Resolves column names to header positions (names compare as [`header_index`] says).
    pub fn bind(&self, header: &[String]) -> Result<BoundParam, ParamError> {
        let parts = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => Ok(BoundPart::Text(t.clone())),
                Part::Column(c) => header_index(header, c)
                    .map(|i| BoundPart::Column(i, c.clone()))
                    .ok_or_else(|| ParamError::UnknownColumn {
                        column: c.clone(),
                        header: header.join(", "),
                    }),
            })
            .collect::<Result<_, _>>()?;
        Ok(BoundParam {
            parts,
            shape: self.shape,
        })
    }
}

impl fmt::Display for ParamTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Where a header names `column`, if anywhere. Names compare trimmed and case-insensitive in
/// every script (`OPÇÃO` is `opção`), since pt-BR headers carry accents; accents themselves
/// count (`opcao` is another column).
pub(crate) fn header_index(header: &[String], column: &str) -> Option<usize> {
    let column = column.trim().to_lowercase();
    header
        .iter()
        .position(|h| h.trim().to_lowercase() == column)
}

/// A parameter bound to one audience's header.
#[derive(Debug, Clone)]
pub struct BoundParam {
    parts: Vec<BoundPart>,
    shape: ValueShape,
}

#[derive(Debug, Clone)]
enum BoundPart {
    Text(String),
    Column(usize, String),
}

/// A parameter refers to a column that is empty in this row (the column's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{0}` is empty")]
pub struct EmptyCell(pub String);

impl BoundParam {
    pub fn shape(&self) -> ValueShape {
        self.shape
    }

    /// Renders for one row; the error names the first referenced cell that is empty.
    pub fn render<'r>(&self, cell: impl Fn(usize) -> Option<&'r str>) -> Result<String, EmptyCell> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                BoundPart::Text(t) => out.push_str(t),
                BoundPart::Column(i, name) => match cell(*i).map(str::trim) {
                    Some(v) if !v.is_empty() => out.push_str(v),
                    _ => return Err(EmptyCell(name.clone())),
                },
            }
        }
        Ok(out)
    }
}

/// What is wrong with a parameter's text for Meta: a newline, a tab or a run of more than
/// four spaces (Cloud API error 132000 "param text can't have new-line/tab characters or more
/// than 4 consecutive spaces").
pub fn text_flaw(value: &str) -> Option<&'static str> {
    if value.contains('\n') || value.contains('\r') {
        Some("a newline")
    } else if value.contains('\t') {
        Some("a tab")
    } else if value.contains("     ") {
        Some("more than four spaces in a row")
    } else {
        None
    }
}

/// `value` with every run of whitespace that Meta refuses collapsed to one space.
pub fn collapse_whitespace(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut run = String::new();
    for c in value.chars() {
        if c.is_whitespace() {
            run.push(c);
            continue;
        }
        flush_run(&mut out, &mut run);
        out.push(c);
    }
    flush_run(&mut out, &mut run);
    out.trim().to_string()
}

fn flush_run(out: &mut String, run: &mut String) {
    if text_flaw(run).is_some() {
        out.push(' ');
    } else {
        out.push_str(run);
    }
    run.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<String> {
        ["name", "Phone", "cupom"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn placeholders_and_literals_render_per_row() {
        let p = ParamTemplate::parse("Olá {{ name }}, use {{CUPOM}}!").unwrap();
        assert_eq!(p.columns().collect::<Vec<_>>(), ["name", "CUPOM"]);
        let b = p.bind(&header()).unwrap();
        let row = ["Ana", "85999990000", "BF20"];
        assert_eq!(
            b.render(|i| row.get(i).copied()),
            Ok("Olá Ana, use BF20!".to_string())
        );
        let literal = ParamTemplate::parse("20%")
            .unwrap()
            .bind(&header())
            .unwrap();
        assert_eq!(literal.render(|_| None), Ok("20%".to_string()));
    }

    #[test]
    fn an_empty_cell_names_the_missing_column() {
        let b = ParamTemplate::parse("{{cupom}}")
            .unwrap()
            .bind(&header())
            .unwrap();
        let row = ["Ana", "85999990000", "  "];
        assert_eq!(
            b.render(|i| row.get(i).copied()),
            Err(EmptyCell("cupom".to_string()))
        );
        assert_eq!(b.render(|_| None), Err(EmptyCell("cupom".to_string())));
    }

    #[test]
    fn flaws_meta_refuses_are_found_and_collapsed() {
        assert_eq!(text_flaw("Ana  Maria"), None);
        assert_eq!(text_flaw("Ana\nMaria"), Some("a newline"));
        assert_eq!(text_flaw("Ana\tMaria"), Some("a tab"));
        assert_eq!(
            text_flaw("Ana     Maria"),
            Some("more than four spaces in a row")
        );
        assert_eq!(
            collapse_whitespace("Rua A,\r\n 10\tapto   2"),
            "Rua A, 10 apto   2"
        );
        assert_eq!(collapse_whitespace("a      b"), "a b");
        assert!(ParamTemplate::parse("  ").unwrap().is_empty_literal());
        assert!(!ParamTemplate::parse("{{x}}").unwrap().is_empty_literal());
        assert_eq!(
            ParamTemplate::parse("http://{{x}}")
                .unwrap()
                .literal_prefix(),
            "http://"
        );
    }

    #[test]
    fn accented_headers_match_in_any_case() {
        let header: Vec<String> = ["Telefone", " OPÇÃO ", "Endereço"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(header_index(&header, "opção"), Some(1));
        assert_eq!(header_index(&header, "TELEFONE"), Some(0));
        assert_eq!(header_index(&header, "endereço"), Some(2));
        assert_eq!(header_index(&header, "opcao"), None);
    }

    #[test]
    fn each_error_says_what_was_expected() {
        assert_eq!(
            ParamTemplate::parse("Olá {{name").unwrap_err().to_string(),
            "`{{` at byte 5 is not closed, expected `{{column}}`"
        );
        assert_eq!(
            ParamTemplate::parse("a{{ }}").unwrap_err().to_string(),
            "empty `{{}}` at byte 1, expected a column name inside"
        );
        let unknown = ParamTemplate::parse("{{city}}")
            .unwrap()
            .bind(&header())
            .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "column `city` is not in the audience header (columns: name, Phone, cupom)"
        );
    }
}
