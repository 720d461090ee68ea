//! Where something is in a program or template, for people: line and column, 1-based.

/// The byte offset of `part` in `whole`, when `part` is a slice of `whole`.
pub(crate) fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

/// Line and column (in characters) of the byte `offset` of `source`, both from 1.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// `line 2, column 7`.
pub(crate) fn describe(source: &str, offset: usize) -> String {
    let (line, column) = line_column(source, offset);
    format!("line {line}, column {column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("abc", 2), (1, 3));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é|x", 3), (1, 3));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    #[test]
    fn offsets_of_slices_only() {
        let whole = "hello world";
        assert_eq!(offset_in(whole, &whole[6..]), Some(6));
        assert_eq!(offset_in(whole, "elsewhere"), None);
    }
}
