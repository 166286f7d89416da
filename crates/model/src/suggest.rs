//! "Did you mean …?": the known word nearest to a misspelt one, by edit distance
//! (Levenshtein, via `strsim`), for field names, constraint operators and the like.

/// The word of `known` nearest to `word`, if it is close enough to be a likely typo: at most
/// one edit per three characters of `word` (and always one). Ties go to the first.
pub fn nearest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let threshold = (word.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|candidate| (strsim::levenshtein(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= threshold)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [&str; 4] = ["name", "cmdline", "max_failures", "min_duration"];

    #[test]
    fn a_close_word_is_suggested_and_a_far_one_is_not() {
        assert_eq!(nearest("cmdlin", FIELDS), Some("cmdline"));
        assert_eq!(nearest("max_failure", FIELDS), Some("max_failures"));
        assert_eq!(nearest("min_durations", FIELDS), Some("min_duration"));
        assert_eq!(nearest("nmae", FIELDS), None, "two edits in four characters is too far");
        assert_eq!(nearest("nam", FIELDS), Some("name"), "one edit is always close enough");
        assert_eq!(nearest("colour", FIELDS), None);
    }
}
