//! "did you mean": the known word nearest a misspelt one.

/// The option among `known` nearest to `typed`, if it is near enough to be a typo: at most a
/// third of its letters changed (one at least), as the command line suggests its flags.
pub(crate) fn nearest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|&word| (edit_distance(typed, word), word))
        .filter(|&(distance, word)| distance <= (word.len() / 3).max(1))
        .min()
        .map(|(_, word)| word)
}

/// Levenshtein distance: insertions, deletions and substitutions, one each. (The same as the
/// command line's in `mptest`; a proc-macro crate cannot share code with the crate it serves.)
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_the_option_a_typo_was_meant_to_be_and_nothing_for_a_stranger() {
        let known = [
            "timeout",
            "ignore",
            "ignore_if",
            "should_panic",
            "retries",
            "group",
            "serial",
        ];
        assert_eq!(super::nearest("tiemout", &known), Some("timeout"));
        assert_eq!(super::nearest("retires", &known), Some("retries"));
        assert_eq!(super::nearest("shouldpanic", &known), Some("should_panic"));
        assert_eq!(super::nearest("flavor", &known), None);
    }
}
