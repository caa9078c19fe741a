"""Alertmanager configuration loading and routing, checked against the real amtool 0.25."""

from __future__ import annotations

import base64
import re
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Mapping

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_audit.analysis.routing import (
    inhibited_by,
    match_routes,
    owner_route_matchers,
    receivers_for,
    route,
)
from coverage_audit.loaders.alertmanager import (
    is_alertmanager_config,
    load_alertmanager,
    load_alertmanager_text,
    parse_matcher,
    parse_matchers,
)
from coverage_audit.model import AlertmanagerConfig, InputError, LabelMatcher, MatchOp, Route
from coverage_audit.yamlio import load_documents, read_text

from amtool import AMTOOL, amtool_receivers
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (Debian package prometheus-alertmanager)")

EQ, NE, RE, NRE = MatchOp.EQ, MatchOp.NE, MatchOp.RE, MatchOp.NRE


def write(tmp_path: Path, text: str, name: str = "alertmanager.yml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def load(tmp_path: Path, text: str) -> AlertmanagerConfig:
    return load_alertmanager(write(tmp_path, text))


def error_of(tmp_path: Path, text: str) -> InputError:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_alertmanager(path)
    assert caught.value.diagnostic.file == path
    return caught.value


def node(config: AlertmanagerConfig, *path: int) -> Route:
    current = config.route
    for index in path:
        current = current.routes[index]
    return current


# --------------------------------------------------------------------------- matcher syntax
# Expected values were checked with `amtool config routes` (0.25), which prints parsed matchers.


@pytest.mark.parametrize(
    "text, expected",
    [
        ("alertname = Watchdog", [("alertname", EQ, "Watchdog")]),
        ('severity=~"warning|critical"', [("severity", RE, "warning|critical")]),
        ('team!="x"', [("team", NE, "x")]),
        ("team !~ x|y", [("team", NRE, "x|y")]),
        ('a = "b c"', [("a", EQ, "b c")]),
        ("a=~'x'", [("a", RE, "'x'")]),  # single quotes are not quotes
        (r'a="b\"c"', [("a", EQ, 'b"c')]),
        ("a=b\\", [("a", EQ, "b\\")]),  # a trailing backslash is literal
        (r"a=b\nc", [("a", EQ, "b\nc")]),
        (r'a="b\nc"', [("a", EQ, "b\nc")]),
        (r'a=\"b\"', [("a", EQ, '"b"')]),
        (r'a="x\\y"', [("a", EQ, "x\\y")]),
        (r'a="x\qy"', [("a", EQ, "x\\qy")]),  # a spurious escape keeps the backslash
        ("{a=b}", [("a", EQ, "b")]),
        ("{a=b", [("a", EQ, "b")]),
        ("a=b}", [("a", EQ, "b")]),
        ("{}", []),
        ("   ", []),
        ("", []),
        ("a=b,", [("a", EQ, "b")]),
        ("a=", [("a", EQ, "")]),
        ('a=""', [("a", EQ, "")]),
        ('a="x,y",b=c', [("a", EQ, "x,y"), ("b", EQ, "c")]),
        ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),
        ("a:b=c", [("a:b", EQ, "c")]),  # colons are allowed in this syntax
        ("a==b", [("a", EQ, "=b")]),
        ('quote="She said: \\"Hi, ladies!\\""', [("quote", EQ, 'She said: "Hi, ladies!"')]),
    ],
)
def test_parse_matchers(text: str, expected: list[tuple[str, MatchOp, str]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ('a="b', "unescaped double quote"),
        ('a=b"c', "unescaped double quote"),
        ('a="', "unescaped double quote"),
        (",", "bad matcher format"),
        ("a=b,,c=d", "bad matcher format"),
        ("1a=b", "bad matcher format"),
        ("a", "bad matcher format"),
        (" {a=b}", "bad matcher format"),  # braces are trimmed only at the very ends
        ("a=~(", "error parsing regexp"),
        ("a!~[", "error parsing regexp"),
    ],
)
def test_parse_matchers_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_matchers(text)


def test_parse_matcher_single_and_regex_anchoring() -> None:
    matcher = parse_matcher('code=~"5.."')
    assert matcher == LabelMatcher("code", RE, "5..")
    assert matcher.matches("503") and not matcher.matches("5033") and not matcher.matches("x503")


# --------------------------------------------------------------------------- loading


BASIC = """\
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['team = payments', 'severity =~ "critical|page"']
      receiver: payments-pager
      group_wait: 10s
      routes:
        - matchers: [env="staging"]
          receiver: devnull
    - match: {team: orders}
      match_re: {service: "^(cart|checkout)$"}
      receiver: orders-mail
      continue: true
    - match: {team: orders}
      receiver: orders-pager
      repeat_interval: 1h
receivers:
  - name: default
    slack_configs: [{channel: '#alerts'}]
  - name: payments-pager
    pagerduty_configs: [{routing_key: x}]
  - name: orders-mail
    email_configs: [{to: 'orders@example.org'}]
  - name: orders-pager
    pagerduty_configs: [{routing_key: y}]
    webhook_configs: [{url: 'http://example.org/'}]
  - name: devnull
    email_configs: []
"""


