//! Text normalization shared by the rules, the language identifier and the model features:
//! Unicode NFKC, lower case, diacritics folded (`ő` → `o`, `ł` → `l`), digits mapped to
//! `0`, and everything that is not a letter or digit turned into a single space.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The longest text (in chars) that is analyzed; the rest is ignored so a 100 KB message
/// costs no more than a long one.
pub const MAX_CHARS: usize = 2000;

/// Normalizes `text` for matching: words of lower-case folded letters and digits (digits
/// become `0`), separated by single spaces, with no leading or trailing space.
///
/// ```
/// assert_eq!(nlu::normalize("Hol van a RENDELÉSEM #HU-10234?!"), "hol van a rendelesem hu 00000");
/// assert_eq!(nlu::normalize("Chcę rozmawiać z człowiekiem"), "chce rozmawiac z czlowiekiem");
/// ```
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 2));
    let mut pending_space = false;
    for c in text
        .chars()
        .take(MAX_CHARS)
        .nfkc()
        .flat_map(char::to_lowercase)
        .nfd()
    {
        if is_combining_mark(c) {
            continue;
        }
        let folded = fold(c);
        for c in folded.chars() {
            if c.is_alphanumeric() {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(if c.is_numeric() { '0' } else { c });
            } else {
                pending_space = true;
            }
        }
    }
    out
}

/// Letters that do not decompose into a base letter and a combining mark.
fn fold(c: char) -> FoldedChar {
    let s: &'static str = match c {
        'ł' => "l",
        'ø' => "o",
        'đ' => "d",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ı' => "i",
        'þ' => "th",
        _ => return FoldedChar::One(c),
    };
    FoldedChar::Str(s)
}

enum FoldedChar {
    One(char),
    Str(&'static str),
}

impl FoldedChar {
    fn chars(self) -> impl Iterator<Item = char> {
        let (one, s) = match self {
            FoldedChar::One(c) => (Some(c), ""),
            FoldedChar::Str(s) => (None, s),
        };
        one.into_iter().chain(s.chars())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let cases = [
            ("Hello, World!", "hello world"),
            ("  MIKOR   vagytok nyitva??  ", "mikor vagytok nyitva"),
            ("Köszönöm szépen, őszintén ű", "koszonom szepen oszinten u"),
            ("Zażółć gęślą jaźń", "zazolc gesla jazn"),
            ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
            ("order #778812", "order 000000"),
            ("emoji 😡😡 only", "emoji only"),
            ("tab\tnew\nline\u{0}nul", "tab new line nul"),
            ("Straße", "strasse"),
            ("", ""),
            ("!!!", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input:?}");
        }
    }

    #[test]
    fn long_text_is_capped() {
        let long = "ab ".repeat(50_000);
        assert!(normalize(&long).len() <= MAX_CHARS);
    }
}
