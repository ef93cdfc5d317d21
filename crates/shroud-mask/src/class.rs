//! What a finding is: its [`DataClass`] (the policy's unit: PII, PCI, ...) and its [`Kind`]
//! (the value's format, which decides how a synthetic or format-preserving replacement looks).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The class of sensitive data a finding belongs to; the policy maps classes to techniques.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataClass {
    /// Personally identifiable information: names, addresses, emails, phones, SSNs, dates of birth, IPs.
    Pii,
    /// Payment card data (PCI DSS scope): card numbers.
    Pci,
    /// Protected health information: diagnoses, medical record numbers, medications.
    Phi,
    /// Credentials: API keys, tokens, passwords, private keys, JWTs.
    Secret,
    /// Bank account data: IBANs, account numbers.
    Financial,
    /// Anything a policy selector marks sensitive without a more specific class.
    Confidential,
}

impl DataClass {
    /// All classes.
    pub const ALL: [DataClass; 6] = [
        DataClass::Pii,
        DataClass::Pci,
        DataClass::Phi,
        DataClass::Secret,
        DataClass::Financial,
        DataClass::Confidential,
    ];

    /// The lowercase name used in policies and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Pii => "pii",
            DataClass::Pci => "pci",
            DataClass::Phi => "phi",
            DataClass::Secret => "secret",
            DataClass::Financial => "financial",
            DataClass::Confidential => "confidential",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown data class `{s}` (expected pii, pci, phi, secret, financial or confidential)")
            })
    }
}

/// The format of a sensitive value, as found by a detector or declared by a selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Payment card number (Luhn-valid, known IIN range).
    Card,
    /// US social security number.
    Ssn,
    /// Email address.
    Email,
    /// Telephone number.
    Phone,
    /// International bank account number.
    Iban,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// Date of birth.
    Dob,
    /// JSON web token.
    Jwt,
    /// API key with a known prefix.
    ApiKey,
    /// Password or other secret under a secret-like key.
    Secret,
    /// Person name.
    Name,
    /// Postal address (or a part of one).
    Address,
    /// An embedded image (base64 data URI).
    Image,
    /// Any other value; replacements keep its character classes.
    Generic,
}

impl Kind {
    /// All kinds.
    pub const ALL: [Kind; 15] = [
        Kind::Card,
        Kind::Ssn,
        Kind::Email,
        Kind::Phone,
        Kind::Iban,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Dob,
        Kind::Jwt,
        Kind::ApiKey,
        Kind::Secret,
        Kind::Name,
        Kind::Address,
        Kind::Image,
        Kind::Generic,
    ];

    /// The snake_case name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Card => "card",
            Kind::Ssn => "ssn",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Iban => "iban",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Dob => "dob",
            Kind::Jwt => "jwt",
            Kind::ApiKey => "api_key",
            Kind::Secret => "secret",
            Kind::Name => "name",
            Kind::Address => "address",
            Kind::Image => "image",
            Kind::Generic => "generic",
        }
    }

    /// The class a detector assigns to this kind unless the policy says otherwise.
    pub fn default_class(self) -> DataClass {
        match self {
            Kind::Card => DataClass::Pci,
            Kind::Iban => DataClass::Financial,
            Kind::Jwt | Kind::ApiKey | Kind::Secret => DataClass::Secret,
            Kind::Generic => DataClass::Confidential,
            _ => DataClass::Pii,
        }
    }

    /// Placeholder used by full redaction, e.g. `[EMAIL]`.
    pub(crate) fn placeholder(self) -> &'static str {
        match self {
            Kind::Card => "[CARD]",
            Kind::Ssn => "[SSN]",
            Kind::Email => "[EMAIL]",
            Kind::Phone => "[PHONE]",
            Kind::Iban => "[IBAN]",
            Kind::Ipv4 | Kind::Ipv6 => "[IP]",
            Kind::Dob => "[DOB]",
            Kind::Jwt => "[JWT]",
            Kind::ApiKey => "[API_KEY]",
            Kind::Secret => "[SECRET]",
            Kind::Name => "[NAME]",
            Kind::Address => "[ADDRESS]",
            Kind::Image => "[IMAGE]",
            Kind::Generic => "[REDACTED]",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind `{s}` (expected one of: {})", names.join(", "))
            })
    }
}
