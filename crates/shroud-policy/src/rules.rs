//! Contextual rules in CEL (the `cel` crate): compiled and validated when a
//! policy loads, evaluated per request against the variables documented in
//! `docs/policy.md`. Only the variables some rule references are built for a
//! request, so a policy without rules costs nothing here.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel::objects::{Key, Map};
use cel::{Context, Env, Program, Value};

use crate::error::PolicyError;
use crate::policy::RuleConfig;
use crate::signals::{SIGNAL_COUNT, SIGNAL_NAMES};

/// The variables rules may use.
pub const RULE_VARIABLES: [&str; 10] = [
    "request",
    "geo",
    "device",
    "profile",
    "records",
    "classes",
    "app",
    "biometric",
    "signals",
    "ip",
];

/// The shared standard environment: building it is costly, so once per process.
fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    Arc::clone(ENV.get_or_init(|| Arc::new(Env::stdlib())))
}

/// A rule ready to evaluate.
#[derive(Debug)]
pub struct CompiledRule {
    pub(crate) name: Arc<str>,
    pub(crate) factor: f32,
    program: Program,
    needs: u16,
}

/// The per-request values rules see. Built by the engine.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleInput<'a> {
    pub hour: u32,
    pub minute: u32,
    pub dow: u32,
    pub method: &'a str,
    pub route: &'a str,
    pub app: &'a str,
    pub status: i64,
    pub ip: Option<std::net::IpAddr>,
    pub user: &'a str,
    pub geo_known: bool,
    pub country: &'a str,
    pub city: &'a str,
    pub lat: f64,
    pub lon: f64,
    pub travel_kmh: f64,
    pub new_country: bool,
    pub device_new: bool,
    pub device_fp: u64,
    pub profile_requests: u64,
    pub home_country: &'a str,
    pub records_p50: f64,
    pub records_p99: f64,
    pub records_hour: f64,
    pub records: i64,
    pub classes: &'a [&'a str],
    pub bio_available: bool,
    pub bio_enrolled: bool,
    pub bio_score: f64,
    pub bio_confidence: f64,
    pub signals: [f32; SIGNAL_COUNT],
    pub ip_failures: f64,
    pub ip_users: i64,
}

fn s(v: &str) -> Value {
    Value::String(Arc::new(v.to_owned()))
}

fn map(entries: Vec<(&'static str, Value)>) -> Value {
    let mut m: HashMap<Key, Value> = HashMap::with_capacity(entries.len());
    for (k, v) in entries {
        m.insert(Key::String(Arc::new(k.to_owned())), v);
    }
    Value::Map(Map { map: Arc::new(m) })
}

impl RuleInput<'_> {
    fn variable(&self, idx: usize) -> Value {
        match idx {
            0 => map(vec![
                ("hour", Value::Int(self.hour.into())),
                ("minute", Value::Int(self.minute.into())),
                ("dow", Value::Int(self.dow.into())),
                ("weekend", Value::Bool(self.dow >= 5)),
                ("method", s(self.method)),
                ("route", s(self.route)),
                ("app", s(self.app)),
                ("status", Value::Int(self.status)),
                ("ip", s(&self.ip.map(|i| i.to_string()).unwrap_or_default())),
                ("user", s(self.user)),
            ]),
            1 => map(vec![
                ("known", Value::Bool(self.geo_known)),
                ("country", s(self.country)),
                ("city", s(self.city)),
                ("lat", Value::Float(self.lat)),
                ("lon", Value::Float(self.lon)),
                ("travel_kmh", Value::Float(self.travel_kmh)),
                ("new_country", Value::Bool(self.new_country)),
            ]),
            2 => map(vec![
                ("new", Value::Bool(self.device_new)),
                ("fingerprint", s(&format!("{:016x}", self.device_fp))),
            ]),
            3 => map(vec![
                ("requests", Value::Int(self.profile_requests as i64)),
                ("home_country", s(self.home_country)),
                // Ints, like `records`: CEL does not mix int and double arithmetic.
                ("records_p50", Value::Int(self.records_p50.ceil() as i64)),
                ("records_p99", Value::Int(self.records_p99.ceil() as i64)),
                ("records_hour", Value::Int(self.records_hour.ceil() as i64)),
            ]),
            4 => Value::Int(self.records),
            5 => Value::List(Arc::new(self.classes.iter().map(|c| s(c)).collect())),
            6 => s(self.app),
            7 => map(vec![
                ("available", Value::Bool(self.bio_available)),
                ("enrolled", Value::Bool(self.bio_enrolled)),
                ("score", Value::Float(self.bio_score)),
                ("confidence", Value::Float(self.bio_confidence)),
            ]),
            8 => {
                let mut m: HashMap<Key, Value> = HashMap::with_capacity(SIGNAL_COUNT);
                for (name, v) in SIGNAL_NAMES.iter().zip(self.signals) {
                    m.insert(
                        Key::String(Arc::new((*name).to_owned())),
                        Value::Float(v.into()),
                    );
                }
                Value::Map(Map { map: Arc::new(m) })
            }
            _ => map(vec![
                ("failures", Value::Float(self.ip_failures)),
                ("users", Value::Int(self.ip_users)),
            ]),
        }
    }

    /// A plausible input used to type-check rules at load time.
    fn sample() -> RuleInput<'static> {
        static CLASSES: [&str; 2] = ["email", "ssn"];
        RuleInput {
            hour: 10,
            minute: 30,
            dow: 2,
            method: "GET",
            route: "/api/customers/:id",
            app: "crm",
            status: 200,
            ip: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1))),
            user: "u1",
            geo_known: true,
            country: "DE",
            city: "Berlin",
            lat: 52.5,
            lon: 13.4,
            home_country: "DE",
            records: 10,
            records_p50: 5.0,
            records_p99: 50.0,
            classes: &CLASSES,
            ..RuleInput::default()
        }
    }
}