def test_load_basic_tree(tmp_path: Path) -> None:
    config = load(tmp_path, BASIC)
    assert config.route.receiver == "default" and config.route.line == 1 and config.route.path == ()
    assert config.route.group_by == ("alertname",)
    payments = node(config, 0)
    assert payments.matchers == (LabelMatcher("team", EQ, "payments"), LabelMatcher("severity", RE, "critical|page"))
    assert payments.path == (0,) and payments.line == 5
    assert node(config, 0, 0).path == (0, 0)
    orders = node(config, 1)
    assert orders.matchers == (LabelMatcher("team", EQ, "orders"), LabelMatcher("service", RE, "^(cart|checkout)$"))
    assert orders.continue_ and not node(config, 2).continue_
    assert config.receivers["orders-pager"].integrations == ("pagerduty", "webhook")
    assert config.receivers["devnull"].blackhole  # an empty list of configs sends nothing
    assert not config.receivers["default"].blackhole


def test_inheritance_of_receiver_grouping_and_timers(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        route:
          receiver: root
          group_by: [a]
          group_wait: 1m
          repeat_interval: 2h
          routes:
            - matchers: [x=1]
              group_interval: 7m
              mute_time_intervals: [nights]
              routes:
                - matchers: [y=1]
                  receiver: child
                  group_by: []
                - matchers: [y=2]
                  group_by: ['...']
                  active_time_intervals: [days]
                  routes:
                    - matchers: [z=1]
                    - matchers: [z=2]
                      group_by: [b, c]
            - matchers: [x=2]
        receivers: [{name: root}, {name: child}]
        time_intervals:
          - name: nights
            time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}]
          - name: days
        """,
    )
    root = config.route
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (60, 300, 7200)
    first = node(config, 0)
    assert first.receiver == "root" and first.group_interval == 420 and first.group_wait == 60
    assert first.mute_time_intervals == ("nights",)
    leaf = node(config, 0, 0)
    assert leaf.receiver == "child" and leaf.group_by == ("a",)  # [] inherits
    assert leaf.mute_time_intervals == ()  # time intervals are not inherited (dispatch.NewRoute)
    assert (leaf.group_wait, leaf.group_interval, leaf.repeat_interval) == (60, 420, 7200)
    assert node(config, 0, 1).group_by == ("...",)
    assert node(config, 0, 1).active_time_intervals == ("days",)
    assert node(config, 0, 1, 0).group_by == ("...",) and node(config, 0, 1, 0).active_time_intervals == ()
    assert node(config, 0, 1, 1).group_by == ("b", "c")
    assert node(config, 1).group_interval == 300  # a sibling does not see its sibling's values
    assert set(config.time_intervals) == {"nights", "days"}


def test_defaults_without_timers(tmp_path: Path) -> None:
    config = load(tmp_path, "route: {receiver: r}\nreceivers: [{name: r}]\n")
    assert (config.route.group_wait, config.route.group_interval, config.route.repeat_interval) == (30, 300, 14400)
    assert config.route.group_by is None and config.inhibit_rules == ()


def test_legacy_match_values_are_text(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        route:
          receiver: r
          routes:
            - {match: {code: 500, on: yes, empty: ~}, match_re: {n: 5}, receiver: r, continue: yes}
        receivers: [{name: r}]
        """,
    )
    child = node(config, 0)
    assert child.matchers == (
        LabelMatcher("code", EQ, "500"),
        LabelMatcher("on", EQ, "yes"),
        LabelMatcher("empty", EQ, ""),
        LabelMatcher("n", RE, "5"),
    )
    assert child.continue_ is True


def test_inhibit_rules_all_forms(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        route: {receiver: r}
        receivers: [{name: r}]
        inhibit_rules:
          - source_matchers: [severity="critical"]
            target_matchers: ['severity=~"warning|info"']
            equal: [alertname, namespace]
          - source_match: {alertname: NodeDown}
            source_match_re: {job: "node.*"}
            target_match: {severity: warning}
            target_match_re: {instance: ".+"}
        """,
    )
    first, second = config.inhibit_rules
    assert first.source_matchers == (LabelMatcher("severity", EQ, "critical"),)
    assert first.target_matchers == (LabelMatcher("severity", RE, "warning|info"),)
    assert first.equal == ("alertname", "namespace") and first.line == 4
    assert second.source_matchers == (LabelMatcher("alertname", EQ, "NodeDown"), LabelMatcher("job", RE, "node.*"))
    assert second.target_matchers == (LabelMatcher("severity", EQ, "warning"), LabelMatcher("instance", RE, ".+"))
    assert inhibited_by(config, {"severity": "info"}) == [first]
    assert inhibited_by(config, {"severity": "warning", "instance": "i"}) == [first, second]
    assert inhibited_by(config, {"severity": "critical"}) == []


def test_template_strings_in_values(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        global:
          smtp_smarthost: "${smtp_smarthost}"
        route:
          receiver: "${team}-pager"
          routes:
            - matchers: ['summary="<b>{{ $labels.x }}</b>"']
              receiver: slack
        receivers:
          - name: "${team}-pager"
            pagerduty_configs: [{service_key: "${key}"}]
          - name: slack
            slack_configs:
              - text: '{{ range .Alerts }}<a href="{{ .GeneratorURL }}">{{ .Labels.alertname }}</a>{{ end }}'
                title: |-
                  {{ template "slack.title" . }} ${not_terraform}
        """,
    )
    assert config.route.receiver == "${team}-pager"
    assert node(config, 0).matchers == (LabelMatcher("summary", EQ, "<b>{{ $labels.x }}</b>"),)
    assert receivers_for(config, {"summary": "<b>{{ $labels.x }}</b>"}) == ["slack"]


