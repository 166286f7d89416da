//! Where things are written in a job file's text, found by a small scan from a call's position:
//! the keys of the object map literal a constructor call is given (`Process(#{ name: ...,
//! cmdline: ... })`, with the keys of map literals nested in it), and where a call's
//! parentheses close.
//!
//! Rhai's AST is not public without its `internals` feature, so this reads the text itself. It
//! knows what can hide a bracket or a comma: strings (`"..."` with escapes and doubled quotes,
//! `` `...` `` with `${...}` interpolation, raw `#"..."#`, characters `'x'`) and comments (`//`
//! and nested `/* */`). Anything it does not expect gives `None`, and the caller falls back to
//! the call's own position. Positions are Rhai's: 1-based lines, and 1-based columns counted in
//! characters.

use std::iter::Peekable;
use std::str::Chars;

use rhai::Position;

/// A job file's text, with where each line starts.
#[derive(Debug)]
pub(crate) struct SourceText {
    text: String,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub(crate) fn new(text: &str) -> SourceText {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(newline, _)| newline + 1)).collect();
        SourceText { text: text.to_owned(), line_starts }
    }

    /// The object map literal that is the whole argument of the call whose function name starts
    /// at `call`, as in `Name(#{ ... })`.
    pub(crate) fn map_argument(&self, call: Position) -> Option<MapLiteral> {
        let mut scanner = self.scanner_at(call)?;
        scanner.call_opening()?;
        if scanner.next_token()?.kind != Kind::OpenMap {
            return None;
        }
        let map = scanner.map_literal()?;
        (scanner.next_token()?.kind == Kind::Close(')')).then_some(map)
    }

    /// Where the call whose function name starts at `call` ends: its closing parenthesis.
    pub(crate) fn call_end(&self, call: Position) -> Option<Place> {
        let mut scanner = self.scanner_at(call)?;
        scanner.call_opening()?;
        match scanner.skip_to_close(')')? {
            Token { kind: Kind::Close(')'), place } => Some(place),
            _ => None,
        }
    }

    /// A scanner at `position`, which must be inside the text.
    fn scanner_at(&self, position: Position) -> Option<Scanner<'_>> {
        let (line, column) = (position.line()?, position.position()?);
        let start = *self.line_starts.get(line - 1)?;
        let mut chars = self.text[start..].chars().peekable();
        for _ in 1..column {
            match chars.next() {
                Some('\n') | None => return None,
                Some(_) => {}
            }
        }
        Some(Scanner { chars, place: Place { line, column }, pending: None })
    }
}

/// A line and column, ordered as they are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Place {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Place {
    /// The place as Rhai's position, if it fits one.
    pub(crate) fn position(self) -> Option<Position> {
        let line = u16::try_from(self.line).ok()?;
        let column = u16::try_from(self.column).ok()?;
        Some(Position::new(line, column))
    }

    /// A Rhai position as a place, if it has a line and a column.
    pub(crate) fn of(position: Position) -> Option<Place> {
        Some(Place { line: position.line()?, column: position.position()? })
    }
}

/// The keys an object map literal is written with, in order, and the map literals written as
/// their values.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct MapLiteral {
    entries: Vec<Entry>,
}

#[derive(Debug, PartialEq)]
struct Entry {
    key: String,
    place: Place,
    /// The value, when it is itself a map literal.
    map: Option<MapLiteral>,
}

impl MapLiteral {
    /// Where the deepest key along `path` that this literal writes is: `["constraints", "host"]`
    /// is the `host` key of the map literal written for `constraints`, or the `constraints` key
    /// if that value is not a literal or lacks `host`.
    pub(crate) fn locate(&self, path: &[&str]) -> Option<Place> {
        let (first, rest) = path.split_first()?;
        let entry = self.entries.iter().find(|entry| entry.key == *first)?;
        Some(entry.map.as_ref().and_then(|map| map.locate(rest)).unwrap_or(entry.place))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An identifier or keyword.
    Name,
    /// A string literal.
    Text,
    /// `#{`, which opens an object map literal.
    OpenMap,
    Open(char),
    Close(char),
    Comma,
    Colon,
    /// Anything else: numbers, operators, `::`.
    Other,
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    place: Place,
}

/// Reads tokens from a place in the text on.
struct Scanner<'a> {
    chars: Peekable<Chars<'a>>,
    /// Where the next character is.
    place: Place,
    /// A token read ahead and not yet taken, with its text (for names and strings).
    pending: Option<(Token, String)>,
}