/// The rules' matches for one request: indices into the policy's rules, and
/// rules whose evaluation failed at run time (treated as not matched).
#[derive(Debug, Default)]
pub(crate) struct RuleOutcome {
    pub matched: Vec<usize>,
    pub errors: Vec<usize>,
}

pub(crate) fn compile_rules(configs: &[RuleConfig]) -> Result<Vec<CompiledRule>, PolicyError> {
    let env = env();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(configs.len());
    for (i, rc) in configs.iter().enumerate() {
        let err = |reason: String| PolicyError::Rule {
            rule: if rc.name.is_empty() {
                format!("#{i}")
            } else {
                rc.name.clone()
            },
            reason,
        };
        if rc.name.trim().is_empty() {
            return Err(err("name must not be empty".into()));
        }
        if !seen.insert(rc.name.clone()) {
            return Err(err("duplicate rule name".into()));
        }
        if !rc.factor.is_finite() || rc.factor.abs() > 50.0 {
            return Err(err(format!(
                "factor must be finite and within ±50, got {}",
                rc.factor
            )));
        }
        let program = env
            .compile(&rc.condition)
            .map_err(|e| err(format!("condition does not parse: {e}")))?;
        let refs = program.references();
        let mut needs = 0u16;
        for (bit, name) in RULE_VARIABLES.iter().enumerate() {
            if refs.has_variable(name) {
                needs |= 1 << bit;
            }
        }
        let rule = CompiledRule {
            name: Arc::from(rc.name.as_str()),
            factor: rc.factor,
            program,
            needs,
        };
        // Type-check by evaluating against a plausible request: catches
        // unknown variables or fields, type mismatches and non-bool results.
        match rule.eval_with(&build_context(&RuleInput::sample(), needs)) {
            Ok(_) => {}
            Err(reason) => return Err(err(reason)),
        }
        out.push(rule);
    }
    Ok(out)
}

fn build_context(input: &RuleInput<'_>, needs: u16) -> Context<'static, 'static> {
    let mut ctx = Context::with_env(env());
    for (bit, name) in RULE_VARIABLES.iter().enumerate() {
        if needs & (1 << bit) != 0 {
            ctx.add_variable_from_value(*name, input.variable(bit));
        }
    }
    ctx
}

