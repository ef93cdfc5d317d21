//! Attack-scenario traffic generator for the policy benchmark.
//!
//! Writes an NDJSON access log (`docs/access-log.md` schema) of normal users
//! across time zones plus injected attacks, and a separate CSV of ground
//! truth (`line,label,incident`) that the engine never sees.
//!
//! ```text
//! cargo run --release -p shroud-policy --example gen_traffic -- \
//!     --seed 2 --out /tmp/traffic.ndjson --labels /tmp/labels.csv
//! ```
//!
//! The world: cities on five continents, each with its own address block and
//! time zone. Normal users keep office hours in their zone (some work night
//! shifts or weekends), use one to three apps with their own routes and data
//! classes, mostly from one or two devices, occasionally log in wrongly,
//! sometimes travel (a real flight: legitimate new country), sometimes run a
//! large export if they are analysts, and change browser versions now and
//! then. Attacks, injected after a 14-day warm-up:
//! * `ato_new_country`: stolen credentials used from a country the victim
//!   never used, with a common browser, browsing the victim's own app;
//! * `impossible_travel`: a stolen session cookie (same user agent) used from
//!   another continent while the victim is active;
//! * `offhours_bulk_export`: the victim's own device and network at night
//!   pulling thousands of records with sensitive classes;
//! * `credential_stuffing`: a proxy pool trying leaked passwords on many
//!   accounts (mostly 401), the few successes then read data;
//! * `slow_exfiltration`: over several working days, from the victim's own
//!   device, network and hours, a steady trickle of list requests for records
//!   and classes beyond the victim's habits.
//!
//! Not tuned to the detector: the scenario parameters were written down from
//! the threat descriptions before the first benchmark run, and the reported
//! figures use a seed (2) that was not used while building the engine (1).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::io::Write;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};

struct City {
    country: &'static str,
    name: &'static str,
    lat: f64,
    lon: f64,
    tz: &'static str,
    block: u8,
}

const fn city(
    country: &'static str,
    name: &'static str,
    lat: f64,
    lon: f64,
    tz: &'static str,
    block: u8,
) -> City {
    City {
        country,
        name,
        lat,
        lon,
        tz,
        block,
    }
}

/// Where users live.
const HOME: [City; 9] = [
    city("DE", "Berlin", 52.52, 13.40, "Europe/Berlin", 11),
    city("GB", "London", 51.51, -0.13, "Europe/London", 12),
    city("US", "New York", 40.71, -74.01, "America/New_York", 13),
    city(
        "US",
        "San Francisco",
        37.77,
        -122.42,
        "America/Los_Angeles",
        14,
    ),
    city("JP", "Tokyo", 35.68, 139.69, "Asia/Tokyo", 15),
    city("IN", "Bangalore", 12.97, 77.59, "Asia/Kolkata", 16),
    city("BR", "Sao Paulo", -23.55, -46.63, "America/Sao_Paulo", 17),
    city("AU", "Sydney", -33.87, 151.21, "Australia/Sydney", 18),
    city("FR", "Paris", 48.86, 2.35, "Europe/Paris", 19),
];

/// Where attackers and proxies are.
const HOSTILE: [City; 7] = [
    city("RU", "Moscow", 55.76, 37.62, "Europe/Moscow", 41),
    city("NG", "Lagos", 6.52, 3.38, "Africa/Lagos", 42),
    city("VN", "Hanoi", 21.03, 105.85, "Asia/Ho_Chi_Minh", 43),
    city("RO", "Bucharest", 44.43, 26.10, "Europe/Bucharest", 44),
    city("CN", "Shenzhen", 22.54, 114.06, "Asia/Shanghai", 45),
    city("NL", "Amsterdam", 52.37, 4.90, "Europe/Amsterdam", 46),
    city("US", "Ashburn", 39.04, -77.49, "America/New_York", 47),
];

const UAS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
];

struct Route {
    path: &'static str,
    method: &'static str,
    /// Median records returned (0: none).
    records: f64,
    classes: &'static [&'static str],
    /// Relative frequency in normal use.
    weight: f64,
}