# --------------------------------------------------------------------------- errors, with lines

RCV = "receivers: [{name: r}]\n"
ROOT = "route:\n  receiver: r\n"
CHILD = ROOT + "  routes:\n    - "  # the first child route starts on line 4

ERRORS = [  # (id, text, line, part of the message)
    ("bad duration", ROOT + "  group_wait: 30\n" + RCV, 3, "not a valid duration"),
    ("zero group_interval", ROOT + "  group_interval: 0s\n" + RCV, 3, "cannot be zero"),
    ("unknown receiver", CHILD + "receiver: nope\n" + RCV, 4, "undefined receiver 'nope'"),
    ("unknown root receiver", "route:\n  receiver: nope\n" + RCV, 2, "undefined receiver"),
    ("duplicate key", ROOT + "  receiver: s\n" + RCV, 3, "duplicate key"),
    ("invalid regex", CHILD + "matchers:\n        - 'a=~\"(\"'\n" + RCV, 5, "error parsing regexp"),
    ("invalid match_re", CHILD + "match_re:\n        a: '['\n" + RCV, 5, "error parsing regexp"),
    ("null match_re", CHILD + "match_re:\n        a:\n" + RCV, 5, "invalid regexp value"),
    ("bad matcher", CHILD + "matchers: [x]\n" + RCV, 4, "bad matcher format"),
    ("not a mapping", "- route\n- receivers\n", 1, "must be a mapping"),
    ("scalar", "BAD\n", 1, "must be a mapping"),
    ("empty", "", 1, "no route"),
    ("no route", RCV, 1, "no route"),
    ("root without receiver", "route:\n  group_by: [a]\n" + RCV, 2, "default receiver"),
    ("root with matchers", ROOT + "  matchers: [a=b]\n" + RCV, 3, "must not have any matchers"),
    ("root continue", ROOT + "  continue: true\n" + RCV, 3, "continue in root"),
    ("root mute", ROOT + "  mute_time_intervals: [t]\n" + RCV + "time_intervals: [{name: t}]\n", 3, "mute time"),
    ("duplicate receiver", "route: {receiver: r}\nreceivers:\n  - name: r\n  - name: r\n", 4, "not unique"),
    ("receiver without name", "route: {receiver: r}\nreceivers:\n  - name: r\n  - email_configs: []\n", 4, "missing name"),
    ("unknown time interval", CHILD + "active_time_intervals: [x]\n" + RCV, 4, "undefined time interval 'x'"),
    ("duplicate time interval", "route: {receiver: r}\n" + RCV + "mute_time_intervals: [{name: t}]\ntime_intervals:\n  - name: t\n", 5, "not unique"),
    ("misspelt key", CHILD + "matcher: [a=b]\n      receiver: r\n" + RCV, 4, "unknown key 'matcher'"),
    ("top-level typo", "route: {receiver: r}\n" + RCV + "slack_configs: []\n", 3, "unknown key"),
    ("bad continue", CHILD + "continue: maybe\n" + RCV, 4, "true or false"),
    ("group_by wildcard and labels", ROOT + "  group_by: ['...', a]\n" + RCV, 3, "wildcard"),
    ("group_by invalid label", ROOT + "  group_by:\n    - a\n    - a-b\n" + RCV, 5, "invalid label name"),
    ("match invalid label", CHILD + "match:\n        a-b: c\n" + RCV, 5, "invalid label name"),
    ("matchers not a list", CHILD + "matchers: a=b\n" + RCV, 4, "must be a list"),
    ("null route item", CHILD + "~\n" + RCV, 4, "must be a mapping"),
    ("invalid YAML", ROOT + "   bad: indent\n", 3, "invalid YAML"),
    ("kubernetes object", "apiVersion: v1\nkind: ConfigMap\ndata: {}\n", 1, "not an Alertmanager configuration"),
]


