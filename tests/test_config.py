"""The config loader: every key and default, and every kind of bad input reported at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scrobblerd.config.loader import load_config, parse_config, schema_keys
from scrobblerd.config.settings import Config
from scrobblerd.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

# (yaml text, expected line, expected key path, a fragment of the message)
BAD = [
    ("trakt:\n  timout: 5\n", 2, "trakt.timout", "did you mean trakt.timeout?"),
    ("scrobble:\n  threshold: 70\n", 2, "scrobble.threshold", "between 80 and 100"),
    ("scrobble:\n  threshold: 101\n", 2, "scrobble.threshold", "between 80 and 100"),
    ("scrobble:\n  threshold: high\n", 2, "scrobble.threshold", "expected a number"),
    (
        "players:\n  vlc:\n    poll_interval: fast\n",
        3,
        "players.vlc.poll_interval",
        "expected a number, got 'fast'",
    ),
    ("players:\n  vlc:\n    poll_interval: 0\n", 3, "players.vlc.poll_interval", "greater than 0"),
    ("players:\n  kodi:\n    port: 0\n", 3, "players.kodi.port", "between 1 and 65535"),
    ("players:\n  kodi:\n    http_port: 65536\n", 3, "players.kodi.http_port", "between 1 and 65535"),
    ("players:\n  kodi:\n    port: 90.5\n", 3, "players.kodi.port", "expected a whole number"),
    ("players:\n  mpv:\n    enabled: yes please\n", 3, "players.mpv.enabled", "expected true or false"),
    ("players:\n  mvp: {}\n", 2, "players.mvp", "did you mean players.mpv?"),
    ("players: [mpv]\n", 1, "players", "expected a mapping"),
    ("log:\n  level: loud\n", 2, "log.level", "must be one of"),
    ("log:\n  format: xml\n", 2, "log.format", "must be one of"),
    ("trakt:\n  api_url: ftp://example\n", 2, "trakt.api_url", "http(s) URL"),
    ("trakt:\n  timeout: -1\n", 2, "trakt.timeout", "greater than 0"),
    ("identify:\n  exclude: ['(open']\n", 2, "identify.exclude[0]", "invalid regular expression"),
    ("identify:\n  include: {a: 1}\n", 2, "identify.include", "expected a list"),
    (
        "identify:\n  overrides:\n    - title: X\n      type: film\n      trakt: 1\n",
        4,
        "identify.overrides[0].type",
        "must be one of movie, show",
    ),
    (
        "identify:\n  overrides:\n    - type: movie\n      trakt: 1\n",
        3,
        "identify.overrides[0]",
        "needs `path`",
    ),
    ("identify:\n  overrides:\n    - title: X\n", 3, "identify.overrides[0]", "needs one of trakt"),
    ("state_dir: [a, b]\n", 1, "state_dir", "expected a path"),
    ("state_dir: !!python/object:os.system x\n", 1, "state_dir", "unsupported YAML tag"),
    ("trakt:\n  timeout: 5\n  timeout: 6\n", 3, "trakt.timeout", "given twice"),
    ("resume:\n  min_progress: 120\n", 2, "resume.min_progress", "between 0 and 100"),
    ("resume:\n  enabled: on please\n", 2, "resume.enabled", "expected true or false"),
    (
        "resume:\n  min_progress: 50\n  max_progress: 40\n",
        2,
        "resume.min_progress",
        "below resume.max_progress",
    ),
    ("- a\n- b\n", 1, "(top level)", "must be a mapping"),
    ("trakt: [1,\n", 2, "(yaml)", ""),
    ("a: b: c\n", 1, "(yaml)", "mapping values"),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), BAD)
def test_bad_config_names_file_line_and_key(text: str, line: int, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "my.yaml")
    wanted = f"my.yaml:{line}: {key}: "
    assert any(p.startswith(wanted) and message in p for p in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_at_once() -> None:
    text = "trakt:\n  timout: 5\nscrobble:\n  threshold: 70\nplayers:\n  vlc:\n    poll_interval: fast\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    assert [p.split(":")[1] for p in caught.value.problems] == ["2", "4", "7"]


def test_empty_file_means_defaults() -> None:
    assert parse_config("", "c.yaml") == Config()
    assert parse_config("# only a comment\n", "c.yaml") == Config()


def test_defaults_match_the_interface() -> None:
    c = Config()
    assert c.trakt.api_url == "https://api.trakt.tv"
    assert c.trakt.timeout == 10
    assert c.scrobble.threshold == 80
    assert c.scrobble.min_duration == 300
    assert c.players.mpv.enabled and c.players.mpv.ipc_path == ("/tmp/mpvsocket",)
    assert not c.players.vlc.enabled and c.players.vlc.url == "http://127.0.0.1:8080"
    assert c.players.vlc.poll_interval == 1.0
    assert not c.players.kodi.enabled
    assert (c.players.kodi.host, c.players.kodi.port, c.players.kodi.http_port) == ("127.0.0.1", 9090, 8080)
    assert c.players.kodi.username == "kodi"
    assert c.identify.include == () and c.identify.exclude == ()
    assert c.log.level == "info" and c.log.format == "auto"
    assert (c.resume.enabled, c.resume.min_progress, c.resume.max_progress) == (False, 2, None)
    assert str(c.state_dir).endswith("scrobblerd")


def test_paths_expand_user_and_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/ann")
    monkeypatch.setenv("MEDIA", "/srv/media")
    c = parse_config(
        "state_dir: ~/state\nplayers:\n  mpv:\n    ipc_path: ~/mpv.sock\n"
        "identify:\n  include: [$MEDIA/films]\n"
    )
    assert str(c.state_dir) == "/home/ann/state"
    assert c.players.mpv.ipc_path == ("/home/ann/mpv.sock",)
    assert c.identify.include == ("/srv/media/films",)


def test_ipc_path_takes_a_list_of_paths_and_globs() -> None:
    c = parse_config("players:\n  mpv:\n    ipc_path: [/tmp/a, /tmp/mpv-*]\n")
    assert c.players.mpv.ipc_path == ("/tmp/a", "/tmp/mpv-*")


def test_secrets_are_masked_in_repr() -> None:
    c = parse_config(
        "trakt:\n  client_secret: s3cr3t-value\nplayers:\n  vlc:\n    password: vlcpass\n"
        "  kodi:\n    password: kodipass\n"
    )
    text = repr(c)
    for secret in ("s3cr3t-value", "vlcpass", "kodipass"):
        assert secret not in text
    assert c.players.vlc.password == "vlcpass"


def test_missing_default_file_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("SCROBBLERD_CONFIG", raising=False)
    assert load_config(None) == Config()


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_env_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("scrobble:\n  threshold: 90\n")
    monkeypatch.setenv("SCROBBLERD_CONFIG", str(f))
    assert load_config(None).scrobble.threshold == 90


def test_example_config_validates_and_lists_every_key() -> None:
    example = ROOT / "config.example.yaml"
    config = load_config(example)
    assert config.source == example
    text = example.read_text()
    for key in schema_keys():
        leaf = key.rsplit(".", 1)[-1]
        assert re.search(rf"^\s*#?\s*-?\s*{re.escape(leaf)}:", text, re.M), (
            f"{key} is not in config.example.yaml"
        )


def test_example_defaults_equal_builtin_defaults() -> None:
    config = load_config(ROOT / "config.example.yaml")
    home_state = Path("~/.local/state/scrobblerd").expanduser()
    assert config.state_dir == home_state
    assert config.scrobble == Config().scrobble
    assert config.players == Config().players
    assert config.trakt == Config().trakt


WEB_BAD = [
    ("web:\n  listen: 8787\n", 2, "web.listen", "must be host:port"),
    ("web:\n  listen: 127.0.0.1:70000\n", 2, "web.listen", "must be host:port"),
    ("web:\n  listen: 0.0.0.0:8787\n", 2, "web.listen", "not a loopback address: set web.token first"),
    ("web:\n  enabled: true\n  listen: '[::]:8787'\n", 3, "web.listen", "set web.token first"),
    ("web:\n  listen: nas.example:8787\n", 2, "web.listen", "set web.token first"),
    ("alerts:\n  urls: [not-a-url]\n", 2, "alerts.urls[0]", "Apprise URL"),
    ("alerts:\n  queue_age: 0\n", 2, "alerts.queue_age", "greater than 0"),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"), WEB_BAD)
def test_web_and_alerts_problems_name_line_key_and_reason(
    text: str, line: int, key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    [problem] = caught.value.problems
    assert problem.startswith(f"c.yaml:{line}: {key}: "), problem
    assert fragment in problem


@pytest.mark.parametrize(
    "text",
    [
        "web:\n  listen: 0.0.0.0:8787\n  token: s3cret\n",
        "web:\n  listen: 0.0.0.0:8787\n  enabled: false\n",
        "web:\n  listen: localhost:9000\n",
        "web:\n  listen: '[::1]:9000'\n",
    ],
)
def test_a_network_listen_is_accepted_with_a_token_or_when_the_page_is_off(text: str) -> None:
    config = parse_config(text)
    assert config.web.address()[1] in (8787, 9000)


def test_web_token_and_alert_urls_are_masked_secrets() -> None:
    config = parse_config("web:\n  token: hunter22\nalerts:\n  urls: ['ntfy://user:pw@ntfy.example/t']\n")
    assert config.web.token == "hunter22"
    assert "hunter22" not in repr(config) and "pw@" not in repr(config)
