"""What the demo provider says: realistic, deterministic answers built from the prompt.

The answers exist to exercise Scribe the way a real model does (prose and fenced code interleaved, several
languages, headings, lists, tables, inline code), so they are written as a model would write them rather than as
lorem ipsum. Every choice is drawn from a random generator seeded by the prompt, so one prompt always gives the same
text (tests and benchmarks compare against it) while different prompts look different.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ['LANGUAGES', 'TOPICS', 'demo_answer', 'is_long', 'is_tricky', 'seeded', 'topic_for']

LANGUAGES = ('python', 'typescript', 'rust', 'sql', 'bash')

LANGUAGE_NAMES = {'python': 'Python', 'typescript': 'TypeScript', 'rust': 'Rust', 'sql': 'SQL', 'bash': 'Bash'}

# Word-start matches so 'sorting' finds 'sort' but 'belong' does not find 'long'.
_LANGUAGE_WORDS = {
    'python': r'\bpython|\bpy\b|\bpip\b|\bdjango\b|\bflask\b',
    'typescript': r'\btypescript\b|\bts\b|\bjavascript\b|\bjs\b|\bnode\b|\bdeno\b',
    'rust': r'\brust\b|\brs\b|\bcargo\b',
    'sql': r'\bsql\b|\bpostgres|\bsqlite\b|\bmysql\b',
    'bash': r'\bbash\b|\bshell\b|\bsh\b|\bzsh\b',
}
_LONG_RE = re.compile(r'\blong\b|\blonger\b|\bbig\b|\bhuge\b|\b2,?000\b')
_TRICKY_RE = re.compile(r'unicode|tricky|\bxss\b')


def seeded(prompt: str, purpose: str) -> random.Random:
    """An independent generator per purpose, so changing how chunks are cut never changes the words."""
    digest = hashlib.sha256(f'{purpose}\0{prompt}'.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], 'big'))


def is_long(prompt: str) -> bool:
    return _LONG_RE.search(prompt.lower()) is not None


def is_tricky(prompt: str) -> bool:
    return _TRICKY_RE.search(prompt.lower()) is not None


@dataclass(frozen=True)
class Topic:
    key: str
    keywords: str  # a regex matched against the lower-cased prompt
    title: str
    subject: str  # completes 'Here is ... {subject}'
    summary: str
    bullets: tuple[str, ...]
    steps: tuple[str, ...]
    closing: tuple[str, ...]
    files: dict[str, str]
    snippets: dict[str, str]
    table: tuple[tuple[str, ...], ...] = ()
    preferred: tuple[str, ...] = ('python', 'typescript', 'rust')
    extras: tuple[str, ...] = ('bash', 'sql')


def _code(text: str) -> str:
    return text.strip('\n') + '\n'


SORTING = Topic(
    key='sorting',
    keywords=r'\bsort|\bsearch|\balgorithm|\bbinary\b|\bmerge\b|\bquick',
    title='Sorting and searching',
    subject='a stable merge sort together with a binary search',
    summary=('Merge sort splits the input in halves, sorts each half and merges them back, which makes it '
             '*stable* (equal keys keep their order) and always `O(n log n)`. Once the data is sorted, binary '
             'search finds an item in `O(log n)` comparisons.'),
    bullets=('**Stability** matters when you sort by one key after another: sort by name, then by department, '
             'and people stay alphabetical inside each department.',
             'Merge sort needs `O(n)` extra memory for the merge buffer; quicksort does not, but is not stable.',
             'Binary search only works on sorted input, and must be careful with the midpoint: '
             '`lo + (hi - lo) / 2` never overflows.',
             'In production code, prefer the standard library (`sorted`, `Array.prototype.sort`, `slice::sort`): '
             'they are tuned hybrids such as Timsort or pdqsort.'),
    steps=('`merge_sort` returns early for lists of zero or one item: they are already sorted.',
           'It sorts both halves recursively and then merges them, taking from the left half on ties, which is '
           'what keeps the sort stable.',
           '`binary_search` keeps the invariant that the target, if present, lies in `[lo, hi)`, and halves that '
           'range until it is empty.'),
    table=(('Algorithm', 'Average', 'Worst', 'Stable', 'Extra memory'),
           ('Merge sort', '`O(n log n)`', '`O(n log n)`', 'yes', '`O(n)`'),
           ('Quicksort', '`O(n log n)`', '`O(n²)`', 'no', '`O(log n)`'),
           ('Insertion sort', '`O(n²)`', '`O(n²)`', 'yes', '`O(1)`'),
           ('Timsort', '`O(n log n)`', '`O(n log n)`', 'yes', '`O(n)`')),
    closing=('If you only need the top *k* items, a heap (`heapq.nsmallest`, `BinaryHeap`) beats sorting everything.',
             'For nearly sorted data, insertion sort or Timsort runs close to `O(n)`: measure before optimising.',
             'Test sorting code with random inputs against the built-in sort; it catches off-by-one errors fast.'),
    files={'python': 'sorting.py', 'typescript': 'sorting.ts', 'rust': 'src/main.rs', 'sql': 'ranking.sql',
           'bash': 'top_sellers.sh'},
    snippets={
        'python': _code('''
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def merge_sort(items: Sequence[T], key: Callable[[T], object] = lambda x: x) -> list[T]:
    """Return a new, stably sorted list."""
    if len(items) <= 1:
        return list(items)
    middle = len(items) // 2
    left = merge_sort(items[:middle], key)
    right = merge_sort(items[middle:], key)
    merged: list[T] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if key(right[j]) < key(left[i]):  # strict: ties take from the left
            merged.append(right[j])
            j += 1
        else:
            merged.append(left[i])
            i += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    return merged


def binary_search(items: Sequence[int], target: int) -> int:
    """Index of target in sorted items, or -1."""
    lo, hi = 0, len(items)
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if items[mid] < target:
            lo = mid + 1
        elif items[mid] > target:
            hi = mid
        else:
            return mid
    return -1


if __name__ == "__main__":
    data = [38, 27, 43, 3, 9, 82, 10]
    ordered = merge_sort(data)
    print(ordered)                       # [3, 9, 10, 27, 38, 43, 82]
    print(binary_search(ordered, 43))    # 5
    print(binary_search(ordered, 7))     # -1
'''),
        'typescript': _code('''
type Compare<T> = (a: T, b: T) => number;

export function mergeSort<T>(items: readonly T[], compare: Compare<T>): T[] {
  if (items.length <= 1) return items.slice();
  const middle = Math.floor(items.length / 2);
  const left = mergeSort(items.slice(0, middle), compare);
  const right = mergeSort(items.slice(middle), compare);
  const merged: T[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    // `<= 0` keeps equal elements in their original order
    if (compare(left[i], right[j]) <= 0) merged.push(left[i++]);
    else merged.push(right[j++]);
  }
  return merged.concat(left.slice(i), right.slice(j));
}

export function binarySearch(items: readonly number[], target: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    if (items[mid] < target) lo = mid + 1;
    else if (items[mid] > target) hi = mid;
    else return mid;
  }
  return -1;
}

const people = [
  { name: "Ada", team: "compilers" },
  { name: "Grace", team: "compilers" },
  { name: "Linus", team: "kernels" },
];
const byTeam = mergeSort(people, (a, b) => a.team.localeCompare(b.team));
console.log(byTeam.map((p) => p.name)); // [ 'Ada', 'Grace', 'Linus' ]
console.log(binarySearch([1, 3, 5, 7, 9], 7)); // 3
'''),
        'rust': _code('''
/// Stable merge sort; returns a new vector.
fn merge_sort<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    if items.len() <= 1 {
        return items.to_vec();
    }
    let middle = items.len() / 2;
    let left = merge_sort(&items[..middle]);
    let right = merge_sort(&items[middle..]);
    let mut merged = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if right[j] < left[i] {
            merged.push(right[j].clone());
            j += 1;
        } else {
            merged.push(left[i].clone());
            i += 1;
        }
    }
    merged.extend_from_slice(&left[i..]);
    merged.extend_from_slice(&right[j..]);
    merged
}

/// Index of `target` in a sorted slice.
fn binary_search(items: &[i64], target: i64) -> Option<usize> {
    let (mut lo, mut hi) = (0usize, items.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match items[mid].cmp(&target) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

fn main() {
    let data = vec![38, 27, 43, 3, 9, 82, 10];
    let sorted = merge_sort(&data);
    println!("{:?}", sorted);
    println!("{:?}", binary_search(&sorted, 43)); // Some(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_std_sort() {
        let mut expected = vec![5, -1, 3, 3, 0, 12, -7];
        let actual = merge_sort(&expected);
        expected.sort();
        assert_eq!(actual, expected);
    }
}
'''),
        'sql': _code('''
-- Rank products inside each category, best sellers first.
SELECT
    category,
    name,
    units_sold,
    RANK() OVER (PARTITION BY category ORDER BY units_sold DESC) AS rank_in_category
FROM products
ORDER BY category, rank_in_category;

-- A B-tree index turns this lookup into a binary search instead of a full scan.
CREATE INDEX IF NOT EXISTS idx_products_sku ON products (sku);

SELECT name, price
FROM products
WHERE sku = 'SKU-10042';

-- Keyset pagination: stable ordering without OFFSET.
SELECT id, name, units_sold
FROM products
WHERE (units_sold, id) < (:last_units, :last_id)
ORDER BY units_sold DESC, id DESC
LIMIT 20;
'''),
        'bash': _code('''
#!/usr/bin/env bash
# Print the top N products by units sold from a CSV (sku,name,units).
set -euo pipefail

file="${1:?usage: $0 sales.csv [N]}"
top="${2:-10}"

if [[ ! -r "$file" ]]; then
    echo "cannot read $file" >&2
    exit 1
fi

# Skip the header, sort numerically on the 3rd column, highest first.
tail -n +2 "$file" \\
    | sort -t, -k3,3nr -k1,1 \\
    | head -n "$top" \\
    | awk -F, '{ printf "%-12s %-30s %8d\\n", $1, $2, $3 }'

# Binary search is built in: `look` searches a sorted file.
sort -o /tmp/skus.txt <(cut -d, -f1 "$file")
look "SKU-100" /tmp/skus.txt || echo "no SKU starting with SKU-100"
'''),
    },
)

HTTP = Topic(
    key='http',
    keywords=r'\bhttp|\bapi\b|\bapis\b|\bserver|\brest\b|\bendpoint|\bweb\b|\bservice',
    title='A small JSON API',
    subject='a small JSON API with create, list and fetch endpoints',
    summary=('The server keeps items in memory, answers `GET /items`, `GET /items/{id}` and `POST /items`, '
             'and returns proper status codes: `201` on create, `404` for a missing item and `400` for a body '
             'that is not valid JSON.'),
    bullets=('Validate input at the edge and return `400` with a message the client can show.',
             'Set `Content-Type: application/json` on every response, errors included.',
             'Keep handlers small: parse, call a function that does the work, serialise.',
             'Put a timeout on everything that talks to the network, on both sides.'),
    steps=('The router matches the method and path; anything else falls through to a `404`.',
           'The `POST` handler reads exactly `Content-Length` bytes, parses them and checks the `name` field.',
           'Every response goes through one helper, so headers and encoding are consistent.'),
    table=(('Method', 'Path', 'Success', 'Errors'),
           ('`GET`', '`/items`', '`200`', '-'),
           ('`GET`', '`/items/{id}`', '`200`', '`404`'),
           ('`POST`', '`/items`', '`201`', '`400`')),
    closing=('For anything beyond a prototype, add authentication and rate limits before the first deploy.',
             'Write the `curl` smoke test first; it doubles as documentation for the endpoints.',
             'Log one line per request with method, path, status and duration: it answers most questions later.'),
    files={'python': 'server.py', 'typescript': 'server.ts', 'rust': 'src/main.rs', 'sql': 'schema.sql',
           'bash': 'smoke_test.sh'},
    snippets={
        'python': _code('''
import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS: dict[int, dict[str, object]] = {}


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: HTTPStatus, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/items":
            return self._send(HTTPStatus.OK, list(ITEMS.values()))
        if self.path.startswith("/items/"):
            item_id = self.path.removeprefix("/items/")
            if item_id.isdigit() and int(item_id) in ITEMS:
                return self._send(HTTPStatus.OK, ITEMS[int(item_id)])
        self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/items":
            return self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})
        length = int(self.headers.get("Content-Length", 0))
        try:
            data = json.loads(self.rfile.read(length))
        except json.JSONDecodeError:
            return self._send(HTTPStatus.BAD_REQUEST, {"error": "invalid JSON"})
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return self._send(HTTPStatus.BAD_REQUEST, {"error": "'name' is required"})
        item = {"id": len(ITEMS) + 1, "name": data["name"]}
        ITEMS[item["id"]] = item
        self._send(HTTPStatus.CREATED, item)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 8000), Handler)
    print("listening on http://127.0.0.1:8000")
    server.serve_forever()
'''),
        'typescript': _code('''
import { createServer, IncomingMessage, ServerResponse } from "node:http";

interface Item {
  id: number;
  name: string;
}

const items = new Map<number, Item>();

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const server = createServer(async (req, res) => {
  const match = req.url?.match(/^\\/items(?:\\/(\\d+))?$/);
  if (!match) return send(res, 404, { error: "not found" });
  const id = match[1] ? Number(match[1]) : undefined;

  if (req.method === "GET" && id === undefined) return send(res, 200, [...items.values()]);
  if (req.method === "GET") {
    const item = items.get(id!);
    return item ? send(res, 200, item) : send(res, 404, { error: "not found" });
  }
  if (req.method === "POST" && id === undefined) {
    try {
      const body = (await readJson(req)) as Partial<Item>;
      if (typeof body.name !== "string") return send(res, 400, { error: "'name' is required" });
      const item: Item = { id: items.size + 1, name: body.name };
      items.set(item.id, item);
      return send(res, 201, item);
    } catch {
      return send(res, 400, { error: "invalid JSON" });
    }
  }
  send(res, 405, { error: "method not allowed" });
});

server.listen(8000, () => console.log("listening on http://localhost:8000"));
'''),
        'rust': _code('''
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize)]
struct Item {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct NewItem {
    name: String,
}

type Db = Arc<Mutex<HashMap<u64, Item>>>;

async fn list_items(State(db): State<Db>) -> Json<Vec<Item>> {
    Json(db.lock().unwrap().values().cloned().collect())
}

async fn get_item(State(db): State<Db>, Path(id): Path<u64>) -> Result<Json<Item>, StatusCode> {
    db.lock().unwrap().get(&id).cloned().map(Json).ok_or(StatusCode::NOT_FOUND)
}

async fn create_item(State(db): State<Db>, Json(new): Json<NewItem>) -> (StatusCode, Json<Item>) {
    let mut items = db.lock().unwrap();
    let item = Item { id: items.len() as u64 + 1, name: new.name };
    items.insert(item.id, item.clone());
    (StatusCode::CREATED, Json(item))
}

#[tokio::main]
async fn main() {
    let db: Db = Arc::default();
    let app = Router::new()
        .route("/items", get(list_items).post(create_item))
        .route("/items/:id", get(get_item))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await.unwrap();
    println!("listening on http://127.0.0.1:8000");
    axum::serve(listener, app).await.unwrap();
}
'''),
        'sql': _code('''
-- Storage behind the API once it outgrows a dictionary.
CREATE TABLE IF NOT EXISTS items (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TEXT    NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS request_log (
    id          INTEGER PRIMARY KEY,
    method      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    duration_ms REAL    NOT NULL,
    logged_at   TEXT    NOT NULL DEFAULT (datetime('now'))
);

-- POST /items
INSERT INTO items (name) VALUES (:name) RETURNING id, name;

-- Slowest endpoints in the last hour
SELECT method, path, COUNT(*) AS calls, ROUND(AVG(duration_ms), 1) AS avg_ms
FROM request_log
WHERE logged_at >= datetime('now', '-1 hour')
GROUP BY method, path
ORDER BY avg_ms DESC
LIMIT 10;
'''),
        'bash': _code('''
#!/usr/bin/env bash
# Smoke test for the items API: fails loudly on the first wrong status code.
set -euo pipefail

BASE="${BASE_URL:-http://127.0.0.1:8000}"

expect() {
    local want="$1"; shift
    local got
    got=$(curl -s -o /tmp/body.json -w '%{http_code}' --max-time 5 "$@")
    if [[ "$got" != "$want" ]]; then
        echo "FAIL: $* -> $got (wanted $want)" >&2
        cat /tmp/body.json >&2
        exit 1
    fi
    echo "ok   $want $*"
}

expect 201 -X POST -H 'Content-Type: application/json' -d '{"name": "first"}' "$BASE/items"
expect 200 "$BASE/items"
expect 200 "$BASE/items/1"
expect 404 "$BASE/items/999"
expect 400 -X POST -H 'Content-Type: application/json' -d 'not json' "$BASE/items"
echo "all checks passed"
'''),
    },
)

DATABASE = Topic(
    key='database',
    keywords=r'\bdatabase|\bsql\b|\bdb\b|\bquer|\btable|\bpostgres|\bsqlite|\bschema|\bmigration',
    title='Working with a relational database',
    subject='a small schema for authors and books, with the queries you will need first',
    summary=('The schema keeps authors and books in separate tables linked by a foreign key, with an index on '
             'the column every lookup uses. All queries use *parameters* (`?` or `:name`), never string '
             'formatting, which rules out SQL injection.'),
    bullets=('Turn on foreign keys in SQLite (`PRAGMA foreign_keys = ON`); they are off by default.',
             'Wrap related writes in one transaction: either all of them happen or none.',
             'Add an index for each column you filter or join on, and check the plan with `EXPLAIN QUERY PLAN`.',
             'Keep migrations in version control and apply them at start-up, in order.'),
    steps=('`connect` opens the database, enables foreign keys and returns rows that can be read by column name.',
           'The schema is idempotent (`IF NOT EXISTS`), so it can run on every start.',
           'The report query joins both tables and aggregates per author, newest first.'),
    table=(('Table', 'Key', 'Purpose'),
           ('`authors`', '`id`', 'one row per author'),
           ('`books`', '`id`, `author_id` → `authors.id`', 'one row per book')),
    closing=('When a query is slow, look at its plan before adding hardware.',
             'SQLite handles far more than people expect; move to PostgreSQL when you need many concurrent writers.',
             'Back up with the database\'s own tool (`.backup`, `pg_dump`), never by copying a live file.'),
    files={'python': 'library.py', 'typescript': 'library.ts', 'rust': 'src/main.rs', 'sql': 'library.sql',
           'bash': 'backup.sh'},
    preferred=('python', 'sql', 'typescript', 'rust'),
    extras=('sql', 'bash'),
    snippets={
        'python': _code('''
import sqlite3
from contextlib import closing

SCHEMA = """
CREATE TABLE IF NOT EXISTS authors (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS books (
    id        INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE,
    title     TEXT NOT NULL,
    year      INTEGER
);
CREATE INDEX IF NOT EXISTS idx_books_author ON books(author_id);
"""


def connect(path: str = "library.db") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SCHEMA)
    return conn


def add_book(conn: sqlite3.Connection, author: str, title: str, year: int | None = None) -> int:
    with conn:  # one transaction: both inserts or neither
        conn.execute("INSERT OR IGNORE INTO authors (name) VALUES (?)", (author,))
        (author_id,) = conn.execute("SELECT id FROM authors WHERE name = ?", (author,)).fetchone()
        cursor = conn.execute(
            "INSERT INTO books (author_id, title, year) VALUES (?, ?, ?)", (author_id, title, year)
        )
        return cursor.lastrowid


def books_per_author(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute(
        """
        SELECT a.name, COUNT(b.id) AS books, MAX(b.year) AS latest
        FROM authors a LEFT JOIN books b ON b.author_id = a.id
        GROUP BY a.id
        ORDER BY latest DESC
        """
    ).fetchall()


if __name__ == "__main__":
    with closing(connect(":memory:")) as conn:
        add_book(conn, "Ursula K. Le Guin", "A Wizard of Earthsea", 1968)
        add_book(conn, "Ursula K. Le Guin", "The Dispossessed", 1974)
        add_book(conn, "Octavia E. Butler", "Kindred", 1979)
        for row in books_per_author(conn):
            print(dict(row))
'''),
        'typescript': _code('''
import Database from "better-sqlite3";

const db = new Database("library.db");
db.pragma("foreign_keys = ON");
db.exec(`
  CREATE TABLE IF NOT EXISTS authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
  CREATE TABLE IF NOT EXISTS books (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    year INTEGER
  );
  CREATE INDEX IF NOT EXISTS idx_books_author ON books(author_id);
`);

const upsertAuthor = db.prepare("INSERT OR IGNORE INTO authors (name) VALUES (?)");
const authorId = db.prepare("SELECT id FROM authors WHERE name = ?").pluck();
const insertBook = db.prepare("INSERT INTO books (author_id, title, year) VALUES (?, ?, ?)");

export const addBook = db.transaction((author: string, title: string, year?: number) => {
  upsertAuthor.run(author);
  const id = authorId.get(author) as number;
  return insertBook.run(id, title, year ?? null).lastInsertRowid;
});

interface AuthorStats {
  name: string;
  books: number;
  latest: number | null;
}

export function booksPerAuthor(): AuthorStats[] {
  return db
    .prepare(
      `SELECT a.name, COUNT(b.id) AS books, MAX(b.year) AS latest
       FROM authors a LEFT JOIN books b ON b.author_id = a.id
       GROUP BY a.id ORDER BY latest DESC`,
    )
    .all() as AuthorStats[];
}

addBook("Octavia E. Butler", "Kindred", 1979);
console.table(booksPerAuthor());
'''),
        'rust': _code('''
use rusqlite::{params, Connection, Result};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE IF NOT EXISTS books (
        id INTEGER PRIMARY KEY,
        author_id INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        year INTEGER
    );
    CREATE INDEX IF NOT EXISTS idx_books_author ON books(author_id);
";

#[derive(Debug)]
struct AuthorStats {
    name: String,
    books: i64,
    latest: Option<i64>,
}

fn add_book(conn: &mut Connection, author: &str, title: &str, year: Option<i64>) -> Result<i64> {
    let tx = conn.transaction()?;
    tx.execute("INSERT OR IGNORE INTO authors (name) VALUES (?1)", params![author])?;
    let author_id: i64 =
        tx.query_row("SELECT id FROM authors WHERE name = ?1", params![author], |row| row.get(0))?;
    tx.execute(
        "INSERT INTO books (author_id, title, year) VALUES (?1, ?2, ?3)",
        params![author_id, title, year],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(id)
}

fn books_per_author(conn: &Connection) -> Result<Vec<AuthorStats>> {
    let mut stmt = conn.prepare(
        "SELECT a.name, COUNT(b.id), MAX(b.year)
         FROM authors a LEFT JOIN books b ON b.author_id = a.id
         GROUP BY a.id ORDER BY MAX(b.year) DESC",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(AuthorStats { name: row.get(0)?, books: row.get(1)?, latest: row.get(2)? })
    })?;
    rows.collect()
}

fn main() -> Result<()> {
    let mut conn = Connection::open_in_memory()?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.execute_batch(SCHEMA)?;
    add_book(&mut conn, "Octavia E. Butler", "Kindred", Some(1979))?;
    add_book(&mut conn, "Ursula K. Le Guin", "The Dispossessed", Some(1974))?;
    for stats in books_per_author(&conn)? {
        println!("{stats:?}");
    }
    Ok(())
}
'''),
        'sql': _code('''
PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS authors (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS books (
    id        INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE,
    title     TEXT    NOT NULL,
    year      INTEGER CHECK (year BETWEEN 1000 AND 2100)
);

CREATE INDEX IF NOT EXISTS idx_books_author ON books(author_id);

BEGIN;
INSERT OR IGNORE INTO authors (name) VALUES ('Octavia E. Butler');
INSERT INTO books (author_id, title, year)
SELECT id, 'Kindred', 1979 FROM authors WHERE name = 'Octavia E. Butler';
COMMIT;

-- Books per author, with each author's most recent title.
WITH ranked AS (
    SELECT
        a.name,
        b.title,
        b.year,
        ROW_NUMBER() OVER (PARTITION BY a.id ORDER BY b.year DESC) AS rn,
        COUNT(*)     OVER (PARTITION BY a.id)                      AS total
    FROM authors a
    JOIN books b ON b.author_id = a.id
)
SELECT name, total AS books, title AS latest_title, year AS latest_year
FROM ranked
WHERE rn = 1
ORDER BY latest_year DESC;

EXPLAIN QUERY PLAN
SELECT title FROM books WHERE author_id = 1;
'''),
        'bash': _code('''
#!/usr/bin/env bash
# Consistent online backup of a SQLite database, keeping the last 7 copies.
set -euo pipefail

db="${1:-library.db}"
dest="${BACKUP_DIR:-$HOME/backups}"
stamp="$(date +%Y%m%d-%H%M%S)"
keep=7

mkdir -p "$dest"
target="$dest/$(basename "$db" .db)-$stamp.db"

# .backup uses SQLite's backup API: safe while the app is writing.
sqlite3 "$db" ".backup '$target'"
sqlite3 "$target" "PRAGMA integrity_check;" | grep -qx ok || {
    echo "integrity check failed for $target" >&2
    exit 1
}
gzip -9 "$target"

# Delete all but the newest $keep backups.
ls -1t "$dest"/*.db.gz | tail -n +"$((keep + 1))" | xargs -r rm --
echo "backed up $db to $target.gz"
'''),
    },
)

CLI = Topic(
    key='cli',
    keywords=r'\bcli\b|\bcommand|\bargument|\bargv\b|\bterminal|\bflag|\boption|\btool\b',
    title='A command-line tool',
    subject='a command-line word counter with flags, help text and proper exit codes',
    summary=('The tool counts lines, words and characters like `wc`, reads files or standard input, and '
             'supports `--top N` to list the most frequent words. Errors go to *stderr* with a non-zero exit '
             'status, so it composes in pipelines.'),
    bullets=('Use the argument parser your language ships with (or the de facto one); it gives you `--help` free.',
             'Read from standard input when no file is given, so `cat a b | tool` works.',
             'Write results to stdout and diagnostics to stderr.',
             'Exit with `0` on success, `1` on a runtime error and `2` on bad usage.'),
    steps=('The parser declares each option once, with its type, default and help text.',
           'Input is streamed line by line, so a 10 GB file does not need 10 GB of memory.',
           'A `Counter` (or a hash map) tallies the words; `--top` prints the most common ones.'),
    table=(('Flag', 'Meaning', 'Default'),
           ('`-l`, `--lines`', 'print only the line count', 'off'),
           ('`--top N`', 'list the N most common words', '`0`'),
           ('`-i`', 'ignore case when counting words', 'off')),
    closing=('Add a `--version` flag early; bug reports become much easier to read.',
             'Shell completion scripts are cheap to generate from the parser and users love them.',
             'Test a CLI by calling its `main(argv)` function directly, not by spawning processes.'),
    files={'python': 'wordcount.py', 'typescript': 'wordcount.ts', 'rust': 'src/main.rs', 'sql': 'todo.sql',
           'bash': 'wordcount.sh'},
    snippets={
        'python': _code('''
import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable

WORD = re.compile(r"[\\w']+")


def count(lines: Iterable[str], ignore_case: bool) -> tuple[int, int, int, Counter[str]]:
    n_lines = n_words = n_chars = 0
    words: Counter[str] = Counter()
    for line in lines:
        n_lines += 1
        n_chars += len(line)
        found = WORD.findall(line.lower() if ignore_case else line)
        n_words += len(found)
        words.update(found)
    return n_lines, n_words, n_chars, words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wordcount", description="Count lines, words and characters.")
    parser.add_argument("files", nargs="*", type=argparse.FileType("r"), default=[sys.stdin])
    parser.add_argument("-l", "--lines", action="store_true", help="print only the line count")
    parser.add_argument("-i", "--ignore-case", action="store_true", help="fold case when counting words")
    parser.add_argument("--top", type=int, default=0, metavar="N", help="list the N most common words")
    args = parser.parse_args(argv)
    if args.top < 0:
        parser.error("--top must be zero or more")

    everything: Counter[str] = Counter()
    for handle in args.files:
        lines, words, chars, frequency = count(handle, args.ignore_case)
        everything.update(frequency)
        if args.lines:
            print(f"{lines:8} {handle.name}")
        else:
            print(f"{lines:8} {words:8} {chars:8} {handle.name}")
    for word, n in everything.most_common(args.top):
        print(f"{n:8} {word}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `wordcount big.txt | head` is not an error
        sys.exit(0)
'''),
        'typescript': _code('''
#!/usr/bin/env node
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    lines: { type: "boolean", short: "l", default: false },
    "ignore-case": { type: "boolean", short: "i", default: false },
    top: { type: "string", default: "0" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log("usage: wordcount [-l] [-i] [--top N] [file ...]");
  process.exit(0);
}
const top = Number(values.top);
if (!Number.isInteger(top) || top < 0) {
  console.error("wordcount: --top must be a non-negative integer");
  process.exit(2);
}

async function countFile(path: string | undefined, freq: Map<string, number>) {
  const input = path ? createReadStream(path) : process.stdin;
  let lines = 0, words = 0, chars = 0;
  for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
    const line = values["ignore-case"] ? raw.toLowerCase() : raw;
    lines += 1;
    chars += raw.length + 1;
    for (const word of line.match(/[\\p{L}\\p{N}']+/gu) ?? []) {
      words += 1;
      freq.set(word, (freq.get(word) ?? 0) + 1);
    }
  }
  return { lines, words, chars, name: path ?? "-" };
}

const freq = new Map<string, number>();
for (const file of positionals.length ? positionals : [undefined]) {
  const r = await countFile(file, freq);
  console.log(values.lines ? `${r.lines}\\t${r.name}` : `${r.lines}\\t${r.words}\\t${r.chars}\\t${r.name}`);
}
[...freq].sort((a, b) => b[1] - a[1]).slice(0, top).forEach(([w, n]) => console.log(`${n}\\t${w}`));
'''),
        'rust': _code('''
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

use clap::Parser;

/// Count lines, words and characters.
#[derive(Parser)]
#[command(name = "wordcount", version)]
struct Args {
    /// Files to read; standard input when none are given
    files: Vec<PathBuf>,
    /// Print only the line count
    #[arg(short, long)]
    lines: bool,
    /// Fold case when counting words
    #[arg(short, long)]
    ignore_case: bool,
    /// List the N most common words
    #[arg(long, default_value_t = 0, value_name = "N")]
    top: usize,
}

fn count(reader: impl BufRead, fold: bool, freq: &mut HashMap<String, usize>) -> io::Result<(usize, usize, usize)> {
    let (mut lines, mut words, mut chars) = (0, 0, 0);
    for line in reader.lines() {
        let line = line?;
        lines += 1;
        chars += line.chars().count() + 1;
        for word in line.split_whitespace() {
            words += 1;
            let key = if fold { word.to_lowercase() } else { word.to_string() };
            *freq.entry(key).or_default() += 1;
        }
    }
    Ok((lines, words, chars))
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let mut freq = HashMap::new();
    if args.files.is_empty() {
        let (l, w, c) = count(io::stdin().lock(), args.ignore_case, &mut freq)?;
        println!("{l:8} {w:8} {c:8} -");
    }
    for path in &args.files {
        let (l, w, c) = count(BufReader::new(File::open(path)?), args.ignore_case, &mut freq)?;
        let name = path.display();
        if args.lines { println!("{l:8} {name}") } else { println!("{l:8} {w:8} {c:8} {name}") }
    }
    let mut ranked: Vec<_> = freq.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (word, n) in ranked.into_iter().take(args.top) {
        println!("{n:8} {word}");
    }
    Ok(())
}
'''),
        'sql': _code('''
-- Storage for a `todo` command-line tool: `todo add`, `todo list`, `todo done 3`.
CREATE TABLE IF NOT EXISTS tasks (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL,
    priority   INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 3),
    done_at    TEXT,
    created_at TEXT    NOT NULL DEFAULT (datetime('now'))
);

-- todo add "write the release notes" --priority 1
INSERT INTO tasks (title, priority) VALUES (:title, :priority);

-- todo list
SELECT id, priority, title
FROM tasks
WHERE done_at IS NULL
ORDER BY priority, created_at;

-- todo done 3
UPDATE tasks SET done_at = datetime('now') WHERE id = :id AND done_at IS NULL;
'''),
        'bash': _code('''
#!/usr/bin/env bash
# wordcount: count lines, words and characters; --top N lists the most common words.
set -euo pipefail

usage() {
    echo "usage: ${0##*/} [-l] [-i] [-t N] [file ...]" >&2
    exit 2
}

lines_only=0 fold=0 top=0
while getopts ":lit:h" opt; do
    case "$opt" in
        l) lines_only=1 ;;
        i) fold=1 ;;
        t) [[ "$OPTARG" =~ ^[0-9]+$ ]] || usage; top="$OPTARG" ;;
        h) usage ;;
        \\?) echo "unknown option -$OPTARG" >&2; usage ;;
        :) echo "option -$OPTARG needs a value" >&2; usage ;;
    esac
done
shift $((OPTIND - 1))

if (( lines_only )); then
    wc -l -- "${@:--}"
else
    wc -lwm -- "${@:--}"
fi

if (( top > 0 )); then
    cat -- "${@:--}" \\
        | { if (( fold )); then tr '[:upper:]' '[:lower:]'; else cat; fi; } \\
        | tr -cs "[:alnum:]'" '\\n' \\
        | sort | uniq -c | sort -rn | head -n "$top"
fi
'''),
    },
)

PARSER = Topic(
    key='parser',
    keywords=r'\bpars|\blexer|\btoken|\bgrammar|\bexpression|\bjson\b|\bcalculator|\binterpret|\bcompil',
    title='A recursive-descent expression parser',
    subject='a tokenizer and recursive-descent parser for arithmetic expressions',
    summary=('The parser has one loop per precedence level, so `1 + 2 * 3` parses as `1 + (2 * 3)` without '
             'any precedence table. The tokenizer turns characters into numbers, operators and parentheses, '
             'and every error reports the position where it happened.'),
    bullets=('`expr := term (("+" | "-") term)*` is the lowest precedence level.',
             '`term := factor (("*" | "/") factor)*` binds tighter.',
             '`factor := NUMBER | "-" factor | "(" expr ")"` handles literals, unary minus and grouping.',
             'Left-associativity comes from the loop: `8 - 3 - 2` is `(8 - 3) - 2`.'),
    steps=('`tokenize` scans the input once with a regular expression and rejects any character it does not know.',
           'Each precedence level consumes its operands from the next tighter level, and `factor` handles '
           'numbers, unary minus and parentheses.',
           'After parsing, the parser checks that every token was consumed, so `1 2` is an error, not `1`.'),
    table=(('Input', 'Result'),
           ('`1 + 2 * 3`', '`7`'),
           ('`(1 + 2) * 3`', '`9`'),
           ('`8 - 3 - 2`', '`3`'),
           ('`2 * (3`', 'error: expected `)` at 6')),
    closing=('To build a tree instead of a value, return nodes from each method and evaluate them separately.',
             'For bigger grammars, a Pratt parser keeps the code short as operators multiply.',
             'Fuzz the parser with random strings: it must never crash, only report errors.'),
    files={'python': 'calc.py', 'typescript': 'calc.ts', 'rust': 'src/main.rs', 'sql': 'parse.sql',
           'bash': 'parse_config.sh'},
    snippets={
        'python': _code('''
import operator
import re

TOKEN = re.compile(r"\\s*(?:(\\d+(?:\\.\\d*)?)|(\\S))")
BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
LEVELS = [("+", "-"), ("*", "/")]  # lowest precedence first


def tokenize(text: str) -> list[tuple[str, int]]:
    """(token, position) pairs, ending with ("", len(text))."""
    tokens = [(m.group(m.lastindex), m.start(m.lastindex)) for m in TOKEN.finditer(text)]
    for token, pos in tokens:
        if not (token[0].isdigit() or token in "+-*/()"):
            raise SyntaxError(f"unexpected {token!r} at {pos}")
    return tokens + [("", len(text))]


def evaluate(text: str) -> float:
    tokens = tokenize(text)
    i = 0

    def take(expected: str | None = None) -> str:
        nonlocal i
        token, pos = tokens[i]
        if expected is not None and token != expected:
            raise SyntaxError(f"expected {expected or 'end'!r} at {pos}")
        i += 1
        return token

    def level(n: int) -> float:
        """Operands of level n + 1 joined by level n's operators, left to right: 8 - 3 - 2 is (8 - 3) - 2."""
        if n == len(LEVELS):
            return factor()
        value = level(n + 1)
        while tokens[i][0] in LEVELS[n]:
            value = BINARY[take()](value, level(n + 1))
        return value

    def factor() -> float:
        token = take()
        if token == "-":
            return -factor()
        if token == "(":
            value = level(0)
            take(")")
            return value
        if not token[:1].isdigit():
            raise SyntaxError(f"unexpected {token or 'end'!r} at {tokens[i - 1][1]}")
        return float(token)

    value = level(0)
    take("")  # everything must be consumed: "1 2" is an error
    return value


for source in ["1 + 2 * 3", "(1 + 2) * 3", "8 - 3 - 2", "2 * (3"]:
    try:
        print(source, "=", evaluate(source))
    except SyntaxError as error:
        print(source, "->", error.msg)
'''),
        'typescript': _code('''
type Token = { kind: "num" | "op" | "end"; text: string; pos: number };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const re = /\\s*(?:(\\d+(?:\\.\\d+)?)|([-+*/^()]))/y;
  let pos = 0;
  while (pos < src.length) {
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) {
      if (/^\\s*$/.test(src.slice(pos))) break;
      throw new SyntaxError(`unexpected '${src[pos]}' at ${pos}`);
    }
    tokens.push(m[1] ? { kind: "num", text: m[1], pos: m.index } : { kind: "op", text: m[2], pos: m.index });
    pos = re.lastIndex;
  }
  tokens.push({ kind: "end", text: "", pos: src.length });
  return tokens;
}