const fn route(
    path: &'static str,
    method: &'static str,
    records: f64,
    classes: &'static [&'static str],
    weight: f64,
) -> Route {
    Route {
        path,
        method,
        records,
        classes,
        weight,
    }
}

struct App {
    name: &'static str,
    routes: &'static [Route],
    export: Route,
}

const APPS: [App; 5] = [
    App {
        name: "crm",
        routes: &[
            route(
                "/api/customers/{id}",
                "GET",
                1.0,
                &["name", "email", "phone"],
                6.0,
            ),
            route("/api/customers", "GET", 20.0, &["name", "email"], 3.0),
            route("/api/customers/{id}/notes", "POST", 0.0, &[], 1.5),
            route("/api/search", "GET", 8.0, &["name"], 2.0),
        ],
        export: route(
            "/api/export/customers",
            "GET",
            3000.0,
            &["name", "email", "phone", "address"],
            0.0,
        ),
    },
    App {
        name: "billing",
        routes: &[
            route("/api/invoices/{id}", "GET", 1.0, &["name", "iban"], 4.0),
            route("/api/invoices", "GET", 25.0, &["name"], 2.0),
            route("/api/payments", "GET", 15.0, &["card_last4"], 1.5),
        ],
        export: route(
            "/api/export/invoices",
            "GET",
            5000.0,
            &["name", "iban", "address"],
            0.0,
        ),
    },
    App {
        name: "support",
        routes: &[
            route("/api/tickets/{id}", "GET", 1.0, &["name", "email"], 6.0),
            route("/api/tickets", "GET", 30.0, &["email"], 3.0),
            route("/api/tickets/{id}/reply", "POST", 0.0, &[], 2.5),
        ],
        export: route(
            "/api/export/tickets",
            "GET",
            2000.0,
            &["name", "email"],
            0.0,
        ),
    },
    App {
        name: "hr",
        routes: &[
            route(
                "/api/employees/{id}",
                "GET",
                1.0,
                &["name", "ssn", "salary"],
                3.0,
            ),
            route("/api/employees", "GET", 15.0, &["name"], 2.0),
        ],
        export: route(
            "/api/export/employees",
            "GET",
            800.0,
            &["name", "ssn", "salary", "address"],
            0.0,
        ),
    },
    App {
        name: "analytics",
        routes: &[
            route("/api/reports/{id}", "GET", 50.0, &["aggregate"], 4.0),
            route("/api/reports", "GET", 10.0, &[], 2.0),
        ],
        export: route(
            "/api/export/events",
            "GET",
            20000.0,
            &["email", "ip_address"],
            0.0,
        ),
    },
];

struct User {
    id: String,
    home: usize,
    /// Local work start hour and length.
    start: f64,
    len: f64,
    weekends: bool,
    apps: Vec<usize>,
    uas: Vec<String>,
    /// Last address octets inside the home block.
    net: (u8, u8),
    analyst: bool,
    travels: bool,
    /// Median records multiplier: how "wide" this user's lists are.
    width: f64,
}

#[derive(Clone)]
struct Line {
    ts: DateTime<Utc>,
    json: String,
    label: &'static str,
    incident: u32,
}

struct Gen {
    rng: StdRng,
    lines: Vec<Line>,
    incident: u32,
}

fn ip_in(c: &City, a: u8, b: u8) -> String {
    format!("{}.{}.{}.{}", 60 + c.block, a, b, 10 + (a % 200))
}

fn pick_weighted<'a>(rng: &mut StdRng, routes: &'a [Route]) -> &'a Route {
    let total: f64 = routes.iter().map(|r| r.weight).sum();
    let mut x = rng.random_range(0.0..total);
    for r in routes {
        if x < r.weight {
            return r;
        }
        x -= r.weight;
    }
    &routes[0]
}

