//! The record item: a JSON object in flat, reusable storage.
//!
//! A [`Record`] keeps its values as nodes in one `Vec` and every key and string in one
//! `String`, linked as a tree (parent, first child, last child, next sibling). Nothing is
//! allocated per field: the stage that makes records (`records`, `json`, `select`) clears
//! its record and refills it, so after the first few records the storage is only reused.
//! `json` parses a line straight into it ([`JsonParser`]). Sinks write it as compact JSON
//! with [`Record::write_json`] in one pass; filters read it through [`Val`] views (`lookup`
//! of a dotted path, members, array items, scalar text). Every walk over a record is a loop
//! ([`Val::walk`]), never a recursion, so any depth of nesting is safe.
//!
//! Invariants: node 0 is the root object; object members carry a key, array items do not;
//! field order is insertion order (document order for XML records); keys may repeat only if
//! the producer adds them twice (`json` input with a repeated key keeps its first place and
//! its last value, like jq and serde_json). A number is kept as its text, as written. The
//! JSON written is what `jq -c .` writes for the same object: `"`, `\`, control characters
//! and DEL escaped, nothing else; numbers as they were written.

use std::fmt;

use serde_json::Value;

mod parse;

pub use parse::{JsonError, Parser as JsonParser};

const NONE: u32 = u32::MAX;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Null,
    Bool,
    /// A JSON number, kept as its text.
    Number,
    String,
    Array,
    Object,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    ty: Type,
    /// The member key (empty for array items and the root), and its hash (to find a member
    /// by name without comparing strings).
    key: (u32, u32),
    hash: u32,
    /// The text of a string, number or bool (`true`/`false`).
    text: (u32, u32),
    first: u32,
    last: u32,
    next: u32,
    len: u32,
    /// The containing array or object (`NONE` for the root): with it every walk over a
    /// record is a loop, whatever its depth, and never a recursion.
    parent: u32,
}

impl Node {
    fn new(ty: Type, key: (u32, u32)) -> Self {
        Node {
            ty,
            key,
            hash: 0,
            text: (0, 0),
            first: NONE,
            last: NONE,
            next: NONE,
            len: 0,
            parent: NONE,
        }
    }
}

/// Identifies a node of a record while it is being built.
pub type NodeId = u32;

/// The root object of every record.
pub const ROOT: NodeId = 0;

/// A JSON object (see the module docs).
pub struct Record {
    nodes: Vec<Node>,
    text: String,
}

/// `clone_from` keeps the storage of the record it overwrites (the derived one makes a new
/// record and drops the old): a batch that carries records to another thread reuses its
/// slots without allocating (`engine::batch`).
impl Clone for Record {
    fn clone(&self) -> Self {
        Record {
            nodes: self.nodes.clone(),
            text: self.text.clone(),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.nodes.clone_from(&source.nodes);
        self.text.clone_from(&source.text);
    }
}

impl Default for Record {
    fn default() -> Self {
        Self::new()
    }
}

impl Record {
    /// An empty object.
    pub fn new() -> Self {
        Record {
            nodes: vec![Node::new(Type::Object, (0, 0))],
            text: String::new(),
        }
    }

    /// About the bytes it holds (its nodes and its text), to bound what is kept of many.
    pub fn size(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Node>() + self.text.len()
    }

    /// Make it an empty object again, keeping the storage.
    pub fn clear(&mut self) {
        self.nodes.truncate(1);
        self.nodes[0] = Node::new(Type::Object, (0, 0));
        self.text.clear();
    }

    /// A view of the root object.
    pub fn root(&self) -> Val<'_> {
        Val { rec: self, id: 0 }
    }

    /// The number of top-level fields.
    pub fn len(&self) -> usize {
        self.nodes[0].len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The top-level field `key` (the last one, if the key repeats).
    pub fn get(&self, key: &str) -> Option<Val<'_>> {
        self.root().get(key)
    }

