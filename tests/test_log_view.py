"""The Logs tab's level filter: lines the logger did not write still get a level."""
from dashboard.log_view import filter_lines

LOG = """2026-11-28 05:00:00 INFO tunedeck: started
 40%|####      | 4/10 [00:01<00:02, 3.1it/s]
/x/site-packages/peft/tuners.py:12: UserWarning: something odd
  warnings.warn(
2026-11-28 05:00:02 WARNING tunedeck: careful
Traceback (most recent call last):
  File "x.py", line 1, in <module>
ValueError: bad value
2026-11-28 05:00:03 ERROR tunedeck: failed: bad value
  detail on a second line
2026-11-28 05:00:04 INFO tunedeck: done
""".splitlines()


def test_only_errors_shows_no_bars_and_no_warnings():
    shown = filter_lines(LOG, ["ERROR"])
    assert shown == ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>', "ValueError: bad value",
                     "2026-11-28 05:00:03 ERROR tunedeck: failed: bad value", "  detail on a second line"]


def test_warnings_include_python_warnings_and_info_includes_bars():
    warn = filter_lines(LOG, ["WARNING"])
    assert warn == ["/x/site-packages/peft/tuners.py:12: UserWarning: something odd", "  warnings.warn(",
                    "2026-11-28 05:00:02 WARNING tunedeck: careful"]
    info = filter_lines(LOG, ["INFO"])
    assert " 40%|####      | 4/10 [00:01<00:02, 3.1it/s]" in info and len(info) == 3
    assert filter_lines(LOG, ["INFO"], "DONE") == ["2026-11-28 05:00:04 INFO tunedeck: done"]