impl Gen {
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        ts: DateTime<Utc>,
        user: &str,
        ip: &str,
        c: Option<&City>,
        tz: &str,
        ua: &str,
        app: &str,
        r: &Route,
        status: u16,
        records: u32,
        label: &'static str,
        incident: u32,
    ) {
        let path = r
            .path
            .replace("{id}", &self.rng.random_range(1..99_999).to_string());
        let mut j = String::with_capacity(400);
        let _ = write!(
            j,
            r#"{{"ts":"{}","user":"{}","ip":"{}","#,
            ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            user,
            ip
        );
        if let Some(c) = c {
            let _ = write!(
                j,
                r#""geo":{{"country":"{}","city":"{}","lat":{},"lon":{}}},"#,
                c.country, c.name, c.lat, c.lon
            );
        }
        let classes: Vec<String> = if records > 0 {
            r.classes.iter().map(|c| format!("\"{c}\"")).collect()
        } else {
            Vec::new()
        };
        let _ = write!(
            j,
            r#""tz":"{}","user_agent":"{}","app":"{}","route":"{}","method":"{}","status":{},"records":{},"classes":[{}]}}"#,
            tz,
            ua,
            app,
            path,
            r.method,
            status,
            records,
            classes.join(",")
        );
        self.lines.push(Line {
            ts,
            json: j,
            label,
            incident,
        });
    }

    fn records(&mut self, median: f64, width: f64) -> u32 {
        if median <= 0.0 {
            return 0;
        }
        if median <= 1.0 {
            return 1;
        }
        let d = LogNormal::new((median * width).ln(), 0.7).unwrap();
        d.sample(&mut self.rng).round().clamp(1.0, 1e6) as u32
    }

    /// A day of normal work for `u` (day index from the start).
    fn normal_day(&mut self, u: &User, day: i64, start: DateTime<Utc>, away: Option<&City>) {
        let tzname = away.map_or(HOME[u.home].tz, |c| c.tz);
        let tz: chrono_tz::Tz = tzname.parse().unwrap();
        let date = (start + Duration::days(day))
            .with_timezone(&tz)
            .date_naive();
        let wd = chrono::Datelike::weekday(&date).num_days_from_monday();
        if wd >= 5 && !(u.weekends && self.rng.random_bool(0.5)) && !self.rng.random_bool(0.04) {
            return;
        }
        if self.rng.random_bool(0.06) {
            return; // day off
        }
        let sessions = Poisson::new(3.5).unwrap().sample(&mut self.rng) as u32 + 1;
        let city = away.unwrap_or(&HOME[u.home]);
        let (ip, ua_home) = if away.is_some() {
            (
                ip_in(city, self.rng.random(), self.rng.random()),
                u.uas.last().cloned().unwrap_or_default(),
            )
        } else {
            (ip_in(city, u.net.0, u.net.1), u.uas[0].clone())
        };
        for _ in 0..sessions {
            let h = u.start + self.rng.random_range(0.0..u.len);
            let local = tz
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                + Duration::seconds((h * 3600.0) as i64);
            let mut t = local.with_timezone(&Utc);
            let ua = if u.uas.len() > 1 && self.rng.random_bool(0.25) {
                u.uas[1].clone()
            } else {
                ua_home.clone()
            };
            // Browser updates: a new version string now and then.
            let ua = if self.rng.random_bool(0.004) {
                ua.replace("131.0", "133.0")
            } else {
                ua
            };
            let app_i = *u.apps.choose(&mut self.rng).unwrap();
            let app = &APPS[app_i];
            let login = route("/login", "POST", 0.0, &[], 0.0);
            if self.rng.random_bool(0.03) {
                self.emit(
                    t,
                    &u.id,
                    &ip,
                    Some(city),
                    tzname,
                    &ua,
                    app.name,
                    &login,
                    401,
                    0,
                    "normal",
                    0,
                );
                t += Duration::seconds(self.rng.random_range(5..40));
            }
            self.emit(
                t,
                &u.id,
                &ip,
                Some(city),
                tzname,
                &ua,
                app.name,
                &login,
                200,
                0,
                "normal",
                0,
            );
            let n = Poisson::new(7.0).unwrap().sample(&mut self.rng) as u32 + 1;
            let gap = Exp::new(1.0 / 50.0).unwrap();
            for _ in 0..n {
                t += Duration::seconds(2 + gap.sample(&mut self.rng) as i64);
                let r = pick_weighted(&mut self.rng, app.routes);
                let rec = self.records(r.records, u.width);
                self.emit(
                    t,
                    &u.id,
                    &ip,
                    Some(city),
                    tzname,
                    &ua,
                    app.name,
                    r,
                    200,
                    rec,
                    "normal",
                    0,
                );
            }
            if u.analyst && self.rng.random_bool(0.05) {
                t += Duration::seconds(self.rng.random_range(30..300));
                let rec = self.records(app.export.records, 1.0);
                self.emit(
                    t,
                    &u.id,
                    &ip,
                    Some(city),
                    tzname,
                    &ua,
                    app.name,
                    &app.export,
                    200,
                    rec,
                    "normal",
                    0,
                );
            }
        }
    }
}