    /// The top-level fields in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, Val<'_>)> {
        self.root().members()
    }

    /// The value at a dotted path split beforehand (`stop.name` → `["stop", "name"]`); a
    /// number steps into an array (`stops.0`).
    pub fn lookup(&self, path: &[String]) -> Option<Val<'_>> {
        let mut v = self.root();
        for k in path {
            v = match v.ty() {
                Type::Object => v.get(k)?,
                Type::Array => v.items().nth(k.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }

    /// Append the compact JSON text of the record to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.root().write_json(out);
    }

    /// The compact JSON text.
    pub fn to_json(&self) -> String {
        let mut v = Vec::new();
        self.write_json(&mut v);
        String::from_utf8(v).expect("records hold UTF-8 only")
    }

    // ----- building -----

    fn push_text(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(s);
        (to_u32(start), to_u32(self.text.len()))
    }

    fn push_key(&mut self, prefix: &str, name: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(prefix);
        self.text.push_str(name);
        (to_u32(start), to_u32(self.text.len()))
    }

    fn link(&mut self, parent: NodeId, mut node: Node) -> NodeId {
        let id = to_u32(self.nodes.len());
        node.parent = parent;
        self.nodes.push(node);
        self.append_child(parent, id);
        id
    }

    /// Make node `id` (pushed already, or the next to be) the last child of `parent`.
    #[inline]
    fn append_child(&mut self, parent: NodeId, id: NodeId) {
        let p = &mut self.nodes[parent as usize];
        let last = std::mem::replace(&mut p.last, id);
        p.len += 1;
        if last == NONE {
            p.first = id;
        } else {
            self.nodes[last as usize].next = id;
        }
    }

    /// Link a new null node under `parent`, with this key (already in the text).
    fn new_node(&mut self, parent: NodeId, key: (u32, u32), hash: u32) -> NodeId {
        let mut node = Node::new(Type::Null, key);
        node.hash = hash;
        self.link(parent, node)
    }

    /// Add a string member `key` in front of the other top-level fields.
    pub fn prepend_str(&mut self, key: &str, value: &str) {
        let mut node = Node::new(Type::String, self.push_text(key));
        node.hash = key_hash(key.as_bytes());
        node.text = self.push_text(value);
        node.parent = ROOT;
        let id = to_u32(self.nodes.len());
        let root = &mut self.nodes[0];
        node.next = root.first;
        root.first = id;
        if root.last == NONE {
            root.last = id;
        }
        root.len += 1;
        self.nodes.push(node);
    }

    /// Add a member `prefix`+`name` (or an array item, when `parent` is an array) of type
    /// `ty`; returns its id. Scalars get their text with [`Record::set_text`].
    pub fn add(&mut self, parent: NodeId, prefix: &str, name: &str, ty: Type) -> NodeId {
        let mut node = Node::new(ty, (0, 0));
        if self.nodes[parent as usize].ty != Type::Array {
            node.key = self.push_key(prefix, name);
            let (a, b) = node.key;
            node.hash = key_hash(&self.text.as_bytes()[a as usize..b as usize]);
        }
        self.link(parent, node)
    }

    /// Add a string member.
    pub fn add_str(&mut self, parent: NodeId, prefix: &str, name: &str, value: &str) -> NodeId {
        self.add_leaf(parent, prefix, name, Type::String, value)
    }

    /// Add a scalar member `name` (or an array item, when `parent` is an array) of type `ty`
    /// (string, number, bool; or null, whose `text` is ignored) with this text: what
    /// [`Record::add`] then [`Record::set_text`] do, in one step. Like `add`, it does not
    /// look for `name` among the members already there (see [`Record::add_child`]).
    pub fn add_scalar(&mut self, parent: NodeId, name: &str, ty: Type, text: &str) -> NodeId {
        self.add_leaf(parent, "", name, ty, text)
    }

    #[inline]
    fn add_leaf(
        &mut self,
        parent: NodeId,
        prefix: &str,
        name: &str,
        ty: Type,
        text: &str,
    ) -> NodeId {
        let id = to_u32(self.nodes.len());
        let member = self.nodes[parent as usize].ty != Type::Array;
        // Linked in before it is pushed (`link` without moving the node twice).
        self.append_child(parent, id);
        let text = if ty == Type::Null { "" } else { text };
        let t = &mut self.text;
        let k0 = t.len();
        // One reservation and one check of the size for the key and the text.
        t.reserve(prefix.len() + name.len() + text.len());
        if member {
            if !prefix.is_empty() {
                t.push_str(prefix);
            }
            t.push_str(name);
        }
        let k1 = t.len();
        t.push_str(text);
        let end = to_u32(t.len());
        let (k0, k1) = (k0 as u32, k1 as u32);
        let (key, hash) = if member {
            let k = &t.as_bytes()[k0 as usize..k1 as usize];
            ((k0, k1), key_hash(k))
        } else {
            ((0, 0), 0)
        };
        self.nodes.push(Node {
            ty,
            key,
            hash,
            text: if ty == Type::Null { (0, 0) } else { (k1, end) },
            first: NONE,
            last: NONE,
            next: NONE,
            len: 0,
            parent,
        });
        id
    }

    /// Make `id` a scalar of type `ty` (string, number or bool) with this text, or null.
    /// Used on a leaf: any children it had are forgotten.
    pub fn set_text(&mut self, id: NodeId, ty: Type, text: &str) {
        let span = if ty == Type::Null {
            (0, 0)
        } else {
            self.push_text(text)
        };
        let n = &mut self.nodes[id as usize];
        n.ty = ty;
        n.text = span;
        n.first = NONE;
        n.last = NONE;
        n.len = 0;
    }

    /// The number of members or items of a node.
    pub fn count(&self, id: NodeId) -> u32 {
        self.nodes[id as usize].len
    }

    /// A new object member `name` of object `parent` whose [`key_hash`] is `h` (known to
    /// the caller): what [`Record::add`] does, without hashing the key again.
    #[inline]
    pub fn add_object_hashed(&mut self, parent: NodeId, name: &str, h: u32) -> NodeId {
        debug_assert!(self.nodes[parent as usize].ty == Type::Object);
        let id = to_u32(self.nodes.len());
        self.append_child(parent, id);
        let k0 = to_u32(self.text.len());
        self.text.push_str(name);
        let mut node = Node::new(Type::Object, (k0, to_u32(self.text.len())));
        node.hash = h;
        node.parent = parent;
        self.nodes.push(node);
        id
    }

    /// The length of the record's text so far: where text pushed with
    /// [`Record::push_text_raw`] starts.
    #[inline]
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The record's text from `start` on.
    #[inline]
    pub fn text_from(&self, start: usize) -> &str {
        &self.text[start..]
    }

    /// Append `s` to the record's text, for a node's value still being read (closed with
    /// [`Record::set_text_span`] or taken back with [`Record::move_text_from`]).
    #[inline]
    pub fn push_text_raw(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Move the record's text from `start` on to the end of `into`.
    pub fn move_text_from(&mut self, start: usize, into: &mut String) {
        into.push_str(&self.text[start..]);
        self.text.truncate(start);
    }

    /// Make leaf `id` a scalar of type `ty` whose text is the record's text
    /// `start..end` (pushed with [`Record::push_text_raw`], the last text of the record),
    /// or null (`start == end`); the text after `end` is dropped.
    #[inline]
    pub fn set_text_span(&mut self, id: NodeId, ty: Type, start: usize, end: usize) {
        self.text.truncate(end);
        let n = &mut self.nodes[id as usize];
        n.ty = ty;
        n.text = if ty == Type::Null {
            (0, 0)
        } else {
            (to_u32(start), to_u32(end))
        };
        n.first = NONE;
        n.last = NONE;
        n.len = 0;
    }

    /// xmltodict's rule for a child element named `name` of object `parent`: the first one
    /// is a new member; a second one turns that member into an array of both; later ones are
    /// appended to the array. Returns the id of the new (object) node for the child.
    pub fn add_child(&mut self, parent: NodeId, name: &str) -> NodeId {
        self.add_child_hashed(parent, name, key_hash(name.as_bytes()))
    }

    /// [`Record::add_child`] with the [`key_hash`] of `name` known to the caller.
    pub fn add_child_hashed(&mut self, parent: NodeId, name: &str, h: u32) -> NodeId {
        let Some(existing) = self.find_member(parent, name, h) else {
            return self.add_object_hashed(parent, name, h);
        };
        // Only this method makes arrays in a record built from XML, so an array member is
        // one of repeated children.
        let array = if self.nodes[existing as usize].ty == Type::Array {
            existing
        } else {
            // Move the existing value into a new node, and make the member an array that
            // holds it.
            let mut moved = self.nodes[existing as usize];
            moved.key = (0, 0);
            moved.hash = 0;
            moved.next = NONE;
            moved.parent = existing;
            let moved_id = to_u32(self.nodes.len());
            self.nodes.push(moved);
            let mut c = moved.first;
            while c != NONE {
                self.nodes[c as usize].parent = moved_id;
                c = self.nodes[c as usize].next;
            }
            let m = &mut self.nodes[existing as usize];
            m.ty = Type::Array;
            m.first = moved_id;
            m.last = moved_id;
            m.len = 1;
            existing
        };
        self.link(array, Node::new(Type::Object, (0, 0)))
    }

    /// The JSON text of a record whose members are all scalars (or empty arrays and objects):
    /// the root's members in order, with no walk. `plain`: no key or string needs escaping.
    fn write_flat(&self, out: &mut Vec<u8>, plain: bool) {
        if plain {
            return self.write_flat_plain(out);
        }
        let text = self.text.as_bytes();
        out.push(b'{');
        let mut c = self.nodes[ROOT as usize].first;
        while c != NONE {
            let n = &self.nodes[c as usize];
            write_json_bytes(out, &text[n.key.0 as usize..n.key.1 as usize]);
            out.push(b':');
            let t = &text[n.text.0 as usize..n.text.1 as usize];
            match n.ty {
                Type::Null => out.extend_from_slice(b"null"),
                Type::Bool | Type::Number => out.extend_from_slice(t),
                Type::String => write_json_bytes(out, t),
                Type::Array => out.extend_from_slice(b"[]"),
                Type::Object => out.extend_from_slice(b"{}"),
            }
            c = n.next;
            if c != NONE {
                out.push(b',');
            }
        }
        out.push(b'}');
    }

    /// [`Record::write_flat`] when nothing needs escaping: into room made at once (for each
    /// member its key, its text and at most eight bytes of quotes, colon, comma or `null`),
    /// with short copies done inline.
    fn write_flat_plain(&self, out: &mut Vec<u8>) {
        let text = self.text.as_bytes();
        let start = out.len();
        // Every node but the root is a member.
        let room: usize = self.nodes[1..]
            .iter()
            .map(|n| (n.key.1 - n.key.0) as usize + (n.text.1 - n.text.0) as usize + 8)
            .sum();
        out.resize(start + room + 2, 0);
        let buf = &mut out[start..];
        buf[0] = b'{';
        let mut p = 1;
        let mut c = self.nodes[ROOT as usize].first;
        while c != NONE {
            let n = &self.nodes[c as usize];
            buf[p] = b'"';
            p = put(buf, p + 1, &text[n.key.0 as usize..n.key.1 as usize]);
            let t = &text[n.text.0 as usize..n.text.1 as usize];
            p = match n.ty {
                Type::String => {
                    buf[p..p + 3].copy_from_slice(b"\":\"");
                    let p = put(buf, p + 3, t);
                    buf[p] = b'"';
                    p + 1
                }
                Type::Bool | Type::Number => {
                    buf[p..p + 2].copy_from_slice(b"\":");
                    put(buf, p + 2, t)
                }
                Type::Null => put(buf, p, b"\":null"),
                Type::Array => put(buf, p, b"\":[]"),
                Type::Object => put(buf, p, b"\":{}"),
            };
            c = n.next;
            if c != NONE {
                buf[p] = b',';
                p += 1;
            }
        }
        buf[p] = b'}';
        out.truncate(start + p + 1);
    }

    fn find_member(&self, parent: NodeId, name: &str, h: u32) -> Option<NodeId> {
        let mut c = self.nodes[parent as usize].first;
        while c != NONE {
            let n = &self.nodes[c as usize];
            if n.hash == h && self.str_at(n.key) == name {
                return Some(c);
            }
            c = n.next;
        }
        None
    }

    fn str_at(&self, (s, e): (u32, u32)) -> &str {
        &self.text[s as usize..e as usize]
    }

    /// Copy the value `v` (of any record) under `parent` as member `key` (or as an item).
    pub fn add_copy(&mut self, parent: NodeId, key: &str, v: Val<'_>) -> NodeId {
        // A loop over `v`'s nodes in document order (no recursion, whatever the depth);
        // `into` is the copy of the innermost open array or object.
        let mut top = NONE;
        let mut into = parent;
        for step in v.walk() {
            match step {
                Step::Open(x) => {
                    let ty = x.ty();
                    let id = if top == NONE {
                        self.add(into, "", key, ty)
                    } else {
                        self.add(into, "", x.key(), ty)
                    };
                    if matches!(ty, Type::Bool | Type::Number | Type::String) {
                        let span = self.push_text(x.text());
                        self.nodes[id as usize].text = span;
                    }
                    if top == NONE {
                        top = id;
                    }
                    if matches!(ty, Type::Array | Type::Object) {
                        into = id;
                    }
                }
                Step::Close(_) => into = self.nodes[into as usize].parent,
            }
        }
        top
    }

    /// Add the JSON value `v` under `parent` as member `key` (or as an item).
    pub fn add_value(&mut self, parent: NodeId, key: &str, v: &Value) -> NodeId {
        let (ty, text): (Type, Option<String>) = match v {
            Value::Null => (Type::Null, None),
            Value::Bool(b) => (Type::Bool, Some(b.to_string())),
            Value::Number(n) => (Type::Number, Some(n.to_string())),
            Value::String(_) | Value::Array(_) | Value::Object(_) => (type_of(v), None),
        };
        let id = self.add(parent, "", key, ty);
        match v {
            Value::String(s) => self.set_text(id, Type::String, s),
            Value::Array(a) => {
                for item in a {
                    self.add_value(id, "", item);
                }
            }
            Value::Object(o) => {
                for (k, m) in o {
                    self.add_value(id, k, m);
                }
            }
            _ => {
                if let Some(t) = text {
                    self.set_text(id, ty, &t);
                }
            }
        }
        id
    }

    /// Fill the record (cleared first) from a JSON object's members.
    pub fn fill_from_map(&mut self, map: &serde_json::Map<String, Value>) {
        self.clear();
        for (k, v) in map {
            self.add_value(ROOT, k, v);
        }
    }

    /// The record as a serde_json object (for tests and for code that wants a `Value`).
    pub fn to_value(&self) -> Value {
        self.root().to_value()
    }
}

fn type_of(v: &Value) -> Type {
    match v {
        Value::Null => Type::Null,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::Array(_) => Type::Array,
        Value::Object(_) => Type::Object,
    }
}

/// FNV-1a, enough to tell a record's keys apart before comparing them.
#[inline]
pub fn key_hash(b: &[u8]) -> u32 {
    // In constant time: the length and the first and last (up to) eight bytes. Keys that
    // collide are told apart by comparing them.
    let n = b.len();
    let eight = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("eight bytes"));
    let four = |s: &[u8]| u64::from(u32::from_le_bytes(s.try_into().expect("four bytes")));
    let (head, tail) = if n >= 8 {
        (eight(&b[..8]), eight(&b[n - 8..]))
    } else if n >= 4 {
        // The first and last four bytes (overlapping): every byte of the key.
        (four(&b[..4]) | four(&b[n - 4..]) << 32, 0)
    } else if n > 0 {
        // The first, middle and last byte: every byte of the key.
        let c = |i: usize| u64::from(b[i]);
        (c(0) | c(n / 2) << 8 | c(n - 1) << 16, 0)
    } else {
        (0, 0)
    };
    let h = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 32) as u32
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a record larger than 4 GiB")
}