impl Scanner<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.place = Place { line: self.place.line + 1, column: 1 };
        } else {
            self.place.column += 1;
        }
        Some(c)
    }

    fn bump_if(&mut self, expected: char) -> bool {
        let next = self.chars.peek() == Some(&expected);
        if next {
            self.bump();
        }
        next
    }

    fn next_token(&mut self) -> Option<Token> {
        self.next_with_text().map(|(token, _)| token)
    }

    fn peek_kind(&mut self) -> Option<Kind> {
        if self.pending.is_none() {
            self.pending = Some(self.read()?);
        }
        self.pending.as_ref().map(|(token, _)| token.kind)
    }

    /// The next token and, for a name or a string, its text.
    fn next_with_text(&mut self) -> Option<(Token, String)> {
        match self.pending.take() {
            Some(pending) => Some(pending),
            None => self.read(),
        }
    }

    fn read(&mut self) -> Option<(Token, String)> {
        loop {
            let place = self.place;
            let c = self.bump()?;
            let token = |kind| Some((Token { kind, place }, String::new()));
            return match c {
                c if c.is_whitespace() => continue,
                '/' if self.bump_if('/') => {
                    while self.chars.peek().is_some_and(|&next| next != '\n') {
                        self.bump();
                    }
                    continue;
                }
                '/' if self.bump_if('*') => {
                    self.block_comment()?;
                    continue;
                }
                '"' => Some((Token { kind: Kind::Text, place }, self.quoted('"')?)),
                '`' => Some((Token { kind: Kind::Text, place }, self.back_quoted()?)),
                '\'' => {
                    self.quoted('\'')?;
                    token(Kind::Other)
                }
                '#' if self.bump_if('{') => token(Kind::OpenMap),
                '#' if matches!(self.chars.peek(), Some('#' | '"')) => {
                    Some((Token { kind: Kind::Text, place }, self.raw_string()?))
                }
                '(' | '[' | '{' => token(Kind::Open(c)),
                ')' | ']' | '}' => token(Kind::Close(c)),
                ',' => token(Kind::Comma),
                ':' if self.bump_if(':') => token(Kind::Other),
                ':' => token(Kind::Colon),
                c if c.is_alphabetic() || c == '_' => {
                    let mut name = c.to_string();
                    while let Some(&next) = self.chars.peek().filter(|next| next.is_alphanumeric() || **next == '_') {
                        name.push(next);
                        self.bump();
                    }
                    Some((Token { kind: Kind::Name, place }, name))
                }
                _ => token(Kind::Other),
            };
        }
    }

    /// Skips the rest of a block comment, nested ones included.
    fn block_comment(&mut self) -> Option<()> {
        let mut depth = 1;
        while depth > 0 {
            match self.bump()? {
                '/' if self.bump_if('*') => depth += 1,
                '*' if self.bump_if('/') => depth -= 1,
                _ => {}
            }
        }
        Some(())
    }

    /// The rest of a string closed by `end`, with `\` escapes; a doubled `end` is one.
    fn quoted(&mut self, end: char) -> Option<String> {
        let mut text = String::new();
        loop {
            match self.bump()? {
                '\\' => text.push(self.bump()?),
                c if c == end && !self.bump_if(end) => return Some(text),
                c => text.push(c),
            }
        }
    }

    /// The rest of a back-quoted string, skipping its `${...}` interpolations.
    fn back_quoted(&mut self) -> Option<String> {
        let mut text = String::new();
        loop {
            match self.bump()? {
                '`' if !self.bump_if('`') => return Some(text),
                '$' if self.bump_if('{') => match self.skip_to_close('}')? {
                    Token { kind: Kind::Close('}'), .. } => {}
                    _ => return None,
                },
                c => text.push(c),
            }
        }
    }

    /// The rest of a raw string, `#"..."#` with as many `#` on each side.
    fn raw_string(&mut self) -> Option<String> {
        let mut hashes = 1;
        while self.bump_if('#') {
            hashes += 1;
        }
        if !self.bump_if('"') {
            return None;
        }
        let mut text = String::new();
        loop {
            let c = self.bump()?;
            if c == '"' {
                let mut closing = 0;
                while closing < hashes && self.bump_if('#') {
                    closing += 1;
                }
                if closing == hashes {
                    return Some(text);
                }
                text.push('"');
                text.extend(std::iter::repeat_n('#', closing));
            } else {
                text.push(c);
            }
        }
    }

    /// Reads a function name and the parenthesis after it.
    fn call_opening(&mut self) -> Option<()> {
        (self.next_token()?.kind == Kind::Name && self.next_token()?.kind == Kind::Open('(')).then_some(())
    }

    /// Skips tokens up to the first closing bracket, comma or colon outside any bracket opened
    /// on the way, and returns it; `None` if a bracket closes with the wrong kind.
    fn skip_value(&mut self) -> Option<Token> {
        let mut open = Vec::new();
        loop {
            let token = self.next_token()?;
            match token.kind {
                Kind::Open(c) => open.push(closing(c)),
                Kind::OpenMap => open.push('}'),
                Kind::Close(c) => match open.pop() {
                    Some(expected) if expected == c => {}
                    Some(_) => return None,
                    None => return Some(token),
                },
                Kind::Comma if open.is_empty() => return Some(token),
                _ => {}
            }
        }
    }

    /// Skips tokens up to the closing bracket `end` of a bracket already open, commas included.
    fn skip_to_close(&mut self, end: char) -> Option<Token> {
        loop {
            let token = self.skip_value()?;
            if token.kind != Kind::Comma {
                return (token.kind == Kind::Close(end)).then_some(token);
            }
        }
    }

    /// The rest of an object map literal whose `#{` was read, up to and including its `}`.
    fn map_literal(&mut self) -> Option<MapLiteral> {
        let mut map = MapLiteral::default();
        loop {
            let (token, key) = self.next_with_text()?;
            match token.kind {
                Kind::Close('}') => return Some(map),
                Kind::Name | Kind::Text => {}
                _ => return None,
            }
            if self.next_token()?.kind != Kind::Colon {
                return None;
            }
            let mut nested = None;
            if self.peek_kind()? == Kind::OpenMap {
                self.next_token();
                nested = self.map_literal();
                nested.as_ref()?;
                // A literal followed by more (`#{ ... } + other`) is not the whole value.
                if !matches!(self.peek_kind()?, Kind::Comma | Kind::Close('}')) {
                    nested = None;
                }
            }
            let end = self.skip_value()?;
            map.entries.push(Entry { key, place: token.place, map: nested });
            match end.kind {
                Kind::Comma => {}
                Kind::Close('}') => return Some(map),
                _ => return None,
            }
        }
    }
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Option<Place> {
        Some(Place { line, column })
    }

    fn argument(source: &str, line: u16, column: u16) -> Option<MapLiteral> {
        SourceText::new(source).map_argument(Position::new(line, column))
    }

    #[test]
    fn finds_each_key_of_a_literal_argument() {
        let source = "let r = Resources(#{ cpu: 0, ram: 16 * MB,\n    disk: max(1, 2) });";
        let map = argument(source, 1, 9).expect("a literal");
        assert_eq!(map.locate(&["cpu"]), at(1, 22));
        assert_eq!(map.locate(&["ram"]), at(1, 30));
        assert_eq!(map.locate(&["disk"]), at(2, 5));
        assert_eq!(map.locate(&["gpu"]), None);
    }

    #[test]
    fn nested_literals_are_located_as_deep_as_they_go() {
        let source = r#"Job(#{ constraints: #{ host: "limit:1", "rack": "r1" }, task: t, update: #{ a: 1 } + u })"#;
        let map = argument(source, 1, 1).expect("a literal");
        assert_eq!(map.locate(&["constraints", "host"]), at(1, 24));
        assert_eq!(map.locate(&["constraints", "rack"]), at(1, 41));
        assert_eq!(map.locate(&["constraints", "zone"]), at(1, 8));
        assert_eq!(map.locate(&["update", "a"]), at(1, 66), "a literal merged with more is not the value");
    }

    #[test]
    fn strings_comments_and_brackets_hide_what_they_contain() {
        let source = "Process(#{ /* a, b: } */ name: \"a, \\\"b: }\", // c: d,\n cmdline: `x ${ #{ y: 1 }.y } }, z:`,\n \
                      logger: [1, (2, 3)], final: #\"q\": }\"#, max_failures: 'a', daemon: a::b })";
        let map = argument(source, 1, 1).expect("a literal");
        let keys: Vec<&str> = map.entries.iter().map(|entry| entry.key.as_str()).collect();
        assert_eq!(keys, vec!["name", "cmdline", "logger", "final", "max_failures", "daemon"]);
        assert_eq!(map.locate(&["cmdline"]), at(2, 2));
    }

    #[test]
    fn what_is_not_a_literal_argument_is_none() {
        assert_eq!(argument("Process(fields)", 1, 1), None);
        assert_eq!(argument("Process(#{ a: 1 } + more)", 1, 1), None);
        assert_eq!(argument("Process(#{ a: 1 }, 2)", 1, 1), None);
        assert_eq!(argument("Process(#{ a: (1 }", 1, 1), None);
        assert_eq!(argument("Process(#{ a: 1", 1, 1), None);
        assert_eq!(argument("Process(#{})", 1, 40), None);
        assert_eq!(argument("Process(#{})", 3, 1), None);
        assert_eq!(argument("Process(#{})", 1, 1), Some(MapLiteral::default()));
    }

    #[test]
    fn a_call_ends_at_its_closing_parenthesis() {
        let source = "let j = Job(#{ task: Task(#{ a: \")\" }),\n  b: f(1) });";
        assert_eq!(SourceText::new(source).call_end(Position::new(1, 9)), at(2, 12));
        assert_eq!(SourceText::new("Job(#{ a: 1 ]").call_end(Position::new(1, 1)), None);
    }

    #[test]
    fn scanning_from_anywhere_in_a_real_job_file_ends_without_panicking() {
        let source = include_str!("../../../examples/all_features.rhai");
        let text = SourceText::new(source);
        let mut literals = 0;
        for (index, line) in source.lines().enumerate() {
            for column in 1..=line.chars().count() + 1 {
                let position = Position::new(u16::try_from(index + 1).unwrap(), u16::try_from(column).unwrap());
                literals += usize::from(text.map_argument(position).is_some());
                let _ = text.call_end(position);
            }
        }
        assert!(literals > 10, "the example's constructor calls are found: {literals}");
    }
}