fn main() {
    let mut seed = 2u64;
    let mut out = String::from("traffic.ndjson");
    let mut labels = String::from("labels.csv");
    let mut n_users = 300usize;
    let mut days = 28i64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--seed" => seed = v.parse().expect("--seed N"),
            "--out" => out = v,
            "--labels" => labels = v,
            "--users" => n_users = v.parse().expect("--users N"),
            "--days" => days = v.parse().expect("--days N"),
            _ => panic!("unknown argument {a}; use --seed --out --labels --users --days"),
        }
    }
    let warmup_days = days / 2;
    let start = Utc.with_ymd_and_hms(2026, 10, 5, 0, 0, 0).unwrap();
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        lines: Vec::new(),
        incident: 0,
    };

    // Users.
    let norm_start = Normal::<f64>::new(8.5, 1.0).unwrap();
    let norm_len = Normal::<f64>::new(8.5, 0.8).unwrap();
    let mut users = Vec::with_capacity(n_users);
    for i in 0..n_users {
        let rng = &mut g.rng;
        let night = rng.random_bool(0.06);
        let n_apps = rng.random_range(1..=3);
        let mut apps: Vec<usize> = (0..APPS.len()).collect();
        apps.sort_by_key(|_| rng.random::<u32>());
        apps.truncate(n_apps);
        let n_ua = if rng.random_bool(0.4) { 2 } else { 1 };
        let uas = (0..n_ua)
            .map(|_| UAS.choose(rng).unwrap().to_string())
            .collect();
        users.push(User {
            id: format!("user{i:04}"),
            home: rng.random_range(0..HOME.len()),
            start: if night {
                21.0
            } else {
                norm_start.sample(rng).clamp(5.0, 12.0)
            },
            len: norm_len.sample(rng).clamp(5.0, 11.0),
            weekends: night || rng.random_bool(0.1),
            apps,
            uas,
            net: (rng.random(), rng.random()),
            analyst: rng.random_bool(0.12),
            travels: rng.random_bool(0.05),
            width: LogNormal::new(0.0, 0.5).unwrap().sample(rng),
        });
    }

    // Normal traffic, with trips for travellers.
    for u in &users {
        let trip_day = g.rng.random_range(3..days - 3);
        let trip_city = g.rng.random_range(0..HOME.len());
        for day in 0..days {
            let away =
                (u.travels && (trip_day..trip_day + 3).contains(&day) && trip_city != u.home)
                    .then(|| &HOME[trip_city]);
            g.normal_day(u, day, start, away);
        }
    }

    let eval_start = start + Duration::days(warmup_days);
    let span = (days - warmup_days) * 86_400 - 86_400;
    let victim = |g: &mut Gen| g.rng.random_range(0..users.len());
    let at = |g: &mut Gen| eval_start + Duration::seconds(g.rng.random_range(0..span));

    // Last normal request of a user before `t`, for session hijack timing.
    let last_before = |lines: &[Line], user: &str, t: DateTime<Utc>| -> Option<DateTime<Utc>> {
        let key = format!("\"user\":\"{user}\"");
        lines
            .iter()
            .filter(|l| l.label == "normal" && l.ts <= t && l.json.contains(&key))
            .map(|l| l.ts)
            .max()
    };

    // 1. Account takeover from a new country.
    for _ in 0..25 {
        g.incident += 1;
        let inc = g.incident;
        let u = &users[victim(&mut g)];
        let c = HOSTILE.choose(&mut g.rng).unwrap();
        let mut t = at(&mut g);
        let ua = UAS.choose(&mut g.rng).unwrap().to_string();
        let ip = ip_in(c, g.rng.random(), g.rng.random());
        let app = &APPS[*u.apps.choose(&mut g.rng).unwrap()];
        let login = route("/login", "POST", 0.0, &[], 0.0);
        g.emit(
            t,
            &u.id,
            &ip,
            Some(c),
            HOME[u.home].tz,
            &ua,
            app.name,
            &login,
            200,
            0,
            "ato_new_country",
            inc,
        );
        for _ in 0..g.rng.random_range(8..25) {
            t += Duration::seconds(g.rng.random_range(10..120));
            let r = pick_weighted(&mut g.rng, app.routes);
            let rec = g.records(r.records, u.width);
            g.emit(
                t,
                &u.id,
                &ip,
                Some(c),
                HOME[u.home].tz,
                &ua,
                app.name,
                r,
                200,
                rec,
                "ato_new_country",
                inc,
            );
        }
    }

    // 2. Impossible travel: a hijacked session used far away while the victim works.
    for _ in 0..25 {
        g.incident += 1;
        let inc = g.incident;
        let vi = victim(&mut g);
        let u = &users[vi];
        let probe = at(&mut g);
        let Some(last) = last_before(&g.lines, &u.id, probe) else {
            continue;
        };
        let mut t = last + Duration::seconds(g.rng.random_range(120..3600));
        let far: Vec<&City> = HOSTILE
            .iter()
            .chain(HOME.iter())
            .filter(|c| {
                shroud_policy::haversine_km(c.lat, c.lon, HOME[u.home].lat, HOME[u.home].lon)
                    > 3000.0
            })
            .collect();
        let c = *far.choose(&mut g.rng).unwrap();
        let ip = ip_in(c, g.rng.random(), g.rng.random());
        let app = &APPS[*u.apps.choose(&mut g.rng).unwrap()];
        for _ in 0..g.rng.random_range(5..20) {
            let r = pick_weighted(&mut g.rng, app.routes);
            let rec = g.records(r.records, u.width * 2.0);
            g.emit(
                t,
                &u.id,
                &ip,
                Some(c),
                HOME[u.home].tz,
                &u.uas[0].clone(),
                app.name,
                r,
                200,
                rec,
                "impossible_travel",
                inc,
            );
            t += Duration::seconds(g.rng.random_range(5..90));
        }
    }

    // 3. Off-hours bulk export from the victim's own device and network.
    for _ in 0..25 {
        g.incident += 1;
        let inc = g.incident;
        let u = &users[victim(&mut g)];
        let tz: chrono_tz::Tz = HOME[u.home].tz.parse().unwrap();
        let day = at(&mut g).with_timezone(&tz).date_naive();
        // Hours the victim does not work: 2–5 h after the end of the workday + 5 h.
        let h = (u.start + u.len + 5.0 + g.rng.random_range(0.0..3.0)) % 24.0;
        let mut t = tz
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
            + Duration::seconds((h * 3600.0) as i64);
        let ip = ip_in(&HOME[u.home], u.net.0, u.net.1);
        let app = &APPS[*u.apps.choose(&mut g.rng).unwrap()];
        let login = route("/login", "POST", 0.0, &[], 0.0);
        g.emit(
            t,
            &u.id,
            &ip,
            Some(&HOME[u.home]),
            HOME[u.home].tz,
            &u.uas[0].clone(),
            app.name,
            &login,
            200,
            0,
            "offhours_bulk_export",
            inc,
        );
        for _ in 0..g.rng.random_range(3..10) {
            t += Duration::seconds(g.rng.random_range(20..400));
            let rec = g.records(app.export.records, 1.5);
            g.emit(
                t,
                &u.id,
                &ip,
                Some(&HOME[u.home]),
                HOME[u.home].tz,
                &u.uas[0].clone(),
                app.name,
                &app.export,
                200,
                rec,
                "offhours_bulk_export",
                inc,
            );
        }
    }

    // 4. Credential stuffing from a proxy pool.
    for _ in 0..6 {
        g.incident += 1;
        let inc = g.incident;
        let mut t = at(&mut g);
        let pool: Vec<(String, &City)> = (0..30)
            .map(|_| {
                let c = HOSTILE.choose(&mut g.rng).unwrap();
                (ip_in(c, g.rng.random(), g.rng.random()), c)
            })
            .collect();
        let attempts = g.rng.random_range(200..800);
        let login = route("/login", "POST", 0.0, &[], 0.0);
        for _ in 0..attempts {
            t += Duration::milliseconds(g.rng.random_range(200..4000));
            let (ip, c) = pool.choose(&mut g.rng).unwrap().clone();
            let ua = UAS.choose(&mut g.rng).unwrap();
            let (uid, tz, app) = if g.rng.random_bool(0.7) {
                let u = &users[victim(&mut g)];
                (u.id.clone(), HOME[u.home].tz, APPS[u.apps[0]].name)
            } else {
                (
                    format!("user{:04}", g.rng.random_range(n_users..n_users * 4)),
                    "UTC",
                    "crm",
                )
            };
            let ok = g.rng.random_bool(0.03) && uid < format!("user{n_users:04}");
            g.emit(
                t,
                &uid,
                &ip,
                Some(c),
                tz,
                ua,
                app,
                &login,
                if ok { 200 } else { 401 },
                0,
                "credential_stuffing",
                inc,
            );
            if ok {
                let app_i = APPS.iter().position(|a| a.name == app).unwrap();
                for _ in 0..g.rng.random_range(2..6) {
                    t += Duration::seconds(g.rng.random_range(1..20));
                    let r = pick_weighted(&mut g.rng, APPS[app_i].routes);
                    let rec = g.records(r.records, 1.0);
                    g.emit(
                        t,
                        &uid,
                        &ip,
                        Some(c),
                        tz,
                        ua,
                        app,
                        r,
                        200,
                        rec,
                        "credential_stuffing",
                        inc,
                    );
                }
            }
        }
    }

    // 5. Slow exfiltration over working hours from the victim's own setup.
    for _ in 0..15 {
        g.incident += 1;
        let inc = g.incident;
        let u = &users[victim(&mut g)];
        let tz: chrono_tz::Tz = HOME[u.home].tz.parse().unwrap();
        let first = at(&mut g);
        let ip = ip_in(&HOME[u.home], u.net.0, u.net.1);
        let app_i = *u.apps.choose(&mut g.rng).unwrap();
        let app = &APPS[app_i];
        // The widest list route of the app, paged, at a steady pace.
        let list = app
            .routes
            .iter()
            .filter(|r| r.records > 1.0)
            .max_by(|a, b| a.records.total_cmp(&b.records))
            .unwrap_or(&app.routes[0]);
        let days_n = g.rng.random_range(3..6);
        for d in 0..days_n {
            let date = (first + Duration::days(d)).with_timezone(&tz).date_naive();
            let day0 = tz
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .with_timezone(&Utc);
            let mut t = day0 + Duration::seconds(((u.start + 0.5) * 3600.0) as i64);
            let end = day0 + Duration::seconds(((u.start + u.len - 0.5) * 3600.0) as i64);
            while t < end {
                t += Duration::seconds(g.rng.random_range(600..1800));
                let rec = g.rng.random_range(150..450);
                g.emit(
                    t,
                    &u.id,
                    &ip,
                    Some(&HOME[u.home]),
                    HOME[u.home].tz,
                    &u.uas[0].clone(),
                    app.name,
                    list,
                    200,
                    rec,
                    "slow_exfiltration",
                    inc,
                );
            }
        }
    }

    g.lines.sort_by_key(|l| l.ts);
    let mut log = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
    let mut lab = std::io::BufWriter::new(std::fs::File::create(&labels).unwrap());
    writeln!(lab, "line,label,incident,eval").unwrap();
    for (i, l) in g.lines.iter().enumerate() {
        writeln!(log, "{}", l.json).unwrap();
        let eval = l.ts >= eval_start;
        writeln!(
            lab,
            "{},{},{},{}",
            i + 1,
            l.label,
            l.incident,
            u8::from(eval)
        )
        .unwrap();
    }
    eprintln!(
        "gen_traffic: seed {seed}: {} lines, {} users, {} days (warm-up {warmup_days}), {} incidents -> {out}, {labels}",
        g.lines.len(),
        users.len(),
        days,
        g.incident
    );
}
