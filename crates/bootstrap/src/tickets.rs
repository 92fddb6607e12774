//! Ticket codes: 80 random bits (from the OS through uuid v4) in Crockford base32, grouped:
//! `EVT-7KQ2-M9XD-4TBR-Z1HC`. Unguessable, easy to read out, no ambiguous letters.

use application::ports::TicketCodeGenerator;
use domain::ticket::TicketCode;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Debug, Clone, Copy, Default)]
pub struct RandomTicketCodes;

impl RandomTicketCodes {
    fn encode(bits: u128) -> String {
        let mut out = String::from("EVT");
        for i in 0..16 {
            if i % 4 == 0 {
                out.push('-');
            }
            let index = usize::try_from((bits >> (5 * i)) & 0x1f).unwrap_or(0);
            out.push(char::from(ALPHABET[index]));
        }
        out
    }
}

impl TicketCodeGenerator for RandomTicketCodes {
    fn generate(&self) -> TicketCode {
        loop {
            let code = Self::encode(uuid::Uuid::new_v4().as_u128());
            // The alphabet and the length are valid by construction; the loop only guards the
            // domain rule should it ever change.
            if let Ok(code) = TicketCode::new(code) {
                return code;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_well_formed_and_distinct() {
        let codes: HashSet<String> = (0..2000)
            .map(|_| RandomTicketCodes.generate().as_str().to_owned())
            .collect();
        assert_eq!(codes.len(), 2000);
        for code in &codes {
            assert_eq!(code.len(), 23, "{code}");
            assert!(code.starts_with("EVT-"));
        }
    }

    #[test]
    fn encoding_is_positional() {
        assert_eq!(RandomTicketCodes::encode(0), "EVT-0000-0000-0000-0000");
        assert_eq!(RandomTicketCodes::encode(31), "EVT-Z000-0000-0000-0000");
    }
}