impl From<&serde_json::Map<String, Value>> for Record {
    fn from(map: &serde_json::Map<String, Value>) -> Self {
        let mut r = Record::new();
        r.fill_from_map(map);
        r
    }
}

/// Two records are equal when they have the same fields in the same order with equal
/// values (the order matters: it is part of what `print` shows).
impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.root() == other.root()
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// A borrowed view of one value of a record.
#[derive(Clone, Copy)]
pub struct Val<'r> {
    rec: &'r Record,
    id: u32,
}

impl<'r> Val<'r> {
    fn node(&self) -> &'r Node {
        &self.rec.nodes[self.id as usize]
    }

    pub fn ty(&self) -> Type {
        self.node().ty
    }

    /// The text of a string, number or bool (`"true"`); empty for null, arrays, objects.
    pub fn text(&self) -> &'r str {
        self.rec.str_at(self.node().text)
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&'r str> {
        (self.ty() == Type::String).then(|| self.text())
    }

    fn children(&self) -> impl Iterator<Item = Val<'r>> + use<'r> {
        let rec = self.rec;
        let mut c = if matches!(self.ty(), Type::Array | Type::Object) {
            self.node().first
        } else {
            NONE
        };
        std::iter::from_fn(move || {
            if c == NONE {
                return None;
            }
            let v = Val { rec, id: c };
            c = rec.nodes[c as usize].next;
            Some(v)
        })
    }

    /// The members of an object (nothing for other values).
    pub fn members(&self) -> impl Iterator<Item = (&'r str, Val<'r>)> + use<'r> {
        let obj = self.ty() == Type::Object;
        self.children()
            .filter(move |_| obj)
            .map(|v| (v.rec.str_at(v.node().key), v))
    }

    /// The items of an array (nothing for other values).
    pub fn items(&self) -> impl Iterator<Item = Val<'r>> + use<'r> {
        let arr = self.ty() == Type::Array;
        self.children().filter(move |_| arr)
    }

    /// The member `key` of an object (the last one, if the key repeats).
    pub fn get(&self, key: &str) -> Option<Val<'r>> {
        self.members()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .last()
    }

    /// Append the compact JSON text of the value to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_json_styled(out, None);
    }

    /// [`Val::write_json`] with every object key between `key_style`'s two byte strings
    /// (terminal colours: `print --color`).
    pub fn write_json_styled(&self, out: &mut Vec<u8>, key_style: Option<(&[u8], &[u8])>) {
        // One vector scan of all the record's text tells whether any key or string needs
        // escaping; usually none does, and each is then copied without a look.
        let rec = self.rec;
        let plain = next_escape(rec.text.as_bytes(), 0).is_none();
        out.reserve(rec.text.len() + 8 * rec.nodes.len());
        let n = self.node();
        if key_style.is_none() && n.ty == Type::Object && rec.nodes.len() == n.len as usize + 1 {
            // Every node but this one is one of its members (this is the root): a flat
            // record, the line parsers' kind, written without a walk.
            rec.write_flat(out, plain);
        } else {
            self.write_styled(out, key_style, plain);
        }
    }

    fn write_styled(&self, out: &mut Vec<u8>, key_style: Option<(&[u8], &[u8])>, plain: bool) {
        let string = |out: &mut Vec<u8>, s: &str| {
            if plain {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            } else {
                write_json_str(out, s);
            }
        };
        let nodes = &self.rec.nodes;
        for step in self.walk() {
            let v = match step {
                Step::Open(v) => v,
                Step::Close(v) => {
                    out.push(if v.ty() == Type::Array { b']' } else { b'}' });
                    continue;
                }
            };
            let n = v.node();
            if v.id != self.id {
                let p = &nodes[n.parent as usize];
                if p.first != v.id {
                    out.push(b',');
                }
                if p.ty == Type::Object {
                    let k = self.rec.str_at(n.key);
                    match key_style {
                        Some((on, off)) => {
                            out.extend_from_slice(on);
                            string(out, k);
                            out.extend_from_slice(off);
                        }
                        None => string(out, k),
                    }
                    out.push(b':');
                }
            }
            match n.ty {
                Type::Null => out.extend_from_slice(b"null"),
                Type::Bool | Type::Number => out.extend_from_slice(v.text().as_bytes()),
                Type::String => string(out, v.text()),
                Type::Array => out.push(b'['),
                Type::Object => out.push(b'{'),
            }
        }
    }

    /// The text of a scalar: a string as it is, a number or bool as written, null as
    /// nothing; an array or object as compact JSON.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        match self.ty() {
            Type::Null => {}
            Type::Bool | Type::Number | Type::String => {
                out.extend_from_slice(self.text().as_bytes())
            }
            Type::Array | Type::Object => self.write_json(out),
        }
    }

    /// The value as a serde_json value (built in a loop, whatever the depth; but a
    /// serde_json value thousands of levels deep overflows the stack when it is dropped).
    pub fn to_value(&self) -> Value {
        // The arrays and objects being built, innermost last, with their keys.
        let mut open: Vec<(&str, Value)> = Vec::new();
        let mut done = None;
        for step in self.walk() {
            let (key, v) = match step {
                Step::Open(x) => {
                    let v = match x.ty() {
                        Type::Null => Value::Null,
                        Type::Bool => Value::Bool(x.text() == "true"),
                        Type::Number => serde_json::from_str(x.text()).unwrap_or(Value::Null),
                        Type::String => Value::String(x.text().to_string()),
                        Type::Array => {
                            open.push((x.key(), Value::Array(Vec::new())));
                            continue;
                        }
                        Type::Object => {
                            open.push((x.key(), Value::Object(serde_json::Map::new())));
                            continue;
                        }
                    };
                    (x.key(), v)
                }
                Step::Close(_) => open.pop().expect("a close follows its open"),
            };
            match open.last_mut() {
                Some((_, Value::Array(a))) => a.push(v),
                Some((_, Value::Object(o))) => {
                    o.insert(key.to_string(), v);
                }
                _ => done = Some(v),
            }
        }
        done.expect("a walk opens its start")
    }

    /// The node of this value, for [`Record::set_text`] (`--type` converts a field in place).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The number of members or items of an array or object (0 for other values).
    pub fn len(&self) -> usize {
        self.node().len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member key of this value (empty for an array item or the root).
    pub fn key(&self) -> &'r str {
        self.rec.str_at(self.node().key)
    }

    /// This value and everything in it, in document order, in a loop (see [`Walk`]).
    pub fn walk(&self) -> Walk<'r> {
        Walk {
            rec: self.rec,
            start: self.id,
            at: At::Open(self.id),
            opened: self.id,
        }
    }
}