// Pratt parser: each operator has a binding power; `^` is right-associative.
const POWER: Record<string, [number, number]> = { "+": [1, 2], "-": [1, 2], "*": [3, 4], "/": [3, 4], "^": [6, 5] };

export function evaluate(src: string): number {
  const tokens = tokenize(src);
  let i = 0;
  const next = () => tokens[i++];
  const peek = () => tokens[i];

  function parse(minPower: number): number {
    const t = next();
    let left: number;
    if (t.kind === "num") left = Number(t.text);
    else if (t.text === "-") left = -parse(5);
    else if (t.text === "(") {
      left = parse(0);
      if (next().text !== ")") throw new SyntaxError(`expected ')' at ${tokens[i - 1].pos}`);
    } else throw new SyntaxError(`unexpected '${t.text || "end"}' at ${t.pos}`);

    for (;;) {
      const op = peek();
      const power = POWER[op.text];
      if (op.kind !== "op" || !power || power[0] < minPower) return left;
      next();
      const right = parse(power[1]);
      left = op.text === "+" ? left + right : op.text === "-" ? left - right
        : op.text === "*" ? left * right : op.text === "/" ? left / right : left ** right;
    }
  }

  const value = parse(0);
  if (peek().kind !== "end") throw new SyntaxError(`unexpected '${peek().text}' at ${peek().pos}`);
  return value;
}

