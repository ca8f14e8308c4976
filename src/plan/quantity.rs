//! Kubernetes resource quantities compared by value (`100m` == `0.1`, `1Gi` == `1024Mi`).

/// The value of a quantity in base units (cores, bytes), or `None` when it does not parse.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    // `1e3` is an exponent; a bare `E` suffix (exa) is caught below because it has no digits after.
    let (num, suffix) = if suffix.is_empty() && (num.ends_with('E') || num.ends_with('e')) {
        (&num[..num.len() - 1], &q[num.len() - 1..])
    } else {
        (num, suffix)
    };
    let n: f64 = num.parse().ok()?;
    let m = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(n * m)
}

/// Whether two quantities are equal by value; unparsable ones compare as strings.
pub fn same(a: &str, b: &str) -> bool {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_by_value() {
        assert!(same("100m", "0.1"));
        assert!(same("1Gi", "1024Mi"));
        assert!(same("1k", "1000"));
        assert!(same("1e3", "1k"));
        assert!(!same("100m", "200m"));
        assert!(!same("128Mi", "128M"));
        assert_eq!(parse("2E"), Some(2e18));
        assert_eq!(parse("x"), None);
    }
}
