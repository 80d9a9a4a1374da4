"""Block lists: feeds → validated entries → one compiled, immutable matcher.

- `entries`: the `Entry` / `Problem` types (kind, canonical value, provenance, category).
- `syntax`: strict validation of one indicator; every rejection has a fixed reason code.
- `parsers`: feed formats, one module each, registered in `parsers.PARSERS`.
- `builtin`: the small curated pool / browser-miner list and the pool-port prior.
- `matcher`: `Matcher(entries)` — vectorised address/port lookups, domain suffixes, `explain`.
- `columns`: entries as numpy columns and precedence ranks (the input of the indexes).
- `intervals`: the numpy longest-prefix index under the matcher.

Later (the feed service): sources as data, versioned snapshots, "a refresh never makes the
list worse", hot reload. A matcher is built once per version and swapped, never mutated.
"""