for (const src of ["1 + 2 * 3", "2 ^ 3 ^ 2", "(1 + 2) * 3", "2 * (3"]) {
  try { console.log(src, "=", evaluate(src)); } catch (e) { console.log(src, "->", (e as Error).message); }
}
'''),
        'rust': _code('''
/// expr := term (('+' | '-') term)*, term := factor (('*' | '/') factor)*, factor := number | '-' factor | '(' expr ')'
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&mut self) -> Option<char> {
        self.pos += self.chars[self.pos..].iter().take_while(|c| c.is_whitespace()).count();
        self.chars.get(self.pos).copied()
    }

    /// One precedence level: operands from `next`, joined left to right by `ops`.
    fn binary(&mut self, ops: [char; 2], next: fn(&mut Self) -> Result<f64, String>) -> Result<f64, String> {
        let mut value = next(self)?;
        while let Some(op) = self.peek().filter(|c| ops.contains(c)) {
            self.pos += 1;
            let rhs = next(self)?;
            value = match op { '+' => value + rhs, '-' => value - rhs, '*' => value * rhs, _ => value / rhs };
        }
        Ok(value)
    }

    fn expr(&mut self) -> Result<f64, String> { self.binary(['+', '-'], Parser::term) }

    fn term(&mut self) -> Result<f64, String> { self.binary(['*', '/'], Parser::factor) }

    fn factor(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('-') => { self.pos += 1; Ok(-self.factor()?) }
            Some('(') => {
                self.pos += 1;
                let value = self.expr()?;
                match self.peek() {
                    Some(')') => { self.pos += 1; Ok(value) }
                    _ => Err(format!("expected ')' at {}", self.pos)),
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += self.chars[start..].iter().take_while(|c| c.is_ascii_digit() || **c == '.').count();
                let text: String = self.chars[start..self.pos].iter().collect();
                text.parse().map_err(|_| format!("bad number {text:?} at {start}"))
            }
            other => Err(format!("unexpected {other:?} at {}", self.pos)),
        }
    }
}

