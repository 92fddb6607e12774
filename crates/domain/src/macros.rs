/// Declares a status-like enum that is written as SCREAMING_SNAKE_CASE text in JSON, in the
/// database and in proto strings, with `as_str`, `Display`, `FromStr` and the list of values.
///
/// Exported so the outer layers declare their text enums (e.g. the outbox event types) the same
/// way; the caller must depend on `serde`.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable text form.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the request input `field` (a query parameter, a proto string): surrounding
            /// blanks and case are ignored; an unknown value is a validation error naming the
            /// field and the accepted values. Both inbound adapters call this, so they accept
            /// and refuse the same texts with the same message.
            pub fn parse_field(field: &'static str, raw: &str) -> Result<Self, $crate::DomainError> {
                let wanted = raw.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| $crate::DomainError::unknown_input(
                        field,
                        wanted,
                        &[$($text),+],
                    ))
            }

            /// A comma-separated list of values for `field` (`PUBLISHED,completed`): blank
            /// items are skipped, so a blank list is empty ("any").
            pub fn parse_list(field: &'static str, raw: &str) -> Result<Vec<Self>, $crate::DomainError> {
                raw.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| Self::parse_field(field, s))
                    .collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::DomainError::unknown_value(
                        stringify!($name),
                        other,
                        &[$($text),+],
                    )),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::DomainError;
    use crate::event::EventStatus;

    #[test]
    fn request_inputs_ignore_case_and_blanks_and_name_the_field_when_refused() {
        assert_eq!(
            EventStatus::parse_field("status", " published "),
            Ok(EventStatus::Published)
        );
        assert_eq!(
            EventStatus::parse_list("status", "draft, ,COMPLETED,"),
            Ok(vec![EventStatus::Draft, EventStatus::Completed])
        );
        assert_eq!(EventStatus::parse_list("status", " "), Ok(vec![]));
        assert_eq!(
            EventStatus::parse_list("status", "PUBLISHED,SOLD"),
            Err(DomainError::Validation {
                field: "status",
                message: "unknown value `SOLD`; expected one of DRAFT, PUBLISHED, COMPLETED, \
                          CANCELED"
                    .into(),
            })
        );
        let long = "X".repeat(100);
        let Err(DomainError::Validation { message, .. }) = EventStatus::parse_field("s", &long)
        else {
            panic!("accepted {long}");
        };
        assert!(
            message.contains(&format!("`{}`", "X".repeat(40))),
            "{message}"
        );
        assert!(!message.contains(&"X".repeat(41)), "{message}");
    }
}
