"""Block lists: feeds → validated entries → one compiled, immutable matcher.

- `entries`: the `Entry` / `Problem` types (kind, canonical value, provenance, category).
- `syntax`: strict validation of one indicator; every rejection has a fixed reason code.
- `parsers`: feed formats, one module each, registered in `parsers.PARSERS`.
- `builtin`: the small curated pool / browser-miner list and the pool-port prior.
- `matcher`: `Matcher(entries)` — vectorised address/port lookups, domain suffixes, `explain`.
- `columns`: entries as numpy columns and precedence ranks (the input of the indexes).
- `intervals`: the numpy longest-prefix index under the matcher.

The feed service:
- `sources` (+ `sources.yaml`): the source index as data; `fetch`: conditional HTTP(S) with a
  cache, retries and limits; `service` / `health`: refreshes that never make the list worse.
- `versions` / `history`: immutable list versions (entry validity intervals) and diffs.
- `allow`: allowlist index and the exported block list; `learned`: run-time and analyst entries.
- `provider`: compiles the live version into a matcher and hot-swaps it into running pipelines.
A matcher is built once per version and swapped, never mutated.
"""

from pipelines.kernel_env import use_kernel_cache

use_kernel_cache()  # before any kernel of the package is decorated
