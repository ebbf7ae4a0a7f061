# A pytest plugin (loaded with `-p tend_peers` by test/peers/run.sh) that lets dumb-init's
# and tini's own test suites run against tend:
#
# - marks the tests that cannot apply to tend as skipped, each with its reason: options
#   tend does not have, and the places where tend deliberately behaves otherwise (README,
#   "tend and other inits");
# - marks tests that fail because of known tend bugs as strict xfail naming the finding,
#   so that they turn into failures (XPASS) the day the bug is fixed and the mark must go;
# - after each test, kills whatever the test left behind in the run's PID namespace
#   (failing dumb-init tests leak `yes | tail` pipelines that would pin the CPU).
import os
import re
import signal

import pytest

OPTIONS = "uses dumb-init's command-line options or messages (usage, -h, -V, -v, -c, -r): tend has no such option"
REWRITE = "uses dumb-init's -r signal rewriting: tend has no such option"
SINGLE_CHILD = "DUMB_INIT_SETSID=0 (dumb-init's single-child mode): tend always signals CMD's whole process group"
VERBOSE = "asserts dumb-init's -v debug output: tend has no such option"
BAD_EXEC_TEXT = ("asserts dumb-init's own error text; tend exits 127 with 'tend: command not found: /doesnotexist'"
                 " (tini_test.py's smoke tests and tend's own tests check that)")
SWEEP = ("tend's sweep at exit sends leftovers SIGTERM and SIGCONT, then SIGKILL after 1 s (README, 'tend and other"
         " inits'); dumb-init sends SIGTERM only, and the test reads print_signals' first line, which is 18 (SIGCONT)")
CHDIR = "dumb-init chdir()s to / so it pins no directory; tend keeps its working directory, as tini does (README, 'tend and other inits')"
SYNC_SIGNALS = ("dumb-init forwards synchronous signals sent with kill(2) (SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,"
                " SIGSEGV, SIGSYS); tend, like tini, does not (README, 'tend and other inits')")
SUSPEND = ("on SIGTSTP/SIGTTIN/SIGTTOU without a terminal tend stops CMD but does not suspend itself, as tini"
           " (README, 'tend and other inits')")

# (pattern on the test's node id, reason), first match wins.
NOT_APPLICABLE = [
    (r'^tests/cli_test\.py::', OPTIONS),
    (r'test_proxies_signals_with_rewrite\[.*rewrite_map[123]', REWRITE),
    (r'test_default_rewrites_can_be_overriden', REWRITE),
    (r'test_ignored_signals_are_not_proxied', REWRITE),
    (r'test_no_setsid_doesnt_signal_entire_group|test_processes_dont_receive_term_on_exit_if_no_setsid', SINGLE_CHILD),
    (r'test_shell_background_support_without_setsid', SINGLE_CHILD),
    (r'test_fails_nonzero_with_bad_exec\[.*(-c|--single-child)', OPTIONS),
    (r'test_fails_nonzero_with_bad_exec', BAD_EXEC_TEXT),
    (r'test_sighup_sigcont_ignored_if_was_session_leader', VERBOSE),
    (r'test_all_processes_receive_term_on_exit_if_setsid', SWEEP),
    (r'test_working_directories', CHDIR),
    (r'test_proxies_signals\[|test_proxies_signals$', SYNC_SIGNALS),
    (r'test_shell_background_support_setsid', SUSPEND),
]

# (pattern, reason) for tests that fail because of a known tend bug: strict xfail.
KNOWN_BUGS = [
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        for pattern, reason in NOT_APPLICABLE:
            if re.search(pattern, item.nodeid):
                item.add_marker(pytest.mark.skip(reason=f'n.a.: {reason}'))
                break
        else:
            for pattern, reason in KNOWN_BUGS:
                if re.search(pattern, item.nodeid):
                    item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
                    break


def _leftovers():
    """Every process of this PID namespace but its init (PID 1) and pytest."""
    own = os.getpid()
    pids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit() and int(entry) not in (1, own):
            pids.append(int(entry))
    return pids


@pytest.fixture(autouse=True)
def _kill_leftovers():
    yield
    # Only inside the namespace run.sh makes (pytest is then PID 2, under a reaping init).
    if os.environ.get('TEND_PEERS_NAMESPACE') != '1' or os.getppid() != 1:
        return
    for pid in _leftovers():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