impl CompiledRule {
    fn eval_with(&self, ctx: &Context<'_, '_>) -> Result<bool, String> {
        match self.program.execute(ctx) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "condition must evaluate to a bool, got {:?}",
                other.type_of()
            )),
            Err(e) => Err(format!("condition fails to evaluate: {e}")),
        }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Evaluates every rule once against `input`.
pub(crate) fn evaluate(rules: &[CompiledRule], input: &RuleInput<'_>) -> RuleOutcome {
    let mut outcome = RuleOutcome::default();
    if rules.is_empty() {
        return outcome;
    }
    let needs = rules.iter().fold(0u16, |acc, r| acc | r.needs);
    let ctx = build_context(input, needs);
    for (i, rule) in rules.iter().enumerate() {
        match rule.eval_with(&ctx) {
            Ok(true) => outcome.matched.push(i),
            Ok(false) => {}
            Err(_) => outcome.errors.push(i),
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn rule(name: &str, cond: &str) -> RuleConfig {
        RuleConfig {
            name: name.into(),
            condition: cond.into(),
            factor: 1.0,
            description: None,
        }
    }

    fn matches(cond: &str, input: &RuleInput<'_>) -> bool {
        let rules = compile_rules(&[rule("r", cond)]).unwrap();
        let out = evaluate(&rules, input);
        assert!(out.errors.is_empty(), "{cond} errored");
        out.matched == vec![0]
    }

    #[test]
    fn each_variable_kind_evaluates() {
        let mut input = RuleInput::sample();
        input.hour = 23;
        assert!(matches("request.hour >= 22 || request.hour < 6", &input));
        input.hour = 12;
        assert!(!matches("request.hour >= 22 || request.hour < 6", &input));
        input.country = "FR";
        assert!(matches("geo.country != profile.home_country", &input));
        input.app = "legacy-export";
        assert!(matches("app in [\"legacy-export\"]", &input));
        input.records = 6000;
        assert!(matches("records > 100 * profile.records_p99", &input));
        assert!(matches("\"ssn\" in classes", &input));
        assert!(matches("classes.exists(c, c == \"email\")", &input));
        input.device_new = true;
        assert!(matches("device.new && request.method == \"GET\"", &input));
        input.signals[0] = 0.9;
        assert!(matches("signals.time > 0.5", &input));
        input.ip_users = 12;
        assert!(matches("ip.users > 10", &input));
        assert!(matches("!biometric.available", &input));
        assert!(matches("request.dow < 5 && !request.weekend", &input));
    }

    #[test]
    fn bad_rules_are_rejected_naming_the_rule() {
        let e = compile_rules(&[rule("night", "request.hour >=")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("rule `night`: condition does not parse"),
            "{e}"
        );
        let e = compile_rules(&[rule("typo", "requets.hour > 3")]).unwrap_err();
        assert!(e.to_string().contains("rule `typo`"), "{e}");
        let e = compile_rules(&[rule("field", "request.hours > 3")]).unwrap_err();
        assert!(e.to_string().contains("rule `field`"), "{e}");
        let e = compile_rules(&[rule("int", "request.hour + 1")]).unwrap_err();
        assert!(e.to_string().contains("must evaluate to a bool"), "{e}");
        let e = compile_rules(&[rule("types", "request.hour > \"x\"")]).unwrap_err();
        assert!(e.to_string().contains("rule `types`"), "{e}");
        let e = compile_rules(&[rule("a", "true"), rule("a", "false")]).unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
        let e = compile_rules(&[rule("", "true")]).unwrap_err();
        assert!(e.to_string().contains("name must not be empty"), "{e}");
        let mut r = rule("big", "true");
        r.factor = f32::NAN;
        assert!(compile_rules(&[r]).is_err());
    }

    #[test]
    fn runtime_errors_are_reported_not_matched() {
        // Valid on the load-time sample (10 records), divides by zero at 7.
        let rules = compile_rules(&[rule("div", "records / (records - 7) > 1")]).unwrap();
        let mut input = RuleInput::sample();
        input.records = 7;
        let out = evaluate(&rules, &input);
        assert!(out.matched.is_empty());
        assert_eq!(out.errors, vec![0]);
    }
}
