"""The status page, rendered on the server: small, no framework, readable on a phone.

Every value from the outside (titles, paths, errors) goes through `html.escape`. The live part
(`sections`) is also served alone at /live, which app.js polls to update the page in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from scrobblerd.web.status import episode_label

HISTORY_ROWS = 10
QUEUE_ROWS = 30  # the rest: `scrobblerd queue list` (a page polled every second stays small)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def document(body: str, *, title: str = "scrobblerd") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel=stylesheet href="/app.css"></head>'
        f'<body>{body}<script src="/app.js"></script></body></html>'
    )


def page(
    status: Mapping[str, Any],
    queue: list[dict[str, Any]],
    history: list[dict[str, Any]],
    problems: list[str],
    csrf: str,
    *,
    flash: str | None = None,
) -> str:
    note = f"<p class=flash role=status id=flash>{_e(flash)}</p>" if flash else ""
    body = (
        "<header><h1>scrobblerd</h1></header>"
        f"{note}<main id=live>{sections(status, queue, history, problems, csrf)}</main>"
    )
    return document(body)


def sections(
    status: Mapping[str, Any],
    queue: list[dict[str, Any]],
    history: list[dict[str, Any]],
    problems: list[str],
    csrf: str,
) -> str:
    return "".join(
        (
            _health(problems),
            _players(status.get("players") or {}),
            _account(status),
            _queue(queue, csrf),
            _history(history, csrf),
        )
    )


def _health(problems: list[str]) -> str:
    if not problems:
        return "<section id=health><p class=ok>All parts running.</p></section>"
    items = "".join(f"<li>{_e(p)}</li>" for p in problems)
    return f"<section id=health><p class=bad>Unhealthy:</p><ul>{items}</ul></section>"


def _players(players: Mapping[str, Any]) -> str:
    cards = [_player(name, p) for name, p in players.items() if p.get("enabled")]
    off = [name for name, p in players.items() if not p.get("enabled")]
    tail = f"<p class=dim>Off: {_e(', '.join(off))}</p>" if off else ""
    return (
        f"<section id=players><h2>Players</h2>{''.join(cards) or '<p>No player enabled.</p>'}{tail}</section>"
    )


def _player(name: str, player: Mapping[str, Any]) -> str:
    instances = player.get("instances") or {}
    if not instances:
        return f"<div class=card><b>{_e(name)}</b> <span class=dim>not connected</span></div>"
    return "".join(_instance(name, iid, inst) for iid, inst in instances.items())


def _instance(name: str, iid: str, inst: Mapping[str, Any]) -> str:
    where = iid.split(":", 1)[-1]
    head = f"<b>{_e(name)}</b> <span class=dim>{_e(where)}</span>"
    now = inst.get("now_playing")
    if not inst.get("connected"):
        return f"<div class=card>{head} <span class=dim>{_e(inst.get('state'))}</span></div>"
    if not now:
        return f"<div class=card>{head} <span class=dim>idle</span></div>"
    label = now.get("episode_label")
    title = _e(now.get("title") or now.get("path") or "(unknown)")
    year = f" ({_e(now['year'])})" if now.get("year") and not label else ""
    progress = now.get("progress")
    bar = (
        f'<progress max=100 value="{float(progress):.1f}"></progress> {float(progress):.0f}%'
        if progress is not None
        else "<span class=dim>progress unknown</span>"
    )
    return (
        f'<div class="card playing" data-player="{_e(iid)}">{head} '
        f"<span class=state>{_e(now.get('state'))}</span>"
        f"<p class=title>{title}{year}{' ' + _e(label) if label else ''}</p>{bar}</div>"
    )


def _account(status: Mapping[str, Any]) -> str:
    if status.get("authorized"):
        who = f" as {_e(status.get('username'))}" if status.get("username") else ""
        text = f"Authorised{who}; token until {_e(status.get('expires_at'))}."
    elif status.get("needs_reauth"):
        text = "<b class=bad>Needs a new login:</b> run <code>scrobblerd auth</code>; watches wait."
    else:
        text = "Not authorised: run <code>scrobblerd auth</code>."
    return f"<section id=account><h2>Trakt</h2><p>{text}</p></section>"


def _button(action: str, row_id: Any, label: str, csrf: str) -> str:
    return (
        f'<form method=post action="/queue/{action}" class=inline>'
        f'<input type=hidden name=csrf value="{_e(csrf)}"><input type=hidden name=id value="{_e(row_id)}">'
        f'<button type=submit data-action="{action}-{_e(row_id)}">{label}</button></form>'
    )


def fix_form(target: Any, csrf: str, label: str = "Fix this match") -> str:
    return (
        f"<details class=fix><summary>{_e(label)}</summary>"
        f'<form method=post action="/fix"><input type=hidden name=csrf value="{_e(csrf)}">'
        f'<input type=hidden name=target value="{_e(target)}">'
        f'<input name=trakt required placeholder="Trakt URL or id" aria-label="Trakt URL or id" '
        f'data-fix="{_e(target)}"><button type=submit>Apply</button></form></details>'
    )


def _what(item: Mapping[str, Any]) -> str:
    label = episode_label(item.get("season"), item.get("episode"))
    title = item.get("title") or item.get("path") or "(unknown)"
    year = f" ({item['year']})" if item.get("year") and not label else ""
    return _e(f"{title}{year}{' ' + label if label else ''}")


def _queue(rows: list[dict[str, Any]], csrf: str) -> str:
    if not rows:
        return "<section id=queue><h2>Queue</h2><p>Nothing waiting.</p></section>"
    items = "".join(_queue_row(r, csrf) for r in rows[:QUEUE_ROWS])
    if len(rows) > QUEUE_ROWS:
        items += f"<li class=dim>and {len(rows) - QUEUE_ROWS} more: <code>scrobblerd queue list</code></li>"
    return f"<section id=queue><h2>Queue</h2><ul class=rows>{items}</ul></section>"


def _queue_row(row: Mapping[str, Any], csrf: str) -> str:
    item = row.get("item") or {}
    failed = row.get("status") == "failed"
    state = "failed" if failed else ("sending" if row.get("status") == "inflight" else "waiting")
    error = f"<br><span class=reason>{_e(row.get('last_error'))}</span>" if row.get("last_error") else ""
    fix = fix_form(row.get("id"), csrf) if failed and row.get("kind") == "watch" else ""
    attempts = int(row.get("attempts") or 0)
    when = item.get("watched_at") or ""
    tries = f", {attempts} attempt{'' if attempts == 1 else 's'}" if attempts else ""
    upcoming = "" if failed else f", next try {_e(row.get('next_attempt_at'))}"
    return (
        f'<li class="{state}" data-queue-id="{_e(row.get("id"))}"><b>{_what(item)}</b> '
        f"<span class=tag>{state}</span> <span class=dim>{_e(row.get('kind'))} {_e(when)}"
        f"{tries}{upcoming}</span>{error}<br>"
        f"{_button('retry', row.get('id'), 'Retry', csrf)} {_button('drop', row.get('id'), 'Drop', csrf)}"
        f"{fix}</li>"
    )


def _history(rows: Iterable[Mapping[str, Any]], csrf: str) -> str:
    items = "".join(_history_row(r, csrf) for r in list(rows)[:HISTORY_ROWS])
    items = items or "<li>None yet.</li>"
    return f"<section id=history><h2>Recent watches</h2><ul class=rows>{items}</ul></section>"


def _history_row(row: Mapping[str, Any], csrf: str) -> str:
    mark = "on Trakt" if row.get("delivered") else "waiting"
    # Recorded when delivery identifies the watch (the page parses no file names).
    source = f"identified by {_e(row['source'])}" if row.get("source") else "not identified yet"
    reason = f" <span class=dim>({_e(row.get('reason'))})</span>" if row.get("reason") else ""
    fix = fix_form(row["path"], csrf, "Wrong? Fix this match") if row.get("path") else ""
    return (
        f"<li><b>{_what(row)}</b> <span class=tag>{mark}</span><br>"
        f"<span class=dim>{_e(row.get('watched_at'))} · {source}</span>{reason}{fix}</li>"
    )


def login_page(csrf: str, failed: bool) -> str:
    note = "<p class=bad>Wrong token.</p>" if failed else ""
    return document(
        "<header><h1>scrobblerd</h1></header><main><section><h2>Log in</h2>"
        f'{note}<form method=post action="/login"><input type=hidden name=csrf value="{_e(csrf)}">'
        '<input type=password name=token required autocomplete=current-password aria-label="web.token">'
        "<button type=submit>Log in</button></form></section></main>"
    )
