//! Text rules shared by entities: trimmed bounded strings, URLs, and HTML-free user content.

use crate::DomainError;

/// A required single-line text: trimmed, non-empty, at most `max` characters, no control
/// characters.
pub fn required(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(DomainError::validation(field, "must not be blank"));
    }
    bounded(field, value, max)
}

/// An optional text: blank becomes `None`; otherwise as [`required`] but multi-line allowed.
pub fn optional(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => bounded(field, v, max).map(Some),
    }
}

fn bounded(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    if value.chars().count() > max {
        return Err(DomainError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(DomainError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An optional absolute http(s) URL of at most `max` characters.
pub fn optional_url(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    let Some(url) = optional(field, value, max)? else {
        return Ok(None);
    };
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => Ok(Some(url)),
        _ => Err(DomainError::validation(
            field,
            "must be an absolute http(s) URL",
        )),
    }
}

/// User-written content (reviews, replies) with every HTML tag removed.
///
/// Tags are dropped and the bodies of `script`/`style` elements with them; a `<` that does
/// not start a tag (as in "I <3 it" or "a < b") is kept. Control characters other than line
/// breaks and tabs are removed, runs of blank lines collapsed, and the result trimmed. The
/// output contains no `<` followed by a letter, `/`, `!` or `?`, so nothing it stores can be
/// read as markup.
#[must_use]
pub fn sanitize_user_content(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let starts_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !starts_tag {
            out.push('<');
            rest = after;
            continue;
        }
        let tag_end = after.find('>').map_or(after.len(), |i| i + 1);
        let tag = after[..tag_end].to_ascii_lowercase();
        rest = &after[tag_end..];
        for raw in ["script", "style"] {
            if tag.starts_with(raw) {
                let closing = format!("</{raw}");
                let lower_rest = rest.to_ascii_lowercase();
                rest = match lower_rest.find(&closing) {
                    Some(i) => {
                        let tail = &rest[i..];
                        tail.find('>').map_or("", |j| &tail[j + 1..])
                    }
                    None => "",
                };
            }
        }
    }
    out.push_str(rest);
    let cleaned: String = out
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    collapse_blank_lines(cleaned.trim())
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_is_trimmed_and_bounded() {
        assert_eq!(required("name", "  Rafting  ", 10).unwrap(), "Rafting");
        assert!(required("name", "   ", 10).is_err());
        assert!(required("name", "12345678901", 10).is_err());
        assert!(required("name", "a\u{0}b", 10).is_err());
        // length counts characters, not bytes
        assert!(required("name", "ёёёёёёёёёё", 10).is_ok());
    }

    #[test]
    fn optional_blank_is_none() {
        assert_eq!(optional("d", Some("  "), 5).unwrap(), None);
        assert_eq!(optional("d", None, 5).unwrap(), None);
        assert_eq!(
            optional("d", Some("x\ny"), 5).unwrap().as_deref(),
            Some("x\ny")
        );
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(optional_url("image_url", Some("https://cdn.example/x.png"), 500).is_ok());
        for bad in [
            "javascript:alert(1)",
            "ftp://x",
            "https://",
            "http://a b",
            "/img.png",
        ] {
            assert!(optional_url("image_url", Some(bad), 500).is_err(), "{bad}");
        }
    }

    #[test]
    fn sanitizer_strips_tags_scripts_and_keeps_plain_text() {
        assert_eq!(sanitize_user_content("<b>Great</b> trip!"), "Great trip!");
        assert_eq!(
            sanitize_user_content("ok<script>alert(1)</script> fine"),
            "ok fine"
        );
        assert_eq!(sanitize_user_content("<SCRIPT src=x>evil()</SCRIPT>x"), "x");
        assert_eq!(
            sanitize_user_content("<img src=x onerror=alert(1)>hi"),
            "hi"
        );
        assert_eq!(
            sanitize_user_content("I <3 rafting, 2 < 3"),
            "I <3 rafting, 2 < 3"
        );
        assert_eq!(
            sanitize_user_content("unterminated <a href='x"),
            "unterminated"
        );
        assert_eq!(sanitize_user_content("a\n\n\n\nb\u{7}"), "a\n\nb");
        assert_eq!(
            sanitize_user_content("<style>p{}</style><!-- c -->text"),
            "text"
        );
    }
}