fn evaluate(src: &str) -> Result<f64, String> {
    let mut parser = Parser { chars: src.chars().collect(), pos: 0 };
    let value = parser.expr()?;
    parser.peek().map_or(Ok(value), |c| Err(format!("unexpected {c:?} at {}", parser.pos)))
}

fn main() {
    for src in ["1 + 2 * 3", "(1 + 2) * 3", "8 - 3 - 2", "2 * (3"] {
        println!("{src} => {:?}", evaluate(src));
    }
}
'''),
        'sql': _code('''
-- Parse a "key=value;key=value" settings string into rows with a recursive CTE.
WITH RECURSIVE split(pair, rest) AS (
    SELECT '', 'theme=dark;font_size=14;wrap=on' || ';'
    UNION ALL
    SELECT
        substr(rest, 1, instr(rest, ';') - 1),
        substr(rest, instr(rest, ';') + 1)
    FROM split
    WHERE rest <> ''
)
SELECT
    substr(pair, 1, instr(pair, '=') - 1)  AS key,
    substr(pair, instr(pair, '=') + 1)     AS value
FROM split
WHERE pair <> '';

-- Pull fields out of JSON documents (SQLite JSON1 / PostgreSQL ->> work alike).
SELECT
    json_extract(payload, '$.user.name')   AS user_name,
    json_extract(payload, '$.items[0].sku') AS first_sku
