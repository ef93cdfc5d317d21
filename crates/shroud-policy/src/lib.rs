//! Request context, access-pattern profiles, contextual CEL rules, risk fusion and the decision policy.
//!
//! (Skeleton: filled in by its issue.)