/// A step of a [`Walk`].
#[derive(Clone, Copy, Debug)]
pub enum Step<'r> {
    /// A value: a scalar, or the start of an array or object (whose items follow, then its
    /// `Close`).
    Open(Val<'r>),
    /// The end of an array or object.
    Close(Val<'r>),
}

#[derive(Clone, Copy)]
enum At {
    Open(u32),
    Close(u32),
    /// Past the subtree of this node: its next sibling or its parent's close follows.
    After(u32),
    Done,
}

/// The values of a subtree in document order, without recursion (each node knows its
/// parent): the way every walk over a record stays in constant stack space, whatever its
/// depth.
pub struct Walk<'r> {
    rec: &'r Record,
    start: u32,
    at: At,
    /// The node of the last `Open`, for [`Walk::skip_contents`].
    opened: u32,
}

impl Walk<'_> {
    /// Skip the contents of the array or object just opened (its `Close` is skipped too).
    pub fn skip_contents(&mut self) {
        self.at = At::After(self.opened);
    }
}

impl<'r> Iterator for Walk<'r> {
    type Item = Step<'r>;

    fn next(&mut self) -> Option<Step<'r>> {
        let nodes = &self.rec.nodes;
        let val = |id| Val { rec: self.rec, id };
        loop {
            match self.at {
                At::Open(id) => {
                    let n = &nodes[id as usize];
                    self.at = match n.ty {
                        Type::Array | Type::Object if n.first != NONE => At::Open(n.first),
                        Type::Array | Type::Object => At::Close(id),
                        _ => At::After(id),
                    };
                    self.opened = id;
                    return Some(Step::Open(val(id)));
                }
                At::Close(id) => {
                    self.at = At::After(id);
                    return Some(Step::Close(val(id)));
                }
                At::After(id) => {
                    if id == self.start {
                        self.at = At::Done;
                        return None;
                    }
                    let n = &nodes[id as usize];
                    self.at = if n.next != NONE {
                        At::Open(n.next)
                    } else {
                        At::Close(n.parent)
                    };
                }
                At::Done => return None,
            }
        }
    }
}

