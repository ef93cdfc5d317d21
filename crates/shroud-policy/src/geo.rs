//! IP → location lookup (a MaxMind-format database when configured, else a
//! CIDR table from the policy) and the great-circle distance behind the
//! impossible-travel signal.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::PolicyError;
use crate::types::Geo;

/// One row of the configurable CIDR → location table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkLocation {
    /// Network, e.g. `203.0.113.0/24`.
    pub cidr: IpNet,
    /// ISO country code.
    pub country: String,
    /// City name.
    #[serde(default)]
    pub city: Option<String>,
    /// Latitude.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude.
    #[serde(default)]
    pub lon: Option<f64>,
}

/// Resolves addresses to locations. The CIDR table is searched most
/// specific prefix first; the MaxMind database, when present, is asked first.
pub struct GeoResolver {
    maxmind: Option<maxminddb::Reader<Vec<u8>>>,
    table: Vec<(IpNet, Geo)>,
}

impl std::fmt::Debug for GeoResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoResolver")
            .field("maxmind", &self.maxmind.is_some())
            .field("table_rows", &self.table.len())
            .finish()
    }
}

#[derive(Deserialize)]
struct MmNames<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct MmCountry<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct MmCity<'a> {
    #[serde(borrow, default)]
    names: Option<MmNames<'a>>,
}

#[derive(Deserialize)]
struct MmLocation {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct MmRecord<'a> {
    #[serde(borrow, default)]
    country: Option<MmCountry<'a>>,
    #[serde(borrow, default)]
    city: Option<MmCity<'a>>,
    #[serde(default)]
    location: Option<MmLocation>,
}

impl GeoResolver {
    /// Builds a resolver from an optional MaxMind database path and a table.
    pub fn new(maxmind: Option<&Path>, table: &[NetworkLocation]) -> Result<Self, PolicyError> {
        let maxmind =
            match maxmind {
                Some(path) => Some(maxminddb::Reader::open_readfile(path).map_err(|e| {
                    PolicyError::Invalid {
                        field: "geo.maxmind_db".into(),
                        reason: format!("cannot open {}: {e}", path.display()),
                    }
                })?),
                None => None,
            };
        let mut rows: Vec<(IpNet, Geo)> = table
            .iter()
            .map(|n| {
                (
                    n.cidr.trunc(),
                    Geo {
                        country: n.country.to_ascii_uppercase(),
                        city: n.city.clone(),
                        lat: n.lat,
                        lon: n.lon,
                    },
                )
            })
            .collect();
        // Most specific first so the first hit is the longest-prefix match.
        rows.sort_by_key(|r| std::cmp::Reverse(r.0.prefix_len()));
        Ok(Self {
            maxmind,
            table: rows,
        })
    }

    /// An empty resolver: every address is unknown.
    pub fn empty() -> Self {
        Self {
            maxmind: None,
            table: Vec::new(),
        }
    }

    /// The location of `ip`, or `None` when neither source knows it.
    pub fn lookup(&self, ip: IpAddr) -> Option<Geo> {
        if let Some(reader) = &self.maxmind
            && let Ok(result) = reader.lookup(ip)
            && let Ok(Some(rec)) = result.decode::<MmRecord<'_>>()
            && let Some(code) = rec.country.as_ref().and_then(|c| c.iso_code)
        {
            return Some(Geo {
                country: code.to_ascii_uppercase(),
                city: rec
                    .city
                    .as_ref()
                    .and_then(|c| c.names.as_ref())
                    .and_then(|n| n.en)
                    .map(str::to_owned),
                lat: rec.location.as_ref().and_then(|l| l.latitude),
                lon: rec.location.as_ref().and_then(|l| l.longitude),
            });
        }
        self.table
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, g)| g.clone())
    }
}

/// Great-circle distance in km (haversine, mean Earth radius).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn longest_prefix_wins_and_unknown_ip_is_none() {
        let table = vec![
            NetworkLocation {
                cidr: "10.0.0.0/8".parse().unwrap(),
                country: "de".into(),
                city: None,
                lat: None,
                lon: None,
            },
            NetworkLocation {
                cidr: "10.1.0.0/16".parse().unwrap(),
                country: "FR".into(),
                city: Some("Paris".into()),
                lat: Some(48.85),
                lon: Some(2.35),
            },
        ];
        let r = GeoResolver::new(None, &table).unwrap();
        assert_eq!(r.lookup("10.1.2.3".parse().unwrap()).unwrap().country, "FR");
        assert_eq!(r.lookup("10.9.2.3".parse().unwrap()).unwrap().country, "DE");
        assert!(r.lookup("192.0.2.1".parse().unwrap()).is_none());
        assert!(r.lookup("::1".parse().unwrap()).is_none());
    }

    #[test]
    fn missing_maxmind_file_is_a_clear_error() {
        let err = GeoResolver::new(Some(Path::new("/nonexistent/geo.mmdb")), &[]).unwrap_err();
        assert!(err.to_string().contains("geo.maxmind_db"), "{err}");
    }

    #[test]
    fn haversine_matches_known_distances() {
        // Paris – New York ≈ 5837 km.
        let d = haversine_km(48.8566, 2.3522, 40.7128, -74.0060);
        assert!((d - 5837.0).abs() < 15.0, "{d}");
        assert!(haversine_km(1.0, 1.0, 1.0, 1.0) < 1e-9);
    }
}
