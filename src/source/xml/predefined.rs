//! The five entities every XML document has without declaring them (XML 1.0 §4.6), for
//! both readers: the strict tokenizer ([`super::parser`]) and `--lenient` ([`super::lenient`]).

/// The character a predefined entity `&name;` stands for.
pub fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}
