//! A tiny parser for the Python literal that forms an NPY header, e.g.
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
//!
//! NumPy writes the header with `repr()` of a dict and reads it back with
//! `ast.literal_eval`, so the header may use either quote style, arbitrary
//! whitespace, trailing commas and (in files written by Python 2) `L` suffixes on
//! integers. Only the literal forms that can occur in a header are supported:
//! strings, integers, `True`/`False`/`None`, tuples, lists and dicts.
//! Nesting depth is bounded so hostile input cannot overflow the stack.

/// A parsed Python literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Py {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

impl Py {
    /// A short Python-like rendering, used in error messages.
    pub(crate) fn repr(&self) -> String {
        fn seq(items: &[Py]) -> String {
            items.iter().map(Py::repr).collect::<Vec<_>>().join(", ")
        }
        match self {
            Py::Str(s) => format!("'{s}'"),
            Py::Int(i) => i.to_string(),
            Py::Bool(true) => "True".into(),
            Py::Bool(false) => "False".into(),
            Py::None => "None".into(),
            Py::Tuple(v) if v.len() == 1 => format!("({},)", v[0].repr()),
            Py::Tuple(v) => format!("({})", seq(v)),
            Py::List(v) => format!("[{}]", seq(v)),
            Py::Dict(kv) => {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{}: {}", k.repr(), v.repr())).collect();
                format!("{{{}}}", body.join(", "))
            }
        }
    }
}

const MAX_DEPTH: usize = 16;

/// Parses `text` as a single Python literal (surrounding whitespace allowed).
pub(crate) fn parse(text: &str) -> Result<Py, String> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0 };
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Err(format!("unexpected text after the header dict at character {}", p.pos));
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{c}'")))
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            Some(c) => format!("expected {wanted} but found '{c}' at character {}", self.pos),
            None => format!("expected {wanted} but the header ended"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Py, String> {
        if depth > MAX_DEPTH {
            return Err("header literal is nested too deeply".into());
        }
        self.skip_ws();
        match self.peek() {
            Some('\'') | Some('"') => self.string().map(Py::Str),
            Some('(') => {
                let (items, trailing_comma) = self.sequence(')', depth)?;
                // `(x)` is just a parenthesised value in Python, `(x,)` is a tuple.
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(Py::None))
                } else {
                    Ok(Py::Tuple(items))
                }
            }
            Some('[') => Ok(Py::List(self.sequence(']', depth)?.0)),
            Some('{') => self.dict(depth),
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Py::Bool(true)),
                    "False" => Ok(Py::Bool(false)),
                    "None" => Ok(Py::None),
                    _ => Err(format!("unexpected name '{word}' in header")),
                }
            }
            _ => Err(self.unexpected("a value")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("expected a string")?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string in header".into()),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or("unterminated string in header")?;
                    out.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn int(&mut self) -> Result<Py, String> {
        let negative = match self.peek() {
            Some('-') => {
                self.pos += 1;
                true
            }
            Some('+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let start = self.pos;
        let mut value: i128 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i128::from(d)))
                .ok_or("integer in header is too large")?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.unexpected("a digit"));
        }
        // Python 2 long suffix, written by old NumPy versions.
        if matches!(self.peek(), Some('L') | Some('l')) {
            self.pos += 1;
        }
        Ok(Py::Int(if negative { -value } else { value }))
    }

    /// Parses `open item, item, ... close` (the opening bracket is at `pos`).
    /// Returns the items and whether the last item was followed by a comma.
    fn sequence(&mut self, close: char, depth: usize) -> Result<(Vec<Py>, bool), String> {
        self.pos += 1; // opening bracket
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, trailing_comma));
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    trailing_comma = true;
                }
                Some(c) if c == close => {
                    trailing_comma = false;
                }
                _ => return Err(self.unexpected(&format!("',' or '{close}'"))),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Py, String> {
        self.pos += 1; // '{'
        let mut entries = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Py::Dict(entries));
            }
            let key = self.value(depth + 1)?;
            self.expect(':')?;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }    \n";
        let Py::Dict(kv) = parse(h).unwrap() else { panic!("not a dict") };
        assert_eq!(kv[0], (Py::Str("descr".into()), Py::Str("<f8".into())));
        assert_eq!(kv[1].1, Py::Bool(false));
        assert_eq!(kv[2].1, Py::Tuple(vec![Py::Int(3), Py::Int(4)]));
    }

    #[test]
    fn tuples_vs_parentheses() {
        assert_eq!(parse("()").unwrap(), Py::Tuple(vec![]));
        assert_eq!(parse("(5,)").unwrap(), Py::Tuple(vec![Py::Int(5)]));
        assert_eq!(parse("(5)").unwrap(), Py::Int(5));
        assert_eq!(parse("(3L, 4L)").unwrap(), Py::Tuple(vec![Py::Int(3), Py::Int(4)]));
        assert_eq!(parse("\"x\"").unwrap(), Py::Str("x".into()));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "{",
            "{'a'",
            "{'a':}",
            "(1 2)",
            "'abc",
            "{'a': 1,,}",
            "foo",
            "-",
            "[1,",
            "99999999999999999999999999999999999999999999",
            "{'a': 1} x",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
        let deep = "(".repeat(10_000);
        assert!(parse(&deep).is_err());
    }
}
