"""The `--blocklist FILE` (plain/hosts) parser and the feed-format registry."""

from __future__ import annotations

from pathlib import Path

from blacklist.entries import Category, Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, parse_path, plain

SRC = SourceMeta("test-feed", Category.POOL, 0.75)


def parse(*lines: str) -> ParseResult:
    return plain.parse(list(lines), SRC)


def values(result: ParseResult) -> list[str]:
    return [e.value for e in result.entries]


def test_registry_is_an_explicit_table() -> None:
    assert {"plain", "hosts"} <= set(PARSERS)
    assert PARSERS["plain"] is plain.parse


def test_one_item_per_line_of_every_kind() -> None:
    r = parse(
        "8.8.8.8",
        "2a01:4f8::1",
        "8.8.8.0/24",
        "8.8.8.8:3333",
        "[2a01:4f8::1]:443",
        "8.8.8.8:3333/tcp",
        "pool.example",
        "*.wild.example",
        ".dot.example",
    )
    assert r.problems == ()
    assert [e.kind for e in r.entries] == [Kind.IP, Kind.IP, Kind.CIDR] + [Kind.ENDPOINT] * 3 + [
        Kind.DOMAIN
    ] * 3
    assert all(e.subdomains for e in r.entries if e.kind is Kind.DOMAIN)
    assert r.summary() == "9 entries, 0 problems"


def test_entries_inherit_source_metadata_and_keep_provenance() -> None:
    r = parse("# header", "pool.example  # trailing comment")
    (e,) = r.entries
    assert (e.source, e.category, e.confidence) == ("test-feed", Category.POOL, 0.75)
    assert (e.line, e.raw) == (2, "pool.example  # trailing comment")


def test_comments_blank_lines_crlf_and_bom() -> None:
    r = parse(
        "\ufeff# BOM before a comment\r\n",
        "\r\n",
        "   \n",
        "; semicolon comment\n",
        "8.8.8.8 ; trailing\r\n",
        "pool.example# glued comment\n",
        "\ufeffnot-first.example\n",  # later: IDNA nameprep maps the zero-width char away
        "pool\u00e9\u2028x.example\n",  # a line separator inside a name is not a name
    )
    assert values(r) == ["8.8.8.8", "pool.example", "not-first.example"]
    assert [p.code for p in r.problems] == ["extra-text"]
    assert (r.lines, r.skipped) == (8, 4)
    assert r.entries[0].raw == "8.8.8.8 ; trailing"  # line ending stripped, text kept


def test_bom_before_an_item() -> None:
    assert values(parse("\ufeff8.8.8.8")) == ["8.8.8.8"]


def test_hosts_lines_give_exact_names() -> None:
    r = parse(
        "0.0.0.0 pool.example",
        "127.0.0.1\tother.example",
        ":: v6sink.example",
        "::1 v6loop.example",
        "0.0.0.0 a.example b.example  # several names on one line",
    )
    assert values(r) == [
        "pool.example",
        "other.example",
        "v6sink.example",
        "v6loop.example",
        "a.example",
        "b.example",
    ]
    assert not any(e.subdomains for e in r.entries)
    assert [e.line for e in r.entries] == [1, 2, 3, 4, 5, 5]


def test_hosts_boilerplate_is_skipped_not_reported() -> None:
    r = parse(
        "127.0.0.1 localhost",
        "127.0.0.1 localhost.localdomain local",
        "255.255.255.255 broadcasthost",
        "::1 localhost ip6-localhost ip6-loopback",
        "fe80::1%lo0 localhost",
        "0.0.0.0 0.0.0.0",
        "127.0.0.1 localhost pool.example",  # boilerplate name dropped, the real one kept
    )
    assert values(r) == ["pool.example"]
    assert r.problems == () and r.skipped == 6


def test_hosts_problems() -> None:
    r = parse(
        "1.2.3.4 pool.example",  # a name->IP mapping, not a block entry
        "0.0.0.0 8.8.8.8",  # hosts names must be names
        "0.0.0.0 0.0.0.0pool.example",  # CoinBlocker 2022: glued
        "0.0.0.0 ok.example bad_-.example-",  # one good, one bad name on one line
        "pool.example extra words",  # not a hosts line
    )
    assert [p.code for p in r.problems] == [
        "hosts-address",
        "hosts-name",
        "hosts-glued",
        "label-hyphen",
        "extra-text",
    ]
    assert values(r) == ["ok.example"]
    assert [p.line for p in r.problems] == [1, 2, 3, 4, 5]


def test_a_bad_line_never_sinks_the_feed() -> None:
    good = [f"pool{i}.example" for i in range(50)]
    r = parse(*good[:25], "04.27.157.60", "\x00\x01garbage", "::::", *good[25:])
    assert len(r.entries) == 50
    assert [p.line for p in r.problems] == [26, 27, 28]
    assert r.problems[0].code == "leading-zero" and r.problems[0].raw == "04.27.157.60"
    assert r.summary() == "50 entries, 3 problems"


def test_duplicates_stay_entries_with_their_own_lines() -> None:
    r = parse("8.8.8.8", "8.8.8.8", "pool.example", "POOL.example.")
    assert len(r.entries) == 4 and r.unique() == 2
    assert [e.line for e in r.entries] == [1, 2, 3, 4]


def test_parse_path_survives_undecodable_bytes(tmp_path: Path) -> None:
    f = tmp_path / "list.txt"
    f.write_bytes(b"\xef\xbb\xbf8.8.8.8\r\nbad\xff\xfe.example\r\npool.example\r\n")
    r = parse_path(f, "plain", SRC)
    assert values(r) == ["8.8.8.8", "pool.example"]
    assert [p.line for p in r.problems] == [2] and r.lines == 3


def test_hosts_format_name_uses_the_same_grammar(tmp_path: Path) -> None:
    f = tmp_path / "hosts"
    f.write_text("# hosts\n0.0.0.0 pool.example\n")
    assert values(parse_path(f, "hosts", SRC)) == ["pool.example"]


def test_lab_lists_opt_out_of_the_public_space_check() -> None:
    lines = ["198.51.100.200", "2001:db8:99::/120", "203.0.113.99:5555", "999.1.1.1"]
    strict = plain.parse(lines, SRC)
    assert [p.code for p in strict.problems] == ["bogon", "bogon", "bogon", "bad-ipv4"]
    lab = plain.parse(lines, SourceMeta("lab", public_only=False))
    assert values(lab) == ["198.51.100.200", "2001:db8:99::/120", "203.0.113.99:5555"]
    assert [p.code for p in lab.problems] == ["bad-ipv4"]


def test_absurdly_long_numbers_are_problems_not_crashes() -> None:
    """int() refuses > 4300 digits with a plain ValueError; the parser must still isolate it."""
    r = parse(f"1.2.3.4:{'9' * 5000}", f"10.0.0.0/{'1' * 5000}", "8.8.4.4")
    assert len(r.problems) == 2 and {p.line for p in r.problems} == {1, 2}
    assert [e.value for e in r.entries] == ["8.8.4.4"]
