//! "Did you mean" suggestions: the closest candidate by edit distance, if close enough.

pub fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1) + usize::from(name.len() > 6);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            (
                strsim::damerau_levenshtein(&name.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn near_names_are_suggested_and_far_ones_not() {
        assert_eq!(
            did_you_mean("winpth", ["winpath", "trakcare"]),
            Some("winpath".into())
        );
        assert_eq!(did_you_mean("Txt", ["Text", "Date"]), Some("Text".into()));
        assert_eq!(did_you_mean("zzzzzz", ["winpath", "trakcare"]), None);
    }
}
