//! Kubernetes resource quantities compared by value (`100m` == `0.1`, `1Gi` == `1024Mi`).
//!
//! Exact: a value is kept as `m × 2^twos × 5^fives` in integers, never through floating point
//! (`0.1` has no exact `f64`). No crate fits: `k8s_quantity_parser` is built on k8s-openapi 0.14,
//! and `kube_quantity` parses the number through `f64` and brings `nom` and `rust_decimal`.

/// The exact value of a quantity in base units (cores, bytes): `m × 2^twos × 5^fives` with `m`
/// divisible by neither 2 nor 5, so equal values have equal representations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Value {
    m: i128,
    twos: i64,
    fives: i64,
}

impl Value {
    fn new(mut m: i128, mut twos: i64, mut fives: i64) -> Value {
        if m == 0 {
            return Value {
                m: 0,
                twos: 0,
                fives: 0,
            };
        }
        while m % 2 == 0 {
            m /= 2;
            twos += 1;
        }
        while m % 5 == 0 {
            m /= 5;
            fives += 1;
        }
        Value { m, twos, fives }
    }
}

/// `(powers of two, powers of five)` of a suffix: decimal SI (`m` = 10^-3) or binary SI
/// (`Ki` = 2^10).
fn suffix(s: &str) -> Option<(i64, i64)> {
    let ten = |e: i64| Some((e, e));
    match s {
        "" => ten(0),
        "n" => ten(-9),
        "u" => ten(-6),
        "m" => ten(-3),
        "k" => ten(3),
        "M" => ten(6),
        "G" => ten(9),
        "T" => ten(12),
        "P" => ten(15),
        "E" => ten(18),
        "Ki" => Some((10, 0)),
        "Mi" => Some((20, 0)),
        "Gi" => Some((30, 0)),
        "Ti" => Some((40, 0)),
        "Pi" => Some((50, 0)),
        "Ei" => Some((60, 0)),
        _ => None,
    }
}

/// The value of a quantity, or `None` when it does not parse: a signed decimal number
/// (`1`, `-1.5`, `.5`), an optional exponent (`1e3`, `1E-3`) and an optional suffix. A bare `E`
/// with no digits after it is the exa suffix (`2E`).
pub fn parse(q: &str) -> Option<Value> {
    let q = q.trim();
    let b = q.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut m: i128 = 0;
    let mut digits = 0;
    let mut fraction = 0i64;
    let mut seen_point = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                m = m.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
                digits += 1;
                if seen_point {
                    fraction += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let mut exponent = 0i64;
    if let (Some(b'e' | b'E'), Some(rest)) = (b.get(i), q.get(i + 1..)) {
        let sign_len = usize::from(rest.starts_with(['+', '-']));
        let n = rest[sign_len..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if n > 0 {
            exponent = rest[..sign_len + n].parse().ok()?;
            i += 1 + sign_len + n;
        }
    }
    let (twos, fives) = suffix(&q[i..])?;
    let tens = exponent.checked_sub(fraction)?;
    let m = if negative { -m } else { m };
    Some(Value::new(
        m,
        tens.checked_add(twos)?,
        tens.checked_add(fives)?,
    ))
}

/// Whether two quantities are equal by value; unparsable ones compare as strings.
pub fn same(a: &str, b: &str) -> bool {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x == y,
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
        assert!(parse("2E").is_some());
        assert_eq!(parse("2E"), parse("2000000000000000000"));
        assert_eq!(parse("x"), None);
    }

    #[test]
    fn exact_where_floating_point_is_not() {
        assert!(same("0.3", "300m"));
        assert!(same("1.5Gi", "1536Mi"));
        assert!(same("1Ei", "1024Pi"));
        assert!(same("+.5", "500m"));
        assert!(same("1.5e-3", "1500u"));
        assert!(same("0", "0Mi"));
        assert!(!same("100000000000000001", "100000000000000000"));
        assert!(!same("-1", "1"));
        for bad in ["", ".", "1.2.3", "1e", "1Xi", "m", "1 Gi"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
