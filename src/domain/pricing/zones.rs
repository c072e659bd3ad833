//! Which zone an address falls in: the most specific match wins (postal prefix, then region,
//! then country, then a zone without areas — the rest of the world); ties go to the older zone.

use super::input::Destination;
use super::rules::Area;

/// How closely `areas` match `d`: `None` when they do not, higher when more specific.
pub fn specificity(areas: &[Area], d: &Destination) -> Option<usize> {
    if areas.is_empty() {
        return Some(0);
    }
    areas.iter().filter_map(|a| area_specificity(a, d)).max()
}

fn area_specificity(a: &Area, d: &Destination) -> Option<usize> {
    if a.country != d.country {
        return None;
    }
    let mut score = 1;
    if !a.regions.is_empty() {
        if !a.regions.contains(&d.region) {
            return None;
        }
        score = 2;
    }
    if !a.postal_prefixes.is_empty() {
        let longest = a
            .postal_prefixes
            .iter()
            .filter(|p| d.postal_code.starts_with(p.as_str()))
            .map(|p| p.len())
            .max()?;
        score = 3 + longest;
    }
    Some(score)
}

/// The best match among `items` (by their areas), ties to the smallest id.
pub fn best<'a, T, K: Ord>(
    items: &'a [T],
    d: &Destination,
    areas: impl Fn(&T) -> &[Area],
    id: impl Fn(&T) -> K,
) -> Option<&'a T> {
    items
        .iter()
        .filter_map(|z| specificity(areas(z), d).map(|s| (s, z)))
        .max_by(|(sa, a), (sb, b)| sa.cmp(sb).then_with(|| id(b).cmp(&id(a))))
        .map(|(_, z)| z)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(country: &str, regions: &[&str], prefixes: &[&str]) -> Area {
        Area {
            country: country.into(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            postal_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_most_specific_zone_wins() {
        let zones = vec![
            (1, vec![]),
            (2, vec![area("US", &[], &[])]),
            (3, vec![area("US", &["NY"], &[])]),
            (4, vec![area("US", &["NY"], &["100", "1002"])]),
            (5, vec![area("DE", &[], &[])]),
        ];
        let pick =
            |c, r, p| best(&zones, &Destination::new(c, r, p), |z| &z.1, |z| z.0).map(|z| z.0);
        assert_eq!(pick("US", "NY", "10025"), Some(4));
        assert_eq!(pick("US", "NY", "12207"), Some(3));
        assert_eq!(pick("US", "CA", "94103"), Some(2));
        assert_eq!(pick("de", "", "10115"), Some(5));
        assert_eq!(pick("FR", "", ""), Some(1));
        let no_rest: Vec<_> = zones.into_iter().filter(|z| z.0 != 1).collect();
        assert_eq!(
            best(&no_rest, &Destination::new("FR", "", ""), |z| &z.1, |z| z.0).map(|z| z.0),
            None
        );
    }
}
