//! Places in a campaign file, from the TOML parser's own spans: the `line:column` of a byte
//! offset, the dotted key written at a syntax error, where a `[table]` header is written, and
//! where the top-level `id` is.
//!
//! A deserialization error names its key through `serde_path_to_error` (see
//! [`super::parse_campaign`]); a syntax error carries only a position. For those, and for problems
//! that belong to a whole table, the file is read once more by toml 1's recovering parser
//! ([`DeTable::parse_recoverable`]), which keeps every key and table it could read, with its span,
//! even when the file does not parse. toml 0.8 stays the deserializer: its messages are the ones
//! operators see.
use toml1::de::{DeTable, DeValue};
use toml1::Spanned;

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// The dotted key written at `offset`: of the keys the parser read on that line, the last one
/// before it (or the first one, when the error comes first); else the `[table]` the line belongs
/// to; empty at the top level.
pub(super) fn key_at(text: &str, offset: usize) -> String {
    let entries = entries(text);
    let offset = floor_char_boundary(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let on_line: Vec<&Entry> = entries
        .iter()
        .filter(|e| (line_start..=line_end).contains(&e.key_start))
        .collect();
    let before = on_line
        .iter()
        .filter(|e| e.key_start <= offset)
        .max_by_key(|e| e.key_start);
    let on_line = before
        .or_else(|| on_line.iter().min_by_key(|e| e.key_start))
        .copied();
    let table = || {
        entries
            .iter()
            .filter(|e| e.header.is_some_and(|h| h <= offset))
            .max_by_key(|e| e.header)
    };
    on_line
        .map(|e| e.key.clone())
        .or_else(|| header_written(&text[line_start..line_end]))
        .or_else(|| table().map(|e| e.key.clone()))
        .unwrap_or_default()
}

/// The table a broken `[header` line declares (`[audience`, `[[audience]`, `[schedule.hours`):
/// the parser reads no key there, and the table before it is not the one the operator wrote.
fn header_written(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix('[')?;
    let rest = rest.strip_prefix('[').unwrap_or(rest);
    let name: String = rest
        .split(']')
        .next()?
        .split('.')
        .map(|part| part.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect::<Vec<_>>()
        .join(".");
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    (!name.is_empty() && name.chars().all(bare) && !name.split('.').any(str::is_empty))
        .then_some(name)
}

/// Where the `[table]` header of the dotted `table` is written; line 1 when it is not (a table
/// made by dotted keys or by a sub-table's header): the problem is then the file's.
pub(super) fn table_line(text: &str, table: &str) -> (usize, usize) {
    entries(text)
        .iter()
        .find(|e| e.key == table)
        .and_then(|e| e.header)
        .map(|h| (line_col(text, h).0, 1))
        .unwrap_or((1, 1))
}

/// The line of the top-level `id = ...`, if the file sets one.
pub(super) fn id_line(text: &str) -> Option<usize> {
    let (root, _) = DeTable::parse_recoverable(text);
    root.get_ref()
        .iter()
        .find(|(k, v)| k.get_ref() == "id" && !matches!(v.get_ref(), DeValue::Table(_)))
        .map(|(k, _)| line_col(text, k.span().start).0)
}

/// One key the parser read.
struct Entry {
    /// Dotted from the top (`schedule.hours.timezone`); the elements of an array of tables
    /// share their array's key.
    key: String,
    key_start: usize,
    /// For a table with its own `[header]`: where the header starts.
    header: Option<usize>,
}

fn entries(text: &str) -> Vec<Entry> {
    let (root, _errors) = DeTable::parse_recoverable(text);
    let mut out = Vec::new();
    collect(text, root.get_ref(), "", &mut out);
    out
}

fn collect(text: &str, table: &DeTable<'_>, prefix: &str, out: &mut Vec<Entry>) {
    for (k, v) in table.iter() {
        // An empty name is the parser's stand-in for a key it could not read (`= 1`).
        if k.get_ref().is_empty() {
            continue;
        }
        let key = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        let header = is_header(text, v).then(|| v.span().start);
        out.push(Entry {
            key: key.clone(),
            key_start: k.span().start,
            header,
        });
        match v.get_ref() {
            DeValue::Table(t) => collect(text, t, &key, out),
            DeValue::Array(items) => {
                for item in items.iter() {
                    if let DeValue::Table(t) = item.get_ref() {
                        collect(text, t, &key, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A table written with its own `[header]` spans that header; a table made by dotted keys or
/// implied by a sub-table's header spans a key, and a header the parser could not close spans
/// less than `[...]`.
fn is_header(text: &str, value: &Spanned<DeValue<'_>>) -> bool {
    matches!(value.get_ref(), DeValue::Table(_))
        && text
            .get(value.span())
            .is_some_and(|s| s.starts_with('[') && s.ends_with(']'))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "id = \"a\"\nsender = \"s\"\n[schedule.hours]\ntimezone = 5\n[pacing]\nmode = \n";

    #[test]
    fn a_key_is_found_on_its_own_line() {
        let at = TEXT.find("mode = ").unwrap() + 7;
        assert_eq!(key_at(TEXT, at), "pacing.mode");
        assert_eq!(
            key_at(TEXT, TEXT.find("5").unwrap()),
            "schedule.hours.timezone"
        );
    }

    #[test]
    fn a_line_without_a_key_belongs_to_its_table() {
        let text = "[pacing]\nmode = \"grow\"\n!!\n";
        assert_eq!(key_at(text, text.find("!!").unwrap()), "pacing");
        assert_eq!(key_at("\n!!", 1), "");
        let text = "[pacing]\n= 1\n";
        assert_eq!(key_at(text, text.find('=').unwrap()), "pacing");
        // An unclosed header names the table it declares, not the key on the next line.
        let text = "id = \"a\"\n[template\nid = \"b\"\n";
        assert_eq!(key_at(text, text.find("\nid").unwrap()), "template");
    }

    #[test]
    fn a_broken_header_names_the_table_it_declares() {
        // Field trial: `[audience` under `[schedule]` read as `schedule`.
        let text = "id = \"x\"\n[schedule]\nstart = 1\n[audience\nfile = \"a.csv\"\n";
        let at = text.find("[audience").unwrap() + "[audience".len();
        assert_eq!(key_at(text, at), "audience");
        let text = "[schedule]\n[[audience]\nfile = 1\n";
        assert_eq!(key_at(text, text.find("[[").unwrap() + 11), "audience");
        assert_eq!(
            header_written("[ \"schedule\" . hours"),
            Some("schedule.hours".into())
        );
        assert_eq!(header_written("[x y"), None);
        assert_eq!(header_written("[]"), None);
        assert_eq!(header_written("key = 1"), None);
    }

    #[test]
    fn table_lines_are_their_headers_or_line_one() {
        assert_eq!(table_line(TEXT, "pacing"), (5, 1));
        assert_eq!(table_line(TEXT, "schedule.hours"), (3, 1));
        // Implied by `[schedule.hours]`, never written.
        assert_eq!(table_line(TEXT, "schedule"), (1, 1));
        assert_eq!(table_line(TEXT, "template"), (1, 1));
    }

    #[test]
    fn the_id_line_is_the_top_level_key() {
        assert_eq!(id_line(TEXT), Some(1));
        assert_eq!(id_line("[template]\nid = \"x\"\n"), None);
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("a\né = 1", 7), (2, 5));
    }
}