impl PartialEq for Val<'_> {
    fn eq(&self, other: &Self) -> bool {
        // Both walks in step: the same values (type, key, size, text) in the same order.
        let (mut a, mut b) = (self.walk(), other.walk());
        let mut first = true;
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(Step::Open(x)), Some(Step::Open(y))) => {
                    let same = x.ty() == y.ty()
                        && x.node().len == y.node().len
                        && (first || x.key() == y.key())
                        && (matches!(x.ty(), Type::Null | Type::Array | Type::Object)
                            || x.text() == y.text());
                    if !same {
                        return false;
                    }
                }
                (Some(Step::Close(_)), Some(Step::Close(_))) => {}
                _ => return false,
            }
            first = false;
        }
    }
}

impl fmt::Debug for Val<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = Vec::new();
        self.write_json(&mut v);
        f.write_str(&String::from_utf8_lossy(&v))
    }
}

/// Which bytes need escaping in a JSON string: 0 none; `b'u'` as `\u00XX`; else the letter
/// of a short escape.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[0x7f] = b'u';
    t
};

/// Copy `s` into `buf` at `p`; returns the index after it. The short pieces of a record (most
/// keys and values) are copied with two overlapping word moves instead of a call to memcpy.
#[inline(always)]
fn put(buf: &mut [u8], p: usize, s: &[u8]) -> usize {
    let n = s.len();
    let d = &mut buf[p..p + n];
    if n >= 8 {
        if n <= 16 {
            d[..8].copy_from_slice(&s[..8]);
            d[n - 8..].copy_from_slice(&s[n - 8..]);
        } else {
            d.copy_from_slice(s);
        }
    } else if n >= 4 {
        d[..4].copy_from_slice(&s[..4]);
        d[n - 4..].copy_from_slice(&s[n - 4..]);
    } else if n > 0 {
        // One to three bytes: the first, the middle and the last.
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
    p + n
}

/// Append `s` as a JSON string literal, escaped the way jq writes it.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    write_json_bytes(out, s.as_bytes());
}

