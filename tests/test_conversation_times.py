"""Conversation times as people read them: local time to the minute, no microseconds (issue 19).

The store keeps microseconds (conversations are ordered by those strings); only what is shown
changes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from assistant.chat.store import ConversationStore, shown_time
from assistant.config import Paths
from assistant.engine.base import Role
from tests.conftest import run_cli


def test_a_stored_time_is_shown_in_local_time_to_the_minute() -> None:
    stamp = "2026-12-02T13:58:08.388765+00:00"
    local = datetime(2026, 12, 2, 13, 58, 8, 388765, tzinfo=UTC).astimezone()
    assert shown_time(stamp) == local.strftime("%Y-%m-%d %H:%M")
    assert shown_time("2026-12-02T13:58:08.388765") == shown_time(stamp)  # naive means UTC
    assert shown_time("not a time") == "not a time"


def test_conversations_list_and_show_print_no_microseconds() -> None:
    store = ConversationStore(Paths.from_env().ensure().conversations_db)
    conversation = store.create("Case 7")
    store.add_message(conversation.id, Role.USER, "What happened?")
    stored = store.get(conversation.id).updated_at
    store.close()
    assert re.search(r"\.\d{6}\+00:00$", stored)  # the store still keeps them
    listed = run_cli("conversations", "list")
    assert listed.returncode == 0, listed.stderr
    line = listed.stdout.splitlines()[0]
    assert re.fullmatch(r"\s+\d+  \d{4}-\d\d-\d\d \d\d:\d\d    1 msgs  Case 7", line), line
    assert shown_time(stored) in line
    shown = run_cli("conversations", "show", str(conversation.id)).stdout
    assert re.match(r"# Case 7  \(id \d+, \d{4}-\d\d-\d\d \d\d:\d\d\)\n", shown), shown
