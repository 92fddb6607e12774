//! What was built: the version `/actuator/info`, `aquastream_build_info` and `backend-event
//! version` show.
//!
//! Two variables read at compile time (the image's build arguments, `deploy/Dockerfile`):
//! `BACKEND_EVENT_VERSION` replaces the crate version (a release tag), and
//! `BACKEND_EVENT_GIT_SHA` is appended as SemVer build metadata: `0.1.0+3186417`.

use std::sync::LazyLock;

static VERSION: LazyLock<String> = LazyLock::new(|| {
    compose(
        env!("CARGO_PKG_VERSION"),
        option_env!("BACKEND_EVENT_VERSION"),
        option_env!("BACKEND_EVENT_GIT_SHA"),
    )
});

/// The version of this binary, with the git commit when the build named one.
#[must_use]
pub fn version() -> &'static str {
    VERSION.as_str()
}

/// `version` (or the crate version when unset or blank), then `+sha` when a sha is given. The
/// sha is cut to 12 characters and kept only when it is hexadecimal, so that a stray value
/// cannot break the `+build` form.
fn compose(crate_version: &str, version: Option<&str>, sha: Option<&str>) -> String {
    let version = version
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map_or(crate_version, |v| v.strip_prefix('v').unwrap_or(v));
    let sha = sha
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()))
        .map(|s| &s[..s.len().min(12)]);
    match sha {
        Some(sha) => format!("{version}+{sha}"),
        None => version.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_version_alone_without_build_arguments() {
        assert_eq!(compose("0.1.0", None, None), "0.1.0");
        assert_eq!(compose("0.1.0", Some(" "), Some("")), "0.1.0");
    }

    #[test]
    fn the_release_tag_and_the_commit_as_build_metadata() {
        assert_eq!(
            compose("0.1.0", Some("v1.4.2"), Some("3186417abcdef0123456789")),
            "1.4.2+3186417abcde"
        );
        assert_eq!(compose("0.1.0", None, Some("3186417")), "0.1.0+3186417");
    }

    #[test]
    fn a_sha_that_is_not_hexadecimal_is_left_out() {
        assert_eq!(compose("0.1.0", None, Some("main; rm -rf")), "0.1.0");
    }
}