/// [`write_json_str`] of text known to be UTF-8.
fn write_json_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(j) = next_escape(b, start) {
        let c = b[j];
        out.extend_from_slice(&b[start..j]);
        let e = ESCAPE[c as usize];
        if e == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 15) as usize]);
        } else {
            out.push(b'\\');
            out.push(e);
        }
        start = j + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// The first byte at or after `i` that needs escaping.
#[inline]
fn next_escape(b: &[u8], mut i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is always available on x86-64; the load reads b[i..i + 16],
            // which is in bounds.
            let m = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast());
                let max1f = _mm_set1_epi8(0x1F);
                let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, max1f), max1f);
                let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let bs = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(ctl, q), _mm_or_si128(bs, del)))
            };
            if m != 0 {
                return Some(i + m.trailing_zeros() as usize);
            }
            i += 16;
        }
    }
    (i..b.len()).find(|&j| ESCAPE[b[j] as usize] != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        Record::from(v.as_object().unwrap())
    }

    #[test]
    fn children_whose_keys_hash_alike_stay_apart() {
        // Same length, same first and last eight bytes: the same hash.
        let (a, b) = ("aaaaaaaaXbbbbbbbb", "aaaaaaaaYbbbbbbbb");
        assert_eq!(key_hash(a.as_bytes()), key_hash(b.as_bytes()));
        let mut r = Record::new();
        for name in [a, b, a, "x", b, "x"] {
            let id = r.add_child(ROOT, name);
            r.set_text(id, Type::String, name);
        }
        assert_eq!(
            r.to_json(),
            format!(r#"{{"{a}":["{a}","{a}"],"{b}":["{b}","{b}"],"x":["x","x"]}}"#)
        );
    }

    #[test]
    fn round_trips_through_serde_json() {
        let v = json!({"a": 1, "b": [true, null, "x\ny\"\u{7f}"], "c": {"d": -2.5e3, "e": {}}, "f": []});
        let r = rec(v.clone());
        assert_eq!(r.to_value(), v);
        let text = r.to_json();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        assert!(text.contains(r#""x\ny\"\u007f""#), "{text}");
    }

    #[test]
    fn records_with_and_without_anything_to_escape() {
        // The plain copy (nothing to escape anywhere in the record) and the escaping path
        // (one key or value needs it) write what serde_json writes.
        for v in [
            json!({"a": "x", "b": {"c": ["y", "z"], "d": null}}),
            json!({"a": "x", "b": {"c": ["y", "q\"uote"], "d": null}}),
            json!({"a": "x", "k\ney": {"c": ["y", "z"]}}),
            json!({"a": "tab\there", "n": 1, "t": true}),
        ] {
            let r = rec(v.clone());
            assert_eq!(r.to_json(), serde_json::to_string(&v).unwrap());
            let mut styled = Vec::new();
            r.root().write_json_styled(&mut styled, Some((b"<", b">")));
            let unstyled = String::from_utf8(styled)
                .unwrap()
                .replace("<\"", "\"")
                .replace("\">", "\"");
            assert_eq!(unstyled, r.to_json());
        }
    }

    #[test]
    fn escaping_at_every_offset() {
        for len in 1..40 {
            for at in 0..len {
                for c in ['"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', 'x'] {
                    let mut s: String = "a".repeat(len);
                    s.replace_range(at..at + 1, &c.to_string());
                    let mut out = Vec::new();
                    write_json_str(&mut out, &s);
                    let back: String = serde_json::from_slice(&out).unwrap();
                    assert_eq!(back, s);
                    let want = serde_json::to_string(&s)
                        .unwrap()
                        .replace('\u{7f}', "\\u007f");
                    assert_eq!(String::from_utf8(out).unwrap(), want);
                }
            }
        }
    }

    #[test]
    fn flat_records_write_as_the_walk_does() {
        // Flat records (every member a scalar or an empty array or object) take the short
        // way; the styled walk (with empty styles) is the reference.
        let walk = |r: &Record| {
            let mut out = Vec::new();
            r.root().write_json_styled(&mut out, Some((b"", b"")));
            String::from_utf8(out).unwrap()
        };
        let long = "x".repeat(70);
        for v in [
            json!({}),
            json!({"a": "x"}),
            json!({"": "", "k": null, "t": true, "f": false, "n": -1.5e3, "e": [], "o": {}}),
            json!({"abcdefgh": "12345678", "abcdefghi": "123456789", "s16": "0123456789abcdef", "s17": "0123456789abcdefg"}),
            json!({"q\"k": "a\\b", "c": "\u{1}\u{1f}\u{7f}\n", "u": "\u{2028}é"}),
            json!({"long": long, "a": "b"}),
        ] {
            let r = rec(v.clone());
            assert_eq!(r.to_json(), walk(&r), "{v}");
            assert_eq!(
                r.to_json(),
                serde_json::to_string(&v)
                    .unwrap()
                    .replace('\u{7f}', "\\u007f")
            );
        }
        // Appended to what is in the buffer already; a prepended field keeps its place.
        let mut r = rec(json!({"b": "2"}));
        r.prepend_str("a", "1");
        let mut out = b"xyz".to_vec();
        r.write_json(&mut out);
        assert_eq!(out, br#"xyz{"a":"1","b":"2"}"#);
        // Not flat: a member with items, and members under an array.
        let r = rec(json!({"a": [1, "x"], "b": {"c": null}}));
        assert_eq!(r.to_json(), walk(&r));
    }

    #[test]
    fn short_copies() {
        let src: Vec<u8> = (0..40).collect();
        for n in 0..40 {
            for p in [0, 1, 7] {
                let mut buf = vec![0xffu8; 50];
                assert_eq!(put(&mut buf, p, &src[..n]), p + n);
                assert_eq!(&buf[p..p + n], &src[..n]);
                assert!(buf[..p].iter().chain(&buf[p + n..]).all(|&b| b == 0xff));
            }
        }
    }

    #[test]
    fn scalars_added_in_one_step() {
        let mut r = Record::new();
        r.add_scalar(ROOT, "s", Type::String, "x");
        r.add_scalar(ROOT, "n", Type::Number, "12");
        r.add_scalar(ROOT, "b", Type::Bool, "true");
        r.add_scalar(ROOT, "z", Type::Null, "ignored");
        let a = r.add(ROOT, "", "a", Type::Array);
        r.add_scalar(a, "no key in an array", Type::String, "i");
        r.add_str(a, "@", "nor here", "j");
        let o = r.add(ROOT, "", "o", Type::Object);
        r.add_str(o, "@", "k", "v");
        assert_eq!(
            r.to_json(),
            r#"{"s":"x","n":12,"b":true,"z":null,"a":["i","j"],"o":{"@k":"v"}}"#
        );
        // Keys of every short length are found again by `add_child` (the hash of a key
        // under eight bytes is made from all of its bytes).
        let mut r = Record::new();
        let keys: Vec<String> = (0..9).map(|n| "k".repeat(n)).collect();
        for k in keys.iter().chain(&keys) {
            let id = r.add_child(ROOT, k);
            r.set_text(id, Type::String, k);
        }
        assert_eq!(r.len(), 9);
        assert!(r.fields().all(|(_, v)| v.ty() == Type::Array));
    }

    #[test]
    fn field_order_is_kept() {
        let mut r = Record::new();
        r.add_str(ROOT, "", "z", "1");
        r.add_str(ROOT, "@", "a", "2");
        assert_eq!(r.to_json(), r#"{"z":"1","@a":"2"}"#);
    }

    #[test]
    fn repeated_children_become_arrays_in_place() {
        let mut r = Record::new();
        let b1 = r.add_child(ROOT, "b");
        r.set_text(b1, Type::String, "1");
        let c = r.add_child(ROOT, "c");
        r.set_text(c, Type::Null, "");
        let b2 = r.add_child(ROOT, "b");
        r.set_text(b2, Type::String, "2");
        let b3 = r.add_child(ROOT, "b");
        r.add_str(b3, "@", "k", "v");
        assert_eq!(r.to_json(), r#"{"b":["1","2",{"@k":"v"}],"c":null}"#);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn lookup_paths() {
        let r = rec(json!({"a": {"b": [{"c": "x"}, {"c": "y"}]}, "n": 3}));
        let p = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(r.lookup(&p("a.b.1.c")).unwrap().as_str(), Some("y"));
        assert_eq!(r.lookup(&p("n")).unwrap().text(), "3");
        assert!(r.lookup(&p("a.x")).is_none());
        assert!(r.lookup(&p("n.x")).is_none());
    }

    #[test]
    fn equality_and_reuse() {
        let a = rec(json!({"a": [1, {"b": null}]}));
        let mut b = Record::new();
        b.add_str(ROOT, "", "junk", "junk");
        b.clear();
        b.fill_from_map(json!({"a": [1, {"b": null}]}).as_object().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, rec(json!({"a": [1, {"b": 0}]})));
        let mut c = Record::new();
        c.add_copy(ROOT, "copy", a.get("a").unwrap());
        assert_eq!(c.to_json(), r#"{"copy":[1,{"b":null}]}"#);
    }
    #[test]
    fn a_value_moved_into_an_array_keeps_its_children_reachable() {
        // <r><b><c>1</c><d><e>2</e></d></b><b>3</b></r>: the first b (with children) moves
        // into a new array; writing and copying walk up through the moved node.
        let mut r = Record::new();
        let b1 = r.add_child(ROOT, "b");
        let c = r.add_child(b1, "c");
        r.set_text(c, Type::String, "1");
        let d = r.add_child(b1, "d");
        let e = r.add_child(d, "e");
        r.set_text(e, Type::String, "2");
        let b2 = r.add_child(ROOT, "b");
        r.set_text(b2, Type::String, "3");
        r.add_str(ROOT, "", "z", "4");
        let want = r#"{"b":[{"c":"1","d":{"e":"2"}},"3"],"z":"4"}"#;
        assert_eq!(r.to_json(), want);
        let mut copy = Record::new();
        for (k, v) in r.fields() {
            copy.add_copy(ROOT, k, v);
        }
        assert_eq!(copy.to_json(), want);
        assert_eq!(copy, r);
        assert_eq!(r.to_value(), serde_json::from_str::<Value>(want).unwrap());
    }

    #[test]
    fn walks_over_a_deep_record_take_no_stack() {
        // A million nested arrays and objects: writing, copying and comparing are loops.
        let mut r = Record::new();
        let mut at = r.add(ROOT, "", "a", Type::Array);
        for i in 0..1_000_000 {
            let ty = if i % 2 == 0 {
                Type::Object
            } else {
                Type::Array
            };
            at = r.add(at, "", "k", ty);
        }
        r.add_str(at, "", "", "x");
        r.add_str(ROOT, "", "b", "y");
        let json = r.to_json();
        assert!(json.starts_with(r#"{"a":[{"k":[{"k":["#), "{}", &json[..40]);
        assert!(json.contains(r#"{"k":["x"]}]}"#));
        assert!(
            json.ends_with(r#"]}]}],"b":"y"}"#),
            "{}",
            &json[json.len() - 40..]
        );
        let mut c = Record::new();
        c.add_copy(ROOT, "a", r.get("a").unwrap());
        c.add_copy(ROOT, "b", r.get("b").unwrap());
        assert_eq!(c.to_json(), json);
        assert_eq!(c, r);
        c.add_str(at.min(3), "", "z", "different");
        assert_ne!(c, r);
        let mut out = Vec::new();
        r.get("a").unwrap().write_text(&mut out);
        assert_eq!(out.len(), json.len() - r#"{"a":,"b":"y"}"#.len());
    }
}
