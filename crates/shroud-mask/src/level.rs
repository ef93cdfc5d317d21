//! The masking ladder: [`Level`], ordered from showing everything to showing nothing.
//!
//! The type itself lives in `shroud-types`, shared with the policy engine and
//! the gateway so a decided level crosses crates without conversion.

pub use shroud_types::{Level, ParseLevelError};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_and_parsed() {
        assert!(Level::None < Level::Redact && Level::Encrypt < Level::Block);
        assert_eq!("Tokenize".parse::<Level>(), Ok(Level::Tokenize));
        let err = "hide".parse::<Level>().unwrap_err().to_string();
        assert!(err.contains("`hide`") && err.contains("redact"));
        assert_eq!(
            serde_json::to_string(&Level::Substitute).unwrap(),
            "\"substitute\""
        );
    }
}