@pytest.mark.parametrize("text, line, message", [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    error = error_of(tmp_path, text)
    assert error.diagnostic.line == line, error
    assert message in error.diagnostic.message


def test_unreadable_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_alertmanager(str(tmp_path / "missing.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_bytes(b"route:\n  receiver: \xff\n")
    with pytest.raises(InputError) as caught:
        load_alertmanager(str(bad))
    assert caught.value.diagnostic.line == 2


# --------------------------------------------------------------------------- Kubernetes Secret

EMBEDDED = """\
route:
  receiver: default
  routes:
    - matchers: [alertname="Watchdog"]
      receiver: watchdog
receivers:
  - name: default
    pagerduty_configs: [{routing_key: k}]
  - name: watchdog
"""


def secret(field: str, value: str, key: str = "alertmanager.yaml", extra: str = "") -> str:
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: alertmanager-main\n{field}:\n  {key}: {value}\n{extra}"


def literal(text: str) -> str:
    return "|\n" + textwrap.indent(text, "    ")


def test_secret_with_string_data(tmp_path: Path) -> None:
    text = secret("stringData", literal(EMBEDDED), extra="type: Opaque\n")
    config = load(tmp_path, text)
    assert receivers_for(config, {"alertname": "Watchdog"}) == ["watchdog"]
    assert route(config, {"alertname": "Watchdog"})[0].blackhole
    lines = text.splitlines()
    # lines point into the Secret file, not into the embedded text
    assert lines[config.route.line - 1].strip() == "route:"
    assert lines[config.route.routes[0].line - 1].strip() == '- matchers: [alertname="Watchdog"]'
    assert lines[config.receivers["watchdog"].line - 1].strip() == "- name: watchdog"


def test_secret_with_base64_data(tmp_path: Path) -> None:
    encoded = base64.b64encode(EMBEDDED.encode()).decode()
    config = load(tmp_path, secret("data", encoded))
    assert receivers_for(config, {"alertname": "x"}) == ["default"]
    assert config.route.line == config.route.routes[0].line == 6  # base64: the key's line


@pytest.mark.parametrize("key", ["alertmanager.yml", "config.yaml"])
def test_secret_other_key_names(tmp_path: Path, key: str) -> None:
    config = load(tmp_path, secret("stringData", literal(EMBEDDED), key=key))
    assert set(config.receivers) == {"default", "watchdog"}


def test_secret_picks_alertmanager_yaml_among_other_keys(tmp_path: Path) -> None:
    text = secret("stringData", literal(EMBEDDED), extra="") + "  other.yaml: 'x: 1'\n  msg.tmpl: '{{ define }}'\n"
    assert set(load(tmp_path, text).receivers) == {"default", "watchdog"}


def test_secret_in_multi_document_file(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n---\n" + secret("stringData", literal(EMBEDDED))
    assert load(tmp_path, text).route.receiver == "default"


def test_secret_error_line_maps_into_the_secret(tmp_path: Path) -> None:
    broken = EMBEDDED.replace("receiver: watchdog", "receiver: watchdog\n      group_wait: soon")
    text = secret("stringData", literal(broken))
    error = error_of(tmp_path, text)
    file_line = next(n for n, line in enumerate(text.splitlines(), 1) if line.endswith("group_wait: soon"))
    assert error.diagnostic.line == file_line
    assert "group_wait" in error.diagnostic.message and "stringData" in error.diagnostic.message


def test_secret_yaml_syntax_error_line_maps_into_the_secret(tmp_path: Path) -> None:
    text = secret("stringData", literal("route:\n  receiver: r\n   oops: [\n"))
    error = error_of(tmp_path, text)
    assert error.diagnostic.line > 6  # inside the block, not at the key
    assert "invalid YAML" in error.diagnostic.message


def test_secret_error_in_base64_points_at_key(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"route: {receiver: nope}\nreceivers: []\n").decode()
    error = error_of(tmp_path, secret("data", encoded))
    assert error.diagnostic.line == 6 and "undefined receiver" in error.diagnostic.message
    error = error_of(tmp_path, secret("data", "not*base64"))
    assert error.diagnostic.line == 6 and "base64" in error.diagnostic.message


def test_secret_without_config_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, "apiVersion: v1\nkind: Secret\nstringData:\n  a.txt: x\n  b.txt: y\n")
    assert error.diagnostic.line == 1 and "alertmanager.yaml" in error.diagnostic.message


def test_is_alertmanager_config() -> None:
    def first(text: str) -> object:
        return load_documents(text, "t")[0].value

    assert is_alertmanager_config(first("route: {receiver: r}\n"))
    assert is_alertmanager_config(first("receivers: []\n"))
    assert is_alertmanager_config(first(secret("stringData", literal(EMBEDDED))))
    assert is_alertmanager_config(first(secret("data", base64.b64encode(EMBEDDED.encode()).decode(), key="am.yml")))
    assert not is_alertmanager_config(first(secret("stringData", "'x: 1'", key="app.yaml")))
    assert not is_alertmanager_config(first("groups: [{name: g, rules: []}]\n"))
    assert not is_alertmanager_config(first("apiVersion: v1\nkind: ConfigMap\ndata: {route: x}\n"))
    assert not is_alertmanager_config(first("- route\n"))
    assert not is_alertmanager_config("route")


# --------------------------------------------------------------------------- routing


def test_route_semantics(tmp_path: Path) -> None:
    config = load(tmp_path, BASIC)
    # the root catches what no child matches
    assert receivers_for(config, {}) == ["default"]
    # descends into the matching child; its own child does not match, so the child is the result
    deliveries = route(config, {"team": "payments", "severity": "page"})
    assert [(d.receiver, d.route_path, d.group_wait, d.blackhole) for d in deliveries] == [
        ("payments-pager", (0,), 10.0, False)
    ]
    # the grandchild matches: its inherited receiver is a blackhole
    assert [(d.receiver, d.blackhole) for d in route(config, {"team": "payments", "severity": "critical", "env": "staging"})] == [
        ("devnull", True)
    ]
    # continue: true on the first orders route lets the next sibling match as well
    assert receivers_for(config, {"team": "orders", "service": "cart"}) == ["orders-mail", "orders-pager"]
    assert [d.repeat_interval for d in route(config, {"team": "orders", "service": "cart"})] == [14400, 3600]
    # the regex is anchored
    assert receivers_for(config, {"team": "orders", "service": "cartx"}) == ["orders-pager"]


def test_first_match_without_continue_stops(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        route:
          receiver: root
          routes:
            - {matchers: [a=1], receiver: first}
            - {matchers: [a=1], receiver: second}
            - {matchers: [b=~".*"], receiver: third, continue: true}
        receivers: [{name: root}, {name: first}, {name: second}, {name: third}]
        """,
    )
    assert receivers_for(config, {"a": "1"}) == ["first"]
    # b=~".*" matches an absent label too, and continue: true on the last route changes nothing
    assert receivers_for(config, {"a": "2"}) == ["third"]


def test_match_routes_and_delivery_intervals(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        route:
          receiver: root
          routes:
            - matchers: [team=db]
              mute_time_intervals: [weekend]
              active_time_intervals: [office]
        receivers: [{name: root, email_configs: [{to: x@example.org}]}]
        time_intervals: [{name: weekend}, {name: office}]
        """,
    )
    (delivery,) = route(config, {"team": "db"})
    assert delivery.muted_by == ("weekend",) and delivery.active_only == ("office",)
    assert [r.path for r in match_routes(config.route, {"team": "db"})] == [(0,)]


def test_owner_route_matchers(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        route:
          receiver: default
          routes:
            - matchers: [severity="info"]
              receiver: blackhole
            - matchers: [team="payments"]
              receiver: payments-mail
              routes:
                - matchers: ['severity=~"critical|page"']
                  receiver: payments-pager
                - matchers: [env="dev"]
                  receiver: blackhole
            - matchers: ['squad=~"orders|cart"']
              receiver: shop
            - match: {product: ledger}
              receiver: ledger-oncall
            - matchers: [team=ghost]
              receiver: blackhole
        receivers:
          - {name: default, slack_configs: [{channel: x}]}
          - {name: blackhole}
          - {name: payments-mail, email_configs: [{to: p@example.org}]}
          - {name: payments-pager, pagerduty_configs: [{routing_key: k}]}
          - {name: shop, webhook_configs: [{url: 'http://x/'}]}
          - {name: ledger-oncall, opsgenie_configs: [{api_key: k}]}
        """,
    )
    payments = owner_route_matchers(config, "team-payments")
    assert payments == [
        (LabelMatcher("team", EQ, "payments"),),
        (LabelMatcher("team", EQ, "payments"), LabelMatcher("severity", EQ, "critical")),
    ]
    assert owner_route_matchers(config, "orders") == [(LabelMatcher("squad", EQ, "orders"),)]
    assert owner_route_matchers(config, "ledger") == [(LabelMatcher("product", EQ, "ledger"),)]
    assert owner_route_matchers(config, "ghost") == []  # only a blackhole
    assert owner_route_matchers(config, "nobody") == []
    for owner in ("payments", "orders", "ledger"):
        for matchers in owner_route_matchers(config, owner):
            labels = {m.name: m.value for m in matchers}
            assert all(not d.blackhole for d in route(config, labels)), (owner, labels)


def test_owner_route_matchers_skips_routes_shadowed_by_earlier_siblings(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        route:
          receiver: default
          routes:
            - matchers: [service="api"]
              receiver: nothing
            - matchers: [team="api", service="api"]
              receiver: api-pager
            - matchers: [team="api"]
              receiver: api-pager
        receivers: [{name: default}, {name: nothing}, {name: api-pager, pagerduty_configs: [{routing_key: k}]}]
        """,
    )
    assert owner_route_matchers(config, "api") == [(LabelMatcher("team", EQ, "api"),)]


# --------------------------------------------------------------------------- the corpus


def corpus_alertmanager_files(corpus: Path) -> Iterator[Path]:
    """Alertmanager configs found by content, plus unparseable YAML named like one."""
    for path in sorted(corpus.rglob("*")):
        if path.suffix not in (".yml", ".yaml", ".tpl") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if "receivers" not in text and "route" not in text:
            continue
        try:
            documents = load_documents(read_text(path), str(path))
        except InputError:
            if "alertmanager" in path.name:
                yield path
            continue
        if any(is_alertmanager_config(d.value) for d in documents):
            yield path


def embedded_text(path: Path) -> str:
    """The config text itself: the file, or the string inside a Secret."""
    text = read_text(path)
    for document in load_documents(text, str(path)):
        value = document.value
        if isinstance(value, Mapping) and value.get("kind") == "Secret":
            holder = value.get("stringData") or {}
            key = next(k for k in holder if str(k).endswith((".yaml", ".yml")))
            return holder[key]
    return text


def amtool_accepts(path: str) -> bool:
    assert AMTOOL is not None
    result = subprocess.run([AMTOOL, "check-config", path], capture_output=True, text=True, timeout=60)
    return result.returncode == 0


@pytest.mark.corpus
def test_corpus_configs_load_or_fail_cleanly(corpus_dir: Path) -> None:
    files = list(corpus_alertmanager_files(corpus_dir))
    assert len(files) >= 57, [str(f) for f in files]  # 56 parseable + 1 broken (SOURCES.md)
    loaded, failed = [], []
    for path in files:
        try:
            config = load_alertmanager(str(path))
        except InputError as exc:
            assert exc.diagnostic.file == str(path) and exc.diagnostic.line >= 1, exc
            failed.append(path.name)
            continue
        assert config.route.receiver in config.receivers
        loaded.append(path)
    assert "alertmanager-config-with-template.yaml" in failed
    assert {"conf.nil-match_re-route.yml", "conf.nil-source_match_re-inhibition.yml"} <= set(failed)
    assert len(loaded) >= 50


@pytest.mark.corpus
@pytest.mark.tools
@needs_amtool
def test_corpus_configs_amtool_accepts_are_loaded(corpus_dir: Path, tmp_path: Path) -> None:
    """What the real Alertmanager accepts, we must load (Secrets: the embedded text is checked)."""
    accepted = 0
    for path in corpus_alertmanager_files(corpus_dir):
        candidate = tmp_path / f"{path.stem}.yml"
        try:
            candidate.write_text(embedded_text(path))
        except InputError:  # not even YAML: amtool refuses it too
            continue
        if amtool_accepts(str(candidate)):
            accepted += 1
            load_alertmanager(str(path))  # raises if we refuse what amtool accepts
    assert accepted >= 16  # 14 plain configs and 2 Secrets in the corpus pass amtool 0.25


@pytest.mark.corpus
def test_owner_route_matchers_on_corpus_reach_a_person(corpus_dir: Path) -> None:
    """For every owner-like value in the corpus trees, the chosen labels route to a real receiver."""
    checked = 0
    for path in corpus_alertmanager_files(corpus_dir):
        try:
            config = load_alertmanager(str(path))
        except InputError:
            continue
        owners = {m.value for r in _walk(config.route) for m in r.matchers if m.op is EQ} | set(config.receivers)
        for owner in sorted(owners):
            for matchers in owner_route_matchers(config, owner):
                assert all(m.op is EQ for m in matchers)
                deliveries = route(config, {m.name: m.value for m in matchers})
                assert any(not d.blackhole for d in deliveries), (path, owner, matchers)
                checked += 1
    assert checked >= 40


# --------------------------------------------------------------------------- cross-check with amtool

# (corpus path, whether amtool 0.25 rejects it for reasons unrelated to routing: newer receiver
# types, `tracing`, route `labels`, Terraform placeholders in `global`). Those are checked with a
# routing-only "skeleton" of the same file: route tree, receiver names and time intervals.
CROSS_CHECK = [
    "prometheus__alertmanager/config/testdata/conf.good.yml",
    "prometheus__alertmanager/cli/testdata/conf.routing.yml",
    "prometheus__alertmanager/cli/testdata/conf.routing-reverted.yml",
    "prometheus__alertmanager/examples/ha/alertmanager.yml",
    "prometheus__alertmanager/config/testdata/conf.group-by-all.yml",
    "prometheus__alertmanager/doc/examples/simple.yml",
    "prometheus__alertmanager/doc/examples/route_labels.yml",
    "prometheus-operator__kube-prometheus/manifests/alertmanager-secret.yaml",
    "kubernetes__test-infra/config/prow/cluster/monitoring/alertmanager-prow_secret.yaml",
    "alphagov__prometheus-aws-configuration-beta/terraform/modules/alertmanager/templates/alertmanager.tpl",
]
_ROUTE_KEYS_025 = (
    "receiver", "group_by", "match", "match_re", "matchers", "mute_time_intervals",
    "active_time_intervals", "continue", "routes", "group_wait", "group_interval", "repeat_interval",
)
COMPARED: list[int] = []


def skeleton(text: str) -> str:
    """The routing part of a config, as amtool 0.25 reads it (scalars kept as written)."""
    raw = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar stays a string

    def clean(node: dict) -> dict:
        out = {k: v for k, v in node.items() if k in _ROUTE_KEYS_025}
        if "continue" in out:  # BaseLoader leaves "yes"; a quoted string would not be a bool
            out["continue"] = out["continue"] in ("true", "True", "TRUE", "yes", "Yes", "on", "y")
        if out.get("routes"):
            out["routes"] = [clean(child) for child in out["routes"]]
        return out

    shaped = {"route": clean(raw["route"]), "receivers": [{"name": r["name"]} for r in raw.get("receivers") or []]}
    for key in ("time_intervals", "mute_time_intervals"):
        if raw.get(key):
            shaped[key] = [{"name": t["name"]} for t in raw[key]]
    return yaml.safe_dump(shaped, allow_unicode=True)


@pytest.fixture(scope="module")
def cross_check_configs(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, AlertmanagerConfig]]]:
    """Per corpus path: (a file amtool 0.25 accepts with the same routing, our loaded config)."""
    if AMTOOL is None:
        pytest.skip("amtool not installed (Debian package prometheus-alertmanager)")
    folder = tmp_path_factory.mktemp("amtool")
    prepared: dict[str, tuple[str, AlertmanagerConfig]] = {}
    for index, relative in enumerate(CROSS_CHECK):
        path = corpus_dir / relative
        config = load_alertmanager(str(path))
        text = embedded_text(path)
        target = folder / f"{index}.yml"
        target.write_text(text)
        if not amtool_accepts(str(target)):
            target.write_text(skeleton(text))
            assert amtool_accepts(str(target)), f"amtool refuses the routing skeleton of {relative}"
        prepared[relative] = (str(target), config)
    yield prepared
    print(f"\namtool cross-check: {len(COMPARED)} label sets compared over {len(prepared)} configs")


def _walk(node: Route) -> Iterator[Route]:
    yield node
    for child in node.routes:
        yield from _walk(child)


def regex_literals(pattern: str) -> list[str]:
    core = pattern.strip("^$").removeprefix("(").removesuffix(")").removeprefix("?:")
    return [alt for alt in core.split("|") if re.fullmatch(r"[\w\-. ]*", alt)]


def label_sets(config: AlertmanagerConfig) -> st.SearchStrategy[dict[str, str]]:
    """Label sets that reach every part of the tree: values from its matchers, mixed with noise."""
    matchers = [m for r in _walk(config.route) for m in r.matchers]
    names = sorted({m.name for m in matchers} | {"alertname", "severity", "zz"})
    values = sorted(
        {m.value for m in matchers if not m.op.regex}
        | {v for m in matchers if m.op.regex for v in regex_literals(m.value)}
        | {"", "critical", "warning", "Watchdog"}
    )
    noise = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(',"\\{} =~\n'), max_size=6)
    value = st.sampled_from(values) | noise
    randoms = st.dictionaries(st.sampled_from(names) | st.from_regex(r"[a-z_][a-z0-9_]{0,4}", fullmatch=True), value, max_size=5)

    @st.composite
    def along_a_path(draw: st.DrawFn) -> dict[str, str]:
        routes = list(_walk(config.route))
        target = draw(st.sampled_from(routes))
        labels: dict[str, str] = {}
        for current in routes:  # the matchers of the target and its ancestors
            if current.path == target.path[: len(current.path)]:
                for m in current.matchers:
                    choices = [m.value] if m.op is EQ else regex_literals(m.value) if m.op is RE else []
                    if choices and draw(st.integers(0, 9)) > 0:
                        labels[m.name] = draw(st.sampled_from(choices))
        labels.update(draw(randoms))
        return labels

    return along_a_path() | randoms


@pytest.mark.tools
@needs_amtool
@pytest.mark.corpus
@pytest.mark.parametrize("relative", CROSS_CHECK)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_routing_agrees_with_amtool(cross_check_configs: dict, relative: str, data: st.DataObject) -> None:
    config_file, config = cross_check_configs[relative]
    batch = data.draw(st.lists(label_sets(config), min_size=1, max_size=8), label="label sets")
    with ThreadPoolExecutor(max_workers=4) as pool:
        expected = list(pool.map(lambda labels: amtool_receivers(config_file, labels), batch))
    for labels, printed in zip(batch, expected):
        assert ",".join(receivers_for(config, labels)) == printed, labels
    COMPARED.extend([1] * len(batch))


# --------------------------------------------------------------------------- property tests

@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for files written by property tests (module-scoped: Hypothesis reruns the body)."""
    return tmp_path_factory.mktemp("am-prop")


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_raise_only_input_error(scratch: Path, data: bytes) -> None:
    path = str(scratch / "any.yml")
    with open(path, "wb") as handle:
        handle.write(data)
    try:
        load_alertmanager(path)
    except InputError as exc:
        assert exc.diagnostic.file == path


_KEYS = [
    "route", "receivers", "receiver", "routes", "matchers", "match", "match_re", "continue", "group_by",
    "group_wait", "group_interval", "repeat_interval", "mute_time_intervals", "active_time_intervals",
    "name", "email_configs", "inhibit_rules", "source_matchers", "target_match_re", "equal",
    "time_intervals", "kind", "stringData", "data", "alertmanager.yaml", "global", "a",
]
_SCALARS = ["r", "yes", "~", "30s", "0", "5m", "a=b", 'a=~"("', "{x=~\"y|z\"}", "...", "Secret", "", "1", "${x}", "{{ y }}"]


def yamlish() -> st.SearchStrategy[object]:
    scalars = st.sampled_from(_SCALARS) | st.text(max_size=8) | st.none() | st.integers()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5),
        max_leaves=25,
    )


@settings(max_examples=200, deadline=None)
@given(yamlish(), st.sampled_from(["plain", "stringData", "data"]))
def test_yamlish_structures_raise_only_input_error(value: object, wrapping: str) -> None:
    text = yaml.safe_dump(value)
    if wrapping == "stringData":
        text = yaml.safe_dump({"kind": "Secret", "stringData": {"alertmanager.yaml": text}})
    elif wrapping == "data":
        text = yaml.safe_dump({"kind": "Secret", "data": {"alertmanager.yaml": base64.b64encode(text.encode()).decode()}})
    try:
        config = load_alertmanager_text(text, "fuzz.yml")
    except InputError as exc:
        assert exc.diagnostic.file == "fuzz.yml"
        return
    assert config.route.receiver in config.receivers
    receivers_for(config, {"a": "b"})


# A differential test: random routing trees, accepted by us exactly when amtool accepts them.
# Each field is mostly valid, sometimes not, so that about half the trees are accepted.
_GOOD_MATCHERS = ["a=b", 'b=~"x|y"', "c!=d", "{a=b, c=~\"x.*\"}", "", "{}", 'a:b="q"', "b!~z,"]
_BAD_MATCHERS = ['a="b', "1x=y", 'd!~"["', "a=b,,c=d", 'a=b"c']
_GOOD_DURATIONS = ["30s", "5m", "1h30m", "1d", "0s"]
_BAD_DURATIONS = ["30", "-1m", "0", "1.5h"]


def _mostly(draw: st.DrawFn, good: list, bad: list) -> object:
    return draw(st.sampled_from(bad)) if draw(st.integers(0, 14)) == 0 else draw(st.sampled_from(good))


@st.composite
def random_route(draw: st.DrawFn, depth: int = 0) -> dict[str, object]:
    out: dict[str, object] = {}
    if depth == 0 or draw(st.booleans()):
        out["receiver"] = _mostly(draw, ["r", "s", "t"] if depth else ["r"], ["missing", ""])
    if depth and draw(st.integers(0, 2)) == 0:
        out["matchers"] = [_mostly(draw, _GOOD_MATCHERS, _BAD_MATCHERS) for _ in range(draw(st.integers(0, 2)))]
    if depth and draw(st.integers(0, 4)) == 0:
        out["match"] = {_mostly(draw, ["a", "b", "c"], ["a-b", "a:b"]): draw(st.sampled_from(["x", "1", ""]))}
    if depth and draw(st.integers(0, 4)) == 0:
        out["match_re"] = {draw(st.sampled_from(["a", "c"])): _mostly(draw, ["x|y", ".*", "b"], ["(", "[a"])}
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if draw(st.integers(0, 5)) == 0:
            out[key] = _mostly(draw, _GOOD_DURATIONS, _BAD_DURATIONS)
    if draw(st.integers(0, 4)) == 0:
        out["group_by"] = _mostly(draw, [["a"], ["..."], [], ["a", "b"]], [["a", "..."], ["b-c"], ["a", "a"]])
    if draw(st.integers(0, 3)) == 0:
        out["continue"] = draw(st.booleans()) if depth else _mostly(draw, [False], [True])
    if draw(st.integers(0, 5)) == 0:
        key = draw(st.sampled_from(["mute_time_intervals", "active_time_intervals"]))
        out[key] = [_mostly(draw, ["t"], ["u"])] if depth else _mostly(draw, [[]], [["t"]])
    if depth < 3 and draw(st.integers(0, 2)) > 0:
        out["routes"] = draw(st.lists(random_route(depth + 1), max_size=3))
    return out


@pytest.mark.tools
@needs_amtool
@settings(max_examples=100, deadline=None)
@given(tree=random_route(), receivers=st.lists(st.sampled_from(["s", "t"]), max_size=2, unique=True))
def test_acceptance_agrees_with_amtool(scratch: Path, tree: dict[str, object], receivers: list[str]) -> None:
    names = ["r"] + receivers
    text = yaml.safe_dump({"route": tree, "receivers": [{"name": n} for n in names], "time_intervals": [{"name": "t"}]})
    path = str(scratch / "diff.yml")
    with open(path, "w") as handle:
        handle.write(text)
    try:
        config = load_alertmanager(path)
    except InputError as exc:
        assert not amtool_accepts(path), f"we refuse ({exc}) what amtool accepts:\n{text}"
        return
    assert amtool_accepts(path), f"we accept what amtool refuses:\n{text}"
    for labels in ({"a": "b", "b": "x"}, {"c": "xx", "a:b": "q"}, {}):
        assert ",".join(receivers_for(config, labels)) == amtool_receivers(path, labels), (labels, text)
