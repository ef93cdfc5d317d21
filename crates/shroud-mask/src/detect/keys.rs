//! Key-name hints: what a JSON member's key says about its value (a name, an address, a date
//! of birth, a secret, health data...). Keys are compared normalised: lower case with `_`, `-`,
//! `.` and spaces removed, so `dateOfBirth`, `date_of_birth` and `Date-Of-Birth` are one key.

/// What a key name says about the value under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyHint {
    /// Nothing special.
    #[default]
    None,
    /// A person's name.
    Name,
    /// A postal address or part of one.
    Address,
    /// A date of birth.
    Dob,
    /// A password, token or other credential.
    Secret,
    /// A social security number (bare nine digits accepted).
    Ssn,
    /// A phone number (bare ten digits accepted).
    Phone,
    /// Health information.
    Phi,
}

impl KeyHint {
    /// Whether the hint also covers everything nested under the key (objects, arrays).
    pub fn inherited(self) -> bool {
        matches!(
            self,
            KeyHint::Name | KeyHint::Address | KeyHint::Secret | KeyHint::Phi
        )
    }
}

const NAME_KEYS: &[&str] = &[
    "name",
    "fullname",
    "firstname",
    "lastname",
    "surname",
    "givenname",
    "familyname",
    "middlename",
    "customername",
    "contactname",
    "displayname",
    "patientname",
    "cardholder",
    "cardholdername",
    "holdername",
    "accountholder",
    "accountholdername",
    "maidenname",
    "mothersmaidenname",
    "legalname",
    "billingname",
    "shippingname",
    "recipientname",
    "fname",
    "lname",
    "forename",
    "nickname",
    "personname",
    "employeename",
    "username_full",
];
const ADDRESS_KEYS: &[&str] = &[
    "street",
    "streetaddress",
    "line1",
    "line2",
    "addressline1",
    "addressline2",
    "addr",
    "zip",
    "zipcode",
    "postcode",
    "postalcode",
    "housenumber",
    "streetname",
    "apartment",
    "apt",
];
const DOB_KEYS: &[&str] = &[
    "dob",
    "dateofbirth",
    "birthdate",
    "birthday",
    "birthdt",
    "born",
    "bdate",
    "birthdateutc",
];
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "clientsecret",
    "apikey",
    "apisecret",
    "accesstoken",
    "refreshtoken",
    "authtoken",
    "idtoken",
    "token",
    "privatekey",
    "secretkey",
    "sessiontoken",
    "bearertoken",
    "credentials",
    "credential",
    "passphrase",
    "pin",
    "cvv",
    "cvc",
    "cvv2",
    "securitycode",
    "otp",
    "authorization",
    "cookie",
    "sessionid",
    "accesskey",
];
const SECRET_SUFFIXES: &[&str] = &[
    "password",
    "secret",
    "apikey",
    "privatekey",
    "accesstoken",
    "passphrase",
];
const SSN_KEYS: &[&str] = &[
    "ssn",
    "socialsecuritynumber",
    "socialsecurity",
    "socialsecurityno",
    "sin",
    "taxid",
];
const PHONE_KEYS: &[&str] = &[
    "mobile",
    "tel",
    "telephone",
    "cell",
    "cellphone",
    "fax",
    "msisdn",
];
const PHI_KEYS: &[&str] = &[
    "diagnosis",
    "diagnoses",
    "condition",
    "conditions",
    "medication",
    "medications",
    "mrn",
    "medicalrecordnumber",
    "icd10",
    "icdcode",
    "icd",
    "allergies",
    "allergy",
    "treatment",
    "prescription",
    "prescriptions",
    "healthplanid",
    "insuranceid",
    "memberid",
    "bloodtype",
    "labresult",
    "labresults",
    "medicalhistory",
    "symptoms",
];

/// Normalises `key` into `buf` (lower case, separators dropped); returns false when too long
/// to be one of ours.
fn normalise<'b>(key: &[u8], buf: &'b mut [u8; 48]) -> Option<&'b str> {
    let mut n = 0;
    for &b in key {
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        if n == buf.len() {
            return None;
        }
        buf[n] = b.to_ascii_lowercase();
        n += 1;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// Parts of an address object that identify no one on their own (kept under `address`).
pub fn address_exempt(key: &str) -> bool {
    let mut buf = [0u8; 48];
    normalise(key.as_bytes(), &mut buf).is_some_and(|k| {
        matches!(
            k,
            "country" | "countrycode" | "state" | "region" | "province" | "type" | "kind" | "label"
        )
    })
}

/// The hint for a member key.
pub fn hint_for_key(key: &[u8]) -> KeyHint {
    let mut buf = [0u8; 48];
    let Some(k) = normalise(key, &mut buf) else {
        return KeyHint::None;
    };
    if k.is_empty() {
        return KeyHint::None;
    }
    if SECRET_KEYS.contains(&k) || SECRET_SUFFIXES.iter().any(|s| k.ends_with(s)) {
        return KeyHint::Secret;
    }
    if SSN_KEYS.contains(&k) {
        return KeyHint::Ssn;
    }
    if DOB_KEYS.contains(&k) {
        return KeyHint::Dob;
    }
    if PHONE_KEYS.contains(&k) || k.contains("phone") {
        return KeyHint::Phone;
    }
    if PHI_KEYS.contains(&k) {
        return KeyHint::Phi;
    }
    if NAME_KEYS.contains(&k) {
        return KeyHint::Name;
    }
    if ADDRESS_KEYS.contains(&k)
        || (k.contains("address")
            && !k.contains("email")
            && !k.contains("ip")
            && !k.contains("mac"))
    {
        return KeyHint::Address;
    }
    KeyHint::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        assert_eq!(hint_for_key(b"dateOfBirth"), KeyHint::Dob);
        assert_eq!(hint_for_key(b"first_name"), KeyHint::Name);
        assert_eq!(hint_for_key(b"billing_address"), KeyHint::Address);
        assert_eq!(hint_for_key(b"ip_address"), KeyHint::None);
        assert_eq!(hint_for_key(b"email_address"), KeyHint::None);
        assert_eq!(hint_for_key(b"db_password"), KeyHint::Secret);
        assert_eq!(hint_for_key(b"mobilePhone"), KeyHint::Phone);
        assert_eq!(hint_for_key(b"product_name"), KeyHint::None);
        assert_eq!(hint_for_key(b"Diagnosis"), KeyHint::Phi);
        assert_eq!(hint_for_key(b"status"), KeyHint::None);
    }
}
