//! Flow's request signature.
//!
//! Every parameter except `s` takes part; names are sorted byte-wise; each name is
//! followed immediately by its raw (unencoded) value with no separators; the string is
//! HMAC-SHA256'd with the merchant's secret key and sent as lowercase hex in `s`.
//! Encoding for the wire happens only after signing, so `+`, `&`, spaces and `ñ` are
//! signed literally. Verification recomputes the MAC and compares in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The name of the signature parameter.
pub const SIGNATURE_PARAM: &str = "s";

fn mac_over<'a, I>(params: I, secret: &[u8]) -> HmacSha256
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut sorted: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(name, _)| *name != SIGNATURE_PARAM)
        .collect();
    // Byte-wise order of the names, as PHP sort() / Python sorted() give for ASCII.
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The lowercase hex signature of `params` (any `s` among them is ignored).
pub fn sign<'a, I>(params: I, secret: &[u8]) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    hex::encode(mac_over(params, secret).finalize().into_bytes())
}

/// Whether `signature` (hex, as received in `s`) is the signature of `params`.
/// The comparison of the MAC bytes is constant-time; a malformed hex string is a mismatch.
pub fn verify<'a, I>(params: I, secret: &[u8], signature: &str) -> bool
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let Ok(received) = hex::decode(signature) else {
        return false;
    };
    mac_over(params, secret).verify_slice(&received).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";

    #[test]
    fn reference_vector_one_api_key_and_token() {
        let s = sign([("apiKey", "K"), ("token", "T")], SECRET);
        assert_eq!(
            s,
            "07e5a38aee3d00403112970c9e93bb3983132a6c69fade0ce98a0335faf82ecb"
        );
    }

    #[test]
    fn reference_vector_two_sorts_amount_before_api_key() {
        let s = sign(
            [
                ("apiKey", "XXXX-XXXX-XXXX"),
                ("currency", "CLP"),
                ("amount", "5000"),
            ],
            SECRET,
        );
        assert_eq!(
            s,
            "0d3e50d31d2c44c5af6f42c682815c96c9727e8bc3d9f8516f5a8871f5264695"
        );
    }

    #[test]
    fn reference_vector_three_signs_raw_values() {
        let params = [
            ("apiKey", "1F90971E-8276-4715-97FF-2BLG5030EE3B"),
            ("commerceOrder", "ORD-1"),
            ("subject", "Pago de prueba ñ"),
            ("currency", "CLP"),
            ("amount", "5000"),
            ("email", "a+b@gmail.com"),
            ("urlConfirmation", "https://m.example/confirm"),
            ("urlReturn", "https://m.example/return?x=1&y=2"),
            ("paymentMethod", "9"),
            ("optional", r#"{"rut":"9999999-9"}"#),
        ];
        assert_eq!(
            sign(params, SECRET),
            "0c7371eb659d5e65837ae88172ac4cd6e8d403434a9c8d4c175b938744fbfaa2"
        );
    }

    #[test]
    fn the_s_parameter_itself_is_never_signed() {
        let with_s = sign([("apiKey", "K"), ("token", "T"), ("s", "zzz")], SECRET);
        assert_eq!(with_s, sign([("apiKey", "K"), ("token", "T")], SECRET));
    }

    #[test]
    fn verify_accepts_the_signature_and_rejects_any_change() {
        let params = [("apiKey", "K"), ("token", "T")];
        let s = sign(params, SECRET);
        assert!(verify(params, SECRET, &s));
        assert!(!verify([("apiKey", "K"), ("token", "U")], SECRET, &s));
        assert!(!verify(params, b"other-secret", &s));
        assert!(!verify(params, SECRET, "not hex"));
        assert!(!verify(params, SECRET, &s[..62]));
    }

    #[test]
    fn payment_method_sorts_before_payment_currency() {
        // 'M' (0x4D) < '_' (0x5F): byte order, not case-folded order.
        let a = sign(
            [("paymentMethod", "9"), ("payment_currency", "CLP")],
            SECRET,
        );
        let mut mac = HmacSha256::new_from_slice(SECRET).unwrap();
        mac.update(b"paymentMethod9payment_currencyCLP");
        assert_eq!(a, hex::encode(mac.finalize().into_bytes()));
    }
}
