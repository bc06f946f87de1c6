//! Phone numbers as Synapse stores them (`synapse/util/msisdn.py`): the
//! `country` and `phone` of an `m.id.phone` identifier made into the
//! msisdn of the `msisdn` 3PIDs, the digits of the E.164 form.
//!
//! The parsing is libphonenumber's (Synapse uses Python's `phonenumbers`
//! port of it; mxauth `rlibphonenumber`, another port of the same code
//! and metadata), so a number written in any of the forms a person uses
//! (national, international, with an international call prefix, with
//! spaces, dashes and brackets) gives the msisdn Synapse stored.

use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, Region};

pub const MEDIUM_MSISDN: &str = "msisdn";

/// Python `phonenumbers`' limit on what it parses (`_MAX_INPUT_STRING_LENGTH`).
const MAX_INPUT_CHARS: usize = 250;

/// A phone number that does not parse (Synapse: 400 `M_INVALID_PARAM`
/// "Unable to parse phone number").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnparsablePhoneNumber;

/// Synapse's `phone_number_to_msisdn`: `number` parsed with `country` (an
/// ISO 3166-1 alpha-2 code) as the region it was written in, in E.164
/// without the `+`: "07700 900123" in GB and "+44 7700 900123" anywhere
/// are `447700900123`. Parsed, not validated, as Synapse does: a number no
/// operator has given out still has an msisdn.
pub fn phone_number_to_msisdn(
    country: &str,
    number: &str,
) -> Result<String, UnparsablePhoneNumber> {
    if number.chars().count() > MAX_INPUT_CHARS {
        return Err(UnparsablePhoneNumber);
    }
    // `phonenumbers` knows a region by its upper-case code only: with "gb"
    // a national number does not parse (one with its "+44" still does).
    let region = Region::from_code(country)
        .ok()
        .filter(|r| *r.as_region_str() == *country);
    // rlibphonenumber 2.2 panics on some RFC 3966 junk (a `tel:` after
    // `;phone-context=`); such input is no number. Its state is in
    // `OnceLock`s, which a panic leaves as they were.
    let parsed = std::panic::catch_unwind(|| PhoneNumber::parse(number, region))
        .map_err(|_| {
            tracing::warn!("the phone number parser panicked; the number is refused");
            UnparsablePhoneNumber
        })?
        .map_err(|_| UnparsablePhoneNumber)?;
    let e164 = parsed.format_as(PhoneNumberFormat::E164);
    Ok(e164.strip_prefix('+').unwrap_or(&e164).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each answer is the one Synapse 1.163's `phone_number_to_msisdn`
    /// (phonenumbers 9.0) gives.
    #[test]
    fn numbers_become_the_msisdns_synapse_stores() {
        let cases = [
            ("GB", "07700 900123", "447700900123"),
            ("GB", "07700900123", "447700900123"),
            ("GB", "7700900123", "447700900123"),
            ("GB", "+447700900123", "447700900123"),
            ("GB", "+44 (0)7700 900123", "447700900123"),
            ("GB", "00447700900123", "447700900123"),
            ("GB", "tel:+44-7700-900123", "447700900123"),
            ("GB", "07700 900123 ext. 5", "447700900123"),
            ("GB", "\u{ff10}\u{ff17}\u{ff17}\u{ff10}\u{ff10}\u{ff19}\u{ff10}\u{ff10}\u{ff11}\u{ff12}\u{ff13}", "447700900123"),
            // The country is only the default: a "+" names its own.
            ("US", "+44 7700 900123", "447700900123"),
            ("XX", "+44 7700 900123", "447700900123"),
            ("gb", "+44 7700 900123", "447700900123"),
            ("US", "011 44 7700 900123", "447700900123"),
            ("US", "(650) 253-0000", "16502530000"),
            ("US", "1-800-FLOWERS", "18003569377"),
            ("DE", "030 123456", "4930123456"),
            ("FR", "06 12 34 56 78", "33612345678"),
            // Italy keeps its leading 0, whatever the default region.
            ("IT", "02 1234 5678", "390212345678"),
            ("GB", "+39 02 1234 5678", "390212345678"),
            // A national prefix of the default region ("1" in the US) is
            // not stripped from another country's number.
            ("US", "+86 131 2345 6789", "8613123456789"),
            ("RU", "8 (800) 123-45-67", "78001234567"),
            ("AR", "011 15 2345-6789", "5491123456789"),
            // Short but parsable: parsed, not validated.
            ("GB", "12", "4412"),
        ];
        for (country, number, msisdn) in cases {
            assert_eq!(
                phone_number_to_msisdn(country, number).as_deref(),
                Ok(msisdn),
                "{country} {number}"
            );
        }
    }

    #[test]
    fn what_synapse_cannot_parse_is_refused() {
        let too_long = "7".repeat(MAX_INPUT_CHARS + 1);
        let cases = [
            ("GB", ""),
            ("GB", "abc"),
            ("GB", "1"),
            ("GB", "+"),
            ("GB", "12345678901234567890"),
            ("GB", too_long.as_str()),
            // A national number needs a region phonenumbers knows, by its
            // upper-case code.
            ("gb", "07700900123"),
            ("", "07700900123"),
            ("XX", "07700900123"),
            ("UK", "07700900123"),
            ("GBR", "07700900123"),
            ("001", "07700900123"),
            // Panics inside rlibphonenumber 2.2.
            ("GB", "1;phone-context=a;tel:"),
        ];
        for (country, number) in cases {
            assert_eq!(
                phone_number_to_msisdn(country, number),
                Err(UnparsablePhoneNumber),
                "{country} {number}"
            );
        }
    }
}