FROM events
WHERE json_valid(payload);
'''),
        'bash': _code('''
#!/usr/bin/env bash
# Parse a simple INI-style config file into shell variables: section_key=value.
set -euo pipefail

config="${1:-app.conf}"
section=""
lineno=0

while IFS= read -r line || [[ -n "$line" ]]; do
    lineno=$((lineno + 1))
    line="${line%%#*}"                      # strip comments
    line="${line#"${line%%[![:space:]]*}"}" # trim leading space
    line="${line%"${line##*[![:space:]]}"}" # trim trailing space
    [[ -z "$line" ]] && continue

    if [[ "$line" =~ ^\\[([A-Za-z0-9_]+)\\]$ ]]; then
        section="${BASH_REMATCH[1]}"
    elif [[ "$line" =~ ^([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
        key="${section:+${section}_}${BASH_REMATCH[1]}"
        printf -v "$key" '%s' "${BASH_REMATCH[2]}"
        echo "$key=${!key}"
    else
        echo "$config:$lineno: cannot parse: $line" >&2
        exit 1
    fi
done < "$config"
'''),
    },
)

CACHE = Topic(
    key='cache',
    keywords=r'\bcache|\blru\b|\bmemo|\bttl\b|\bexpir',
    title='A least-recently-used cache',
    subject='an LRU cache with a size limit and optional time-to-live',
    summary=('An LRU cache keeps the most recently used entries and evicts the one that has gone unused the '
             'longest once it is full. With a hash map for lookups and an ordered structure for recency, both '
             '`get` and `put` are `O(1)`.'),
    bullets=('Every `get` that hits moves the entry to the *most recent* end.',
             'A `put` on a full cache evicts from the *least recent* end first.',
             'A time-to-live (`ttl`) bounds how stale an entry can be, independently of the size limit.',
             'Count hits and misses: a cache with a low hit rate only adds latency and memory.'),
    steps=('The map from key to entry gives `O(1)` lookups.',
           'The recency order is kept by an ordered map (or a linked list), so moving and evicting are `O(1)`.',
           'Expired entries are dropped lazily, when they are read, which keeps `put` cheap.'),
    table=(('Operation', 'Cost', 'Effect on order'),
           ('`get` (hit)', '`O(1)`', 'moves to most recent'),
           ('`get` (miss)', '`O(1)`', 'none'),
           ('`put`', '`O(1)`', 'inserts as most recent, may evict')),
    closing=('Before writing your own, check the standard library: `functools.lru_cache` covers many cases.',
             'Caches need invalidation: decide up front which writes make which entries stale.',
             'Measure the hit rate under real traffic before tuning the size.'),
    files={'python': 'lru.py', 'typescript': 'lru.ts', 'rust': 'src/lru.rs', 'sql': 'cache.sql',
           'bash': 'cached.sh'},
    snippets={
        'python': _code('''
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A size-bounded cache that forgets the least recently used entry first."""

    def __init__(self, capacity: int, ttl: float | None = None) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.ttl = ttl
        self.hits = self.misses = 0
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, default: V | None = None) -> V | None:
        entry = self._data.get(key)
        if entry is None or (self.ttl is not None and time.monotonic() - entry[0] > self.ttl):
            self._data.pop(key, None)
            self.misses += 1
            return default
        self._data.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._data[key] = (time.monotonic(), value)
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


cache: LRUCache[str, int] = LRUCache(capacity=2)
cache.put("a", 1)
cache.put("b", 2)
cache.get("a")        # "a" is now the most recent
cache.put("c", 3)     # evicts "b"
print(cache.get("b"), cache.get("a"), cache.hits, cache.misses)  # None 1 2 1
'''),
        'typescript': _code('''
export class LRUCache<K, V> {
  private readonly entries = new Map<K, { value: V; storedAt: number }>();
  hits = 0;
  misses = 0;

  constructor(private readonly capacity: number, private readonly ttlMs?: number) {
    if (capacity <= 0) throw new RangeError("capacity must be positive");
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry || (this.ttlMs !== undefined && Date.now() - entry.storedAt > this.ttlMs)) {
      this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    // A Map iterates in insertion order: re-inserting marks the entry most recent.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.hits++;
    return entry.value;
  }

  set(key: K, value: V): this {
    this.entries.delete(key);
    this.entries.set(key, { value, storedAt: Date.now() });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as K;
      this.entries.delete(oldest);
    }
    return this;
  }

  get size(): number {
    return this.entries.size;
  }
}

const cache = new LRUCache<string, number>(2);
cache.set("a", 1).set("b", 2);
cache.get("a");
cache.set("c", 3); // evicts "b"
console.log(cache.get("b"), cache.get("a"), cache.hits, cache.misses); // undefined 1 2 1
'''),
        'rust': _code('''
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// LRU cache: a hash map for lookups plus an ordered index of "last used" ticks, whose first key is always
/// the least recently used entry. `get` and `put` are O(log n).
pub struct LruCache<K, V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<K, (V, u64)>,
    by_age: BTreeMap<u64, K>,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be positive");
        LruCache { capacity, tick: 0, entries: HashMap::new(), by_age: BTreeMap::new() }
    }

    /// Mark `key` as just used; false when it is not cached.
    fn touch(&mut self, key: &K) -> bool {
        let Some((_, used)) = self.entries.get_mut(key) else { return false };
        self.tick += 1;
        self.by_age.remove(used);
        *used = self.tick;
        self.by_age.insert(self.tick, key.clone());
        true
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        if self.touch(key) { self.entries.get(key).map(|(value, _)| value) } else { None }
    }

    pub fn put(&mut self, key: K, value: V) {
        if self.touch(&key) {
            self.entries.get_mut(&key).expect("touched").0 = value;
            return;
        }
        if self.entries.len() == self.capacity {
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        self.tick += 1;
        self.by_age.insert(self.tick, key.clone());
        self.entries.insert(key, (value, self.tick));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

fn main() {
    let mut cache = LruCache::new(2);
    cache.put("a", 1);
    cache.put("b", 2);
    cache.get(&"a"); // "a" is now the most recent
    cache.put("c", 3); // evicts "b"
    println!("{:?} {:?} {}", cache.get(&"b"), cache.get(&"a"), cache.len()); // None Some(1) 2
}
'''),
        'sql': _code('''
-- A cache table with expiry, for results that are expensive to compute.
CREATE TABLE IF NOT EXISTS cache (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    expires_at INTEGER NOT NULL,          -- unix seconds
    hits       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS idx_cache_expires ON cache (expires_at);

-- put: insert or replace, with a TTL of 300 seconds
INSERT INTO cache (key, value, expires_at)
VALUES (:key, :value, unixepoch() + 300)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at;

-- get: only fresh entries count
UPDATE cache SET hits = hits + 1
WHERE key = :key AND expires_at > unixepoch()
RETURNING value;

-- purge, e.g. from a periodic job
DELETE FROM cache WHERE expires_at <= unixepoch();
'''),
        'bash': _code('''
#!/usr/bin/env bash
# cached: run a command, reusing its output for TTL seconds.
# usage: cached [-t SECONDS] command [args...]
set -euo pipefail

ttl=300
if [[ "${1:-}" == "-t" ]]; then
    ttl="$2"
    shift 2
fi
(( $# > 0 )) || { echo "usage: cached [-t SECONDS] command [args...]" >&2; exit 2; }

dir="${XDG_CACHE_HOME:-$HOME/.cache}/cached"
mkdir -p "$dir"
key="$(printf '%s\\0' "$@" | sha256sum | cut -d' ' -f1)"
file="$dir/$key"

if [[ -f "$file" ]] && (( $(date +%s) - $(stat -c %Y "$file") < ttl )); then
    cat "$file"
    exit 0
fi

tmp="$(mktemp "$dir/.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$@" > "$tmp"
mv "$tmp" "$file"    # atomic: readers never see half a file
cat "$file"
'''),
    },
)

TOPICS: tuple[Topic, ...] = (SORTING, HTTP, DATABASE, CLI, PARSER, CACHE)
DEFAULT_TOPIC = CACHE

_RUN_COMMANDS = {
    'python': 'python3 -m venv .venv && . .venv/bin/activate\npython {file}',
    'typescript': 'npm install --save-dev typescript tsx @types/node\nnpx tsx {file}',
    'rust': 'cargo new demo && cd demo\n# put the code in {file}, then:\ncargo run --release',
    'sql': 'sqlite3 demo.db < {file}\nsqlite3 -header -column demo.db "SELECT * FROM sqlite_master;"',
    'bash': 'chmod +x {file}\n./{file} --help\nshellcheck {file}',
}

_INTROS = (
    'Here is {subject}, written in {language}.',
    'Sure! Below is {subject} in {language}, with a short explanation afterwards.',
    'Good question. Let me show {subject} in {language} and then walk through it.',
    'A compact way to do this in {language} is {subject}.',
)

_OTHER_LANGUAGE_INTROS = (
    'For comparison, the same idea in {language}:',
    'If you need it in {language} as well, it translates almost line for line:',
    'And here is a {language} version:',
)

_HEADINGS = ('## The code', '## Implementation', '## A working example', '## Solution')
_EXPLAIN_HEADINGS = ('### How it works', '### Walkthrough', '### What is going on')
_RUN_LEADS = ('To run it:', 'Try it out:', 'Running it:')
_NOTES_HEADINGS = ('### Things to keep in mind', '### Notes', '### Key points')


def topic_for(prompt: str) -> Topic:
    """The topic whose keywords appear earliest in the prompt, so 'a CLI that parses JSON' is about CLIs."""
    text = prompt.lower()
    best: tuple[int, int] | None = None
    chosen = DEFAULT_TOPIC
    for order, topic in enumerate(TOPICS):
        match = re.search(topic.keywords, text)
        if match is not None and (best is None or (match.start(), order) < best):
            best = (match.start(), order)
            chosen = topic
    return chosen


def language_for(prompt: str, topic: Topic, rng: random.Random) -> str:
    """The language named earliest in the prompt, else one the topic suits, picked by the prompt's seed."""
    text = prompt.lower()
    best: tuple[int, int] | None = None
    chosen = ''
    for order, (language, words) in enumerate(_LANGUAGE_WORDS.items()):
        match = re.search(words, text)
        if match is not None and (best is None or (match.start(), order) < best):
            best = (match.start(), order)
            chosen = language
    return chosen or rng.choice(topic.preferred)


def _fence(language: str, code: str) -> str:
    return f'```{language}\n{code}```\n'


def _table(rows: tuple[tuple[str, ...], ...]) -> str:
    header, *body = rows
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join('---' for _ in header) + '|']
    lines.extend('| ' + ' | '.join(row) + ' |' for row in body)
    return '\n'.join(lines) + '\n'


def _topic_answer(prompt: str, rng: random.Random) -> str:
    topic = topic_for(prompt)
    language = language_for(prompt, topic, rng)
    name = LANGUAGE_NAMES[language]
    parts: list[str] = []
    if not prompt.strip():
        parts.append('You did not ask anything yet, so here is something useful while you think of a question.\n')
    parts.append(rng.choice(_INTROS).format(subject=topic.subject, language=name) + '\n')
    parts.append(f'{rng.choice(_HEADINGS)}: {topic.title.lower()}\n')
    parts.append(topic.summary + '\n')
    bullets = list(topic.bullets)
    rng.shuffle(bullets)
    parts.append(''.join(f'- {bullet}\n' for bullet in bullets[:rng.randint(3, len(bullets))]))
    parts.append(_fence(language, topic.snippets[language]))
    parts.append(rng.choice(_EXPLAIN_HEADINGS) + '\n')
    parts.append(''.join(f'{number}. {step}\n' for number, step in enumerate(topic.steps, start=1)))
    if topic.table and rng.random() < 0.6:
        parts.append('A quick reference:\n')
        parts.append(_table(topic.table))
    file = topic.files[language]
    parts.append(f'{rng.choice(_RUN_LEADS)} save it as `{file}` and run\n')
    parts.append(_fence('bash', _RUN_COMMANDS[language].format(file=file) + '\n'))
    others = [other for other in LANGUAGES if other != language]
    extra = [other for other in topic.extras if other != language]
    second = extra[0] if extra and rng.random() < 0.7 else rng.choice(others)
    parts.append(rng.choice(_OTHER_LANGUAGE_INTROS).format(language=LANGUAGE_NAMES[second]) + '\n')
    parts.append(_fence(second, topic.snippets[second]))
    parts.append(rng.choice(_NOTES_HEADINGS) + '\n')
    closing = list(topic.closing)
    rng.shuffle(closing)
    parts.append(' '.join(closing[:2]) + '\n')
    return '\n'.join(parts)


# --- the long answer --------------------------------------------------------------------------------------------

_ENTITIES = (
    'Customer', 'Supplier', 'Product', 'Category', 'Warehouse', 'StockLevel', 'PurchaseOrder', 'SalesOrder',
    'OrderLine', 'Invoice', 'Payment', 'Refund', 'Shipment', 'Carrier', 'Parcel', 'Address', 'Contact',
    'PriceList', 'Discount', 'Coupon', 'TaxRate', 'Currency', 'ExchangeRate', 'Employee', 'Department', 'Shift',
    'Timesheet', 'Project', 'Milestone', 'Task', 'Comment', 'Attachment', 'Notification', 'AuditEntry', 'ApiKey',
    'Webhook', 'Subscription', 'Plan', 'UsageRecord', 'Region', 'Store', 'Register', 'Receipt', 'Return',
    'Inspection', 'Batch', 'SerialNumber', 'Vendor', 'Contract', 'Budget', 'Expense', 'Report', 'Dashboard',
    'Alert', 'Schedule', 'Reservation', 'Room', 'Vehicle', 'Route', 'Stop',
)

_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    # name, type, check on bad value, problem message
    ('name', 'str', 'not self.name.strip()', 'name must not be blank'),
    ('code', 'str', 'not self.code.isalnum()', 'code must be alphanumeric'),
    ('email', 'str', "'@' not in self.email", 'email must contain @'),
    ('quantity', 'int', 'self.quantity < 0', 'quantity must not be negative'),
    ('price', 'Decimal', "self.price < Decimal('0')", 'price must not be negative'),
    ('weight_kg', 'float', 'not 0 <= self.weight_kg <= 50_000', 'weight_kg must be between 0 and 50000'),
    ('priority', 'int', 'not 1 <= self.priority <= 5', 'priority must be between 1 and 5'),
    ('status', 'str', 'self.status not in STATUSES', 'status must be one of STATUSES'),
    ('created_at', 'datetime', 'self.created_at.tzinfo is None', 'created_at must be timezone-aware'),
    ('due_date', 'date', 'self.due_date.year < 2000', 'due_date looks wrong'),
    ('country', 'str', 'len(self.country) != 2', 'country must be an ISO 3166 alpha-2 code'),
    ('notes', 'str', 'len(self.notes) > 2_000', 'notes must be at most 2000 characters'),
    ('active', 'bool', '', ''),
    ('tags', 'tuple[str, ...]', 'any(not tag for tag in self.tags)', 'tags must not be empty strings'),
)


def _snake(name: str) -> str:
    return re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()


def _entity_code(entity: str, rng: random.Random) -> list[str]:
    fields = [_FIELDS[0], *rng.sample(_FIELDS[1:], rng.randint(3, 6))]
    fields.sort(key=_FIELDS.index)
    snake = _snake(entity)
    plural = snake + ('es' if snake.endswith(('s', 'x', 'ch')) else 's')
    lookup = rng.choice([f for f in fields if f[1] in ('str', 'int', 'bool')])
    lines = [
        '@dataclass(slots=True)',
        f'class {entity}:',
        f'    """One {snake.replace("_", " ")} record, as the service stores and returns it."""',
        '',
        '    id: int',
    ]
    lines += [f'    {field}: {type_}' for field, type_, _, _ in fields]
    lines += [
        '',
        '    def validate(self) -> list[str]:',
        '        """Every problem at once, so a form can show them all instead of one per submit."""',
        '        problems: list[str] = []',
    ]
    for _field, _type, check, message in fields:
        if check:
            lines += [f'        if {check}:', f'            problems.append({message!r})']
    lines += [
        '        return problems',
        '',
        '    def to_dict(self) -> dict[str, object]:',
        '        return {',
        "            'id': self.id,",
    ]
    lines += [f"            {field!r}: _plain(self.{field})," for field, _, _, _ in fields]
    lines += [
        '        }',
        '',
        '',
        f'class {entity}Repository:',
        f'    """In-memory store of {plural.replace("_", " ")}; the SQL version keeps the same interface."""',
        '',
        '    def __init__(self) -> None:',
        f'        self._items: dict[int, {entity}] = {{}}',
        '        self._ids = count(1)',
        '',
        f'    def add(self, item: {entity}) -> {entity}:',
        '        """Store a new record under a fresh id; invalid records are refused with every reason."""',
        '        item.id = next(self._ids)',
        '        problems = item.validate()',
        '        if problems:',
        f'            raise ValidationError({entity!r}, problems)',
        '        self._items[item.id] = item',
        '        return item',
        '',
        f'    def get(self, item_id: int) -> {entity}:',
        '        try:',
        '            return self._items[item_id]',
        '        except KeyError:',
        f'            raise NotFoundError({entity!r}, item_id) from None',
        '',
        '    def remove(self, item_id: int) -> None:',
        '        if self._items.pop(item_id, None) is None:',
        f'            raise NotFoundError({entity!r}, item_id)',
        '',
        f'    def list(self, *, limit: int = 100, offset: int = 0) -> list[{entity}]:',
        '        """A page of records in id order, so paging is stable while records are added."""',
        '        ordered = sorted(self._items.values(), key=attrgetter("id"))',
        '        return ordered[offset:offset + limit]',
        '',
        f'    def find_by_{lookup[0]}(self, value: {lookup[1]}) -> list[{entity}]:',
        f'        return [item for item in self._items.values() if item.{lookup[0]} == value]',
        '',
        '    def __len__(self) -> int:',
        '        return len(self._items)',
        '',
        '',
    ]
    return lines


_LONG_HEADER = '''"""Inventory service: records, validation and in-memory repositories.

Each record type is a dataclass with a ``validate`` method that returns every problem at once, and a repository
with the same small interface (add, get, remove, list, find_by_*), so the storage can be swapped for SQL later
without touching the callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from itertools import count
from operator import attrgetter

STATUSES = frozenset({"draft", "active", "suspended", "archived"})


class NotFoundError(LookupError):
    def __init__(self, kind: str, item_id: int) -> None:
        super().__init__(f"{kind} {item_id} does not exist")
        self.kind = kind
        self.item_id = item_id


class ValidationError(ValueError):
    def __init__(self, kind: str, problems: list[str]) -> None:
        super().__init__(f"invalid {kind}: " + "; ".join(problems))
        self.kind = kind
        self.problems = problems


def _plain(value: object) -> object:
    """JSON-friendly form of a field value."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


'''

_LONG_FOOTER = '''def main() -> None:
    customers = CustomerRepository()
    print(f"{len(customers)} customers")
    try:
        customers.get(42)
    except NotFoundError as error:
        print(error)


if __name__ == "__main__":
    main()
'''


def _long_module(rng: random.Random, minimum_lines: int = 2_100) -> tuple[str, list[str]]:
    lines = _LONG_HEADER.splitlines()
    entities: list[str] = []
    for entity in _ENTITIES:
        if len(lines) >= minimum_lines:
            break
        lines += _entity_code(entity, rng)
        entities.append(entity)
    lines += _LONG_FOOTER.splitlines()
    return '\n'.join(lines) + '\n', entities


def _long_answer(prompt: str, rng: random.Random) -> str:
    module, entities = _long_module(rng)
    line_count = module.count('\n')
    tables = '\n'.join(
        f'CREATE TABLE IF NOT EXISTS {_snake(entity)} (\n    id INTEGER PRIMARY KEY,\n    name TEXT NOT NULL,\n'
        f"    created_at TEXT NOT NULL DEFAULT (datetime('now'))\n);"
        for entity in entities[:8]
    ) + '\n'
    names = ', '.join(f'`{entity}`' for entity in entities[:6])
    return '\n'.join([
        'Here is a complete module for an inventory service. It is long on purpose: '
        f'{len(entities)} record types, each with validation and a repository, about {line_count:,} lines.\n',
        '## Design\n',
        '- Every record is a `@dataclass(slots=True)` with a `validate()` method that returns *all* problems.\n'
        '- Every repository has the same interface: `add`, `get`, `remove`, `list`, `find_by_*`.\n'
        '- Errors are two exception types, `NotFoundError` and `ValidationError`, so callers can map them to HTTP '
        'status codes in one place.\n',
        f'The record types include {names} and many more.\n',
        '## The module\n',
        _fence('python', module),
        '## The matching schema\n',
        'When the in-memory repositories are swapped for SQL, these tables back the first few of them:\n',
        _fence('sql', tables),
        '## Checking it\n',
        'Type-check and lint the module, then run it:\n',
        _fence('bash', 'python -m mypy --strict inventory.py\nruff check inventory.py\npython inventory.py\n'),
        f'That is {line_count:,} lines of Python. '
        'Split it into one module per aggregate once it settles; the repositories will not need to change.\n',
    ])


# --- the tricky answer ------------------------------------------------------------------------------------------

ZWJ_TECHNOLOGIST = '\U0001f469\u200d\U0001f4bb'  # woman + ZWJ + laptop: one grapheme, three code points
E_COMBINING = 'e\u0301'  # e + combining acute: looks like é, two code points
FLAG_JP = '\U0001f1ef\U0001f1f5'  # two regional indicators
CJK = '漢字'
ARABIC = 'مرحبا'
LINE_SEPARATOR = '\u2028'
SCRIPT_TAG = '<script>alert(1)</script>'
IMG_ONERROR = '<img src=x onerror=alert(1)>'
JS_LINK = '[link](javascript:alert(1))'
BACKTICK_FENCE_LINE = 'fence = "```"'

TRICKY_ITEMS = (ZWJ_TECHNOLOGIST, E_COMBINING, FLAG_JP, CJK, ARABIC, LINE_SEPARATOR, SCRIPT_TAG, IMG_ONERROR,
                JS_LINK, BACKTICK_FENCE_LINE)


def _tricky_answer() -> str:
    python = f'''import html
import unicodedata

SAMPLES = {{
    "zwj": "{ZWJ_TECHNOLOGIST}",          # woman technologist: 3 code points, 1 grapheme
    "combining": "{E_COMBINING}",          # e + COMBINING ACUTE ACCENT
    "flag": "{FLAG_JP}",               # regional indicators J + P
    "cjk": "{CJK}",
    "arabic": "{ARABIC}",              # right-to-left
    "separator": "before{LINE_SEPARATOR}after",   # U+2028 LINE SEPARATOR inside one line
    "script": "{SCRIPT_TAG}",
    "img": "{IMG_ONERROR}",
}}


def describe(text: str) -> str:
    nfc = unicodedata.normalize("NFC", text)
    return f"{{len(text)}} code points, {{len(nfc)}} after NFC, {{len(text.encode())}} UTF-8 bytes"


for name, text in SAMPLES.items():
    print(f"{{name:10}} {{describe(text)}}  escaped: {{html.escape(text)}}")

{BACKTICK_FENCE_LINE}  # three backticks inside a string do not close this block
print(f"a markdown fence is {{fence!r}}; nested: {{fence}}python ... {{fence}}")
'''
    typescript = f'''const samples: Record<string, string> = {{
  zwj: "{ZWJ_TECHNOLOGIST}",
  combining: "{E_COMBINING}",
  flag: "{FLAG_JP}",
  cjk: "{CJK}",
  arabic: "{ARABIC}",
}};

const graphemes = new Intl.Segmenter(undefined, {{ granularity: "grapheme" }});
for (const [name, text] of Object.entries(samples)) {{
  const clusters = [...graphemes.segment(text)].length;
  console.log(name.padEnd(10), text.length, "UTF-16 units,", [...text].length, "code points,", clusters, "graphemes");
}}

// Never assign model output to innerHTML:
const untrusted = "{SCRIPT_TAG} {IMG_ONERROR}";
document.querySelector("#out")!.textContent = untrusted;
'''
    return '\n'.join([
        '## Unicode and untrusted text\n',
        f'Text from a model can contain anything. An emoji like {ZWJ_TECHNOLOGIST} is three code points joined by '
        f'a zero-width joiner; {E_COMBINING} is an `e` followed by a combining accent, so it only looks like one '
        f'character; the flag {FLAG_JP} is two regional indicators. Scripts mix freely: {CJK} (kanji), '
        f'{ARABIC} (Arabic, written right to left), and even a line separator{LINE_SEPARATOR}in the middle of a '
        'line.\n',
        f'Markup must stay text: {SCRIPT_TAG} should show up literally, {IMG_ONERROR} must not load anything, and '
        f'this {JS_LINK} must not be clickable.\n',
        '| Sample | Code points | Graphemes |\n|---|---|---|\n'
        f'| {ZWJ_TECHNOLOGIST} | 3 | 1 |\n| {E_COMBINING} | 2 | 1 |\n| {FLAG_JP} | 2 | 1 |\n| {CJK} | 2 | 2 |\n',
        'Counting them in Python:\n',
        _fence('python', python),
        'And in TypeScript, where `length` counts UTF-16 code units:\n',
        _fence('typescript', typescript),
        f'Note the line `{BACKTICK_FENCE_LINE}` above: three backticks that do not start a line never close a code '
        'block.\n',
    ])


@lru_cache(maxsize=64)
def demo_answer(prompt: str) -> str:
    """The complete answer for ``prompt``; the provider streams exactly this text."""
    rng = seeded(prompt, 'answer')
    sections: list[str] = []
    if is_tricky(prompt):
        sections.append(_tricky_answer())
    sections.append(_long_answer(prompt, rng) if is_long(prompt) else _topic_answer(prompt, rng))
    return '\n'.join(sections)
